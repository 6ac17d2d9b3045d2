"""`mast bench search`: how long a practitioner waits for a search, beside a reference in the same run.

Two measurements over generated partner extracts (``mast generate``, parsed by the feed
definitions) and queries made from their records with a practitioner's slips (a nickname, day and
month exchanged, a missing given name, a typo in the family name):

* **handler**: ``POST /api/search`` through the search function's own handler (declaration,
  validation, index reads through :class:`mast.index.IndexReader`, scoring, audit write, search
  kept) against an index written by :class:`mast.index.writer.IndexWriter` into DynamoDB on moto
  (in process, with the local stack's corrections to moto applied: the same boto3 calls as the
  local stack's moto server, without its HTTPS hop);
* **scoring**: :func:`mast.linkage.scorer.score_query` alone, on the candidates the lookup keys
  give, against a larger population held in memory.

The reference beside each is :meth:`mast.linkage.link.Linker.search` on the same records and
queries (the batch linker's in-memory search: no storage, no audit). Figures are medians and p95s
and their ratios to the reference; nothing is asserted. Defaults are small enough for a laptop
(10,000 records for the handler, 100,000 for scoring); ``--full`` is the issue's scale (100,000 and
1,000,000).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "bench-data" / "results"
# It runs the deployed handler (functions/search) on the local stack's moto, so it imports infra/.
SALT = "bench-salt"


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="search handler and scoring latency, beside Linker.search")
    parser.add_argument("--records", type=int, default=10_000, help="records in the index the handler reads")
    parser.add_argument("--scoring-records", type=int, default=100_000, help="records for the scoring step")
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--count-queries", type=int, default=200,
                        help="requests of each kind whose DynamoDB calls are counted")
    parser.add_argument("--full", action="store_true", help="the issue's scale: 100,000 and 1,000,000 records")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.set_defaults(func=run)


# ------------------------------------------------------------------------------------------ data
def _records(n: int) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    from tools.bench.generated import build

    table = pq.read_table(build(n))
    rows = table.slice(0, min(n, table.num_rows)).to_pylist()
    today = dt.date.today()
    rng = random.Random(7)
    for row in rows:
        for key in ("dob", "record_date"):
            if isinstance(row.get(key), dt.date):
                row[key] = row[key].isoformat()
        row["record_date"] = (today - dt.timedelta(days=rng.randint(0, 400))).isoformat()
    return rows


def _queries(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Queries from records, as a practitioner types them: nickname, swapped date, no given name, a typo."""
    from mast.normalise.names import nickname_groups, nickname_names

    groups: dict[int, list[str]] = {}
    for name in nickname_names():
        for g in nickname_groups(name):
            groups.setdefault(g, []).append(name)
    rng = random.Random(11)
    usable = [r for r in rows if r.get("family_name") and r.get("given_name") and r.get("dob")]
    out = []
    for i in range(n):
        r = rng.choice(usable)
        born = dt.date.fromisoformat(r["dob"])
        q: dict[str, Any] = {"given_name": r["given_name"], "family_name": r["family_name"],
                             "dob": {"day": born.day, "month": born.month, "year": born.year}}
        kind = i % 4
        if kind == 0:
            nicks = [x for g in nickname_groups(r["given_name"].upper()) for x in groups.get(g, []) if x != r["given_name"].upper()]
            if nicks:
                q["given_name"] = rng.choice(nicks).title()
        elif kind == 1 and born.day <= 12:
            q["dob"] = {"day": born.month, "month": born.day, "year": born.year}
        elif kind == 2:
            q.pop("given_name")
        else:
            name = q["family_name"]
            j = rng.randrange(1, max(len(name), 2))
            q["family_name"] = name[:j] + rng.choice("aeiourstln") + name[j + 1:]
        out.append(q)
    return out


def _linkage_query(q: dict[str, Any]) -> dict[str, Any]:
    d = q.get("dob")
    dob = dt.date(d["year"], d["month"], d["day"]).isoformat() if d else None
    return {k: v for k, v in {**q, "dob": dob}.items()}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": statistics.median(ordered) * 1000, "p95": p95 * 1000}


def _timed(fn: Callable[[Any], Any], items: list[Any]) -> list[float]:
    samples = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - started)
    return samples


def _linker(rows: list[dict[str, Any]]) -> Any:
    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.table import prepare_records

    return Linker.build(prepare_records(rows), options=LinkOptions(key_salt=SALT))


