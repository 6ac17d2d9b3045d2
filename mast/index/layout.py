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

Households (issue 14 point 6): beside each address item, in its partition, a *household item*
(:func:`address_items`) summarises the records there and the involvement of everyone with one, and
an address-search key's item names the addresses of its records; so a person view reads the homes'
household items beside the person's records, and an address search reads the dwellings' beside the
candidates' records, and neither reads anyone's records a step later. Key, person and address items
still hold ids only; the household item is the one item besides the record items that copies
names, dates of birth and addresses, and a day's link rewrites it whenever a record there, or any
record of a person there, joins, leaves or changes.

Items are built in DynamoDB's low-level attribute-value form directly: the match function writes
millions of them and the search function reads a few hundred, both without a serialiser in between.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
#: the sort key of an address's household item, beside its address item (:func:`address_items`)
HOUSEHOLD_SK: Final = "H"
#: records a key item (or a year item of a split key) holds: the block a search reads
KEY_BLOCK: Final = 500
#: the ids a person or address item holds, in bytes (a DynamoDB item may hold 400 KB)
MAX_ID_BYTES: Final = 350_000
#: records at an address whose summaries its item holds (:func:`resident_summary`): a household view
#: reads at most this many (the first, by record id)
RESIDENTS: Final = 300
#: a person's records (not sensitive) whose involvement an address item holds for each person there
#: (:func:`involvement_summary`); someone with more is read from their records (a round trip later)
INVOLVEMENT_RECORDS: Final = 100
#: bytes of summaries a household item holds (a DynamoDB item may hold 400 KB)
SUMMARY_BYTES: Final = 300_000
#: the namespace an address-search key begins with: its item also names the addresses of its records
ADDRESS_KEY_PREFIX: Final = "address:"
#: the year of a record with no date of birth, in a split key's year items
NO_YEAR: Final = "-"
#: a DynamoDB item may hold 400 KB; model parts stay well under it
MODEL_PART_CHARS: Final = 300_000


def partition_of(pk: str, count: int) -> int:
    """Which of ``count`` parts a partition key falls in: a stable hash (CRC-32), the same in every
    process and release, so that whoever writes an item and whoever reads it agree."""
    return zlib.crc32(pk.encode("utf-8")) % count


@dataclasses.dataclass(frozen=True)
class VersionTables:
    """The table(s) holding a version's items: the index table itself (a version the match function
    wrote), or an imported version's own table; or, for a version too large for one import to load
    in good time, ``parts`` tables (``<name>-p00`` …), each imported at once beside the others and
    holding the partitions :func:`partition_of` gives it. Every item of a partition is in one table,
    so a query reads one table; a batch read groups its keys by table. The pointer and the version's
    state item name the table (``table``) and the parts (``parts``, absent for one)."""

    name: str
    parts: int = 1

    def of(self, pk: str) -> str:
        """The table holding the items of partition ``pk``."""
        return self.name if self.parts <= 1 else self.part(partition_of(pk, self.parts))

    def part(self, index: int) -> str:
        return self.name if self.parts <= 1 else f"{self.name}-p{index:02d}"

    def names(self) -> list[str]:
        """Every table of the version."""
        return [self.part(i) for i in range(max(self.parts, 1))]

    @classmethod
    def of_item(cls, item: Mapping[str, Any], default: str) -> VersionTables:
        """From a pointer or version state item (``default``: the table when it names none)."""
        return cls(item.get("table", {}).get("S", default), int(item.get("parts", {}).get("N", "1")))

    def attributes(self) -> dict[str, Any]:
        """What a pointer or version state item records of them."""
        return {"table": {"S": self.name}, **({"parts": {"N": str(self.parts)}} if self.parts > 1 else {})}


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


def key_items(version: str, key: str, members: Mapping[str, str],
              addresses: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The items of one lookup key, from its records (record id -> birth year, :func:`year_of`):
    one item holding every id when at most :data:`KEY_BLOCK` records hold it; otherwise the key
    item with the count and the records per year, and one item per year holding its ids (at most
    :data:`KEY_BLOCK`, the count recording any left out).

    An address-search key's item (unsplit) also names the ``addresses`` of its records (attribute
    ``addresses``, a string set): an address search reads their items beside the candidates' records
    instead of a round trip after them. A day's link only adds to it, so it may name an address a
    record has left (an address item read for nothing); never one missing but by a rebuild's split."""
    pk = key_pk(version, key)
    if len(members) <= KEY_BLOCK:
        item = ids_item(pk, KEY_SK, members)
        held = sorted(set(addresses) - {""})
        if item is not None and held and key.startswith(ADDRESS_KEY_PREFIX):
            item["addresses"] = {"SS": held}
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


