"""The bodies of the search routes, as pydantic models: the handler validates with them and the OpenAPI
document is generated from them, so the two cannot disagree."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from mast.access.declarations import Declaration
from mast.normalise.postcodes import parse_postcode
from mast.schema import StrictModel, clean_text, optional_clean

#: Possible: better than even odds; below this a candidate is not shown at all. (Strong is the live
#: model's own link threshold: :func:`mast.search.query.band_of`.)
POSSIBLE_PROBABILITY = 0.5
#: At most this many people are listed; the rest are counted in ``left_out``.
MAX_PEOPLE = 50

Name = Annotated[str | None, Field(max_length=100, description="a name as the practitioner knows it; nicknames and "
                                   "typos are allowed for"), AfterValidator(optional_clean)]
AddressLine = Annotated[str | None, Field(max_length=200, description="an address line"),
                        AfterValidator(optional_clean)]


# ----------------------------------------------------------------------------------- search request
class DateOfBirthQuery(StrictModel):
    """A date of birth as far as it is known: any of day, month, year (a day needs its month)."""

    day: int | None = Field(default=None, ge=1, le=31)
    month: int | None = Field(default=None, ge=1, le=12)
    year: int | None = Field(default=None, ge=1880, le=2100)

    @model_validator(mode="after")
    def _possible(self) -> DateOfBirthQuery:
        if self.day is not None and self.month is None:
            raise ValueError("a day of birth needs its month")
        if self.day is not None and self.month is not None:
            leap_or_year = self.year if self.year is not None else 2000  # 29 February exists in some year
            if self.day > calendar.monthrange(leap_or_year, self.month)[1]:
                raise ValueError(f"there is no {self.day}/{self.month:02d}" + (f"/{self.year}" if self.year else ""))
        if self.year is not None and self.year > dt.date.today().year:
            raise ValueError("the date of birth is in the future")
        if self.complete and self.as_date() > dt.date.today():
            raise ValueError("the date of birth is in the future")
        return self

    @property
    def complete(self) -> bool:
        return self.day is not None and self.month is not None and self.year is not None

    @property
    def empty(self) -> bool:
        return self.day is None and self.month is None and self.year is None

    def as_date(self) -> dt.date:
        assert self.day is not None and self.month is not None and self.year is not None
        return dt.date(self.year, self.month, self.day)


class SearchQuery(StrictModel):
    """Whom or where to look for. A person search needs a family name and a given name or a date of
    birth; an address search needs a postcode, or address lines 1 and 2. A query may be both."""

    given_name: Name = None
    middle_name: Name = None
    family_name: Name = None
    dob: DateOfBirthQuery | None = None
    address_line1: AddressLine = None
    address_line2: AddressLine = None
    postcode: Annotated[str | None, Field(max_length=16, description="a UK postcode")] = None

    @model_validator(mode="after")
    def _enough(self) -> SearchQuery:
        if self.postcode is not None:
            if not self.postcode.strip():
                object.__setattr__(self, "postcode", None)
            else:
                parsed = parse_postcode(clean_text(self.postcode))
                if not parsed.formatted:
                    raise ValueError("the postcode is not a UK postcode")
                object.__setattr__(self, "postcode", parsed.formatted)
        if self.dob is not None and self.dob.empty:
            object.__setattr__(self, "dob", None)
        if self.is_person_search or self.is_address_search:
            return self
        missing: list[str] = []
        if not self.family_name:
            missing.append("a family name")
        if not (self.given_name or self.dob):
            missing.append("a given name or a date of birth")
        address = "a postcode, or address lines 1 and 2"
        raise ValueError(
            f"too little to search on: a person search also needs {' and '.join(missing)}; "
            f"an address search needs {address}"
        )

    @property
    def is_person_search(self) -> bool:
        return bool(self.family_name and (self.given_name or self.dob))

    @property
    def is_address_search(self) -> bool:
        return bool(self.postcode or (self.address_line1 and self.address_line2))


class SearchRequest(StrictModel):
    """``POST /api/search``: the declaration made for this search, and the query."""

    declaration: Declaration
    query: SearchQuery


# ---------------------------------------------------------------------------------- search response
Band = Literal["strong", "possible"]


class WhyField(StrictModel):
    """What one field added to the match, in bits (log2 odds): + for, - against."""

    field: str = Field(description="the compared field, e.g. given_name, dob, address")
    level: str = Field(description="how the field compared, e.g. exact, nickname, swapped")
    explanation: str
    weight: float


class PossiblePerson(StrictModel):
    """Just enough to choose: counts and records come after the choice (``GET /api/people/{id}``)."""

    person_id: str
    name: str
    date_of_birth: dt.date | None
    postcode_district: str | None = Field(description="outward code only; none when known only from sensitive records")
    band: Band
    probability: float = Field(ge=0, le=1)
    why: list[WhyField]


class DwellingPerson(StrictModel):
    """Someone known at a dwelling an address search found, with the partners involved with them in
    the person view's window (open cases, and the last 12 months; never from a sensitive record)."""

    person_id: str
    name: str
    date_of_birth: dt.date | None
    agencies: list[str]
    open_now: list[str]


class Dwelling(StrictModel):
    """One dwelling (a flat is not the house of the same number) and the people known there."""

    address: str
    people: list[DwellingPerson]


