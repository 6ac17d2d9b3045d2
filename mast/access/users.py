"""User administration: organisation administrators manage their own organisation's users, and
anyone may ask for access, which an administrator of that organisation approves or refuses.

Who may do what (DESIGN.md, "Security model"):
- an org-admin lists, adds, edits (name; group between ``practitioners`` and ``org-admins``),
  disables and re-enables users of their *own* organisation, and only those whose groups are
  among :data:`GRANTABLE_GROUPS`: the ``auditors`` and ``data-stewards`` groups are granted by the
  operator alone (``mast users grant``), never through the API, and their members are not the
  org-admin's to change;
- anyone may submit an access request (the route has no authorizer and is throttled); the request
  names an organisation from the partnership, and only that organisation's org-admins see it.

Every action writes its :class:`~mast.audit.AuditEvent` first; if it cannot be written the action
is not done (:class:`~mast.audit.AuditUnavailable`, HTTP 503).

Cognito is the directory: users are created with ``AdminCreateUser``, so Cognito mails the
invitation with a temporary password, and the first sign-in must set a new password and then TOTP
MFA (the pool requires it). The user's organisation is the ``custom:organisation`` attribute, which
users cannot write.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mast.access.caller import AccessDenied, Caller
from mast.audit.event import AuditAction, AuditEvent
from mast.audit.store import AuditStore
from mast.config import load_partnership
from mast.schema import Refused

Role = Literal["practitioners", "org-admins"]
GRANTABLE_GROUPS: Final[frozenset[str]] = frozenset({"practitioners", "org-admins"})
OPERATOR_GROUPS: Final[frozenset[str]] = frozenset({"auditors", "data-stewards"})
ALL_GROUPS: Final[tuple[str, ...]] = ("practitioners", "org-admins", "auditors", "data-stewards")
ORGANISATION_ATTRIBUTE: Final = "custom:organisation"
#: How far back the users list looks in the audit for each user's latest action (Cognito keeps no
#: last sign-in), and at most how many of the organisation's events it reads for that.
LAST_ACTIVE_DAYS: Final = 90
LAST_ACTIVE_EVENTS: Final = 2000
#: An account with no audited action for this many days (and older than that) is disabled by the
#: daily schedule (DESIGN.md: access that is not used is removed); its administrator can enable it.
UNUSED_DAYS: Final = LAST_ACTIVE_DAYS
#: Each organisation's administrators confirm their users' access at least this often (recertification).
REVIEW_EVERY_DAYS: Final = 90

_EMAIL: Final = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                           r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_USER_ID: Final = re.compile(r"^[\w.@+-]{1,128}$")
_REQUEST_ID: Final = re.compile(r"^[0-9]{14}-[0-9a-f]{12}$")


#: The one answer for a user id that is not of the caller's organisation, whether or not it exists.
NOT_YOURS = "That is not a user of your organisation (there is no such user, or they belong to another organisation)."


class UserAdminError(Refused):
    """A refusal with its HTTP status: 404 (no such user or request), 409 (conflict), 400."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)


# --- bodies and replies --------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if not value.isprintable():
        raise ValueError("must be printable text (no control characters)")
    return value


def _valid_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("is not an email address")
    return value.lower()


class NewUser(BaseModel):
    """``POST /api/users``: the new user joins the administrator's own organisation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    email: str = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    group: Role = "practitioners"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _valid_email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _clean_text(value)


class UserChange(BaseModel):
    """``PATCH /api/users/{id}``: a new name, a new group, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    group: Role | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _clean_text(value)

    @model_validator(mode="after")
    def _something(self) -> UserChange:
        if self.name is None and self.group is None:
            raise ValueError("give a new 'name' or 'group'")
        return self


class UserSummary(BaseModel):
    """A user as their administrator sees them. ``id`` is the Cognito username (used in paths)."""

    id: str
    email: str
    name: str | None
    organisation: str
    groups: list[str]
    enabled: bool
    status: str = Field(description="Cognito's user status, e.g. FORCE_CHANGE_PASSWORD, CONFIRMED")
    created: dt.datetime | None = None
    manageable: bool = Field(description="false for members of the operator-granted groups")
    is_you: bool = Field(default=False, description="the administrator reading the list: never offered 'Disable'")
    last_active: dt.datetime | None = Field(
        default=None, description="their latest action in the audit within LAST_ACTIVE_DAYS (null: none then)")


