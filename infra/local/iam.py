"""A small IAM policy evaluator for the local stack.

The local stack has no IAM: moto accepts every request. Yet the promise that "each SFTP user's
role reaches only its own prefix" (and that `reports/` is read-only to partners) lives in the
role policies of `template.yaml`, so the local SFTP gateway evaluates those very documents before
every S3 action it takes on a user's behalf. A wrong policy therefore fails locally too.

Only what those policies need is supported. Anything else -- an unknown condition operator, a
statement key we do not understand -- raises ValueError naming it, because silently treating an
unsupported construct as "matches" or "does not match" would make the local stack lie about
access.

Semantics follow the IAM evaluation logic for a single identity: an explicit Deny in any statement
wins, otherwise any Allow grants, otherwise the request is implicitly denied. `Principal` is
ignored (the documents are evaluated for the one principal making the request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

__all__ = ["PolicyEvaluator"]

_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal"}
)

# IAM policy variables such as ${aws:username} or ${transfer:HomeFolder}; ${*}, ${?} and ${$}
# are the documented escapes for the literal characters.
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compile an IAM wildcard pattern: '*' is any run of characters, '?' exactly one."""
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _as_list(value: Any, what: str) -> list[str]:
    """Policy elements may be one string or a list of them; booleans appear in Bool conditions."""
    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in values:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            out.append(str(item))
        else:
            raise ValueError(f"{what}: unsupported value {item!r} (intrinsics must be resolved first)")
    return out


def _substitute(text: str, context: Mapping[str, str]) -> str:
    """Replace ${key} policy variables from the (lower-cased) request context.

    A variable the context does not carry raises: IAM would make the statement not match, but here
    that almost always means the caller forgot to provide it, and failing closed silently would
    hide the mistake.
    """
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _ESCAPES:
            return _ESCAPES[name]
        try:
            return context[name.lower()]
        except KeyError:
            raise ValueError(f"policy variable ${{{name}}} is not in the request context") from None

    return _VARIABLE.sub(replace, text)


def _string_equals(value: str, pattern: str) -> bool:
    return value == pattern


def _string_like(value: str, pattern: str) -> bool:
    return _wildcard(pattern, False).fullmatch(value) is not None


def _bool_equals(value: str, pattern: str) -> bool:
    return value.lower() == pattern.lower()


# operator -> (comparison, negated). A negated operator matches when no value matches.
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (_string_equals, False),
    "stringnotequals": (_string_equals, True),
    "stringlike": (_string_like, False),
    "stringnotlike": (_string_like, True),
    "bool": (_bool_equals, False),
}


@dataclass(frozen=True)
class _Condition:
    """One operator/key/values triple from a Condition block, parsed once."""

    operator: str  # as written, for messages
    compare: Callable[[str, str], bool]
    negated: bool
    if_exists: bool
    for_all_values: bool
    key: str  # lower-cased: condition keys are case-insensitive
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, str]) -> bool:
        value = context.get(self.key)
        if value is None:
            # Absent key: IfExists and ForAllValues are vacuously true; a negated operator is true
            # (nothing equals the pattern); a positive one is false.
            return self.if_exists or self.for_all_values or self.negated
        matched = any(self.compare(value, _substitute(p, context)) for p in self.values)
        return not matched if self.negated else matched


def _parse_conditions(block: Any) -> tuple[_Condition, ...]:
    if block is None:
        return ()
    if not isinstance(block, Mapping):
        raise ValueError(f"Condition must be a mapping, got {block!r}")
    conditions: list[_Condition] = []
    for operator, clauses in block.items():
        name = operator
        for_all = False
        if name.lower().startswith("foranyvalue:"):
            name = name.split(":", 1)[1]  # our context values are single-valued: same as plain
        elif name.lower().startswith("forallvalues:"):
            name, for_all = name.split(":", 1)[1], True
        if_exists = name.lower().endswith("ifexists")
        base = name[: -len("IfExists")] if if_exists else name
        if base.lower() not in _OPERATORS:
            raise ValueError(f"unsupported IAM condition operator {operator!r}")
        compare, negated = _OPERATORS[base.lower()]
        if not isinstance(clauses, Mapping):
            raise ValueError(f"Condition {operator!r} must map keys to values, got {clauses!r}")
        for key, values in clauses.items():
            conditions.append(
                _Condition(
                    operator=operator,
                    compare=compare,
                    negated=negated,
                    if_exists=if_exists,
                    for_all_values=for_all,
                    key=key.lower(),
                    values=tuple(_as_list(values, f"Condition {operator} {key}")),
                )
            )
    return tuple(conditions)


