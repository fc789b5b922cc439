"""The composer and the publication page, as a rédacteur and a validateur use them."""

from __future__ import annotations

from typing import Any

import pytest

from collectivites.permissions import Role
from publishing.models import Publication, Variant
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(world: Any) -> Any:
    account = factories.SocialAccountFactory(
        collectivite=world.a, network="sandbox", display_name="Ville A (démo)"
    )
    factories.EditorialLineFactory(account=account, words_to_avoid="gratuit", cadence_per_week=3)
    return account


def test_compose_then_edit_a_variant_in_local_time(world: Any, account: Any) -> None:
    client = world.client(world.members[Role.REDACTEUR])
    page = client.get(f"/c/{world.a.slug}/publications/nouvelle/?jour=2027-03-29")
    assert 'value="2027-03-29"' in page.content.decode()
    response = client.post(
        f"/c/{world.a.slug}/publications/nouvelle/",
        {
            "title": "Piscine",
            "text": "La piscine rouvre lundi, entrée gratuit pour les enfants.",
            "accounts": [account.pk],
            "day": "2027-03-29",
            "time": "09:00",
        },
    )
    publication = Publication.objects.for_collectivite(world.a).get()
    assert response["Location"] == f"/c/{world.a.slug}/publications/{publication.pk}/"
    variant = Variant.objects.for_collectivite(world.a).get()
    assert variant.scheduled_at.isoformat() == "2027-03-29T07:00:00+00:00"  # 09:00 summer time
    detail = client.get(response["Location"]).content.decode()
    assert "Attention :" in detail and "gratuit" in detail  # the editorial line's word
    assert "caractères, comptés comme le réseau les compte" in detail


def test_compose_without_accounts_keeps_the_text(world: Any, account: Any) -> None:
    client = world.client(world.members[Role.REDACTEUR])
    response = client.post(
        f"/c/{world.a.slug}/publications/nouvelle/",
        {"title": "Piscine", "text": "Texte à garder", "accounts": []},
    )
    assert response.status_code == 200
    assert "Texte à garder" in response.content.decode()
    assert not Publication.objects.for_collectivite(world.a).exists()


def test_live_check_of_the_text_being_typed(world: Any, account: Any) -> None:
    client = world.client(world.members[Role.REDACTEUR])
    fragment = client.post(
        f"/c/{world.a.slug}/publications/verifier/",
        {"account": account.pk, "text": "TOUT EST GRATUIT CE WEEK-END À LA MÉDIATHÈQUE"},
    ).content.decode()
    assert "Attention :" in fragment
    foreign = factories.SocialAccountFactory(collectivite=world.b)
    assert (
        client.post(
            f"/c/{world.a.slug}/publications/verifier/", {"account": foreign.pk, "text": "x"}
        ).status_code
        == 404
    )


def test_submit_approve_from_the_page(world: Any, account: Any) -> None:
    variant = factories.VariantFactory(
        publication__collectivite=world.a,
        publication__author=world.members[Role.REDACTEUR],
        account=account,
        text="Le marché de Noël ouvre samedi place de la Mairie.",
    )
    url = f"/c/{world.a.slug}/publications/{variant.publication_id}/"
    writer = world.client(world.members[Role.REDACTEUR])
    writer.post(url + "soumettre/")
    validator = world.client(world.members[Role.VALIDATEUR])
    page = validator.get(url).content.decode()
    assert "Valider" in page and "Renvoyer" in page
    response = validator.post(url + "renvoyer/", {"comment": ""}, follow=True)
    assert "Expliquez" in response.content.decode()
    validator.post(url + "valider/", {"comment": "Parfait"})
    variant.refresh_from_db()
    assert variant.state == Variant.State.APPROVED
    assert world.client(world.members[Role.LECTEUR]).get(url).status_code == 403
