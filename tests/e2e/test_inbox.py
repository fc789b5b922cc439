"""A community manager works through the inbox in the browser: the sandbox's residents
have commented, collection brought them in; she reads why a message was labelled,
answers with a saved reply, and the answer appears on the network."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import check_a11y, login

pytestmark = pytest.mark.e2e

MODERATION = "moderation@demo.parvis.fr"


def _collect_demo_comments(key: str = "e2e-inbox") -> None:
    from django.utils import timezone

    from collectivites.models import Collectivite, SocialAccount
    from monitoring import services
    from networks.adapters.sandbox import SandboxAdapter
    from networks.base import Account, PostContent
    from networks.models import SandboxItem

    commune = Collectivite.objects.get(slug="saint-aubin")
    account = (
        SocialAccount.objects.for_collectivite(commune).filter(handle__contains="facebook").get()
    )
    ref = Account(
        network="sandbox",
        external_id=account.external_id,
        handle=account.handle,
        credentials=account.credentials,
    )
    SandboxAdapter().publish(
        ref, PostContent(text="Le marché de Noël ouvre samedi.", idempotency_key=key)
    )
    # the simulated residents answer "over the following minutes": bring that time now
    a_minute_ago = timezone.now() - dt.timedelta(minutes=1)
    SandboxItem.objects.filter(account_external_id=account.external_id).update(
        created_at=a_minute_ago, changed_at=a_minute_ago
    )
    SandboxItem.objects.filter(
        account_external_id=account.external_id, parent__isnull=True, post__isnull=False
    ).update(text="Bonjour, le marché est ouvert le dimanche ?")
    services.collect_account(account=account)


def test_answer_a_citizen_with_a_saved_reply(page: Page, demo: None) -> None:
    from django.contrib.auth import get_user_model

    from collectivites.models import Collectivite
    from monitoring import services

    commune = Collectivite.objects.get(slug="saint-aubin")
    dircom = get_user_model().objects.get(username="dircom@demo.parvis.fr")
    services.saved_reply_save(
        actor=dircom,
        collectivite=commune,
        data={
            "title": "Horaires du marché",
            "text": "Bonjour {prenom}, le marché ouvre aussi le dimanche de 10 h à 19 h.",
            "theme": "Animations",
        },
    )
    _collect_demo_comments()

    login(page, MODERATION)
    page.goto("/c/saint-aubin/boite/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Boîte de modération")
    check_a11y(page)
    page.locator("ul.inbox a").first.click()
    expect(page.get_by_role("heading", name="Pourquoi ces étiquettes")).to_be_visible()
    check_a11y(page)
    page.get_by_label("Réponse type").select_option(label="Horaires du marché (Animations)")
    page.get_by_role("button", name="Utiliser").click()
    answer = page.get_by_label("Votre réponse")
    expect(answer).to_have_value(re.compile(r"^Bonjour \S+, le marché ouvre aussi le dimanche"))
    page.get_by_role("button", name="Répondre", exact=True).click()
    expect(page.get_by_text("Réponse envoyée au réseau.")).to_be_visible()
    expect(page.get_by_text("Envoyée", exact=True)).to_be_visible()
    check_a11y(page)

    from networks.models import SandboxItem

    assert SandboxItem.objects.filter(
        by_page=True, text__contains="le marché ouvre aussi le dimanche"
    ).exists()


def test_a_reply_the_charter_sends_through_a_validateur(page: Page, demo: None) -> None:
    from django.contrib.auth import get_user_model

    from collectivites.models import Collectivite, ModerationCharter
    from networks.models import SandboxItem

    commune = Collectivite.objects.get(slug="saint-aubin")
    charter = ModerationCharter.objects.for_collectivite(commune).get()
    charter.reply_approval_members.add(
        get_user_model().objects.get(username="moderation@demo.parvis.fr")
    )
    _collect_demo_comments()

    login(page, MODERATION)
    page.goto("/c/saint-aubin/boite/")
    page.locator("ul.inbox a").first.click()
    page.get_by_label("Votre réponse").fill("Bonjour, oui le dimanche aussi.")
    page.get_by_role("button", name="Répondre", exact=True).click()
    expect(page.get_by_text("Réponse transmise pour validation avant envoi.")).to_be_visible()
    expect(page.get_by_text("À valider", exact=True)).to_be_visible()
    assert not SandboxItem.objects.filter(by_page=True, text__contains="dimanche aussi").exists()

    page.get_by_role("button", name="Se déconnecter").click()
    login(page, "dircom@demo.parvis.fr")
    page.goto("/c/saint-aubin/boite/")
    page.get_by_role("link", name="Réponses à valider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Réponses à valider")
    check_a11y(page)
    page.get_by_label("Texte envoyé (vous pouvez le corriger)").fill(
        "Bonjour, oui : le marché ouvre aussi le dimanche de 10 h à 19 h."
    )
    page.get_by_role("button", name="Valider et envoyer").click()
    expect(page.get_by_text("Réponse validée : elle part sur le réseau.")).to_be_visible()
    expect(page.get_by_text("Aucune réponse n'attend de validation.")).to_be_visible()
    assert SandboxItem.objects.filter(
        by_page=True, text="Bonjour, oui : le marché ouvre aussi le dimanche de 10 h à 19 h."
    ).exists()


def test_work_through_the_list_from_the_keyboard_and_in_bulk(
    page: Page, demo: None, settings: object
) -> None:
    settings.PARVIS_INBOX_POLL_SECONDS = 1  # type: ignore[attr-defined]
    _collect_demo_comments()

    login(page, MODERATION)
    page.goto("/c/saint-aubin/boite/")
    first = page.locator("ul.inbox > li").first
    first_id = first.get_attribute("data-item")
    page.keyboard.press("j")
    expect(first.locator("a.item-link")).to_be_focused()
    page.keyboard.press("a")  # take it
    expect(page.get_by_text("1 message traité.")).to_be_visible()
    expect(
        page.locator(f'ul.inbox > li[data-item="{first_id}"]').get_by_text(re.compile(r"· Assigné"))
    ).to_be_visible()

    # tick two messages and close them together
    boxes = page.locator("ul.inbox input[name=items]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_label("Pour les messages cochés").select_option(label="Clore")
    page.get_by_role("button", name="Appliquer").click()
    expect(page.get_by_text("2 messages traités.")).to_be_visible()
    check_a11y(page)

    # a citizen writes while the page is open: it says so without a reload
    _collect_demo_comments("e2e-inbox-later")
    expect(page.get_by_text(re.compile(r"nouveaux? messages? (est|sont) arrivés?"))).to_be_visible(
        timeout=10_000
    )
    check_a11y(page)
