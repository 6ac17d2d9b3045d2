"""The mail that tells a team there are new alerts. It carries no personal data by design (no name,
date of birth, address, case reference or agency): only that there are new alerts for the
organisation, and where to sign in to read them. Mail leaves MAST's protection; a sign-in does not.

Sent with SES from ``ALERTS_FROM`` (the template's ``AlertsFromAddress``; none: no mail) to the
mailbox of the team in each alerted case's contact details. An organisation that chose a daily
digest (:class:`~mast.config.AlertSettings`) is not mailed after each link: the daily digest
(:func:`send_digests`, the template's ``AlertDigest`` schedule at :data:`DIGEST_HOUR` UTC; locally
``mast alerts digest``) collects the alerts made in the day before the hour that nobody has marked
seen yet, and mails each team once with their count. The day's window is fixed by the hour, not by
when the schedule happens to run, so a late run neither skips alerts nor counts any twice, and a
claim in the control table (``ALERTMAIL#<organisation>``/``<day>``) lets a retried run send nothing
more.
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
    """Mail each alerted team of an immediate organisation once for this run's new ``alerts`` (a
    daily one waits for :func:`send_digests`); how many mails were sent. A mail that cannot be sent
    is logged, never raised: the alerts themselves are already made. (``control`` and ``now`` are
    kept for the match run's call.)"""
    sender, web_url = env.get("ALERTS_FROM", ""), env.get("WEB_URL", "")
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
        if org is None or org.alerts.delivery == "daily":
            continue  # a daily digest's alerts wait for the digest
        sent += _mail(ses, sender, org.name, org_id, mailboxes, web_url)
    return sent


def _mail(ses: Any, sender: str, name: str, org_id: str, mailboxes: Mapping[str, int], web_url: str) -> int:
    """One mail to each team mailbox saying how many alerts are new; how many were sent."""
    sent = 0
    for mailbox, count in mailboxes.items():
        subject, body = nudge_text(name, count, web_url)
        try:
            ses.send_email(Source=sender, Destination={"ToAddresses": [mailbox]},
                           Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}})
            sent += 1
        except Exception:  # noqa: BLE001 - a mail is a courtesy; the alert page is the record
            logger.exception("alert mail not sent", extra={"organisation": org_id})
    return sent


#: the hour (UTC) of the daily digest: the template's AlertDigest schedule fires then
DIGEST_HOUR = 7


def digest_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The day a digest run at ``now`` covers: the 24 hours up to the latest digest hour by ``now``."""
    end = now.astimezone(dt.UTC).replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if end > now:
        end -= dt.timedelta(days=1)
    return end - dt.timedelta(days=1), end


def send_digests(partnership: Partnership, env: Mapping[str, str], ses: Any, control: Any,
                 now: dt.datetime) -> int:
    """Each daily-digest organisation's one mail for the day up to :data:`DIGEST_HOUR` (see the
    module docstring): to each team whose cases have alerts made in the day and not yet seen, their
    count and the link, nothing else; how many mails were sent."""
    sender, web_url, table = env.get("ALERTS_FROM", ""), env.get("WEB_URL", ""), env.get("CONTROL_TABLE", "")
    if not sender:
        return 0
    start, end = digest_window(now)
    sent = 0
    for org in partnership.organisations:
        if org.alerts.delivery != "daily":
            continue
        mailboxes = _new_in(control, table, org.id, start, end)
        if mailboxes and _claim(control, table, org.id, end):
            sent += _mail(ses, sender, org.name, org.id, mailboxes, web_url)
    return sent


def _new_in(control: Any, table: str, organisation: str, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """The organisation's alerts made in [start, end) and unseen, counted by team mailbox. Reads the
    organisation's alerts once a day (``made_at`` is not a key: alerts sort by involvement date)."""
    kwargs: dict[str, Any] = {
        "TableName": table, "KeyConditionExpression": "pk = :pk", "ProjectionExpression": "#a",
        "FilterExpression": "made_at >= :start AND made_at < :end AND attribute_not_exists(seen_at)",
        "ExpressionAttributeNames": {"#a": "alert"},
        "ExpressionAttributeValues": {":pk": {"S": f"ALERTS#{organisation}"}, ":start": {"S": start.isoformat()},
                                      ":end": {"S": end.isoformat()}},
    }
    mailboxes: dict[str, int] = {}
    while True:
        page = control.query(**kwargs)
        for item in page.get("Items", []):
            alert = Alert.model_validate_json(item["alert"]["S"])
            if alert.case_email:
                mailboxes[alert.case_email] = mailboxes.get(alert.case_email, 0) + 1
        if "LastEvaluatedKey" not in page:
            return mailboxes
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _claim(control: Any, table: str, organisation: str, day_end: dt.datetime) -> bool:
    """Claim the day's one digest for an organisation (False: a run already sent it)."""
    try:
        control.put_item(TableName=table, Item={
            "pk": {"S": f"ALERTMAIL#{organisation}"}, "sk": {"S": f"{day_end:%Y-%m-%d}"},
            "expires_at": {"N": str(int((day_end + dt.timedelta(days=2)).timestamp()))}},
            ConditionExpression="attribute_not_exists(pk)")
    except control.exceptions.ConditionalCheckFailedException:
        return False
    return True
