"""An élu reads the dashboard and takes the monthly report away: she logs in, lands on the
dashboard with the demo's figures, downloads the PDF; the PDF's first page is rendered to
an image and read back (its text, and ink where the figures are)."""

from __future__ import annotations

import html
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LECTEUR, check_a11y, login

pytestmark = pytest.mark.e2e

SPACES = str.maketrans({"\xa0": " ", "\u202f": " "})


def test_an_elu_reads_the_dashboard_and_downloads_the_report(page: Page, demo: None) -> None:
    import pypdfium2
    from django.utils import timezone, translation

    from collectivites.models import Collectivite
    from reporting import kpis
    from reporting.forms import default_period

    commune = Collectivite.objects.get(slug="saint-aubin")
    period = default_period(timezone.localdate())
    with translation.override("fr"):
        figures = {f.key: f for f in kpis.summary(commune, period)}
        period_label = period.label
    audience = figures["audience"]
    assert audience.value, "the demo has follower counts for last month"

    login(page, LECTEUR)
    # an élu who only reads lands on the dashboard
    expect(page).to_have_url("/c/saint-aubin/rapports/")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"Tableau de bord — {period_label}")
    cards = page.locator(".figure-card")
    expect(cards.first).to_be_visible()
    shown = page.locator(".figures").inner_text().translate(SPACES)
    for key in ("audience", "reach", "posts_published"):
        assert figures[key].display.translate(SPACES) in shown, key
        assert html.unescape(figures[key].sentence).translate(SPACES) in shown, key
    # the charts are drawn, and their data is one click away as a table
    expect(page.locator("canvas[data-chart]").first).to_be_visible()
    page.get_by_text("Voir les données du graphique").first.click()
    expect(page.get_by_role("table").first).to_be_visible()
    check_a11y(page)

    with page.expect_download() as info:
        page.get_by_role("link", name=f"Télécharger le rapport de {period_label} (PDF)").click()
    download = info.value
    assert download.suggested_filename.startswith("rapport-saint-aubin-")
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"%PDF")

    pdf = pypdfium2.PdfDocument(io.BytesIO(content))
    first = pdf[0]
    text = first.get_textpage().get_text_range().translate(SPACES)
    assert "Saint-Aubin-des-Tilleuls" in text
    assert f"Rapport mensuel — {period_label}" in text
    assert audience.display.translate(SPACES) in text
    assert figures["reach"].display.translate(SPACES) in text
    image = first.render(scale=1.5).to_pil().convert("L")
    width, height = image.size
    assert width > 800 and height > 1100  # an A4 page at 1.5 × 72 dpi
    # the page is not blank: the top third (name, figures) carries ink
    top = image.crop((0, 0, width, height // 3))
    dark = sum(top.histogram()[:128])  # pixels darker than mid-grey
    assert dark > 2000, dark
