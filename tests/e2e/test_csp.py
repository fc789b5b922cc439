"""The Content-Security-Policy is enforced and breaks nothing: demo users go through the
composer (the live checks and counters over htmx, a media upload, the calendar), the
moderation inbox (an item, a saved reply, the answer) and the élus' dashboards (Chart.js),
and the browser reports no CSP violation and logs no error on the way.

Two listeners, both outside the page's reach: ``page.on("console")`` for what Chromium
logs (a blocked inline script is logged there as "Refused to execute ..."), and a
``securitypolicyviolation`` listener added by a Playwright init script that reports to
Python through an exposed binding. Init scripts and bindings are injected through the
DevTools protocol, not as page scripts, so the page's CSP does not apply to them; the
first test proves it by planting an inline script that the CSP must stop and the
listener must see.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LECTEUR, check_a11y, login

pytestmark = pytest.mark.e2e

REDACTEUR = "redaction@demo.parvis.fr"
MODERATION = "moderation@demo.parvis.fr"
FACEBOOK = "Ville de Saint-Aubin (Facebook)"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TEXT = "La fête de la musique, place du marché."
SHOUTED = " VENEZ TRÈS NOMBREUX CE SOIR"

WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__parvisCspViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
    page: location.pathname,
  });
});
"""


class Watch:
    def __init__(self) -> None:
        self.violations: list[dict[str, Any]] = []
        self.console: list[str] = []

    def problems(self) -> list[str]:
        found = [f"CSP violation: {v}" for v in self.violations]
        return found + [f"console: {line}" for line in self.console]

    def assert_clean(self) -> None:
        assert self.problems() == [], "\n".join(self.problems())


@pytest.fixture
def watch(page: Page) -> Iterator[Watch]:
    w = Watch()

    def report(violation: dict[str, Any]) -> None:
        w.violations.append(violation)

    page.context.expose_function("__parvisCspViolation", report)
    page.context.add_init_script(WATCH)

    def on_console(message: Any) -> None:
        text = message.text
        if message.type in ("error", "warning") or "Content Security Policy" in text:
            w.console.append(f"{message.type} on {page.url}: {text}")

    page.on("console", on_console)
    yield w


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (640, 480), (31, 79, 168)).save(path, "PNG")
    return path


