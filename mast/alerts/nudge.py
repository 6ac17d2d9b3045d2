"""The mail that tells a team there are new alerts. It carries no personal data by design (no name,
date of birth, address, case reference or agency): only that there are new alerts for the
organisation, and where to sign in to read them. Mail leaves MAST's protection; a sign-in does not.

Sent with SES from ``ALERTS_FROM`` (the template's ``AlertsFromAddress``; none: no mail) to the
mailbox of the team in each alerted case's contact details. An organisation that chose a daily
digest (:class:`~mast.alerts.models.AlertSettings`) is mailed at most once a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger

from mast.alerts.models import Alert
from mast.config import Partnership

logger = Logger(child=True)
SUBJECT = "MAST: new alerts for {organisation}"
BODY = ("There {are} {count} new alert{s} in MAST for {organisation}: another agency has become involved "
        "with people of your open cases.\n\nSign in to read {them}: {url}#/alerts\n\n"
        "This message holds no personal information, by design.\n")


def nudge_text(organisation: str, count: int, web_url: str) -> tuple[str, str]:
    """The subject and body of the mail (see the module docstring: nothing personal)."""
    one = count == 1
    return SUBJECT.format(organisation=organisation), BODY.format(
        are="is" if one else "are", count=count, s="" if one else "s", organisation=organisation,
        them="it" if one else "them", url=web_url)


def send_nudges(alerts: Sequence[Alert], partnership: Partnership, env: Mapping[str, str], ses: Any, control: Any,
                now: dt.datetime) -> int:
    """Mail each alerted team once for this run's new ``alerts``; how many mails were sent. A mail
    that cannot be sent is logged, never raised: the alerts themselves are already made."""
    sender, web_url, table = env.get("ALERTS_FROM", ""), env.get("WEB_URL", ""), env.get("CONTROL_TABLE", "")
    if not sender or not alerts:
        return 0
    by_org: dict[str, dict[str, int]] = {}
    for alert in alerts:
        if alert.case_email:
            mailboxes = by_org.setdefault(alert.organisation, {})
            mailboxes[alert.case_email] = mailboxes.get(alert.case_email, 0) + 1
    sent = 0
    for org_id, mailboxes in by_org.items():
        org = partnership.organisation(org_id)
        if org is None or (org.alerts.delivery == "daily" and not _first_today(control, table, org_id, now)):
            continue
        for mailbox, count in mailboxes.items():
            subject, body = nudge_text(org.name, count, web_url)
            try:
                ses.send_email(Source=sender, Destination={"ToAddresses": [mailbox]},
                               Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}})
                sent += 1
            except Exception:  # noqa: BLE001 - a mail is a courtesy; the alert page is the record
                logger.exception("alert mail not sent", extra={"organisation": org_id})
    return sent


def _first_today(control: Any, table: str, organisation: str, now: dt.datetime) -> bool:
    """Claim today's one mail for an organisation with a daily digest (False: already sent today)."""
    try:
        control.put_item(TableName=table, Item={
            "pk": {"S": f"ALERTMAIL#{organisation}"}, "sk": {"S": f"{now:%Y-%m-%d}"},
            "expires_at": {"N": str(int((now + dt.timedelta(days=2)).timestamp()))}},
            ConditionExpression="attribute_not_exists(pk)")
    except control.exceptions.ConditionalCheckFailedException:
        return False
    return True
