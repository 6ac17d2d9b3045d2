"""Feed definitions: how one partner's extract maps onto the canonical record.

A definition is configuration (``infra/feeds/<feed id>.yaml``), not code, so that onboarding a
partner is a pull request to YAML that an operator can review. The same definition drives three
things, which is why it lists every column the partner sends in the partner's own order, with a
description and examples:

- parsing (:mod:`mast.feeds.parse`): which column holds which canonical field, in which format;
- the schema a partner's data lead builds the extract to (``mast feeds spec``);
- the synthetic generator (:mod:`tools.generate`), which writes each partner's file from it, so a
  generated extract always parses with its definition.

This module imports neither pyarrow nor numpy: the search function may read definitions.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter
from pathlib import Path
from typing import Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mast.config import Partnership, config_dir, load_partnership
from mast.records import PartnerContact, Sex

#: What a partner's column can carry: a canonical field, or a role that shapes the row.
#: ``full_name`` is split into given/middle/family; ``sensitive``, ``withdrawal`` and ``relevance``
#: are read and applied, never stored as such; ``contact_*`` override the feed's fixed contact.
ColumnField = Literal[
    "source_record_id",
    "record_date",
    "end_date",
    "given_name",
    "middle_name",
    "family_name",
    "full_name",
    "dob",
    "sex",
    "address_line1",
    "address_line2",
    "postcode",
    "uprn",
    "nhs_number",
    "contact_name",
    "contact_team",
    "contact_phone",
    "contact_email",
    "sensitive",
    "withdrawal",
    "relevance",
]

#: Fields several columns may feed, joined in column order (e.g. four NHS address lines).
JOINABLE_FIELDS: Final[frozenset[str]] = frozenset({"address_line1", "address_line2"})
DATE_FIELDS: Final[frozenset[str]] = frozenset({"record_date", "end_date", "dob"})
#: Fields every feed must carry in every row: without them a row is not a record.
ALWAYS_REQUIRED: Final[frozenset[str]] = frozenset({"source_record_id", "record_date"})

#: Sex codes every feed accepts (compared case-insensitively); a feed adds its own in ``sex_codes``.
DEFAULT_SEX_CODES: Final[dict[str, Sex]] = {
    "m": "M",
    "male": "M",
    "f": "F",
    "female": "F",
    "u": "U",
    "unknown": "U",
    "not known": "U",
    "not specified": "U",
    "not stated": "U",
    "indeterminate": "U",
    "i": "U",
    "x": "U",
}

#: Date format tokens a definition may use, and their strftime equivalents (for the generator).
DATE_TOKENS: Final[dict[str, str]] = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "MON": "%b"}
_DATE_FORMAT_RE: Final = re.compile(r"^(?:YYYY|MM|DD|MON|[/\-. ])+$")


#: What a cell may hold, by name (RE2 classes, matched against the whole cell as sent, trimmed).
#: Every class refuses control characters other than tab and line breaks (which a quoted cell may
#: hold and which are folded into spaces), so binary junk in a cell rejects its row.
CharacterClass = Literal["text", "name", "code", "postcode", "email", "phone"]
CHARACTER_CLASSES: Final[dict[str, tuple[str, str]]] = {
    # name: (pattern of one allowed character, what a data lead is told)
    "text": (r"[^\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]", "printable text"),
    "name": (r"[\p{L}\p{M}\s'\x{2018}\x{2019}`.,()\-]", "letters, spaces, apostrophes, hyphens, full stops, commas or brackets"),
    "code": (r"[\x20-\x7e]", "printable ASCII (letters, digits, punctuation, spaces)"),
    "postcode": (r"[A-Za-z0-9\s]", "letters, digits and spaces"),
    "email": (r"[\p{L}\p{N}.!#$%&'*+/=?^_`{|}~@\-]", "an email address (no spaces)"),
    "phone": (r"[0-9+()\s.\-/#*xXetEXT:]", "digits, spaces and + ( ) - ."),
}


class FieldLimit(BaseModel):
    """The longest value a field takes, in characters, and the characters it may hold. A cell past
    either rejects its row (with a receipt line), never the file: no row can block others."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_length: int = Field(ge=1, le=1_000_000)
    characters: CharacterClass = "text"


