"""The wrong pairs linkage made on data it had never seen (issue 20), one test per pattern.

Each pattern is planted in the small synthetic town of ``test_linkage_households`` (a model trained
on it, unsupervised, as in production): twins named after each other's middle names, a household
member recorded without a date of birth, a given name that is also a title, namesakes of a common
name born on the same day in different towns, NHS numbers that agree or differ, and a newborn
recorded at A&E as "Baby Girl" before it was named.
"""

from __future__ import annotations

import numpy as np
import pytest

from mast.linkage.cluster import cluster
from mast.linkage.link import Linker, LinkOptions
from mast.linkage.table import prepare_records
from mast.normalise.names import clean_given, clean_middle, name_parts
from tests.unit.test_linkage_households import build_town, household

# Twins at one address, each named after the other's middle name, one of Patricia's records without her
# middle name: never one person through "a given name that is the other's middle name".
CROSSED_TWINS = household("crossed", [
    {"given_name": "Patricia", "middle_name": "Zofia", "family_name": "Wilczek", "dob": "2011-08-21", "sex": "F"},
    {"given_name": "Chantelle", "middle_name": "Patricia", "family_name": "Wilczek", "dob": "2011-08-21",
     "sex": "F"},
], "22 Poplar Avenue", "WS2 9LX", per_person=3)
CROSSED_TWINS[1]["middle_name"] = None
# ... while a man known by his middle name is still one person.
KNOWN_BY_MIDDLE = household("imran", [
    {"given_name": "Mohammed", "middle_name": "Imran", "family_name": "Qureshi", "dob": "1979-02-13", "sex": "M"},
], "5 Caldmore Green", "WS1 3RH", per_person=2) + [
    {"record_id": "imran0-9", "source": "police", "given_name": "Imran", "family_name": "Qureshi",
     "dob": "1979-02-13", "sex": "M", "address_line1": "5 Caldmore Green", "postcode": "WS1 3RH"},
]
# Fathers with their dates of birth, and their sons recorded once without one, at the same address: one
# son's given name different, the other's only sounding like his father's.
NO_DOB = household("viera", [
    {"given_name": "Levi", "middle_name": "J", "family_name": "Viera", "dob": "1983-05-09", "sex": "M"},
], "80 Bloxwich Road", "WS3 2DD", per_person=3) + [
    {"record_id": "viera1-0", "source": "nhs-ae", "given_name": "Aiden", "middle_name": "J", "family_name": "Viera",
     "sex": "M", "address_line1": "80 Bloxwich Road", "postcode": "WS3 2DD"},
] + household("lewis", [
    {"given_name": "Brendan", "middle_name": "Anthony", "family_name": "Mottram", "dob": "1979-11-26", "sex": "M"},
], "4 Gorway Gardens", "WS1 3BJ", per_person=3) + [
    {"record_id": "lewis1-0", "source": "police", "given_name": "Brandon", "middle_name": "Anthony",
     "family_name": "Mottram", "sex": "M", "address_line1": "4 Gorway Gardens", "postcode": "WS1 3BJ"},
]
# Queen R Tobin and Marvin T Tobin: twins; "Queen" is her given name, not a title.
TOBIN = household("tobin", [
    {"given_name": "Queen", "middle_name": "R", "family_name": "Tobin", "dob": "1994-10-30", "sex": "F"},
    {"given_name": "Marvin", "middle_name": "T", "family_name": "Tobin", "dob": "1994-10-30", "sex": "M"},
], "9 Sneyd Lane", "WS3 2LP", per_person=2)
# A name that a population of a million shares among many people: here most men of a large family name
# (a community's) born in three years share one given name, so the full name is far commoner than the given
# name's frequency times the family name's, and the given name far commoner among men born those years than
# among everyone. Two of them are born on the same day and live at different addresses in one town; and a
# person of a rare name who moved within it.
KHAN_GIVEN = ("Aisha", "Fatima", "Imran", "Zara", "Bilal", "Hamza", "Sana", "Yusuf", "Amir")
COMMON = [
    {"record_id": f"khan{i}-0", "source": "police", "given_name": "Mohammed" if i < 26 else KHAN_GIVEN[i % 9],
     "family_name": "Khan", "dob": f"{1987 + i % 3 if i < 26 else 1960 + i % 50}-{1 + i % 12:02d}-"
     f"{1 + (7 * i) % 28:02d}", "sex": "M" if i < 26 else None, "address_line1": f"{i + 1} Wednesbury Road",
     "address_line2": "Walsall", "postcode": f"WS{1 + i % 9} 4{'ABDEFGHJ'[i % 8]}Q"}
    for i in range(80)
] + [
    {"record_id": f"{who}-{side}", "source": source, "given_name": given, "family_name": family,
     "dob": "1988-03-17", "sex": "M", "address_line1": street, "address_line2": "Walsall", "postcode": postcode}
    for who, given, family in (("namesake", "Mohammed", "Khan"), ("moved", "Eustace", "Ravenscroft"))
    for side, source, street, postcode in (("a", "police", "14 Lichfield Street", "WS1 1TR"),
                                           ("b", "nhs-ae", "3 Stafford Road", "WS3 3NT"))
]
# One woman under two given names (a name she took), with one NHS number; twins with their own.
NHS = [
    {"record_id": "nhs-same-a", "source": "nhs-ae", "given_name": "Xiaoling", "family_name": "Zhou",
     "dob": "1990-12-02", "sex": "F", "nhs_number": "943 476 5919", "address_line1": "2 Hatherton Street",
     "postcode": "WS1 1YB"},
    {"record_id": "nhs-same-b", "source": "adults", "given_name": "Jenny", "family_name": "Zhou",
     "dob": "1990-12-02", "sex": "F", "nhs_number": "9434765919", "address_line1": "2 Hatherton Street",
     "postcode": "WS1 1YB"},
    {"record_id": "nhs-differ-a", "source": "nhs-ae", "given_name": "Harvey", "family_name": "Ollerenshaw",
     "dob": "2016-01-23", "sex": "M", "nhs_number": "4010232137", "address_line1": "61 Rushall Road",
     "postcode": "WS4 1LZ"},
    {"record_id": "nhs-differ-b", "source": "nhs-ae", "given_name": "Harvey", "family_name": "Ollerenshaw",
     "dob": "2016-01-23", "sex": "M", "nhs_number": "4010232145", "address_line1": "61 Rushall Road",
     "postcode": "WS4 1LZ"},
]
# A newborn at A&E before it was named, under each placeholder hospitals use, then named.
PLACEHOLDER_NAMES = ("Boy", "Girl", "Baby Boy", "Baby Girl", "Unknown", "Unnamed")
NEWBORN = [
    {"record_id": f"newborn-{i}", "source": "nhs-ae", "given_name": placeholder, "family_name": "Ashdown",
     "dob": "2025-06-14", "sex": "F", "address_line1": "17 Coalpool Lane", "postcode": "WS3 1QN"}
    for i, placeholder in enumerate(PLACEHOLDER_NAMES)
] + [
    {"record_id": f"newborn-named-{r}", "source": s, "given_name": "Matilda", "family_name": "Ashdown",
     "dob": "2025-06-14", "sex": "F", "address_line1": "17 Coalpool Lane", "postcode": "WS3 1QN"}
    for r, s in enumerate(("children", "nhs-ae"))
]
# Wayne and Dwayne Tarrant, born the same day, at two addresses: two names one letter apart at the front,
# two people. Beside them, people whose records differ by a genuine slip or a short form of the given name,
# one of whose records was made after a move: each still one person.
NEAR_NAMES = household("wayne", [
    {"given_name": "Wayne", "family_name": "Tarrant", "dob": "1984-05-19", "sex": "M"},
], "27 Pleck Road", "WS2 9ES", per_person=3) + household("dwayne", [
    {"given_name": "Dwayne", "family_name": "Tarrant", "dob": "1984-05-19", "sex": "M"},
], "6 Darlaston Road", "WS10 8QT", per_person=3)
SLIPS = (("jon", "Jon", "John"), ("steven", "Steven", "Stephen"), ("katherine", "Katherine", "Catherine"),
         ("jonathan", "Jonathan", "Jonathon"), ("margaret", "Margaret", "Margret"))
