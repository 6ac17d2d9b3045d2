"""Index-only lookup keys for an address search: the postcode, and the address line.

The link never blocks on these (a postcode alone puts neighbours together, which is what a
person's link must not do), so they are not in :data:`mast.linkage.keys.LOOKUP_KEYS`. But a
practitioner may search an address by its postcode alone, or by its first two lines without a
postcode, and such a query makes none of the link's keys. The match function writes these keys
beside each record's link keys, salted and hashed the same way (no postcode or street appears in
the index), and the search function makes the same keys of an address query
(``query_keys(query, salt, LOOKUP_KEYS + ADDRESS_KEYS)``).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from mast.linkage.fingerprint import linkage_fingerprint
from mast.linkage.keys import LOOKUP_KEYS, KeyRule, key_strings, record_keys
from mast.linkage.table import RecordTable

ADDRESS_KEYS: Final[tuple[KeyRule, ...]] = (
    KeyRule("address_postcode", "address:postcode", ("postcode",),
            "the same postcode (an address search by postcode alone)"),
    KeyRule("address_line", "address:dwelling", ("dwelling",),
            "the same first address line: flat, number and street (an address search without a postcode)"),
)


def record_address_keys(table: RecordTable, salt: str) -> np.ndarray:
    """Every record's address keys (N x 2, 0 where absent)."""
    return record_keys(table, ADDRESS_KEYS, salt)


def address_key_strings(keys_row: np.ndarray) -> list[str]:
    return key_strings(keys_row, ADDRESS_KEYS)


#: Every key rule the index is written with: the link's, then the address-search keys.
INDEX_KEY_RULES: Final[tuple[KeyRule, ...]] = LOOKUP_KEYS + ADDRESS_KEYS


def index_linkage() -> str:
    """The fingerprint of the linkage this code writes and reads the index with
    (:mod:`mast.linkage.fingerprint`): a live version with another one must be rebuilt."""
    return linkage_fingerprint(INDEX_KEY_RULES)
