"""Search: a query to the possible people it may be about; a chosen person's involvement; coverage.

The rooms: :mod:`~mast.search.models` (the bodies), :mod:`~mast.search.query` (a search and its
ranking), :mod:`~mast.search.store` (stored searches), :mod:`~mast.search.person` (the person view),
:mod:`~mast.search.coverage` (which feeds are live).

This is the domain behind ``POST /api/search``, ``GET /api/people/{id}`` and ``GET /api/coverage``
(the handler in ``functions/search`` only parses, authorises, audits and shapes). It reads the index
through :class:`mast.index.IndexReader` and scores with the same model and lookup keys the link
used (:mod:`mast.linkage.scorer`), so a search can never disagree with how the records were linked.

What the practitioner sees follows DESIGN.md's security model:

* the list of possible people shows just enough to choose (name, date of birth, postcode district,
  band, why); counts and records come only after the choice, and only through the same user's
  search that returned that person (:class:`SearchStore` keeps each search for that check);
* a sensitive record shows the partner, the date and whom to contact, never a name, date of birth,
  case reference or address; and nobody whose only records at an address are sensitive is listed
  there (a refuge's address must not leak through the household view).

Bands: ``strong`` at the live model's own link threshold or more,
``possible`` from 0.5 (even odds) up; below 0.5 a record is not shown.

Imports boto3, pydantic, numpy and rapidfuzz only: the search function's cold start matters.
"""

from mast.linkage.scorer import RankedPerson, rank_people
from mast.search.coverage import coverage
from mast.search.models import (
    MAX_PEOPLE,
    POSSIBLE_PROBABILITY,
    CoverageResponse,
    PersonView,
    PossiblePerson,
    SearchQuery,
    SearchRequest,
    SearchResponse,
)
from mast.search.person import PersonGone, PersonOutcome, involvement, person_view
from mast.search.query import FoundPerson, IndexReading, SearchOutcome, band_of, search
from mast.search.store import SearchStore, StoredSearch, new_search_id

__all__ = [
    "MAX_PEOPLE",
    "POSSIBLE_PROBABILITY",
    "CoverageResponse",
    "FoundPerson",
    "IndexReading",
    "PersonGone",
    "PersonOutcome",
    "PersonView",
    "PossiblePerson",
    "RankedPerson",
    "SearchOutcome",
    "SearchQuery",
    "SearchRequest",
    "SearchResponse",
    "SearchStore",
    "StoredSearch",
    "band_of",
    "coverage",
    "involvement",
    "new_search_id",
    "person_view",
    "rank_people",
    "search",
]
