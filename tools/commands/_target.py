"""Where an operator's command acts: a deployed stack on AWS, or the running local stack.

Every command that can act on either takes the same four options (:func:`add_stack_target`) and
finds the stack's resources by the template's names through :class:`Stack`, so that `mast dlq`,
`mast feeds erase` and `mast alerts digest` cannot drift apart in how they are pointed somewhere.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the dead-letter queues' sources, by the name an operator uses
QUEUES = {"ingest": "ingest", "match": "match", "audit-export": "audit-export"}


def add_stack_target(parser: argparse.ArgumentParser) -> None:
    """``--environment`` (AWS) or ``--local`` with its ``--aws-port`` and ``--state-dir``."""
    parser.add_argument("--environment", default="prod", help="the stack's EnvironmentName (default prod)")
    parser.add_argument("--local", action="store_true", help="the running local stack (`mast local`)")
    parser.add_argument("--aws-port", type=int, default=4566, help="the local stack's --aws-port (default 4566)")
    parser.add_argument("--state-dir", type=Path, default=None, help="the local stack's --state-dir")


@dataclass
class Stack:
    """The deployment's queues, buckets and control table, by the template's names: on AWS with the
    usual credentials, or the running local stack (``--local``)."""

    session: Any
    environment: str
    account: str

    @classmethod
    def of(cls, args: argparse.Namespace) -> Stack:
        import os

        import boto3

        environment = args.environment
        if args.local:
            from infra.local import stack

            options = stack.LocalOptions(aws_port=args.aws_port)
            if args.state_dir:
                options.state_dir = args.state_dir
            os.environ.update(stack.aws_environment(options))
            environment = stack.ENVIRONMENT
        session = boto3.session.Session()
        return cls(session, environment, session.client("sts").get_caller_identity()["Account"])

    def name(self, what: str) -> str:
        return f"mast-{self.environment}-{what}"

    def dlq(self, queue: str) -> str:
        return self.name(f"{QUEUES[queue]}-dlq" + (".fifo" if queue == "match" else ""))

    def source(self, queue: str) -> str | None:
        return None if queue == "audit-export" else self.name(QUEUES[queue] + (".fifo" if queue == "match" else ""))

    def url(self, name: str) -> str:
        return str(self.session.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    @property
    def raw_bucket(self) -> str:
        return self.name(f"raw-{self.account}")

    @property
    def landing_bucket(self) -> str:
        return self.name(f"landing-{self.account}")

    @property
    def control_table(self) -> str:
        return self.name("control")
