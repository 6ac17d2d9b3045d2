"""The signed-in caller, as API Gateway's Cognito authorizer describes them.

API Gateway has already checked the ID token's signature, issuer, audience and expiry before the
handler runs; the handler still checks group and organisation itself (DESIGN.md, "Security
model"): a route that forgot its gateway authorizer must not become open.

REST API (v1) events carry the token's claims as strings: ``cognito:groups`` is comma-joined.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from mast.audit.event import AuditEvent

Group = Literal["practitioners", "org-admins", "auditors", "data-stewards"]
GROUPS: Final[tuple[Group, ...]] = ("practitioners", "org-admins", "auditors", "data-stewards")


class AccessDenied(Exception):
    """The caller is signed in but may not do this (HTTP 403)."""


class NotSignedIn(Exception):
    """No usable identity reached the handler (HTTP 401)."""


class Caller(BaseModel):
    """Who is asking: identity, organisation and groups, from the verified ID token."""

    model_config = ConfigDict(frozen=True)

    sub: str
    #: who the audit names: the email only while Cognito says it is verified (an email a user
    #: changed and never verified must not speak for them), else their Cognito username
    email: str
    organisation: str
    groups: frozenset[str]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Caller:
        """Read the caller from a REST v1 event's authorizer claims; 401 if there are none."""
        context = event.get("requestContext") or {}
        claims = (context.get("authorizer") or {}).get("claims") or {}
        return cls.from_claims(claims)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Caller:
        if claims.get("token_use") != "id" or not claims.get("sub"):
            raise NotSignedIn("You are not signed in. Sign in and try again.")
        organisation = claims.get("custom:organisation")
        if not organisation:
            raise AccessDenied("Your account has no organisation. Ask your administrator.")
        raw_groups = claims.get("cognito:groups") or ""
        if isinstance(raw_groups, str):
            groups = {g.strip() for g in raw_groups.strip("[]").replace(" ", ",").split(",")}
        else:
            groups = {str(g) for g in raw_groups}
        return cls(
            sub=str(claims["sub"]),
            email=_identity(claims),
            organisation=str(organisation),
            groups=frozenset(g for g in groups if g in GROUPS),
        )

    def require(self, *allowed: Group) -> None:
        """403 unless the caller is in at least one of ``allowed``."""
        if not self.groups.intersection(allowed):
            names = {"practitioners": "practitioners", "org-admins": "organisation administrators",
                     "auditors": "auditors", "data-stewards": "data stewards"}
            raise AccessDenied("You do not have permission to do this. It is for "
                               + " or ".join(names.get(g, g) for g in allowed) + ".")

    def require_organisation(self, organisation: str) -> None:
        """403 unless the caller belongs to ``organisation``."""
        if self.organisation != organisation:
            raise AccessDenied("That belongs to another organisation.")

    def in_any(self, groups: Iterable[Group]) -> bool:
        return bool(self.groups.intersection(groups))

    def audit_event(self, request_id: str | None = None, **fields: Any) -> AuditEvent:
        """An audit event of this caller's action, stamped now (``fields``: what was done and shown)."""
        from mast.audit.event import AuditEvent, new_event_id  # noqa: PLC0415 - the audit imports the caller

        return AuditEvent(
            event_id=new_event_id(), event_time=dt.datetime.now(dt.UTC), user_sub=self.sub, username=self.email,
            organisation=self.organisation, groups=tuple(sorted(self.groups)), request_id=request_id or None,
            **fields,
        )


def _identity(claims: Mapping[str, Any]) -> str:
    """The verified email (``email_verified`` is the string "true" in REST claims, a boolean in a
    token), else the Cognito username, else the sub: never an email nobody has verified."""
    verified = claims.get("email_verified")
    if (verified is True or str(verified).lower() == "true") and claims.get("email"):
        return str(claims["email"])
    return str(claims.get("cognito:username") or claims["sub"])
