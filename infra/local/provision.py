"""Create the template's resources on moto, one boto3 call sequence per resource type.

Each supported CloudFormation type has one function here. Types that AWS runs as managed services
moto does not execute (Lambda, API Gateway, CloudFront, Transfer Family's SFTP endpoint) are
recorded for the in-process parts of the local stack (:mod:`infra.local.stack`) to play. The edge
(CloudFront's response-headers policy, WAF web ACLs and their associations, API Gateway's account
logging role) has no local counterpart beyond the web server, which serves the policy's headers:
those are recorded, knowingly, and enforce nothing else. A type with no function here stops the
local stack with its name: never skipped silently.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.local.states import StateMachineSpec, check_definition, definition_of
from infra.local.template import LOCAL_CODE_BUCKET, Resolver, UnsupportedTemplateFeature, creation_order

logger = logging.getLogger(__name__)


@dataclass
class FunctionSpec:
    """A Lambda function as the template defines it, for the local runner (and its limits)."""

    logical_id: str
    name: str
    code: Mapping[str, Any]
    handler: str
    environment: dict[str, str]
    timeout: int
    #: MB, Lambda's default 128 when the template sets none
    memory: int = 128
    #: ReservedConcurrentExecutions, None when the template reserves none
    reserved_concurrency: int | None = None
    #: the function's role (its policies are in :attr:`Provisioned.role_policies`)
    role_arn: str = ""
    #: MB of ``/tmp`` (``EphemeralStorage``), Lambda's default 512 when the template sets none
    ephemeral_mb: int = 512


@dataclass
class EventSourceSpec:
    """An event source mapping: a queue or stream whose records invoke a function."""

    logical_id: str
    function: str  # function name
    source_arn: str
    batch_size: int
    on_failure_arn: str | None
    maximum_retry_attempts: int | None
    #: FunctionResponseTypes holds ReportBatchItemFailures: a result's batchItemFailures count
    report_batch_item_failures: bool = False


@dataclass
class TransferUserSpec:
    """A Transfer Family user: its home mapping and the role policies that confine it."""

    username: str
    server_id: str
    ssh_public_keys: tuple[str, ...]
    bucket: str
    home_prefix: str
    policy_documents: list[dict[str, Any]]


@dataclass
class Provisioned:
    """What the template created: logical ids to physical ids, plus what the local runners need."""

    resources: dict[str, str] = field(default_factory=dict)  # logical id -> type
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # by function name
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    rest_apis: list[dict[str, Any]] = field(default_factory=list)  # resolved swagger bodies
    stages: list[str] = field(default_factory=list)
    method_settings: list[dict[str, Any]] = field(default_factory=list)  # the stage's, as in the template
    transfer_users: list[TransferUserSpec] = field(default_factory=list)
    role_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # role arn -> docs
    distributions: list[dict[str, Any]] = field(default_factory=list)
    #: CloudFront response-headers policies by id (their ``ResponseHeadersPolicyConfig``)
    response_headers_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: WAF web ACLs and what they are associated with: recorded, not enforced (no local WAF)
    web_acls: dict[str, dict[str, Any]] = field(default_factory=dict)
    named_queries: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Step Functions state machines by name, their definitions checked (moto runs them)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)
    #: ECS task definitions by family: the function (in :attr:`functions`) that plays each task
    tasks: dict[str, str] = field(default_factory=dict)


Created = tuple[Any, dict[str, Any]]  # (Ref value, GetAtt attributes)


class Provisioner:
    """Creates resources in dependency order with boto3 clients pointed at moto."""

    def __init__(self, session: Any, resolver: Resolver, *, region: str, account: str, prefix: str) -> None:
        self.session = session
        self.resolver = resolver
        self.region = region
        self.account = account
        self.prefix = prefix
        self.out = Provisioned()
        self._clients: dict[str, Any] = {}
        self._types: dict[str, Callable[[str, dict[str, Any]], Created]] = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::S3::Bucket": self._s3_bucket,
            "AWS::S3::BucketPolicy": self._s3_bucket_policy,
            "AWS::DynamoDB::Table": self._dynamodb_table,
            "AWS::SNS::Topic": self._sns_topic,
            "AWS::SES::EmailIdentity": self._ses_identity,
            "AWS::SQS::Queue": self._sqs_queue,
            "AWS::SQS::QueuePolicy": self._sqs_queue_policy,
            "AWS::CloudWatch::Alarm": self._cloudwatch_alarm,
            "AWS::Events::Rule": self._events_rule,
            "AWS::IAM::Role": self._iam_role,
            "AWS::IAM::ManagedPolicy": self._iam_managed_policy,
            "AWS::Lambda::Function": self._lambda_function,
            "AWS::Lambda::Permission": self._lambda_permission,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::ECS::Cluster": self._ecs_cluster,
            "AWS::ECS::TaskDefinition": self._ecs_task_definition,
            "AWS::ApiGateway::RestApi": self._rest_api,
            "AWS::ApiGateway::Deployment": self._api_deployment,
            "AWS::ApiGateway::Stage": self._api_stage,
            "AWS::Cognito::UserPool": self._user_pool,
            "AWS::Cognito::UserPoolGroup": self._user_pool_group,
            "AWS::Cognito::UserPoolClient": self._user_pool_client,
            "AWS::Glue::Database": self._glue_database,
            "AWS::Glue::Table": self._glue_table,
            "AWS::Athena::WorkGroup": self._athena_workgroup,
            "AWS::Athena::NamedQuery": self._athena_named_query,
            "AWS::Transfer::Server": self._transfer_server,
            "AWS::Transfer::User": self._transfer_user,
            "AWS::CloudFront::OriginAccessControl": self._cloudfront_oac,
            "AWS::CloudFront::Distribution": self._cloudfront_distribution,
            "AWS::CloudFront::ResponseHeadersPolicy": self._cloudfront_response_headers_policy,
            "AWS::WAFv2::WebACL": self._waf_web_acl,
            "AWS::WAFv2::WebACLAssociation": self._waf_web_acl_association,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::ApiGateway::Account": self._api_gateway_account,
        }

    # -- driver --------------------------------------------------------------------------------

    def check_supported(self, resources: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse the whole template up front if any resource type is not supported."""
        unsupported = sorted(
            f"{logical_id} ({r['Type']})" for logical_id, r in resources.items() if r["Type"] not in self._types
        )
        if unsupported:
            raise UnsupportedTemplateFeature(
                "the local stack does not support these resource types: " + ", ".join(unsupported)
            )

    def provision(self, resources: Mapping[str, Mapping[str, Any]]) -> Provisioned:
        self.check_supported(resources)
        for logical_id in creation_order(resources):
            resource = resources[logical_id]
            condition = resource.get("Condition")
            if condition and not self.resolver.condition(condition):
                continue
            properties = self.resolver.resolve(resource.get("Properties", {}))
            try:
                ref, attributes = self._types[resource["Type"]](logical_id, properties)
            except (ClientError, BotoCoreError) as error:
                raise RuntimeError(f"creating {logical_id} ({resource['Type']}) failed: {error}") from error
            self.resolver.refs[logical_id] = ref
            self.resolver.attributes[logical_id] = attributes
            self.out.resources[logical_id] = resource["Type"]
        return self.out

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def _arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"

    def _name(self, logical_id: str) -> str:
        return f"{self.prefix}-{logical_id}"

    # -- encryption ----------------------------------------------------------------------------

    def _kms_key(self, logical_id: str, p: dict[str, Any]) -> Created:
        key = self.client("kms").create_key(
            Description=p.get("Description", ""), Policy=json.dumps(p.get("KeyPolicy", {}))
        )["KeyMetadata"]
        if p.get("EnableKeyRotation"):
            self.client("kms").enable_key_rotation(KeyId=key["KeyId"])
        return key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]}

    def _kms_alias(self, logical_id: str, p: dict[str, Any]) -> Created:
        self.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
        return p["AliasName"], {}

    def _secret(self, logical_id: str, p: dict[str, Any]) -> Created:
        """A secret, its value generated as Secrets Manager would (``GenerateSecretString``), so it
        exists only in this run's moto, never on disk or in the repository."""
        sm = self.client("secretsmanager")
        if "SecretString" in p:
            value = p["SecretString"]
        else:
            spec = dict(p.get("GenerateSecretString") or {})
            template, key = spec.pop("SecretStringTemplate", None), spec.pop("GenerateStringKey", None)
            if (template is None) != (key is None):
                raise UnsupportedTemplateFeature(
                    f"{logical_id}: GenerateSecretString needs both SecretStringTemplate and GenerateStringKey, or neither")
            value = sm.get_random_password(**spec)["RandomPassword"]
            if template is not None:
                value = json.dumps({**json.loads(template), key: value})
        kwargs: dict[str, Any] = {"Name": p.get("Name") or self._name(logical_id), "SecretString": value}
        for name in ("Description", "KmsKeyId"):
            if name in p:
                kwargs[name] = p[name]
        arn = sm.create_secret(**kwargs)["ARN"]
        return arn, {"Id": arn}

    # -- storage -------------------------------------------------------------------------------

    def _s3_bucket(self, logical_id: str, p: dict[str, Any]) -> Created:
        s3 = self.client("s3")
        name = p.get("BucketName") or self._name(logical_id).lower()
        s3.create_bucket(
            Bucket=name,
            CreateBucketConfiguration={"LocationConstraint": self.region},
            ObjectLockEnabledForBucket=bool(p.get("ObjectLockEnabled")),
        )
        if "VersioningConfiguration" in p:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]})
        if "ObjectLockConfiguration" in p:
            lock = p["ObjectLockConfiguration"]
            retention = dict(lock.get("Rule", {}).get("DefaultRetention", {}))
            for unit in ("Days", "Years"):
                if unit in retention:
                    retention[unit] = int(retention[unit])
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={"ObjectLockEnabled": lock["ObjectLockEnabled"], "Rule": {"DefaultRetention": retention}},
            )
        if "BucketEncryption" in p:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": bool(rule["BucketKeyEnabled"])} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in p:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
        if "OwnershipControls" in p:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=p["OwnershipControls"])
        if "LoggingConfiguration" in p:
            logging_config = p["LoggingConfiguration"]
            s3.put_bucket_logging(Bucket=name, BucketLoggingStatus={"LoggingEnabled": {
                "TargetBucket": logging_config["DestinationBucketName"],
                "TargetPrefix": logging_config.get("LogFilePrefix", ""),
            }})
        if "LifecycleConfiguration" in p:
            rules = []
            for rule in p["LifecycleConfiguration"]["Rules"]:
                api_rule: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
                if "ExpirationInDays" in rule:
                    api_rule["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
                if "NoncurrentVersionExpirationInDays" in rule:
                    days = int(rule["NoncurrentVersionExpirationInDays"])
                    api_rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
                known = {"Id", "Status", "Prefix", "ExpirationInDays", "NoncurrentVersionExpirationInDays"}
                unknown = set(rule) - known
                if unknown:
                    raise UnsupportedTemplateFeature(f"{logical_id}: lifecycle rule properties {sorted(unknown)}")
                rules.append(api_rule)
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
        arn = f"arn:aws:s3:::{name}"
        return name, {
            "Arn": arn,
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        }

    def _s3_bucket_policy(self, logical_id: str, p: dict[str, Any]) -> Created:
        self.client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))
        return p["Bucket"], {}

    def _dynamodb_table(self, logical_id: str, p: dict[str, Any]) -> Created:
        ddb = self.client("dynamodb")
        name = p.get("TableName") or self._name(logical_id)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if "GlobalSecondaryIndexes" in p:
            kwargs["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        if "StreamSpecification" in p:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        if "SSESpecification" in p:
            sse = p["SSESpecification"]
            kwargs["SSESpecification"] = {
                "Enabled": sse.get("SSEEnabled", False),
                **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
            }
        table = ddb.create_table(**kwargs)["TableDescription"]
        if "TimeToLiveSpecification" in p:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=p["TimeToLiveSpecification"])
        if p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        attributes = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        return name, attributes

    # -- messaging -----------------------------------------------------------------------------

    def _sns_topic(self, logical_id: str, p: dict[str, Any]) -> Created:
        sns = self.client("sns")
        attributes = {"KmsMasterKeyId": p["KmsMasterKeyId"]} if "KmsMasterKeyId" in p else {}
        arn = sns.create_topic(Name=p.get("TopicName") or self._name(logical_id), Attributes=attributes)["TopicArn"]
        for subscription in p.get("Subscription", []):
            sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
        return arn, {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]}

    def _ses_identity(self, logical_id: str, p: dict[str, Any]) -> Created:
        """A sender SES may send from. SES verifies it by mail; locally it is verified at once (the
        stack's outbox receives what is sent)."""
        identity = p["EmailIdentity"]
        self.client("ses").verify_email_identity(EmailAddress=identity)
        return identity, {}

    def _sqs_queue(self, logical_id: str, p: dict[str, Any]) -> Created:
        sqs = self.client("sqs")
        name = p.get("QueueName") or self._name(logical_id) + (".fifo" if p.get("FifoQueue") else "")
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
                    "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"):
            if key in p:
                attributes[key] = str(p[key])
        for key in ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"):
            if key in p:
                attributes[key] = "true" if p[key] else "false"
        if "RedrivePolicy" in p:
            attributes["RedrivePolicy"] = json.dumps(p["RedrivePolicy"])
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _sqs_queue_policy(self, logical_id: str, p: dict[str, Any]) -> Created:
        for url in p["Queues"]:
            self.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
        return self._name(logical_id), {}

    def _cloudwatch_alarm(self, logical_id: str, p: dict[str, Any]) -> Created:
        name = p.get("AlarmName") or self._name(logical_id)
        keys = (
            "AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
            "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
            "AlarmActions",
        )
        kwargs = {k: p[k] for k in keys if k in p}
        for numeric in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if numeric in kwargs:
                kwargs[numeric] = int(kwargs[numeric])
        if "Threshold" in kwargs:
            kwargs["Threshold"] = float(kwargs["Threshold"])
        self.client("cloudwatch").put_metric_alarm(AlarmName=name, **kwargs)
        return name, {"Arn": self._arn("cloudwatch", f"alarm:{name}")}

    def _events_rule(self, logical_id: str, p: dict[str, Any]) -> Created:
        events = self.client("events")
        name = p.get("Name") or self._name(logical_id)
        # a rule has an event pattern or a schedule (nothing fires the schedule locally: run its
        # work by hand, e.g. `mast users disable-unused`)
        trigger = ({"EventPattern": json.dumps(p["EventPattern"])} if "EventPattern" in p
                   else {"ScheduleExpression": p["ScheduleExpression"]})
        arn = events.put_rule(
            Name=name,
            State=p.get("State", "ENABLED"),
            Description=p.get("Description", ""),
            **trigger,
        )["RuleArn"]
        targets = [{"Id": t["Id"], "Arn": t["Arn"]} for t in p.get("Targets", [])]
        if targets:
            events.put_targets(Rule=name, Targets=targets)
        return name, {"Arn": arn}

    # -- identity and access -------------------------------------------------------------------

    def _iam_role(self, logical_id: str, p: dict[str, Any]) -> Created:
        iam = self.client("iam")
        name = p.get("RoleName") or self._name(logical_id)[:64]
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]))["Role"]
        documents = []
        for policy in p.get("Policies", []):
            # SAM's policy templates carry no Version; IAM accepts that and moto does not. The
            # documents use no policy variables, so the 2012 version means the same thing.
            document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document))
            documents.append(document)
        for arn in p.get("ManagedPolicyArns", []):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        self.out.role_policies[role["Arn"]] = documents
        return name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    def _iam_managed_policy(self, logical_id: str, p: dict[str, Any]) -> Created:
        policy = self.client("iam").create_policy(
            PolicyName=p.get("ManagedPolicyName") or self._name(logical_id),
            PolicyDocument=json.dumps(p["PolicyDocument"]),
            Description=p.get("Description", ""),
        )["Policy"]
        return policy["Arn"], {"PolicyArn": policy["Arn"]}

    # -- compute (played in-process) -----------------------------------------------------------

    def _lambda_function(self, logical_id: str, p: dict[str, Any]) -> Created:
        name = p.get("FunctionName") or self._name(logical_id)
        variables = {k: str(v) for k, v in (p.get("Environment", {}).get("Variables") or {}).items()}
        self.out.functions[name] = FunctionSpec(
            logical_id=logical_id,
            name=name,
            code=p["Code"],
            handler=p["Handler"],
            environment=variables,
            timeout=int(p.get("Timeout", 3)),
            memory=int(p.get("MemorySize", 128)),
            reserved_concurrency=int(p["ReservedConcurrentExecutions"]) if "ReservedConcurrentExecutions" in p else None,
            role_arn=str(p.get("Role", "")),
            ephemeral_mb=ephemeral_mb_of(logical_id, p),
        )
        return name, {"Arn": self._arn("lambda", f"function:{name}")}

    def _lambda_permission(self, logical_id: str, p: dict[str, Any]) -> Created:
        function = str(p["FunctionName"]).rsplit(":", 1)[-1]
        if function not in self.out.functions:
            raise UnsupportedTemplateFeature(f"{logical_id} grants invoke on unknown function {function}")
        return self._name(logical_id), {}

    def _state_machine(self, logical_id: str, p: dict[str, Any]) -> Created:
        kind = p.get("StateMachineType", "STANDARD")
        if kind != "STANDARD":
            raise UnsupportedTemplateFeature(f"{logical_id}: only STANDARD state machines run locally, not {kind}")
        # LoggingConfiguration and TracingConfiguration: recorded, not played (no local CloudWatch
        # Logs delivery or X-Ray); anything else the local stack does not know stops it
        unknown = set(p) - {"StateMachineName", "StateMachineType", "DefinitionString", "Definition",
                            "DefinitionSubstitutions", "RoleArn", "Tags", "LoggingConfiguration",
                            "TracingConfiguration"}
        if unknown:
            raise UnsupportedTemplateFeature(f"{logical_id}: state machine properties {sorted(unknown)}")
        definition = definition_of(logical_id, p)
        check_definition(logical_id, definition)
        name = p.get("StateMachineName") or self._name(logical_id)[:80]
        arn = self.client("stepfunctions").create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=p["RoleArn"], type=kind)["stateMachineArn"]
        self.out.state_machines[name] = StateMachineSpec(logical_id, name, arn, p["RoleArn"], definition)
        return arn, {"Arn": arn, "Name": name}

    def _ecs_cluster(self, logical_id: str, p: dict[str, Any]) -> Created:
        name = p.get("ClusterName") or self._name(logical_id)
        arn = self.client("ecs").create_cluster(clusterName=name)["cluster"]["clusterArn"]
        return name, {"Arn": arn}

    def _ecs_task_definition(self, logical_id: str, p: dict[str, Any]) -> Created:
        """A Fargate task definition, played by the stack's runner as a function: the container's
        command (``python -m <module>``) is this repository's module's ``handler``, run under the
        task's Memory and EphemeralStorage (:func:`infra.local.states.run_state_machines`)."""
        if p.get("RequiresCompatibilities") != ["FARGATE"] or p.get("NetworkMode") != "awsvpc":
            raise UnsupportedTemplateFeature(f"{logical_id}: only Fargate task definitions (awsvpc) run locally")
        containers = p.get("ContainerDefinitions") or []
        if len(containers) != 1:
            raise UnsupportedTemplateFeature(f"{logical_id}: a task definition of one container runs locally")
        container = containers[0]
        command = [str(c) for c in container.get("Command") or []]
        if len(command) != 3 or command[:2] != ["python", "-m"]:
            raise UnsupportedTemplateFeature(f"{logical_id}: the container's command {command} is not "
                                             "`python -m <this repository's module>`")
        package, _, module = command[2].rpartition(".")
        cpu, memory = int(p["Cpu"]), int(p["Memory"])
        if memory not in fargate_memory_mb(cpu):
            raise UnsupportedTemplateFeature(f"{logical_id}: Fargate has no task of {cpu} CPU units and {memory} MiB")
        gib = int((p.get("EphemeralStorage") or {}).get("SizeInGiB", FARGATE_EPHEMERAL_GIB[0]))
        if not FARGATE_EPHEMERAL_GIB[0] <= gib <= FARGATE_EPHEMERAL_GIB[1]:
            raise UnsupportedTemplateFeature(f"{logical_id}: EphemeralStorage {gib} GiB is outside Fargate's "
                                             f"{FARGATE_EPHEMERAL_GIB[0]} to {FARGATE_EPHEMERAL_GIB[1]} GiB")
        family = str(p["Family"])
        registered = self.client("ecs").register_task_definition(
            # in moto without awsvpc (checked above): moto cannot attach a Fargate task's network
            # interface, and the network is not played (infra.local.states runs the task's command)
            family=family, networkMode="bridge", cpu=str(cpu), memory=str(memory),
            taskRoleArn=str(p.get("TaskRoleArn", "")), executionRoleArn=str(p.get("ExecutionRoleArn", "")),
            # moto sums its containers' memory to place a task: the one container has the task's
            containerDefinitions=[{"name": container["Name"], "image": str(container["Image"]), "command": command,
                                   "essential": True, "memory": memory, "cpu": cpu}])["taskDefinition"]
        self.out.functions[family] = FunctionSpec(
            logical_id=logical_id, name=family,
            code={"S3Bucket": LOCAL_CODE_BUCKET, "S3Key": package.replace(".", "/")},
            handler=f"{module}.handler",
            environment={str(e["Name"]): str(e["Value"]) for e in container.get("Environment") or []},
            timeout=FARGATE_TASK_SECONDS, memory=memory, role_arn=str(p.get("TaskRoleArn", "")),
            ephemeral_mb=gib * 1024)
        self.out.tasks[family] = family
        arn = registered["taskDefinitionArn"]
        return arn, {"TaskDefinitionArn": arn}

    def _event_source_mapping(self, logical_id: str, p: dict[str, Any]) -> Created:
        destination = (p.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
        retries = p.get("MaximumRetryAttempts")
        self.out.event_sources.append(
            EventSourceSpec(
                logical_id=logical_id,
                function=str(p["FunctionName"]).rsplit(":", 1)[-1],
                source_arn=p["EventSourceArn"],
                batch_size=int(p.get("BatchSize", 10)),
                on_failure_arn=destination,
                maximum_retry_attempts=int(retries) if retries is not None else None,
                report_batch_item_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
            )
        )
        mapping_id = secrets.token_hex(8)
        return mapping_id, {"Id": mapping_id}

    def _rest_api(self, logical_id: str, p: dict[str, Any]) -> Created:
        if "Body" not in p:
            raise UnsupportedTemplateFeature(f"{logical_id}: only REST APIs defined by a Body are supported")
        self.out.rest_apis.append(p["Body"])
        api_id = secrets.token_hex(5)
        return api_id, {"RootResourceId": secrets.token_hex(5), "RestApiId": api_id}

    def _api_deployment(self, logical_id: str, p: dict[str, Any]) -> Created:
        return secrets.token_hex(5), {}

    def _api_stage(self, logical_id: str, p: dict[str, Any]) -> Created:
        self.out.stages.append(p["StageName"])
        self.out.method_settings.extend(p.get("MethodSettings") or [])
        return p["StageName"], {}

    def _user_pool(self, logical_id: str, p: dict[str, Any]) -> Created:
        idp = self.client("cognito-idp")
        passthrough = (
            "Policies", "UsernameAttributes", "AutoVerifiedAttributes", "MfaConfiguration",
            "AdminCreateUserConfig", "AccountRecoverySetting", "DeletionProtection",
            "UserAttributeUpdateSettings", "UserPoolAddOns", "UserPoolTier",
        )
        kwargs = {k: p[k] for k in passthrough if k in p}
        if "Schema" in p:
            kwargs["Schema"] = p["Schema"]
        pool = idp.create_user_pool(PoolName=p.get("UserPoolName") or self._name(logical_id), **kwargs)["UserPool"]
        if "SOFTWARE_TOKEN_MFA" in p.get("EnabledMfas", []):
            idp.set_user_pool_mfa_config(
                UserPoolId=pool["Id"],
                SoftwareTokenMfaConfiguration={"Enabled": True},
                MfaConfiguration=p.get("MfaConfiguration", "OPTIONAL"),
            )
        provider = f"cognito-idp.{self.region}.amazonaws.com/{pool['Id']}"
        return pool["Id"], {"Arn": pool["Arn"], "ProviderName": provider, "ProviderURL": f"https://{provider}"}

    def _user_pool_group(self, logical_id: str, p: dict[str, Any]) -> Created:
        self.client("cognito-idp").create_group(
            UserPoolId=p["UserPoolId"], GroupName=p["GroupName"], Description=p.get("Description", "")
        )
        return p["GroupName"], {}

    def _user_pool_client(self, logical_id: str, p: dict[str, Any]) -> Created:
        keys = (
            "ClientName", "GenerateSecret", "ExplicitAuthFlows", "PreventUserExistenceErrors",
            "EnableTokenRevocation", "AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity",
            "TokenValidityUnits", "ReadAttributes", "WriteAttributes",
        )
        kwargs = {k: p[k] for k in keys if k in p}
        client = self.client("cognito-idp").create_user_pool_client(UserPoolId=p["UserPoolId"], **kwargs)
        client_id = client["UserPoolClient"]["ClientId"]
        return client_id, {"ClientId": client_id}

    # -- catalogue and query -------------------------------------------------------------------

    def _glue_database(self, logical_id: str, p: dict[str, Any]) -> Created:
        self.client("glue").create_database(CatalogId=p["CatalogId"], DatabaseInput=p["DatabaseInput"])
        return p["DatabaseInput"]["Name"], {}

    def _glue_table(self, logical_id: str, p: dict[str, Any]) -> Created:
        self.client("glue").create_table(CatalogId=p["CatalogId"], DatabaseName=p["DatabaseName"], TableInput=p["TableInput"])
        return p["TableInput"]["Name"], {}

    def _athena_workgroup(self, logical_id: str, p: dict[str, Any]) -> Created:
        config = dict(p.get("WorkGroupConfiguration", {}))
        self.client("athena").create_work_group(
            Name=p["Name"], Description=p.get("Description", ""), Configuration=config
        )
        return p["Name"], {}

    def _athena_named_query(self, logical_id: str, p: dict[str, Any]) -> Created:
        query_id = self.client("athena").create_named_query(
            Name=p["Name"], Database=p["Database"], QueryString=p["QueryString"],
            Description=p.get("Description", ""), WorkGroup=p.get("WorkGroup", "primary"),
        )["NamedQueryId"]
        self.out.named_queries[p["Name"]] = {"query": p["QueryString"], "description": p.get("Description", "")}
        return query_id, {"NamedQueryId": query_id}

    # -- SFTP (played by the local gateway) ----------------------------------------------------

    def _transfer_server(self, logical_id: str, p: dict[str, Any]) -> Created:
        server_id = self.client("transfer").create_server(
            Domain=p.get("Domain", "S3"),
            EndpointType=p.get("EndpointType", "PUBLIC"),
            IdentityProviderType=p.get("IdentityProviderType", "SERVICE_MANAGED"),
            Protocols=p.get("Protocols", ["SFTP"]),
        )["ServerId"]
        return server_id, {"ServerId": server_id, "Arn": self._arn("transfer", f"server/{server_id}")}

    def _transfer_user(self, logical_id: str, p: dict[str, Any]) -> Created:
        if p.get("HomeDirectoryType") != "LOGICAL":
            raise UnsupportedTemplateFeature(f"{logical_id}: only LOGICAL home directories are supported")
        mappings = {m["Entry"]: m["Target"] for m in p["HomeDirectoryMappings"]}
        if set(mappings) != {"/"}:
            raise UnsupportedTemplateFeature(f"{logical_id}: only a single '/' home mapping is supported")
        bucket, _, prefix = mappings["/"].strip("/").partition("/")
        keys = tuple(p.get("SshPublicKeys", []))
        self.client("transfer").create_user(
            ServerId=p["ServerId"], UserName=p["UserName"], Role=p["Role"],
            HomeDirectoryType="LOGICAL", HomeDirectoryMappings=p["HomeDirectoryMappings"],
            **({"SshPublicKeyBody": keys[0]} if keys else {}),
        )
        self.out.transfer_users.append(
            TransferUserSpec(
                username=p["UserName"],
                server_id=p["ServerId"],
                ssh_public_keys=keys,
                bucket=bucket,
                home_prefix=prefix.rstrip("/") + "/",
                policy_documents=self.out.role_policies.get(p["Role"], []),
            )
        )
        return p["UserName"], {"Arn": self._arn("transfer", f"user/{p['ServerId']}/{p['UserName']}"), "UserName": p["UserName"]}

    # -- web (played by the local web server) --------------------------------------------------

    def _cloudfront_oac(self, logical_id: str, p: dict[str, Any]) -> Created:
        oac_id = secrets.token_hex(7).upper()
        return oac_id, {"Id": oac_id}

    def _cloudfront_distribution(self, logical_id: str, p: dict[str, Any]) -> Created:
        self.out.distributions.append(p["DistributionConfig"])
        distribution_id = "E" + secrets.token_hex(6).upper()
        return distribution_id, {"DomainName": "localhost", "Id": distribution_id}

    def _cloudfront_response_headers_policy(self, logical_id: str, p: dict[str, Any]) -> Created:
        """Recorded: the local web server serves its security headers on every answer."""
        policy_id = secrets.token_hex(8)
        self.out.response_headers_policies[policy_id] = p["ResponseHeadersPolicyConfig"]
        return policy_id, {"Id": policy_id}

    # -- edge protection and logging with no local counterpart ---------------------------------

    def _waf_web_acl(self, logical_id: str, p: dict[str, Any]) -> Created:
        """Recorded, not enforced: there is no WAF in front of the local API (its rate rule and
        managed rule groups are AWS's to run; the local API plays the stage's throttling)."""
        acl_id = secrets.token_hex(8)
        scope = "global" if p.get("Scope") == "CLOUDFRONT" else "regional"
        arn = self._arn("wafv2", f"{scope}/webacl/{p['Name']}/{acl_id}")
        self.out.web_acls[arn] = {"name": p["Name"], "scope": p.get("Scope"), "associated": []}
        return f"{p['Name']}|{acl_id}|{p.get('Scope')}", {"Arn": arn, "Id": acl_id}

    def _waf_web_acl_association(self, logical_id: str, p: dict[str, Any]) -> Created:
        if p["WebACLArn"] not in self.out.web_acls:
            raise UnsupportedTemplateFeature(f"{logical_id} associates a web ACL the template does not make")
        self.out.web_acls[p["WebACLArn"]]["associated"].append(p["ResourceArn"])
        return self._name(logical_id), {}

    def _log_group(self, logical_id: str, p: dict[str, Any]) -> Created:
        logs = self.client("logs")
        name = p.get("LogGroupName") or self._name(logical_id)
        logs.create_log_group(logGroupName=name, **({"kmsKeyId": p["KmsKeyId"]} if "KmsKeyId" in p else {}))
        if "RetentionInDays" in p:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))
        return name, {"Arn": self._arn("logs", f"log-group:{name}:*")}

    def _api_gateway_account(self, logical_id: str, p: dict[str, Any]) -> Created:
        """API Gateway's per-account logging role: the local API logs to this process, not CloudWatch."""
        return self._name(logical_id), {}