SLIPPED = [
    {"record_id": f"{who}-{r}", "source": source, "given_name": given if r < 2 else other,
     "family_name": f"Hollingsworth{'abcde'[i]}", "dob": f"{1961 + 3 * i}-0{1 + i}-1{i}", "sex": None,
     "address_line1": f"{3 + i} Birchills Street" if r < 2 else f"{40 + i} Green Lane",
     "postcode": "WS2 8NF" if r < 2 else "WS2 7BL"}
    for i, (who, given, other) in enumerate(SLIPS) for r, source in enumerate(("police", "adults", "nhs-ae"))
]
PLANTED = CROSSED_TWINS + KNOWN_BY_MIDDLE + NO_DOB + TOBIN + COMMON + NHS + NEWBORN + NEAR_NAMES + SLIPPED


@pytest.fixture(scope="module")
def linked() -> Linker:
    records, _ = build_town(seed=20)
    return Linker.build(prepare_records(records + PLANTED), options=LinkOptions(workers=1))


def person(linker: Linker, record_id: str) -> int:
    return int(linker.labels[linker.row_of(record_id)])


def people(linker: Linker, prefix: str, count: int) -> set[int]:
    return {person(linker, f"{prefix}-{r}") for r in range(count)}


def test_twins_named_after_each_other_s_middle_names_are_two_people(linked: Linker) -> None:
    patricia, chantelle = people(linked, "crossed0", 3), people(linked, "crossed1", 3)
    assert patricia.isdisjoint(chantelle)
    assert len(patricia) == 1 and len(chantelle) == 1
    explanation = linked.explain("crossed0-0", "crossed1-0")
    assert explanation.fields[0].level != "swapped"
    assert "twins" in explanation.guards
    # a man known by his middle name is still found under both
    assert person(linked, "imran0-0") == person(linked, "imran0-1") == person(linked, "imran0-9")
    assert linked.explain("imran0-0", "imran0-9").fields[0].level == "swapped"


