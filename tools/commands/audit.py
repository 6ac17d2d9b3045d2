"""`mast audit …`: the auditors' saved Athena queries, run locally in DuckDB over the audit Parquet.

``mast audit list`` names the queries (from ``template.yaml``); ``mast audit query NAME --param
from_date=2026-11-01 --param to_date=2026-11-30 --audit-dir DIR`` runs one over a copy of the audit
bucket, or ``--from-stack`` copies the audit bucket first (AWS credentials, or the local stack
through ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

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
    query.add_argument("--bucket", default=None, help="the audit bucket, with --from-stack")
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
            if not bucket:
                print("--from-stack needs the audit bucket: --bucket NAME or AUDIT_BUCKET", file=sys.stderr)
                return 2
            audit_dir = Path(scratch)
            _copy_bucket(bucket, audit_dir)
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


def _copy_bucket(bucket: str, target: Path) -> None:
    import boto3

    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="audit/"):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".parquet"):
                continue
            path = target / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
