"""Who the caller is comes from what Cognito vouches for: an email counts only while verified."""

from __future__ import annotations

import pytest

from mast.access.caller import Caller

BASE = {"sub": "8f0c-sub", "token_use": "id", "custom:organisation": "wm-police", "cognito:groups": "practitioners",
        "cognito:username": "8f0c-sub"}


@pytest.mark.parametrize("verified", ["true", True, "TRUE"])
def test_a_verified_email_names_the_caller(verified: object) -> None:
    caller = Caller.from_claims({**BASE, "email": "pc.jones@wmp.example", "email_verified": verified})
    assert caller.email == "pc.jones@wmp.example"


@pytest.mark.parametrize("claims", [
    {"email": "chief.constable@wmp.example", "email_verified": "false"},
    {"email": "chief.constable@wmp.example", "email_verified": False},
    {"email": "chief.constable@wmp.example"},  # no word on it at all
    {"email": "chief.constable@wmp.example", "email_verified": "yes please"},
], ids=["false", "False", "absent", "garbage"])
def test_an_unverified_email_is_not_used(claims: dict[str, object]) -> None:
    caller = Caller.from_claims({**BASE, **claims})
    assert caller.email == "8f0c-sub" and "chief" not in caller.email


def test_without_a_cognito_username_the_sub_names_the_caller() -> None:
    claims = {k: v for k, v in BASE.items() if k != "cognito:username"}
    assert Caller.from_claims({**claims, "email": "x@wmp.example", "email_verified": "false"}).email == "8f0c-sub"
