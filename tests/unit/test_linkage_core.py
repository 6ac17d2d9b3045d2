"""Linkage building blocks: candidate pairs, clustering as a whole, keys, the scorer's imports, I/O."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mast.linkage.cluster import Constraints, cluster, components
from mast.linkage.keys import LOOKUP_KEYS, key_strings, record_keys
from mast.linkage.model import Model
from mast.linkage.pairs import block_pairs, make_blocks, sample_block_pairs
from mast.linkage.table import prepare_records
from tools.bench.metrics import cluster_quality, pairwise_quality


def test_block_pairs_are_every_pair_sharing_a_key_once() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(1, 40, size=(300, 3)) << 30
    keys[rng.random(keys.shape) < 0.2] = 0
    lo, hi = block_pairs(make_blocks(keys, 1000))
    expected = {(i, j) for i, j in itertools.combinations(range(300), 2)
                if set(keys[i][keys[i] != 0].tolist()) & set(keys[j][keys[j] != 0].tolist())}
    assert set(zip(lo.tolist(), hi.tolist(), strict=True)) == expected
    assert len(lo) == len(expected)  # no duplicates
    slo, shi = sample_block_pairs(make_blocks(keys, 1000), 500, rng)
    assert set(zip(slo.tolist(), shi.tolist(), strict=True)) <= expected


def test_blocks_over_their_limit_are_skipped() -> None:
    keys = np.zeros((50, 1), dtype=np.int64)
    keys[:, 0] = 7 << 30
    blocks = make_blocks(keys, 10)
    assert blocks.skipped == 1 and len(block_pairs(blocks)[0]) == 0


def test_components() -> None:
    labels = components(6, np.array([0, 1, 4]), np.array([1, 2, 5]))
    assert labels.tolist() == [0, 0, 0, 3, 4, 4]


def _stub_scores(table: dict[tuple[int, int], tuple[float, int]]):
    def score(lo: np.ndarray, hi: np.ndarray):
        w = np.asarray([table.get((int(a), int(b)), (-20.0, 0))[0] for a, b in zip(lo, hi, strict=True)])
        g = np.asarray([table.get((int(a), int(b)), (-20.0, 0))[1] for a, b in zip(lo, hi, strict=True)], np.uint8)
        return w, w, g
    return score


def test_a_chain_is_not_one_person_when_its_ends_disagree() -> None:
    # A-B and B-C match; A-C is a guard (twins). Connected components would make A, B, C one person.
    scores = {(0, 1): (20.0, 0), (1, 2): (15.0, 0), (0, 2): (5.0, 1)}
    labels, stats = cluster(3, np.array([0, 1]), np.array([1, 2]), _stub_scores(scores), 6.0, -4.0)
    assert labels[0] == labels[1] != labels[2]
    assert stats.split == 1


def test_clean_components_stay_whole_and_steward_constraints_win() -> None:
    scores = {(0, 1): (20.0, 0), (1, 2): (15.0, 0), (0, 2): (10.0, 0)}
    labels, _ = cluster(3, np.array([0, 1]), np.array([1, 2]), _stub_scores(scores), 6.0, -4.0)
    assert len(set(labels.tolist())) == 1
    apart = Constraints(apart_lo=np.array([0]), apart_hi=np.array([2]))
    labels, _ = cluster(3, np.array([0, 1]), np.array([1, 2]), _stub_scores(scores), 6.0, -4.0, apart)
    assert labels[0] != labels[2]
    together = Constraints(same_lo=np.array([3]), same_hi=np.array([4]))
    labels, _ = cluster(5, np.array([0]), np.array([1]), _stub_scores(scores), 6.0, -4.0, together)
    assert labels[3] == labels[4]


RECORDS = [
    {"record_id": "a", "given_name": "William", "family_name": "Smith", "dob": "1984-03-02", "postcode": "B13 9SS",
     "address_line1": "14 High St"},
    {"record_id": "b", "given_name": "Bill", "family_name": "Smith", "dob": "1984-02-03", "postcode": "b139ss",
     "address_line1": "14 High Street"},
    {"record_id": "c", "given_name": "Jane", "family_name": "Smith", "dob": "1984-03-02", "postcode": "B13 9SS",
     "address_line1": "14 High Street"},
]


def test_a_search_makes_the_keys_its_record_would() -> None:
    from mast.linkage.scorer import query_keys

    table = prepare_records(RECORDS)
    record = key_strings(record_keys(table)[0], LOOKUP_KEYS)
    query = {k: v for k, v in RECORDS[0].items() if k != "record_id"}
    assert query_keys(query) == record
    assert all("SMITH" not in k and "1984" not in k for k in record)  # no personal data in a key


def test_swapped_date_records_share_a_key() -> None:
    keys = record_keys(prepare_records(RECORDS[:2]))
    assert set(keys[0][keys[0] != 0].tolist()) & set(keys[1][keys[1] != 0].tolist())


def test_scorer_imports_neither_pyarrow_nor_pandas() -> None:
    code = ("import sys, mast.linkage.scorer, mast.linkage.model, mast.linkage.link; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'pandas')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_score_query_ranks_people_and_explains() -> None:
    from mast.linkage.scorer import rank_people, score_query

    model = Model()
    query = {"given_name": "Will", "family_name": "Smith", "dob": "1984-03-02", "postcode": "B139SS"}
    scored = score_query(model, query, RECORDS, [{"given": 0.01, "family": 0.02}] * 3)
    by_id = {s.record_id: s for s in scored}
    assert "twins" in by_id["c"].guards
    ranked = rank_people(scored, {"a": "P1", "b": "P1", "c": "P2"}, min_probability=0.0)
    assert [p.person_id for p in ranked] == ["P1"]
    e = by_id["a"].explanation
    assert e.prior + sum(f.weight for f in e.fields) == pytest.approx(by_id["a"].weight, abs=1e-3)


def test_model_round_trips_through_json() -> None:
    table = prepare_records(RECORDS)
    model = Model(lam=2e-5, threshold=0.995)
    again = Model.from_json(model.to_json())
    left, right = np.array([0, 0]), np.array([1, 2])
    assert np.allclose(model.score(table, left, right).weight, again.score(table, left, right).weight)
    assert again.threshold == 0.995


def test_quality_counts() -> None:
    truth = np.array(["x", "x", "x", "y", "y"])
    q = cluster_quality(np.array([1, 1, 2, 3, 3]), truth)
    assert (q.true_positives, q.predicted, q.actual) == (2, 2, 4)
    side = np.array([0, 1, 1, 0, 1])
    assert cluster_quality(np.array([1, 1, 1, 3, 3]), truth, side).as_dict()["recall"] == 1.0
    assert pairwise_quality(np.array([0, 2]), np.array([1, 3]), truth).true_positives == 1


def test_mast_link_command(tmp_path: Path) -> None:
    from tools.cli import main

    src = tmp_path / "in.csv"
    with src.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["record_id", "given_name", "family_name", "dob", "postcode",
                                                    "address_line1"])
        writer.writeheader()
        writer.writerows(RECORDS)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("record_id_a,record_id_b,decision\na,b,not_same\n")
    out = tmp_path / "out.csv"
    assert main(["link", str(src), "--out", str(out), "--decisions", str(decisions), "--workers", "1"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["record_id"] for r in rows] == ["a", "b", "c"]
    assert set(rows[0]) == {"record_id", "person_id", "address_id"}
    by_id = {r["record_id"]: r for r in rows}
    assert by_id["a"]["person_id"] != by_id["b"]["person_id"]
    assert by_id["a"]["person_id"] != by_id["c"]["person_id"]
    assert by_id["a"]["address_id"] == by_id["c"]["address_id"] != ""


def test_restore_then_add_and_report() -> None:
    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.report import linkage_report

    rows = [dict(r, source=s) for r, s in zip(RECORDS, ("police", "nhs", "police"), strict=True)]
    built = Linker.build(prepare_records(rows), options=LinkOptions(workers=1))
    restored = Linker.restore(prepare_records(rows), built.model, built.person_ids().tolist())
    assert restored.person_ids().tolist() == built.person_ids().tolist()
    result = restored.add({"record_id": ["d"], "given_name": ["Jane"], "family_name": ["Smith"],
                           "dob": ["1984-03-02"], "postcode": ["B139SS"], "address_line1": ["14 High Street"],
                           "source": ["fire"]})
    assert result.new_rows == 1
    assert restored.labels[3] != restored.labels[0]  # Jane is never William (same birthday: the twin guard)
    assert restored.person_ids().tolist()[:3] == built.person_ids().tolist()  # existing ids stay put
    report = linkage_report(restored.table, restored.person_ids().tolist(), restored.address_ids().tolist())
    assert report["records"] == 4
    assert report["addresses_with_more_than_one_partner"] == 1
    assert all(isinstance(v, (int, dict, list)) for v in report.values())


def test_a_key_salt_changes_every_key_and_search_follows_it() -> None:
    from mast.linkage.scorer import query_keys

    table = prepare_records(RECORDS)
    query = {k: v for k, v in RECORDS[0].items() if k != "record_id"}
    salted = key_strings(record_keys(table, LOOKUP_KEYS, salt="s3cret")[0], LOOKUP_KEYS)
    assert query_keys(query, salt="s3cret") == salted
    assert set(salted).isdisjoint(query_keys(query))


def test_a_surname_typed_as_the_given_name_shares_a_key_with_its_record() -> None:
    """``MUYBRIDGE`` alone in the given-name field meets ``Eadweard MUYBRIDGE`` of the same birth date."""
    rows = [
        {"record_id": "a", "given_name": "Eadweard", "family_name": "Muybridge", "dob": "1930-04-09"},
        {"record_id": "b", "given_name": "Muybridge", "dob": "1930-04-09"},
    ]
    keys = record_keys(prepare_records(rows))
    assert set(keys[0][keys[0] != 0].tolist()) & set(keys[1][keys[1] != 0].tolist())


def test_a_surname_that_is_also_a_title_is_kept() -> None:
    from mast.normalise.names import clean_family, clean_given

    assert clean_family("King") == "KING"
    assert clean_family("Lord Byron") == "BYRON"
    assert clean_family("Smith Mrs") == "SMITH"
    assert clean_family("Mrs") == ""
    assert clean_given("General Tom") == ("TOM", "")


def test_two_slips_in_a_date_of_birth_are_not_a_parent_and_child() -> None:
    from mast.linkage.link import link_records

    base = {"given_name": "Henry", "family_name": "Miers", "postcode": "SY3 7LA", "sex": "M"}
    linker = link_records([
        {"record_id": "a", **base, "dob": "1958-02-25"},
        {"record_id": "b", **base, "dob": "1968-05-25"},   # two digits wrong, ten years apart
        {"record_id": "c", **base, "dob": "1988-05-25"},   # thirty years apart: a son named after him
    ])
    levels = {f.comparison: f.level for f in linker.explain("a", "b").fields}
    assert levels["dob"] == "two_slips"
    assert "namesakes" not in linker.explain("a", "b").guards
    assert "namesakes" in linker.explain("a", "c").guards


def test_twins_of_each_sex_are_kept_apart_but_a_mistyped_name_beside_a_wrong_sex_is_not() -> None:
    from mast.linkage.link import link_records

    home = {"family_name": "Rossi", "dob": "2012-06-03", "address_line1": "4 Elm Road", "postcode": "WS3 1AA"}
    linker = link_records([
        {"record_id": "mario", "given_name": "Mario", "sex": "M", **home},
        {"record_id": "maria", "given_name": "Maria", "sex": "F", **home},
        {"record_id": "margaret", "given_name": "Margaret", "sex": "F", **home, "dob": "1950-02-11"},
        {"record_id": "margwret", "given_name": "Margwret", "sex": "M", **home, "dob": "1950-02-11"},
        {"record_id": "connor", "given_name": "Connor", "sex": "M", **home, "dob": "2016-09-30"},
        {"record_id": "cooper", "given_name": "Cooper", "sex": "F", **home, "dob": "2016-09-30"},
    ])
    assert "twins_of_each_sex" in linker.explain("mario", "maria").guards
    assert "twins_of_each_sex" in linker.explain("connor", "cooper").guards
    assert "twins_of_each_sex" not in linker.explain("margaret", "margwret").guards


def test_a_name_with_a_digit_struck_in_it_is_a_typing_slip_not_a_missing_name() -> None:
    from mast.normalise.names import clean_family, clean_given

    assert clean_given("Cha4les") == ("CHA4LES", "")
    assert clean_family("Po4ter") == "PO4TER"
    assert clean_given("Henry 2nd") == ("HENRY", "")
    assert clean_family("3rd") == ""
    assert clean_given("J2") == ("", "")


def test_a_nickname_in_many_groups_keeps_them_all() -> None:
    """BERT is short for Albert, Herbert, Robert and more: ROBBY and BERT must still be nicknames."""
    table = prepare_records([{"record_id": "a", "given_name": "Bert"}, {"record_id": "b", "given_name": "Robby"}])
    model = Model()
    scores = model.score(table, np.array([0]), np.array([1]))
    assert model.explain(scores, 0).fields[0].level == "nickname"


def test_names_typed_in_each_other_s_fields_with_a_slip_are_one_person() -> None:
    from mast.linkage.link import link_records

    home = {"dob": "1934-02-04", "address_line1": "10 Dumas Street", "postcode": "5108"}
    linker = link_records([
        {"record_id": "a", "given_name": "Thomas", "family_name": "Green", **home},
        {"record_id": "b", "given_name": "Grteen", "family_name": "Thomas", **home},
        {"record_id": "c", "given_name": "Caleb", "family_name": "Menzies", **home, "dob": "1946-07-02"},
        {"record_id": "d", "given_name": "Waller", "family_name": "Caleb", **home, "dob": "1946-07-02"},
    ])
    ab = {f.comparison: f.level for f in linker.explain("a", "b").fields}
    assert (ab["given_name"], ab["family_name"]) == ("swapped", "reversed")
    assert linker.explain("c", "d").fields[0].level == "swapped"
    assert not linker.explain("a", "b").guards and not linker.explain("c", "d").guards
    keys = record_keys(prepare_records([{"record_id": "x", "given_name": "Fenwick", "family_name": "Mi", **home},
                                        {"record_id": "y", "given_name": "Mia", "family_name": "Fenwick", **home}]))
    assert set(keys[0][keys[0] != 0].tolist()) & set(keys[1][keys[1] != 0].tolist())


def test_a_street_or_postcode_one_slip_away_is_still_the_same_home() -> None:
    from mast.linkage.link import link_records

    person = {"given_name": "Oliver", "family_name": "Rundle", "dob": "1961-03-02"}
    linker = link_records([
        {"record_id": "a", **person, "address_line1": "82 Priddle Street", "postcode": "2061"},
        {"record_id": "b", **person, "address_line1": "82 Priddle S treet", "postcode": "2601"},
    ])
    assert linker.explain("a", "b").fields[5].level == "home_slip"


def test_the_same_town_is_evidence_weighed_by_how_common_the_town_is_and_never_a_shared_home() -> None:
    """Records with no postcode and no street but a town: the town is weak evidence, weaker the commoner it
    is, and it finds the pair a candidate; a town is never a dwelling, so it never makes a household."""
    from mast.linkage.link import link_records

    person = {"given_name": "Maude", "family_name": "Biggs"}
    filler = [{"record_id": f"w{i}", "given_name": g, "family_name": f, "address_line2": "Walsall"}
              for i, (g, f) in enumerate(itertools.product(["Ann", "Tom", "Raj", "Eve"], ["Khan", "Hale", "Ng"]))]
    linker = link_records([
        {"record_id": "a", **person, "address_line2": "Mayfair", "dob": "1841-02-03"},
        {"record_id": "b", **person, "address_line2": "Mayfair"},
        {"record_id": "c", **person, "address_line2": "Walsall"},
        {"record_id": "d", **person, "address_line2": "Walsall"},
        {"record_id": "e", **person, "address_line2": "Stoke"},
        *filler,
    ])
    ab, cd, ae = (linker.explain(x, y) for x, y in (("a", "b"), ("c", "d"), ("a", "e")))
    assert ab.fields[5].level == cd.fields[5].level == "locality"
    assert ab.fields[5].weight > cd.fields[5].weight  # Mayfair twice, Walsall fourteen times
    assert ae.fields[5].level == "different"
    assert not (linker.table.dwelling >= 0).any()
    keys = record_keys(prepare_records([{"record_id": "a", **person, "address_line2": "Mayfair"},
                                        {"record_id": "b", "given_name": "Maud", "family_name": "Biggs",
                                         "address_line2": "Mayfair"}]))
    locality_keys = [i for i, rule in enumerate(LOOKUP_KEYS) if rule.namespace == "locality+name"]
    assert set(keys[0][locality_keys].tolist()) & set(keys[1][locality_keys].tolist()) - {0}
    posted = record_keys(prepare_records([{"record_id": "a", **person, "address_line2": "Mayfair",
                                           "postcode": "W1K 1AA"}]))
    assert not posted[0][locality_keys].any()  # a postcode finds its neighbours better than a town


@pytest.mark.parametrize("a, b", [
    # the year of birth mistyped, no postcode: the day and month still meet
    ({"given_name": "Charles", "family_name": "Watts", "dob": "1828-05-27"},
     {"given_name": "Charles", "family_name": "Watts", "dob": "1858-05-27"}),
    # the surname alone, typed in the given-name field, at the same postcode
    ({"given_name": "Knight", "postcode": "LL18 3UF"},
     {"given_name": "Edward", "family_name": "Knight", "postcode": "LL18 3UF"}),
    # a given name mistyped beyond its sound, at the same postcode
    ({"given_name": "Pefcy", "family_name": "Kidd", "postcode": "M44 6QB"},
     {"given_name": "Percy", "family_name": "Kydd", "postcode": "M44 6QB"}),
])
def test_records_with_a_slip_in_the_fields_keys_are_made_of_still_share_a_key(a, b) -> None:
    keys = record_keys(prepare_records([{"record_id": "a", **a}, {"record_id": "b", **b}]))
    assert set(keys[0][keys[0] != 0].tolist()) & set(keys[1][keys[1] != 0].tolist())


def test_a_surname_alone_in_the_given_name_field_agrees_as_a_family_name() -> None:
    """``FROHAWK`` alone is the family name of ``Frederick FROHAWK``: weighed as a family name (how rare it is),
    the given name unknown, not as a given name that disagrees or is swapped."""
    from mast.linkage.link import link_records

    linker = link_records([
        {"record_id": "a", "given_name": "Frederick", "family_name": "Frohawk", "postcode": "RM12 4SF"},
        {"record_id": "b", "given_name": "Frohawk", "postcode": "RM12 4SF"},
    ])
    levels = {f.comparison: f.level for f in linker.explain("a", "b").fields}
    assert (levels["given_name"], levels["family_name"]) == ("missing", "shifted")
    keys = record_keys(linker.table)
    assert set(keys[0][keys[0] != 0].tolist()) & set(keys[1][keys[1] != 0].tolist())


def test_edit_distances_are_exact_up_to_dl_most_and_no_level_asks_beyond() -> None:
    from mast.linkage.predicates import DL_MOST, EditDistanceAtMost, PairContext, SpacelessNear

    table = prepare_records([
        {"record_id": "a", "family_name": "Smith"},
        {"record_id": "b", "family_name": "Smiht"},  # one adjacent swap
        {"record_id": "c", "family_name": "Smyte"},  # two substitutions
        {"record_id": "d", "family_name": "Jones"},  # far
        {"record_id": "e"},  # missing
    ])
    ctx = PairContext(table, np.zeros(5, np.int64), np.arange(5))
    assert ctx.similarity("family", "family", "dl").tolist() == [0, 1, 2, DL_MOST + 1, 99]
    assert EditDistanceAtMost("family", 1)(ctx).tolist() == [True, True, False, False, False]
    with pytest.raises(ValueError, match="DL_MOST"):
        EditDistanceAtMost("family", DL_MOST + 1)
    with pytest.raises(ValueError, match="DL_MOST"):
        SpacelessNear("street", k=DL_MOST + 1)


def test_a_similarity_with_a_cutoff_passes_every_pair_the_whole_comparison_passes() -> None:
    """The letters' bound (:class:`mast.linkage.vocab.LetterSets`) settles a pair without comparing its
    strings only when it cannot pass: over names of every shape (repeated letters, spaces, hyphens,
    digits, letters beyond ASCII that fold onto one bit, one-letter names) and the pairs exactly at a
    threshold (ADANN / ADANS is 0.92), each test answers as rapidfuzz on every pair would."""
    from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

    from mast.linkage.predicates import DL_MOST, PairContext

    rng = np.random.default_rng(7)
    alphabet = list("ABCDEEEFGHIJKLMNOPRSTAAN -'") + ["É", "Ł", "ā", "Ø"]
    names = ["ADANN", "ADANS", "ALLAM", "ALLAN", "HALDDEN", "HALFOTD", "ANNA", "NANA", "A", "B", "SMITH-JONES",
             "JONES SMITH", "B15 2TT", "B15 2TF", "B51 2TT", "EEEEEE", "EEEEEF", "ÉLODIE", "ELODIE", "ŁUKASZ", "LUKASZ"]
    names += ["".join(rng.choice(alphabet, size=int(rng.integers(1, 11)))) for _ in range(400)]
    table = prepare_records([{"record_id": str(i), "family_name": "X", "given_name": n} for i, n in enumerate(names)])
    pairs = np.array(list(itertools.combinations(range(len(names)), 2)))
    ctx = PairContext(table, pairs[:, 0], pairs[:, 1])
    strings = table.vocabs.names.comparable()
    left, right = ctx.values("given")
    present = (left >= 0) & (right >= 0)  # a name the normaliser refused is missing: no similarity to compare
    assert present.mean() > 0.9
    a = [strings[i] if i >= 0 else "" for i in left.tolist()]
    b = [strings[i] if i >= 0 else "" for i in right.tolist()]
    for metric, scorer, threshold in (("jw", JaroWinkler, 0.92), ("jw", JaroWinkler, 0.80), ("lev", Levenshtein, 0.75)):
        whole = np.array([scorer.normalized_similarity(x, y) for x, y in zip(a, b, strict=True)], dtype=np.float32)
        cut = ctx.similarity("given", "given", metric, cutoff=threshold)
        assert ((cut >= threshold) == (whole >= threshold))[present].all(), (metric, threshold)
    distance = np.array([min(DamerauLevenshtein.distance(x, y), DL_MOST + 1) for x, y in zip(a, b, strict=True)])
    assert (ctx.similarity("given", "given", "dl") == distance)[present].all()
    assert int(((distance <= 1) & (left != right) & present).sum()) > 10  # the bound had near pairs to keep


def test_records_keyed_a_range_at_a_time_get_the_keys_they_get_keyed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record's keys are its own values' alone, so keying a range at a time (:data:`KEY_ROWS`, what
    bounds an export shard's memory) changes no key."""
    import mast.linkage.keys as keys

    table = prepare_records([
        {"record_id": str(i), "given_name": given, "family_name": family, "dob": dob, "postcode": postcode}
        for i, (given, family, dob, postcode) in enumerate(itertools.product(
            ("Ann", "Bill", ""), ("Smith", "O'Neil"), ("1980-02-03", ""), ("B15 2TT", "")))
    ])
    whole = record_keys(table, LOOKUP_KEYS, "salt")
    monkeypatch.setattr(keys, "KEY_ROWS", 5)
    assert not np.array_equal(record_keys(table, LOOKUP_KEYS, "pepper"), whole)
    assert np.array_equal(record_keys(table, LOOKUP_KEYS, "salt"), whole)
    assert (whole != 0).sum() > len(table)