class SearchResponse(StrictModel):
    search_id: str = Field(description="pass as ?search= to open one of these people")
    kind: Literal["person", "address", "person-and-address"]
    people: list[PossiblePerson] = Field(description=f"best first, at most {MAX_PEOPLE}")
    left_out: int = Field(ge=0, description="possible people beyond the listed ones")
    bands: dict[Band, float] = Field(description="the lowest probability of each band")
    dwellings: list[Dwelling] = Field(default_factory=list, description="an address search: the listed people "
                                      "by dwelling, best match first")
    too_common: int = Field(default=0, ge=0, description="lookup keys (a very common name, a hostel's postcode) "
                            "held by too many records to read: give a date of birth or a postcode to narrow")
    shared_by: int = Field(default=0, ge=0, description="records holding the most common part of the search "
                           "that was not read (0: every part was read)")
    other_years: int = Field(default=0, ge=0, description="a name held by very many records is read for the year of "
                             "birth given, the years either side and the year with its last two digits swapped: "
                             "the records of it born in other years, not read (0: none)")
    unread: int = Field(default=0, ge=0, description="records sharing a part of the search that was read, beyond "
                        "the block a search reads of it (one year of a very common name): not read (0: none)")
    narrow: str | None = Field(default=None, description="in words, when part of the search was not read: how "
                               "many records share it, and what to add")


# ------------------------------------------------------------------------------------- person view
class Contact(StrictModel):
    name: str | None = None
    team: str | None = None
    phone: str | None = None
    email: str | None = None


class InvolvementCounts(StrictModel):
    """Records by how long ago they were dated; the four bands add up to ``total``."""

    within_1_month: int
    from_1_to_3_months: int
    from_3_to_6_months: int
    from_6_to_12_months: int
    total: int


class PersonRecord(StrictModel):
    """One partner's record. A sensitive record carries only partner, dates and contact."""

    record_id: str | None = Field(description="absent for a sensitive record (it carries the case reference)")
    partner: str
    partner_name: str
    feed: str
    record_date: dt.date = Field(description="the incident's date, or the day an open case started")
    sensitive: bool
    contact: Contact
    current: bool = Field(default=False, description="an open case in its feed's latest snapshot, whatever its start")
    as_of: dt.date | None = Field(default=None, description="for a current case: the date of that snapshot")
    overdue: bool = Field(default=False, description="its feed's data is older than the feed's cadence")
    end_date: dt.date | None = Field(default=None, description="for a case no longer open: the day it ended")
    case_ref: str | None = None
    full_name: str | None = None
    date_of_birth: dt.date | None = None
    full_address: str | None = None


class HouseholdMember(StrictModel):
    """Someone else known at the address (never someone whose only records there are sensitive)."""

    person_id: str | None = Field(description="opens them through the same search (they join it when listed)")
    name: str
    date_of_birth: dt.date | None
    records: int = Field(description="their records in the same window as the person's: current cases and the "
                         "last 12 months")
    agencies: list[str] = Field(default_factory=list, description="the partners involved in that window")
    open_now: list[str] = Field(default_factory=list, description="the partners with a case open now")


class AddressHousehold(StrictModel):
    address: str
    others: list[HouseholdMember]


class AgencySummary(StrictModel):
    """One partner's involvement at a glance: open now or its last involvement, the bands, whom to call."""

    partner: str
    partner_name: str
    open_cases: int = Field(description="cases open now (in their feed's latest snapshot)")
    open_since: dt.date | None = Field(description="the start of the earliest of them")
    as_of: dt.date | None = Field(description="the date of the snapshot they are open in")
    overdue: bool = Field(description="that feed's data is older than its cadence")
    last_involvement: dt.date | None = Field(description="the latest record date (or end date) in the window")
    involvement: InvolvementCounts
    contacts: list[Contact] = Field(description="whom to call, each once")


class Variant(StrictModel):
    """A name or date of birth as some of the person's records hold it, and which partners hold it."""

    value: str
    records: int
    partners: list[str]


class PersonView(StrictModel):
    person_id: str
    search_id: str
    name: str = Field(description="the name most of the person's (non-sensitive) records agree on")
    date_of_birth: dt.date | None = Field(description="the date of birth most of their records agree on")
    name_variants: list[Variant] = Field(default_factory=list, description="every name recorded, when they differ")
    dob_variants: list[Variant] = Field(default_factory=list, description="every date of birth, when they differ")
    agencies: list[AgencySummary] = Field(default_factory=list, description="per partner, open cases first")
    involvement: InvolvementCounts
    records: list[PersonRecord] = Field(description="open cases (whatever their start), then the last 12 months, "
                                        "newest first")
    addresses: list[AddressHousehold] = Field(description="the person's addresses with the others known there")


class PrintRecorded(StrictModel):
    """``POST /api/people/{id}/print``: the audit event that records the printing."""

    event_id: str
    printed_at: dt.datetime


# ---------------------------------------------------------------------------------------- coverage
class FeedCoverage(StrictModel):
    feed: str
    name: str
    partner: str
    partner_name: str
    state: Literal["sample", "live"]
    last_accepted: str | None = Field(description="when its last accepted upload arrived (ISO 8601), if ever")
    mode: Literal["snapshot", "delta"] = Field(default="delta", description="snapshot: open cases, sent whole "
                                               "each time; delta: incidents, new rows only")
    cadence_days: int = Field(default=1, description="how often it is due (days)")
    overdue: bool = Field(default=False, description="its last data is older than its cadence (or it never sent any)")


class CoverageResponse(StrictModel):
    feeds: list[FeedCoverage]


