"""The local API applies the stage's throttling method settings as API Gateway does."""

from __future__ import annotations

import re
from dataclasses import replace

from infra.local.api import Route, throttles_from_method_settings

SETTINGS = [
    {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 25, "MetricsEnabled": True},
    {"ResourcePath": "/~1access-requests", "HttpMethod": "POST", "ThrottlingBurstLimit": 5, "ThrottlingRateLimit": 1},
    {"ResourcePath": "/~1health", "HttpMethod": "GET", "MetricsEnabled": True},  # sets no limit
]


def route(method: str, resource: str) -> Route:
    return Route(method, resource, "fn", None, re.compile("^" + re.escape(resource) + "$"))


def test_the_methods_own_setting_wins_over_the_stage_wide_one() -> None:
    throttles = throttles_from_method_settings(SETTINGS)
    assert len(throttles) == 2
    first = next(t for t in throttles if t.covers(route("POST", "/access-requests")))
    assert (first.resource, first.method, first.burst, first.rate) == ("/access-requests", "POST", 5, 1.0)
    other = next(t for t in throttles if t.covers(route("GET", "/access-requests")))
    assert (other.resource, other.burst) == ("*", 50)


def test_a_bucket_lets_the_burst_through_then_refills_at_the_rate() -> None:
    now = [100.0]
    bucket = replace(next(t for t in throttles_from_method_settings(SETTINGS) if t.resource == "/access-requests"),
                     clock=lambda: now[0])
    assert [bucket.take() for _ in range(7)] == [True] * 5 + [False] * 2
    now[0] += 0.9
    assert bucket.take() is False  # not yet a whole token
    now[0] += 0.15
    assert bucket.take() is True
    assert bucket.take() is False
