"""No row can block others, end to end (issue 14, point 4): through the local stack and the real
OpenSSH `sftp` client, a police extract with a 50 MB address cell, an A&E extract with a
10,000-character forename, and a fire "extract" that is one 30 MB line with no line break. Each
upload gets a receipt, none is left in landing, and every other row of every feed is linked and
searchable in the next match run; the bad rows are nowhere in the index.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from pathlib import Path
from typing import Any

import pytest

from mast.feeds.definition import FeedDefinition, load_feed_definition
from mast.feeds.sftp_client import SftpAccount
from mast.feeds.spec import template_csv
from mast.index.reader import IndexReader
from tests.conftest import LocalStackProcess
from tests.e2e.test_feeds_sftp import bucket
from tests.e2e.test_search_api import DECLARATION, api, token_of

pytestmark = pytest.mark.e2e

TODAY = dt.date.today()
#: invented surnames, so that a search finds these people and no demo person
PEOPLE = {
    "wm-police": [("Imran", "Vexmoorly", dt.date(1988, 3, 4)), ("Sarah", "Quenbridge", dt.date(1975, 11, 2)),
                  ("Tom", "Ollerwickham", dt.date(2001, 6, 9)), ("Aisha", "Farthingdew", dt.date(1969, 2, 3))],
    "walsall-nhs-ae": [("Gurpreet", "Brackenholt", dt.date(1987, 6, 23)), ("Leon", "Marrowbyne", dt.date(1999, 1, 30)),
                       ("Ruth", "Kettlewise", dt.date(1950, 8, 17))],
    "wm-fire": [("Agnieszka", "Thornquill", dt.date(1948, 1, 30)), ("Peter", "Wrenfoldham", dt.date(1955, 9, 12))],
}  # fmt: skip


def rows(definition: FeedDefinition, people: list[tuple[str, str, dt.date]], tag: str) -> list[list[str]]:
    """The feed's example row (its own template) made into one row per person, dated today."""
    header, example = list(csv.reader(io.StringIO(template_csv(definition))))
    out = []
    for i, (given, family, dob) in enumerate(people):
        row = list(example)
        for at, column in enumerate(definition.columns):
            field = column.field
            value = {"source_record_id": f"LIMITS-{tag}-{i}", "record_date": TODAY.strftime("%d/%m/%Y"),
                     "dob": dob.strftime("%d/%m/%Y"), "given_name": given, "family_name": family,
                     "middle_name": "", "full_name": (f"{family.upper()}, {given}" if definition.name_order ==
                                                      "family_first" else f"{given} {family}"),
                     "withdrawal": "", "sensitive": "", "nhs_number": ""}.get(field)  # fmt: skip
            if value is not None:
                row[at] = value
        out.append(row)
    assert header == [c.name for c in definition.columns]
    return [header, *out]


def to_csv(table: list[list[str]], definition: FeedDefinition) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=definition.file.delimiter, lineterminator="\r\n").writerows(table)
    return buf.getvalue().encode("utf-8")


def account(stack: LocalStackProcess, feed: str) -> SftpAccount:
    return SftpAccount("127.0.0.1", stack.sftp_port, feed, stack.state_dir / "keys" / feed, check_host_key=False)


def send(stack: LocalStackProcess, feed: str, name: str, data: bytes, tmp_path: Path) -> dict[str, Any]:
    """Upload through the feed's own SFTP account and wait for the receipt, read the same way."""
    local = tmp_path / name
    local.write_bytes(data)
    sent_at = time.time()
    user = account(stack, feed)
    user.put(local, name)
    return user.receipt(name, after=sent_at - 5, timeout=600).model_dump(mode="json")


def record_id(feed: str, tag: str, i: int) -> str:
    return f"{feed}:LIMITS-{tag}-{i}"


