"""Comparisons, their levels and the guards, as data.

Each :class:`Comparison` is an ordered list of :class:`Level` s, as in Splink: a pair falls in the
first level whose condition holds, the last level is "anything else", and a null level (nothing to
compare) weighs nothing. Every level carries a label, an explanation of what it means for the
person, and a prior m-probability (how often records of one person land there) that training
refines. Which levels apply the term-frequency adjustment is part of the definition too.

:class:`Guard` s are the household rules from DESIGN.md written the same way: a pair that meets a
guard is never placed in one person, whatever its score. They encode what Fellegi–Sunter's
independence assumption cannot see: inside one household, surname and address agree for everyone,
so agreement there says little, and a disagreeing given name says a lot.

Address evidence is counted once. A family shares its surname and its address, so among different
people who share an address a shared surname is the rule, not a coincidence: a :class:`Dependence`
says that the family-name comparison is weighed against how often *different people at the same
address* agree on surname (learnt from the data), not against how often strangers do. Scored as
independent fields, postcode, address line and surname would add up to more than a disagreeing
given name and date of birth can take away, and a household would collapse into one person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mast.linkage.predicates import (
    Agrees,
    Always,
    And,
    Crossed,
    DateTwoSlips,
    DateTypo,
    DayMonthSwapped,
    DaysApartAtMost,
    EditDistanceAtMost,
    EditSimilarity,
    Exact,
    FirstLetterSlip,
    Initial,
    JaroWinkler,
    KnownByMiddleName,
    LevelIn,
    MidNameSlip,
    NearNickname,
    Nickname,
    Not,
    NotComparable,
    Null,
    Or,
    Phonetic,
    Predicate,
    Reversed,
    SameInitial,
    SharedToken,
    ShiftedName,
    SpacelessNear,
    YearsApartAtLeast,
)


@dataclass(frozen=True)
class Level:
    """One comparison level."""

    label: str
    explanation: str
    when: Predicate
    m_prior: float = 0.0
    #: table field whose value frequency adjusts this level's weight (exact agreement only)
    tf: str | None = None
    null: bool = False
    #: u used until data says otherwise (identifiers few random pairs share); None: uniform
    u_prior: float | None = None


@dataclass(frozen=True)
class Comparison:
    """One piece of evidence about a pair: a field (or a few that belong together) compared."""

    name: str
    description: str
    levels: tuple[Level, ...]

    def index(self, label: str) -> int:
        for i, level in enumerate(self.levels):
            if level.label == label:
                return i
        raise KeyError(f"{self.name} has no level {label!r}")

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(level.label for level in self.levels)


@dataclass(frozen=True)
class Guard:
    """A pattern that means two different people: the pair must never be in one cluster."""

    name: str
    explanation: str
    when: Predicate


@dataclass(frozen=True)
class Coherence:
    """A pattern of disagreement two records may share a person with only on evidence of their own.

    Clustering chains: A links to B and B to C, so A and C land in one person though nothing between
    them says so. Where A and C disagree in a way one person's records seldom do (date of birth and
    address at once), the chain is not enough: they stay together only if their own score reaches a
    link, or a path of links strong enough to outweigh what their own score lacks joins them
    (:func:`mast.linkage.cluster.cluster`); otherwise the person is split at its weakest link."""

    name: str
    explanation: str
    when: Predicate


@dataclass(frozen=True)
class Context:
    """Levels of one comparison that put a pair in a shared setting (e.g. "same home")."""

    name: str
    comparison: str
    labels: tuple[str, ...]
    #: u of the dependent comparison's levels in this context, until data says otherwise
    u_prior: tuple[float, ...]


@dataclass(frozen=True)
class Dependence:
    """A comparison whose chance agreement depends on the setting the pair shares.

    Within a context, the dependent comparison's weight is ``log2(m / u_context)``, where
    ``u_context`` is how often different people *in that context* fall in the level — estimated in
    training from pairs in the context that other fields show to be different people.
    """

    comparison: str
    contexts: tuple[Context, ...]
    explanation: str


@dataclass(frozen=True)
class Combination:
    """Agreement on several fields whose values are not independent, weighed by how common the
    combination is rather than by the product of each value's frequency.

    Where ``when`` holds, the pair's evidence from the ``parts`` (term-frequency fields, each weighed
    on its own by its ``exact`` level) assumes the values combine by chance as often as their
    frequencies multiply. Where the data shows the combination commoner than that (the ``tf`` column:
    see :meth:`mast.linkage.table.RecordTable.compute_tf`), the difference, in bits, is taken off
    ``comparison``'s weight. Never added: a combination rarer than independence keeps its weights."""

    name: str
    explanation: str
    when: Predicate
    tf: str
    #: (comparison, its term-frequency field) whose frequencies multiply under independence
    parts: tuple[tuple[str, str], ...]
    comparison: str


