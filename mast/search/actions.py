"""Each search route as one call: the checks, the audit event first, then the answer.

The handler (``functions/search``) parses the request, calls one of these and shapes the reply. The
order inside is the security model's (DESIGN.md): nobody is searched for without a declaration (the
request model holds one), and nothing is shown before its audit event is written; an audit that
cannot be written raises :class:`~mast.audit.AuditUnavailable` and nothing is shown.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from mast.access.caller import Caller, Group
from mast.access.declarations import Declaration
from mast.audit.event import AuditUnavailable
from mast.audit.store import AuditStore
from mast.config import Partnership, load_partnership
from mast.index.layout import NO_YEAR
from mast.schema import Refused
from mast.search.coverage import FeedStatus
from mast.search.models import (
    POSSIBLE_PROBABILITY,
    Dwelling,
    DwellingPerson,
    PersonView,
    PrintRecorded,
    SearchRequest,
    SearchResponse,
)
from mast.search.person import involved_partners, person_view
from mast.search.query import IndexReading, search
from mast.search.store import SearchStore, StoredSearch, new_search_id

#: Who may search and open people: practitioners, and stewards (who must find the records they
#: correct; every search of theirs is declared and audited the same way).
SEARCHERS: tuple[Group, ...] = ("practitioners", "data-stewards")


def purpose_of(declaration: Declaration) -> str:
    """The declared purpose as audited (an "other" gateway's named basis in brackets after it)."""
    if not declaration.gateway_other:
        return declaration.purpose
    return f"{declaration.purpose} [{declaration.gateway_other}]"


def declared_search(caller: Caller, request: SearchRequest, index: IndexReading, audit: AuditStore,
                    searches: SearchStore, request_id: str | None = None, partnership: Partnership | None = None,
                    feeds: Mapping[str, FeedStatus] | Future[dict[str, FeedStatus]] | None = None) -> SearchResponse:
    """Search under the request's declaration: audited, then kept (so its people can be opened).
    An address search lists its dwellings, each person with the partners involved with them (the
    records that says so are audited with the search)."""
    caller.require(*SEARCHERS)
    outcome = search(index, request.query)
    search_id = new_search_id()
    declaration = request.declaration
    dwellings: list[Dwelling] = []
    shown_ids = list(outcome.record_ids)
    if outcome.dwellings:
        partnership = partnership or load_partnership()
        listed = {p.shown.person_id: p.shown for p in outcome.people}
        statuses = feeds.result() if isinstance(feeds, Future) else feeds  # read beside the search's reads
        involved = involved_partners(index, list(listed), partnership, dt.datetime.now(dt.UTC).date(), statuses)
        for address, here in outcome.dwellings:
            dwellings.append(Dwelling(address=address, people=[DwellingPerson(
                person_id=p, name=listed[p].name, date_of_birth=listed[p].date_of_birth,
                agencies=involved[p][0], open_now=involved[p][1]) for p in here]))
        shown_ids.extend(rid for agencies, _, ids in involved.values() for rid in ids)
        shown_ids = list(dict.fromkeys(shown_ids))
    event = caller.audit_event(
        request_id, action="search", gateway=declaration.gateway, purpose=purpose_of(declaration),
        search_id=search_id, search_terms=request.query.model_dump_json(exclude_none=True),
        people_returned=tuple(p.shown.person_id for p in outcome.people), record_ids=tuple(shown_ids),
        records_returned=len(shown_ids), sensitive_returned=outcome.sensitive,
        detail=json.dumps({"kind": outcome.kind, "people": len(outcome.people), "left_out": outcome.left_out,
                           "too_common": outcome.too_common, "shared_by": outcome.shared_by,
                           "other_years": outcome.other_years, "unread": outcome.unread}),
    )
    stored = StoredSearch(
        search_id=search_id, user_sub=caller.sub, created_at=dt.datetime.now(dt.UTC),
        people={p.shown.person_id: p.record_ids for p in outcome.people},
        gateway=declaration.gateway, purpose=purpose_of(declaration),
    )
    try:
        together(lambda: audit.write(event), lambda: searches.save(stored))
    except AuditUnavailable:
        searches.forget(search_id)  # written beside the audit, which failed: the search is not kept
        raise
    return SearchResponse(
        search_id=search_id, kind=outcome.kind, people=[p.shown for p in outcome.people], left_out=outcome.left_out,
        bands={"strong": outcome.strong, "possible": POSSIBLE_PROBABILITY}, dwellings=dwellings,
        too_common=outcome.too_common, shared_by=outcome.shared_by, other_years=outcome.other_years,
        unread=outcome.unread,
        narrow=narrowing(outcome.shared_by, request, outcome.other_years, outcome.years_read, outcome.unread),
    )


def narrowing(shared_by: int, request: SearchRequest, other_years: int = 0,
              years_read: Sequence[str] = (), unread: int = 0) -> str | None:
    """What to say when part of a search was not read: how many records share it, and what to add;
    or, for a name narrowed by the year of birth (:func:`mast.index.reader.years_read`), how many
    records of it were born in the years not read, so a practitioner unsure of the year searches again;
    or how many records of a part that was read its items left out (``unread``: more records of one
    year than a search reads), so that no one is dropped without the page saying so."""
    query = request.query
    part = "this name" if query.is_person_search else "this address"
    if not shared_by and unread:
        wanted = "a postcode or a fuller name" if query.is_person_search else "the first line of the address"
        shared = "this name and a year of birth read" if query.is_person_search else part
        said = (f"{unread:,} more records share {shared} than a search reads, so were not read: "
                f"give {wanted} to narrow the search.")
        rest = narrowing(0, request, other_years, years_read)
        return f"{said} {rest}" if rest else said
    if not shared_by and other_years:
        years = sorted(y for y in years_read if y != NO_YEAR)
        read = ", ".join(years[:-1]) + f" and {years[-1]}" if len(years) > 1 else "".join(years)
        return (f"{other_years:,} records share {part} and were born in other years than {read}, so were not "
                "read: if the year of birth may be wrong, search again with the year it may be.")
    if not shared_by:
        return None
    wanted = "a date of birth or a postcode" if query.is_person_search else "the first line of the address"
    if query.is_person_search and query.dob is not None and query.dob.year:
        wanted = "a postcode or a fuller name"
    return f"{shared_by:,} records share {part}, too many to read them all: give {wanted} to narrow the search."


def together(*writes: Callable[[], object]) -> None:
    """Run independent writes at once (each is a round trip to DynamoDB), raising the first failure.
    Both are made before anything is shown; an audit that fails still means nothing is shown."""
    with ThreadPoolExecutor(len(writes)) as pool:
        futures = [pool.submit(w) for w in writes]
    for future in futures:
        future.result()


def own_search(caller: Caller, person_id: str, search_id: str, searches: SearchStore) -> StoredSearch:
    """The caller's own stored search, which returned this person (or listed them at the dwelling
    of someone it returned); refused otherwise."""
    caller.require(*SEARCHERS)
    if not search_id:
        raise Refused("open a person through a search: add ?search=<search_id>")
    if len(search_id) > 100 or len(person_id) > 200:
        raise Refused("no such search of yours", 404)
    stored = searches.load(search_id)
    if stored is None or stored.user_sub != caller.sub:
        raise Refused("no such search of yours (it may have expired): search again", 404)
    if person_id not in stored.people:
        raise Refused("that search did not return this person", 403)
    return stored


def open_person(caller: Caller, person_id: str, search_id: str, index: IndexReading, audit: AuditStore,
                searches: SearchStore, partnership: Partnership, request_id: str | None = None,
                feeds: Mapping[str, FeedStatus] | None = None) -> PersonView:
    """A person returned by the caller's own search, audited (record ids shown) before answering.
    ``feeds``: each feed's mode and latest snapshot (:func:`mast.search.coverage.feed_statuses`)."""
    stored = own_search(caller, person_id, search_id, searches)
    outcome = person_view(index, stored, person_id, partnership, feeds=feeds)
    event = caller.audit_event(
        request_id, action="open-person", gateway=stored.gateway, purpose=stored.purpose, search_id=search_id,
        people_returned=(person_id,), record_ids=tuple(outcome.record_ids),
        records_returned=len(outcome.view.records), sensitive_returned=outcome.sensitive,
        # whom it concerned, as the user saw them (the audit page names the person opened), and how
        # many of the family the view listed (they open under this search)
        detail=json.dumps({"name": outcome.view.name, "household_listed": len(outcome.household)}),
    )
    # the family opens under this search, audited as a view; both writes at once
    together(lambda: audit.write(event), lambda: searches.add_people(stored, outcome.household))
    return outcome.view


def print_person(caller: Caller, person_id: str, search_id: str, audit: AuditStore, searches: SearchStore,
                 request_id: str | None = None) -> PrintRecorded:
    """Record that the caller is printing the summary of a person their own search returned: a
    printed page leaves MAST, so it is audited under the search's declaration before the page prints."""
    stored = own_search(caller, person_id, search_id, searches)
    event = caller.audit_event(
        request_id, action="print-person", gateway=stored.gateway, purpose=stored.purpose, search_id=search_id,
        people_returned=(person_id,), record_ids=stored.people.get(person_id, ()),
    )
    audit.write(event)
    return PrintRecorded(event_id=event.event_id, printed_at=event.event_time)
