"""Browser fixtures: Debian's headless Chromium driven by Playwright, with every page screenshotted,
checked by axe-core at WCAG 2.2 AA, and watched for console errors and failed requests.

Playwright's own browser download is never used (``playwright install`` does not work here): the
browser is ``/usr/bin/chromium``, which ``bin/_env.sh`` installs from Debian when it is missing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, LocalStackProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SCREENSHOTS = ROOT / "build" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an asyncio loop running in this thread while it
    is open, which would stop later tests (the SFTP gateway's) from running a loop of their own."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run ./bin/test, which installs it (apt-get install chromium)")
    if not AXE_SCRIPT.exists():
        pytest.fail("axe-core is missing: run ./bin/test, which runs npm ci")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    """One browser tab on the local stack, with what went wrong recorded as it happens."""

    page: Any
    url: str
    test_name: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    #: (status, path) pairs a test expects (a wrong password is a 400 from Cognito, by design)
    expected_failures: list[tuple[int, str]] = field(default_factory=list)
    pages_seen: list[str] = field(default_factory=list)
    shots: int = 0
    #: requests sent and not yet answered or failed
    in_flight: set[Any] = field(default_factory=set)

    def expect_failure(self, status: int, path: str) -> None:
        self.expected_failures.append((status, path))

    def _expected(self, status: int, url: str) -> bool:
        for i, (want, path) in enumerate(self.expected_failures):
            if want == status and path in url:
                del self.expected_failures[i]
                return True
        return False

    def goto(self, route: str) -> None:
        self.page.goto(f"{self.url}/#/{route.lstrip('#/')}")

    def reload(self) -> None:
        """Reload once the page's own calls have answered: a reload aborts any still in flight (the
        alerts count asked after each page, say), and that abort is the test's doing, not a fault.
        Playwright's "networkidle" does not serve: it is reached once per document, and the app's
        pages are routes within one document (hence :meth:`settle`)."""
        self.settle()
        self.page.reload()

    def settle(self, quiet_ms: int = 300, timeout_s: float = 30) -> None:
        """Wait until no request has been in flight for ``quiet_ms`` (a page's call, then the alerts
        count it starts, say). A test that goes on sooner races the app: its next page may ask
        before the last one's call has written what it waits for (a "Looked at the users" event)."""
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(50)  # lets Playwright deliver the requests' events
            if self.in_flight:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_ms / 1000:
                return

    def checkpoint(self, name: str) -> dict[str, Any]:
        """Screenshot the page and run axe on it; fail on any WCAG 2.2 AA violation."""
        self.settle()
        self.shots += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.test_name}-{self.shots:02d}-{name}".lower()).strip("-")
        self.page.screenshot(path=str(SCREENSHOTS / f"{slug}.png"), full_page=True)
        self.pages_seen.append(name)
        if not self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            # Run through the DevTools protocol, which the page's Content-Security-Policy does not
            # govern: an added <script> would be refused as inline script, as the policy intends.
            self.page.evaluate("() => {\n" + AXE_SCRIPT.read_text(encoding="utf-8") + "\n}")
        result = self.page.evaluate(
            "async (tags) => await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })",
            AXE_TAGS,
        )
        violations = [
            f"{v['id']} ({v['impact']}): {v['help']} at " + ", ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            for v in result["violations"]
        ]
        assert not violations, f"axe found WCAG 2.2 AA violations on {name}:\n" + "\n".join(violations)
        return result

    def assert_clean(self) -> None:
        """No console error and no failed request beyond those the test expected."""
        assert not self.failed_requests, "failed requests:\n" + "\n".join(self.failed_requests)
        assert not self.console_errors, "console errors:\n" + "\n".join(self.console_errors)


@pytest.fixture
def visit_factory(browser: Any, local_stack: LocalStackProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open a fresh browser context (own sessionStorage) per call: ``visit = visit_factory()``."""
    contexts: list[Any] = []
    visits: list[Visit] = []

    def open_visit(clock: bool = False) -> Visit:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Europe/London")
        contexts.append(context)
        page = context.new_page()
        if clock:
            page.clock.install()
        visit = Visit(page, local_stack.url, request.node.name)
        pending_4xx: dict[str, int] = {}

        def on_response(response: Any) -> None:
            if response.status >= 400:
                if visit._expected(response.status, response.url):
                    pending_4xx[response.url] = response.status
                else:
                    visit.failed_requests.append(f"{response.status} {response.request.method} {response.url}")

        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            text = message.text
            # Chromium logs every 4xx/5xx fetch as a console error; the ones the test expects are not faults.
            if text.startswith("Failed to load resource") and any(f"status of {s}" in text for s in pending_4xx.values()):
                return
            visit.console_errors.append(f"{text} ({message.location.get('url', '')})")

        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", lambda error: visit.console_errors.append(f"uncaught: {error}"))
        def on_request_failed(req: Any) -> None:
            visit.in_flight.discard(req)
            visit.failed_requests.append(f"failed {req.method} {req.url}: {req.failure}")

        page.on("request", lambda req: visit.in_flight.add(req))
        page.on("requestfinished", lambda req: visit.in_flight.discard(req))
        page.on("requestfailed", on_request_failed)
        visits.append(visit)
        return visit

    yield open_visit
    for number, visit in enumerate(visits, 1):  # where each tab ended: the first thing to look at when a test fails
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", f"{visit.test_name}-tab{number}-last".lower())
        try:
            visit.page.screenshot(path=str(SCREENSHOTS / f"{slug}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - a closed page has nothing to show
            pass
    for context in contexts:
        context.close()