def test_a_household_member_without_a_date_of_birth_is_not_another_member(linked: Linker) -> None:
    for father, son in (("viera0", "viera1-0"), ("lewis0", "lewis1-0")):
        members = people(linked, father, 3)
        assert len(members) == 1
        assert person(linked, son) not in members, son
        assert "household_member_without_dob" in linked.explain(f"{father}-0", son).guards


def test_a_given_name_that_is_also_a_title_is_a_given_name_where_a_given_name_stands(linked: Linker) -> None:
    for name in ("Queen", "King", "Earl", "Prince", "Major", "Marquis", "Della"):
        assert clean_given(name) == (name.upper(), ""), name
    assert clean_given("Queen R") == ("QUEEN", "R")
    assert clean_given("Mr King") == ("KING", "")
    assert clean_given("Mrs Della") == ("DELLA", "")
    assert clean_given("Dr Mary") == ("MARY", "")
    assert clean_given("Major Tom") == ("TOM", "")  # in the title position: a title
    assert clean_given("General Tom") == ("TOM", "")
    assert clean_given("de") == ("", "")  # the particle of "de Salisbury", typed as a first name
    assert clean_middle("Earl") == "EARL"
    assert clean_middle("Mr") == ""
    parts = name_parts("Marvin", "King", "Tobin")
    assert (parts.given, parts.middle, parts.family) == ("MARVIN", "KING", "TOBIN")
    queen, marvin = people(linked, "tobin0", 2), people(linked, "tobin1", 2)
    assert queen.isdisjoint(marvin) and len(queen) == 1 and len(marvin) == 1
    assert "twins" in linked.explain("tobin0-0", "tobin1-0").guards


def test_namesakes_of_a_common_name_at_different_addresses_are_two_people_but_a_rare_name_moves(
        linked: Linker) -> None:
    assert person(linked, "namesake-a") != person(linked, "namesake-b")
    assert person(linked, "moved-a") == person(linked, "moved-b")
    common = linked.explain("namesake-a", "namesake-b")
    rare = linked.explain("moved-a", "moved-b")
    assert common.weight < linked.model.threshold_weight <= rare.weight


