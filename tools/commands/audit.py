"""`mast audit …`: the auditors' saved Athena queries, run locally in DuckDB over the audit Parquet.

``mast audit list`` names the queries (from ``template.yaml``); ``mast audit query NAME --param
from_date=2026-11-01 --param to_date=2026-11-30 --audit-dir DIR`` runs one over a copy of the audit
bucket, or ``--from-stack`` copies the audit bucket first: the running local stack's (found from its
state folder, ``--state-dir`` and ``--aws-port`` as given to ``mast local``, nothing to set by hand),
or, with ``--bucket NAME`` (or ``AUDIT_BUCKET``), that bucket with the AWS credentials in use.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mast.audit.queries import NamedQuery


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("audit", help="run the auditors' saved queries over the audit Parquet (DuckDB)")
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the saved queries and their parameters")
    listing.add_argument("--template", type=Path, default=None)
    listing.set_defaults(func=list_queries)

    query = actions.add_parser("query", help="run one saved query")
    query.add_argument("name", metavar="NAME")
    query.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="a query parameter, e.g. from_date=2026-11-01 (repeat for each)")
    source = query.add_mutually_exclusive_group(required=True)
    source.add_argument("--audit-dir", type=Path, help="a folder holding the audit Parquet (event_date=… folders)")
    source.add_argument("--from-stack", action="store_true",
                        help="copy the audit bucket (AUDIT_BUCKET, or --bucket) with AWS credentials first")
    query.add_argument("--bucket", default=None,
                       help="with --from-stack: the audit bucket on AWS (default AUDIT_BUCKET; "
                            "neither: the local stack)")
    query.add_argument("--aws-port", type=int, default=4566, help="with --from-stack: the local stack's --aws-port")
    query.add_argument("--state-dir", type=Path, default=None,
                       help="with --from-stack: the local stack's --state-dir (default .local-stack/)")
    query.add_argument("--template", type=Path, default=None)
    query.set_defaults(func=run)


def _queries(template: Path | None) -> dict[str, NamedQuery]:
    from mast.audit.queries import DEFAULT_TEMPLATE, named_queries

    return named_queries(template or DEFAULT_TEMPLATE)


def list_queries(args: argparse.Namespace) -> int:
    for query in _queries(args.template).values():
        print(f"{query.name}  ({', '.join(query.parameters) or 'no parameters'})")
        print(f"    {query.description}")
    return 0


def run(args: argparse.Namespace) -> int:
    from mast.audit.queries import run_query

    queries = _queries(args.template)
    query = queries.get(args.name)
    if query is None:
        print(f"no saved query named {args.name!r}; there are: {', '.join(sorted(queries))}", file=sys.stderr)
        return 2
    arguments: dict[str, str] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"--param {item!r}: write NAME=VALUE", file=sys.stderr)
            return 2
        arguments[name.strip()] = value
    with tempfile.TemporaryDirectory(prefix="mast-audit-") as scratch:
        audit_dir = args.audit_dir
        if args.from_stack:
            bucket = args.bucket or os.environ.get("AUDIT_BUCKET")
            audit_dir = Path(scratch)
            if bucket:
                _copy_bucket(_s3(None), bucket, audit_dir)
            else:
                local = _local_stack_s3(args)
                if isinstance(local, str):
                    print(local, file=sys.stderr)
                    return 2
                s3, bucket = local
                _copy_bucket(s3, bucket, audit_dir)
        elif not audit_dir.is_dir():
            print(f"--audit-dir {audit_dir}: no such folder", file=sys.stderr)
            return 2
        try:
            columns, rows = run_query(query, audit_dir, arguments)
        except ValueError as error:
            print(str(error), file=sys.stderr)
            return 2
    # for people to open in a spreadsheet: formula-leading cells neutralised (mast.schema.spreadsheet_text)
    from mast.schema import spreadsheet_text

    writer = csv.writer(sys.stdout)
    writer.writerow([spreadsheet_text(c) for c in columns])
    writer.writerows([spreadsheet_text(v) for v in row] for row in rows)
    return 0


def _s3(endpoint: tuple[str, Path] | None) -> Any:
    import boto3

    if endpoint is None:
        return boto3.client("s3")
    url, ca_bundle = endpoint
    return boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                 region_name="eu-west-2").client("s3", endpoint_url=url, verify=str(ca_bundle))


def _local_stack_s3(args: argparse.Namespace) -> tuple[Any, str] | str:
    """The running local stack's S3 client and audit bucket, or a message saying what is missing."""
    from infra.local.stack import LocalOptions

    options = LocalOptions(aws_port=args.aws_port)
    if args.state_dir:
        options.state_dir = args.state_dir
    if not options.aws_ca_bundle.exists():
        return (f"--from-stack: no local stack state in {options.state_dir} (start it with `mast local`, or give "
                "its --state-dir); for AWS give the audit bucket with --bucket NAME or AUDIT_BUCKET")
    s3 = _s3((options.aws_endpoint, options.aws_ca_bundle))
    try:
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    except Exception as error:  # noqa: BLE001 - any failure: the stack is not answering
        return (f"--from-stack: no local stack answers on port {args.aws_port} ({type(error).__name__}); "
                "start `mast local`")
    bucket = next((n for n in names if "-audit-" in n), None)
    if bucket is None:
        return "--from-stack: the local stack has no audit bucket"
    return s3, bucket


def _copy_bucket(s3: Any, bucket: str, target: Path) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="audit/"):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".parquet"):
                continue
            path = target / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
