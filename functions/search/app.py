"""Search function: declaration options, search, person view, coverage, steward decisions, OpenAPI.

Thin by rule: parse the event, call one domain function, shape the reply. Every route checks the
caller's group (and organisation where data is an organisation's), whatever the gateway did; every
route that shows data writes its audit event first, and answers 503 with nothing when it cannot.
Must not import pandas or pyarrow: its cold start is a practitioner waiting.

Who may do what (the authorisation-matrix test holds these):

* declaration options, search, opening a person: ``practitioners`` and ``data-stewards``;
* coverage: every signed-in group (it names feeds, never people);
* the linkage report: ``org-admins``, ``auditors`` and ``data-stewards`` (counts only);
* link decisions and the review queue: ``data-stewards`` only, of a partner organisation;
* reporting a wrong match on a person view: ``practitioners`` and ``data-stewards`` (own search);
* health and this API's OpenAPI document: anyone (neither says anything about data).
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from mast.access import LinkDecisionRequest, decide, declaration_options
from mast.access.decisions import DecisionStore
from mast.alerts import AlertStore
from mast.alerts.actions import OPENERS, AlertOpenRequest, count_unseen, list_alerts, mark_seen, open_from_alert
from mast.api.http import caller_in, json_response, make_resolver, read_body
from mast.api.openapi import openapi_document
from mast.audit.store import AuditStore
from mast.config import load_partnership
from mast.index import IndexReader
from mast.index.address_keys import index_linkage
from mast.linkage.report import read_report
from mast.search import SearchRequest, SearchStore, coverage
from mast.search.actions import SEARCHERS, declared_search, open_person, print_person
from mast.search.coverage import feed_statuses
from mast.stewardship import ReviewQueue
from mast.stewardship.actions import WrongMatchReport, report_wrong_match, require_partner, review_queue

logger = Logger()
#: The routes that show or change people's data: every refusal of one is audited (a probe for which
#: records, people or searches exist is on the record like a search).
DATA_ROUTES = frozenset({("POST", "/search"), ("GET", "/people/{id}"), ("POST", "/people/{id}/print"),
                          ("POST", "/link-decisions"), ("GET", "/review-queue"), ("POST", "/people/{id}/wrong-match"),
                          ("GET", "/alerts"), ("POST", "/alerts/{id}/seen"), ("POST", "/alerts/{id}/open"),
                          ("POST", "/people/{id}/watch")})
app = make_resolver(logger, audited_refusals=DATA_ROUTES)

# The linkage fingerprint every read checks (mast/linkage/fingerprint.py), made in Lambda's init
# phase rather than inside a practitioner's first search (cached from here on).
index_linkage()


@functools.cache
def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def _index() -> IndexReader:
    """A reader for this request: it reads the live pointer beside its first read (IndexReader's
    docstring) and raises IndexUnavailable when there is no index yet."""
    return IndexReader(os.environ["INDEX_TABLE"], _client("dynamodb"))


def _audit() -> AuditStore:
    return AuditStore(os.environ["AUDIT_TABLE"], _client("dynamodb"))


def _request_id() -> str | None:
    return app.current_event.request_context.request_id


@app.get("/health")
def health() -> dict[str, str]:
    """Unauthenticated liveness: says nothing about data."""
    return {"status": "ok"}


@app.get("/openapi.json")
def openapi() -> dict[str, Any]:
    """Every route of every function, from the pydantic models (no data; no sign-in)."""
    return openapi_document()


@app.get("/declaration-options")
def get_declaration_options() -> dict[str, Any]:
    """The legal gateways a practitioner can declare before searching."""
    caller_in(app, *SEARCHERS)
    return declaration_options().model_dump()


@app.post("/search")
def post_search() -> dict[str, Any]:
    """Search under a declaration; the audit event (and the search, for opening) is written first."""
    caller = caller_in(app, *SEARCHERS)
    request = read_body(app, SearchRequest)
    searches = SearchStore(os.environ["CONTROL_TABLE"], _client("dynamodb"))
    if not (request.query.is_address_search and not request.query.is_person_search):
        return declared_search(caller, request, _index(), _audit(), searches, _request_id(),
                               load_partnership()).model_dump(mode="json")
    with ThreadPoolExecutor(1) as pool:  # dwellings name agencies: coverage read beside the search's reads
        feeds = pool.submit(lambda: feed_statuses(coverage(load_partnership(), os.environ["CONTROL_TABLE"],
                                                           _client("dynamodb"))))
        outcome = declared_search(caller, request, _index(), _audit(), searches, _request_id(), load_partnership(),
                                  feeds)
    return outcome.model_dump(mode="json")


@app.get("/people/<person_id>")
def get_person(person_id: str) -> dict[str, Any]:
    """A person returned by the caller's own search; audited (record ids shown) before answering."""
    caller = caller_in(app, *SEARCHERS)
    search_id = app.current_event.get_query_string_value("search") or ""
    searches = SearchStore(os.environ["CONTROL_TABLE"], _client("dynamodb"))
    partnership = load_partnership()
    index = _index()
    # the first reads at once: coverage, the search (checked by open_person), the live pointer and the
    # person's item (read again from the reader and the store, not from DynamoDB); nothing is shown
    # before open_person's checks and audit
    with ThreadPoolExecutor(3) as pool:
        feeds = pool.submit(lambda: feed_statuses(coverage(partnership, os.environ["CONTROL_TABLE"],
                                                           _client("dynamodb"))))
        if 0 < len(search_id) <= 100 and len(person_id) <= 200:  # what open_person would refuse, unread
            pool.submit(searches.load, search_id)  # a failure here is met again, and raised, by open_person
            pool.submit(index.people_record_ids, [person_id])
        statuses = feeds.result()
    view = open_person(caller, person_id, search_id, index, _audit(), searches, partnership,
                       _request_id(), statuses)
    return view.model_dump(mode="json")


