"""`mast local [--demo]` and `mast local totp`: run MAST on this machine, for trying and developing it.

Registered as a ``tools.commands`` entry point (see pyproject.toml), so that ``mast/`` never
imports the local stack.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

WARNING = "The local stack is for trying and developing MAST, never for real people's data."


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that talks to a running local stack takes (`mast local`, `mast ingest`)."""
    parser.add_argument("--host", default="127.0.0.1", help="address the web page and SFTP listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="web page and API port (default 8080)")
    parser.add_argument("--sftp-port", type=int, default=2222, help="SFTP gateway port (default 2222)")
    parser.add_argument("--aws-port", type=int, default=4566, help="moto (local AWS) port, always on 127.0.0.1 (default 4566)")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("local", help="run the whole stack on this machine (moto, API, SFTP, web)",
                                   description=f"Run MAST on loopback. {WARNING}")
    add_stack_options(parser)
    parser.add_argument("--demo", action="store_true", help="seed the demo partnership, users and feed keys")
    parser.add_argument("--state-dir", type=Path, default=None, help="where keys, outbox and config go (default .local-stack/)")
    parser.add_argument("--verbose", action="store_true", help="log every part's messages")
    parser.set_defaults(func=run_local)
    actions = parser.add_subparsers(dest="local_action", metavar="ACTION")
    totp = actions.add_parser("totp", help="print the current MFA code of the demo users")
    totp.set_defaults(func=print_totp)
    fault = actions.add_parser(
        "fault", help="make a table of the running local stack unavailable, or clear that (to see MAST's 503s)",
        description="Tell the running local stack's AWS to refuse every call naming a DynamoDB table, as DynamoDB "
                    "does when a table is missing; with no option, show what is refused now. For example "
                    "`mast local fault --unavailable AuditTable`: every search then answers 503 with nothing shown.")
    fault.add_argument("--unavailable", nargs="+", metavar="TABLE", default=None,
                       help="tables to refuse, by logical id in template.yaml (AuditTable) or physical name")
    fault.add_argument("--clear", action="store_true", help="refuse nothing again")
    # also accepted after `fault` (SUPPRESS: not given here keeps what was given before it)
    fault.add_argument("--aws-port", type=int, default=argparse.SUPPRESS, help="the running stack's --aws-port (default 4566)")
    fault.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS, help="the running stack's --state-dir")
    fault.set_defaults(func=set_fault)


def print_totp(args: argparse.Namespace) -> int:
    from infra.local.demo import totp_code

    print(totp_code())
    return 0


def set_fault(args: argparse.Namespace) -> int:
    import requests

    from infra.local import faults, stack

    options = stack.LocalOptions(aws_port=args.aws_port)
    if args.state_dir:
        options.state_dir = args.state_dir
    url = f"{options.aws_endpoint}{faults.PATH}"
    if not options.aws_ca_bundle.exists():
        print(f"mast local fault: no local stack state in {options.state_dir} (start it with `mast local`, "
              "or give its --state-dir)", file=sys.stderr)
        return 2
    try:
        if args.clear or args.unavailable is not None:
            wanted = [] if args.clear else args.unavailable
            reply = requests.put(url, json={"unavailable_tables": wanted}, verify=str(options.aws_ca_bundle), timeout=10)
        else:
            reply = requests.get(url, verify=str(options.aws_ca_bundle), timeout=10)
    except (requests.ConnectionError, OSError) as error:
        print(f"mast local fault: no local stack answers on port {args.aws_port} ({error}); start it with `mast local`",
              file=sys.stderr)
        return 2
    if not reply.ok:
        print(f"mast local fault: {reply.json().get('message', reply.text)}", file=sys.stderr)
        return 2
    tables = reply.json()["unavailable_tables"]
    print("unavailable: " + ", ".join(tables) if tables else "nothing is made unavailable")
    return 0


def run_local(args: argparse.Namespace) -> int:
    from infra.local import demo, stack
    from mast.config import load_partnership

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = stack.LocalOptions(host=args.host, port=args.port, sftp_port=args.sftp_port, aws_port=args.aws_port,
                                 function_log_level=None if args.verbose else "WARNING")
    if args.state_dir:
        options.state_dir = args.state_dir
    partnership = load_partnership()
    if args.demo:
        options.parameters.update(demo.ensure_feed_keys(partnership, options.state_dir / "keys"))
    print(WARNING)
    try:
        running = stack.start(options)
    except stack.PortInUse as error:
        print(f"mast local: {error}", file=sys.stderr)
        return 2
    if args.demo:
        seed_demo(running, partnership)
    print(f"MAST is ready: {options.url}/", flush=True)
    stack.serve_forever(running)
    return 0


def seed_demo(running: stack.RunningStack, partnership: Partnership) -> None:  # type: ignore[name-defined]  # noqa: F821
    from infra.local import demo

    demo.seed_users(running.client("cognito-idp"), running.outputs["UserPoolId"], running.outputs["UserPoolClientId"])
    demo.seed_feed_states(running.client("dynamodb"), running.environment["CONTROL_TABLE"], partnership)
    keys = running.options.state_dir / "keys"
    print("Demo users (MFA: any authenticator with secret "
          f"{demo.DEMO_TOTP_SECRET}, or `mast local totp`):")
    for user in demo.DEMO_USERS:
        print(f"  {user.email:34} {user.password:24} {','.join(user.groups)} ({user.organisation})")
    print(f"Feed SFTP users: sftp -P {running.options.sftp_port} -i {keys}/<feed> <feed>@{running.options.host}")
    print(f"Sending {demo.DEMO_DAYS} days of synthetic extracts ({demo.DEMO_PEOPLE} people) through SFTP…", flush=True)
    demo.seed_extracts(running.options.host, running.options.sftp_port, keys, running.options.state_dir / "demo")
    running.wait_idle(timeout=600)
    print(f"Demo extracts and their truth: {running.options.state_dir / 'demo'}")