def test_the_policy_is_enforced_and_the_watch_sees_violations(
    page: Page, demo: None, watch: Watch
) -> None:
    response = page.goto("/connexion/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp
    # An inline script planted in the page (as an injection would): refused, and seen.
    page.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.__inlineRan = true";
          document.head.appendChild(s);
          const d = document.createElement("div");
          d.setAttribute("onclick", "window.__handlerRan = true");
          document.body.appendChild(d);
          d.click();
        }"""
    )
    assert page.evaluate("window.__inlineRan") is None
    assert page.evaluate("window.__handlerRan") is None
    page.wait_for_timeout(200)  # the violation events are queued as tasks
    directives = sorted({v["directive"] for v in watch.violations})
    assert directives == ["script-src-attr", "script-src-elem"], watch.violations
    assert any("Content Security Policy" in line for line in watch.console)
    watch.violations.clear()
    watch.console.clear()
    # htmx loaded with the configuration the CSP needs
    config = page.evaluate(
        "() => [htmx.config.allowEval, htmx.config.includeIndicatorStyles,"
        " htmx.config.allowScriptTags]"
    )
    assert config == [False, False, False]
    assert page.locator("head style").count() == 0
    watch.assert_clean()


def test_the_composer_works_under_the_csp(
    page: Page, demo: None, watch: Watch, media_root: Path
) -> None:
    login(page, REDACTEUR)
    page.goto("/c/saint-aubin/publications/nouvelle/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouvelle publication")
    at = (dt.datetime.now(PARIS) + dt.timedelta(days=2)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    page.get_by_label(re.compile(r"^Titre \(interne\)")).fill("Fête de la musique")
    page.get_by_label(re.compile(r"^Texte\s*:?$")).fill(TEXT)
    page.get_by_role("group", name="Comptes").get_by_role("checkbox", name=FACEBOOK).check()
    page.get_by_label(re.compile(r"^Jour de publication")).fill(at.date().isoformat())
    page.get_by_label(re.compile(r"^Heure")).fill(at.strftime("%H:%M"))
    page.get_by_role("button", name="Créer les déclinaisons").click()
    expect(page).to_have_url(re.compile(r"/c/saint-aubin/publications/\d+/$"))

    # live checks and counter: htmx posts the text and swaps the findings in place
    card = page.get_by_role("region", name=re.compile(rf"^{re.escape(FACEBOOK)} —"))
    textbox = card.get_by_role("textbox", name=f"Texte pour {FACEBOOK}")
    counter = card.get_by_text(re.compile(r"^\d+ / 5000 caractères"))
    page.evaluate("window.notReloaded = true")
    with page.expect_response(re.compile(r"/publications/verifier/$")):
        textbox.press("Control+End")
        textbox.press_sequentially(SHOUTED, delay=5)
    caps = card.get_by_role("listitem").filter(has_text="Texte en majuscules")
    expect(caps).to_have_count(1)
    expect(counter).to_have_text(re.compile(rf"^{len(TEXT + SHOUTED)} / 5000 "))
    assert page.evaluate("window.notReloaded") is True

    # a media upload, shown back as an image from our own origin
    media = page.get_by_role("region", name="Images et vidéos")
    media.get_by_label(re.compile(r"^Image ou vidéo")).set_input_files(
        _png(media_root / "fete.png")
    )
    page.get_by_role("button", name="Ajouter le média").click()
    expect(page.get_by_role("main").get_by_role("status")).to_have_text(
        "Média ajouté aux déclinaisons."
    )
    image = page.get_by_role("region", name="Images et vidéos").locator("img")
    expect(image).to_have_count(1)
    assert image.evaluate("img => img.complete && img.naturalWidth") == 640
    check_a11y(page)

    # the calendar and its drag-and-drop script
    page.goto(f"/c/saint-aubin/publications/calendrier/?mois={at:%Y-%m}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Calendrier éditorial")
    check_a11y(page)
    watch.assert_clean()


def test_the_inbox_works_under_the_csp(page: Page, demo: None, watch: Watch) -> None:
    from tests.e2e.test_inbox import _collect_demo_comments

    _collect_demo_comments()
    login(page, MODERATION)
    page.goto("/c/saint-aubin/boite/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Boîte de modération")
    page.locator("ul.inbox a").first.click()
    expect(page.get_by_role("heading", name="Pourquoi ces étiquettes")).to_be_visible()
    answer = page.get_by_label("Votre réponse")
    answer.fill("Bonjour, le marché est ouvert le dimanche de 10 h à 19 h.")
    page.get_by_role("button", name="Répondre", exact=True).click()
    expect(page.get_by_text("Réponse envoyée au réseau.")).to_be_visible()
    check_a11y(page)
    watch.assert_clean()


def test_the_dashboards_work_under_the_csp(page: Page, demo: None, watch: Watch) -> None:
    login(page, LECTEUR)
    response = page.goto("/c/saint-aubin/rapports/")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    charts = page.locator("canvas[data-chart]")
    if charts.count():
        # Chart.js drew into the canvas (it sizes it through the CSSOM, which the CSP allows)
        page.wait_for_function(
            "() => [...document.querySelectorAll('canvas[data-chart]')]"
            ".every(c => c.width > 0 && c.height > 0)"
        )
    check_a11y(page)
    page.goto("/c/saint-aubin/rapports/detail/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check_a11y(page)
    watch.assert_clean()


def test_the_api_docs_work_under_the_csp(page: Page, demo: None, watch: Watch) -> None:
    login(page, LECTEUR)
    page.goto("/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Parvis API")
    watch.assert_clean()
