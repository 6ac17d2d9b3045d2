"""A batch of match-queue messages: linked together, and a message that cannot be linked kept apart.

The match queue delivers up to ten messages at once, and they are linked in one run (ten ingests in
a row cost one link, not ten). If that run fails, each message is linked on its own, in order, so
that one message that cannot be linked (a message that is not ours, an ingest whose records cannot
be read or written) does not hold back every other feed's changes: the rest are linked, and the
failures are returned to the queue as ``batchItemFailures`` (the template's
``ReportBatchItemFailures``), which SQS retries and then moves to the dead-letter queue. Each
run reads every current record, so linking the others first loses nothing: the failed message's
records are linked whenever it succeeds (and, being new to the index, by any later run too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from mast.deadletters import FailedMessage, reason_of
from mast.index.linking import MatchOutcome, MatchSettings, Message, run_match
from mast.index.messages import parse_match_message
from mast.linkage.link import LinkOptions

Run = Callable[..., MatchOutcome]


def options_from_env(env: Mapping[str, str] | None = None) -> LinkOptions | None:
    """Link options a deployment may set: ``MATCH_PARALLEL_MIN_PAIRS`` (candidate pairs from which
    the batch link uses worker processes; the default otherwise)."""
    env = os.environ if env is None else env
    if env.get("MATCH_PARALLEL_MIN_PAIRS"):
        return LinkOptions(parallel_min_pairs=int(env["MATCH_PARALLEL_MIN_PAIRS"]))
    return None


def link_batch(records: Sequence[Mapping[str, Any]], settings: MatchSettings, *, options: LinkOptions | None = None,
               session: Any = None, run: Run = run_match) -> tuple[list[MatchOutcome], list[FailedMessage]]:
    """Link the SQS records' messages; what was linked, and the messages that failed with why."""
    failed: list[FailedMessage] = []
    parsed: list[tuple[str, Message]] = []
    for record in records:
        try:
            parsed.append((str(record["messageId"]), parse_match_message(record["body"])))
        except ValidationError as error:
            failed.append(FailedMessage(str(record["messageId"]), reason_of(error)))
    if not parsed:
        return [], failed
    try:
        return [run([m for _, m in parsed], settings, session=session, options=options)], failed
    except Exception as error:
        if len(parsed) == 1:
            return [], [*failed, FailedMessage(parsed[0][0], reason_of(error))]
    outcomes = []
    for message_id, message in parsed:  # one at a time: find the one that cannot be linked
        try:
            outcomes.append(run([message], settings, session=session, options=options))
        except Exception as error:
            failed.append(FailedMessage(message_id, reason_of(error)))
    return outcomes, failed
