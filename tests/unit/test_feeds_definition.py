"""Feed definitions: the five seed feeds load, a broken one names its file and field, a sixth
partner is configuration only."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from mast.config import config_dir
from mast.feeds.definition import (
    FeedDefinitionError,
    load_feed_definition,
    load_feed_definitions,
    strftime_pattern,
)
from mast.feeds.parse import parse_upload

SEED_FEEDS = {"walsall-adults", "walsall-children", "walsall-nhs-ae", "wm-police", "wm-fire"}


def test_the_five_seed_feeds_load_and_match_the_partnership() -> None:
    definitions = load_feed_definitions()
    assert set(definitions) == SEED_FEEDS
    assert {d.mode for d in definitions.values()} == {"snapshot", "delta"}
    assert definitions["walsall-adults"].mode == "snapshot"
    assert definitions["walsall-children"].mode == "snapshot"
    for fid in ("walsall-nhs-ae", "wm-police", "wm-fire"):
        assert definitions[fid].mode == "delta"
        assert definitions[fid].withdrawal is not None  # every delta can withdraw a row


def test_the_seed_feeds_carry_the_quirks_the_issue_asks_for() -> None:
    d = load_feed_definitions()
    assert d["walsall-children"].date_format == "YYYY-MM-DD"  # ISO dates
    assert d["wm-police"].column_for("full_name") is not None  # whole name in one column
    forename = d["walsall-adults"].column_for("given_name")
    assert forename is not None and "title" in forename.description.lower()
    assert d["wm-fire"].relevance is not None and "Dwelling - house" in d["wm-fire"].relevance.keep
    for definition in d.values():
        assert definition.column_for("sensitive") is not None
        assert definition.contact.phone or definition.contact.email
    # police give a team mailbox per row
    assert d["wm-police"].column_for("contact_email") is not None


def test_strftime_pattern() -> None:
    assert strftime_pattern("DD/MM/YYYY") == "%d/%m/%Y"
    assert strftime_pattern("YYYY-MM-DD") == "%Y-%m-%d"
    assert strftime_pattern("DD-MON-YYYY") == "%d-%b-%Y"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's configuration in a temporary MAST_CONFIG_DIR."""
    base = tmp_path / "infra"
    shutil.copytree(config_dir() / "feeds", base / "feeds")
    shutil.copy(config_dir() / "partnership.yaml", base / "partnership.yaml")
    monkeypatch.setenv("MAST_CONFIG_DIR", str(base))
    return base


def _write_yaml(path: Path, data: object) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_a_broken_definition_names_its_file_and_field(config: Path) -> None:
    path = config / "feeds" / "wm-police.yaml"
    data = yaml.safe_load(path.read_text())
    data["columns"][1]["field"] = "occurrence_date"  # not a canonical field
    _write_yaml(path, data)
    with pytest.raises(FeedDefinitionError) as err:
        load_feed_definition("wm-police")
    assert "wm-police.yaml" in str(err.value)
    assert "columns.1.field" in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(date_format="MM/DD/YY"), "date_format"),
        (lambda d: d.update(mode="snapshot"), "withdrawal"),
        (lambda d: d["columns"][0].update(required=False), "must be required"),
        (lambda d: d.update(id="wm-police-2"), "does not match the file name"),
        (lambda d: d.update(partner="wm-fire"), "partnership.yaml says"),
        (lambda d: d.pop("name_order"), "name_order"),
    ],
)
def test_incoherent_definitions_are_refused(config: Path, change, message: str) -> None:
    path = config / "feeds" / "wm-police.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    _write_yaml(path, data)
    with pytest.raises(FeedDefinitionError, match=message):
        load_feed_definition("wm-police")


def test_an_unknown_feed_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        load_feed_definition("no-such-feed")
    with pytest.raises(KeyError):
        load_feed_definition("../partnership")


SIXTH = {
    "id": "walsall-housing",
    "partner": "walsall-housing-trust",
    "name": "Tenancy concerns",
    "mode": "delta",
    "date_format": "DD.MM.YYYY",
    "file": {"delimiter": "|", "encoding": "utf-8"},
    "columns": [
        {"name": "Ref", "field": "source_record_id", "required": True},
        {"name": "Reported", "field": "record_date", "required": True},
        {"name": "Tenant", "field": "full_name", "required": True},
        {"name": "Born", "field": "dob"},
        {"name": "Property", "field": "address_line1", "required": True},
        {"name": "Post Code", "field": "postcode", "required": True},
        {"name": "Vulnerable", "field": "sensitive"},
        {"name": "Action", "field": "withdrawal", "examples": ["NEW", "CANCEL"]},
    ],
    "name_order": "given_first",
    "sensitive": {"true_values": ["Yes"], "false_values": ["No"]},
    "withdrawal": {"values": ["CANCEL"]},
    "contact": {"team": "Tenancy Sustainment", "phone": "01632 960123"},
}


def test_a_sixth_partner_is_configuration_only(config: Path) -> None:
    partnership = yaml.safe_load((config / "partnership.yaml").read_text())
    partnership["organisations"].append({"id": "walsall-housing-trust", "name": "Walsall Housing Trust"})
    partnership["feeds"].append(
        {"id": "walsall-housing", "partner": "walsall-housing-trust", "name": "Tenancy concerns"}
    )
    _write_yaml(config / "partnership.yaml", partnership)
    _write_yaml(config / "feeds" / "walsall-housing.yaml", SIXTH)

    assert set(load_feed_definitions()) == SEED_FEEDS | {"walsall-housing"}
    data = (
        "Ref|Reported|Tenant|Born|Property|Post Code|Vulnerable|Action|Arrears\r\n"
        "H1|03.02.2025|Mrs Aisha Begum|12.05.1980|Flat 3, 9 Elm Road|ws3 1ab|No|NEW|£1,200\r\n"
        "H2|04.02.2025|Tomasz Nowak|31.02.1980|2 Oak Lane|WS2 8QQ|Yes|NEW|0\r\n"
        "H0|05.02.2025||||||CANCEL|\r\n"
    ).encode()
    parsed = parse_upload(data, "walsall-housing", ingest_id="i-6", file_name="housing.csv",
                          ingest_date=dt.date(2025, 2, 6))  # fmt: skip
    r = parsed.receipt
    assert (r.rows_read, r.rows_accepted, r.rows_rejected, r.rows_withdrawal) == (3, 1, 1, 1)
    assert r.delimiter == "pipe" and r.dropped_columns == ["Arrears"]
    rec = parsed.records.to_pylist()[0]
    assert rec["record_id"] == "walsall-housing:H1"
    assert (rec["given_name"], rec["family_name"], rec["postcode"]) == ("Aisha", "Begum", "WS3 1AB")
    assert rec["dob"] == dt.date(1980, 5, 12) and rec["contact_team"] == "Tenancy Sustainment"
    assert parsed.withdrawals == ("walsall-housing:H0",)
    first = parsed.rejected.to_pylist()[0]
    assert (first["row"], first["line"], first["column"], first["reason"]) == (3, 3, "Born", "not a real date")
