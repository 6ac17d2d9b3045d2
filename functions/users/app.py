"""Users function: organisation administrators manage their users and access requests.

Thin by rule: the rules are in :mod:`mast.access.users`. Every route but ``POST /api/access-requests``
(public, throttled at the gateway) needs a signed-in org-admin; the handler checks that itself.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter

from mast.access.users import (
    AccessDecision,
    AccessRequestBody,
    AccessRequestStore,
    AccessReviewBody,
    AccessStatus,
    AdminReason,
    NewUser,
    UserAdmin,
    UserChange,
    UserDirectory,
)
from mast.api.http import caller_in, json_response, make_resolver, read_body
from mast.audit.store import AuditStore

logger = Logger()
#: The routes that show or change users' data: every refusal of one is audited (a probe for which
#: users exist, or an attempt on another organisation's, is on the record). Asking for access
#: (``POST /access-requests``) is open to anyone and is not: no one is signed in to name.
DATA_ROUTES = frozenset({
    ("GET", "/users"), ("POST", "/users"), ("PATCH", "/users/{id}"), ("POST", "/users/{id}/disable"),
    ("POST", "/users/{id}/enable"), ("POST", "/users/{id}/resend"), ("GET", "/access-reviews"),
    ("POST", "/access-reviews"), ("GET", "/access-requests"), ("POST", "/access-requests/{id}/approve"),
    ("POST", "/access-requests/{id}/refuse"),
})
app = make_resolver(logger, audited_refusals=DATA_ROUTES)
_STATUS = TypeAdapter(AccessStatus | None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _admin() -> UserAdmin:
    return UserAdmin(UserDirectory(os.environ["USER_POOL_ID"]), AccessRequestStore(os.environ["CONTROL_TABLE"]),
                     AuditStore(os.environ["AUDIT_TABLE"]), request_id=app.current_event.request_context.request_id)


@app.get("/users")
def list_users() -> dict[str, Any]:
    caller = caller_in(app, "org-admins")
    return {"users": [u.model_dump(mode="json") for u in _admin().list_users(caller, _now())]}


@app.post("/users")
def add_user() -> Response:
    caller = caller_in(app, "org-admins")
    user = _admin().add_user(caller, read_body(app, NewUser), _now())
    return json_response(201, user.model_dump(mode="json"))


@app.patch("/users/<user_id>")
def change_user(user_id: str) -> dict[str, Any]:
    caller = caller_in(app, "org-admins")
    return _admin().change_user(caller, user_id, read_body(app, UserChange), _now()).model_dump(mode="json")


@app.post("/users/<user_id>/disable")
def disable_user(user_id: str) -> dict[str, Any]:
    caller = caller_in(app, "org-admins")
    why = read_body(app, AdminReason).reason
    return _admin().set_enabled(caller, user_id, False, _now(), why).model_dump(mode="json")


@app.post("/users/<user_id>/enable")
def enable_user(user_id: str) -> dict[str, Any]:
    caller = caller_in(app, "org-admins")
    why = read_body(app, AdminReason).reason
    return _admin().set_enabled(caller, user_id, True, _now(), why).model_dump(mode="json")


@app.post("/users/<user_id>/resend")
def resend_invitation(user_id: str) -> dict[str, Any]:
    """The invitation again, with a new temporary password (someone who has not signed in yet)."""
    caller = caller_in(app, "org-admins")
    return _admin().resend_invitation(caller, user_id, _now()).model_dump(mode="json")


@app.get("/access-reviews")
def latest_access_review() -> dict[str, Any]:
    """The organisation's latest access review (recertification) and when the next is due."""
    caller = caller_in(app, "org-admins")
    return _admin().access_review(caller, _now()).model_dump(mode="json")


@app.post("/access-reviews")
def confirm_access() -> dict[str, Any]:
    """The administrator confirms their users still need access (audited)."""
    caller = caller_in(app, "org-admins")
    return _admin().confirm_access(caller, read_body(app, AccessReviewBody), _now()).model_dump(mode="json")


@app.post("/access-requests")
def submit_access_request() -> Response:
    """Public: anyone may ask. The reply says only that the request is waiting."""
    request = _admin().submit_request(read_body(app, AccessRequestBody), _now())
    return json_response(202, {"id": request.id, "status": request.status})


@app.get("/access-requests")
def list_access_requests() -> dict[str, Any]:
    caller = caller_in(app, "org-admins")
    raw = (app.current_event.query_string_parameters or {}).get("status")
    status = _STATUS.validate_python(None if raw in (None, "all") else raw)
    requests = _admin().list_requests(caller, _now(), status)
    return {"requests": [r.model_dump(mode="json") for r in requests]}


@app.post("/access-requests/<request_id>/approve")
def approve_access_request(request_id: str) -> dict[str, Any]:
    caller = caller_in(app, "org-admins")
    decision = read_body(app, AccessDecision)
    request, user = _admin().approve(caller, request_id, _now(), decision.why)
    return {"request": request.model_dump(mode="json"), "user": user.model_dump(mode="json")}


@app.post("/access-requests/<request_id>/refuse")
def refuse_access_request(request_id: str) -> dict[str, Any]:
    caller = caller_in(app, "org-admins")
    decision = read_body(app, AccessDecision)
    return {"request": _admin().refuse(caller, request_id, _now(), decision.why).model_dump(mode="json")}


def _disable_unused(event: dict[str, Any]) -> dict[str, Any]:
    """The daily schedule (EventBridge): accounts unused for 90 days are disabled, each audited."""
    from mast.config import load_partnership

    admin = UserAdmin(UserDirectory(os.environ["USER_POOL_ID"]), AccessRequestStore(os.environ["CONTROL_TABLE"]),
                      AuditStore(os.environ["AUDIT_TABLE"]), request_id=str(event.get("id") or "") or None)
    disabled = admin.disable_unused([o.id for o in load_partnership().organisations], _now())
    logger.info("unused accounts disabled", extra={"disabled": len(disabled)})
    return {"disabled": len(disabled)}


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return _disable_unused(event)
    return app.resolve(event, context)
