"""Normalisation: one spelling per name, date, postcode and address before anything is compared.

Each module is small and pure (no I/O; numpy only where a rule is also applied to whole columns): the search function, ingest and the batch link
all normalise the same way. Linkage applies these to distinct values only, never row by row.
"""

from mast.normalise.addresses import NO_ADDRESS, Address, parse_address
from mast.normalise.dates import MISSING_DAY, parse_date, swapped, to_day
from mast.normalise.identifiers import nhs_number, uprn
from mast.normalise.names import NameParts, are_nicknames, name_parts, nickname_groups, phonetic
from mast.normalise.postcodes import NO_POSTCODE, Postcode, format_postcode, parse_postcode
from mast.normalise.text import fold

__all__ = [
    "MISSING_DAY",
    "NO_ADDRESS",
    "NO_POSTCODE",
    "Address",
    "NameParts",
    "Postcode",
    "are_nicknames",
    "fold",
    "format_postcode",
    "name_parts",
    "nhs_number",
    "nickname_groups",
    "parse_address",
    "parse_date",
    "parse_postcode",
    "phonetic",
    "swapped",
    "to_day",
    "uprn",
]
