"""Search function: declaration options, search, person view, coverage, steward decisions, OpenAPI.

Thin by rule: parse the event, call ``mast``, shape the reply. Every route checks the caller's
group (and organisation where data is an organisation's) here, whatever the gateway did; every
route that shows data writes its audit event first, and answers 503 with nothing when it cannot.
Must not import pandas or pyarrow: its cold start is a practitioner waiting.

Who may do what (the authorisation-matrix test holds these):

* declaration options, search, opening a person: ``practitioners`` and ``data-stewards`` (a steward
  must find the records they correct; every search of theirs is declared and audited the same way);
* coverage: every signed-in group (it names feeds, never people);
* link decisions: ``data-stewards`` only;
* health and this API's OpenAPI document: anyone (neither says anything about data).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import os
import uuid
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from mast.api.caller import Caller
from mast.api.http import make_resolver
from mast.api.models import (
    MAX_BODY_BYTES,
    POSSIBLE_PROBABILITY,
    STRONG_PROBABILITY,
    DeclarationOptions,
    LinkageReport,
    LinkDecisionRequest,
    LinkDecisionResponse,
    SearchRequest,
    SearchResponse,
)
from mast.api.openapi import openapi_document
from mast.audit import AuditEvent, AuditStore, new_event_id
from mast.config import load_partnership
from mast.declarations import legal_gateways
from mast.index import IndexReader, IndexUnavailable, KeySaltUnavailable
from mast.index.address_keys import index_linkage
from mast.linkage.report import REPORT_KEY
from mast.search import (
    PersonGone,
    SearchStore,
    StoredSearch,
    coverage,
    new_search_id,
    person_view,
    search,
)

logger = Logger()
app = make_resolver(logger)
Model = TypeVar("Model", bound=BaseModel)


class ApiError(Exception):
    """A refusal with its status and a message the caller can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response:
    return _json(error.status, {"message": str(error)})


@app.exception_handler(IndexUnavailable)
def _index_unavailable(_: IndexUnavailable) -> Response:
    logger.error("index unavailable", extra={"route": app.current_event.path})
    return _json(503, {"message": "the index cannot be read (or nothing has been linked yet); try again shortly"})


@app.exception_handler(KeySaltUnavailable)
def _salt_unavailable(_: KeySaltUnavailable) -> Response:
    logger.error("lookup-key salt unavailable")
    return _json(503, {"message": "search is not available: its configuration cannot be read"})


# The linkage fingerprint every read checks (mast/linkage/fingerprint.py), made in Lambda's init
# phase rather than inside a practitioner's first search (cached from here on).
index_linkage()

# --------------------------------------------------------------------------------------- plumbing
@functools.cache
def _dynamodb() -> Any:
    import boto3

    return boto3.client("dynamodb")


@functools.cache
def _s3() -> Any:
    import boto3

    return boto3.client("s3")


@functools.cache
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


def _index() -> IndexReader:
    """A reader pinned to the live version for this request (cheap: the model is cached)."""
    reader = IndexReader(os.environ["INDEX_TABLE"], _dynamodb())
    if reader.live_version() is None:
        raise IndexUnavailable("no index yet")
    return reader


def _audit(caller: Caller, **fields: Any) -> None:
    """Write the audit event; AuditUnavailable (503, nothing shown) propagates to the resolver."""
    event = AuditEvent(
        event_id=new_event_id(), event_time=dt.datetime.now(dt.UTC), user_sub=caller.sub, username=caller.email,
        organisation=caller.organisation, groups=tuple(sorted(caller.groups)),
        request_id=(app.current_event.request_context.request_id or None), **fields,
    )
    AuditStore(os.environ["AUDIT_TABLE"], _dynamodb()).write(event)


def _body(model: type[Model]) -> Model:
    """The JSON body as ``model``: 413 when too large, 400 (saying what is wrong) when not valid."""
    event = app.current_event
    raw = event.body
    if raw is None or raw == "":
        raise ApiError(400, "a JSON body is required")
    data = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, f"the body is too large: at most {MAX_BODY_BYTES // 1024} KB")
    return model.model_validate_json(data)  # ValidationError: 400 with the fields at fault


def _caller(*groups: str) -> Caller:
    caller = Caller.from_event(app.current_event.raw_event)
    caller.require(*groups)  # type: ignore[arg-type]
    return caller


SEARCHERS = ("practitioners", "data-stewards")


# ----------------------------------------------------------------------------------------- routes
@app.get("/health")
def health() -> dict[str, str]:
    """Unauthenticated liveness: says nothing about data."""
    return {"status": "ok"}


@app.get("/openapi.json")
def openapi() -> dict[str, Any]:
    """Every route of every function, from the pydantic models (no data; no sign-in)."""
    return openapi_document()


@app.get("/declaration-options")
def declaration_options() -> dict[str, Any]:
    """The legal gateways a practitioner can declare before searching."""
    _caller(*SEARCHERS)
    return DeclarationOptions.model_validate({"gateways": [g.model_dump() for g in legal_gateways()]}).model_dump()


