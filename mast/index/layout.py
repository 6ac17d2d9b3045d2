"""Where each thing lives in the index table, and the indexed record as the search reads it.

Every item of a version has ``V#<version>#`` at the start of its partition key, so versions never
share an item: a rebuild writes a whole new version beside the live one and a single conditional
write of the ``INDEX``/``LIVE`` pointer switches searches over to it.

Lookups are one item each (issue 14): a lookup key's item holds the ids of the records under it, a
person's item its record ids, an address's item the ids of the records there. A search then reads
every key of a query in one BatchGetItem, and a rebuild writes one item per distinct key instead
of one per key and record. A key item holds at most :data:`KEY_BLOCK` ids (the block a search
reads). A key held by more records is *split by birth year*: its item (sk ``K``) records how many
records hold it and how many in each year, and one item per year (sk ``Y#<year>``, ``Y#-`` for
records with no date of birth, in the same partition, so a search reads key and year items in the
same BatchGetItem) holds that year's ids, again at most :data:`KEY_BLOCK`, with the count left out.
A search with a year of birth reads the year's item; one without is told how many share the key,
never given a silently shortened list. Person and address items hold every id up to
:data:`MAX_ID_BYTES` (a DynamoDB item may hold 400 KB), recording the count of any left out.

Items are built in DynamoDB's low-level attribute-value form directly: the match function writes
millions of them and the search function reads a few hundred, both without a serialiser in between.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from pydantic import Field

from mast.records import Record

POINTER_PK: Final = "INDEX"
LIVE_SK: Final = "LIVE"
RECORD_SK: Final = "R"
#: the sort key of a lookup key's item, a person's and an address's
KEY_SK: Final = "K"
PERSON_SK: Final = "P"
ADDRESS_SK: Final = "A"
#: records a key item (or a year item of a split key) holds: the block a search reads
KEY_BLOCK: Final = 500
#: the ids a person or address item holds, in bytes (a DynamoDB item may hold 400 KB)
MAX_ID_BYTES: Final = 350_000
#: the year of a record with no date of birth, in a split key's year items
NO_YEAR: Final = "-"
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


def year_sk(year: str) -> str:
    """The sort key of a split key's year item (``Y#1984``; ``Y#-`` for no date of birth)."""
    return f"Y#{year}"


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
RECORD_ITEM_KEYS: Final = ("pk", "keys", "person_id", "address_id", "year")


def year_of(record: IndexedRecord) -> str:
    """The birth year a record is filed under in a split key (:data:`NO_YEAR` without a date of birth)."""
    return str(record.dob.year) if record.dob is not None else NO_YEAR


