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

from mast.records import Record

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
#: The record item's attribute holding the whole :class:`IndexedRecord` as JSON. A search reads
#: every candidate's record (often a hundred or more) and nothing else of the item, so it asks for
#: this one attribute: one value to parse per record instead of some forty typed ones (botocore's
#: parser, and moto's serializer locally, spend their time per value, not per byte).
RECORD_ATTRIBUTE: Final = "record"
#: the attributes of a record item that name every item it occupies (see :func:`record_item`)
RECORD_ITEM_KEYS: Final = ("pk", "keys", "person_id", "address_id")


def membership_item(pk: str, record_id: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": record_id}}


def record_item(version: str, record: IndexedRecord, keys: Sequence[str]) -> dict[str, Any]:
    """The record's own item: the record as JSON (details, person, address, frequencies); its person
    and address again as attributes, and its lookup keys: an update or a withdrawal reads those three
    alone (:data:`RECORD_ITEM_KEYS`) to delete exactly the membership and key items it wrote."""
    item: dict[str, Any] = {
        "pk": {"S": record_pk(version, record.record_id)},
        "sk": {"S": RECORD_SK},
        RECORD_ATTRIBUTE: {"S": record.model_dump_json(exclude_defaults=True)},
        "person_id": {"S": record.person_id},
        "keys": {"L": [{"S": k} for k in keys]},
    }
    if record.address_id:
        item["address_id"] = {"S": record.address_id}
    return item


def record_from_item(item: Mapping[str, Any]) -> IndexedRecord:
    """The :class:`IndexedRecord` a record item holds (an item read with only :data:`RECORD_ATTRIBUTE`
    projected is enough)."""
    return IndexedRecord.model_validate_json(item[RECORD_ATTRIBUTE]["S"])


def record_id_of(item: Mapping[str, Any]) -> str:
    """The record id of a record item, from its key (``V#<version>#R#<record id>``)."""
    return str(item["pk"]["S"]).split("#R#", 1)[1]


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