@dataclass(frozen=True)
class Settings:
    """The whole linkage model definition (what training fills with numbers)."""

    comparisons: tuple[Comparison, ...]
    guards: tuple[Guard, ...] = field(default_factory=tuple)
    dependences: tuple[Dependence, ...] = field(default_factory=tuple)
    combinations: tuple[Combination, ...] = field(default_factory=tuple)
    coherence: tuple[Coherence, ...] = field(default_factory=tuple)


NULL = "missing"
ELSE = "different"

GIVEN = Comparison(
    "given_name",
    "first given name",
    (
        Level(NULL, "missing on one side (or the one name there is the family name, typed in the given-name field):"
              " says nothing", Or((Null(("given",)), ShiftedName())), null=True),
        Level("exact", "the same given name", Exact("given"), 0.86, tf="given"),
        Level("nickname", "a name and its short form (Bill / William)", Nickname("given"), 0.04),
        Level("first_letter", "one slip apart at the first letter (Wayne / Dwayne, Ryan / Bryan): typists seldom"
              " miss a first letter, and two such spellings are often two names; weighed by how common the names"
              " are, so that a spelling many people hold (DWAYNE) reads as a name of its own, not as a slip",
              FirstLetterSlip("given"), 0.005, tf="given"),
        Level("typo", "one slip apart (one edit, or Jaro-Winkler >= 0.92)",
              Or((EditDistanceAtMost("given", 1), JaroWinkler("given", 0.92))), 0.03),
        Level("nickname_slip", "a slip away from a nickname of the other (Tom / Rhomas)", NearNickname("given"), 0.01),
        Level("swapped", "known by a middle name (the given name is the other's middle name, and the record names"
              " no one else), or given and family names typed in each other's fields (a slip allowed)",
              Or((KnownByMiddleName(), Reversed("given", "family"), Crossed(both=False))),
              0.01),
        Level("initial", "only an initial on one side, and it agrees", Initial("given"), 0.02),
        Level("similar", "similar spelling or sound (Jaro-Winkler >= 0.80 or same NYSIIS)",
              Or((JaroWinkler("given", 0.80), Phonetic("given"))), 0.02),
        Level(ELSE, "a different given name: strong evidence of a different person", Always(), 0.02),
    ),
)

FAMILY = Comparison(
    "family_name",
    "family name",
    (
        Level("shifted", "the family name typed in the given-name field of a record that has none (FROHAWK /"
              " FREDERICK FROHAWK): the family names agree", ShiftedName(), 0.02, tf="family"),
        Level(NULL, "missing on one side: says nothing", Null(("family",)), null=True),
        Level("exact", "the same family name", Exact("family"), 0.85, tf="family"),
        Level("reversed", "given and family names typed the wrong way round (a slip allowed in either)",
              Crossed(both=True), 0.01),
        Level("part", "a double-barrelled name shares a part (Smith / Smith-Jones)", SharedToken("family"), 0.03),
        Level("typo", "one slip apart (one edit, or Jaro-Winkler >= 0.92)",
              Or((EditDistanceAtMost("family", 1), JaroWinkler("family", 0.92))), 0.04),
        Level("similar", "similar spelling or sound (Jaro-Winkler >= 0.80 or same NYSIIS)",
              Or((JaroWinkler("family", 0.80), Phonetic("family"))), 0.02),
        Level(ELSE, "a different family name (marriage, or a different person)", Always(), 0.05),
    ),
)

DOB = Comparison(
    "dob",
    "date of birth",
    (
        Level(NULL, "missing or a placeholder on one side: says nothing", Null(("dob",)), null=True),
        Level("exact", "the same date of birth", Exact("dob"), 0.90, tf="dob"),
        Level("swapped", "day and month exchanged", DayMonthSwapped(), 0.02),
        Level("typo", "one digit wrong or two adjacent digits exchanged", DateTypo(), 0.04),
        Level("within_year", "within a year", DaysApartAtMost(366), 0.02),
        Level("two_slips", "two digits wrong, under 12 years apart (a careless copy, not a parent and child)",
              And((DateTwoSlips(), Not(YearsApartAtLeast(12)))), 0.01),
        Level(ELSE, "a different date of birth", Always(), 0.02),
    ),
)

