"""The OpenAPI document of every route of every function, generated from the pydantic models.

Each function validates its bodies with its domain's models (:mod:`mast.search.models`,
:mod:`mast.access`, :mod:`mast.audit.view`; errors in :mod:`mast.api.models`); this module names, for every route, which model goes in and which comes out, and who may
call it. The document is built from that table and the models' JSON Schemas, so it cannot drift
from what the handlers accept; a unit test holds the table to the template's API events, so a
route cannot be added to the template and forgotten here (or the other way round).

Why a table rather than Powertools' ``enable_validation`` OpenAPI: the document must cover the
routes of *every* function (search, audit, users) and is served by one of them, and Powertools'
generator describes only the resolver it runs in. The table is also where each route's groups are
written down, which the authorisation-matrix test reads.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, create_model
from pydantic.json_schema import models_json_schema

from mast.access.decisions import LinkDecisionRequest, LinkDecisionResponse
from mast.access.declarations import DeclarationOptions
from mast.alerts.actions import AlertOpenRequest
from mast.alerts.models import Alert, AlertCount, AlertList, AlertOpened
from mast.alerts.watches import Watch, WatchRequest
from mast.api.models import ErrorResponse, Health
from mast.linkage.report import LinkageReport
from mast.search.models import CoverageResponse, PersonView, PrintRecorded, SearchRequest, SearchResponse
from mast.stewardship.actions import ReviewQueueView, WrongMatchReport, WrongMatchReported


@dataclass(frozen=True)
class QueryParameter:
    name: str
    description: str
    required: bool = False
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Operation:
    """One route: method, path (as the client calls it, without ``/api``), models, groups, errors."""

    method: str
    path: str
    function: str
    summary: str
    response: type[BaseModel]
    groups: tuple[str, ...] = ()  # empty: no sign-in needed
    request: type[BaseModel] | None = None
    query: tuple[QueryParameter, ...] = ()
    errors: dict[int, str] = field(default_factory=dict)
    status: int = 200

    @property
    def operation_id(self) -> str:
        words = [self.method.lower()] + [
            p.strip("{}").replace("-", "_") for p in self.path.strip("/").split("/") if p
        ]
        return "_".join(words)


_SIGNED_IN = {401: "no valid ID token", 403: "signed in, but not in a group or organisation allowed here"}
_BODY = {400: "the body is not valid; the message says what is wrong", 413: "the body is too large"}
_AUDITED = {503: "the action could not be audited, so nothing was done or shown"}

#: The search function's routes. Other functions add theirs to OPERATIONS below.
SEARCH_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/health", "SearchFunction", "Liveness; says nothing about data", Health),
    Operation("GET", "/declaration-options", "SearchFunction", "The legal gateways a search may be made under",
              DeclarationOptions, groups=("practitioners", "data-stewards"), errors=_SIGNED_IN),
    Operation("POST", "/search", "SearchFunction",
              "Search a person or an address under a declaration; audited before the answer",
              SearchResponse, groups=("practitioners", "data-stewards"), request=SearchRequest,
              errors={**_SIGNED_IN, **_BODY, **_AUDITED}),
    Operation("GET", "/people/{id}", "SearchFunction",
              "Open a person returned by one of the caller's own searches; audited before the answer",
              PersonView, groups=("practitioners", "data-stewards"),
              query=(QueryParameter("search", "the search_id of the caller's search that returned this person",
                                    required=True),),
              errors={**_SIGNED_IN, 400: "no search id given",
                      404: "no such search of the caller's (unknown, expired, or another user's)",
                      409: "the index was rebuilt since the search and this person no longer exists: search again",
                      **_AUDITED}),
    Operation("POST", "/people/{id}/print", "SearchFunction",
              "Record that the caller prints the summary of a person one of their own searches returned; "
              "audited before the page prints",
              PrintRecorded, groups=("practitioners", "data-stewards"), status=201,
              query=(QueryParameter("search", "the search_id of the caller's search that returned this person",
                                    required=True),),
              errors={**_SIGNED_IN, 400: "no search id given",
                      404: "no such search of the caller's (unknown, expired, or another user's)", **_AUDITED}),
    Operation("POST", "/people/{id}/wrong-match", "SearchFunction",
              "Report that a person one of the caller's own searches returned is not one person: the records "
              "named go to the data stewards' review queue; audited first",
              WrongMatchReported, groups=("practitioners", "data-stewards"), request=WrongMatchReport, status=201,
              query=(QueryParameter("search", "the search_id of the caller's search that returned this person",
                                    required=True),),
              errors={**_SIGNED_IN, **_BODY,
                      404: "no such search of the caller's (unknown, expired, or another user's)",
                      409: "the index was rebuilt since the search and this person no longer exists: search again",
                      **_AUDITED}),
    Operation("POST", "/people/{id}/watch", "SearchFunction",
              "Watch a person one of the caller's own searches returned, for alerts (at most 180 days), under that "
              "search's declaration; audited first",
              Watch, groups=("practitioners",), request=WatchRequest, status=201,
              query=(QueryParameter("search", "the search_id of the caller's search that returned this person",
                                    required=True),),
              errors={**_SIGNED_IN, **_BODY,
                      404: "no such search of the caller's (unknown, expired, or another user's)", **_AUDITED}),
    Operation("GET", "/review-queue", "SearchFunction",
              "The data stewards' review queue: pairs the linkage held apart or left just under its threshold, "
              "and practitioners' reports, both records side by side; audited before the answer",
              ReviewQueueView, groups=("data-stewards",), errors={**_SIGNED_IN, **_AUDITED}),
    Operation("GET", "/coverage", "SearchFunction",
              "Each feed, its state (sample or live) and its last accepted upload",
              CoverageResponse, groups=("practitioners", "data-stewards", "org-admins", "auditors"),
              errors=_SIGNED_IN),
    Operation("POST", "/link-decisions", "SearchFunction",
              "A data steward's decision that records are (or are not) one person; honoured from the next link",
              LinkDecisionResponse, groups=("data-stewards",), request=LinkDecisionRequest, status=201,
              errors={**_SIGNED_IN, **_BODY, 404: "a record id is not in the index, or no such review item",
                      409: "the review item was decided already: each is decided once", **_AUDITED}),
    Operation("GET", "/linkage-report", "SearchFunction",
              "The latest linkage report: people and addresses shared between partners, new overlaps since the "
              "previous week and overdue feeds (counts and feed names only)",
              LinkageReport, groups=("org-admins", "auditors", "data-stewards"),
              errors={**_SIGNED_IN, 404: "no linkage report yet: no feed has been linked"}),
    Operation("GET", "/alerts", "SearchFunction",
              "A page of the alerts of the caller's organisation, newest first: another agency became involved "
              "with a person of one of its open cases (partner, date, whom to call); audited before the answer",
              AlertList, groups=("practitioners", "org-admins"),
              query=(QueryParameter("after", "the next token of the previous page, for older alerts"),),
              errors={**_SIGNED_IN, 400: "after is not a token a previous page gave", **_AUDITED}),
    Operation("GET", "/alerts/count", "SearchFunction",
              "How many of the organisation's alerts nobody has marked as seen (a number only)",
              AlertCount, groups=("practitioners", "org-admins"), errors=_SIGNED_IN),
    Operation("POST", "/alerts/{id}/seen", "SearchFunction",
              "Mark one of the organisation's alerts as seen (for the whole organisation)",
              Alert, groups=("practitioners", "org-admins"),
              errors={**_SIGNED_IN, 404: "no such alert for the caller's organisation"}),
    Operation("POST", "/alerts/{id}/open", "SearchFunction",
              "Open the person of the open case an alert is about, under a declaration (as a search): the "
              "answer names a search of the caller's own to open the person view with; audited first",
              AlertOpened, groups=("practitioners",), request=AlertOpenRequest, status=201,
              errors={**_SIGNED_IN, **_BODY, 404: "no such alert for the caller's organisation",
                      410: "the case the alert is about is no longer in MAST", **_AUDITED}),
    Operation("GET", "/openapi.json", "SearchFunction", "This document", Health, groups=()),
)


def operations() -> tuple[Operation, ...]:
    """Every route of every function. Routes of other functions are added here as they land."""
    return SEARCH_OPERATIONS + _other_operations()


def _other_operations() -> tuple[Operation, ...]:
    """The audit and users functions' routes, described with those functions' own models (imported
    here, not at the top: the search function loads this module at cold start and needs none of
    them to answer a search)."""
    from mast.access.users import (
        AccessDecision,
        AccessRequest,
        AccessRequestBody,
        AccessReview,
        AccessReviewBody,
        AccessStatus,
        AdminReason,
        NewUser,
        UserChange,
        UserSummary,
    )
    from mast.audit.accesses import RecordAccesses
    from mast.audit.view import (
        AuditListQuery,
        AuditListResponse,
        SavedQuery,
        SavedQueryResult,
        SavedQueryRun,
        SubjectAccessReport,
        SubjectAccessRequest,
    )

    user_list = create_model("UserList", users=(list[UserSummary], ...))
    request_list = create_model("AccessRequestList", requests=(list[AccessRequest], ...))
    accepted = create_model("AccessRequestAccepted", id=(str, ...), status=(AccessStatus, ...))
    approved = create_model("AccessRequestApproved", request=(AccessRequest, ...), user=(UserSummary, ...))
    refused = create_model("AccessRequestRefused", request=(AccessRequest, ...))
    query_list = create_model("SavedQueryList", queries=(list[SavedQuery], ...))
    csv_export = create_model("AuditCsv", csv=(str, ...))
    admins = ("org-admins",)
    acted = {**_SIGNED_IN, 404: "no such user or request in the caller's organisation", **_AUDITED}
    return (
        Operation("GET", "/audit", "AuditFunction",
                  "The audit: org-admins their organisation's, auditors every organisation's (itself audited)",
                  AuditListResponse, groups=("org-admins", "auditors"), query=_query_of(AuditListQuery),
                  errors={**_SIGNED_IN, 400: "a filter or page token is not valid", **_AUDITED}),
        Operation("GET", "/audit/export", "AuditFunction",
                  "The filtered audit as CSV (text/csv, safe to open in a spreadsheet); the export itself audited",
                  csv_export, groups=("org-admins", "auditors"), query=_query_of(AuditListQuery),
                  errors={**_SIGNED_IN, 400: "a filter is not valid", **_AUDITED}),
        Operation("GET", "/audit/accesses", "AuditFunction",
                  "Who outside the caller's organisation opened or printed people whose records it supplied: "
                  "the latest 25, with when, gateway and purpose (itself audited)",
                  RecordAccesses, groups=admins, errors={**_SIGNED_IN, **_AUDITED}),
        Operation("GET", "/audit/subject-access", "AuditFunction",
                  "Subject access (UK GDPR Article 15): every record MAST holds about the person of the record ids "
                  "given, and every audited action of the period that showed them (JSON, or CSV with format=csv); "
                  "itself audited",
                  SubjectAccessReport, groups=("auditors",), query=_query_of(SubjectAccessRequest),
                  errors={**_SIGNED_IN, 400: "a record id or the period is not valid",
                          404: "MAST holds none of those records", **_AUDITED}),
        Operation("GET", "/audit/queries", "AuditFunction", "The auditors' saved queries (the template's)",
                  query_list, groups=("auditors",), errors=_SIGNED_IN),
        Operation("GET", "/audit/queries/{name}", "AuditFunction",
                  "One saved query's results over a period of the audit table (the run itself audited)",
                  SavedQueryResult, groups=("auditors",), query=_query_of(SavedQueryRun),
                  errors={**_SIGNED_IN, 400: "the period or a parameter is not valid", 404: "no such saved query",
                          **_AUDITED}),
        Operation("GET", "/users", "UsersFunction", "The users of the caller's organisation", user_list,
                  groups=admins, errors=_SIGNED_IN),
        Operation("POST", "/users", "UsersFunction", "Invite a user into the caller's organisation", UserSummary,
                  groups=admins, request=NewUser, status=201, errors={**acted, **_BODY, 409: "the user exists"}),
        Operation("PATCH", "/users/{id}", "UsersFunction", "Change a user's name or group", UserSummary,
                  groups=admins, request=UserChange, errors={**acted, **_BODY}),
        Operation("POST", "/users/{id}/disable", "UsersFunction",
                  "Disable a user (never oneself, never the organisation's last administrator); the reason audited",
                  UserSummary, groups=admins, request=AdminReason,
                  errors={**acted, **_BODY, 409: "oneself, or the last administrator"}),
        Operation("POST", "/users/{id}/enable", "UsersFunction", "Enable a user again; the reason audited",
                  UserSummary, groups=admins, request=AdminReason, errors={**acted, **_BODY}),
        Operation("POST", "/users/{id}/resend", "UsersFunction",
                  "Send the invitation again, with a new temporary password", UserSummary, groups=admins,
                  errors={**acted, 409: "the user has already signed in, or is disabled"}),
        Operation("GET", "/access-reviews", "UsersFunction",
                  "The organisation's latest access review (recertification) and when the next is due",
                  AccessReview, groups=admins, errors=_SIGNED_IN),
        Operation("POST", "/access-reviews", "UsersFunction",
                  "Confirm that every enabled user of the organisation still needs access (audited)", AccessReview,
                  groups=admins, request=AccessReviewBody,
                  errors={**_SIGNED_IN, **_BODY, 409: "the list of users changed since it was read", **_AUDITED}),
        Operation("POST", "/access-requests", "UsersFunction", "Ask for access (no sign-in; throttled)", accepted,
                  request=AccessRequestBody, status=202, errors={**_BODY, 429: "too many requests", **_AUDITED}),
        Operation("GET", "/access-requests", "UsersFunction", "Access requests to the caller's organisation",
                  request_list, groups=admins,
                  query=(QueryParameter("status", "pending, approved, refused or all",
                                        schema={"enum": ["pending", "approved", "refused", "all"]}),),
                  errors={**_SIGNED_IN, 400: "unknown status"}),
        Operation("POST", "/access-requests/{id}/approve", "UsersFunction", "Approve a request: the user is invited",
                  approved, groups=admins, request=AccessDecision, errors={**acted, **_BODY, 409: "already decided"}),
        Operation("POST", "/access-requests/{id}/refuse", "UsersFunction", "Refuse a request", refused,
                  groups=admins, request=AccessDecision, errors={**acted, **_BODY, 409: "already decided"}),
    )


def _query_of(model: type[BaseModel]) -> tuple[QueryParameter, ...]:
    """Query-string parameters from a model's fields (by alias: ``from``, ``to``)."""
    schema = model.model_json_schema(by_alias=True)
    def plain(prop: dict[str, Any]) -> dict[str, Any]:
        options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
        base = options[0] if len(options) == 1 else prop
        return {k: v for k, v in base.items() if k not in ("title", "description", "default", "anyOf")}

    return tuple(QueryParameter(name, str(prop.get("description", "")), name in schema.get("required", ()), plain(prop))
                 for name, prop in schema["properties"].items())


