"""What an index shares with the code that reads it: the fingerprint of the linkage that wrote it.

A search makes lookup keys of its query and scores the candidates with the model the index was
linked with; both must be made exactly as the match run made them. If how a key is derived, the
normalisation beneath it or the comparison levels change between releases, an index linked before
the change would answer a search with fewer candidates than it should: silently, and a person not
found reads as no involvement. Or it would hold a model this code cannot load. So each index
version records the fingerprint of the linkage that wrote it; a search refuses an index with
another fingerprint (503: it is being rebuilt), and the match run rebuilds it.

The fingerprint hashes the model format, every comparison's levels and every guard with what each
tests (thresholds included), every key rule, and the keys this code makes of a fixed set of probe
records under a fixed salt. A change in how keys come out therefore shows by itself, without anyone
having to remember to bump a number.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json

from mast.linkage.keys import KeyRule, key_strings, record_keys
from mast.linkage.model import DEFAULT_SETTINGS, MODEL_FORMAT
from mast.linkage.table import prepare_records

#: Probe records: the slips the keys are built to survive (nicknames, titles, swapped names and
#: dates, spacing in postcodes, flats, digits in names, a name only, an address only, a town
#: only, a given name that is also a title, a newborn's placeholder name). Invented.
PROBES: tuple[dict[str, str | None], ...] = (
    {"record_id": "p1", "given_name": "Robert", "middle_name": "James", "family_name": "O'Neill", "dob": "1984-03-07",
     "sex": "M", "address_line1": "Flat 2, 14 Brace Street", "address_line2": "Walsall", "postcode": "WS1 3PS"},
    {"record_id": "p2", "given_name": "Bob", "family_name": "ONEILL", "dob": "1984-07-03", "postcode": "ws13ps"},
    {"record_id": "p3", "given_name": "Dr Mary-Jane", "family_name": "Smith Jones", "dob": "2019-12-01", "sex": "F",
     "address_line1": "The Cottage, Lock Lane", "address_line2": "Brownhills", "postcode": "WS8 1UG"},
    {"record_id": "p4", "given_name": "Jones", "family_name": "Mary", "dob": "2019-12-01"},
    {"record_id": "p5", "given_name": "MA4GARET", "family_name": "Khan", "nhs_number": "9434765919", "uprn": "100071234567"},
    {"record_id": "p6", "family_name": "Begum", "address_line1": "8 Lock Lane", "postcode": "WS8 1UG"},
    {"record_id": "p7", "address_line1": "Flat 3, 8 Lock Lane", "address_line2": "Brownhills, Walsall"},
    {"record_id": "p8", "given_name": "Siobhan", "family_name": "Ní Bhriain", "dob": "1950-01-01", "sex": "F"},
    {"record_id": "p9", "given_name": "Maude", "family_name": "Biggs", "address_line2": "Mayfair"},
    {"record_id": "p10", "given_name": "Queen", "middle_name": "Earl", "family_name": "Tobin", "dob": "1994-10-30"},
    {"record_id": "p11", "given_name": "Baby Girl", "family_name": "Ashdown", "dob": "2025-06-14",
     "postcode": "WS3 1QN"},
)
_PROBE_SALT = "fingerprint-probe"
#: How the index lays out what the link wrote (:mod:`mast.index.layout`). An index written in another
#: layout would be misread (a key item where there were membership items), so the layout is part of
#: the fingerprint: change this text whenever the layout changes, and old versions are rebuilt.
INDEX_LAYOUT = ("key, person and address items hold record ids; a key past 500 records is split by birth year; "
                "an address item summarises its records and their people's involvement; an address-search "
                "key names its records' addresses")


@functools.cache
def linkage_fingerprint(rules: tuple[KeyRule, ...]) -> str:
    """A short hash of everything a search must share with the link that wrote the index it reads
    (``rules``: every key rule the index is written with). Cached: computed once per process."""
    settings = DEFAULT_SETTINGS
    table = prepare_records(list(PROBES), compute_tf=False)
    keys = record_keys(table, rules, _PROBE_SALT)
    description = {
        "model_format": MODEL_FORMAT,
        "index_layout": INDEX_LAYOUT,
        # what each level and guard tests, with every parameter (predicates are frozen dataclasses)
        "comparisons": {c.name: [[lvl.label, repr(lvl.when)] for lvl in c.levels] for c in settings.comparisons},
        "guards": [[g.name, repr(g.when)] for g in settings.guards],
        "combinations": [[c.name, repr(c.when), c.tf, c.parts, c.comparison] for c in settings.combinations],
        # what may share a person only on evidence of its own: it changes the people an index holds
        "coherence": [[c.name, repr(c.when)] for c in settings.coherence],
        # what a rule does, not how it is explained
        "rules": [{k: v for k, v in dataclasses.asdict(rule).items() if k != "explanation"} for rule in rules],
        "probe_keys": [key_strings(row, rules) for row in keys],
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]
