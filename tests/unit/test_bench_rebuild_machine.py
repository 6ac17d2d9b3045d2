"""`mast bench rebuild-machine`'s reading of an execution's history (no stack, no timing): each
state's entries, wall seconds and largest payload, a task's events counted to the state that
scheduled it, and a map run named by its Map state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tools.bench.rebuild_machine import state_names, states_of

T0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def event(id_: int, previous: int, kind: str, at: float, **details: Any) -> dict[str, Any]:
    key = {"TaskStateEntered": "stateEnteredEventDetails", "TaskStateExited": "stateExitedEventDetails",
           "MapStateEntered": "stateEnteredEventDetails", "MapStateExited": "stateExitedEventDetails",
           "WaitStateEntered": "stateEnteredEventDetails", "WaitStateExited": "stateExitedEventDetails",
           "TaskScheduled": "taskScheduledEventDetails", "TaskSucceeded": "taskSucceededEventDetails",
           "MapRunStarted": "mapRunStartedEventDetails", "ExecutionStarted": "executionStartedEventDetails"}[kind]
    return {"id": id_, "previousEventId": previous, "type": kind, "timestamp": T0 + dt.timedelta(seconds=at),
            key: details}


HISTORY = [
    event(1, 0, "ExecutionStarted", 0, input='{"rebuild": "r"}'),
    event(2, 1, "TaskStateEntered", 0, name="Prepare", input="{}"),
    event(3, 2, "TaskScheduled", 0.1, parameters="x" * 300),
    event(4, 3, "TaskSucceeded", 19.0, output="y" * 900),
    event(5, 4, "TaskStateExited", 19.5, name="Prepare", output="z" * 700),
    event(6, 5, "MapStateEntered", 19.5, name="Score", input="z" * 700),
    event(7, 6, "MapRunStarted", 19.6, mapRunArn="arn:aws:states:eu-west-2:1:mapRun:m/abc:1"),
    event(8, 7, "MapStateExited", 29.5, name="Score", output="s" * 800),
    event(9, 8, "WaitStateEntered", 29.5, name="WaitForImport", input="{}"),
    event(10, 9, "WaitStateExited", 39.5, name="WaitForImport", output="{}"),
    event(11, 10, "WaitStateEntered", 40.0, name="WaitForImport", input="{}"),
    event(12, 11, "WaitStateExited", 50.0, name="WaitForImport", output="{}"),
]


def test_each_state_has_its_entries_seconds_and_largest_payloads_its_tasks_counted_to_it() -> None:
    figures = {s.name: s for s in states_of(HISTORY)}
    prepare = figures["Prepare"]
    assert (prepare.entered, prepare.seconds) == (1, 19.5)
    # the task's own input and output (its parameters, the Lambda's reply) are the state's
    assert (prepare.largest_input, prepare.largest_output) == (300, 900)
    assert (figures["Score"].entered, figures["Score"].seconds) == (1, 10.0)
    wait = figures["WaitForImport"]
    assert (wait.entered, wait.seconds) == (2, 20.0)  # each turn of the loop, summed
    assert figures["(execution)"].entered == 0 and figures["(execution)"].largest_input == len('{"rebuild": "r"}')


def test_a_map_run_belongs_to_the_map_state_that_started_it() -> None:
    assert state_names(HISTORY)[7] == "Score"