@app.post("/search")
def post_search() -> dict[str, Any]:
    """Search under a declaration; the audit event (and the search, for opening) is written first."""
    caller = _caller(*SEARCHERS)
    request = _body(SearchRequest)
    outcome = search(_index(), request.query)
    search_id = new_search_id()
    declaration = request.declaration
    _audit(
        caller, action="search", gateway=declaration.gateway, purpose=_purpose(declaration), search_id=search_id,
        search_terms=request.query.model_dump_json(exclude_none=True),
        people_returned=tuple(p.shown.person_id for p in outcome.people), record_ids=tuple(outcome.record_ids),
        records_returned=len(outcome.record_ids), sensitive_returned=outcome.sensitive,
        detail=json.dumps({"kind": outcome.kind, "people": len(outcome.people), "left_out": outcome.left_out}),
    )
    SearchStore(os.environ["CONTROL_TABLE"], _dynamodb()).save(StoredSearch(
        search_id=search_id, user_sub=caller.sub, created_at=dt.datetime.now(dt.UTC),
        people={p.shown.person_id: p.record_ids for p in outcome.people},
        gateway=declaration.gateway, purpose=_purpose(declaration),
    ))
    return SearchResponse(
        search_id=search_id, kind=outcome.kind, people=[p.shown for p in outcome.people], left_out=outcome.left_out,
        bands={"strong": STRONG_PROBABILITY, "possible": POSSIBLE_PROBABILITY},
    ).model_dump(mode="json")


def _purpose(declaration: Any) -> str:
    return declaration.purpose if not declaration.gateway_other else f"{declaration.purpose} [{declaration.gateway_other}]"


@app.get("/people/<person_id>")
def get_person(person_id: str) -> dict[str, Any]:
    """A person returned by the caller's own search; audited (record ids shown) before answering."""
    caller = _caller(*SEARCHERS)
    search_id = app.current_event.get_query_string_value("search") or ""
    if not search_id:
        raise ApiError(400, "open a person through a search: add ?search=<search_id>")
    if len(search_id) > 100 or len(person_id) > 200:
        raise ApiError(404, "no such search of yours")
    stored = SearchStore(os.environ["CONTROL_TABLE"], _dynamodb()).load(search_id)
    if stored is None or stored.user_sub != caller.sub:
        raise ApiError(404, "no such search of yours (it may have expired): search again")
    if person_id not in stored.people:
        raise ApiError(403, "that search did not return this person")
    try:
        outcome = person_view(_index(), stored, person_id, load_partnership())
    except PersonGone:
        raise ApiError(409, "the index has been rebuilt since this search: search again") from None
    _audit(
        caller, action="open-person", gateway=stored.gateway, purpose=stored.purpose, search_id=search_id,
        people_returned=(person_id,), record_ids=tuple(outcome.record_ids),
        records_returned=len(outcome.view.records), sensitive_returned=outcome.sensitive,
    )
    return outcome.view.model_dump(mode="json")


@app.get("/coverage")
def get_coverage() -> dict[str, Any]:
    """Each feed's state and last accepted upload: names feeds, never people, so any group may ask."""
    _caller("practitioners", "data-stewards", "org-admins", "auditors")
    return coverage(load_partnership(), os.environ["CONTROL_TABLE"], _dynamodb()).model_dump(mode="json")


@app.get("/linkage-report")
def get_linkage_report() -> Any:
    """The match function's latest report (counts only: no person, so not audited) for those who
    oversee the partnership; practitioners search people instead."""
    _caller("org-admins", "auditors", "data-stewards")
    s3 = _s3()
    try:
        body = s3.get_object(Bucket=os.environ["CURATED_BUCKET"], Key=REPORT_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return Response(status_code=404, content_type=content_types.APPLICATION_JSON,
                        body=json.dumps({"message": "there is no linkage report yet: no feed has been linked"}))
    return LinkageReport.model_validate_json(body).model_dump(mode="json")


@app.post("/link-decisions")
def post_link_decision() -> Response:
    """A steward's decision: audited, stored as pairwise decisions, then a relink queued so it shows
    at once (every later link, rebuild included, honours it too)."""
    caller = _caller("data-stewards")
    request = _body(LinkDecisionRequest)
    from mast.index.messages import RelinkRequested, send_match_message  # noqa: PLC0415 - stewards only
    from mast.linkage.decisions import NOT_SAME, SAME, Decision  # noqa: PLC0415
    from mast.stewardship import DecisionStore  # noqa: PLC0415

    ids = list(request.record_ids)
    known = {r.record_id for r in _index().records(ids)}
    missing = [r for r in ids if r not in known]
    if missing:
        raise ApiError(404, f"not in the index: {', '.join(missing)}")
    if request.decision == "same":  # one person: each joined to the first
        pairs = [(ids[0], other) for other in ids[1:]]
    else:  # nobody the same as anybody else
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    decision_id = uuid.uuid4().hex
    _audit(caller, action="link-decision", record_ids=tuple(ids), records_returned=len(ids),
           target=decision_id, detail=json.dumps({"decision": request.decision, "reason": request.reason}))
    decisions = DecisionStore(os.environ["CONTROL_TABLE"], _dynamodb())
    for a, b in pairs:
        decisions.record(Decision(a, b, SAME if request.decision == "same" else NOT_SAME, reason=request.reason),
                         caller)
    queue_url = os.environ.get("MATCH_QUEUE_URL", "")
    if queue_url:
        send_match_message(RelinkRequested(record_ids=ids), queue_url, _sqs())
    return _json(201, LinkDecisionResponse(decision_id=decision_id, decision=request.decision, record_ids=ids,
                                           relink_queued=bool(queue_url)).model_dump(mode="json"))


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
