"""Where each thing lives in the index table, and the indexed record as the search reads it.

Every item of a version has ``V#<version>#`` at the start of its partition key, so versions never
share an item: a rebuild writes a whole new version beside the live one and a single conditional
write of the ``INDEX``/``LIVE`` pointer switches searches over to it. Membership items (key →
record, person → record, address → record) are one small item per pair, so an incremental update
adds or deletes exactly the pairs that changed and never rewrites a list.

Items are built in DynamoDB's low-level attribute-value form directly: the match function writes
millions of them and the search function reads a few hundred, both without a serialiser in between.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import Field

from mast.records import PartnerContact, Record

POINTER_PK: Final = "INDEX"
LIVE_SK: Final = "LIVE"
RECORD_SK: Final = "R"
#: a DynamoDB item may hold 400 KB; model parts stay well under it
MODEL_PART_CHARS: Final = 300_000


def version_prefix(version: str) -> str:
    return f"V#{version}#"


def key_pk(version: str, key: str) -> str:
    return f"V#{version}#K#{key}"


def record_pk(version: str, record_id: str) -> str:
    return f"V#{version}#R#{record_id}"


def person_pk(version: str, person_id: str) -> str:
    return f"V#{version}#P#{person_id}"


def address_pk(version: str, address_id: str) -> str:
    return f"V#{version}#A#{address_id}"


def model_pk(version: str) -> str:
    return f"V#{version}#MODEL"


def version_sk(version: str) -> str:
    return f"V#{version}"


def new_version(now: dt.datetime | None = None) -> str:
    """Version ids sort in the order they were made (a microsecond UTC timestamp)."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ")


class IndexedRecord(Record):
    """A record as the index holds it: the canonical record, its person, its address and the
    frequencies of its values (the scorer's term-frequency adjustment reads them, so a search scores
    exactly as the link did). Withdrawn records are never indexed."""

    person_id: str
    address_id: str = Field(default="", description="'' when the record has too little address to place")
    term_frequencies: dict[str, float] = Field(default_factory=dict)

    def linkage_fields(self) -> dict[str, Any]:
        """The canonical linkage columns (:data:`mast.linkage.table.INPUT_COLUMNS`) of this record:
        the same conversion the match function links with, so a search scores the same fields."""
        return linkage_fields(self.model_dump(mode="python"))


def linkage_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """Linkage columns from a canonical record row (dates as ISO text, ``source`` = partner)."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if isinstance(value, dt.date) else (value or None)

    return {
        "record_id": row["record_id"],
        "source": row.get("partner"),
        "given_name": row.get("given_name"),
        "middle_name": row.get("middle_name"),
        "family_name": row.get("family_name"),
        "dob": iso(row.get("dob")),
        "sex": row.get("sex"),
        "address_line1": row.get("address_line1"),
        "address_line2": row.get("address_line2"),
        "postcode": row.get("postcode"),
        "nhs_number": row.get("nhs_number"),
        "uprn": row.get("uprn"),
        "record_date": iso(row.get("record_date")),
    }


# ---------------------------------------------------------------------- items
_TEXT_FIELDS: Final = ("record_id", "partner", "feed", "source_record_id", "given_name", "middle_name", "family_name",
                       "sex", "address_line1", "address_line2", "postcode", "uprn", "nhs_number", "ingest_id")
_DATE_FIELDS: Final = ("record_date", "end_date", "dob")
_CONTACT_FIELDS: Final = ("name", "team", "phone", "email")


def membership_item(pk: str, record_id: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": record_id}}


def record_item(version: str, record: IndexedRecord, keys: Sequence[str]) -> dict[str, Any]:
    """The record's own item: its details, person, address, frequencies and lookup keys (the keys
    are kept so that an update or a withdrawal can delete exactly the key items it wrote)."""
    item: dict[str, Any] = {"pk": {"S": record_pk(version, record.record_id)}, "sk": {"S": RECORD_SK}}
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        if value not in (None, ""):
            item[name] = {"S": str(value)}
    for name in _DATE_FIELDS:
        value = getattr(record, name)
        if value is not None:
            item[name] = {"S": value.isoformat()}
    contact = {k: {"S": v} for k in _CONTACT_FIELDS if (v := getattr(record.contact, k))}
    item["contact"] = {"M": contact}
    item["sensitive"] = {"BOOL": bool(record.sensitive)}
    item["person_id"] = {"S": record.person_id}
    if record.address_id:
        item["address_id"] = {"S": record.address_id}
    item["tf"] = {"M": {k: {"N": repr(float(v))} for k, v in record.term_frequencies.items()}}
    item["keys"] = {"L": [{"S": k} for k in keys]}
    return item


def record_from_item(item: Mapping[str, Any]) -> IndexedRecord:
    """The :class:`IndexedRecord` a record item holds."""
    data: dict[str, Any] = {}
    for name in (*_TEXT_FIELDS, *_DATE_FIELDS):
        if name in item:
            data[name] = item[name]["S"]
    contact = item.get("contact", {}).get("M", {})
    data["contact"] = PartnerContact(**{k: v["S"] for k, v in contact.items() if k in _CONTACT_FIELDS})
    data["sensitive"] = bool(item.get("sensitive", {}).get("BOOL", False))
    data["person_id"] = item["person_id"]["S"]
    data["address_id"] = item.get("address_id", {}).get("S", "")
    data["term_frequencies"] = {k: float(v["N"]) for k, v in item.get("tf", {}).get("M", {}).items()}
    return IndexedRecord.model_validate(data)


def record_keys_of(item: Mapping[str, Any]) -> list[str]:
    """The lookup keys a record item was indexed under."""
    return [k["S"] for k in item.get("keys", {}).get("L", [])]


def record_items(version: str, record: IndexedRecord, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Every item one record contributes to a version: itself, one per lookup key, its person and address."""
    keys = list(dict.fromkeys(keys))
    items = [record_item(version, record, keys)]
    items.extend(membership_item(key_pk(version, k), record.record_id) for k in keys)
    items.append(membership_item(person_pk(version, record.person_id), record.record_id))
    if record.address_id:
        items.append(membership_item(address_pk(version, record.address_id), record.record_id))
    return items