def model_items(version: str, text: str) -> list[dict[str, Any]]:
    """The items holding a version's model (its JSON in parts: a DynamoDB item may hold 400 KB)."""
    parts = [text[i : i + MODEL_PART_CHARS] for i in range(0, len(text), MODEL_PART_CHARS)]
    return [{"pk": {"S": model_pk(version)}, "sk": {"S": f"{i:05d}"}, "text": {"S": part}} for i, part in enumerate(parts)]


def version_items(version: str, records: Iterable[tuple[IndexedRecord, Sequence[str]]]) -> list[dict[str, Any]]:
    """Every item of a version holding ``records`` (each with its lookup keys): the record items,
    then one item per distinct key (split by year where large), person and address."""
    return list(iter_version_items(version, records))


def iter_version_items(version: str, records: Iterable[tuple[IndexedRecord, Sequence[str]]]) -> Iterator[dict[str, Any]]:
    """:func:`version_items`, each record's item given as its record comes (only ids are held of it),
    so that a rebuild's import writes a million records' items without holding them all."""
    keys: dict[str, dict[str, str]] = {}
    key_addresses: dict[str, set[str]] = {}
    people: dict[str, dict[str, str]] = {}
    addresses: dict[str, dict[str, str]] = {}
    summaries = Summaries()
    for record, record_keys in records:
        yield record_item(version, record, record_keys)
        year = year_of(record)
        for key in record_keys:
            keys.setdefault(key, {})[record.record_id] = year
            if key.startswith(ADDRESS_KEY_PREFIX):
                key_addresses.setdefault(key, set()).add(record.address_id)
        people.setdefault(record.person_id, {})[record.record_id] = record.address_id
        if record.address_id:
            addresses.setdefault(record.address_id, {})[record.record_id] = record.person_id
        summaries.add(record)
    for key, members in keys.items():
        yield from key_items(version, key, members, key_addresses.get(key, ()))
    yield from person_and_address_items(version, people, addresses, summaries)


def person_and_address_items(version: str, people: Mapping[str, Mapping[str, str]],
                             addresses: Mapping[str, Mapping[str, str]],
                             summaries: Summaries | None = None) -> Iterable[dict[str, Any]]:
    """Each person's item (its record ids, each with its address) and each address's (the record ids
    there, each with its person), with its household item (:func:`address_items`)."""
    for owner, tagged in people.items():
        if (item := ids_item(person_pk(version, owner), PERSON_SK, tagged, tags=tagged)) is not None:
            yield item
    summaries = summaries or Summaries()
    for owner, tagged in addresses.items():
        residents = summaries.residents.get(owner, {})
        involvement = {p: text for p in set(tagged.values()) if (text := summaries.involvement_of(p)) is not None}
        yield from address_items(version, owner, tagged, residents, involvement)


# ---------------------------------------------------------------------- what the views read of a household
def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def resident_summary(record: IndexedRecord) -> str:
    """What a household view and an address search show of a record at an address without reading
    it: its person, and (not sensitive) its partner, feed, dates, names, date of birth and address;
    a sensitive record only its person and that it is sensitive (never its address, name or dates)."""
    if record.sensitive:
        return json.dumps([record.person_id, 1], separators=(",", ":"))
    return json.dumps([record.person_id, 0, record.partner, record.feed, _day(record.record_date),
                       _day(record.end_date), record.given_name, record.middle_name, record.family_name,
                       _day(record.dob), record.address_line1, record.address_line2, record.postcode, record.uprn],
                      separators=(",", ":"), ensure_ascii=False)


def involvement_entry(record: IndexedRecord) -> list[Any]:
    """A record as a person's involvement is worked out from it (not sensitive: the others' involvement
    never hints at a sensitive record): id, partner, feed, record date and end date."""
    return [record.record_id, record.partner, record.feed, _day(record.record_date), _day(record.end_date)]


def involvement_summary(entries: Sequence[list[Any]]) -> str | None:
    """A person's involvement as an address item holds it: every non-sensitive record's
    :func:`involvement_entry` (in record id order); None past :data:`INVOLVEMENT_RECORDS` (the views
    then read that person's records)."""
    if len(entries) > INVOLVEMENT_RECORDS:
        return None
    return json.dumps(sorted(entries, key=lambda e: str(e[0])), separators=(",", ":"), ensure_ascii=False)


class Summaries:
    """Resident summaries by address and involvement entries by person, gathered record by record
    (a rebuild's every record)."""

    def __init__(self) -> None:
        self.residents: dict[str, dict[str, str]] = {}
        self.entries: dict[str, list[list[Any]]] = {}
        self.many: set[str] = set()

    def add(self, record: IndexedRecord) -> None:
        if record.address_id:
            self.residents.setdefault(record.address_id, {})[record.record_id] = resident_summary(record)
        if not record.sensitive and record.person_id not in self.many:
            entries = self.entries.setdefault(record.person_id, [])
            entries.append(involvement_entry(record))
            if len(entries) > INVOLVEMENT_RECORDS:
                self.many.add(record.person_id)
                del self.entries[record.person_id]

    def involvement_of(self, person: str) -> str | None:
        if person in self.many:
            return None
        return involvement_summary(self.entries.get(person, []))