MIDDLE = Comparison(
    "middle_name",
    "middle name",
    (
        Level(NULL, "missing on one side (often simply not recorded): says nothing", Null(("middle",)), null=True),
        Level("exact", "the same middle names", Exact("middle"), 0.75),
        Level("part", "a middle name in common (one record lists more of them)", SharedToken("middle"), 0.08),
        Level("initial", "the same initial", SameInitial("middle"), 0.12),
        Level(ELSE, "a different middle name", Always(), 0.05),
    ),
)

SEX = Comparison(
    "sex",
    "sex",
    (
        Level(NULL, "not recorded on one side", Null(("sex",)), null=True),
        Level("exact", "the same", Exact("sex"), 0.97),
        Level(ELSE, "different (a recording error, or a different person)", Always(), 0.03),
    ),
)

#: a postcode one typing slip away: one character wrong, or two adjacent characters exchanged (3175 / 3715)
POSTCODE_SLIP = Or((EditSimilarity("postcode", 0.75), EditDistanceAtMost("postcode", 1)))

ADDRESS = Comparison(
    "address",
    "address: UPRN, postcode, address line and town, one piece of evidence",
    (
        Level(NULL, "no address field present on both sides",
              NotComparable(("uprn", "postcode", "dwelling", "locality")), null=True),
        Level("uprn", "the same property (UPRN)", Exact("uprn"), 0.35, u_prior=1e-6),
        Level("home", "the same flat, number and street, postcode agreeing or absent",
              And((Exact("dwelling"), Not(And((Not(Exact("postcode")), Not(Null(("postcode",)))))))), 0.20,
              tf="dwelling"),
        Level("home_slip", "the same flat and number, the street a typing slip away, the postcode agreeing, a slip"
              " away or absent", And((Exact("number"), Agrees("flat"), SpacelessNear("street"),
                                      Or((Exact("postcode"), Null(("postcode",)), POSTCODE_SLIP)))), 0.05),
        Level("building", "the same postcode and house number", And((Exact("postcode"), Exact("number"))), 0.05),
        Level("postcode", "the same postcode (neighbours share it)", Exact("postcode"), 0.05, tf="postcode"),
        Level("street", "the same number and street (a slip allowed in the street), postcode differs",
              And((Exact("number"), SpacelessNear("street"))), 0.03),
        Level("near", "the same postcode sector, or a postcode one slip away",
              Or((Exact("sector"), POSTCODE_SLIP)), 0.05),
        Level("locality", "the same town or locality (the part of the address after the street), the postcode"
              " differing or absent: weak where the town is large, weighed by how common it is", Exact("locality"),
              0.10, tf="locality"),
        Level(ELSE, "a different address (people move: weak evidence)", Always(), 0.27),
    ),
)

NHS = Comparison(
    "nhs_number",
    "NHS number (valid check digit) where both records have one",
    (
        Level(NULL, "missing on one side", Null(("nhs",)), null=True),
        Level("exact", "the same NHS number", Exact("nhs"), 0.97, u_prior=1e-7),
        Level(ELSE, "different NHS numbers: strong evidence of different people", Always(), 0.03, u_prior=1.0),
    ),
)

COMPARISONS: tuple[Comparison, ...] = (GIVEN, FAMILY, DOB, MIDDLE, SEX, ADDRESS, NHS)


def _levels(comparison: Comparison, *labels: str) -> LevelIn:
    return LevelIn(comparison.name, labels, tuple(comparison.index(label) for label in labels))


#: a slip at the first letter counts here as it did among the typing slips: with dates of birth years apart
#: (namesakes) or a different sex on the same day (twins), near names are two people all the more
GIVEN_AGREES = _levels(GIVEN, "exact", "nickname", "first_letter", "typo", "nickname_slip")
FAMILY_AGREES = _levels(FAMILY, "exact", "part", "typo", "similar")

#: two valid NHS numbers that agree: the NHS gave them to one person, whatever the given names say
NHS_AGREES = _levels(NHS, "exact")
SAME_HOME = _levels(ADDRESS, "uprn", "home", "home_slip", "building")