class FieldLimitOverride(BaseModel):
    """A feed's own limit for a field, in ``limits:``; what it leaves out keeps the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_length: int | None = Field(default=None, ge=1, le=1_000_000)
    characters: CharacterClass | None = None


#: The limit of each field a column can carry, unless the feed definition sets its own
#: (``limits:``). Generous for real data (the longest UK names and address lines, case references
#: of any records system), tight enough that one cell can never outgrow an index item or a page.
DEFAULT_FIELD_LIMITS: Final[dict[str, FieldLimit]] = {
    "source_record_id": FieldLimit(max_length=64, characters="code"),
    "record_date": FieldLimit(max_length=40),
    "end_date": FieldLimit(max_length=40),
    "given_name": FieldLimit(max_length=100, characters="name"),
    "middle_name": FieldLimit(max_length=200, characters="name"),
    "family_name": FieldLimit(max_length=100, characters="name"),
    "full_name": FieldLimit(max_length=300, characters="name"),
    "dob": FieldLimit(max_length=40),
    "sex": FieldLimit(max_length=20),
    "address_line1": FieldLimit(max_length=300),
    "address_line2": FieldLimit(max_length=200),
    "postcode": FieldLimit(max_length=10, characters="postcode"),
    "uprn": FieldLimit(max_length=20),
    "nhs_number": FieldLimit(max_length=20),
    "contact_name": FieldLimit(max_length=100),
    "contact_team": FieldLimit(max_length=150),
    "contact_phone": FieldLimit(max_length=40, characters="phone"),
    "contact_email": FieldLimit(max_length=254, characters="email"),
    "sensitive": FieldLimit(max_length=40),
    "withdrawal": FieldLimit(max_length=40),
    "relevance": FieldLimit(max_length=200),
}


class FeedDefinitionError(ValueError):
    """A feed definition that cannot be used, naming the file and the field that is wrong."""


class ColumnSpec(BaseModel):
    """One column of the partner's extract, under the partner's own name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="the header exactly as the partner writes it")
    field: ColumnField
    required: bool = Field(
        default=False,
        description="the column must be present and every row must have a value in it",
    )
    description: str = ""
    examples: tuple[str, ...] = ()
    aliases: tuple[str, ...] = Field(
        default=(), description="other headers accepted for this column (a renamed export)"
    )
    date_format: str | None = Field(default=None, description="overrides the feed's date format")
    join_with: str = Field(
        default=", ", description="separator before this column when several feed one field"
    )

    @field_validator("date_format")
    @classmethod
    def _known_date_format(cls, value: str | None) -> str | None:
        if value is not None:
            check_date_format(value)
        return value

    def headers(self) -> tuple[str, ...]:
        """Every header this column answers to."""
        return (self.name, *self.aliases)


class FileFormat(BaseModel):
    """How the partner writes the file. Parsing detects these; the spec and generator use them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delimiter: Literal[",", "\t", "|", ";"] = ","
    encoding: Literal["utf-8", "utf-8-sig", "windows-1252"] = "utf-8"
    line_ending: Literal["\n", "\r\n"] = "\r\n"


class SensitiveRule(BaseModel):
    """Values of the ``sensitive`` column. Anything else is rejected, never guessed: a refuge
    address read as not sensitive is the failure that matters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    true_values: tuple[str, ...] = Field(min_length=1)
    false_values: tuple[str, ...] = Field(
        default=(), description="blank always means not sensitive"
    )


class WithdrawalRule(BaseModel):
    """Values of the ``withdrawal`` column that withdraw an earlier row with the same case ref."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    values: tuple[str, ...] = Field(min_length=1)
    description: str = ""


class RelevanceRule(BaseModel):
    """Values of the ``relevance`` column whose rows belong in MAST; other rows are counted on the
    receipt and not stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep: tuple[str, ...] = Field(min_length=1)
    description: str = ""