AccessRole = Literal["practitioner", "org-admin"]
AccessStatus = Literal["pending", "approved", "refused"]
_ROLE_GROUP: Final[dict[str, Role]] = {"practitioner": "practitioners", "org-admin": "org-admins"}


class AccessRequestBody(BaseModel):
    """``POST /api/access-requests`` (no sign-in): who asks, for which organisation and role, why."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254)
    organisation: str = Field(min_length=1, max_length=100, description="an organisation id from the partnership")
    role: AccessRole
    reason: str = Field(min_length=1, max_length=1000)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _valid_email(value)

    @field_validator("name", "reason")
    @classmethod
    def _texts(cls, value: str) -> str:
        return _clean_text(value)

    @field_validator("organisation")
    @classmethod
    def _known_organisation(cls, value: str) -> str:
        known = [o.id for o in load_partnership().organisations]
        if value not in known:
            raise ValueError(f"is not an organisation of this partnership; one of: {', '.join(known)}")
        return value


class AccessRequest(BaseModel):
    """A stored access request and what became of it."""

    id: str
    name: str
    email: str
    organisation: str
    role: AccessRole
    reason: str
    status: AccessStatus
    submitted: dt.datetime
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    user_id: str | None = None


class AccessDecision(BaseModel):
    """``POST /api/access-requests/{id}/approve|refuse``: the reason for the decision, kept in the audit
    (the page always asks for one); ``note`` is an older name for the same thing."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str | None = Field(default=None, max_length=500, description="why: kept in the audit")
    note: str | None = Field(default=None, max_length=500, description="as 'reason' (older clients)")

    @field_validator("reason", "note")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else _clean_text(value)

    @property
    def why(self) -> str | None:
        return self.reason or self.note


class AdminReason(BaseModel):
    """``POST /api/users/{id}/disable|enable``: why, kept in the audit (the page always asks).

    Other fields are ignored, not refused: these routes took no body before, and a request about
    another organisation's user must be answered 403 whatever it carries, not 400 for its body."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    reason: str | None = Field(default=None, max_length=500, description="why: kept in the audit")

    @field_validator("reason")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else _clean_text(value)


class AccessReviewBody(BaseModel):
    """``POST /api/access-reviews``: the administrator confirms that each of these users (ids, as
    listed) still needs access; anyone left out they disable (or change) separately."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    users: list[str] = Field(min_length=1, max_length=2000)
    reason: str | None = Field(default=None, max_length=500)

    @field_validator("reason")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else _clean_text(value)


class AccessReview(BaseModel):
    """An organisation's latest access review (recertification) and when the next is due."""

    organisation: str
    reviewed_at: dt.datetime | None = None
    reviewed_by: str | None = None
    users_confirmed: int = 0
    due: dt.datetime | None = Field(default=None, description="null: never reviewed, due now")
    overdue: bool = True


# --- the Cognito directory -------------------------------------------------------------------------


