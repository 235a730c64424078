"""Browser tests: Debian's chromium, headless, driven by Playwright, against a real server with the demo data.

- ``demo``: the demo registry (:func:`registry.demo.build_demo`, about five seconds), built once per
  run and served by uvicorn on a free port of 127.0.0.1, in a thread; with the records tests visit.
  These fixtures have package scope: they end when the browser tests are done, not with the run.
- ``browser``: one chromium per run. Playwright downloads no browser here: it launches
  ``/usr/bin/chromium``, which ``scripts/test`` installs with apt-get when it is missing.
- ``site``: a fresh browser context per test. Any console error or uncaught exception on any page
  fails the test, and every page visited is saved as a full-page screenshot to
  ``test-results/screenshots/<test>-<n>.png`` once the test is done with it.

Without chromium the tests skip; with ``CI=true`` they fail instead, like the PostgreSQL tests.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from api.app import create_app
from registry import queries
from registry.demo import PROJECTS, build_demo
from tests.conftest import IN_CI, ROOT
from tests.servers import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-results" / "screenshots"
TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Demo:
    """The served demo registry and the records the tests visit."""

    url: str
    size: int
    """Entries covered by the served checkpoint."""
    project: str
    project_name: str
    batch: int
    retirement: int
    """The log index of Turku's first retirement."""
    retired_unit: str
    """One unit of that retirement, as a printed serial."""


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    node = build_demo(tmp_path_factory.mktemp("browser") / "registry")
    with node.engine.connect() as conn:
        retired = queries.retirement_list(conn, beneficiary="turku", holder=None, after=None, limit=1)["items"][0]
        units = queries.resolve(conn, retired["serial"])
    project = "fi-biochar-1"
    try:
        with serving(create_app(node)) as url:
            yield Demo(
                url=url,
                size=node.served_checkpoint().size,
                project=project,
                project_name=PROJECTS[project][1],
                batch=units.batch,
                retirement=retired["index"],
                retired_unit=str(units.sub(units.first, units.first)),
            )
    finally:
        node.close()


def _require_chromium() -> None:
    """Skip the test when chromium is not installed; with CI=true, fail it instead."""
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true requires the browser tests to run: {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    _require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def screenshots() -> Path:
    """The screenshot folder, emptied once per run so that it shows this run's pages only."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


class Site:
    """One test's browser tab on the demo server: opens pages, records errors, keeps screenshots."""

    def __init__(self, page: Page, base_url: str, name: str, folder: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        self._name = name
        self._folder = folder
        self._shots = 0
        self._showing = False
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught {error.name}: {error.message}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        source = message.location.get("url", "")
        self.errors.append(f"console error: {message.text} ({source})")

    def open(self, path: str, *, status: int = 200) -> Page:
        """Load ``path`` (after saving the page shown until now) and check its HTTP status."""
        self.screenshot()
        answer = self.page.goto(self.base_url + path)
        assert answer is not None, f"no answer for {path}"
        assert answer.status == status, f"{path} answered {answer.status}, not {status}"
        self._showing = True
        return self.page

    def fail_on_errors(self) -> None:
        """Fail the test if the browser reported errors since the last call."""
        errors, self.errors = self.errors, []
        if errors:
            pytest.fail("the browser reported errors:\n" + "\n".join(errors))

    def screenshot(self) -> None:
        """Save the page shown now as ``<test>-<n>.png``, the whole page long."""
        if self._showing:
            self._shots += 1
            self.page.screenshot(path=self._folder / f"{self._name}-{self._shots}.png", full_page=True)


@pytest.fixture
def site(browser: Browser, demo: Demo, screenshots: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    visit = Site(context.new_page(), demo.url, name, screenshots)
    try:
        yield visit
        visit.screenshot()
    finally:
        context.close()
    visit.fail_on_errors()  # those that came after the test's body (pytest_runtest_call caught the others)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test whose pages reported errors as the test itself, not as an error in its teardown."""
    yield
    visit = getattr(item, "funcargs", {}).get("site")
    if isinstance(visit, Site):
        visit.fail_on_errors()