GUARDS: tuple[Guard, ...] = (
    Guard(
        "twins",
        "same date of birth (or one slip from it) but a different given name: twins, or another child of the"
        " household (unless both records carry one valid NHS number: one person under two given names)",
        And((_levels(GIVEN, ELSE), _levels(DOB, "exact", "swapped", "typo"), Not(NHS_AGREES))),
    ),
    Guard(
        "twins_of_each_sex",
        "same date of birth, similar given names but a different sex: twins such as Mario and Maria, or Connor"
        " and Cooper (not one slip inside one name, Margwret / Margaret, beside a wrongly recorded sex)",
        And((_levels(GIVEN, "first_letter", "typo", "nickname_slip", "similar"), Not(MidNameSlip("given")),
             _levels(SEX, ELSE), _levels(DOB, "exact", "swapped"))),
    ),
    Guard(
        "different_people",
        "given name and date of birth both disagree: siblings, or strangers who share a surname and address",
        And((_levels(GIVEN, ELSE), _levels(DOB, "within_year", "two_slips", ELSE))),
    ),
    Guard(
        "namesakes",
        "the same name but dates of birth years apart (not a slip): a parent and a child named after them, or"
        " namesakes in one family",
        And((GIVEN_AGREES, FAMILY_AGREES, _levels(DOB, ELSE))),
    ),
    Guard(
        "family_name_and_birth_differ",
        "family name and date of birth both disagree: another member of the household, not the same person",
        And((_levels(FAMILY, ELSE), _levels(DOB, "two_slips", ELSE))),
    ),
    Guard(
        "household_member_without_dob",
        "a record with no date of birth at the same home as a record whose given name is a different name (or"
        " only sounds like it): another member of the household, since nothing but the names could tell them"
        " apart",
        And((_levels(GIVEN, "similar", ELSE), _levels(DOB, NULL), SAME_HOME, Not(NHS_AGREES))),
    ),
    Guard(
        "nhs_numbers_differ",
        "two valid, different NHS numbers: the NHS gives one person one number",
        _levels(NHS, ELSE),
    ),
)

# Family-name levels:      shifted, missing, exact, reversed, part, typo, similar, different
_HOUSEHOLD_FAMILY_U = (0.01, 0.0, 0.60, 0.001, 0.05, 0.02, 0.03, 0.289)
_NEIGHBOUR_FAMILY_U = (0.002, 0.0, 0.15, 0.001, 0.01, 0.01, 0.03, 0.797)

DEPENDENCES: tuple[Dependence, ...] = (
    Dependence(
        "family_name",
        (
            Context("same_home", "address", ("uprn", "home", "home_slip", "building"), _HOUSEHOLD_FAMILY_U),
            Context("same_postcode", "address", ("postcode", "street"), _NEIGHBOUR_FAMILY_U),
        ),
        "at one address a shared surname is expected of different people too (a household): weighed against"
        " how often different people there share it",
    ),
)

COMBINATIONS: tuple[Combination, ...] = (
    Combination(
        "full_name",
        "the same given and family name, weighed by how many people the data shows holding the full name"
        " (MOHAMMED KHAN is far commoner than MOHAMMED's frequency times KHAN's): namesakes",
        And((_levels(GIVEN, "exact"), _levels(FAMILY, "exact"),
             Not(_levels(ADDRESS, "uprn", "home", "home_slip", "building", "postcode", "street")))),
        "full_name", (("given_name", "given"), ("family_name", "family")), "family_name",
    ),
    Combination(
        "given_name_in_its_year",
        "the same given name and dates of birth close, weighed by how common the given name is among people"
        " born that year (OLIVIA among children born in 2015, not among everyone)",
        And((_levels(GIVEN, "exact"), _levels(DOB, "exact", "swapped", "typo", "within_year"))),
        "given_year", (("given_name", "given"),), "given_name",
    ),
)

#: dates of birth that are not the same date (a slip included: one digit apart is how namesakes differ)
DOB_DIFFERS = _levels(DOB, "swapped", "typo", "within_year", "two_slips", ELSE)
#: two addresses (each with a postcode or a house and street) that differ, not even the same town or postcode
#: sector: a town alone (a place of birth) is too little to disagree on
ADDRESS_DIFFERS = And((_levels(ADDRESS, ELSE), Not(Null(("postcode", "dwelling")))))

COHERENCE: tuple[Coherence, ...] = (
    Coherence(
        "date_of_birth_and_address_differ",
        "date of birth and address both differ: one person's records seldom do at once (a move and a slip of"
        " the date together), namesakes in a large population often do; such records share a person only on"
        " evidence between them, not through a chain of other records",
        And((DOB_DIFFERS, ADDRESS_DIFFERS)),
    ),
)

DEFAULT_SETTINGS = Settings(COMPARISONS, GUARDS, DEPENDENCES, COMBINATIONS, COHERENCE)