class UserDirectory:
    """The user pool, through the admin APIs the users function's role allows."""

    def __init__(self, pool_id: str, client: Any = None) -> None:
        self.pool_id = pool_id
        if client is None:
            import boto3

            client = boto3.client("cognito-idp")
        self.client = client

    def _groups_by_user(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for group in ALL_GROUPS:
            token = None
            while True:
                kwargs: dict[str, Any] = {"UserPoolId": self.pool_id, "GroupName": group, "Limit": 60}
                if token:
                    kwargs["NextToken"] = token
                try:
                    response = self.client.list_users_in_group(**kwargs)
                except self.client.exceptions.ResourceNotFoundException:
                    break
                for user in response.get("Users", []):
                    groups.setdefault(user["Username"], []).append(group)
                token = response.get("NextToken")
                if not token:
                    break
        return groups

    def _all_users(self) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            kwargs: dict[str, Any] = {"UserPoolId": self.pool_id, "Limit": 60}
            if token:
                kwargs["PaginationToken"] = token
            response = self.client.list_users(**kwargs)
            yield from response.get("Users", [])
            token = response.get("PaginationToken")
            if not token:
                return

    def list(self, organisation: str) -> list[UserSummary]:
        groups = self._groups_by_user()
        users = [_summary(u, u.get("Attributes", []), groups.get(u["Username"], [])) for u in self._all_users()]
        return sorted((u for u in users if u.organisation == organisation), key=lambda u: u.email)

    def get(self, user_id: str) -> UserSummary:
        if not _USER_ID.match(user_id):
            raise UserAdminError(400, "That is not a user id. Choose the user from the list of users.")
        try:
            user = self.client.admin_get_user(UserPoolId=self.pool_id, Username=user_id)
        except self.client.exceptions.UserNotFoundException:
            raise UserAdminError(
                404, "There is no such user. They may have been removed; reload the list of users.") from None
        groups = self.client.admin_list_groups_for_user(UserPoolId=self.pool_id, Username=user["Username"])
        names = [g["GroupName"] for g in groups.get("Groups", [])]
        return _summary(user, user.get("UserAttributes", []), names)

    def create(self, email: str, name: str, organisation: str, group: str) -> UserSummary:
        try:
            response = self.client.admin_create_user(
                UserPoolId=self.pool_id,
                Username=email,
                DesiredDeliveryMediums=["EMAIL"],
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": name},
                    {"Name": ORGANISATION_ATTRIBUTE, "Value": organisation},
                ],
            )
        except self.client.exceptions.UsernameExistsException:
            raise UserAdminError(409, f"There is already a user with the email address {email}. "
                                      "Find them in the list of users.") from None
        user = response["User"]
        self.client.admin_add_user_to_group(UserPoolId=self.pool_id, Username=user["Username"], GroupName=group)
        return _summary(user, user.get("Attributes", []), [group])

    def rename(self, user_id: str, name: str) -> None:
        self.client.admin_update_user_attributes(
            UserPoolId=self.pool_id, Username=user_id, UserAttributes=[{"Name": "name", "Value": name}]
        )

    def set_group(self, user_id: str, group: str, current: Sequence[str]) -> None:
        """Into ``group``, out of the other grantable group (operator groups are left alone)."""
        self.client.admin_add_user_to_group(UserPoolId=self.pool_id, Username=user_id, GroupName=group)
        for old in current:
            if old in GRANTABLE_GROUPS and old != group:
                self.client.admin_remove_user_from_group(UserPoolId=self.pool_id, Username=user_id, GroupName=old)

    def resend_invitation(self, email: str) -> None:
        """Cognito mails the invitation again, with a new temporary password (named by the email: the
        pool signs in by email, and AdminCreateUser takes that, not the generated username)."""
        self.client.admin_create_user(UserPoolId=self.pool_id, Username=email, MessageAction="RESEND",
                                      DesiredDeliveryMediums=["EMAIL"])

    def set_enabled(self, user_id: str, enabled: bool) -> None:
        if enabled:
            self.client.admin_enable_user(UserPoolId=self.pool_id, Username=user_id)
        else:
            self.client.admin_disable_user(UserPoolId=self.pool_id, Username=user_id)

    def grant(self, email: str, group: str) -> UserSummary:
        """The operator's grant (any group, an existing user): ``mast users grant``."""
        if group not in ALL_GROUPS:
            raise UserAdminError(400, f"no such group; one of: {', '.join(ALL_GROUPS)}")
        user = self.get(email)
        self.client.admin_add_user_to_group(UserPoolId=self.pool_id, Username=user.id, GroupName=group)
        return self.get(user.id)


def _summary(user: dict[str, Any], attributes: list[dict[str, str]], groups: list[str]) -> UserSummary:
    values = {a["Name"]: a["Value"] for a in attributes}
    return UserSummary(
        id=user["Username"],
        email=values.get("email", ""),
        name=values.get("name"),
        organisation=values.get(ORGANISATION_ATTRIBUTE, ""),
        groups=sorted(groups),
        enabled=bool(user.get("Enabled", True)),
        status=str(user.get("UserStatus", "UNKNOWN")),
        created=user.get("UserCreateDate"),
        manageable=not OPERATOR_GROUPS.intersection(groups),
    )


# --- access requests (ControlTable) ----------------------------------------------------------------