class FeedDefinition(BaseModel):
    """One partner feed: its columns, formats, rules and whom to contact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    partner: str
    name: str
    description: str = ""
    mode: Literal["snapshot", "delta"]
    cadence_days: int = Field(
        default=1, ge=1, le=366,
        description="how often the feed is due, in days: older data shows as overdue wherever coverage appears",
    )
    date_format: str = "DD/MM/YYYY"
    name_order: Literal["given_first", "family_first"] | None = Field(
        default=None,
        description="for a full_name column: 'Forename Middle Surname' or 'SURNAME, Forename Middle'",
    )
    file: FileFormat = FileFormat()
    columns: tuple[ColumnSpec, ...] = Field(min_length=2)
    sex_codes: dict[str, Sex] = Field(
        default_factory=dict, description="the partner's own codes, on top of the defaults"
    )
    sensitive: SensitiveRule | None = None
    withdrawal: WithdrawalRule | None = None
    relevance: RelevanceRule | None = None
    contact: PartnerContact = Field(description="whom to call; per-row contact columns override")
    null_values: tuple[str, ...] = Field(
        default=("NULL",), description="cell values meaning blank (compared case-insensitively)"
    )
    placeholder_dates: tuple[dt.date, ...] = Field(
        default=(dt.date(1900, 1, 1),),
        description="dates of birth that mean 'unknown' (DESIGN.md: kept as an unknown date)",
    )
    limits: dict[ColumnField, FieldLimitOverride] = Field(
        default_factory=dict,
        description="the feed's own maximum length or character class for a field; others keep the defaults",
    )

    @field_validator("date_format")
    @classmethod
    def _known_date_format(cls, value: str) -> str:
        check_date_format(value)
        return value

    @model_validator(mode="after")
    def _coherent(self) -> FeedDefinition:
        headers = Counter(_header_key(h) for c in self.columns for h in c.headers())
        repeated = sorted(h for h, n in headers.items() if n > 1)
        if repeated:
            raise ValueError(f"columns: header(s) used twice: {', '.join(repeated)}")
        fields = Counter(c.field for c in self.columns)
        for field, count in fields.items():
            if count > 1 and field not in JOINABLE_FIELDS:
                raise ValueError(f"columns: field {field!r} is mapped by {count} columns")
        for needed in sorted(ALWAYS_REQUIRED):
            col = self.column_for(needed)
            if col is None:
                raise ValueError(f"columns: no column is mapped to {needed!r}, which every feed needs")
            if not col.required:
                raise ValueError(f"columns: {col.name!r} ({needed}) must be required: true")
        has_full = "full_name" in fields
        if has_full and fields.keys() & {"given_name", "middle_name", "family_name"}:
            raise ValueError("columns: a full_name column excludes given/middle/family columns")
        if has_full != (self.name_order is not None):
            raise ValueError("name_order: set it exactly when a column is mapped to full_name")
        for role in ("sensitive", "withdrawal", "relevance"):
            if (role in fields) != (getattr(self, role) is not None):
                raise ValueError(f"{role}: a {role!r} column and a {role} rule go together")
        if self.withdrawal is not None and self.mode != "delta":
            raise ValueError("withdrawal: only a delta feed withdraws rows; a snapshot just omits them")
        if not (self.contact.phone or self.contact.email or "contact_phone" in fields
                or "contact_email" in fields):
            raise ValueError("contact: give a phone or an email (fixed, or per-row columns)")
        return self

    # --- lookups -------------------------------------------------------------------------------
    def column_for(self, field: str) -> ColumnSpec | None:
        """The (first) column mapped to ``field``."""
        return next((c for c in self.columns if c.field == field), None)

    def columns_for(self, field: str) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.field == field)

    def date_format_of(self, column: ColumnSpec) -> str:
        return column.date_format or self.date_format

    def limit_for(self, field: str) -> FieldLimit:
        """The limit of ``field``: the feed's own (``limits:``) over the default."""
        default = DEFAULT_FIELD_LIMITS[field]
        own = self.limits.get(field)  # type: ignore[call-overload]
        if own is None:
            return default
        return default.model_copy(update=own.model_dump(exclude_none=True))

    def sex_code_map(self) -> dict[str, Sex]:
        """Every accepted sex code, lower-cased, the feed's own codes winning."""
        return {**DEFAULT_SEX_CODES, **{k.strip().casefold(): v for k, v in self.sex_codes.items()}}

    def sex_code_for(self, sex: Sex) -> str:
        """The code this partner writes for ``sex`` (its own code if it has one)."""
        own = next((k for k, v in self.sex_codes.items() if v == sex), None)
        return own if own is not None else sex

    @property
    def required_columns(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.required)


