"""The canonical record: the one shape every stage of MAST speaks.

A partner's extract arrives in the partner's own columns and formats; ingest turns each accepted
row into a :class:`Record`. Linkage reads records, the index stores them, search returns them.
Nothing else about a person is kept (DESIGN.md, "Data"): no case notes, no free text beyond the
partner's contact details.

``RECORD_COLUMNS`` is the same shape as a column list with Glue/Athena types. The Glue table in
``template.yaml`` must declare exactly these columns; a test holds the two together, so the Parquet
that ingest writes is always queryable under the template's table.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

Sex = Literal["F", "M", "U"]


class PartnerContact(BaseModel):
    """Whom a practitioner calls about a record: the partner's team, not the case worker's notes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    team: str | None = None
    phone: str | None = None
    email: str | None = None


class Record(BaseModel):
    """One accepted row of a feed, in canonical form.

    ``record_id`` is stable across uploads: ``<feed>:<source_record_id>``. It is what the audit
    names, because person ids may change when the index is rebuilt.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: str = Field(description="'<feed>:<source_record_id>', stable across uploads")
    partner: str = Field(description="partner (organisation) id, e.g. 'walsall-council'")
    feed: str = Field(description="feed id, e.g. 'walsall-adults'")
    source_record_id: str = Field(description="the partner's own case or incident reference")
    record_date: dt.date = Field(description="date of the incident or start of involvement")
    end_date: dt.date | None = Field(default=None, description="end of involvement, if ended")
    given_name: str | None = None
    middle_name: str | None = None
    family_name: str | None = None
    dob: dt.date | None = None
    sex: Sex | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    postcode: str | None = None
    uprn: str | None = None
    nhs_number: str | None = None
    contact: PartnerContact = Field(default_factory=PartnerContact)
    sensitive: bool = False
    ingest_id: str = Field(description="the upload that last delivered this row")

    @staticmethod
    def make_id(feed: str, source_record_id: str) -> str:
        """The stable record id of a partner's case reference within a feed."""
        return f"{feed}:{source_record_id}"


#: The curated Parquet columns, in order, with their Glue types. Partition columns are separate.
RECORD_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("record_id", "string"),
    ("source_record_id", "string"),
    ("record_date", "date"),
    ("end_date", "date"),
    ("given_name", "string"),
    ("middle_name", "string"),
    ("family_name", "string"),
    ("dob", "date"),
    ("sex", "string"),
    ("address_line1", "string"),
    ("address_line2", "string"),
    ("postcode", "string"),
    ("uprn", "string"),
    ("nhs_number", "string"),
    ("contact_name", "string"),
    ("contact_team", "string"),
    ("contact_phone", "string"),
    ("contact_email", "string"),
    ("sensitive", "boolean"),
    ("withdrawn", "boolean"),
    ("ingest_id", "string"),
)

#: Partition keys of the curated records dataset: partner, feed and the date of ingest.
RECORD_PARTITIONS: Final[tuple[tuple[str, str], ...]] = (
    ("partner", "string"),
    ("feed", "string"),
    ("ingest_date", "string"),
)