class AccessRequestStore:
    """Access requests in the control table: ``pk = ACCESS#<organisation>``, ``sk = <request id>``.

    Request ids start with their UTC submission time, so a partition reads oldest first; a request
    is found only under the reader's own organisation, so another organisation's id is "not found".
    """

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client

    def add(self, body: AccessRequestBody, now: dt.datetime) -> AccessRequest:
        request = AccessRequest(id=f"{now.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:12]}", status="pending",
                                submitted=now, **body.model_dump())
        self.client.put_item(TableName=self.table_name, Item=self._item(request),
                             ConditionExpression="attribute_not_exists(pk)")
        return request

    def list(self, organisation: str) -> list[AccessRequest]:
        requests: list[AccessRequest] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"ACCESS#{organisation}"}},
        }
        while True:
            response = self.client.query(**kwargs)
            requests += [AccessRequest.model_validate_json(i["request"]["S"]) for i in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return requests
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get(self, organisation: str, request_id: str) -> AccessRequest:
        if not _REQUEST_ID.match(request_id):
            raise UserAdminError(400, "That is not an access request id. Choose the request from the list.")
        item = self.client.get_item(TableName=self.table_name,
                                    Key={"pk": {"S": f"ACCESS#{organisation}"}, "sk": {"S": request_id}}).get("Item")
        if not item:
            raise UserAdminError(404, "There is no such access request for your organisation.")
        return AccessRequest.model_validate_json(item["request"]["S"])

    def decide(self, request: AccessRequest) -> None:
        """Store the decision, once: a request already decided is a 409."""
        try:
            self.client.put_item(TableName=self.table_name, Item=self._item(request),
                                 ConditionExpression="#status = :pending",
                                 ExpressionAttributeNames={"#status": "status"},
                                 ExpressionAttributeValues={":pending": {"S": "pending"}})
        except self.client.exceptions.ConditionalCheckFailedException:
            raise UserAdminError(
                409, "That access request has already been decided by another administrator.") from None

    def review(self, organisation: str) -> AccessReview:
        item = self.client.get_item(TableName=self.table_name,
                                    Key={"pk": {"S": f"REVIEW#{organisation}"}, "sk": {"S": "latest"}}).get("Item")
        if not item:
            return AccessReview(organisation=organisation)
        return AccessReview.model_validate_json(item["review"]["S"])

    def save_review(self, review: AccessReview) -> None:
        self.client.put_item(TableName=self.table_name, Item={
            "pk": {"S": f"REVIEW#{review.organisation}"}, "sk": {"S": "latest"},
            "review": {"S": review.model_dump_json()}})

    def _item(self, request: AccessRequest) -> dict[str, Any]:
        return {
            "pk": {"S": f"ACCESS#{request.organisation}"},
            "sk": {"S": request.id},
            "status": {"S": request.status},
            "request": {"S": request.model_dump_json()},
        }


# --- the administrator's actions -------------------------------------------------------------------


class UserAdmin:
    """What an org-admin may do, each action audited first; and the public access request."""

    def __init__(self, directory: UserDirectory, requests: AccessRequestStore, audit: AuditStore,
                 *, request_id: str | None = None) -> None:
        self.directory = directory
        self.requests = requests
        self.audit = audit
        self.request_id = request_id

    # users

    def list_users(self, caller: Caller, now: dt.datetime) -> list[UserSummary]:
        caller.require("org-admins")
        self._audit(caller, "user-list", now, target=caller.organisation)
        users = self.directory.list(caller.organisation)
        latest = self._last_active(caller.organisation, now, {u.id for u in users})
        return [u.model_copy(update={"is_you": u.id == caller.sub, "last_active": latest.get(u.id)}) for u in users]

    def _last_active(self, organisation: str, now: dt.datetime, user_ids: set[str]) -> dict[str, dt.datetime]:
        """Each user's latest audited action in the last :data:`LAST_ACTIVE_DAYS` days, newest first,
        reading at most :data:`LAST_ACTIVE_EVENTS` events (a user past them reads as not active)."""
        latest: dict[str, dt.datetime] = {}
        token: str | None = None
        read = 0
        while read < LAST_ACTIVE_EVENTS and len(latest) < len(user_ids):
            page = self.audit.query(organisation=organisation, since=now - dt.timedelta(days=LAST_ACTIVE_DAYS),
                                    until=now + dt.timedelta(seconds=1), limit=200, page_token=token)
            read += len(page.events)
            for event in page.events:
                if event.user_sub in user_ids:
                    latest.setdefault(event.user_sub, event.event_time)
            token = page.next
            if not token:
                break
        return latest

    def add_user(self, caller: Caller, new: NewUser, now: dt.datetime) -> UserSummary:
        caller.require("org-admins")
        self._audit(caller, "user-add", now, target=new.email, detail={"email": new.email, "group": new.group})
        return self.directory.create(new.email, new.name, caller.organisation, new.group)

    def change_user(self, caller: Caller, user_id: str, change: UserChange, now: dt.datetime) -> UserSummary:
        caller.require("org-admins")
        user = self._manageable(caller, user_id)
        if change.group is not None and user.id == caller.sub and change.group not in user.groups:
            raise UserAdminError(409, "You cannot change your own permission. Ask another administrator.")
        if change.group == "practitioners" and "org-admins" in user.groups:
            self._not_the_last_admin(caller, user)
        self._audit(caller, "user-edit", now, target=user.id,
                    detail={"email": user.email, "name_changed": change.name is not None, "group": change.group})
        if change.name is not None:
            self.directory.rename(user.id, change.name)
        if change.group is not None:
            self.directory.set_group(user.id, change.group, user.groups)
        return self.directory.get(user.id)

    def set_enabled(self, caller: Caller, user_id: str, enabled: bool, now: dt.datetime,
                    reason: str | None = None) -> UserSummary:
        caller.require("org-admins")
        user = self._manageable(caller, user_id)
        if not enabled and user.id == caller.sub:
            raise UserAdminError(409, "You cannot disable your own account. Ask another administrator.")
        if not enabled and "org-admins" in user.groups:
            self._not_the_last_admin(caller, user)
        self._audit(caller, "user-enable" if enabled else "user-disable", now, target=user.id,
                    detail={"email": user.email, **({"reason": reason} if reason else {})})
        self.directory.set_enabled(user.id, enabled)
        return self.directory.get(user.id)

    def resend_invitation(self, caller: Caller, user_id: str, now: dt.datetime) -> UserSummary:
        """Send the invitation again (a new temporary password): only to someone who has not yet signed in."""
        caller.require("org-admins")
        user = self._manageable(caller, user_id)
        if user.status != "FORCE_CHANGE_PASSWORD":
            raise UserAdminError(409, f"{user.email} has already signed in, so there is no invitation to send again.")
        if not user.enabled:
            raise UserAdminError(409, f"{user.email} is disabled. Enable them before sending the invitation again.")
        self._audit(caller, "user-resend", now, target=user.id, detail={"email": user.email})
        self.directory.resend_invitation(user.email)
        return self.directory.get(user.id)

    def disable_unused(self, organisations: Sequence[str], now: dt.datetime) -> list[UserSummary]:
        """The daily schedule: disable every enabled account of ``organisations`` that is older than
        :data:`UNUSED_DAYS` days and has no audited action in that time, each audited first as MAST's
        own action with the reason. Operator-granted accounts are the operator's; an organisation's
        last enabled administrator is left (reported in the event of the others, not disabled)."""
        disabled: list[UserSummary] = []
        for organisation in organisations:
            users = self.directory.list(organisation)
            active = self._last_active(organisation, now, {u.id for u in users})
            admins = {u.id for u in users if u.enabled and "org-admins" in u.groups}
            for user in users:
                old_enough = user.created is not None and user.created <= now - dt.timedelta(days=UNUSED_DAYS)
                if not (user.enabled and user.manageable and old_enough) or user.id in active:
                    continue
                if user.id in admins and not admins - {user.id}:
                    continue  # never leave an organisation with no administrator
                self.audit.write(AuditEvent(
                    event_id=uuid.uuid4().hex, event_time=now, action="user-disable", user_sub="mast-schedule",
                    username="MAST (daily check of unused accounts)", organisation=organisation,
                    groups=("schedule",), target=user.id, request_id=self.request_id,
                    detail=json.dumps({"email": user.email, "reason": f"not used for {UNUSED_DAYS} days"}),
                ))
                self.directory.set_enabled(user.id, False)
                admins.discard(user.id)
                disabled.append(user.model_copy(update={"enabled": False}))
        return disabled

    # access reviews (recertification)

    def access_review(self, caller: Caller, now: dt.datetime) -> AccessReview:
        """The organisation's latest review, and whether the next is overdue."""
        caller.require("org-admins")
        review = self.requests.review(caller.organisation)
        return review.model_copy(update={"overdue": review.due is None or review.due <= now})

    def confirm_access(self, caller: Caller, body: AccessReviewBody, now: dt.datetime) -> AccessReview:
        """The administrator confirms every enabled user they manage still needs access: the ids sent
        must be exactly those (a list reviewed before a change is refused, to be read again)."""
        caller.require("org-admins")
        users = [u for u in self.directory.list(caller.organisation) if u.enabled and u.manageable]
        if set(body.users) != {u.id for u in users}:
            raise UserAdminError(409, "The list of users has changed since you read it. Reload it and review it again.")
        self._audit(caller, "access-review", now, target=caller.organisation,
                    detail={"users": sorted(u.email for u in users),
                            **({"reason": body.reason} if body.reason else {})})
        review = AccessReview(organisation=caller.organisation, reviewed_at=now, reviewed_by=caller.email,
                              users_confirmed=len(users), due=now + dt.timedelta(days=REVIEW_EVERY_DAYS), overdue=False)
        self.requests.save_review(review)
        return review

    def _not_the_last_admin(self, caller: Caller, user: UserSummary) -> None:
        """Refuse what would leave the organisation with no administrator who can sign in."""
        others = [u for u in self.directory.list(caller.organisation)
                  if u.id != user.id and u.enabled and "org-admins" in u.groups]
        if not others:
            raise UserAdminError(409, f"{user.email} is the last administrator of your organisation. "
                                      "Make someone else an administrator first.")

    def _manageable(self, caller: Caller, user_id: str) -> UserSummary:
        """The user, if of the caller's organisation. A user id that exists nowhere and one of
        another organisation get the same answer, so that the answer does not say which users exist."""
        try:
            user = self.directory.get(user_id)
        except UserAdminError as error:
            if error.status != 404:
                raise
            raise AccessDenied(NOT_YOURS) from None
        if user.organisation != caller.organisation:
            raise AccessDenied(NOT_YOURS)
        if not user.manageable:
            raise AccessDenied("Auditors and data stewards are managed by the operator, not through MAST.")
        return user

    # access requests

    def submit_request(self, body: AccessRequestBody, now: dt.datetime) -> AccessRequest:
        """Anyone may ask; a second pending request for the same email and organisation is a 409."""
        if any(r.email == body.email and r.status == "pending" for r in self.requests.list(body.organisation)):
            raise UserAdminError(409, "A request for this email address is already waiting for a decision.")
        event_id = uuid.uuid4().hex
        self.audit.write(AuditEvent(
            event_id=event_id, event_time=now, action="access-request", user_sub="anonymous",
            username=body.email, organisation=body.organisation, target=body.email,
            detail=json.dumps({"role": body.role}), request_id=self.request_id,
        ))
        return self.requests.add(body, now)

    def list_requests(self, caller: Caller, now: dt.datetime, status: AccessStatus | None = None) -> list[AccessRequest]:
        caller.require("org-admins")
        self._audit(caller, "access-request-list", now, target=caller.organisation)
        return [r for r in self.requests.list(caller.organisation) if status is None or r.status == status]

    def approve(self, caller: Caller, request_id: str, now: dt.datetime,
                reason: str | None = None) -> tuple[AccessRequest, UserSummary]:
        caller.require("org-admins")
        request = self._pending(caller, request_id)
        group = _ROLE_GROUP[request.role]
        self._audit(caller, "access-approve", now, target=request.id,
                    detail={"email": request.email, "group": group, **({"reason": reason} if reason else {})})
        user = self.directory.create(request.email, request.name, request.organisation, group)
        decided = request.model_copy(update={"status": "approved", "decided_by": caller.email, "decided_at": now,
                                             "user_id": user.id})
        self.requests.decide(decided)
        return decided, user

    def refuse(self, caller: Caller, request_id: str, now: dt.datetime, reason: str | None = None) -> AccessRequest:
        caller.require("org-admins")
        request = self._pending(caller, request_id)
        self._audit(caller, "access-refuse", now, target=request.id,
                    detail={"email": request.email, **({"reason": reason} if reason else {})})
        decided = request.model_copy(update={"status": "refused", "decided_by": caller.email, "decided_at": now})
        self.requests.decide(decided)
        return decided

    def _pending(self, caller: Caller, request_id: str) -> AccessRequest:
        request = self.requests.get(caller.organisation, request_id)
        if request.status != "pending":
            raise UserAdminError(409, f"That access request has already been {request.status}.")
        return request

    def _audit(self, caller: Caller, action: AuditAction, now: dt.datetime, *, target: str | None = None,
               detail: dict[str, Any] | None = None) -> None:
        self.audit.write(AuditEvent(
            event_id=uuid.uuid4().hex, event_time=now, action=action, user_sub=caller.sub, username=caller.email,
            organisation=caller.organisation, groups=tuple(sorted(caller.groups)), target=target,
            detail=json.dumps(detail) if detail else None, request_id=self.request_id,
        ))