def test_nhs_numbers_that_agree_override_the_twins_guard_and_numbers_that_differ_keep_people_apart(
        linked: Linker) -> None:
    assert person(linked, "nhs-same-a") == person(linked, "nhs-same-b")
    same = linked.explain("nhs-same-a", "nhs-same-b")
    assert {f.comparison: f.level for f in same.fields}["nhs_number"] == "exact"
    assert not same.guards
    assert person(linked, "nhs-differ-a") != person(linked, "nhs-differ-b")
    assert "nhs_numbers_differ" in linked.explain("nhs-differ-a", "nhs-differ-b").guards


@pytest.mark.parametrize("placeholder", PLACEHOLDER_NAMES)
def test_a_placeholder_given_name_at_a_and_e_is_unknown(placeholder: str) -> None:
    assert clean_given(placeholder) == ("", "")
    assert name_parts(placeholder, None, "Ashdown").given == ""


def test_a_newborn_s_placeholder_records_join_the_named_child(linked: Linker) -> None:
    named = people(linked, "newborn-named", 2)
    assert len(named) == 1
    for i in range(len(PLACEHOLDER_NAMES)):
        assert person(linked, f"newborn-{i}") in named, PLACEHOLDER_NAMES[i]


def test_near_names_born_the_same_day_at_different_addresses_are_two_people_and_slips_still_join(
        linked: Linker) -> None:
    wayne, dwayne = people(linked, "wayne0", 3), people(linked, "dwayne0", 3)
    assert len(wayne) == 1 and len(dwayne) == 1
    assert wayne.isdisjoint(dwayne)
    near = linked.explain("wayne0-0", "dwayne0-0")
    assert near.fields[0].level == "first_letter"
    assert near.weight < linked.model.threshold_weight
    # a slip inside the name or a short form, with a move, is still one person
    for who, _, _ in SLIPS:
        assert len(people(linked, who, 3)) == 1, who


