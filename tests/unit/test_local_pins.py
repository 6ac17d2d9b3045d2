"""The local stack's pinned SDK and moto understand each other for every service the template
provisions that changed protocol lately (a fresh clone resolved botocore 1.44.18, whose Athena
speaks rest-json, which moto 5.2.5 answers 404: `mast local` could not start)."""

from __future__ import annotations

import os

import boto3
from moto import mock_aws


def test_moto_creates_an_athena_workgroup_with_the_pinned_sdk() -> None:
    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            athena = boto3.client("athena")
            athena.create_work_group(Name="mast-test-audit")
            assert [w["Name"] for w in athena.list_work_groups()["WorkGroups"]].count("mast-test-audit") == 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