def _schema_models(ops: Sequence[Operation]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"ErrorResponse": ErrorResponse}
    for op in ops:
        for model in (op.request, op.response):
            if model is not None:
                seen.setdefault(model.__name__, model)
    return list(seen.values())


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document for every route (paths as the browser calls them, under ``/api``)."""
    ops = operations()
    models = _schema_models(ops)
    modes: tuple[Literal["validation"], Literal["serialization"]] = ("validation", "serialization")
    pairs = [(model, mode) for mode in modes for model in models]
    keyed, defs = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    schemas = dict(defs.get("$defs", {}))

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return keyed[(model, mode)]  # type: ignore[index]  # keyed by (model, mode) literal; mode is a str here

    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        error_ref = ref(ErrorResponse, "serialization")
        responses: dict[str, Any] = {
            str(op.status): {"description": "OK", "content": {"application/json": {"schema": ref(op.response, "serialization")}}}
        }
        if op.path == "/openapi.json":
            responses = {"200": {"description": "this document", "content": {"application/json": {"schema": {"type": "object"}}}}}
        if op.path.endswith("/export"):
            responses = {"200": {"description": "CSV, UTF-8 with a byte-order mark",
                                 "content": {"text/csv": {"schema": {"type": "string"}}}}}
        for status, text in sorted(op.errors.items()):
            responses[str(status)] = {"description": text, "content": {"application/json": {"schema": error_ref}}}
        item: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "responses": responses,
            "x-mast-groups": list(op.groups),
            "security": [{"CognitoIdToken": []}] if op.groups else [],
        }
        parameters = [{"name": p.strip("{}"), "in": "path", "required": True,
                       "schema": {"type": "string", "minLength": 1}}
                      for p in op.path.split("/") if p.startswith("{")]
        parameters += [{"name": q.name, "in": "query", "required": q.required, "description": q.description,
                        "schema": q.schema} for q in op.query]
        if parameters:
            item["parameters"] = parameters
        if op.request is not None:
            item["requestBody"] = {"required": True,
                                   "content": {"application/json": {"schema": ref(op.request, "validation")}}}
        paths.setdefault(f"/api{op.path}", {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "MAST API", "version": "1",
                 "description": "Multi Agency Safeguarding Tracker. Every route but /api/health and "
                                "/api/openapi.json needs a Cognito ID token in the Authorization header."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"CognitoIdToken": {"type": "apiKey", "in": "header", "name": "Authorization",
                                                   "description": "the Cognito ID token, as the browser holds it"}},
        },
    }
