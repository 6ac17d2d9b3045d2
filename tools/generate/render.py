"""Write one partner's file from its feed definition, as that partner's system would.

Everything the file looks like comes from the definition (column names and order, date format,
name layout, codes, flags, delimiter, encoding, line endings), so a generated file always parses
with its definition; how *careful* the partner is comes from its profile (nicknames, typing
errors, swapped names, day/month swaps, placeholder dates, postcode and flat variants).

The variation of one record is drawn from a hash of the record's index, not from the random
stream, so the same open case looks the same in every day's snapshot, and a file is the same
bytes for the same seed whatever else was generated beside it.

A few rows per file are deliberately bad (impossible date, missing surname, bad NHS number …):
they are listed in :class:`ExtractFile.bad_rows`, so a test can check the receipt rejects
exactly those.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import unicodedata
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mast.feeds.csvout import buffer_bytes, csv_lines, header_line
from mast.feeds.definition import ColumnSpec, FeedDefinition, strftime_pattern
from tools.generate.partners import Extra, Profile, profile_for
from tools.generate.population import Population
from tools.generate.timeline import Involvements
from tools.generate.vocab import Vocab

# deliberate faults
(BAD_NONE, BAD_DATE, BAD_MISSING, BAD_NHS, BAD_SEX, BAD_FUTURE_DOB, BAD_NAME_FORM, BAD_FLAG,
 BAD_RELEVANCE, BAD_REF, BAD_RAGGED) = range(11)  # fmt: skip
BAD_NAMES: Final = {
    BAD_DATE: "impossible date", BAD_MISSING: "required value missing", BAD_NHS: "bad NHS number",
    BAD_SEX: "unknown sex code", BAD_FUTURE_DOB: "date of birth in the future",
    BAD_NAME_FORM: "name not in the feed's layout", BAD_FLAG: "unknown flag value",
    BAD_RELEVANCE: "relevance value missing", BAD_REF: "case reference missing",
    BAD_RAGGED: "row with too few cells",
}  # fmt: skip

_ABBREV: Final = {" Road": " Rd", " Street": " St", " Avenue": " Ave", " Close": " Cl",
                  " Drive": " Dr", " Crescent": " Cres", " Gardens": " Gdns"}  # fmt: skip
_NON_RESIDENTIAL: Final = ("Car", "Shop", "Grassland", "Refuse container", "Industrial unit",
                           "Derelict building", "Van")  # fmt: skip
_KEYBOARD: Final = {
    c: n for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for i, c in enumerate(row) for n in [row[max(i - 1, 0)] + row[min(i + 1, len(row) - 1)]]
}  # fmt: skip
_NOISE_SLOTS: Final = 32
#: what A&E writes for a newborn not yet named, by sex
_NEWBORN: Final = {"F": ("Baby Girl", "Girl", "Unknown", "Baby"), "M": ("Baby Boy", "Boy", "Unknown", "Baby")}
#: digit positions of YYYYMMDD a slip hits: the year's last two digits, the month's units, the day's
_SLIP_POSITIONS: Final = (2, 3, 5, 6, 7)


@dataclass(frozen=True)
class ExtractFile:
    """One generated file with what a correct ingest must make of it (data rows, 1-based,
    header excluded, as in ``truth.csv``)."""

    feed: str
    file_name: str
    data: bytes
    rows: int
    bad_rows: dict[int, str] = field(default_factory=dict)  # data row -> fault
    duplicate_rows: tuple[int, ...] = ()
    filtered_rows: tuple[int, ...] = ()
    withdrawal_rows: tuple[int, ...] = ()
    # per data row: the person and address it is about (-1: nobody, e.g. a car fire)
    truth_person: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    truth_address: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


def noise(record: np.ndarray, slot: int, salt: int) -> np.ndarray:
    """A uniform [0, 1) per record and slot, from a splitmix64 hash: stable across days."""
    with np.errstate(over="ignore"):
        x = (record.astype(np.uint64) * np.uint64(_NOISE_SLOTS) + np.uint64(slot)
             + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15))  # fmt: skip
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class _Writable:
    """An Arrow column that takes a few cell assignments (deliberate faults) before it is written,
    without turning a million dates into Python strings."""

    def __init__(self, column: pa.Array) -> None:
        self.column = column
        self.changes: dict[int, str | None] = {}

    def __setitem__(self, i: int, value: str | None) -> None:
        self.changes[int(i)] = value

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        out = np.asarray(self.column.to_numpy(zero_copy_only=False), dtype=object)
        for i, v in self.changes.items():
            out[i] = v
        return out[idx]

    def take(self, idx: pa.Array) -> pa.Array:
        if not self.changes:
            return self.column.take(idx)
        positions = pa.array(sorted(self.changes), pa.int64())
        patched = pc.replace_with_mask(
            self.column,
            pa.array(np.isin(np.arange(len(self.column)), positions.to_numpy())),
            pa.array([self.changes[i] for i in sorted(self.changes)], pa.string()),
        )
        return patched.take(idx)


class FileRenderer:
    """Renders the rows of one feed for one day."""

    def __init__(self, definition: FeedDefinition, pop: Population, inv: Involvements,
                 vocab: Vocab, salt: int) -> None:  # fmt: skip
        self.d = definition
        self.p: Profile = profile_for(definition.id)
        self.pop = pop
        self.inv = inv
        self.vocab = vocab
        self.salt = salt

    def u(self, rows: np.ndarray, slot: int) -> np.ndarray:
        return noise(rows, slot, self.salt)

    # --- values ------------------------------------------------------------------------------
    def render(self, rows: np.ndarray, day: int, day_date: dt.date, withdrawal: np.ndarray,
               duplicate_of: dict[int, int]) -> ExtractFile:  # fmt: skip
        """``rows``: involvement indices in file order; ``withdrawal``: mask of rows that are
        withdrawal rows; ``duplicate_of``: file position -> position it repeats."""
        d, p, pop, inv = self.d, self.p, self.pop, self.inv
        m = len(rows)
        person = inv.person[rows]
        has_person = person >= 0
        pp = np.where(has_person, person, 0)
        when = inv.start[rows]
        snap_when = np.full(m, np.datetime64(day_date, "D"))
        addr = np.where(inv.address[rows] >= 0, inv.address[rows],
                        pop.address_at(pp, snap_when if d.mode == "snapshot" else when))  # fmt: skip
        u = lambda slot: self.u(rows, slot)  # noqa: E731

        given = pop.given[pp].copy()
        middle = pop.middle[pp].copy()
        family = pop.family[pp].copy()
        # Mohammed Imran, known as Imran
        cbm = pop.called_by_middle[pp] & (u(0) < p.called_by_middle)
        given[cbm], middle[cbm] = middle[cbm], None
        # nicknames and other forms
        nick = np.flatnonzero(u(1) < p.nickname)
        which = u(2)
        for i in nick:
            options = self.vocab.nicknames.get(given[i])
            if options:
                given[i] = options[int(which[i] * len(options)) % len(options)]
        # Sikh women and men recorded as Kaur / Singh
        ks = np.flatnonzero((pop.community[pp] == "sikh") & (u(3) < 0.3) & np.not_equal(middle, None))
        family[ks], middle[ks] = middle[ks], None
        # hyphens and apostrophes
        fam_u = u(4)
        for i in np.flatnonzero(fam_u < 0.35):
            f = family[i]
            if "-" in f:
                family[i] = f.replace("-", " ") if fam_u[i] < 0.15 else f.split("-")[-1]
            elif "'" in f:
                family[i] = f.replace("'", "") if fam_u[i] < 0.2 else f.replace("'", " ")
        # typing errors, transposed names, middle names left out, accents lost
        for slot, arr in ((5, given), (7, family)):
            hit = np.flatnonzero(u(slot) < p.typo)
            r1, r2 = u(slot + 1), u(slot + 20)
            for i in hit:
                arr[i] = typo(arr[i], r1[i], r2[i])
        tr = u(9) < p.transpose
        given[tr], family[tr] = family[tr], given[tr]
        # a newborn at A&E before it is named: "Baby Girl", "Boy", "Unknown" (its later records carry the name)
        if p.newborn_placeholder:
            infant = has_person & ((when - pop.dob[pp]).astype(np.int64) < 60)
            un = noise(rows, 31, self.salt + 1)
            for i in np.flatnonzero(infant & (un < p.newborn_placeholder)):
                options = _NEWBORN[pop.sex[pp[i]]]
                given[i], middle[i] = options[int(un[i] * 1000) % len(options)], None
        middle[u(10) < p.middle_dropped] = None
        lose = u(11) < p.diacritics_lost
        for arr in (given, middle, family):
            for i in np.flatnonzero(lose):
                if arr[i] is not None and not arr[i].isascii():
                    arr[i] = ascii_fold(arr[i])

        # dates of birth: day/month swapped, placeholders, missing
        dob = pop.dob[pp].copy()
        ud = u(12)
        yy = dob.astype("datetime64[Y]")
        mm = (dob.astype("datetime64[M]") - yy.astype("datetime64[M]")).astype(np.int64) + 1
        dd = (dob - dob.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
        swapped = (yy.astype("datetime64[M]") + (dd - 1).astype("timedelta64[M]")).astype(
            "datetime64[D]") + (mm - 1).astype("timedelta64[D]")  # fmt: skip
        swap = (ud < p.dob_swap) & (dd <= 12) & (dd != mm) & (swapped <= when)
        dob[swap] = swapped[swap]
        placeholder = (ud >= p.dob_swap) & (ud < p.dob_swap + p.placeholder_dob)
        dob[placeholder] = np.datetime64("1900-01-01")
        # one digit mistyped (a day, a month, a year's last two digits), a valid date still
        slips = (u(20) < p.dob_typo) & ~swap & ~placeholder & has_person
        if slips.any():
            dob[slips] = dob_slips(dob[slips], when[slips], noise(rows[slips], 20, self.salt + 2))
        dob_col = d.column_for("dob")
        if dob_col is not None and not dob_col.required:
            dob[u(13) < p.dob_missing] = np.datetime64("NaT")
            # children present at an incident recorded without their dates of birth
            child = has_person & ((when - pop.dob[pp]).astype(np.int64) < 16 * 365)
            dob[child & (noise(rows, 31, self.salt + 3) < p.child_dob_missing)] = np.datetime64("NaT")

        sex = pop.sex[pp].copy()
        sex_col = d.column_for("sex")
        if sex_col is not None and not sex_col.required:
            sex[u(14) < 0.03] = None

        # address
        a = pop.addresses
        number = a.number[addr].astype(str).astype(object)
        flat = a.flat[addr]
        block = a.block[addr]
        street = a.street[addr].copy()
        ab = np.flatnonzero(u(15) < 0.1)
        for i in ab:
            for long, short in _ABBREV.items():
                if street[i].endswith(long):
                    street[i] = street[i][: -len(long)] + short
        locality = a.locality[addr].copy()
        locality[u(16) < 0.15] = None
        town = a.town[addr]
        postcode = a.postcode[addr].copy()
        up = u(17)
        for i in np.flatnonzero(up < 0.14):
            postcode[i] = postcode[i].replace(" ", "") if up[i] < 0.10 else postcode[i].lower()
        premises = number.copy()
        fv = u(18)
        for i in np.flatnonzero(flat > 0):
            b = f"{block[i]}, " if block[i] else ""
            v = fv[i]
            if v < 0.5:
                premises[i] = f"Flat {flat[i]}, {b}{number[i]}"
            elif v < 0.7:
                premises[i] = f"{flat[i]}/{number[i]}" if not b else f"Flat {flat[i]} {b}{number[i]}"
            elif v < 0.85:
                premises[i] = f"Flat {flat[i]} {number[i]}"
            else:
                premises[i] = f"{number[i]}{'ABCD'[flat[i] - 1]}"  # flat lettered: 14B
        nonres = ~inv.relevant[rows]
        values: dict[str, np.ndarray] = {}
        self._names(values, given, middle, family, u, pp, np.datetime64(day_date, "D"))
        self._addresses(values, premises, street, locality, town, u, flat)

        # the remaining columns
        for c in d.columns:
            f = c.field
            if f == "source_record_id":
                values[c.name] = inv.case_ref[rows].copy()
            elif f in ("record_date", "end_date", "dob"):
                dates = {"record_date": when, "dob": dob}.get(f)
                if dates is None:
                    dates = np.full(m, np.datetime64("NaT"), dtype="datetime64[D]")
                values[c.name] = self._format_dates(c, dates, rows)
            elif f == "sex":
                codes = {s: d.sex_code_for(s) for s in ("M", "F", "U")}
                values[c.name] = np.array([codes[s] if s is not None else None for s in sex], dtype=object)
            elif f == "postcode":
                values[c.name] = postcode
            elif f == "uprn":
                uprn = a.uprn[addr].copy()
                uprn[u(19) < 0.5] = None
                values[c.name] = uprn
            elif f == "nhs_number":
                nhs = pop.nhs[pp].copy()
                nhs[u(21) < p.nhs_missing] = None
                spaced = u(22) < 0.4
                for i in np.flatnonzero(spaced & np.not_equal(nhs, None)):
                    s = nhs[i]
                    nhs[i] = f"{s[:3]} {s[3:6]} {s[6:]}"
                values[c.name] = nhs
            elif f.startswith("contact_"):
                ex = [e for e in c.examples if e] or [None]
                pick = (u(23) * len(ex)).astype(np.int64)
                values[c.name] = np.array(ex, dtype=object)[pick]
            elif f == "sensitive" and d.sensitive is not None:
                sens = pop.hh_sensitive[pop.household[pp]] & has_person
                true_v = d.sensitive.true_values[0]
                false_v = d.sensitive.false_values[0] if d.sensitive.false_values else None
                values[c.name] = np.where(sens, true_v, false_v).astype(object)
            elif f == "withdrawal" and d.withdrawal is not None:
                normal = next((e for e in c.examples if e.casefold() not in
                               {v.casefold() for v in d.withdrawal.values}), None) or None  # fmt: skip
                values[c.name] = np.where(withdrawal, d.withdrawal.values[0], normal).astype(object)
            elif f == "relevance" and d.relevance is not None:
                keep = np.array(d.relevance.keep, dtype=object)
                kept = {k.casefold() for k in d.relevance.keep}
                other = np.array([e for e in c.examples if e.casefold() not in kept]
                                 or list(_NON_RESIDENTIAL), dtype=object)  # fmt: skip
                ur = u(24)
                values[c.name] = np.where(
                    nonres, other[(ur * len(other)).astype(np.int64) % len(other)],
                    keep[(ur * len(keep)).astype(np.int64) % len(keep)],
                ).astype(object)
        # non-residential incidents carry no occupier
        for c in d.columns:
            if c.field in ("full_name", "given_name", "middle_name", "family_name", "dob", "sex",
                           "nhs_number") and nonres.any():
                if not c.required:
                    if isinstance(values[c.name], pa.Array):
                        values[c.name] = pc.if_else(pa.array(nonres), pa.scalar(None, pa.string()),
                                                    values[c.name])  # fmt: skip
                    else:
                        values[c.name][nonres] = None

        # deliberate faults
        bad = inv.bad[rows]
        ragged: set[int] = set()
        for i in np.flatnonzero(bad):
            if withdrawal[i]:
                continue
            if bad[i] == BAD_RAGGED:
                ragged.add(int(i))
            else:
                self._spoil(values, int(i), int(bad[i]), day_date)

        # duplicate rows: exact repeats of an earlier row, inserted at the given positions
        idx = np.arange(m, dtype=np.int64)
        for pos_, of in sorted(duplicate_of.items()):
            idx = np.insert(idx, pos_, of)
        is_repeat = np.ones(len(idx), dtype=bool)
        is_repeat[np.unique(idx, return_index=True)[1]] = False
        columns = [c.name for c in d.columns]
        for extra in p.extras:
            columns.insert(min(extra.position, len(columns)), extra.name)
            values[extra.name] = self._extra(extra, rows)
        table = pa.table({
            name: values[name].take(pa.array(idx)) if isinstance(values[name], (pa.Array, _Writable))
            else pa.array(values[name][idx], pa.string())
            for name in columns
        })  # fmt: skip
        values.clear()  # the Python strings can go: a large file's peak memory is here
        ragged_at = np.flatnonzero(np.isin(idx, sorted(ragged))).tolist() if ragged else []
        data = self._write(table, columns, ragged_at)

        about = has_person & ~withdrawal
        first_at = {int(i): int(np.flatnonzero(idx == i)[0]) for i in np.flatnonzero(bad)}
        return ExtractFile(
            feed=d.id,
            file_name=f"{d.id}.csv",
            data=data,
            rows=len(idx),
            bad_rows={first_at[int(i)] + 1: BAD_NAMES[int(bad[i])]
                      for i in np.flatnonzero(bad) if not withdrawal[i]},  # fmt: skip
            duplicate_rows=tuple((np.flatnonzero(is_repeat) + 1).tolist()),
            filtered_rows=tuple((np.flatnonzero((nonres & ~withdrawal)[idx]) + 1).tolist()),
            withdrawal_rows=tuple((np.flatnonzero(withdrawal[idx]) + 1).tolist()),
            truth_person=np.where(about, person, -1)[idx],
            truth_address=np.where(about, addr, -1)[idx],
        )

    def _names(self, values: dict[str, np.ndarray], given: np.ndarray, middle: np.ndarray,
               family: np.ndarray, u, pp: np.ndarray, today: np.datetime64) -> None:  # fmt: skip
        d, p = self.d, self.p
        ut = u(25)
        age = self.pop.age_at(today)[pp]
        titles = np.where(self.pop.sex[pp] == "M", np.where(age < 16, "Master", "Mr"),
                          np.where(ut < p.title * 0.5, "Mrs", np.where(age < 30, "Miss", "Ms")))
        with_title = ut < p.title
        full = d.column_for("full_name")
        if full is not None:
            fam = family.copy()
            if p.upper_family:
                fam = np.array([f.upper() if f else f for f in fam], dtype=object)
            initial = u(26) < p.initial_only
            out = np.empty(len(given), dtype=object)
            for i in range(len(given)):
                g = given[i]
                if initial[i] and g:
                    g = g[0]
                forenames = " ".join(x for x in (g, middle[i]) if x)
                if d.name_order == "family_first":
                    out[i] = f"{fam[i]}, {forenames}" if forenames else fam[i]
                else:
                    t = f"{titles[i]} " if with_title[i] else ""
                    out[i] = f"{t}{forenames} {fam[i]}".strip()
            values[full.name] = out
            return
        for c in d.columns:
            if c.field == "given_name":
                g = given.copy()
                for i in np.flatnonzero(with_title):
                    g[i] = f"{titles[i]} {g[i]}"
                values[c.name] = g
            elif c.field == "middle_name":
                values[c.name] = middle
            elif c.field == "family_name":
                values[c.name] = family

    def _addresses(self, values: dict[str, np.ndarray], premises: np.ndarray, street: np.ndarray,
                   locality: np.ndarray, town: np.ndarray, u, flat: np.ndarray) -> None:  # fmt: skip
        d = self.d
        line1_cols = d.columns_for("address_line1")
        line2_cols = d.columns_for("address_line2")
        m = len(premises)
        county = np.full(m, "West Midlands", dtype=object)
        locality = np.where(locality == town, None, locality)
        rest_parts = [locality, town] + ([county] if len(line2_cols) >= 3 else [])
        if len(line1_cols) >= 2:
            values[line1_cols[0].name] = premises
            values[line1_cols[1].name] = street
            for c in line1_cols[2:]:
                values[c.name] = np.full(m, None, dtype=object)
            line1 = None
        else:
            line1 = np.array([f"{a} {b}" for a, b in zip(premises, street, strict=True)], dtype=object)
        if not line2_cols:
            if line1 is not None:  # everything in one column
                line1 = np.array([", ".join(x for x in parts if x) for parts in
                                  zip(line1, *rest_parts, strict=True)], dtype=object)  # fmt: skip
            elif line1_cols:
                pass
        elif len(line2_cols) == 1:
            values[line2_cols[0].name] = np.array(
                [", ".join(x for x in parts if x) or None for parts in zip(*rest_parts, strict=True)],
                dtype=object)  # fmt: skip
        else:
            cols = [c.name for c in line2_cols]
            for k, c in enumerate(cols):
                values[c] = rest_parts[k].copy() if k < len(rest_parts) else np.full(m, None, dtype=object)
            if line1 is not None and len(cols) >= 3:
                # some systems put "Flat 4" on its own line and shift the rest down
                shift = np.flatnonzero((flat > 0) & (u(27) < 0.5))
                for i in shift:
                    if premises[i].startswith("Flat ") and ", " in premises[i]:
                        f, rest = premises[i].split(", ", 1)
                        line1[i] = f
                        chain = [f"{rest} {street[i]}", *[values[c][i] for c in cols]]
                        chain = [x for x in chain if x][: len(cols)]
                        for k, c in enumerate(cols):
                            values[c][i] = chain[k] if k < len(chain) else None
        if line1 is not None and line1_cols:
            values[line1_cols[0].name] = line1

    def _format_dates(self, c: ColumnSpec, dates: np.ndarray, rows: np.ndarray) -> np.ndarray:
        fmt = strftime_pattern(self.d.date_format_of(c))
        arr = pa.array(dates, type=pa.date32())
        if c.name in self.p.datetime_columns:
            minutes = (self.u(rows, 28) * 1440).astype(np.int64)
            ts = dates.astype("datetime64[s]") + (minutes * 60).astype("timedelta64[s]")
            text = pc.strftime(pa.array(ts, pa.timestamp("s")), format=fmt + " %H:%M")
        else:
            text = pc.strftime(pc.cast(arr, pa.timestamp("s")), format=fmt)
        if "%b" in fmt:
            text = pc.utf8_upper(text)
        return text  # kept in Arrow: a million dates as Python strings would cost ~150 MB

    def _spoil(self, values: dict[str, np.ndarray], i: int, kind: int, day: dt.date) -> None:
        d = self.d
        for key, column in values.items():  # dates stay in Arrow until a fault must be written
            if isinstance(column, pa.Array):
                values[key] = _Writable(column)
        name = lambda field: (c.name if (c := d.column_for(field)) else None)  # noqa: E731
        if kind == BAD_DATE:
            c = d.column_for("dob") or d.column_for("record_date")
            assert c is not None
            fmt = d.date_format_of(c)
            year = "2019" if c.field == "dob" else str(day.year - 1)
            values[c.name][i] = fmt.replace("DD", "31").replace("MM", "02").replace(
                "MON", "FEB").replace("YYYY", year)  # fmt: skip
        elif kind == BAD_MISSING:
            target = next(c for c in d.columns if c.required and c.field in
                          ("family_name", "full_name", "address_line1", "postcode", "record_date"))  # fmt: skip
            values[target.name][i] = None
        elif kind == BAD_NHS:
            col = name("nhs_number")
            values[col][i] = "9434765918"  # fails the check digit
        elif kind == BAD_SEX:
            values[name("sex")][i] = "Z"
        elif kind == BAD_FUTURE_DOB:
            c = d.column_for("dob")
            assert c is not None
            # twenty years ahead: in the future whenever the file is ingested
            fut = np.array([np.datetime64(day + dt.timedelta(days=20 * 365), "D")])
            values[c.name][i] = self._format_dates(c, fut, np.array([0]))[0].as_py()
        elif kind == BAD_NAME_FORM:
            col = name("full_name")
            values[col][i] = "John Arthur SMITH"  # no comma in a SURNAME, Forename column
        elif kind == BAD_FLAG:
            values[name("sensitive")][i] = "maybe"
        elif kind == BAD_RELEVANCE:
            values[name("relevance")][i] = None
        elif kind == BAD_REF:
            values[name("source_record_id")][i] = None

    def _extra(self, extra: Extra, rows: np.ndarray) -> np.ndarray:
        pick = (self.u(rows, 29) * len(extra.values)).astype(np.int64) % len(extra.values)
        out = np.array(extra.values, dtype=object)[pick]
        if extra.free_text:
            more = self.u(rows, 30)
            out = out.copy()
            for i in np.flatnonzero(more < 0.25):
                out[i] = f"{out[i]}.\nFollow-up: referral made, see notes"
        return out

    def _write(self, table: pa.Table, columns: list[str], ragged_positions: list[int]) -> bytes:
        fmt = self.d.file
        lines = csv_lines(table, fmt.delimiter, quote_all=self.p.quote_all)
        ragged_rows = {pos: [table.column(k)[pos].as_py() or "" for k in range(3)]
                       for pos in ragged_positions}  # fmt: skip
        del table
        parts = [header_line(columns, fmt.delimiter)]
        start = 0
        for pos in [*ragged_positions, len(lines)]:
            if pos > start:
                parts.append(buffer_bytes(lines.slice(start, pos - start)))
            if pos < len(lines):  # a row cut short after its third cell
                row = ragged_rows[pos]
                line = io.StringIO(newline="")
                csv.writer(line, delimiter=fmt.delimiter, lineterminator="\n").writerow(row)
                parts.append(line.getvalue().encode("utf-8"))
            start = pos + 1
        del lines
        data = b"".join(parts)
        parts.clear()
        if fmt.line_ending == "\r\n":
            data = data.replace(b"\n", b"\r\n")
        if fmt.encoding == "windows-1252":
            return data.decode("utf-8").encode("cp1252", errors="mast-ascii-fold")
        if fmt.encoding == "utf-8-sig":
            return b"\xef\xbb\xbf" + data
        return data


def _fold_error(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a character Windows-1252 lacks is written without its accent."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return ascii_fold(exc.object[exc.start : exc.end]), exc.end


codecs.register_error("mast-ascii-fold", _fold_error)


_FOLD: Final = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss"})


def ascii_fold(text: str) -> str:
    """Accents dropped, as a system without Unicode records them: Łukasz -> Lukasz."""
    text = text.translate(_FOLD)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def dob_slips(dob: np.ndarray, when: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Each date with one digit of YYYYMMDD mistyped, where that still makes a valid date on or before
    ``when`` (else the date is left as it was): 1983-05-09 as 1983-05-08, 1988-05-09 or 1983-06-09."""
    out = dob.copy()
    for i, (day, r_i) in enumerate(zip(dob.tolist(), r.tolist(), strict=True)):
        if day is None:
            continue
        text = day.strftime("%Y%m%d")
        pos = _SLIP_POSITIONS[int(r_i * 5) % 5]
        digit = (int(text[pos]) + 1 + int(r_i * 5000) % 9) % 10
        slipped = text[:pos] + str(digit) + text[pos + 1 :]
        try:
            new = dt.date(int(slipped[:4]), int(slipped[4:6]), int(slipped[6:8]))
        except ValueError:
            continue
        if np.datetime64(new, "D") <= when[i] and new.year >= 1900:
            out[i] = np.datetime64(new, "D")
    return out


def typo(word: str | None, r1: float, r2: float) -> str | None:
    """One typing error: a neighbouring key, a dropped or doubled letter, two letters swapped."""
    if not word or len(word) < 3:
        return word
    i = 1 + int(r2 * (len(word) - 2)) % (len(word) - 2)  # never the first letter
    kind = int((r1 * 1000) % 4)
    ch = word[i]
    if kind == 0 and ch.lower() in _KEYBOARD:
        near = _KEYBOARD[ch.lower()]
        rep = near[int(r2 * 997) % len(near)]
        if rep == ch.lower():
            rep = near[-1] if near[0] == rep else near[0]
        rep = rep.upper() if ch.isupper() else rep
        return word[:i] + rep + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + ch + word[i:]
    if i + 1 < len(word) and word[i + 1] != ch:
        return word[:i] + word[i + 1] + ch + word[i + 2 :]
    return word[:i] + word[i + 1 :]
