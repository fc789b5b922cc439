"""An administrateur·rice's journey through the demo, in a real browser, with axe-core run on
every page it opens; and what a lecteur·rice (élu·e) may not do."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ADMIN, LECTEUR, check_a11y, login

pytestmark = pytest.mark.e2e

COMMUNE = "Saint-Aubin-des-Tilleuls"
INTERCO = "Communauté de communes du Val des Tilleuls"
FACEBOOK = "Ville de Saint-Aubin (Facebook)"


def _path(path: str) -> re.Pattern[str]:
    """Match a page URL by its path (and nothing after it but a query string)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def _field(page: Page, label: str) -> Locator:
    """A form field by its label; Django's French labels end with " :"."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}\s*:?$"))


def _line_card(page: Page, account: str) -> Locator:
    return page.get_by_role("region", name=re.compile(rf"^{re.escape(account)}( —|$)"))


def _fact(card: Locator, term: str) -> Locator:
    """The <dd> that follows the <dt> reading ``term`` in a card's facts list."""
    return card.locator("dl.facts dt", has_text=re.compile(rf"^{re.escape(term)}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def _switcher(page: Page) -> Locator:
    return page.locator("header details.switcher")


def test_admin_journey(page: Page, demo: None) -> None:
    login(page, ADMIN)

    # Member of two collectivités: the choice page.
    expect(page).to_have_url(_path("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Vos collectivités")
    choices = page.get_by_role("main").get_by_role("link")
    expect(choices).to_have_text([INTERCO, COMMUNE])
    check_a11y(page)

    page.get_by_role("main").get_by_role("link", name=COMMUNE).click()
    expect(page).to_have_url(_path("/c/saint-aubin/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(COMMUNE)
    check_a11y(page)

    # Switch to the intercommunalité with the mouse…
    switcher = _switcher(page)
    summary = switcher.locator("summary")
    expect(summary).to_contain_text(COMMUNE)
    expect(switcher).not_to_have_attribute("open", "")
    summary.click()
    expect(switcher).to_have_attribute("open", "")
    menu = switcher.get_by_role("list", name="Changer de collectivité")
    expect(menu.get_by_role("link", name=COMMUNE)).to_have_attribute("aria-current", "true")
    menu.get_by_role("link", name=INTERCO).click()
    expect(page).to_have_url(_path("/c/val-des-tilleuls/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(INTERCO)
    expect(_switcher(page).locator("summary")).to_contain_text(INTERCO)
    check_a11y(page)

    # …and back with the keyboard only: focus the summary, Enter opens it, Tab reaches the link.
    switcher = _switcher(page)
    summary = switcher.locator("summary")
    summary.focus()
    expect(summary).to_be_focused()
    expect(switcher).not_to_have_attribute("open", "")
    page.keyboard.press("Enter")
    expect(switcher).to_have_attribute("open", "")
    target = switcher.get_by_role("link", name=COMMUNE)
    expect(target).to_be_visible()
    for _ in range(5):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            break
    expect(target).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(_path("/c/saint-aubin/"))
    expect(_switcher(page).locator("summary")).to_contain_text(COMMUNE)

    # The editorial lines, then one line edited.
    nav = page.get_by_role("navigation", name="Menu de la collectivité")
    nav.get_by_role("link", name="Lignes éditoriales").click()
    expect(page).to_have_url(_path("/c/saint-aubin/lignes-editoriales/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Lignes éditoriales")
    expect(nav.get_by_role("link", name="Lignes éditoriales")).to_have_attribute(
        "aria-current", "page"
    )
    card = _line_card(page, FACEBOOK)
    expect(_fact(card, "Ton")).to_have_text("Chaleureux et pratique")
    check_a11y(page)

    page.get_by_role("link", name=f"Modifier — {FACEBOOK}").click()
    expect(page).to_have_url(re.compile(r"/c/saint-aubin/lignes-editoriales/\d+/modifier/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Modifier la ligne éditoriale")
    for label in (
        "Ton",
        "Adresse au public",
        "Objectifs",
        "Publications par semaine",
        "Mots-dièse à utiliser",
        "Mots à éviter",
        "Signature",
        "Notes",
    ):
        expect(_field(page, label)).to_be_visible()
    audiences = page.get_by_role("group", name="Publics visés")
    expect(audiences.get_by_role("checkbox", name="Seniors")).to_be_checked()
    expect(_field(page, "Ton")).to_have_value("Chaleureux et pratique")
    check_a11y(page)

    _field(page, "Ton").fill("Sobre et informatif")
    _field(page, "Publications par semaine").fill("7")
    page.get_by_role("button", name="Enregistrer").click()

    expect(page).to_have_url(_path("/c/saint-aubin/lignes-editoriales/"))
    expect(page.get_by_role("status")).to_contain_text("La ligne éditoriale est enregistrée.")
    card = _line_card(page, FACEBOOK)
    expect(_fact(card, "Ton")).to_have_text("Sobre et informatif")
    expect(_fact(card, "Cadence")).to_have_text("7 publications par semaine")
    expect(_fact(card, "Signature")).to_have_text("— Ville de Saint-Aubin")  # untouched
    check_a11y(page)  # with the success message shown

    # Every other page of the collectivité's menu.
    for name, path, heading in (
        ("Comptes", "/c/saint-aubin/comptes/", "Comptes sociaux"),
        ("Publics", "/c/saint-aubin/publics/", "Publics"),
        ("Charte", "/c/saint-aubin/charte/", "Charte de modération"),
        ("Élections", "/c/saint-aubin/elections/", "Périodes électorales"),
        ("Membres", "/c/saint-aubin/membres/", "Membres"),
    ):
        page.get_by_role("navigation", name="Menu de la collectivité").get_by_role(
            "link", name=name, exact=True
        ).click()
        expect(page).to_have_url(_path(path))
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        check_a11y(page)


def test_invalid_value_is_explained_in_french_and_input_kept(page: Page, demo: None) -> None:
    login(page, ADMIN)
    page.goto("/c/saint-aubin/lignes-editoriales/")
    page.get_by_role("link", name=f"Modifier — {FACEBOOK}").click()
    edit_url = page.url

    _field(page, "Ton").fill("Très sobre")
    _field(page, "Signature").fill("— La mairie")
    _field(page, "Notes").fill("Relire avant l'été.")
    page.get_by_role("group", name="Publics visés").get_by_role("checkbox", name="Jeunes").check()
    cadence = _field(page, "Publications par semaine")
    cadence.fill("500")
    page.get_by_role("button", name="Enregistrer").click()

    # Same form again, not saved, with the error next to the field and tied to it.
    expect(page).to_have_url(edit_url)
    expect(page.get_by_role("status")).to_have_count(0)
    cadence = _field(page, "Publications par semaine")
    expect(cadence).to_have_attribute("aria-invalid", "true")
    group = page.locator("form div").filter(has=cadence).last
    error = group.locator(".errorlist")
    expect(error).to_have_text(re.compile(r"inférieure ou égale à 100"))
    expect(cadence).to_have_accessible_description(re.compile(r"inférieure ou égale à 100"))

    # What was typed is still there.
    expect(cadence).to_have_value("500")
    expect(_field(page, "Ton")).to_have_value("Très sobre")
    expect(_field(page, "Signature")).to_have_value("— La mairie")
    expect(_field(page, "Notes")).to_have_value("Relire avant l'été.")
    audiences = page.get_by_role("group", name="Publics visés")
    expect(audiences.get_by_role("checkbox", name="Jeunes")).to_be_checked()
    expect(audiences.get_by_role("checkbox", name="Seniors")).to_be_checked()
    check_a11y(page)  # with the error shown

    # Nothing was saved.
    page.goto("/c/saint-aubin/lignes-editoriales/")
    card = _line_card(page, FACEBOOK)
    expect(_fact(card, "Ton")).to_have_text("Chaleureux et pratique")
    expect(_fact(card, "Cadence")).to_have_text("4 publications par semaine")


def test_lecteur_reads_editorial_lines_but_cannot_edit(page: Page, demo: None) -> None:
    from collectivites.models import Collectivite, EditorialLine

    commune = Collectivite.objects.get(slug="saint-aubin")
    line = EditorialLine.objects.for_collectivite(commune).get(account__display_name=FACEBOOK)

    login(page, LECTEUR)
    # Member of a single collectivité, as a reader: straight to its dashboard.
    expect(page).to_have_url(_path("/c/saint-aubin/rapports/"))
    page.get_by_role("navigation", name="Menu de la collectivité").get_by_role(
        "link", name="Lignes éditoriales"
    ).click()
    expect(page).to_have_url(_path("/c/saint-aubin/lignes-editoriales/"))
    expect(_fact(_line_card(page, FACEBOOK), "Ton")).to_have_text("Chaleureux et pratique")
    expect(page.locator("section.card")).to_have_count(3)
    expect(page.get_by_role("link", name=re.compile(r"^Modifier"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^Supprimer"))).to_have_count(0)
    check_a11y(page)

    response = page.goto(f"/c/saint-aubin/lignes-editoriales/{line.pk}/modifier/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    expect(page.get_by_role("main")).to_contain_text("Votre rôle dans cette collectivité")
    expect(page.get_by_role("button", name="Enregistrer")).to_have_count(0)
    check_a11y(page)
