"""The auditors' saved queries: Athena named queries in ``template.yaml``, run locally in DuckDB.

The template is the one source of the SQL: Athena runs it on AWS over the Glue ``audit`` table; the
``mast audit query`` command reads the very same text and runs it in DuckDB over the audit Parquet,
with a view called ``audit`` laid out like the Glue table (columns, then the ``event_date``
partition as text). The SQL is therefore written in the part of SQL both engines share:
``contains(array, x)``, ``hour(ts AT TIME ZONE 'Europe/London')`` over UTC instants,
``stddev_samp``, ``?`` parameters (Athena's execution parameters, DuckDB's prepared parameters).

A query's parameters are named, in order, in its description: ``… Parameters: from_date, to_date.``
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
_PARAMETERS = re.compile(r"Parameters:\s*([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)", re.IGNORECASE)


@dataclass(frozen=True)
class NamedQuery:
    """One saved audit query: its Athena name, what it answers, its SQL and its parameters."""

    name: str
    description: str
    sql: str
    parameters: tuple[str, ...]


class UnknownQuery(KeyError):
    """No named query of that name in the template."""


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref``, ``!Sub`` …) read as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    # a MappingNode here (scalars and sequences returned above); the stubs want it said by a cast
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


def named_queries(template: Path = DEFAULT_TEMPLATE) -> dict[str, NamedQuery]:
    """Every ``AWS::Athena::NamedQuery`` of the template, by its ``Name``."""
    with template.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a safe loader with tags as values
    queries: dict[str, NamedQuery] = {}
    for resource in (document.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Athena::NamedQuery":
            continue
        properties = resource["Properties"]
        description = str(properties.get("Description", ""))
        match = _PARAMETERS.search(description)
        parameters = tuple(p.strip() for p in match.group(1).split(",")) if match else ()
        sql = str(properties["QueryString"])
        if sql.count("?") != len(parameters):
            raise ValueError(f"named query {properties['Name']}: {sql.count('?')} placeholders, "
                             f"{len(parameters)} parameters named in its description")
        queries[str(properties["Name"])] = NamedQuery(str(properties["Name"]), description, sql, parameters)
    return queries


def audit_parquet_glob(audit_dir: Path) -> str:
    """The Parquet files under a copy of the audit bucket (or of its ``audit/`` folder)."""
    return str(audit_dir / "**" / "event_date=*" / "*.parquet")


def connect(audit_dir: Path) -> Any:
    """A DuckDB connection with an ``audit`` view over the Parquet, shaped like the Glue table."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    files = list(audit_dir.glob("**/event_date=*/*.parquet"))
    if files:
        pattern = audit_parquet_glob(audit_dir).replace("'", "''")
        connection.execute(
            "CREATE VIEW audit AS SELECT * FROM read_parquet("
            f"'{pattern}', hive_partitioning = true, hive_types = {{'event_date': VARCHAR}})"
        )
    else:
        # No audit yet: an empty view with the table's columns, so every query still runs.
        from mast.audit.export import events_table

        connection.register("audit_empty", events_table([]))
        connection.execute("CREATE VIEW audit AS SELECT *, CAST(NULL AS VARCHAR) AS event_date FROM audit_empty")
    return connection


def connect_events(events: Sequence[Any]) -> Any:
    """A DuckDB connection with an ``audit`` view over ``events`` (audit events read from the hot copy,
    the audit table), shaped like the Glue table: the audit function runs the saved queries this way,
    on AWS and on the local stack alike, with nothing but the table it already reads."""
    import duckdb

    from mast.audit.export import events_table

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("audit_events", events_table(events))
    connection.execute("CREATE VIEW audit AS SELECT *, strftime(event_time AT TIME ZONE 'UTC', '%Y-%m-%d') "
                       "AS event_date FROM audit_events")
    return connection


def run_query(
    query: NamedQuery, audit_dir: Path | Any, arguments: Mapping[str, str] | Sequence[str]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``query`` over the Parquet under ``audit_dir`` (or an open connection with an ``audit``
    view, from :func:`connect_events`); returns the column names and rows."""
    if isinstance(arguments, Mapping):
        missing = [p for p in query.parameters if p not in arguments]
        unknown = [a for a in arguments if a not in query.parameters]
        if missing or unknown:
            raise ValueError(_parameter_message(query, missing, unknown))
        values = [arguments[p] for p in query.parameters]
    else:
        values = list(arguments)
        if len(values) != len(query.parameters):
            raise ValueError(_parameter_message(query, list(query.parameters[len(values):]), []))
    connection = connect(audit_dir) if isinstance(audit_dir, Path) else audit_dir
    try:
        cursor = connection.execute(query.sql, values)
        columns = [d[0] for d in cursor.description]
        return columns, [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def _parameter_message(query: NamedQuery, missing: Sequence[str], unknown: Sequence[str]) -> str:
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if unknown:
        parts.append("unknown " + ", ".join(unknown))
    wanted = ", ".join(query.parameters) or "none"
    return f"{query.name}: {'; '.join(parts)} (parameters: {wanted})"
