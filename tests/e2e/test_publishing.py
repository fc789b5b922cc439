"""A post's whole life in a real browser: a rédacteur·rice writes it once for three accounts,
schedules it, adds an image without a text alternative, is stopped by the blocking finding,
fixes it and submits; the validateur·rice approves; the post is on the calendar on its day;
the delivery service sends it and every variant reads "Publiée". And the composer's live
checks: typing in a variant updates its findings through htmx, without reloading the page.

The demo has no Mastodon account: the admin first connects a sandbox account named like one
("Ville de Saint-Aubin (Mastodon)"), so the post goes to Facebook, Instagram and Mastodon as
the issue describes (all three on the sandbox network).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ADMIN, check_a11y, login

pytestmark = pytest.mark.e2e

REDACTEUR = "redaction@demo.parvis.fr"
VALIDATEUR = "dircom@demo.parvis.fr"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
FACEBOOK = "Ville de Saint-Aubin (Facebook)"
INSTAGRAM = "Ville de Saint-Aubin (Instagram)"
MASTODON = "Ville de Saint-Aubin (Mastodon)"
ACCOUNTS = (FACEBOOK, INSTAGRAM, MASTODON)
TITLE = "Marché de printemps"
TEXT = (
    "Le marché de printemps revient samedi sur la place de la mairie, de 8 h à 13 h : "
    "producteurs locaux, artisans et animations pour les enfants. #SaintAubin"
)
ALT_MISSING = re.compile(r"n'a pas de texte alternatif")


def _path(path: str) -> re.Pattern[str]:
    """Match a page URL by its path (and nothing after it but a query string)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def _field(page: Page | Locator, label: str) -> Locator:
    """A form field by its label; Django's French labels end with " :"."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}\s*:?$"))


def _variant(page: Page, account: str) -> Locator:
    """A variant's card: a region named by its heading, "<account> — <network> <state>"."""
    return page.get_by_role("region", name=re.compile(rf"^{re.escape(account)} —"))


def _state(card: Locator) -> Locator:
    return card.get_by_role("heading", level=2).locator(".badge")


def _status(page: Page) -> Locator:
    return page.get_by_role("main").get_by_role("status")


def _logout(page: Page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(_path("/connexion/"))


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (640, 480), (31, 79, 168)).save(path, "PNG")
    return path


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Uploads land in the test's own directory, not in var/media."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path


def _connect_mastodon_like_account(page: Page) -> None:
    login(page, ADMIN)
    page.goto("/c/saint-aubin/comptes/connecter/sandbox/")
    _field(page, "Identifiant sur le bac à sable").fill("@saintaubin.mastodon")
    _field(page, "Nom affiché").fill(MASTODON)
    page.get_by_role("button", name="Connecter", exact=True).click()
    expect(page.get_by_text(f"Compte connecté : {MASTODON}.")).to_be_visible()
    _logout(page)


