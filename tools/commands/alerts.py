"""`mast alerts digest`: the daily alert digest now, as the template's ``AlertDigest`` schedule
runs it at 07:00 UTC (:func:`mast.alerts.nudge.send_digests`).

Nothing fires schedules on the local stack (``infra/local/provision.py``), so this is how the local
stack's digest is sent: its mails land in the stack's outbox. ``--at`` names the moment the digest
runs for (the day before the latest 07:00 UTC by then), e.g. to send a missed day's digest; a day's
digest is claimed when sent, so running it twice sends nothing more.
"""

from __future__ import annotations

import argparse
import datetime as dt

from tools.commands._target import Stack, add_stack_target


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("alerts", help="alerts: send the daily digest now")
    sub = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    digest = sub.add_parser("digest", help="mail each daily-digest team the count of the day's new alerts")
    digest.add_argument("--at", default=None, help="the moment to run for (ISO 8601, UTC; default now)")
    digest.add_argument("--sender", default=None,
                        help="the alerts' sender (the template's AlertsFromAddress; default the local stack's)")
    digest.add_argument("--web-url", default="", help="where the mail sends people to sign in")
    add_stack_target(digest)
    digest.set_defaults(func=_digest)


def _digest(args: argparse.Namespace) -> int:
    from mast.alerts.nudge import digest_window, send_digests
    from mast.config import load_partnership

    now = dt.datetime.fromisoformat(args.at).astimezone(dt.UTC) if args.at else dt.datetime.now(dt.UTC)
    stack = Stack.of(args)
    sender = args.sender
    if sender is None:
        from infra.local.stack import LOCAL_PARAMETERS

        sender = LOCAL_PARAMETERS["AlertsFromAddress"]
    env = {"ALERTS_FROM": sender, "WEB_URL": args.web_url, "CONTROL_TABLE": stack.control_table}
    sent = send_digests(load_partnership(), env, stack.session.client("ses"), stack.session.client("dynamodb"), now)
    start, end = digest_window(now)
    print(f"{sent} digest mail(s) sent for the alerts made {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
    return 0
