"""The local stack's IAM check of the index's tables: a function reaches them only as its role allows.

The index is the one set of tables the template cannot name one by one: a rebuild imports each
version into a table of its own (``<IndexTable>-<version>``, :mod:`mast.index.imported`), and the
roles that touch the index are limited to the index's name prefix. moto accepts every request, so
the local stack holds the functions to their roles here: each function's environment signs with an
access key of its own (:func:`function_access_key`), and every DynamoDB call naming a table with the
index's name prefix, made with a function's key, is evaluated (:mod:`infra.local.iam`) against that
function's role policies from the template; a call the role does not allow is refused as DynamoDB
refuses it (``AccessDeniedException``), and reaches moto not at all. Calls with any other key (the
stack itself, tests, the operator's command line) pass, as the account's administrator's would.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from infra.local.faults import read_body, tables_named
from infra.local.iam import PolicyEvaluator

_DYNAMODB_TARGET = "DynamoDB_20120810."
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
#: the prefix of a local function's access key (the rest is its name)
KEY_PREFIX = "LOCALFN"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def function_access_key(function_name: str) -> str:
    """The access key a local function's environment signs with (its name, so its role is found)."""
    return f"{KEY_PREFIX}{function_name}"


def _dynamodb_statements(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The statements of ``documents`` that can apply to a DynamoDB action (only those are evaluated
    here, so a construct the evaluator lacks elsewhere in a role, e.g. an SES condition, is not met)."""

    def concerns(statement: Mapping[str, Any]) -> bool:
        if "NotAction" in statement:
            return True
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        return any(a == "*" or str(a).lower().startswith("dynamodb:") for a in actions)

    statements = []
    for document in documents:
        raw = document.get("Statement", [])
        statements.extend(s for s in ([raw] if isinstance(raw, Mapping) else raw) if concerns(s))
    return [{"Version": "2012-10-17", "Statement": statements}]


class IndexAccess:
    """Which function may do what on the index's tables (known once the stack is provisioned)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prefix: str | None = None
        self._arn_base = ""
        self._roles: dict[str, PolicyEvaluator] = {}

    def configure(self, index_table: str, region: str, account: str,
                  function_policies: Mapping[str, list[dict[str, Any]]]) -> None:
        """``function_policies``: each function's name and its role's policy documents."""
        with self._lock:
            self._prefix = index_table
            self._arn_base = f"arn:aws:dynamodb:{region}:{account}:table/"
            self._roles = {function_access_key(name): PolicyEvaluator(_dynamodb_statements(documents))
                           for name, documents in function_policies.items()}

    def denial(self, target: str, body: bytes, authorization: str) -> str | None:
        """Why a DynamoDB call is refused (None: it is not): a function's call on an index table its
        role does not allow."""
        found = _CREDENTIAL.search(authorization or "")
        with self._lock:
            prefix, base = self._prefix, self._arn_base
            role = self._roles.get(found.group(1)) if found else None
        if prefix is None or role is None or not target.startswith(_DYNAMODB_TARGET):
            return None
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return None
        action = f"dynamodb:{target.removeprefix(_DYNAMODB_TARGET)}"
        resources = [f"{base}{table}" for table in tables_named(request)]
        created = (request.get("TableCreationParameters") or {}).get("TableName")
        if isinstance(created, str):  # ImportTable names the table it makes here
            resources.append(f"{base}{created}")
        if isinstance(request.get("ImportArn"), str):  # DescribeImport: the import's own ARN
            resources.append(request["ImportArn"])
        for resource in resources:
            table = resource.removeprefix(base).split("/", 1)[0]
            if (table == prefix or table.startswith(f"{prefix}-")) and not role.allows(action, resource):
                return f"{found.group(1) if found else ''} is not authorized to perform: {action} on resource: {resource}"
        return None


def with_index_access(app: WsgiApp, access: IndexAccess) -> WsgiApp:
    """Wrap moto's WSGI app: refuse a function's call on an index table its role does not allow."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if target.startswith(_DYNAMODB_TARGET) and KEY_PREFIX in authorization:
            body = read_body(environ)
            reason = access.denial(target, body, authorization)
            if reason is not None:
                data = json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException",
                                   "message": f"User: {reason}"}).encode()
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0"),
                                                   ("Content-Length", str(len(data)))])
                return [data]
        return app(environ, start_response)

    return application
