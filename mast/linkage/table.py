"""The record table: canonical records as integer-coded numpy columns, ready to compare.

Everything the scorer reads lives here, one array per field, so a comparison over ten million
candidate pairs is a handful of vectorised gathers. Records are normalised through their distinct
values: a column is first factorised (distinct values + a code per row), each distinct value is
normalised once, and the result is gathered back to rows. That is what makes a million records
quick to prepare, and it is also why the I/O layer may hand columns over already factorised
(pyarrow's dictionary encoding) without this module importing pyarrow.

One table serves every use: the batch link (all records), the incremental link (the indexed
records with the new ones appended, sharing vocabularies) and a search (the query row plus its
candidates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mast.linkage.arrays import unique_inverse
from mast.linkage.background import Background
from mast.linkage.vocab import MISSING, NameVocab, Vocab, gather
from mast.normalise.addresses import Address, has_digit, locality_of, parse_address
from mast.normalise.dates import MISSING_DAY, parse_date, to_day
from mast.normalise.identifiers import nhs_number, uprn
from mast.normalise.names import clean_family, clean_given, clean_middle
from mast.normalise.postcodes import parse_postcode

#: Canonical input columns (`mast link` and the curated records). Only ``record_id`` is required.
INPUT_COLUMNS: tuple[str, ...] = (
    "record_id", "source", "given_name", "middle_name", "family_name", "dob", "sex",
    "address_line1", "address_line2", "postcode", "nhs_number", "uprn", "record_date",
)

#: Fields whose exact agreement is weighed by how common the value is (term frequency); and two
#: combinations (see :meth:`RecordTable.compute_tf`): the full name, and the given name among people
#: born in the same year.
TF_FIELDS: tuple[str, ...] = ("given", "family", "postcode", "dwelling", "locality", "dob", "full_name",
                              "given_year")

#: term frequencies of combinations of fields (made from the single fields' ones)
_COMBINATIONS = frozenset({"full_name", "given_year"})

SEX_CODES = {"F": 1, "FEMALE": 1, "W": 1, "WOMAN": 1, "GIRL": 1, "M": 2, "MALE": 2, "MAN": 2, "BOY": 2}


@dataclass(slots=True)
class Factorised:
    """A column as its distinct values and one code per row (-1 for null)."""

    uniques: Sequence[Any]
    codes: np.ndarray


def factorise(values: Sequence[Any] | Factorised) -> Factorised:
    """Distinct values of a column and the row codes; None, NaN and blank strings are null."""
    if isinstance(values, Factorised):
        return values
    index: dict[Any, int] = {}
    uniques: list[Any] = []
    codes = np.empty(len(values), dtype=np.int32)
    for row, value in enumerate(values):
        if value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip()):
            codes[row] = MISSING
            continue
        found = index.get(value)
        if found is None:
            found = index[value] = len(uniques)
            uniques.append(value)
        codes[row] = found
    return Factorised(uniques, codes)


@dataclass
class Vocabs:
    """The vocabularies one table (and any table appended to it) shares."""

    names: NameVocab = field(default_factory=NameVocab)
    postcodes: Vocab = field(default_factory=lambda: Vocab("postcode"))
    sectors: Vocab = field(default_factory=lambda: Vocab("sector"))
    dwellings: Vocab = field(default_factory=lambda: Vocab("dwelling"))
    numbers: Vocab = field(default_factory=lambda: Vocab("number"))
    streets: Vocab = field(default_factory=lambda: Vocab("street"))
    sources: Vocab = field(default_factory=lambda: Vocab("source"))

    def of(self, column: str) -> Vocab:
        """The vocabulary a record column's codes index (a town shares the streets' words)."""
        return self.names if column in _NAME_COLUMNS else getattr(self, _VOCAB_OF[column])


_NAME_COLUMNS = frozenset({"given", "middle", "family"})
_VOCAB_OF = {"postcode": "postcodes", "sector": "sectors", "dwelling": "dwellings", "number": "numbers",
             "flat": "numbers", "street": "streets", "locality": "streets", "source": "sources"}


#: the record fields whose codes index each vocabulary (attribute of :class:`Vocabs`)
_VOCAB_FIELDS = {"names": ("given", "middle", "family"), "postcodes": ("postcode",), "sectors": ("sector",),
                 "dwellings": ("dwelling",), "numbers": ("number", "flat"), "streets": ("street", "locality"),
                 "sources": ("source",)}

_INT_FIELDS = ("source", "given", "middle", "family", "dob", "sex", "postcode", "sector", "dwelling",
               "number", "flat", "street", "locality", "record_date")


@dataclass
class RecordTable:
    """Records as columns. Codes index into :attr:`vocabs`; ``-1`` / ``MISSING_DAY`` / 0 are missing."""

    vocabs: Vocabs
    record_id: np.ndarray  # object array of str
    source: np.ndarray
    given: np.ndarray
    middle: np.ndarray
    family: np.ndarray
    dob: np.ndarray  # days since 1970, MISSING_DAY when unknown
    sex: np.ndarray  # 0 unknown, 1 F, 2 M
    postcode: np.ndarray
    sector: np.ndarray
    dwelling: np.ndarray
    number: np.ndarray
    flat: np.ndarray
    street: np.ndarray
    locality: np.ndarray
    uprn: np.ndarray  # int64, 0 missing
    nhs: np.ndarray  # int64, 0 missing
    record_date: np.ndarray
    #: value frequency among records that have the field, per record (0 when unknown)
    tf: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.record_id)

    # ------------------------------------------------------------------ derived, cached lazily
    def dob_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(year, month, day) arrays of the dates of birth (0 where unknown)."""
        cached = getattr(self, "_dob_parts", None)
        if cached is None or len(cached[0]) != len(self):
            days = self.dob
            known = days != MISSING_DAY
            as_dates = np.where(known, days, 0).astype("datetime64[D]")
            years = as_dates.astype("datetime64[Y]").astype(np.int32) + 1970
            months = as_dates.astype("datetime64[M]").astype(np.int32) % 12 + 1
            day = (as_dates - as_dates.astype("datetime64[M]")).astype(np.int32) + 1
            cached = (np.where(known, years, 0), np.where(known, months, 0), np.where(known, day, 0))
            object.__setattr__(self, "_dob_parts", cached)
        return cached

    def dob_digits(self) -> np.ndarray:
        """Dates of birth as their 8 digits YYYYMMDD (R x 8, int8), for counting typing slips between
        two dates: made once per table, then gathered per pair."""
        cached = getattr(self, "_dob_digits", None)
        if cached is None or len(cached) != len(self):
            y, m, d = self.dob_parts()
            number = y.astype(np.int64) * 10000 + m * 100 + d
            powers = 10 ** np.arange(7, -1, -1, dtype=np.int64)
            cached = ((number[:, None] // powers) % 10).astype(np.int8)
            object.__setattr__(self, "_dob_digits", cached)
        return cached

    def compute_tf(self) -> None:
        """Term frequencies from this table's own values (the batch link's population)."""
        for name in TF_FIELDS:
            if name in _COMBINATIONS:
                continue
            if name == "dob":
                self.tf[name] = _value_frequency(self.dob, self.dob != MISSING_DAY)
                continue
            codes = getattr(self, name)
            present = codes[codes >= 0]
            counts = np.bincount(present, minlength=len(self.vocabs.of(name))).astype(np.float64)
            freq = counts / max(len(present), 1)
            self.tf[name] = gather(freq, codes, 0).astype(np.float32)
        # A record with one name only may hold a given name or a family name in its given-name field
        # (FROHAWK alone): its agreement is weighed by the commoner of the two readings, never by the
        # rarity of a surname as a given name.
        sole = (self.given >= 0) & (self.family < 0)
        if sole.any():
            family = self.family[self.family >= 0]
            as_family = np.bincount(family, minlength=len(self.vocabs.names)).astype(np.float64) / max(len(family), 1)
            self.tf["given"][sole] = np.maximum(self.tf["given"][sole], as_family[self.given[sole]])
        self.tf["full_name"], self.tf["given_year"] = self._combination_frequencies()

    def _combination_frequencies(self) -> tuple[np.ndarray, np.ndarray]:
        """How likely another person is to share a record's full name, and its given name among people
        born in its year: estimated from how many *other people* the data shows with them.

        Names are not independent: MOHAMMED KHAN or GURPREET SANDHU are far commoner than the given
        name's frequency times the family name's, and OLIVIA among children born in 2015 far commoner
        than OLIVIA among everyone. Scored as independent, two namesakes born on the same day look like
        one person; in a city of a million there are many. So for each full name the number of people
        holding it is counted (distinct dates of birth among its records: one person's records share
        one), and likewise for each given name and year of birth (distinct family name and date of
        birth). "Other people" is that count less one, the record's own person.

        A count from a rare name is noise (one person whose date of birth was once mistyped looks
        like two), so the estimate is shrunk towards independence: with an exponential prior whose
        mean is the independent frequency, the posterior mean of the frequency per person is
        ``(1 + others) / (1 / independent + people)``. A name the data shows no other holder of keeps
        (about) its independent weight; a name thousands hold is weighed by how many do. 0 where the
        record lacks the parts."""
        n = len(self)
        full = np.zeros(n, np.float32)
        era = np.zeros(n, np.float32)
        has_dob = self.dob != MISSING_DAY
        named = (self.given >= 0) & (self.family >= 0)
        if not (named & has_dob).any():
            return full, era
        day = np.minimum(self.dob.astype(np.int64) - int(self.dob[has_dob].min()), (1 << 20) - 1)
        width = np.int64(len(self.vocabs.names) + 1)
        # people per full name: distinct dates of birth among its records
        rows = np.nonzero(named)[0]
        names, name_of = unique_inverse(self.given[rows].astype(np.int64) * width + self.family[rows])
        dated = rows[has_dob[rows]]
        person_key, first = np.unique(name_of[has_dob[rows]].astype(np.int64) << 20 | day[dated], return_index=True)
        holders = np.bincount(person_key >> 20, minlength=len(names))
        independent = self.tf["given"][rows].astype(np.float64) * self.tf["family"][rows]
        others = np.maximum(holders[name_of] - 1, 0)
        with np.errstate(divide="ignore"):
            full[rows] = np.where(independent > 0, (1.0 + others) / (1.0 / independent + len(person_key)), 0.0)
        # people per year of birth (distinct full name and date of birth), and per given name and year
        # (distinct family name and date of birth)
        year = self.dob_parts()[0].astype(np.int64)
        years, born = np.unique(year[dated[first]], return_counts=True)
        rows = dated
        cohort, cohort_of = unique_inverse(self.given[rows].astype(np.int64) << 12 | year[rows])
        _, family_day = unique_inverse(self.family[rows].astype(np.int64) << 20 | day[rows])
        in_cohort = np.bincount(np.unique(cohort_of.astype(np.int64) << 32 | family_day) >> 32, minlength=len(cohort))
        at = np.minimum(np.searchsorted(years, year[rows]), len(years) - 1)
        born_in = np.where(years[at] == year[rows], born[at], 0).astype(np.float64)
        given_tf = self.tf["given"][rows].astype(np.float64)
        others = np.maximum(in_cohort[cohort_of] - 1, 0)
        with np.errstate(divide="ignore"):
            era[rows] = np.where(given_tf > 0, (1.0 + others) / (1.0 / given_tf + born_in), 0.0)
        return full, era

    # ------------------------------------------------------------------ combining
    def take(self, rows: np.ndarray) -> RecordTable:
        """A table of the given rows (sharing vocabularies)."""
        values = {name: getattr(self, name)[rows] for name in _INT_FIELDS}
        out = RecordTable(self.vocabs, self.record_id[rows], uprn=self.uprn[rows], nhs=self.nhs[rows], **values)
        out.tf = {k: v[rows] for k, v in self.tf.items()}
        return out

    def columns(self, rows: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """These records (or only ``rows``, in that order) as plain arrays, and their vocabularies
        (:meth:`mast.linkage.vocab.Vocab.columns`; with ``rows``, only the values those records use):
        what one shard of a sharded link (:mod:`mast.linkage.sharded`) writes, and rebuilds with
        :meth:`from_columns` without normalising anything again.

        Pairs among the rows score exactly as in this table: a comparison reads values, never a code
        against anything but a code of the same vocabulary, and the term frequencies (of the whole
        population) travel with the rows."""
        records: dict[str, np.ndarray] = {"record_id": self.record_id, "uprn": self.uprn, "nhs": self.nhs}
        records.update({f: getattr(self, f) for f in _INT_FIELDS})
        records.update({f"tf_{name}": values for name, values in self.tf.items()})
        vocabs = {attribute: getattr(self.vocabs, attribute).columns() for attribute in _VOCAB_FIELDS}
        if rows is None:
            return records, vocabs
        code_columns = {a: {c: vocabs[a][c] for c in getattr(self.vocabs, a).CODE_COLUMNS} for a in vocabs}
        records, kept = select_rows(records, code_columns, rows)
        return records, {a: take_rows(vocabs[a], kept[a], code_columns[a]) for a in vocabs}

    @classmethod
    def from_columns(cls, records: Mapping[str, np.ndarray], vocabs: Mapping[str, Mapping[str, Any]]) -> RecordTable:
        """The table :meth:`columns` wrote (extra record columns are ignored)."""
        shared = Vocabs()
        for attribute, columns in vocabs.items():
            vocab = getattr(shared, attribute)
            setattr(shared, attribute, type(vocab).from_columns(vocab.name, dict(columns)))
        values: dict[str, Any] = {f: np.asarray(records[f]) for f in _INT_FIELDS}
        n = len(records["uprn"])
        ids = np.asarray(records["record_id"], dtype=object) if "record_id" in records else np.full(n, "", object)
        table = cls(shared, ids, uprn=np.asarray(records["uprn"]),
                    nhs=np.asarray(records["nhs"]), **values)
        table.tf = {k[3:]: np.asarray(v) for k, v in records.items() if k.startswith("tf_")}
        return table

    def subset(self, rows: np.ndarray) -> RecordTable:
        """Only ``rows``, with vocabularies of only their values (:meth:`columns`, in memory)."""
        return RecordTable.from_columns(*self.columns(rows))

    def concat(self, other: RecordTable) -> RecordTable:
        """This table with ``other``'s rows appended (both must share :attr:`vocabs`)."""
        if other.vocabs is not self.vocabs:
            raise ValueError("tables to concatenate must share vocabularies")
        values = {name: np.concatenate([getattr(self, name), getattr(other, name)]) for name in _INT_FIELDS}
        out = RecordTable(
            self.vocabs,
            np.concatenate([self.record_id, other.record_id]),
            uprn=np.concatenate([self.uprn, other.uprn]),
            nhs=np.concatenate([self.nhs, other.nhs]),
            **values,  # type: ignore[arg-type]  # the int fields by name: mypy cannot tell them from tf
        )
        out.tf = {k: np.concatenate([v, other.tf.get(k, np.zeros(len(other), np.float32))]) for k, v in self.tf.items()}
        return out


def select_rows(records: Mapping[str, np.ndarray], code_columns: Mapping[str, Mapping[str, np.ndarray]],
                rows: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``rows`` of a table's columns (:meth:`RecordTable.columns`) with their codes renumbered, and for
    each vocabulary the codes they keep, in order (a kept code's new number is its position there).
    ``code_columns``: each vocabulary's columns holding codes of itself (a name's words), whose codes
    are kept too."""
    out = {name: values[rows] for name, values in records.items()}
    kept: dict[str, np.ndarray] = {}
    for attribute, fields in _VOCAB_FIELDS.items():
        used = np.concatenate([out[f] for f in fields])
        codes = _present(used)
        for column in code_columns.get(attribute, {}).values():
            codes = _present(np.concatenate([codes, np.asarray(column)[codes].reshape(-1)]))
        kept[attribute] = codes
        for f in fields:
            out[f] = renumber(out[f], codes)
    return out, kept


def _present(codes: np.ndarray) -> np.ndarray:
    """The distinct codes (>= 0) among ``codes``, sorted (by marking: no sort of a shard's millions)."""
    codes = codes[codes >= 0]
    if len(codes) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.bincount(codes, minlength=int(codes.max()) + 1)).astype(np.int64)


def positions(kept: np.ndarray, size: int) -> np.ndarray:
    """For every code ``0..size-1``, its position among the sorted ``kept`` codes, or -1 (int32)."""
    out = np.full(size, -1, dtype=np.int32)
    out[kept] = np.arange(len(kept), dtype=np.int32)
    return out


def renumber(column: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Codes renumbered to their positions among the sorted ``kept`` codes (which hold them all); -1 stays."""
    if len(kept) == 0:
        return column.copy()
    lookup = positions(kept, int(kept[-1]) + 1)
    return np.where(column >= 0, lookup[np.maximum(column, 0)], column).astype(column.dtype)


def take_rows(columns: Mapping[str, Any], codes: np.ndarray, code_columns: Mapping[str, Any]) -> dict[str, Any]:
    """Rows ``codes`` of a vocabulary's columns, its code columns renumbered to positions among ``codes``."""
    out: dict[str, Any] = {}
    for name, column in columns.items():
        if isinstance(column, list):
            out[name] = [column[c] for c in codes.tolist()]
            continue
        taken = np.asarray(column)[codes]
        out[name] = renumber(taken, codes) if name in code_columns else taken
    return out


def _value_frequency(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Frequency of each record's value among the records that have one (0 where missing)."""
    out = np.zeros(len(values), dtype=np.float32)
    known = values[present]
    if len(known) == 0:
        return out
    distinct, inverse = unique_inverse(known)
    counts = np.bincount(inverse, minlength=len(distinct)).astype(np.float64)
    out[present] = (counts / len(known))[inverse]
    return out


# ---------------------------------------------------------------------- preparation
def _map_uniques(col: Factorised, fn: Any, dtype: Any, fill: Any) -> np.ndarray:
    """Apply ``fn`` to each distinct value and gather the results back to rows."""
    mapped = np.fromiter((fn(v) for v in col.uniques), dtype=dtype, count=len(col.uniques))
    if len(mapped) == 0:
        return np.full(len(col.codes), fill, dtype=dtype)
    return gather(mapped, col.codes, fill)


def _as_day(value: Any) -> int:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return MISSING_DAY if parse_date(value.isoformat()) is None else to_day(value)
    parsed = parse_date(str(value))
    return MISSING_DAY if parsed is None else to_day(parsed)


def _record_day(value: Any) -> int:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return to_day(value)
    try:
        return to_day(dt.date.fromisoformat(str(value).strip()[:10]))
    except ValueError:
        return MISSING_DAY


def _sex(value: Any) -> int:
    return SEX_CODES.get(str(value).strip().upper(), 0)


def _column(columns: Mapping[str, Any], name: str, n: int) -> Factorised:
    values = columns.get(name)
    if values is None:
        return Factorised([], np.full(n, MISSING, dtype=np.int32))
    return factorise(values)


def _parts(address: Address) -> tuple[str, str, str, str, str]:
    """What a table keeps of a parsed address: dwelling ('' where there is none), number, flat, street,
    locality (plain strings: a list of them crosses a pipe in a tenth of the time the objects take)."""
    return (address.dwelling if address.present else "", address.number, address.flat, address.street,
            address.locality)


def _parse_lines(lines: Sequence[Any]) -> list[tuple[str, str, str, str, str]]:
    return [_parts(parse_address(str(v), None)) for v in lines]


def _addresses(l1: Factorised, l2: Factorised, vocabs: Vocabs, n: int,
               first: Sequence[tuple[str, str, str, str, str]]) -> tuple[np.ndarray, ...]:
    """``first``: each distinct first line parsed alone (:func:`_parse_lines`), in ``l1.uniques`` order."""

    def codes_of(parts: tuple[str, str, str, str, str]) -> tuple[int, int, int, int, int]:
        dwelling, number, flat, street, locality = parts
        return (vocabs.dwellings.code(dwelling), vocabs.numbers.code(number), vocabs.numbers.code(flat),
                vocabs.streets.code(street), vocabs.streets.code(locality))

    first_codes = np.asarray([codes_of(a) for a in first] or [(MISSING,) * 5], dtype=np.int32).reshape(-1, 5)
    first_digits = np.asarray([has_digit(str(v)) for v in l1.uniques] or [False], dtype=bool)
    second_digits = np.asarray([has_digit(str(v)) for v in l2.uniques] or [False], dtype=bool)
    second_locality = np.asarray([vocabs.streets.code(locality_of(str(v))) for v in l2.uniques] or [MISSING],
                                 dtype=np.int32)
    out = gather(first_codes, l1.codes, MISSING).reshape(n, 5).copy()
    has1, has2 = l1.codes >= 0, l2.codes >= 0
    # locality from the second line where the first has none
    take_second = has2 & (out[:, 4] < 0)
    out[take_second, 4] = second_locality[l2.codes[take_second]]
    # the number and street on line 2 (after a building name on line 1, or with no line 1): parse
    # the pair. A second line alone with no number is only a locality, which the line above set.
    d1 = np.where(has1, first_digits[np.maximum(l1.codes, 0)], False)
    d2 = np.where(has2, second_digits[np.maximum(l2.codes, 0)], False)
    slow = has2 & ~d1 & d2
    if slow.any():
        rows = np.nonzero(slow)[0]
        width = np.int64(len(l2.uniques) + 1)
        combo = (l1.codes[rows].astype(np.int64) + 1) * width + (l2.codes[rows].astype(np.int64) + 1)
        uniq, inverse = unique_inverse(combo)
        parsed = []
        for value in uniq.tolist():
            c1, c2 = divmod(value, int(width))
            parsed.append(codes_of(_parts(parse_address(str(l1.uniques[c1 - 1]) if c1 else None,
                                                        str(l2.uniques[c2 - 1]) if c2 else None))))
        out[rows] = np.asarray(parsed, dtype=np.int32)[inverse]
    return tuple(np.ascontiguousarray(out[:, k]) for k in range(5))


#: with ``beside``, :func:`prepare` parses this share of the distinct first address lines in a process
#: of its own (from :data:`BESIDE_FROM` of them), while it normalises the rest: the parse is about two
#: thirds of the work (6.4 of 10.6 CPU-s for the generated million's 291,000 distinct lines)
BESIDE_SHARE = 0.6
BESIDE_FROM = 20_000


def prepare(columns: Mapping[str, Sequence[Any] | Factorised], vocabs: Vocabs | None = None,
            *, compute_tf: bool = True, beside: bool = False) -> RecordTable:
    """Normalise canonical columns into a :class:`RecordTable`.

    ``columns`` maps canonical column names (:data:`INPUT_COLUMNS`) to equal-length sequences or
    :class:`Factorised` columns; absent columns are all-missing. Pass the ``vocabs`` of an existing
    table to append to it later (incremental link, search against an index). ``beside``: parse part
    of the address lines in a forked process meanwhile (a second core; the same table either way).
    """
    ids = columns.get("record_id")
    if ids is None:
        raise ValueError("record_id is required")
    l1 = _column(columns, "address_line1", len(ids.codes) if isinstance(ids, Factorised) else len(ids))
    split = int(len(l1.uniques) * BESIDE_SHARE) if beside and len(l1.uniques) >= BESIDE_FROM else 0
    parsing = Background(lambda: _parse_lines(l1.uniques[:split])) if split else None
    try:
        return _prepare(columns, vocabs, compute_tf, l1, split, parsing)
    except BaseException:
        if parsing is not None:
            parsing.cancel()
        raise


def _prepare(columns: Mapping[str, Sequence[Any] | Factorised], vocabs: Vocabs | None, compute_tf: bool,
             l1: Factorised, split: int,
             parsing: Background[list[tuple[str, str, str, str, str]]] | None) -> RecordTable:
    vocabs = vocabs or Vocabs()
    ids = columns.get("record_id")
    if ids is None:
        raise ValueError("record_id is required")
    if isinstance(ids, Factorised):
        record_id = np.asarray([ids.uniques[c] for c in ids.codes.tolist()], dtype=object)
    else:
        record_id = np.asarray([str(v) for v in ids], dtype=object)
    n = len(record_id)
    names = vocabs.names

    # Names. A given-name field may hold more than one name ("Mary Jane"): the first is the given
    # name, the rest are middle names, ahead of any middle-name column.
    g = _column(columns, "given_name", n)
    g_clean = [clean_given(str(v)) for v in g.uniques]
    given = gather(np.asarray([names.code(first) for first, _ in g_clean] or [0], dtype=np.int32), g.codes)
    g_extra = [extra for _, extra in g_clean]
    m = _column(columns, "middle_name", n)
    m_clean = [clean_middle(str(v)) for v in m.uniques]
    middle = gather(np.asarray([names.code(v) for v in m_clean] or [0], dtype=np.int32), m.codes)
    if any(g_extra):
        # extra given names come first, then the middle-name column: per distinct combination
        rows = np.nonzero(gather(np.asarray([bool(e) for e in g_extra], dtype=bool), g.codes, False))[0]
        width = np.int64(len(m.uniques) + 1)
        combo = g.codes[rows].astype(np.int64) * width + (m.codes[rows].astype(np.int64) + 1)
        uniq, inverse = unique_inverse(combo)
        codes = []
        for value in uniq.tolist():
            gc, mc = divmod(value, int(width))
            words = (g_extra[gc] + " " + (m_clean[mc - 1] if mc else "")).split()
            codes.append(names.code(" ".join(words)))
        middle = middle.copy()
        middle[rows] = np.asarray(codes, dtype=np.int32)[inverse]
    f = _column(columns, "family_name", n)
    family = gather(np.asarray([names.code(clean_family(str(v))) for v in f.uniques] or [0], dtype=np.int32), f.codes)
    names.refresh()
    names.refresh_near(given)

    dob = _map_uniques(_column(columns, "dob", n), _as_day, np.int32, MISSING_DAY)
    record_date = _map_uniques(_column(columns, "record_date", n), _record_day, np.int32, MISSING_DAY)
    sex = _map_uniques(_column(columns, "sex", n), _sex, np.int8, 0)

    pc = _column(columns, "postcode", n)
    parsed_pc = [parse_postcode(str(v)) for v in pc.uniques]
    postcode = gather(np.asarray([vocabs.postcodes.code(p.text) for p in parsed_pc] or [0], dtype=np.int32), pc.codes)
    sector = gather(np.asarray([vocabs.sectors.code(p.sector) for p in parsed_pc] or [0], dtype=np.int32), pc.codes)

    nhs = _map_uniques(_column(columns, "nhs_number", n), nhs_number, np.int64, 0)
    uprns = _map_uniques(_column(columns, "uprn", n), uprn, np.int64, 0)
    src = _column(columns, "source", n)
    source = gather(np.asarray([vocabs.sources.code(str(v)) for v in src.uniques] or [0], dtype=np.int32), src.codes)

    # Addresses (last: their first lines may be parsing beside meanwhile): parse each distinct first
    # line once; the second line only adds the locality, except where the first line holds no number
    # and the second does ("Rose Court" / "12 High Street"), which is parsed as a pair.
    rest = _parse_lines(l1.uniques[split:])
    first = (parsing.result() if parsing is not None else []) + rest
    l2 = _column(columns, "address_line2", n)
    dwelling, number, flat, street, locality = _addresses(l1, l2, vocabs, n, first)

    table = RecordTable(
        vocabs, record_id, source=source, given=given, middle=middle, family=family, dob=dob, sex=sex,
        postcode=postcode, sector=sector, dwelling=dwelling, number=number, flat=flat, street=street,
        locality=locality, uprn=uprns, nhs=nhs, record_date=record_date,
    )
    if compute_tf:
        table.compute_tf()
    else:
        table.tf = {name: np.zeros(n, np.float32) for name in TF_FIELDS}
    return table


def prepare_records(rows: Sequence[Mapping[str, Any]], vocabs: Vocabs | None = None, *,
                    compute_tf: bool = True) -> RecordTable:
    """:func:`prepare` for a list of dicts (tests, a search query, a handful of new rows)."""
    columns = {name: [row.get(name) for row in rows] for name in INPUT_COLUMNS}
    return prepare(columns, vocabs, compute_tf=compute_tf)