def address_items(version: str, address_id: str, tagged: Mapping[str, str], residents: Mapping[str, str],
                  involvement: Mapping[str, str]) -> list[dict[str, Any]]:
    """An address's items: its address item, the record ids there each with its person
    (:func:`ids_item`: ids only, like every lookup item), and its *household item* (sort key
    :data:`HOUSEHOLD_SK`, in the same partition, so read in the same BatchGetItem): what a household
    view and an address search show of the records there without reading them, the first
    :data:`RESIDENTS` records' summaries (attribute ``at``, by record id: :func:`resident_summary`)
    and, for each person with one of those, their involvement (``inv``, by person:
    :func:`involvement_summary`), within :data:`SUMMARY_BYTES`. It copies names, dates of birth and
    addresses out of the record items (the one item besides them that does), and is rewritten with
    them. A record or person it does not summarise is read by the views a round trip later, so it is
    never wrong for being short, only slower."""
    item = ids_item(address_pk(version, address_id), ADDRESS_SK, tagged, tags=tagged)
    if item is None or "ids" not in item:
        return [item] if item is not None else []
    kept = sorted(item["ids"]["SS"])
    room = SUMMARY_BYTES
    at: dict[str, Any] = {}
    inv: dict[str, Any] = {}
    for rid in kept[:RESIDENTS]:
        text = residents.get(rid)
        if text is not None and len(rid) + len(text.encode()) + 3 <= room:
            at[rid] = {"S": text}
            room -= len(rid) + len(text.encode()) + 3
    for person in dict.fromkeys(tagged.get(rid, "") for rid in kept[:RESIDENTS]):
        text = involvement.get(person) if person else None
        if text is not None and len(person) + len(text.encode()) + 3 <= room:
            inv[person] = {"S": text}
            room -= len(person) + len(text.encode()) + 3
    if not at and not inv:
        return [item]
    household: dict[str, Any] = {"pk": {"S": address_pk(version, address_id)}, "sk": {"S": HOUSEHOLD_SK}}
    if at:
        household["at"] = {"M": at}
    if inv:
        household["inv"] = {"M": inv}
    return [item, household]


def residents_of(item: Mapping[str, Any] | None, address_id: str) -> dict[str, IndexedRecord]:
    """The records a household item summarises (:func:`resident_summary`), as records holding only
    what the views read of them (a sensitive one: its person and the flag)."""
    held: dict[str, IndexedRecord] = {}
    for rid, value in ((item or {}).get("at", {}).get("M", {})).items():
        row = json.loads(value["S"])
        fields: dict[str, Any] = {"record_id": rid, "person_id": row[0], "address_id": address_id,
                                  "sensitive": bool(row[1]), "partner": "", "feed": "", "source_record_id": "",
                                  "record_date": dt.date.min, "ingest_id": "", "term_frequencies": {}}
        if not row[1]:
            names = ("partner", "feed", "record_date", "end_date", "given_name", "middle_name", "family_name", "dob",
                     "address_line1", "address_line2", "postcode", "uprn")
            fields.update(zip(names, row[2:], strict=True))
            for day in ("record_date", "end_date", "dob"):
                fields[day] = dt.date.fromisoformat(fields[day]) if fields[day] else None
        held[rid] = _summary_record(fields)
    return held


def involvement_of(item: Mapping[str, Any] | None) -> dict[str, list[IndexedRecord]]:
    """Each person's non-sensitive records, as a household item summarises them (:func:`involvement_summary`)."""
    held: dict[str, list[IndexedRecord]] = {}
    for person, value in ((item or {}).get("inv", {}).get("M", {})).items():
        held[person] = [_summary_record({
            "record_id": rid, "person_id": person, "partner": partner, "feed": feed, "source_record_id": "",
            "record_date": dt.date.fromisoformat(start), "end_date": dt.date.fromisoformat(end) if end else None,
            "sensitive": False, "ingest_id": "", "term_frequencies": {}}) for rid, partner, feed, start, end in
            json.loads(value["S"])]
    return held


def _summary_record(fields: dict[str, Any]) -> IndexedRecord:
    """A record built from a summary, unvalidated (its fields were validated when it was indexed)."""
    return IndexedRecord.model_construct(**fields)


def record_items(version: str, record: IndexedRecord, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The items one record alone would make of a version that hold it or its ids: itself, one per
    lookup key, its person and address (a version of one record; :func:`version_items` groups many,
    and adds each address's household item, which copies what the views show: :func:`address_items`)."""
    return [item for item in version_items(version, [(record, keys)]) if item["sk"]["S"] != HOUSEHOLD_SK]