def test_a_record_joined_early_to_the_wrong_group_moves_to_its_person() -> None:
    # 1, 2, 3 are one person. 0 links to each of them (10 bits) and more strongly to 4 (25), so greedy
    # agglomeration joins 0 and 4 first; 4 conflicts with 1, so {0, 4} can never join {1, 2, 3}. Yet 0
    # weighs 30 bits with 1, 2, 3 against 25 with 4 and conflicts with none of them: it belongs there.
    scores = {(0, 4): (25.0, 0), (1, 2): (20.0, 0), (2, 3): (20.0, 0), (1, 3): (18.0, 0),
              (0, 1): (10.0, 0), (0, 2): (10.0, 0), (0, 3): (10.0, 0), (1, 4): (5.0, 1)}
    edges = [pair for pair, (w, guard) in scores.items() if w >= 6.0 and not guard]
    lo, hi = np.array([a for a, _ in edges]), np.array([b for _, b in edges])
    labels, _ = cluster(5, lo, hi, _stub_scores(scores), 6.0, -4.0)
    assert labels[0] == labels[1] == labels[2] == labels[3] != labels[4]
    # and a steward's "same person" for 0 and 4 is honoured: nothing moves in that component
    labels, _ = cluster(5, lo, hi, _stub_scores(scores), 6.0, -4.0,
                        Constraints(same_lo=np.array([0]), same_hi=np.array([4])))
    assert labels[0] == labels[4]


