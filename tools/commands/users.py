"""`mast users grant EMAIL GROUP`: the operator's grant, with AWS credentials, of any group.

The ``auditors`` and ``data-stewards`` groups are granted only here, never through the API
(DESIGN.md, "Security model"). The user must already exist (invited by their org-admin, or through
an approved access request). The grant is audited like every admin action, as the operator.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
import uuid


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("users", help="operator's user administration (AWS credentials)")
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    grant = actions.add_parser("grant", help="add an existing user to a group (the only way to make auditors and stewards)")
    grant.add_argument("email")
    grant.add_argument("group", choices=["practitioners", "org-admins", "auditors", "data-stewards"])
    grant.add_argument("--user-pool-id", default=os.environ.get("USER_POOL_ID"),
                       help="the stack's user pool (default: USER_POOL_ID)")
    grant.add_argument("--audit-table", default=os.environ.get("AUDIT_TABLE"),
                       help="the stack's audit table (default: AUDIT_TABLE)")
    grant.set_defaults(func=run_grant)
    unused = actions.add_parser("disable-unused",
                                help="disable accounts unused for 90 days now (the daily schedule's work)")
    unused.add_argument("--user-pool-id", default=os.environ.get("USER_POOL_ID"),
                        help="the stack's user pool (default: USER_POOL_ID)")
    unused.add_argument("--audit-table", default=os.environ.get("AUDIT_TABLE"),
                        help="the stack's audit table (default: AUDIT_TABLE)")
    unused.add_argument("--control-table", default=os.environ.get("CONTROL_TABLE"),
                        help="the stack's control table (default: CONTROL_TABLE)")
    unused.set_defaults(func=run_disable_unused)


def run_disable_unused(args: argparse.Namespace) -> int:
    from mast.access.users import AccessRequestStore, UserAdmin, UserDirectory
    from mast.audit import AuditStore
    from mast.config import load_partnership

    if not args.user_pool_id or not args.audit_table or not args.control_table:
        print("give --user-pool-id, --audit-table and --control-table (or USER_POOL_ID, AUDIT_TABLE, CONTROL_TABLE)",
              file=sys.stderr)
        return 2
    admin = UserAdmin(UserDirectory(args.user_pool_id), AccessRequestStore(args.control_table),
                      AuditStore(args.audit_table))
    disabled = admin.disable_unused([o.id for o in load_partnership().organisations], dt.datetime.now(dt.UTC))
    for user in disabled:
        print(f"disabled {user.email} ({user.organisation}): not used for 90 days")
    print(f"{len(disabled)} accounts disabled")
    return 0


def run_grant(args: argparse.Namespace) -> int:
    from mast.access.users import UserAdminError, UserDirectory
    from mast.audit import AuditEvent, AuditStore, AuditUnavailable

    if not args.user_pool_id or not args.audit_table:
        print("give --user-pool-id and --audit-table (or USER_POOL_ID and AUDIT_TABLE): the stack's outputs",
              file=sys.stderr)
        return 2
    import boto3

    directory = UserDirectory(args.user_pool_id)
    try:
        user = directory.get(args.email)
    except UserAdminError as error:
        print(f"{args.email}: {error}", file=sys.stderr)
        return 1
    operator = boto3.client("sts").get_caller_identity()["Arn"]
    try:
        AuditStore(args.audit_table).write(AuditEvent(
            event_id=uuid.uuid4().hex, event_time=dt.datetime.now(dt.UTC), action="user-edit",
            user_sub=operator, username=f"operator:{getpass.getuser()}", organisation=user.organisation or "-",
            groups=("operator",), target=user.id, detail=json.dumps({"grant": args.group}),
        ))
    except AuditUnavailable as error:
        print(f"not granted: {error}", file=sys.stderr)
        return 1
    granted = directory.grant(user.id, args.group)
    print(f"{granted.email} ({granted.organisation}): {', '.join(granted.groups)}")
    return 0