def test_write_fix_alt_text_validate_schedule_and_publish(
    page: Page, demo: None, media_root: Path, settings: Any, live_server: Any, monkeypatch: Any
) -> None:
    from django.utils import formats, translation

    from collectivites.models import Collectivite
    from networks.models import SandboxPost
    from publishing import delivery, tasks
    from publishing.models import Publication, Variant

    # Permalinks of the sandbox network point at this live server, so the test can follow one.
    settings.PARVIS_BASE_URL = live_server.url
    _connect_mastodon_like_account(page)

    # --- the rédacteur·rice writes the post once, for three accounts, a few minutes ahead.
    login(page, REDACTEUR)
    page.goto("/c/saint-aubin/publications/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Publications")
    page.get_by_role("link", name="Nouvelle publication").click()
    expect(page).to_have_url(_path("/c/saint-aubin/publications/nouvelle/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouvelle publication")
    check_a11y(page)

    at = (dt.datetime.now(PARIS) + dt.timedelta(minutes=5)).replace(second=0, microsecond=0)
    _field(page, "Titre (interne)").fill(TITLE)
    _field(page, "Campagne ou thème").fill("Vie locale")
    _field(page, "Texte").fill(TEXT)
    accounts = page.get_by_role("group", name="Comptes")
    for account in ACCOUNTS:
        accounts.get_by_role("checkbox", name=account).check()
    _field(page, "Jour de publication").fill(at.date().isoformat())
    _field(page, "Heure").fill(at.strftime("%H:%M"))
    page.get_by_role("button", name="Créer les déclinaisons").click()

    expect(page).to_have_url(re.compile(r"/c/saint-aubin/publications/\d+/$"))
    detail_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(_status(page)).to_contain_text("Publication créée")
    for account in ACCOUNTS:
        card = _variant(page, account)
        expect(_state(card)).to_have_text("Brouillon")
        expect(card.get_by_role("textbox", name=f"Texte pour {account}")).to_have_value(TEXT)
        expect(_field(card, "Heure")).to_have_value(at.strftime("%H:%M"))
    commune = Collectivite.objects.get(slug="saint-aubin")
    publication = Publication.objects.for_collectivite(commune).get(title=TITLE)
    variants = list(Variant.objects.for_collectivite(commune).filter(publication=publication))
    assert {v.account.display_name for v in variants} == set(ACCOUNTS)
    assert {v.scheduled_at for v in variants} == {at.astimezone(dt.UTC)}
    check_a11y(page)

    # --- an image without a text alternative: blocking finding on every variant.
    media = page.get_by_role("region", name="Images et vidéos")
    expect(media).to_contain_text("Aucun média.")
    _field(media, "Image ou vidéo").set_input_files(_png(media_root / "marche.png"))
    page.get_by_role("button", name="Ajouter le média").click()
    expect(_status(page)).to_have_text("Média ajouté aux déclinaisons.")
    media = page.get_by_role("region", name="Images et vidéos")
    expect(media.locator("img")).to_have_count(1)  # alt="" for now: not yet an "img" role
    for account in ACCOUNTS:
        blocking = _variant(page, account).get_by_role("listitem").filter(has_text="Bloquant :")
        expect(blocking).to_have_count(1)
        expect(blocking).to_contain_text(ALT_MISSING)
        expect(blocking).to_contain_text("marche.png")
    check_a11y(page)  # with the media section and the findings shown

    # Submitting is refused, in French, naming what blocks.
    page.get_by_role("button", name="Soumettre à validation").click()
    expect(page).to_have_url(detail_url)
    refusal = _status(page)
    expect(refusal).to_contain_text("Corrigez d'abord ce qui bloque la publication.")
    expect(refusal).to_contain_text(ALT_MISSING)
    for account in ACCOUNTS:
        expect(refusal).to_contain_text(account)
        expect(_state(_variant(page, account))).to_have_text("Brouillon")
    check_a11y(page)  # with the error message shown

    # The text alternative is written; the blocking findings are gone; submitted.
    media = page.get_by_role("region", name="Images et vidéos")
    media.get_by_role("textbox", name="Texte alternatif", exact=True).fill(
        "Les étals du marché sur la place de la mairie, sous un ciel bleu."
    )
    media.get_by_role("button", name="Enregistrer le texte alternatif").click()
    expect(_status(page)).to_have_text("Texte alternatif enregistré.")
    expect(page.get_by_role("listitem").filter(has_text="Bloquant :")).to_have_count(0)
    expect(page.get_by_role("main").get_by_role("img")).to_have_attribute(
        "alt", re.compile("^Les étals du marché")
    )
    page.get_by_role("button", name="Soumettre à validation").click()
    expect(_status(page)).to_have_text("Publication soumise.")
    for account in ACCOUNTS:
        expect(_state(_variant(page, account))).to_have_text("En validation")
    expect(page.get_by_role("button", name="Soumettre à validation")).to_have_count(0)
    expect(page.get_by_role("button", name="Valider")).to_have_count(0)  # not a validateur
    _logout(page)

    # --- the validateur·rice finds it in the notifications and approves it.
    login(page, VALIDATEUR)
    page.goto("/c/saint-aubin/notifications/")
    page.get_by_role("link", name=re.compile(f"« {TITLE} » attend votre validation")).click()
    expect(page).to_have_url(detail_url)
    expect(page.get_by_role("button", name="Renvoyer à l'auteur·rice")).to_be_visible()
    check_a11y(page)  # the validateur's view
    page.get_by_role("button", name="Valider", exact=True).click()
    expect(_status(page)).to_have_text("Validation enregistrée.")
    for account in ACCOUNTS:
        expect(_state(_variant(page, account))).to_have_text("Validée")

    # --- on the calendar, on its day, once per account.
    page.goto(f"/c/saint-aubin/publications/calendrier/?mois={at:%Y-%m}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Calendrier éditorial")
    calendar = page.get_by_role("region", name="Calendrier")
    day = calendar.get_by_role("cell").filter(has_text=TITLE)
    expect(day).to_have_count(1)
    with translation.override("fr"):
        expect(day.locator(".daynum")).to_have_text(formats.date_format(at.date(), "j M"))
    entries = day.get_by_role("link", name=re.compile(rf"^{at:%H:%M} .* — {TITLE}$"))
    expect(entries).to_have_count(3)
    check_a11y(page)

    # --- the beat's dispatcher, then the worker. dispatch_due queues one task per batch of an
    # account's claims once its transaction commits; under the tests' eager Celery the task
    # would run right there, inside dispatch_due. The queue is captured instead, and each
    # queued batch is published here with delivery.publish_many, as a worker would: once,
    # and only once.
    queued: list[tuple[int, list[list[Any]]]] = []
    monkeypatch.setattr(tasks.publish_variants, "delay", lambda *args: queued.append(args))

    def work(claims: list[Any]) -> list[str]:
        assert sorted((cid, pk, token) for cid, batch in queued for pk, token in batch) == sorted(
            (c.collectivite_id, c.variant_id, c.lease_token) for c in claims
        )
        batches = list(queued)
        queued.clear()
        return [
            outcome
            for cid, batch in batches
            for outcome in delivery.publish_many(
                collectivite_id=cid, claims=[(pk, token) for pk, token in batch]
            )
        ]

    ours = sorted(v.pk for v in variants)
    # A tick now: the demo's due post goes out, not ours (a few minutes ahead).
    claims = delivery.dispatch_due()
    assert not {c.variant_id for c in claims} & set(ours)
    assert set(work(claims)) <= {"published"}
    # Rather than wait, the next tick is told the time has come (the dispatcher's ``now``).
    claims = delivery.dispatch_due(now=at.astimezone(dt.UTC) + dt.timedelta(seconds=1))
    assert sorted(c.variant_id for c in claims) == ours
    assert work(claims) == ["published"] * 3
    # The same tasks delivered again (acks_late) do nothing; the next tick finds nothing.
    for claim in claims:
        queued.append((claim.collectivite_id, [[claim.variant_id, claim.lease_token]]))
    assert work(claims) == ["skipped"] * 3
    assert delivery.dispatch_due(now=at.astimezone(dt.UTC) + dt.timedelta(minutes=1)) == []
    keys = [str(v.idempotency_key) for v in variants]
    assert SandboxPost.objects.filter(idempotency_key__in=keys).count() == 3

    # --- the publication page says so, with a link to each post on its network.
    page.goto(detail_url)
    for account in ACCOUNTS:
        card = _variant(page, account)
        expect(_state(card)).to_have_text("Publiée")
        expect(card.get_by_role("link", name="Voir la publication sur le réseau")).to_have_count(1)
    check_a11y(page)
    _variant(page, MASTODON).get_by_role("link", name="Voir la publication sur le réseau").click()
    expect(page).to_have_url(re.compile(r"/bac-a-sable/[^/]+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("@saintaubin.mastodon")
    expect(page.get_by_role("article")).to_contain_text("Le marché de printemps revient samedi")
    expect(page.get_by_role("article")).to_contain_text("1 média joint")


def _draft_for_facebook(title: str, text: str, *, image: Path | None = None) -> int:
    """A draft on the Facebook account, written through the services (not the subject here);
    with ``image``, attached without a text alternative. Returns the publication's id."""
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from collectivites.models import Collectivite, SocialAccount
    from publishing import services

    commune = Collectivite.objects.get(slug="saint-aubin")
    author = get_user_model().objects.get(email=REDACTEUR)
    account = SocialAccount.objects.for_collectivite(commune).get(display_name=FACEBOOK)
    publication = services.publication_create(
        actor=author, collectivite=commune, title=title, text=text, account_ids=[account.pk]
    )
    if image is not None:
        upload = SimpleUploadedFile(image.name, image.read_bytes(), content_type="image/png")
        services.media_add(actor=author, publication=publication, upload=upload)
    return publication.pk


def test_typing_in_a_variant_updates_its_findings_live(
    page: Page, demo: None, media_root: Path
) -> None:
    text = "La rue des Écoles sera fermée lundi matin pour des travaux de voirie."
    shouted = " ATTENTION ROUTE BARRÉE TOUTE LA MATINÉE"
    pk = _draft_for_facebook("Travaux rue des Écoles", text)

    login(page, REDACTEUR)
    page.goto(f"/c/saint-aubin/publications/{pk}/")
    card = _variant(page, FACEBOOK)
    textbox = card.get_by_role("textbox", name=f"Texte pour {FACEBOOK}")
    counter = card.get_by_text(re.compile(r"^\d+ / 5000 caractères"))
    expect(counter).to_have_text(re.compile(rf"^{len(text)} / 5000 "))
    caps = card.get_by_role("listitem").filter(has_text="Attention :")
    caps = caps.filter(has_text="Texte en majuscules")
    expect(caps).to_have_count(0)
    # The findings are a live region that outlives the swaps (else nothing is announced),
    # and the textarea is described by it.
    live = card.locator("[aria-live=polite]")
    expect(live).to_have_count(1)
    expect(textbox).to_have_attribute("aria-describedby", str(live.get_attribute("id")))
    region = live.element_handle()

    page.evaluate("window.notReloaded = true")
    with page.expect_response(re.compile(r"/publications/verifier/$")):
        textbox.press("Control+End")
        textbox.press_sequentially(shouted, delay=5)
    expect(caps).to_have_count(1)
    expect(caps).to_contain_text("« ATTENTION ROUTE BARRÉE TOUTE LA MATINÉE »")
    expect(counter).to_have_text(re.compile(rf"^{len(text + shouted)} / 5000 "))
    assert page.evaluate("window.notReloaded") is True  # updated in place, not reloaded
    assert region.evaluate("el => el.isConnected")  # the same live region, updated
    check_a11y(page)

    # Back to sentence case: the warning goes away, still without a reload.
    textbox.fill("La rue des Écoles sera fermée lundi matin. Attention, route barrée.")
    expect(caps).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True


def test_live_findings_keep_the_findings_of_the_variants_media(
    page: Page, demo: None, media_root: Path
) -> None:
    text = "Le parvis de la mairie est rénové."
    pk = _draft_for_facebook("Parvis rénové", text, image=_png(media_root / "parvis.png"))

    login(page, REDACTEUR)
    page.goto(f"/c/saint-aubin/publications/{pk}/")
    card = _variant(page, FACEBOOK)
    blocking = card.get_by_role("listitem").filter(has_text="Bloquant :")
    expect(blocking).to_contain_text(ALT_MISSING)
    textbox = card.get_by_role("textbox", name=f"Texte pour {FACEBOOK}")
    with page.expect_response(re.compile(r"/publications/verifier/$")):
        textbox.press("Control+End")
        textbox.press_sequentially(" Venez")
    expect(card.get_by_text(re.compile(r"^\d+ / 5000 caractères"))).to_have_text(
        re.compile(rf"^{len(text) + 6} / 5000 ")
    )
    assert blocking.count() == 1, "the image still has no text alternative"