def test_an_address_context_never_makes_agreement_rarer_than_among_strangers() -> None:
    from mast.linkage.training import _at_least_general

    null = np.array([False, True, False, False, False])
    context = np.array([1e-6, 0.0, 0.05, 1e-6, 0.949998])  # a reversed name never seen among neighbours
    general = np.array([1e-5, 0.0, 0.003, 1e-5, 0.99698])
    floored = _at_least_general(context, general, null)
    assert floored[3] == pytest.approx(general[3], rel=1e-4)  # raised to the general rate
    assert floored[0] == pytest.approx(general[0], rel=1e-4)
    assert floored[2] == pytest.approx(context[2], rel=1e-4)  # commoner among neighbours: kept
    assert floored[1] == 0.0 and floored.sum() == pytest.approx(1.0)
    # In a household nearly everyone shares the surname: disagreement is rare there, and must stay
    # rarer than among strangers, never vanish (a differing surname is evidence against a match).
    household = np.array([0.0, 0.0, 0.95, 0.0, 0.05])
    strangers = np.array([0.02, 0.0, 0.03, 0.01, 0.94])
    floored = _at_least_general(household, strangers, null)
    assert floored.sum() == pytest.approx(1.0)
    assert floored[-1] > 0.048  # taking the raise out of disagreement would leave it 0.02


