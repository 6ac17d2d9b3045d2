"""`mast local`: the whole MAST stack on loopback, built from ``template.yaml``.

Order of start: moto (AWS) → the template's resources → the handlers' shared environment →
the API and web page → the SFTP gateway → the event pollers. ``MAST is ready: <url>`` is printed
only once each part has answered. For trying and developing MAST only: never real people's data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from infra.local.access import IndexAccess, with_index_access
from infra.local.api import LocalApi, TokenVerifier, routes_from_swagger, throttles_from_method_settings
from infra.local.faults import Faults, with_faults
from infra.local.functions import FunctionRunner
from infra.local.moto_fixes import (
    enforce_cognito_like_aws,
    fix_dynamodb_query_by_partition,
    hold_to_aws_limits,
    keep_scheduled_rules_off_the_event_bus,
    read_dynamodb_json_imports_by_line,
)
from infra.local.provision import Provisioned, Provisioner
from infra.local.router import EventRouter
from infra.local.states import interpret_state_machines, run_state_machines
from infra.local.template import Resolver, expand_sam, load_template
from infra.local.tls import ensure_certificate
from infra.local.web import LocalWebServer, security_headers

logger = logging.getLogger(__name__)

REGION = "eu-west-2"
ACCOUNT = "123456789012"  # moto's default account
ENVIRONMENT = "local"
ROOT = Path(__file__).resolve().parents[2]
UPLOAD_COMPLETED = "SFTP Server File Upload Completed"
#: The template's parameters for what infra/edge.yaml makes in us-east-1 (CloudFront's certificate and
#: web ACL): there is no CloudFront or WAF locally, so placeholders of the right shape.
#: parameters the local stack sets where the template's default is "none": the alert mails' sender
#: (the mails land in the local outbox)
LOCAL_PARAMETERS = {
    "AlertsFromAddress": "mast-alerts@mast.localhost",
    # the rebuild's Fargate task is deployed: its image is not pulled (the stack runs this repository's
    # module, as the image would) and its network is not played (infra.local.states)
    "RebuildTaskImage": "mast-rebuild-task:local",
    "RebuildTaskSubnets": "subnet-local",
    "RebuildTaskSecurityGroup": "sg-local",
}
EDGE_PARAMETERS = {
    "WebDomainName": "localhost",
    "WebCertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/local",
    "WebAclArn": f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/local/local",
}


class PortInUse(RuntimeError):
    """A port the local stack needs is taken; the message names it."""


@dataclass
class LocalOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    sftp_port: int = 2222
    aws_port: int = 4566
    state_dir: Path = field(default_factory=lambda: ROOT / ".local-stack")
    template: Path = field(default_factory=lambda: ROOT / "template.yaml")
    parameters: dict[str, str] = field(default_factory=dict)
    #: the handlers' log level (Powertools); the template's INFO unless set (`mast local` sets WARNING
    #: so its terminal shows what a user needs; `--verbose` keeps INFO)
    function_log_level: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.aws_port}"

    @property
    def aws_ca_bundle(self) -> Path:
        return self.state_dir / "tls" / "aws-local.pem"


def check_ports_free(options: LocalOptions) -> None:
    """Refuse to start, naming the port, if any port is taken (rather than fail half-started)."""
    wanted = [("--port", options.host, options.port), ("--sftp-port", options.host, options.sftp_port),
              ("--aws-port", "127.0.0.1", options.aws_port)]
    for flag, host, port in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise PortInUse(f"port {port} on {host} is in use ({flag}); stop what uses it or choose another with {flag}") from None


def aws_environment(options: LocalOptions) -> dict[str, str]:
    """What makes boto3 (and awswrangler, and the handlers) talk to the local moto."""
    return {
        "AWS_ENDPOINT_URL": options.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CA_BUNDLE": str(options.aws_ca_bundle),
        "REQUESTS_CA_BUNDLE": str(options.aws_ca_bundle),
    }


class Outbox:
    """Mail that AWS would send (Cognito invitations) lands here as files, and is shown."""

    def __init__(self, folder: Path, announce: Callable[[str], None]) -> None:
        self.folder = folder
        self.announce = announce
        folder.mkdir(parents=True, exist_ok=True)

    def deliver(self, to: str, subject: str, text: str) -> Path:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{to.replace('@', '_at_')}.txt"
        path.write_text(f"To: {to}\nSubject: {subject}\n\n{text}\n", encoding="utf-8")
        self.announce(f"mail to {to}: {subject!r} (local outbox: {path})")
        return path

    def messages(self) -> list[Path]:
        return sorted(self.folder.glob("*.txt"))


def _hook_ses_mail(outbox: Outbox) -> None:
    """What SES sends (the alert mails) lands in the outbox, after moto's own checks (a verified
    sender, valid addresses, at most 50 recipients) as SES makes them."""
    from moto.ses.models import SESBackend

    original = SESBackend.send_email
    if getattr(original, "_mast_outbox", False):
        original = original.__wrapped__  # type: ignore[attr-defined]

    def send_email(self: Any, source: str, subject: str, body: str, destinations: dict[str, list[str]]) -> Any:
        message = original(self, source, subject, body, destinations)
        for address in [a for addresses in destinations.values() for a in addresses]:
            outbox.deliver(address, subject, body)
        return message

    send_email._mast_outbox = True  # type: ignore[attr-defined]
    send_email.__wrapped__ = original  # type: ignore[attr-defined]
    SESBackend.send_email = send_email  # type: ignore[method-assign]


def _hook_cognito_invitations(outbox: Outbox) -> None:
    """When moto creates a user with a temporary password, mail the invitation as Cognito would."""
    from moto.cognitoidp.models import CognitoIdpBackend

    original = CognitoIdpBackend.admin_create_user
    if getattr(original, "_mast_outbox", False):
        CognitoIdpBackend.admin_create_user = original.__wrapped__  # type: ignore[attr-defined]
        original = CognitoIdpBackend.admin_create_user

    def admin_create_user(self: Any, user_pool_id: str, username: str, message_action: str, temporary_password: str, attributes: list[dict[str, str]]) -> Any:
        if not temporary_password:
            # Cognito makes one that meets the pool's policy; moto leaves it unset.
            temporary_password = f"Tmp-{secrets.token_urlsafe(9)}-7a!"
        user = original(self, user_pool_id, username, message_action, temporary_password, attributes)
        if message_action != "SUPPRESS":
            pool = self.describe_user_pool(user_pool_id)
            template = (pool.extended_config.get("AdminCreateUserConfig") or {}).get("InviteMessageTemplate") or {}
            email = next((a["Value"] for a in user.attributes if a["Name"] == "email"), username)
            text = template.get("EmailMessage", "Your username is {username} and temporary password is {####}.")
            outbox.deliver(email, template.get("EmailSubject", "Your temporary password"),
                           text.replace("{username}", email).replace("{####}", user.password))
        return user

    admin_create_user._mast_outbox = True  # type: ignore[attr-defined]
    admin_create_user.__wrapped__ = original  # type: ignore[attr-defined]
    CognitoIdpBackend.admin_create_user = admin_create_user  # type: ignore[method-assign]


@dataclass
class RunningStack:
    """Handles on every part of a started local stack (tests use it too)."""

    options: LocalOptions
    session: Any
    provisioned: Provisioned
    runner: FunctionRunner
    outputs: dict[str, str]
    environment: dict[str, str]
    outbox: Outbox
    stop: Callable[[], None]
    router: EventRouter

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def wait_idle(self, timeout: float = 60.0, quiet: float = 1.5) -> None:
        """Wait until no queue holds a message and no handler has run for ``quiet`` seconds."""
        sqs = self.client("sqs")
        deadline = time.time() + timeout
        quiet_since = None
        queues = [s.source_arn.rsplit(":", 1)[1] for s in self.provisioned.event_sources if ":sqs:" in s.source_arn]
        while time.time() < deadline:
            pending = self.router.busy
            for name in queues:
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
                attrs = sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
                )["Attributes"]
                pending = pending or int(attrs["ApproximateNumberOfMessages"]) > 0 or int(attrs["ApproximateNumberOfMessagesNotVisible"]) > 0
            if pending:
                quiet_since = None
            else:
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since >= quiet:
                    return
            time.sleep(0.2)
        raise TimeoutError("the local stack did not settle in time")


def _fix_moto_bucket_policies() -> None:
    """Evaluate bucket policies as S3 does, with the local IAM evaluator, inside moto.

    moto (5.x) enforces bucket policies but ignores condition operators it does not know, such
    as ``Bool``: a statement whose condition cannot be evaluated is taken to apply. The template's
    TLS-only statement (Deny s3:* if ``aws:SecureTransport`` is false) would then refuse every
    request. Here statements with principal ``*`` are evaluated with their conditions, and a
    request to local AWS carries ``aws:SecureTransport`` = true because it is served over HTTPS only.
    Statements for other principals (CloudFront's service principal) concern no local caller.
    """
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    from infra.local.iam import PolicyEvaluator

    if getattr(FakeBucket.get_permission, "_mast_fixed", False):
        return

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy)
        statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
        public = [s for s in statements if s.get("Principal") in ("*", {"AWS": "*"})]
        if not public:
            return PermissionResult.NEUTRAL
        decision = PolicyEvaluator([{"Statement": public}]).decision(action, resource, {"aws:SecureTransport": "true"})
        return {"deny": PermissionResult.DENIED, "allow": PermissionResult.PERMITTED}.get(decision, PermissionResult.NEUTRAL)

    get_permission._mast_fixed = True  # type: ignore[attr-defined]
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def _start_moto(options: LocalOptions, faults: Faults, access: IndexAccess) -> Any:
    """moto's server app over HTTPS on 127.0.0.1 (never another address), in a thread, behind the
    fault switch (which refuses nothing until told to)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    _fix_moto_bucket_policies()
    fix_dynamodb_query_by_partition()
    hold_to_aws_limits()
    read_dynamodb_json_imports_by_line()
    enforce_cognito_like_aws()
    keep_scheduled_rules_off_the_event_bus()
    interpret_state_machines()
    cert, key = ensure_certificate(options.aws_ca_bundle.parent)
    app = with_faults(with_index_access(DomainDispatcherApplication(create_backend_app), access), faults)
    server = make_server("127.0.0.1", options.aws_port, app, threaded=True,
                         request_handler=MotoRequestHandler, ssl_context=(str(cert), str(key)))
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    return server


def _reset_moto(endpoint: str) -> None:
    """Empty every moto backend of this process (moto's own reset API)."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()


def template_parameters(options: LocalOptions, template: Mapping[str, Any]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for name, definition in template.get("Parameters", {}).items():
        value = options.parameters.get(name, LOCAL_PARAMETERS.get(name, definition.get("Default", EDGE_PARAMETERS.get(name))))
        if value is None:
            raise ValueError(f"template parameter {name} has no default; pass it")
        if definition.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = value.split(",")
        parameters[name] = value
    parameters["EnvironmentName"] = options.parameters.get("EnvironmentName", ENVIRONMENT)
    if "SignInAddress" in parameters and not parameters["SignInAddress"]:
        parameters["SignInAddress"] = f"{options.url}/"  # the invitation names where to sign in
    return parameters


def start(options: LocalOptions, announce: Callable[[str], None] = print) -> RunningStack:
    """Start every part; returns once each answers. Raises :class:`PortInUse` naming a taken port."""
    check_ports_free(options)
    ensure_certificate(options.aws_ca_bundle.parent)
    saved = {name: os.environ.get(name) for name in aws_environment(options)}
    os.environ.update(aws_environment(options))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    options.state_dir.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(options.state_dir / "outbox", announce)
    stoppers: list[Callable[[], None]] = []

    def stop() -> None:
        for stopper in reversed(stoppers):
            try:
                stopper()
            except Exception:  # keep stopping the rest
                logger.exception("stopping a part failed")
        stoppers.clear()

    try:
        _hook_cognito_invitations(outbox)
        _hook_ses_mail(outbox)
        faults = Faults()
        access = IndexAccess()
        moto = _start_moto(options, faults, access)
        stoppers.append(moto.shutdown)
        _wait_for(lambda: requests.get(f"{options.aws_endpoint}/moto-api/", timeout=2).ok, "moto")
        # moto's backends live in this process, not in the server: a stack started here before
        # (a test's, a bench's) would leave its buckets and tables behind, so start from none and
        # leave none
        _reset_moto(options.aws_endpoint)
        stoppers.append(lambda: _reset_moto(options.aws_endpoint))

        session = boto3.session.Session(region_name=REGION)
        template = load_template(options.template)
        parameters = template_parameters(options, template)
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::StackName": f"mast-{ENVIRONMENT}", "AWS::URLSuffix": "amazonaws.com"}
        expanded = expand_sam(template, {**parameters, **pseudo}, REGION)
        resolver = Resolver(parameters={**parameters, **pseudo}, conditions=expanded.get("Conditions", {}))
        provisioner = Provisioner(session, resolver, region=REGION, account=ACCOUNT, prefix=f"mast-{ENVIRONMENT}")
        provisioned = provisioner.provision(expanded["Resources"])
        outputs = {name: str(resolver.resolve(o["Value"])) for name, o in expanded.get("Outputs", {}).items()}
        faults.name_tables({logical: str(resolver.ref(logical)) for logical, kind in provisioned.resources.items()
                            if kind == "AWS::DynamoDB::Table"})
        if "IndexTable" in provisioned.resources:
            access.configure(str(resolver.ref("IndexTable")), REGION, ACCOUNT, {
                name: provisioned.role_policies.get(spec.role_arn, []) for name, spec in provisioned.functions.items()})

        runner = FunctionRunner(provisioned.functions, ROOT, REGION, ACCOUNT)
        environment = runner.shared_environment()
        if options.function_log_level:
            environment["POWERTOOLS_LOG_LEVEL"] = options.function_log_level
        os.environ.update(environment)
        stoppers.append(runner.stop)
        runner.load_all()

        pool_id = outputs["UserPoolId"]
        clients = session.client("cognito-idp").list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
        verifier = TokenVerifier(region=REGION, aws_endpoint=options.aws_endpoint,
                                 pool_clients={pool_id: {c["ClientId"] for c in clients["UserPoolClients"]}})
        routes = [route for body in provisioned.rest_apis for route in routes_from_swagger(body)]
        if len(provisioned.stages) != 1 or len(provisioned.rest_apis) != 1:
            raise RuntimeError("the local stack serves exactly one REST API with one stage")
        stage = provisioned.stages[0]
        headers = _check_distribution(provisioned, stage)
        api = LocalApi(routes, verifier, runner.invoke, stage=stage, account=ACCOUNT, api_id="local",
                       throttles=throttles_from_method_settings(provisioned.method_settings))
        config = {
            "apiUrl": f"{options.url}/{stage}",
            "region": REGION,
            "cognitoEndpoint": f"{options.url}/cognito/",
            "userPoolId": pool_id,
            "userPoolClientId": outputs["UserPoolClientId"],
            "environment": ENVIRONMENT,
            "local": True,
        }
        (options.state_dir / "config.json").write_text(json.dumps(config, indent=2))
        web = LocalWebServer(host=options.host, port=options.port, web_root=ROOT / "web", api=api,
                             config=config, aws_endpoint=options.aws_endpoint, region=REGION, headers=headers)
        web.start()
        stoppers.append(web.stop)

        gateway = _start_sftp(options, session, provisioned, announce)
        stoppers.append(gateway.stop)

        stoppers.append(run_state_machines(runner.invoke, runner.specs, provisioned.state_machines.values(),
                                           provisioned.role_policies, endpoint=options.aws_endpoint,
                                           ca_bundle=str(options.aws_ca_bundle), tasks=provisioned.tasks))

        router = EventRouter(session, provisioned.event_sources, runner.invoke, REGION)
        router.start()
        stoppers.append(router.stop)

        _wait_for(lambda: requests.get(f"{options.url}/{stage}/health", timeout=2).ok, "the API")
        _wait_for(lambda: _port_answers(options.host, options.sftp_port), "the SFTP gateway")
    except BaseException:
        stop()
        # a stack that did not start leaves no endpoint behind (later code in this process would
        # call a moto that is gone)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        raise
    return RunningStack(options, session, provisioned, runner, outputs, environment, outbox, stop, router)


def _start_sftp(options: LocalOptions, session: Any, provisioned: Provisioned, announce: Callable[[str], None]) -> Any:
    from infra.local.iam import PolicyEvaluator
    from infra.local.sftp import SftpGateway, SftpUser, UploadCompleted

    events = session.client("events")
    users = [
        SftpUser(
            username=u.username,
            authorized_keys=u.ssh_public_keys,
            bucket=u.bucket,
            home_prefix=u.home_prefix,
            policy=PolicyEvaluator(u.policy_documents),
            server_id=u.server_id,
        )
        for u in provisioned.transfer_users
    ]

    def on_upload_completed(upload: UploadCompleted) -> None:
        # Transfer Family publishes this to the default bus; the template's rule takes it from there.
        events.put_events(Entries=[{
            "Source": "aws.transfer",
            "DetailType": UPLOAD_COMPLETED,
            "Detail": json.dumps(upload.detail),
            "Resources": [f"arn:aws:transfer:{REGION}:{ACCOUNT}:server/{upload.detail.get('server-id')}"],
        }])

    gateway = SftpGateway(users=users, s3_client=session.client("s3"), on_upload_completed=on_upload_completed,
                          host=options.host, port=options.sftp_port, host_key_path=options.state_dir / "sftp_host_key")
    gateway.start()
    return gateway


def _check_distribution(provisioned: Provisioned, stage: str) -> dict[str, str]:
    """The web server plays CloudFront: the template must route /api/* to the API, the rest to web,
    with one response-headers policy on both; returns that policy's headers, which it serves."""
    if len(provisioned.distributions) != 1:
        raise RuntimeError("the local web server plays exactly one CloudFront distribution")
    config = provisioned.distributions[0]
    patterns = {b["PathPattern"] for b in config.get("CacheBehaviors", [])}
    if f"/{stage}/*" not in patterns:
        raise RuntimeError(f"the distribution does not route /{stage}/* to the API; the local web server would differ")
    behaviours = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    policies = {b.get("ResponseHeadersPolicyId") for b in behaviours}
    if len(policies) != 1 or None in policies:
        raise RuntimeError("every cache behaviour must carry the same response-headers policy; the local web "
                           "server serves one set of headers on every answer")
    (policy_id,) = policies
    if policy_id not in provisioned.response_headers_policies:
        raise RuntimeError(f"response-headers policy {policy_id} is not the template's; "
                           "the local web server cannot serve it")
    return security_headers(provisioned.response_headers_policies[policy_id])


def _port_answers(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=2):
        return True


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    last: Exception | None = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as error:  # not up yet
            last = error
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s: {last}")


def serve_forever(running: RunningStack, announce: Callable[[str], None] = print) -> None:
    """Block until Ctrl-C, then stop every part."""
    stop_event = threading.Event()
    try:
        while not stop_event.wait(0.5):
            pass
    except KeyboardInterrupt:
        announce("stopping MAST…")
    finally:
        running.stop()