def _scores(table: dict[tuple[int, int], tuple[float, int]]):
    """A scorer over row pairs from a table of (weight, coherence bits); unlisted pairs are strangers. The
    prior is 0 here, so a pair's Bayes factor is its weight; no guard fires."""
    def score(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
        got = [table.get((int(a), int(b)), (-20.0, 0)) for a, b in zip(lo, hi, strict=True)]
        weight = np.asarray([w for w, _ in got])
        return weight, weight, np.zeros(len(got), np.uint8), np.asarray([c for _, c in got], np.uint8)
    return score


def test_records_that_disagree_on_date_of_birth_and_address_are_not_one_person_through_a_chain() -> None:
    # 0 and 1 are one person (20 bits); 2 links to 1 just above the threshold (7 against 6). 0 and 2 disagree
    # on date of birth and address (coherence bit) and their own score (-2 bits) is no link, but not evidence
    # against them strong enough to be a conflict by itself (-4): before, the chain made them one person.
    threshold, conflict = 6.0, -4.0
    chained = {(0, 1): (20.0, 0), (1, 2): (7.0, 0), (0, 2): (-2.0, 1)}
    labels, stats = cluster(3, np.array([0, 1]), np.array([1, 2]), _scores(chained), threshold, conflict)
    assert labels[0] == labels[1] != labels[2]  # split at the weakest link
    assert stats.unsupported == 1
    # the same chain where 0 and 2 agree on one of them is one person, as before
    agreeing = {**chained, (0, 2): (-2.0, 0)}
    labels, _ = cluster(3, np.array([0, 1]), np.array([1, 2]), _scores(agreeing), threshold, conflict)
    assert labels[0] == labels[1] == labels[2]
    # a path of strong links (its weakest, 15, clears the threshold by 9, more than the 8 the pair lacks)
    # holds them together; so does a link of their own
    strong = {**chained, (1, 2): (15.0, 0)}
    labels, stats = cluster(3, np.array([0, 1]), np.array([1, 2]), _scores(strong), threshold, conflict)
    assert labels[0] == labels[1] == labels[2] and stats.unsupported == 0
    direct = {**chained, (0, 2): (6.5, 1)}
    labels, _ = cluster(3, np.array([0, 1, 0]), np.array([1, 2, 2]), _scores(direct), threshold, conflict)
    assert labels[0] == labels[1] == labels[2]
    # two records that each link to both corroborate them: not a chain through one record
    vouched = {**chained, (0, 3): (20.0, 0), (1, 3): (10.0, 0), (2, 3): (7.0, 0)}
    labels, stats = cluster(4, np.array([0, 1, 0, 1, 2]), np.array([1, 2, 3, 3, 3]), _scores(vouched), threshold,
                            conflict)
    assert len(set(labels.tolist())) == 1 and stats.unsupported == 0


def test_the_model_marks_pairs_that_disagree_on_date_of_birth_and_address(linked: Linker) -> None:
    rows = [linked.row_of(r) for r in ("wayne0-0", "dwayne0-0", "wayne0-1", "viera0-0")]
    scores = linked.model.score(linked.table, np.asarray(rows[:1] * 3), np.asarray(rows[1:]))
    # Dwayne: same date, other address; Wayne's own record: same home; Viera: another date and address
    assert scores.coherence.tolist() == [0, 0, 1]


def test_a_mover_with_one_slipped_date_at_the_old_home_keeps_the_move() -> None:
    # A person moved: 0 (right date of birth) and 1 (a slip in the date) at the old home, 2 and 3 at the new
    # one. The move links 0 with 2 and 3 (10 bits each, the threshold 6); 1 disagrees with 2 and 3 on date of
    # birth and address at once and nothing but 0 joins them (one record vouching is a chain), so 1 cannot
    # share a person with 2 and 3. The split must cut 1 off (18 bits of links lost), not the move (20 bits):
    # before, the strongest-first agglomeration had joined 0 and 1 first and then refused the move.
    threshold, conflict = 6.0, -4.0
    moved = {(0, 1): (18.0, 0), (2, 3): (25.0, 0), (0, 2): (10.0, 0), (0, 3): (10.0, 0),
             (1, 2): (-1.0, 1), (1, 3): (-1.0, 1)}
    labels, stats = cluster(4, np.array([0, 2, 0, 0]), np.array([1, 3, 2, 3]), _scores(moved), threshold, conflict)
    assert stats.unsupported == 2
    assert labels[0] == labels[2] == labels[3] != labels[1]


# Ignatius Fogg at his home (0), once without an address (1), and once, as "Ignatios", with a date of birth a
# digit away at another address (2): 1 and 2 link, but 0 and 2 disagree on date of birth and address at once,
# and nothing strong enough joins them; the cluster-coherence rule splits the person there.
COHERENCE_SPLIT = [
    {"record_id": "fogg-0", "source": "police", "given_name": "Ignatius", "family_name": "Fogg",
     "dob": "1975-04-12", "sex": "M", "address_line1": "12 Moat Street", "postcode": "WS1 2AB"},
    {"record_id": "fogg-1", "source": "adults", "given_name": "Ignatius", "family_name": "Fogg",
     "dob": "1975-04-12", "sex": "M"},
    {"record_id": "fogg-2", "source": "nhs-ae", "given_name": "Ignatios", "family_name": "Fogg",
     "dob": "1975-04-13", "sex": "M", "address_line1": "44 Tame Street", "postcode": "WS10 9HJ"},
]


def test_explain_says_in_words_when_the_cluster_coherence_rule_split_a_person() -> None:
    records, _ = build_town(seed=20)
    linker = Linker.build(prepare_records(records + PLANTED + COHERENCE_SPLIT), options=LinkOptions(workers=1))
    assert person(linker, "fogg-0") == person(linker, "fogg-1") != person(linker, "fogg-2")
    link = linker.explain("fogg-1", "fogg-2")  # scores a link, yet two people
    assert link.weight >= linker.model.threshold_weight and not link.guards
    for explanation in (link, linker.explain("fogg-0", "fogg-2")):
        said = " ".join(explanation.notes)
        assert "cluster-coherence rule" in said and "date of birth and address both differ" in said
        assert "fogg-0 and fogg-2" in said and "split" in said
        assert explanation.as_dict()["notes"] == list(explanation.notes)
    assert linker.explain("fogg-0", "fogg-2").coherence == ("date_of_birth_and_address_differ",)
    # one person's records, and two people never joined by a link, say nothing of a split
    assert not any("split" in n for n in linker.explain("fogg-0", "fogg-1").notes)
    strangers = linker.explain("fogg-0", "wayne0-0")
    assert strangers.coherence and not any("split" in n for n in strangers.notes)