def test_isin_sorted_answers_as_numpy_isin_with_its_bitmap_filter_and_without() -> None:
    """Large inputs are filtered by a bitmap of the set's low bits before the binary search: values
    whose low bits collide with a member's (but are not members), negative values, a 2-D matrix of
    keys, and sets too large for the filter all answer as ``np.isin`` does."""
    from mast.linkage.arrays import isin_sorted

    rng = np.random.default_rng(3)
    keys = rng.integers(-(1 << 40), 1 << 40, size=(40_000, 4))
    keys[rng.random(keys.shape) < 0.3] = 0
    for size in (1, 7, 5000, 2_000_000):
        members = np.sort(rng.choice(keys.reshape(-1), size))
        if size == 7:  # neighbours sharing every low bit with a member, never members themselves
            keys[:7, 0] = members + (1 << 30)
        got = isin_sorted(keys, members)
        assert got.shape == keys.shape and np.array_equal(got, np.isin(keys, members)), size
        assert np.array_equal(isin_sorted(keys[:, 0], members), np.isin(keys[:, 0], members))
    assert isin_sorted(keys, np.zeros(0, np.int64)).shape == keys.shape


def test_a_table_prepared_with_its_address_lines_parsed_beside_is_the_same_table(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``prepare(beside=True)`` parses most distinct first lines in a forked process: every column,
    vocabulary and term frequency is what the one-process preparation makes (the vocabularies'
    codes too: they are given in the same order)."""
    import mast.linkage.table as table_module
    from mast.linkage.table import prepare

    monkeypatch.setattr(table_module, "BESIDE_FROM", 10)  # the generated records are few
    rng = np.random.default_rng(5)
    streets = ["High Street", "Rose Court", "Flat 2, 14 Mill Lane", "12A Church Rd", "Apt 3 The Maltings", ""]
    lines = [f"{rng.integers(1, 60)} {streets[rng.integers(len(streets))]}" if rng.random() > 0.2 else
             streets[rng.integers(len(streets))] for _ in range(400)]
    columns = {"record_id": [f"r{i}" for i in range(400)], "given_name": ["Ann"] * 400, "family_name": ["Lee"] * 400,
               "address_line1": lines, "address_line2": ["12 High Street" if i % 7 == 0 else "Walsall" for i in range(400)],
               "postcode": ["WS1 1AA"] * 400}
    beside, alone = prepare(columns, beside=True), prepare(columns)
    (rows_b, vocabs_b), (rows_a, vocabs_a) = beside.columns(), alone.columns()
    def same(one: Any, other: Any) -> bool:
        if isinstance(one, list) or np.asarray(one).dtype == object:
            return list(one) == list(other)
        return np.array_equal(one, other)

    assert all(same(rows_b[name], column) for name, column in rows_a.items())
    for attribute, columns_a in vocabs_a.items():
        for name, column in columns_a.items():
            assert same(vocabs_b[attribute][name], column), (attribute, name)
    assert len(alone.vocabs.dwellings) > 50 and all(np.array_equal(beside.tf[k], alone.tf[k]) for k in alone.tf)