def record_item(version: str, record: IndexedRecord, keys: Sequence[str]) -> dict[str, Any]:
    """The record's own item: the record as JSON (details, person, address, frequencies); its person,
    address, birth year and lookup keys again as attributes: an update or a withdrawal reads those
    alone (:data:`RECORD_ITEM_KEYS`) to take the record out of exactly the items that name it."""
    item: dict[str, Any] = {
        "pk": {"S": record_pk(version, record.record_id)},
        "sk": {"S": RECORD_SK},
        RECORD_ATTRIBUTE: {"S": record.model_dump_json(exclude_defaults=True)},
        "person_id": {"S": record.person_id},
        "keys": {"L": [{"S": k} for k in dict.fromkeys(keys)]},
        "year": {"S": year_of(record)},
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


# ---------------------------------------------------------------------- lookup items
def ids_item(pk: str, sk: str, ids: Iterable[str], count: int | None = None,
             cap: int | None = None, tags: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """An item holding record ids (sorted, a string set), at most ``cap`` of them and at most
    :data:`MAX_ID_BYTES`; ``count`` (how many records it stands for) defaults to the ids given and
    is stored whenever some are left out. None when there are no ids and no count.

    ``tags`` gives a record id a second id held beside it (attribute ``of``): a person's item names
    the address of each of its records, an address's item the person of each record there, so that
    a person view reads the addresses' items beside the person's records, and the household's
    person items beside the records at the addresses, a round trip earlier each."""
    ordered = sorted(set(ids))
    kept: list[str] = []
    size = 0
    for rid in ordered:
        tag = (tags or {}).get(rid, "")
        if (cap is not None and len(kept) >= cap) or size + 2 * len(rid) + len(tag) + 9 > MAX_ID_BYTES:
            break
        kept.append(rid)
        size += 2 * len(rid) + len(tag) + 9 if tag else len(rid) + 3
    total = max(len(ordered), count or 0)
    if not kept and not total:
        return None
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "count": {"N": str(total)}}
    if kept:
        item["ids"] = {"SS": kept}
        tagged = {rid: {"S": tags[rid]} for rid in kept if tags and tags.get(rid)}
        if tagged:
            item["of"] = {"M": tagged}
    return item


def tags_of(item: Mapping[str, Any] | None) -> dict[str, str]:
    """The second id an ids item holds beside each record id (see :func:`ids_item`)."""
    return {rid: v["S"] for rid, v in item["of"]["M"].items()} if item and "of" in item else {}


def ids_of(item: Mapping[str, Any] | None) -> list[str]:
    """The record ids an item holds (sorted)."""
    return sorted(item["ids"]["SS"]) if item and "ids" in item else []


def count_of(item: Mapping[str, Any] | None) -> int:
    """How many records an ids item stands for (ids held, and any left out)."""
    if not item:
        return 0
    return int(item["count"]["N"]) if "count" in item else len(ids_of(item))


def years_of(item: Mapping[str, Any] | None) -> dict[str, int]:
    """A split key item's records per birth year (empty for a key that is not split)."""
    if not item or "years" not in item:
        return {}
    return {year: int(n["N"]) for year, n in item["years"]["M"].items()}


def key_items(version: str, key: str, members: Mapping[str, str]) -> list[dict[str, Any]]:
    """The items of one lookup key, from its records (record id -> birth year, :func:`year_of`):
    one item holding every id when at most :data:`KEY_BLOCK` records hold it; otherwise the key
    item with the count and the records per year, and one item per year holding its ids (at most
    :data:`KEY_BLOCK`, the count recording any left out)."""
    pk = key_pk(version, key)
    if len(members) <= KEY_BLOCK:
        item = ids_item(pk, KEY_SK, members)
        return [item] if item else []
    by_year: dict[str, list[str]] = {}
    for rid, year in members.items():
        by_year.setdefault(year, []).append(rid)
    return [split_key_item(pk, {y: len(ids) for y, ids in by_year.items()})] + [
        it for y, ids in sorted(by_year.items()) if (it := ids_item(pk, year_sk(y), ids, cap=KEY_BLOCK))]


def split_key_item(pk: str, years: Mapping[str, int]) -> dict[str, Any]:
    """The key item of a split key: how many records hold it, and how many in each birth year."""
    return {"pk": {"S": pk}, "sk": {"S": KEY_SK}, "count": {"N": str(sum(years.values()))},
            "years": {"M": {y: {"N": str(n)} for y, n in sorted(years.items()) if n > 0}}}


def version_items(version: str, records: Iterable[tuple[IndexedRecord, Sequence[str]]]) -> list[dict[str, Any]]:
    """Every item of a version holding ``records`` (each with its lookup keys): the record items,
    then one item per distinct key (split by year where large), person and address."""
    items: list[dict[str, Any]] = []
    keys: dict[str, dict[str, str]] = {}
    people: dict[str, dict[str, str]] = {}
    addresses: dict[str, dict[str, str]] = {}
    for record, record_keys in records:
        items.append(record_item(version, record, record_keys))
        year = year_of(record)
        for key in record_keys:
            keys.setdefault(key, {})[record.record_id] = year
        people.setdefault(record.person_id, {})[record.record_id] = record.address_id
        if record.address_id:
            addresses.setdefault(record.address_id, {})[record.record_id] = record.person_id
    for key, members in keys.items():
        items.extend(key_items(version, key, members))
    items.extend(person_and_address_items(version, people, addresses))
    return items


def person_and_address_items(version: str, people: Mapping[str, Mapping[str, str]],
                             addresses: Mapping[str, Mapping[str, str]]) -> Iterable[dict[str, Any]]:
    """Each person's item (its record ids, each with its address) and each address's (the record ids
    there, each with its person)."""
    for owner, tagged in people.items():
        if (item := ids_item(person_pk(version, owner), PERSON_SK, tagged, tags=tagged)) is not None:
            yield item
    for owner, tagged in addresses.items():
        if (item := ids_item(address_pk(version, owner), ADDRESS_SK, tagged, tags=tagged)) is not None:
            yield item


def record_items(version: str, record: IndexedRecord, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Every item one record alone would make of a version: itself, one per lookup key, its person
    and address (a version of one record; :func:`version_items` groups many)."""
    return version_items(version, [(record, keys)])
