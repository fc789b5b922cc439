"""Browser tests: headless Debian Chromium driven by Playwright's sync API, pages checked
with axe-core (the copy shipped inside axe-playwright-python, never fetched at run time).

Playwright's own browser download is not used: the tests drive ``/usr/bin/chromium``. When
it is missing and we are root (a fresh CI machine), the session installs it with apt-get;
when that is impossible, every e2e test is skipped with the reason.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
APT_UPDATE_TIMEOUT = 300  # seconds
APT_INSTALL_TIMEOUT = 900
TIMEOUT_MS = 10_000
ARTIFACTS = Path(os.environ.get("PARVIS_E2E_ARTIFACTS", Path(tempfile.gettempdir()) / "parvis-e2e"))

DEMO_PASSWORD = "parvis-demo"
ADMIN = "admin@demo.parvis.fr"
LECTEUR = "elu@demo.parvis.fr"
BLOCKING_IMPACTS = {"serious", "critical"}
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


# --- the browser ------------------------------------------------------------------------------


def _tail(text: str | bytes | None, lines: int = 15) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _apt(*args: str, timeout: int) -> None:
    """Run one apt-get command, output captured; raise RuntimeError with its tail on failure."""
    command = ["apt-get", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(
            f"`{' '.join(command)}` did not finish within {timeout} s:\n{_tail(exc.stdout)}"
        ) from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` exited with {done.returncode}:\n"
            f"{_tail(done.stderr) or _tail(done.stdout)}"
        )


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Path of the Debian Chromium; installed with apt-get when missing and we are root."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.geteuid() != 0:
        pytest.skip(
            f"{CHROMIUM} is missing and installing it needs root (apt-get install chromium)"
        )
    if shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and apt-get is not available to install it")
    try:
        _apt("update", timeout=APT_UPDATE_TIMEOUT)
        _apt("install", "-y", "chromium", "chromium-driver", timeout=APT_INSTALL_TIMEOUT)
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"{CHROMIUM} is missing and could not be installed: {exc}")
    if not CHROMIUM.exists():
        pytest.skip(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return str(CHROMIUM)


@pytest.fixture(scope="package")
def browser(chromium_executable: str) -> Iterator[Any]:
    """One headless Chromium for all the e2e tests.

    Package-scoped rather than session-scoped: while Playwright's sync API is started, an
    asyncio loop counts as running in the main thread, so it is stopped as soon as the last
    e2e test is done, before any other test of the session runs. For as long as it runs,
    ``DJANGO_ALLOW_ASYNC_UNSAFE`` lets the fixtures use the ORM from that thread (seed_demo,
    look-ups, the database flush); the variable is restored afterwards.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    playwright = sync_playwright().start()
    try:
        try:
            browser = playwright.chromium.launch(
                executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as exc:
            pytest.skip(f"{chromium_executable} could not be started by Playwright: {exc}")
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the page fixture knows the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh French-speaking browser context on the live server.

    Any request to another host is aborted and fails the test (the platform loads nothing
    from a third party), and so does an uncaught JavaScript error. A failing test leaves a
    screenshot in ``PARVIS_E2E_ARTIFACTS`` (default: the temp dir's ``parvis-e2e``).
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    origin = urlsplit(live_server.url).netloc
    foreign: list[str] = []
    js_errors: list[str] = []

    context = browser.new_context(
        base_url=live_server.url,
        locale="fr-FR",
        timezone_id="Europe/Paris",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(TIMEOUT_MS)

    def guard(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == origin or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("pageerror", lambda error: js_errors.append(str(error)))
    yield page

    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failing page: {shot} ({page.url})")
        except Exception as exc:  # the page may be gone; the test failure is what matters
            print(f"no screenshot: {exc}")
    context.close()
    problems = [f"request to another host: {u}" for u in foreign]
    problems += [f"JavaScript error: {e}" for e in js_errors]
    if problems and not (report is not None and report.failed):
        pytest.fail("\n".join(problems), pytrace=False)


# --- data and helpers -------------------------------------------------------------------------


@pytest.fixture
def demo(transactional_db: Any) -> None:
    """The demo collectivités (saint-aubin and val-des-tilleuls) and their members."""
    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())


def login(page: Any, email: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the login form, checking the page's accessibility on the way."""
    from playwright.sync_api import expect

    page.goto("/connexion/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion à Parvis")
    check_a11y(page)
    page.get_by_label("Adresse e-mail", exact=True).fill(email)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).not_to_have_url(re.compile(r"/connexion/"))


@functools.cache
def _axe() -> Any:
    """One ``Axe``: it holds the axe.min.js shipped in the axe-playwright-python package."""
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def check_a11y(page: Any) -> dict[str, Any]:
    """Run axe-core on the current page; fail listing every serious or critical violation."""
    page.wait_for_load_state("load")
    results = _axe().run(page)
    blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"{len(blocking)} serious/critical accessibility violation(s) on {page.url}:"]
        for v in blocking:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v.get('helpUrl', '')}>")
            for node in v["nodes"]:
                target = ", ".join(str(t) for t in node["target"])
                lines.append(f"    at {target}")
                summary = (node.get("failureSummary") or "").replace("\n", " ")
                if summary:
                    lines.append(f"       {summary}")
        pytest.fail("\n".join(lines), pytrace=False)
    return results.response