@dataclass(frozen=True)
class _Statement:
    """A statement reduced to what evaluation needs; parsed (and validated) up front."""

    allow: bool
    actions: tuple[str, ...]
    actions_negated: bool
    resources: tuple[str, ...]
    resources_negated: bool
    conditions: tuple[_Condition, ...]

    @classmethod
    def parse(cls, raw: Any) -> _Statement:
        if not isinstance(raw, Mapping):
            raise ValueError(f"policy statement must be a mapping, got {raw!r}")
        unknown = set(raw) - _STATEMENT_KEYS
        if unknown:
            raise ValueError(f"unsupported IAM statement element(s): {', '.join(sorted(unknown))}")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise ValueError(f"statement Effect must be Allow or Deny, got {effect!r}")
        actions, actions_negated = cls._pair(raw, "Action", "NotAction")
        resources, resources_negated = cls._pair(raw, "Resource", "NotResource")
        return cls(
            allow=effect == "Allow",
            actions=actions,
            actions_negated=actions_negated,
            resources=resources,
            resources_negated=resources_negated,
            conditions=_parse_conditions(raw.get("Condition")),
        )

    @staticmethod
    def _pair(raw: Mapping[str, Any], positive: str, negative: str) -> tuple[tuple[str, ...], bool]:
        if (positive in raw) == (negative in raw):
            raise ValueError(f"statement needs exactly one of {positive} or {negative}: {dict(raw)!r}")
        key = positive if positive in raw else negative
        return tuple(_as_list(raw[key], key)), key == negative

    def applies(self, action: str, resource: str, context: Mapping[str, str]) -> bool:
        action_hit = any(_wildcard(p, True).fullmatch(action) for p in self.actions)
        if action_hit == self.actions_negated:
            return False
        resource_hit = any(
            _wildcard(_substitute(p, context), False).fullmatch(resource) for p in self.resources
        )
        if resource_hit == self.resources_negated:
            return False
        return all(condition.holds(context) for condition in self.conditions)


Decision = Literal["allow", "deny", "none"]


class PolicyEvaluator:
    """Evaluates IAM policy documents (already resolved: no CloudFormation intrinsics).

    Documents are parsed when the evaluator is built, so an unsupported construct (for example a
    NumericLessThan condition) is reported at once rather than on the first request that reaches it.
    """

    def __init__(self, documents: list[dict]):
        self._statements: tuple[_Statement, ...] = tuple(
            _Statement.parse(raw) for document in documents for raw in self._statements_of(document)
        )

    @staticmethod
    def _statements_of(document: Mapping[str, Any]) -> Iterable[Any]:
        if not isinstance(document, Mapping) or "Statement" not in document:
            raise ValueError(f"policy document must be a mapping with a Statement: {document!r}")
        statements = document["Statement"]
        return statements if isinstance(statements, list) else [statements]

    def allows(self, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        """Explicit Deny wins, then any Allow, else implicit deny.

        Supports Action/NotAction (string or list, '*' and '?' wildcards, case-insensitive),
        Resource/NotResource with wildcards (case-sensitive, as ARNs are), ${...} policy variables
        taken from `context`, and the condition operators StringEquals, StringNotEquals, StringLike,
        StringNotLike and Bool (e.g. aws:SecureTransport), each optionally with an IfExists suffix
        and a ForAnyValue:/ForAllValues: prefix. Unknown operators raise ValueError naming them
        (already when the evaluator is built); so does a ${variable} missing from `context`.
        """
        return self.decision(action, resource, context) == "allow"

    def decision(self, action: str, resource: str, context: dict[str, str] | None = None) -> Decision:
        """``deny`` if a Deny applies, else ``allow`` if an Allow applies, else ``none``.

        A resource policy needs the three-way answer: its silence leaves the caller's own
        policies to decide, which an explicit deny does not.
        """
        ctx = {key.lower(): str(value) for key, value in (context or {}).items()}
        allowed = False
        for statement in self._statements:
            if statement.applies(action, resource, ctx):
                if not statement.allow:
                    return "deny"
                allowed = True
        return "allow" if allowed else "none"