# ------------------------------------------------------------------------------------------ handler
def _deployment(rows: list[dict[str, Any]], linker: Any) -> Iterator[Any]:
    """The search function against DynamoDB on moto holding ``rows`` as the live index."""
    import boto3
    from moto import mock_aws

    from mast.index import layout
    from mast.index.address_keys import address_key_strings, record_address_keys
    from mast.index.layout import IndexedRecord
    from mast.index.salt import forget_cached_salts
    from mast.index.writer import IndexWriter
    from mast.linkage.keys import LOOKUP_KEYS, key_strings
    from mast.linkage.scorer import term_frequencies
    from mast.records import PartnerContact

    os.environ.update({"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "POWERTOOLS_LOG_LEVEL": "ERROR"})
    from infra.local.moto_fixes import fix_dynamodb_query_by_partition

    fix_dynamodb_query_by_partition()
    with mock_aws():
        ddb = boto3.client("dynamodb")
        for name in ("index", "audit", "control"):
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}])
        arn = boto3.client("secretsmanager").create_secret(Name="salt", SecretString=SALT)["ARN"]
        os.environ.update({"INDEX_TABLE": "index", "AUDIT_TABLE": "audit", "CONTROL_TABLE": "control",
                           "KEY_SALT_SECRET_ARN": arn})
        forget_cached_salts()
        writer = IndexWriter("index", ddb)
        version = writer.begin_version(linker.model)
        people, addresses = linker.person_ids(), linker.address_ids()
        address_keys = record_address_keys(linker.table, SALT)
        indexed: list[tuple[IndexedRecord, list[str]]] = []
        for i, row in enumerate(rows):
            record = IndexedRecord(
                record_id=row["record_id"], partner=row["source"], feed=row["source"],
                source_record_id=row["record_id"], record_date=row["record_date"], given_name=row.get("given_name"),
                middle_name=row.get("middle_name"), family_name=row.get("family_name"), dob=row.get("dob"),
                address_line1=row.get("address_line1"), address_line2=row.get("address_line2"),
                postcode=row.get("postcode"), contact=PartnerContact(team="bench"), ingest_id="bench",
                person_id=str(people[i]), address_id=str(addresses[i]), term_frequencies=term_frequencies(linker.table, i))
            # the link's keys and the address-search keys, as the match run writes them
            indexed.append((record, key_strings(linker.keys[i], LOOKUP_KEYS) + address_key_strings(address_keys[i])))
        writer.put(layout.version_items(version, indexed))  # one item per record, key, person and address
        writer.switch(version, None)
        yield _load_handler()


def _load_handler() -> Any:
    """The search function's handler, loaded from the checkout by path, as the local stack loads it."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "functions" / "search" / "app.py"
    spec = importlib.util.spec_from_file_location("bench_search_app", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _handler_event(body: dict[str, Any] | None, *, method: str = "POST", resource: str = "/search",
                   path: str = "/search", query: dict[str, str] | None = None) -> dict[str, Any]:
    claims = {"sub": "bench", "token_use": "id", "custom:organisation": "walsall-council",
              "cognito:groups": "practitioners", "email": "bench@example.test", "email_verified": "true"}
    return {"resource": resource, "path": path, "httpMethod": method, "headers": {}, "multiValueHeaders": {},
            "queryStringParameters": query, "pathParameters": None, "isBase64Encoded": False,
            "requestContext": {"requestId": "bench", "stage": "api", "authorizer": {"claims": claims}},
            "body": None if body is None else json.dumps(body)}


def _address_queries(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Address searches as a practitioner types them: the first line and the postcode of a record."""
    rng = random.Random(13)
    usable = [r for r in rows if r.get("address_line1") and r.get("postcode")]
    return [{"address_line1": r["address_line1"], "postcode": r["postcode"]}
            for r in (rng.choice(usable) for _ in range(n))]


def _calls_per_request(app: ModuleType, queries: list[dict[str, Any]], addresses: list[dict[str, Any]],
                       declaration: dict[str, str]) -> dict[str, dict[str, float]]:
    """DynamoDB calls, round trips in sequence, read and write units of each kind of request, as
    medians over the requests (counted on the client: :class:`tools.bench.daily.Calls`)."""
    from tools.bench.daily import Calls

    calls = Calls()
    # the handler's one DynamoDB client, made at cold start; 10 ms a call, so that calls overlapped on
    # threads overlap here as they would on DynamoDB
    calls.attach(app._client("dynamodb").meta, latency=0.01)
    samples: dict[str, list[dict[str, Any]]] = {"person search": [], "person view": [], "address search": []}

    def measured(kind: str, event: dict[str, Any]) -> dict[str, Any]:
        before = calls.result()
        reply = app.handler(event, _Context())
        after = calls.result()
        samples[kind].append({k: after[k] - before[k] for k in
                              ("calls_total", "round_trips", "read_units", "write_units")})
        return reply

    for q in queries:
        reply = measured("person search", _handler_event({"declaration": declaration, "query": q}))
        body = json.loads(reply["body"]) if reply.get("statusCode") == 200 else {}
        if body.get("people"):
            person = body["people"][0]["person_id"]
            measured("person view", _handler_event(None, method="GET", resource="/people/{id}",
                                                   path=f"/people/{person}", query={"search": body["search_id"]}))
    for q in addresses:
        measured("address search", _handler_event({"declaration": declaration, "query": q}))
    return {kind: {k: statistics.median(s[k] for s in rows) for k in rows[0]} if rows else {}
            for kind, rows in samples.items()}


