"""Urgent alerts skip the queue (recorded, other validators told); a crisis pause holds
everything scheduled until a validateur resumes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from collectivites.models import Notification
from collectivites.permissions import Role
from networks.models import SandboxPost
from publishing import alerts, delivery, services
from publishing.models import Publication, Review, Variant
from tests import factories

pytestmark = pytest.mark.django_db
S = Variant.State


def publish_due() -> list[str]:
    return [
        delivery.publish(
            collectivite_id=c.collectivite_id, variant_id=c.variant_id, lease_token=c.lease_token
        )
        for c in delivery.dispatch_due()
    ]


def test_templates_fill_in() -> None:
    text = alerts.fill(
        alerts.TEMPLATES["eau"], lieu="rue Pasteur", quand="mardi de 8 h à 12 h", consignes=""
    )
    assert text == "💧 Coupure d'eau rue Pasteur mardi de 8 h à 12 h. Merci de votre compréhension."


def test_an_alert_goes_out_now_without_validation(world: Any, account: Any) -> None:
    other_validator = factories.UserFactory(email="cabinet@a.example")
    factories.MembershipFactory(collectivite=world.a, user=other_validator, role=Role.VALIDATEUR)
    validator = world.members[Role.VALIDATEUR]
    publication = alerts.alert_publish(
        actor=validator,
        collectivite=world.a,
        kind="meteo",
        title="Orages",
        text="⚠️ Vigilance orange orages ce soir.",
        account_ids=[account.pk],
    )
    assert publish_due() == ["published"]
    variant = Variant.objects.for_collectivite(world.a).get(publication=publication)
    assert variant.state == S.PUBLISHED and publication.urgent
    assert SandboxPost.objects.get().text == "⚠️ Vigilance orange orages ce soir."
    told = Notification.objects.for_collectivite(world.a).filter(message__contains="Alerte urgente")
    assert [n.user for n in told] == [other_validator]
    assert Review.objects.for_collectivite(world.a).filter(publication=publication).exists()


@pytest.mark.parametrize("role", [Role.REDACTEUR, Role.MODERATEUR, Role.ADMIN, Role.LECTEUR])
def test_only_validators_publish_alerts(world: Any, account: Any, role: str) -> None:
    with pytest.raises(PermissionDenied):
        alerts.alert_publish(
            actor=world.members[role],
            collectivite=world.a,
            kind="eau",
            title="x",
            text="y",
            account_ids=[account.pk],
        )


def test_close_an_alert_with_a_last_post(world: Any, account: Any) -> None:
    validator = world.members[Role.VALIDATEUR]
    publication = alerts.alert_publish(
        actor=validator,
        collectivite=world.a,
        kind="travaux",
        title="Route",
        text="Route coupée.",
        account_ids=[account.pk],
    )
    follow_up = alerts.alert_close(actor=validator, publication=publication, text="Route rouverte.")
    assert follow_up.alert_of == publication
    publication.refresh_from_db()
    assert publication.alert_closed_at
    with pytest.raises(ValidationError):
        alerts.alert_close(actor=validator, publication=publication, text="encore")


def test_crisis_pause_holds_everything_scheduled_but_not_alerts(
    world: Any, account: Any, freezer: Any
) -> None:
    validator = world.members[Role.VALIDATEUR]
    cheerful = factories.VariantFactory(
        publication__collectivite=world.a,
        account=account,
        state=S.APPROVED,
        scheduled_at=timezone.now() + dt.timedelta(minutes=5),
        text="Super samedi au marché !",
    )
    alerts.crisis_pause(actor=validator, collectivite=world.a, reason="Deuil communal")
    later = services.publication_create(
        actor=world.members[Role.REDACTEUR],
        collectivite=world.a,
        title="Écrite pendant la pause",
        text="x",
        account_ids=[account.pk],
    )
    assert Variant.objects.for_collectivite(world.a).get(publication=later).held
    freezer.move_to(timezone.now() + dt.timedelta(minutes=10))
    assert publish_due() == []
    alerts.alert_publish(
        actor=validator,
        collectivite=world.a,
        kind="fr-alert",
        title="FR-Alert",
        text="Confinez-vous.",
        account_ids=[account.pk],
    )
    assert publish_due() == ["published"]
    page = world.client(validator).get(f"/c/{world.a.slug}/publications/pause/").content.decode()
    assert "Deuil communal" in page and "heure passée" in page
    with pytest.raises(ValidationError):
        alerts.crisis_pause(actor=validator, collectivite=world.a, reason="encore")
    assert alerts.crisis_resume(actor=validator, collectivite=world.a) == 2
    assert publish_due() == ["published"]
    assert Variant.objects.for_collectivite(world.a).get(pk=cheerful.pk).state == S.PUBLISHED


def test_pause_for_chosen_accounts_only(world: Any, account: Any) -> None:
    other = factories.SocialAccountFactory(collectivite=world.a)
    kept = factories.VariantFactory(
        publication__collectivite=world.a, account=account, state=S.APPROVED
    )
    free = factories.VariantFactory(
        publication__collectivite=world.a, account=other, state=S.APPROVED
    )
    alerts.crisis_pause(
        actor=world.members[Role.VALIDATEUR],
        collectivite=world.a,
        reason="Incident",
        account_ids=[account.pk],
    )
    assert Variant.objects.for_collectivite(world.a).get(pk=kept.pk).held
    assert not Variant.objects.for_collectivite(world.a).get(pk=free.pk).held


def test_alert_page(world: Any, account: Any) -> None:
    client = world.client(world.members[Role.VALIDATEUR])
    url = f"/c/{world.a.slug}/publications/alerte/"
    preview = client.post(
        url,
        {
            "kind": "eau",
            "accounts": [account.pk],
            "lieu": "rue Pasteur",
            "quand": "demain",
            "preview": "1",
        },
    )
    assert "Coupure d&#x27;eau rue Pasteur demain" in preview.content.decode()
    assert not Publication.objects.for_collectivite(world.a).exists()
    response = client.post(
        url, {"kind": "eau", "accounts": [account.pk], "lieu": "rue Pasteur", "quand": "demain"}
    )
    publication = Publication.objects.for_collectivite(world.a).get()
    assert response["Location"].endswith(f"/publications/{publication.pk}/")
    assert world.client(world.members[Role.REDACTEUR]).get(url).status_code == 403


def test_an_alert_gets_updates_then_closes(world: Any, account: Any) -> None:
    validator = world.members[Role.VALIDATEUR]
    alert = alerts.alert_publish(
        actor=validator,
        collectivite=world.a,
        kind="meteo",
        title="Crue",
        text="Crue de la Loue.",
        account_ids=[account.pk],
    )
    client = world.client(validator)
    url = f"/c/{world.a.slug}/publications/{alert.pk}/fin-d-alerte/"
    response = client.post(url, {"action": "update", "text": "Le pont reste fermé."}, follow=True)
    assert "Mise à jour de l&#x27;alerte publiée." in response.content.decode()
    update = Publication.objects.for_collectivite(world.a).get(
        alert_of=alert, title__startswith="Mise à jour"
    )
    assert (
        Variant.objects.for_collectivite(world.a).get(publication=update).text
        == "Le pont reste fermé."
    )
    client.post(url, {"action": "close", "text": ""})
    alert.refresh_from_db()
    assert alert.alert_closed_at
    with pytest.raises(ValidationError):
        alerts.alert_update(actor=validator, publication=alert, text="trop tard")