def _header_key(header: str) -> str:
    """Headers match ignoring case and surrounding or repeated whitespace (Excel adds both)."""
    return " ".join(header.split()).casefold()


header_key = _header_key


def check_date_format(value: str) -> None:
    """Accept only formats built from DD, MM, YYYY, MON and the separators / - . and space."""
    if not _DATE_FORMAT_RE.match(value) or not all(t in value for t in ("DD", "YYYY")):
        raise ValueError(
            f"date format {value!r}: build it from DD, MM (or MON), YYYY and / - . or space,"
            " e.g. DD/MM/YYYY or YYYY-MM-DD"
        )
    if ("MM" in value) == ("MON" in value):
        raise ValueError(f"date format {value!r}: give the month once, as MM or MON")


def strftime_pattern(date_format: str) -> str:
    """The strftime pattern of a definition date format, e.g. DD/MM/YYYY -> %d/%m/%Y."""
    out = date_format
    for token in ("YYYY", "MON", "MM", "DD"):
        out = out.replace(token, DATE_TOKENS[token])
    return out


# --- loading -------------------------------------------------------------------------------------
def feeds_dir(base: Path | None = None) -> Path:
    """Where feed definitions live: ``<config dir>/feeds``."""
    return (base or config_dir()) / "feeds"


def _format_errors(path: Path, error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{loc}: {item['msg']}")
    return f"{path}: " + "; ".join(parts)


@functools.lru_cache(maxsize=64)
def _load_file(path: Path, mtime_ns: int) -> FeedDefinition:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FeedDefinitionError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise FeedDefinitionError(f"{path}: (top level): expected a mapping of settings")
    try:
        definition = FeedDefinition.model_validate(raw)
    except ValidationError as exc:
        raise FeedDefinitionError(_format_errors(path, exc)) from None
    if definition.id != path.stem:
        raise FeedDefinitionError(
            f"{path}: id: {definition.id!r} does not match the file name {path.stem!r}"
        )
    return definition


def load_definition_file(path: Path) -> FeedDefinition:
    """Read and validate one definition file (cached until the file changes)."""
    return _load_file(path.resolve(), path.stat().st_mtime_ns)


def load_feed_definition(feed_id: str, base: Path | None = None) -> FeedDefinition:
    """The definition of ``feed_id``, checked against the partnership.

    Raises :class:`KeyError` for a feed with no definition file and :class:`FeedDefinitionError`
    for one that is wrong, or whose feed or partner the partnership does not know.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", feed_id):
        raise KeyError(feed_id)
    path = feeds_dir(base) / f"{feed_id}.yaml"
    if not path.is_file():
        raise KeyError(feed_id)
    definition = load_definition_file(path)
    _check_against_partnership(path, definition, base)
    return definition


def load_feed_definitions(base: Path | None = None) -> dict[str, FeedDefinition]:
    """Every definition in the config folder, by feed id, in file-name order."""
    folder = feeds_dir(base)
    out: dict[str, FeedDefinition] = {}
    for path in sorted(folder.glob("*.yaml")):
        definition = load_definition_file(path)
        _check_against_partnership(path, definition, base)
        out[definition.id] = definition
    return out


def _partnership(base: Path | None) -> Partnership:
    if base is None:
        return load_partnership()
    with (base / "partnership.yaml").open(encoding="utf-8") as handle:
        return Partnership.model_validate(yaml.safe_load(handle))


def _check_against_partnership(
    path: Path, definition: FeedDefinition, base: Path | None
) -> None:
    partnership = _partnership(base)
    ref = partnership.feed(definition.id)
    if ref is None:
        raise FeedDefinitionError(f"{path}: id: feed {definition.id!r} is not in partnership.yaml")
    if ref.partner != definition.partner:
        raise FeedDefinitionError(
            f"{path}: partner: {definition.partner!r} but partnership.yaml says {ref.partner!r}"
        )
