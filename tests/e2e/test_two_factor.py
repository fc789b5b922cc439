"""A community manager of a collectivité that requires two-factor authentication logs in
for the first time: Parvis sends her to enrolment, she adds the account to her
authenticator app by typing the secret shown as text (the test computes the code from it,
as the app would), keeps her recovery codes, and reaches the moderation inbox."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import check_a11y, login

pytestmark = pytest.mark.e2e

MODERATION = "moderation@demo.parvis.fr"


def _code_from_secret(secret: str) -> str:
    from django_otp.oath import totp

    return f"{totp(b32decode(secret)):06d}"


def test_a_moderator_enrols_then_reaches_the_inbox(page: Page, demo: None) -> None:
    from access.models import SecurityPolicy
    from collectivites.models import Collectivite

    commune = Collectivite.objects.get(slug="saint-aubin")
    SecurityPolicy.objects.create(
        collectivite=commune, two_factor=SecurityPolicy.TwoFactor.SENSITIVE
    )

    login(page, MODERATION)
    expect(page).to_have_url(re.compile(r"/compte/securite/double-authentification/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Activer la double authentification")
    expect(page.get_by_text("exige la double authentification")).to_be_visible()
    expect(page.get_by_role("img", name="QR code à scanner avec l'application")).to_be_visible()
    check_a11y(page)

    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code à 6 chiffres affiché par l'application").fill(_code_from_secret(secret))
    page.get_by_role("button", name="Activer").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Codes de secours")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    check_a11y(page)
    page.get_by_role("link", name="J'ai mis mes codes à l'abri, continuer").click()

    page.goto("/c/saint-aubin/boite/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Boîte de modération")
    check_a11y(page)


def test_demo_logins_need_no_second_factor(page: Page, demo: None) -> None:
    login(page, MODERATION)
    page.goto("/c/saint-aubin/boite/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Boîte de modération")
