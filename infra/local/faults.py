"""Faults the local stack can be told to show: a DynamoDB table made unavailable, on demand.

MAST promises what happens when AWS fails: a search whose audit event cannot be written answers
503 and shows nothing. That promise has to be seen working through the real parts (the browser,
the API, the handler, boto3), so the local AWS can be told to refuse every call that names a
table, as DynamoDB does when a table is missing (``ResourceNotFoundException``, which boto3 does
not retry). Nothing in MAST's own code knows about this: the fault is in front of moto, where an
outage would be.

The switch is a JSON resource on the local AWS endpoint (HTTPS, 127.0.0.1 only)::

    GET  /_mast/faults                                   -> {"unavailable_tables": [...]}
    PUT  /_mast/faults  {"unavailable_tables": ["AuditTable"]}

A table is named by its logical id in ``template.yaml`` or by its physical name. A table made
unavailable takes with it every table named with its name as a prefix (``<name>-…``): the index's
versions, which a rebuild imports into tables of their own (``mast-local-index-<version>``), are
unavailable with ``IndexTable``, as an outage of the index would take them.
``mast local fault`` is the command-line way to set it.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

PATH = "/_mast/faults"
_DYNAMODB_TARGET = "DynamoDB_20120810."
_NOT_FOUND = {
    "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
    "message": "Requested resource not found (made unavailable by `mast local fault`)",
}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Faults:
    """Which tables are unavailable now; safe to read and change from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unavailable: set[str] = set()
        self._named: dict[str, str] = {}

    def name_tables(self, logical_to_physical: Mapping[str, str]) -> None:
        """Let callers name tables by the template's logical ids (known once provisioned)."""
        with self._lock:
            self._named = dict(logical_to_physical)

    def set_unavailable(self, tables: Iterable[str]) -> list[str]:
        """Make exactly ``tables`` unavailable; raises ``KeyError`` naming a table not known."""
        with self._lock:
            physical = set()
            for table in tables:
                if table in self._named:
                    physical.add(self._named[table])
                elif table in self._named.values():
                    physical.add(table)
                else:
                    raise KeyError(table)
            self._unavailable = physical
            return sorted(physical)

    def unavailable(self) -> list[str]:
        with self._lock:
            return sorted(self._unavailable)

    def refuses(self, target: str, body: bytes) -> bool:
        """Whether a DynamoDB call (its ``X-Amz-Target`` and JSON body) names an unavailable table."""
        with self._lock:
            if not self._unavailable or not target.startswith(_DYNAMODB_TARGET):
                return False
            unavailable = set(self._unavailable)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return False
        return any(table == name or table.startswith(f"{name}-")
                   for table in tables_named(request) for name in unavailable)


def tables_named(request: Mapping[str, Any]) -> Iterator[str]:
    """Every table a DynamoDB request names: single-table calls, batches and transactions."""
    if isinstance(request.get("TableName"), str):
        yield request["TableName"]
    yield from (request.get("RequestItems") or {}).keys()
    for item in request.get("TransactItems") or []:
        for operation in item.values():
            if isinstance(operation, dict) and isinstance(operation.get("TableName"), str):
                yield operation["TableName"]


def with_faults(app: WsgiApp, faults: Faults) -> WsgiApp:
    """Wrap moto's WSGI app: serve the switch, and refuse calls to unavailable tables."""

    def reply(start_response: StartResponse, status: str, payload: Mapping[str, Any], content_type: str) -> list[bytes]:
        data = json.dumps(payload).encode()
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
        return [data]

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH:
            method = environ.get("REQUEST_METHOD")
            if method == "PUT":
                try:
                    wanted = json.loads(read_body(environ) or b"{}").get("unavailable_tables", [])
                    if not isinstance(wanted, list):
                        raise ValueError("unavailable_tables must be a list of table names")
                    faults.set_unavailable(str(t) for t in wanted)
                except KeyError as unknown:
                    return reply(start_response, "400 Bad Request", {"message": f"no table {unknown.args[0]!r} in the local stack"}, "application/json")
                except (ValueError, AttributeError) as error:
                    return reply(start_response, "400 Bad Request", {"message": f"bad fault request: {error}"}, "application/json")
            elif method != "GET":
                return reply(start_response, "405 Method Not Allowed", {"message": "GET or PUT"}, "application/json")
            return reply(start_response, "200 OK", {"unavailable_tables": faults.unavailable()}, "application/json")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(_DYNAMODB_TARGET) and faults.unavailable():  # only DynamoDB calls are refused
            body = read_body(environ)
            if faults.refuses(target, body):
                return reply(start_response, "400 Bad Request", _NOT_FOUND, "application/x-amz-json-1.0")
        return app(environ, start_response)

    return application


def read_body(environ: dict[str, Any]) -> bytes:
    """A WSGI request's body, read once and put back for moto to read again (the local stack's
    middlewares that look at a DynamoDB request before moto answers it: faults and index access)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
    return body
