"""`mast users grant`: the operator alone grants auditors and data stewards, audited."""

from __future__ import annotations

import argparse
import datetime as dt

import boto3
import pytest
from moto import mock_aws

from mast.audit import AuditStore
from tests.unit.test_audit_store import create_audit_table
from tools.commands.users import run_grant


def test_grant_adds_group_and_audits(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        idp = boto3.client("cognito-idp")
        pool = idp.create_user_pool(PoolName="p", UsernameAttributes=["email"], Schema=[
            {"Name": "organisation", "AttributeDataType": "String", "Mutable": False}])["UserPool"]["Id"]
        for group in ("practitioners", "org-admins", "auditors", "data-stewards"):
            idp.create_group(UserPoolId=pool, GroupName=group)
        idp.admin_create_user(UserPoolId=pool, Username="ig@walsall.example", MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": "ig@walsall.example"},
                                              {"Name": "custom:organisation", "Value": "walsall-council"}])
        create_audit_table(boto3.client("dynamodb"), "audit")
        args = argparse.Namespace(email="ig@walsall.example", group="auditors", user_pool_id=pool, audit_table="audit")
        assert run_grant(args) == 0
        assert "auditors" in capsys.readouterr().out
        groups = idp.admin_list_groups_for_user(UserPoolId=pool, Username="ig@walsall.example")["Groups"]
        assert [g["GroupName"] for g in groups] == ["auditors"]
        now = dt.datetime.now(dt.UTC)
        events = AuditStore("audit").query(organisation="walsall-council", since=now - dt.timedelta(minutes=5),
                                           until=now + dt.timedelta(minutes=1)).events
        assert len(events) == 1 and '"grant": "auditors"' in (events[0].detail or "")
        missing = argparse.Namespace(email="nobody@walsall.example", group="auditors", user_pool_id=pool,
                                     audit_table="audit")
        assert run_grant(missing) == 1
