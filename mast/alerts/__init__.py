"""Alerts: tell the organisation holding an open case when another agency becomes involved.

A watch names record ids, never person ids (a rebuild may change those): an organisation watches
the people of its open cases, the records of its snapshot feeds in their latest snapshot
(:func:`mast.search.person.is_current`). After each incremental link, a record new to the index
from another partner that joined a watched person, or was recorded at a watched person's dwelling,
makes one :class:`Alert` for the watching organisation (:mod:`mast.alerts.detect`). An alert holds
only what a person view would show of that record: the partner, the date and whom to call (a
sensitive record: no kind of service). Practitioners and org-admins of the organisation read them
(:mod:`mast.alerts.actions`, audited); opening the person needs a declaration, as a search does.
The mail that says there are new alerts (:mod:`mast.alerts.nudge`) carries no personal data.

The package is split so that the search function never loads pyarrow: :mod:`mast.alerts.detect`
(the match run's side) is imported only by the match run.
"""

from mast.alerts.models import Alert, AlertCount, AlertList, AlertOpened
from mast.alerts.store import AlertStore
from mast.config import AlertSettings

__all__ = ["Alert", "AlertCount", "AlertList", "AlertOpened", "AlertSettings", "AlertStore"]
