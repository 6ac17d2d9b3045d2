"""Which alerts a link makes: run by the match function after an incremental link (never after a
rebuild's relabelling of people, which is not news). Imports pyarrow and numpy: match side only.

A record is *new* when the index did not hold it before this run. A new record from partner P makes
one alert for each other organisation O that holds an open case (a record of one of O's snapshot
feeds with no end date: in the latest snapshot, :func:`mast.search.person.is_current`) of the same
person (``kind="person"``) or of someone at the same dwelling (``kind="dwelling"``), when O's
:class:`~mast.alerts.models.AlertSettings` alert on P. Work is proportionate to the new records:
the people and dwellings they touch are picked out of the run's arrays with numpy, and only those
rows become Python objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mast.alerts.models import ALERT_DAYS, Alert
from mast.config import Partnership
from mast.records import PartnerContact

_COLUMNS = ("record_id", "source_record_id", "partner", "feed", "record_date", "end_date", "sensitive",
            "contact_name", "contact_team", "contact_phone", "contact_email")


def alerts_after_link(records: pa.Table, people: np.ndarray, addresses: np.ndarray, new_ids: Collection[str],
                      partnership: Partnership, snapshot_feeds: Collection[str],
                      now: dt.datetime | None = None) -> list[Alert]:
    """The alerts the records ``new_ids`` make (see the module docstring).

    ``records`` are the run's searchable records, row ``i`` linked to person ``people[i]`` and
    dwelling ``addresses[i]`` (``""``: too little address to place); ``snapshot_feeds`` are the
    feeds whose records are open cases while they have no end date."""
    if not new_ids or records.num_rows == 0:
        return []
    now = now or dt.datetime.now(dt.UTC)
    people = np.asarray(people, dtype=object)
    addresses = np.asarray(addresses, dtype=object)
    is_new = pc.is_in(records.column("record_id"), value_set=pa.array(list(new_ids), pa.string()))
    new_rows = np.nonzero(np.asarray(pc.fill_null(is_new, False)))[0]
    if not len(new_rows):
        return []
    open_case = np.asarray(pc.fill_null(pc.and_(
        pc.is_in(records.column("feed"), value_set=pa.array(list(snapshot_feeds), pa.string())),
        pc.is_null(records.column("end_date"))), False))
    touched_people = np.unique(people[new_rows])
    touched_dwellings = np.unique(addresses[new_rows])
    touched_dwellings = touched_dwellings[touched_dwellings != ""]
    near = open_case & (np.isin(people, touched_people) | np.isin(addresses, touched_dwellings))
    case_rows = np.nonzero(near)[0]
    if not len(case_rows):
        return []
    rows = _rows(records, np.concatenate([new_rows, case_rows]))
    cases_by_person: dict[str, list[int]] = {}
    cases_by_dwelling: dict[str, list[int]] = {}
    for i in case_rows.tolist():
        cases_by_person.setdefault(people[i], []).append(i)
        if addresses[i]:
            cases_by_dwelling.setdefault(addresses[i], []).append(i)
    organisations = {o.id: o for o in partnership.organisations}
    feeds = {f.id: f for f in partnership.feeds}
    alerts: list[Alert] = []
    for n in new_rows.tolist():
        new = rows[n]
        same_person = cases_by_person.get(people[n], [])
        same_dwelling = cases_by_dwelling.get(addresses[n], []) if addresses[n] else []
        by_org: dict[str, tuple[list[int], bool]] = {}
        for i in [*same_person, *same_dwelling]:
            case = rows[i]
            org = organisations.get(case["partner"])
            if i == n or org is None or case["partner"] == new["partner"] or not org.alerts.alerts_on(new["partner"]):
                continue
            found, of_person = by_org.get(org.id, ([], False))
            if i not in found:
                found.append(i)
            by_org[org.id] = (found, of_person or i in same_person)
        for org_id, (found, of_person) in by_org.items():
            alerts.append(_alert(org_id, new, [rows[i] for i in found], of_person, organisations, feeds, now))
    return alerts


def _rows(records: pa.Table, indices: np.ndarray) -> dict[int, dict[str, Any]]:
    """Only the rows alerts need, as dicts, by their row number in ``records``."""
    unique = np.unique(indices)
    taken = records.select(list(_COLUMNS)).take(pa.array(unique, pa.int64())).to_pylist()
    return dict(zip(unique.tolist(), taken, strict=True))


def _alert(organisation: str, new: Mapping[str, Any], cases: list[Mapping[str, Any]], of_person: bool,
           organisations: Mapping[str, Any], feeds: Mapping[str, Any], now: dt.datetime) -> Alert:
    sensitive = bool(new.get("sensitive"))
    partner = organisations.get(new["partner"])
    feed = feeds.get(new["feed"])
    return Alert(
        alert_id=Alert.make_id(organisation, new["record_id"], new["record_date"]),
        organisation=organisation, made_at=now, expires_at=now + dt.timedelta(days=ALERT_DAYS),
        kind="person" if of_person else "dwelling",
        partner=new["partner"], partner_name=partner.name if partner else new["partner"],
        feed_name=None if sensitive or feed is None else feed.name,
        record_date=new["record_date"],
        contact=PartnerContact(name=new.get("contact_name"), team=new.get("contact_team"),
                               phone=new.get("contact_phone"), email=new.get("contact_email")),
        sensitive=sensitive, record_id=new["record_id"],
        case_record_ids=tuple(c["record_id"] for c in cases),
        case_references=tuple(c["source_record_id"] for c in cases),
        case_team=next((c["contact_team"] for c in cases if c.get("contact_team")), None),
        case_email=next((c["contact_email"] for c in cases if c.get("contact_email")), None),
    )
