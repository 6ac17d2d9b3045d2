"""Stewardship: the data stewards' review queue of pairs to decide.

* :mod:`mast.stewardship.queue`: the queue in the control table, one item per pair of record ids
  (the linkage's closest calls after each link, and practitioners' reports of a wrong match);
* :mod:`mast.stewardship.actions`: the queue listed side by side, and a practitioner's report,
  each checked and audited. An item is decided through :func:`mast.access.decisions.decide`.
"""

from mast.stewardship.queue import AlreadyDecided, ItemNotFound, ReviewItem, ReviewQueue

__all__ = ["AlreadyDecided", "ItemNotFound", "ReviewItem", "ReviewQueue"]
