"""An admin connects a sandbox account in the browser; the sandbox then revokes its token:
the account shows "À reconnecter" and the admin finds the notification; reconnecting
brings it back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN, check_a11y, login

pytestmark = pytest.mark.e2e


def test_connect_revoke_and_reconnect_a_sandbox_account(page: Page, demo: None) -> None:
    login(page, ADMIN)
    page.goto("/c/saint-aubin/comptes/")
    check_a11y(page)
    page.get_by_role("link", name="Connecter un compte", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connecter un compte")
    check_a11y(page)
    page.get_by_role("link", name="Connecter un compte Bac à sable").click()
    check_a11y(page)
    page.get_by_label(re.compile(r"^Identifiant sur le bac à sable")).fill("@saintaubin.mastodon")
    page.get_by_label(re.compile(r"^Nom affiché")).fill("Saint-Aubin sur le bac à sable")
    page.get_by_role("button", name="Connecter", exact=True).click()
    expect(page.get_by_text("Compte connecté : Saint-Aubin sur le bac à sable.")).to_be_visible()

    row = page.get_by_role("row", name=re.compile("Saint-Aubin sur le bac à sable"))
    expect(row.get_by_text("Connecté", exact=True)).to_be_visible()

    row.get_by_role("button", name=re.compile("^Simuler une révocation")).click()
    row = page.get_by_role("row", name=re.compile("Saint-Aubin sur le bac à sable"))
    row.get_by_role("button", name=re.compile("^Vérifier la connexion")).click()
    expect(page.get_by_text("le compte doit être reconnecté", exact=False)).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Saint-Aubin sur le bac à sable"))
    expect(row.get_by_text("À reconnecter", exact=True)).to_be_visible()
    check_a11y(page)

    page.get_by_role("link", name=re.compile(r"^Notifications")).click()
    notice = re.compile("Saint-Aubin sur le bac à sable.*doit être reconnecté")
    expect(page.get_by_text(notice)).to_be_visible()
    check_a11y(page)

    page.goto("/c/saint-aubin/comptes/")
    row = page.get_by_role("row", name=re.compile("Saint-Aubin sur le bac à sable"))
    row.get_by_role("link", name=re.compile("^Reconnecter")).click()
    page.get_by_label(re.compile(r"^Identifiant sur le bac à sable")).fill("@saintaubin.mastodon")
    page.get_by_label(re.compile(r"^Nom affiché")).fill("Saint-Aubin sur le bac à sable")
    page.get_by_role("button", name="Connecter", exact=True).click()
    row = page.get_by_role("row", name=re.compile("Saint-Aubin sur le bac à sable"))
    expect(row.get_by_text("Connecté", exact=True)).to_be_visible()