#: the most ``/tmp`` a Lambda function may have, and the least (its default), in MB
#: (https://docs.aws.amazon.com/lambda/latest/dg/API_EphemeralStorage.html)
EPHEMERAL_MB_RANGE = (512, 10_240)


def ephemeral_mb_of(logical_id: str, p: Mapping[str, Any]) -> int:
    """A function's ``EphemeralStorage`` size in MB (512 when the template sets none); a size Lambda
    refuses stops the stack, as CloudFormation would fail the deploy."""
    size = int((p.get("EphemeralStorage") or {}).get("Size", EPHEMERAL_MB_RANGE[0]))
    if not EPHEMERAL_MB_RANGE[0] <= size <= EPHEMERAL_MB_RANGE[1]:
        raise UnsupportedTemplateFeature(f"{logical_id}: EphemeralStorage Size {size} MB is outside Lambda's "
                                         f"{EPHEMERAL_MB_RANGE[0]} to {EPHEMERAL_MB_RANGE[1]:,} MB")
    return size


#: a Fargate task's disk, in GiB: its default and its most
#: (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-ecs-taskdefinition-ephemeralstorage.html)
FARGATE_EPHEMERAL_GIB = (20, 200)
#: a Fargate task has no time limit; the local runner stops one after the rebuild's backstop (9 days)
FARGATE_TASK_SECONDS = 9 * 24 * 3600


def fargate_memory_mb(cpu: int) -> range | tuple[int, ...]:
    """The memory (MiB) Fargate allows a task of ``cpu`` CPU units (an empty range: no such task)
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html)."""
    gib = 1024
    sizes: dict[int, range | tuple[int, ...]] = {256: (512, gib, 2 * gib), 512: range(gib, 4 * gib + 1, gib), 1024: range(2 * gib, 8 * gib + 1, gib),
             2048: range(4 * gib, 16 * gib + 1, gib), 4096: range(8 * gib, 30 * gib + 1, gib),
             8192: range(16 * gib, 60 * gib + 1, 4 * gib), 16384: range(32 * gib, 120 * gib + 1, 8 * gib)}
    return sizes.get(cpu, ())