def test_a_huge_cell_a_huge_line_and_a_huge_name_block_nothing_else(local_stack: LocalStackProcess,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    police, ae, fire = (load_feed_definition(f) for f in ("wm-police", "walsall-nhs-ae", "wm-fire"))

    # police: the third row's address is 50 MB
    table = rows(police, PEOPLE["wm-police"], "P")
    address = [c.name for c in police.columns].index("Address")
    table[3][address] = "14 Brace Street, Caldmore, " * (50_000_000 // 27 + 1)
    police_receipt = send(local_stack, "wm-police", "limits-police.csv", to_csv(table, police), tmp_path)

    # A&E: the second row's forename is 10,000 characters
    table = rows(ae, PEOPLE["walsall-nhs-ae"], "A")
    forename = [c.name for c in ae.columns].index("Patient Forename")
    table[2][forename] = "Gurpreet" * 1250
    ae_receipt = send(local_stack, "walsall-nhs-ae", "limits-ae.csv", to_csv(table, ae), tmp_path)

    # fire: one 30 MB line and no line break at all; then the feed's next, good, file
    line = (",".join(c.name for c in fire.columns) + ",") * 1 + "x" * 30_000_000
    huge_receipt = send(local_stack, "wm-fire", "limits-fire-line.csv", line.encode(), tmp_path)
    fire_receipt = send(local_stack, "wm-fire", "limits-fire.csv", to_csv(rows(fire, PEOPLE["wm-fire"], "F"), fire),
                        tmp_path)  # fmt: skip

    # a receipt for each upload, with the row and the reason, or why the whole file was refused
    assert police_receipt["status"] == "accepted_with_rejections", police_receipt
    assert police_receipt["rows_accepted"] == 3 and police_receipt["rows_rejected"] == 1
    assert [(r["row"], r["column"], r["reason"]) for r in police_receipt["rejections"]] == [
        (4, "Address", "longer than 300 characters, the limit for address_line1")]
    assert ae_receipt["status"] == "accepted_with_rejections", ae_receipt
    assert ae_receipt["rows_accepted"] == 2 and ae_receipt["rows_rejected"] == 1
    assert [(r["row"], r["column"], r["reason"]) for r in ae_receipt["rejections"]] == [
        (3, "Patient Forename", "longer than 100 characters, the limit for given_name")]
    assert huge_receipt["status"] == "quarantined"
    assert huge_receipt["quarantine"].startswith("the first row (the header) is 30,")
    assert fire_receipt["status"] == "accepted" and fire_receipt["rows_accepted"] == 2, fire_receipt

    # nothing left in landing but the receipts; the raw uploads archived, the refused one apart
    s3 = local_stack.client("s3")
    landing, raw = bucket(local_stack, "landing"), bucket(local_stack, "raw")
    for feed, partner in (("wm-police", "wm-police"), ("walsall-nhs-ae", "walsall-healthcare"), ("wm-fire", "wm-fire")):
        listed = s3.list_objects_v2(Bucket=landing, Prefix=f"{partner}/{feed}/").get("Contents", [])
        assert [o["Key"] for o in listed if "/reports/" not in o["Key"]] == [], feed
    quarantined = s3.list_objects_v2(Bucket=raw, Prefix="quarantine/wm-fire/wm-fire/").get("Contents", [])
    assert any(o["Key"].endswith(f"{huge_receipt['ingest_id']}/limits-fire-line.csv") and o["Size"] > 30_000_000
               for o in quarantined)  # fmt: skip
    archived = s3.get_object(Bucket=raw, Key=f"archive/wm-police/wm-police/{police_receipt['ingest_id']}/limits-police.csv")
    assert archived["ContentLength"] > 50_000_000

    # every other row of every feed linked in the next match run; the bad rows nowhere
    good = ([record_id("wm-police", "P", i) for i in (0, 1, 3)] + [record_id("walsall-nhs-ae", "A", i) for i in (0, 2)]
            + [record_id("wm-fire", "F", i) for i in (0, 1)])  # fmt: skip
    bad = [record_id("wm-police", "P", 2), record_id("walsall-nhs-ae", "A", 1)]
    ddb = local_stack.client("dynamodb")
    table_name = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("-index"))
    deadline, found = time.time() + 600, []
    while time.time() < deadline:
        reader = IndexReader(table_name, ddb)
        if reader.live_version() is not None:
            found = reader.records(good)
            if len(found) == len(good):
                break
        time.sleep(3)
    assert sorted(r.record_id for r in found) == sorted(good)
    assert reader.records(bad) == []
    assert max(len(r.address_line1 or "") for r in found) < 300

    # and searchable: a practitioner finds a person of each feed by name and date of birth
    practitioner = token_of(local_stack, ("practitioners",))
    by_id = {r.record_id: r for r in found}
    for feed, tag, i in (("wm-police", "P", 3), ("walsall-nhs-ae", "A", 2), ("wm-fire", "F", 1)):
        given, family, dob = PEOPLE[feed][i]
        query = {"given_name": given, "family_name": family, "dob": {"day": dob.day, "month": dob.month, "year": dob.year}}
        response = api(local_stack, "POST", "/search", practitioner, json={"declaration": DECLARATION, "query": query})
        assert response.status_code == 200, response.text
        assert by_id[record_id(feed, tag, i)].person_id in [p["person_id"] for p in response.json()["people"]], feed
