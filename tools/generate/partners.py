"""What the generator knows about each partner beyond its feed definition: who it sees, how
careful its data entry is, and the columns it sends that MAST drops.

The feed definition says what a file *may* hold; a profile says what a real file from that
partner *does* hold: the police see more nicknames and fewer NHS numbers, A&E uses 01/01/1900 for
an unknown date of birth, fire rarely knows one, adults' social care types the title into the
forename. A feed without a profile (a sixth partner onboarded by configuration) gets the generic
one, so ``mast generate`` covers every configured feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["adult_care", "child_care", "health", "police", "fire", "generic"]


@dataclass(frozen=True)
class Extra:
    """A column the partner sends that is not in the definition (and so is dropped on arrival)."""

    name: str
    position: int  # where it sits among the defined columns
    values: tuple[str, ...]
    free_text: bool = False  # sentences with commas and, sometimes, line breaks


@dataclass(frozen=True)
class Profile:
    kind: Kind
    nickname: float = 0.04
    typo: float = 0.02
    transpose: float = 0.008
    dob_swap: float = 0.008
    placeholder_dob: float = 0.004
    dob_missing: float = 0.02  # only where the DOB column is optional
    dob_typo: float = 0.012  # one digit of the date of birth mistyped
    child_dob_missing: float = 0.0  # children at an incident recorded without a date of birth (optional DOB)
    newborn_placeholder: float = 0.0  # a baby under two months recorded as "Baby Girl", "Boy" …
    title: float = 0.0  # a title before the forename, in a forename or whole-name column
    called_by_middle: float = 0.5  # Mohammed Imran recorded as Imran
    middle_dropped: float = 0.3
    diacritics_lost: float = 0.3
    nhs_missing: float = 0.2
    datetime_columns: tuple[str, ...] = ()
    upper_family: bool = False  # SURNAME in capitals in a whole-name column
    initial_only: float = 0.0  # "Mr J Smith"
    extras: tuple[Extra, ...] = field(default=())
    ragged_row: bool = False  # one deliberately short row on the first day
    quote_all: bool = False  # every text cell in quotes (older exports), else only where needed
    bad_rows: int = 4


_SUPPORT = ("Physical Support: Personal Care", "Memory and Cognition", "Learning Disability",
            "Mental Health Support", "Social Support: Isolation", "Sensory Support")  # fmt: skip
_ETHNICITY = ("White British", "Pakistani", "Indian", "Bangladeshi", "Black African",
              "Black Caribbean", "White Other", "Mixed", "Not stated")  # fmt: skip
_MO = (
    "Verbal argument at home address, no injuries. Advice given",
    "Report of shouting from neighbours, officers attended, all parties spoken to",
    "Concern for welfare called in by family, person found safe and well",
    "Criminal damage to front door, suspect known to victim",
    "Missing person report, returned home the same evening",
    "Assault, minor injuries, victim declined to support prosecution",
)  # fmt: skip

PROFILES: dict[str, Profile] = {
    "walsall-adults": Profile(
        kind="adult_care", title=0.55, nickname=0.03, nhs_missing=0.35,
        extras=(Extra("Ethnicity", 6, _ETHNICITY), Extra("Primary Support Reason", 99, _SUPPORT)),
    ),
    "walsall-children": Profile(
        kind="child_care", nickname=0.02, quote_all=True, dob_missing=0.01, nhs_missing=0.25,
        extras=(Extra("LegalStatus", 99, ("CIN", "CP", "CLA", "CIN", "CIN")),
                Extra("CPCategory", 99, ("", "Neglect", "Emotional abuse", "Physical abuse", ""))),
    ),  # fmt: skip
    "walsall-nhs-ae": Profile(
        kind="health", placeholder_dob=0.015, nhs_missing=0.06, typo=0.015, dob_typo=0.015,
        newborn_placeholder=0.5,
        datetime_columns=("Arrival Date",),
        extras=(Extra("Chief Complaint", 4, ("Fall, head injury", "Chest pain", "Shortness of breath",
                                             "Abdominal pain", "Laceration, left hand", "Overdose"),
                      free_text=True),
                Extra("Discharge Destination", 99, ("Home", "Admitted", "Home", "Left before seen"))),
    ),  # fmt: skip
    "wm-police": Profile(
        kind="police", nickname=0.10, typo=0.03, transpose=0.015, dob_missing=0.05, dob_typo=0.025,
        child_dob_missing=0.2,
        placeholder_dob=0.01, upper_family=True, diacritics_lost=0.0, ragged_row=True, quote_all=True,
        extras=(Extra("Offence Type", 3, ("Domestic incident", "Assault", "Criminal damage",
                                          "Concern for welfare", "Missing person", "Public order")),
                Extra("MO Summary", 99, _MO, free_text=True)),
    ),  # fmt: skip
    "wm-fire": Profile(
        kind="fire", title=0.6, initial_only=0.3, dob_missing=0.7, nickname=0.05, child_dob_missing=0.5,
        extras=(Extra("Cause", 3, ("Cooking", "Electrical", "Smoking materials", "Deliberate",
                                   "Candles", "Unknown")),
                Extra("Appliances", 99, ("1", "2", "1", "3"))),
    ),  # fmt: skip
}
GENERIC = Profile(kind="generic")


def profile_for(feed_id: str) -> Profile:
    return PROFILES.get(feed_id, GENERIC)