@app.post("/people/<person_id>/print")
def post_person_print(person_id: str) -> Response:
    """The practitioner is printing a person's summary: audited (a printed page leaves MAST) before
    the page prints; only for a person the caller's own search returned."""
    caller = caller_in(app, *SEARCHERS)
    search_id = app.current_event.get_query_string_value("search") or ""
    searches = SearchStore(os.environ["CONTROL_TABLE"], _client("dynamodb"))
    recorded = print_person(caller, person_id, search_id, _audit(), searches, _request_id())
    return json_response(201, recorded.model_dump(mode="json"))


@app.post("/people/<person_id>/watch")
def post_watch(person_id: str) -> Response:
    """Watch a person the caller's own search returned, for alerts, under that search's declaration."""
    from mast.alerts.watches import WatchRequest, WatchStore, watch_person

    caller = caller_in(app, "practitioners")
    request = read_body(app, WatchRequest)
    search_id = app.current_event.get_query_string_value("search") or ""
    searches = SearchStore(os.environ["CONTROL_TABLE"], _client("dynamodb"))
    watch = watch_person(caller, person_id, search_id, request, _index(), _audit(), searches,
                         WatchStore(os.environ["CONTROL_TABLE"], _client("dynamodb")), _request_id())
    return json_response(201, watch.model_dump(mode="json"))


@app.post("/people/<person_id>/wrong-match")
def post_wrong_match(person_id: str) -> Response:
    """A practitioner reports that the person shown is not one person: audited, then in the
    stewards' review queue."""
    caller = caller_in(app, *SEARCHERS)
    report = read_body(app, WrongMatchReport)
    search_id = app.current_event.get_query_string_value("search") or ""
    searches = SearchStore(os.environ["CONTROL_TABLE"], _client("dynamodb"))
    reported = report_wrong_match(caller, person_id, search_id, report, _index(), _audit(), searches, _queue(),
                                  load_partnership(), _request_id())
    return json_response(201, reported.model_dump(mode="json"))


@app.get("/alerts")
def get_alerts() -> dict[str, Any]:
    """A page of the caller's organisation's alerts (from the token, never the request), older ones
    ``?after=`` the previous page's ``next``; audited first."""
    caller = caller_in(app, "practitioners", "org-admins")
    after = app.current_event.get_query_string_value("after") or None
    return list_alerts(caller, _alerts(), _audit(), _request_id(), after=after).model_dump(mode="json")