class _Context:
    function_name = "SearchFunction"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:SearchFunction"
    aws_request_id = "bench"


# ------------------------------------------------------------------------------------------ run
def run(args: argparse.Namespace) -> int:
    handler_n = 100_000 if args.full else args.records
    scoring_n = 1_000_000 if args.full else args.scoring_records
    lines = [f"# mast bench search ({dt.date.today().isoformat()}, {platform.machine()}, "
             f"Python {platform.python_version()}, {os.cpu_count()} cores)", ""]

    # handler, beside Linker.search on the same records
    rows = _records(handler_n)
    queries = _queries(rows, args.queries)
    linker = _linker(rows)
    reference = _percentiles(_timed(lambda q: linker.search(_linkage_query(q), limit=50), queries))
    declaration = {"gateway": "ca1989-s47", "purpose": "bench"}
    statuses: dict[int, int] = {}
    for app in _deployment(rows, linker):
        def call(q: dict[str, Any], app: ModuleType = app) -> None:
            status = app.handler(_handler_event({"declaration": declaration, "query": q}), _Context())["statusCode"]
            statuses[status] = statuses.get(status, 0) + 1

        call(queries[0])  # cold start (model load, salt) is not a search's latency
        statuses.clear()
        handler = _percentiles(_timed(call, queries))
        per_request = _calls_per_request(app, queries[: args.count_queries],
                                         _address_queries(rows, args.count_queries), declaration)
    lines += [f"## Search handler: {len(rows):,} records, {len(queries):,} queries (statuses {statuses})", "",
              "| | p50 ms | p95 ms |", "|---|---|---|",
              f"| POST /api/search handler (moto DynamoDB, audit, search kept) | {handler['p50']:.2f} | {handler['p95']:.2f} |",
              f"| reference: Linker.search in memory | {reference['p50']:.2f} | {reference['p95']:.2f} |",
              f"| ratio handler / reference | {handler['p50'] / reference['p50']:.1f} | "
              f"{handler['p95'] / reference['p95']:.1f} |", ""]
    lines += ["### DynamoDB per request (medians; counted on the client)", "",
              "| request | calls | round trips in sequence | read units | write units |", "|---|---|---|---|---|"]
    lines += [f"| {kind} | {m.get('calls_total', 0):g} | {m.get('round_trips', 0):g} | {m.get('read_units', 0):g} | "
              f"{m.get('write_units', 0):g} |" for kind, m in per_request.items()]
    lines += ["", "Each round trip in sequence costs a caller a few milliseconds on DynamoDB (single-digit ms per "
              "request: https://aws.amazon.com/dynamodb/); read units are eventually consistent (a unit per 8 KB, "
              "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).", ""]
    print("\n".join(lines[-15:]), flush=True)
    del linker, rows

    # scoring alone, on a larger population in memory
    from mast.linkage.link import candidate_rows
    from mast.linkage.scorer import score_query, term_frequencies

    rows = _records(scoring_n)
    queries = _queries(rows, args.queries)
    linker = _linker(rows)
    columns = ("record_id", "source", "given_name", "middle_name", "family_name", "dob", "sex", "address_line1",
               "address_line2", "postcode", "nhs_number", "uprn")
    prepared = []
    for q in queries:
        lq = _linkage_query(q)
        cand = candidate_rows(linker, lq).tolist()
        prepared.append((lq, [{c: rows[i].get(c) for c in columns} for i in cand],
                         [term_frequencies(linker.table, i) for i in cand]))
    model = linker.model
    scoring = _percentiles(_timed(lambda p: score_query(model, p[0], p[1], p[2]), prepared))
    reference = _percentiles(_timed(lambda q: linker.search(_linkage_query(q), limit=50), queries))
    mean_candidates = statistics.mean(len(p[1]) for p in prepared)
    lines += [f"## Scoring step alone: {len(rows):,} records, {len(queries):,} queries "
              f"({mean_candidates:.0f} candidates per query on average)", "",
              "| | p50 ms | p95 ms |", "|---|---|---|",
              f"| score_query (candidates given) | {scoring['p50']:.2f} | {scoring['p95']:.2f} |",
              f"| reference: Linker.search in memory (lookup + scoring) | {reference['p50']:.2f} | {reference['p95']:.2f} |",
              f"| ratio score_query / reference | {scoring['p50'] / reference['p50']:.2f} | "
              f"{scoring['p95'] / reference['p95']:.2f} |", ""]
    print("\n".join(lines[-8:]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written: {args.out / 'search.md'}")
    return 0
