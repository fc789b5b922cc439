"""A community manager sets up a watch in the browser: the terms are searched on the
sandbox, the mentions appear on the watch's page with their hourly chart (drawn by
static/js/watch.js under the strict CSP), and the page is accessible."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import check_a11y, login

pytestmark = pytest.mark.e2e

MODERATION = "moderation@demo.parvis.fr"


def test_create_a_watch_and_see_its_mentions(page: Page, demo: None) -> None:
    from collectivites.models import Collectivite
    from monitoring import services
    from monitoring.models import Watch
    from networks.models import SandboxItem

    for n, text in enumerate(
        [
            "La fête du pain de Saint-Aubin-sur-Loire était magnifique",
            "Encore des bouchons à la fête du pain, quel bazar",
        ]
    ):
        SandboxItem.objects.create(
            account_external_id="sba_elsewhere",
            kind="comment",
            author_id=f"a{n}",
            author_handle=f"@voisin{n}",
            author_name=f"Voisin {n}",
            text=text,
        )

    login(page, MODERATION)
    page.goto("/c/saint-aubin/boite/veille/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Veille")
    check_a11y(page)
    page.get_by_role("link", name="Nouvelle veille").click()
    page.get_by_label("Nom").fill("Fête du pain")
    page.get_by_label("Termes recherchés").fill("fête du pain")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("La veille est enregistrée.")).to_be_visible()
    check_a11y(page)

    commune = Collectivite.objects.get(slug="saint-aubin")
    watch = Watch.objects.for_collectivite(commune).get(name="Fête du pain")
    assert services.watch_run(watch=watch) == 2

    page.get_by_role("link", name="Fête du pain", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fête du pain")
    expect(page.get_by_text("quel bazar")).to_be_visible()
    expect(page.get_by_text("2 mentions sur la période.")).to_be_visible()
    # the chart is drawn by the static script (no inline script under the CSP)
    page.wait_for_function(
        "() => { const c = document.getElementById('watch-chart'); "
        "return c && window.Chart && window.Chart.getChart(c) !== undefined; }"
    )
    check_a11y(page)
