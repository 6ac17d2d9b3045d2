"""Subject access (UK GDPR Article 15): for a person named by one of their record ids, every record
MAST holds about them and every search, view, print and alert that showed those records, as JSON or
CSV, for an auditor to check and send. Producing it is audited first.

The person is the index's person of the record ids given now (the records the linkage joins to
them), or the one person the person search finds strongly for the details the requester gave (name,
full date of birth, and the postcode of their address): a subject access request names a person as
they name themself, and a report about the wrong person would be a breach, so a search that finds
no one strongly, or more than one, produces nothing and says what to add; the auditor then names the
person by record ids (a partner's reference). The search is run as the search route runs it, and its
terms are kept with the report's audit event as a search's are. The audit is read from the hot copy for the period asked (at most 400 days, as the saved
queries): older audit is in the archive, for Athena (the ``who-opened-record`` saved query).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Final

from mast.access.caller import Caller
from mast.audit.store import AuditStore
from mast.audit.view import SubjectAccessReport, SubjectAccessRequest
from mast.schema import Refused, spreadsheet_text
from mast.search.query import IndexReading

#: what a record's row of the CSV shows (its whole canonical record; nothing of the linkage's)
RECORD_FIELDS: Final = ("record_id", "partner", "feed", "source_record_id", "record_date", "end_date", "given_name",
                        "middle_name", "family_name", "dob", "sex", "address_line1", "address_line2", "postcode",
                        "uprn", "nhs_number", "sensitive")
EVENT_FIELDS: Final = ("event_time", "action", "username", "organisation", "gateway", "purpose", "search_id")


def subject_access(caller: Caller, request: SubjectAccessRequest, index: IndexReading, store: AuditStore,
                   now: dt.datetime, request_id: str | None = None) -> SubjectAccessReport:
    """The report (see the module docstring); auditors only."""
    from mast.audit.unusual import MAX_QUERY_DAYS, period_events  # duckdb and pyarrow: the audit function's only

    caller.require("auditors")
    if request.to_date < request.from_date:
        raise Refused("'to' is before 'from'")
    if (request.to_date - request.from_date).days >= MAX_QUERY_DAYS:
        raise Refused(f"the period is longer than {MAX_QUERY_DAYS} days; use Athena for older audit")
    terms = None
    if request.by_search:
        person_ids, terms = _found(request, index)
    else:
        named = index.records(request.record_ids)
        if not named:
            raise Refused("MAST holds none of those records (they may have ended past retention or been withdrawn)",
                          404)
        person_ids = sorted({r.person_id for r in named})
    ids = [rid for person in person_ids for rid in index.person_record_ids(person)]
    records = sorted(index.records(ids), key=lambda r: (r.record_date, r.record_id))
    held = {r.record_id for r in records}
    store.write(caller.audit_event(
        request_id, action="subject-access", record_ids=tuple(sorted(held)), records_returned=len(held),
        people_returned=tuple(person_ids), sensitive_returned=any(r.sensitive for r in records), search_terms=terms,
        detail=json.dumps({"from": request.from_date.isoformat(), "to": request.to_date.isoformat(),
                           "named": list(request.record_ids) or "search"}),
    ))
    events, complete = period_events(store, request.from_date, request.to_date)
    shown = [e for e in events if held & set(e.record_ids) and e.action != "subject-access"]
    shown.sort(key=lambda e: (e.event_time, e.event_id))
    return SubjectAccessReport(produced_at=now, named_by="search" if request.by_search else "record ids",
                               person_ids=person_ids, records=records, events=shown,
                               audit_from=request.from_date, audit_to=request.to_date, audit_complete=complete)


def _found(request: SubjectAccessRequest, index: IndexReading) -> tuple[list[str], str]:
    """The one person the person search finds strongly for the requester's details, and the search's
    terms (as a search's audit event keeps them); refused when it finds none or several. Namesakes
    (one name, one date of birth) both score strongly; the postcode of the requester's address tells
    them apart: of several, the one with a record at that postcode."""
    from mast.search.models import DateOfBirthQuery, SearchQuery
    from mast.search.query import search

    if request.dob is None:  # the request's validator requires it; said again for the type
        raise Refused("a search for the person needs their full date of birth")
    try:
        query = SearchQuery(given_name=request.given_name, family_name=request.family_name, postcode=request.postcode,
                            dob=DateOfBirthQuery(day=request.dob.day, month=request.dob.month, year=request.dob.year))
    except ValueError as error:
        raise Refused(f"the details are not a search MAST can run: {error}") from None
    strong = [p for p in search(index, query).people if p.shown.band == "strong"]
    if len(strong) > 1 and query.postcode:  # namesakes: the one MAST knows at the requester's address
        held = {r.record_id: r.postcode for r in index.records([rid for p in strong for rid in p.record_ids])}
        wanted = query.postcode.replace(" ", "").upper()
        strong = [p for p in strong
                  if any((held.get(rid) or "").replace(" ", "").upper() == wanted for rid in p.record_ids)] or strong
    if not strong:
        raise Refused("no one in MAST matches these details strongly: check them against the request, or name the "
                      "person by record ids", 404)
    if len(strong) > 1:
        raise Refused(f"these details match {len(strong)} people strongly: add the postcode of the requester's "
                      "address, or name the person by record ids (a partner's reference for them)", 409)
    return [strong[0].shown.person_id], query.model_dump_json(exclude_none=True)


def report_csv(report: SubjectAccessReport) -> str:
    """The report as one CSV: a row per record, then a row per audited action (``section`` says
    which), every cell safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", *RECORD_FIELDS, *EVENT_FIELDS, "record_ids"])
    blank_events = [""] * len(EVENT_FIELDS)
    for record in report.records:
        row = record.model_dump(mode="json")
        writer.writerow(["record", *[spreadsheet_text(row.get(f) if row.get(f) is not None else "")
                                     for f in RECORD_FIELDS], *blank_events, ""])
    for event in report.events:
        row = event.model_dump(mode="json")
        writer.writerow(["audit", *[""] * len(RECORD_FIELDS),
                         *[spreadsheet_text(row.get(f) if row.get(f) is not None else "") for f in EVENT_FIELDS],
                         spreadsheet_text(" ".join(event.record_ids))])
    return "\ufeff" + out.getvalue()
