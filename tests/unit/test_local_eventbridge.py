"""The local stack's EventBridge: a scheduled rule matches no event, as on AWS (moto's empty pattern
matched every event, then failed on the schedule's Lambda target with a 500)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from infra.local.moto_fixes import keep_scheduled_rules_off_the_event_bus


@pytest.fixture
def aws() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"})
    try:
        with mock_aws():
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_an_upload_event_reaches_its_queue_once_and_the_daily_schedule_not_at_all(aws: None) -> None:
    keep_scheduled_rules_off_the_event_bus()
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName="ingest")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="upload", EventPattern=json.dumps({"source": ["aws.transfer"]}))
    events.put_targets(Rule="upload", Targets=[{"Id": "q", "Arn": arn}])
    events.put_rule(Name="daily", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="daily", Targets=[{"Id": "f", "Arn": "arn:aws:lambda:eu-west-2:123456789012:function:f"}])
    reply = events.put_events(Entries=[{"Source": "aws.transfer", "DetailType": "SFTP Server File Upload Completed",
                                        "Detail": "{}"}])
    assert reply["FailedEntryCount"] == 0
    assert len(sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])) == 1