@app.get("/alerts/count")
def get_alert_count() -> dict[str, Any]:
    """How many of the organisation's alerts are unseen (a number only: not audited)."""
    caller = caller_in(app, "practitioners", "org-admins")
    return count_unseen(caller, _alerts()).model_dump(mode="json")


@app.post("/alerts/<alert_id>/seen")
def post_alert_seen(alert_id: str) -> dict[str, Any]:
    """Mark one of the organisation's alerts seen."""
    caller = caller_in(app, "practitioners", "org-admins")
    return mark_seen(caller, _alerts(), alert_id).model_dump(mode="json")


@app.post("/alerts/<alert_id>/open")
def post_alert_open(alert_id: str) -> Response:
    """Open an alert's person under a declaration: audited, then a search of the caller's own names them."""
    caller = caller_in(app, *OPENERS)
    request = read_body(app, AlertOpenRequest)
    searches = SearchStore(os.environ["CONTROL_TABLE"], _client("dynamodb"))
    opened = open_from_alert(caller, alert_id, request, _alerts(), _index(), _audit(), searches, _request_id())
    return json_response(201, opened.model_dump(mode="json"))


def _alerts() -> AlertStore:
    return AlertStore(os.environ["CONTROL_TABLE"], _client("dynamodb"))


@app.get("/review-queue")
def get_review_queue() -> dict[str, Any]:
    """The stewards' review queue, both records of each item side by side; audited first."""
    caller = caller_in(app, "data-stewards")
    partnership = load_partnership()
    require_partner(caller, partnership)
    feeds = feed_statuses(coverage(partnership, os.environ["CONTROL_TABLE"], _client("dynamodb")))
    return review_queue(caller, _queue(), _index(), _audit(), partnership, _request_id(), feeds).model_dump(mode="json")


def _queue() -> ReviewQueue:
    return ReviewQueue(os.environ["CONTROL_TABLE"], _client("dynamodb"))


@app.get("/coverage")
def get_coverage() -> dict[str, Any]:
    """Each feed's state and last accepted upload: names feeds, never people, so any group may ask."""
    caller_in(app, "practitioners", "data-stewards", "org-admins", "auditors")
    return coverage(load_partnership(), os.environ["CONTROL_TABLE"], _client("dynamodb")).model_dump(mode="json")


@app.get("/linkage-report")
def get_linkage_report() -> Any:
    """The match function's latest report (counts only: no person, so not audited) for those who
    oversee the partnership, with the week's new overlaps and today's overdue feeds (by coverage's
    rule); practitioners search people instead."""
    caller_in(app, "org-admins", "auditors", "data-stewards")
    report = read_report(_client("s3"), os.environ["CURATED_BUCKET"])
    feeds = coverage(load_partnership(), os.environ["CONTROL_TABLE"], _client("dynamodb")).feeds
    return report.with_feed_health(feeds).model_dump(mode="json")


@app.post("/link-decisions")
def post_link_decision() -> Response:
    """A steward's decision: audited, stored, then a relink queued so it shows at once."""
    caller = caller_in(app, "data-stewards")
    require_partner(caller, load_partnership())
    request = read_body(app, LinkDecisionRequest)
    decisions = DecisionStore(os.environ["CONTROL_TABLE"], _client("dynamodb"))
    answer = decide(request, caller, _index(), decisions, _audit(), _request_id(), _relink, _queue())
    return json_response(201, answer.model_dump(mode="json"))


def _relink(record_ids: list[str]) -> bool:
    """Queue a relink of ``record_ids`` on the match queue; False when no queue is configured."""
    from mast.index.messages import RelinkRequested, send_match_message  # noqa: PLC0415 - stewards only

    queue_url = os.environ.get("MATCH_QUEUE_URL", "")
    if queue_url:
        send_match_message(RelinkRequested(record_ids=record_ids), queue_url, _client("sqs"))
    return bool(queue_url)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
