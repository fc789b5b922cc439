"""Routing to the collectivité's services: a réclamation goes to the service that handles
it (e-mail with the message, the place, a link back and a signed link to answer), the item
waits, and the service's answer becomes the draft of the reply."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from collectivites.models import Notification
from collectivites.permissions import Role
from monitoring import services
from monitoring.models import Citizen, InboxItem, SavedReply, Service, ServiceRequest
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(world: Any) -> InboxItem:
    account = factories.SocialAccountFactory(collectivite=world.a)
    citizen = Citizen.objects.create(
        collectivite=world.a, network="sandbox", external_id="c-1", display_name="Léa Martin"
    )
    return InboxItem.objects.create(
        collectivite=world.a,
        account=account,
        network="sandbox",
        kind="comment",
        external_id="it-1",
        citizen=citizen,
        text="Un nid-de-poule énorme rue des Lilas, c'est dangereux pour les vélos.",
        created_at=timezone.now(),
        labels=[{"code": "reclamation", "score": 0.9, "reasons": ["« nid-de-poule »"]}],
        place="rue des Lilas",
    )


@pytest.fixture
def voirie(world: Any) -> Service:
    saved = SavedReply.objects.create(
        collectivite=world.a,
        title="Voirie : signalement reçu",
        text="Bonjour {prenom}, merci pour votre signalement transmis au service voirie.",
    )
    services.service_save(
        actor=world.members[Role.ADMIN],
        collectivite=world.a,
        data={"name": "Propreté", "email": "proprete@ville-a.example", "categories": ["spam"]},
    )
    return services.service_save(
        actor=world.members[Role.ADMIN],
        collectivite=world.a,
        data={
            "name": "Voirie",
            "email": "voirie@ville-a.example",
            "categories": ["Réclamation", "voirie"],
            "default_reply": saved,
        },
    )


def test_the_category_names_the_default_service(
    world: Any, item: InboxItem, voirie: Service
) -> None:
    assert services.default_service_for(item) == voirie


def test_route_mails_the_service_and_its_answer_becomes_the_draft(
    world: Any, item: InboxItem, voirie: Service, django_capture_on_commit_callbacks: Any
) -> None:
    moderator = world.members[Role.MODERATEUR]
    with django_capture_on_commit_callbacks(execute=True):
        request = services.item_route(
            actor=moderator, item=item, service=voirie, note="Photo dans le fil."
        )
    item.refresh_from_db()
    assert item.status == InboxItem.Status.EN_ATTENTE
    (sent,) = mail.outbox
    assert sent.to == ["voirie@ville-a.example"]
    assert "nid-de-poule" in sent.body and "rue des Lilas" in sent.body
    assert "Photo dans le fil." in sent.body
    assert f"/c/{world.a.slug}/boite/{item.pk}/" in sent.body
    link = re.search(r"(/service/reponse/[^/\s]+/)", sent.body).group(1)

    # the service answers through the link, without an account
    from django.test import Client

    anonymous = Client()
    page = anonymous.get(link)
    assert page.status_code == 200 and "nid-de-poule" in page.content.decode()
    empty = anonymous.post(link, {"text": "  "})
    assert "vide" in empty.content.decode()
    done = anonymous.post(link, {"text": "Rebouchage prévu jeudi matin."})
    assert "Merci" in done.content.decode()
    request.refresh_from_db()
    assert request.answer == "Rebouchage prévu jeudi matin." and request.answered_via == "lien"
    assert "déjà répondu" in anonymous.post(link, {"text": "autre"}).content.decode() or (
        ServiceRequest.objects.for_collectivite(world.a).get().answer
        == "Rebouchage prévu jeudi matin."
    )
    assert Notification.objects.for_collectivite(world.a).filter(user=moderator).exists()

    draft = services.service_draft(item)
    assert draft.startswith("Bonjour Léa, merci pour votre signalement")
    assert draft.endswith("Rebouchage prévu jeudi matin.")
    page = world.client(moderator).get(f"/c/{world.a.slug}/boite/{item.pk}/").content.decode()
    assert "Rebouchage prévu jeudi matin." in page


def test_a_forged_or_foreign_link_is_refused(world: Any, item: InboxItem, voirie: Service) -> None:
    from django.test import Client

    request = services.item_route(actor=world.members[Role.MODERATEUR], item=item, service=voirie)
    token = services.service_answer_token(request)
    assert Client().get(f"/service/reponse/{token}x/").status_code == 404
    assert Client().post(f"/service/reponse/{token[:-3]}abc/", {"text": "x"}).status_code == 404
    request.refresh_from_db()
    assert request.answered_at is None


def test_a_pasted_answer_and_permissions(world: Any, item: InboxItem, voirie: Service) -> None:
    moderator = world.client(world.members[Role.MODERATEUR])
    base = f"/c/{world.a.slug}/boite/{item.pk}/"
    assert moderator.post(base + "service/", {"service": voirie.pk}).status_code == 302
    request = ServiceRequest.objects.for_collectivite(world.a).get()
    response = moderator.post(
        base + "service/reponse/", {"request": request.pk, "text": "Passage prévu."}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.answered_via == "saisie"
    # a service of another collectivité cannot be chosen
    other = Service.objects.create(collectivite=world.b, name="Voirie B", email="b@b.example")
    moderator.post(base + "service/", {"service": other.pk})
    assert ServiceRequest.objects.for_collectivite(world.a).count() == 1
    with pytest.raises(Exception):  # noqa: B017 -- PermissionDenied for a lecteur
        services.item_route(actor=world.members[Role.LECTEUR], item=item, service=voirie)


def test_services_pages_and_api(world: Any, item: InboxItem, voirie: Service) -> None:
    from rest_framework.test import APIClient

    admin = world.client(world.members[Role.ADMIN])
    base = f"/c/{world.a.slug}/boite/services/"
    assert "Voirie" in admin.get(base).content.decode()
    created = admin.post(
        base + "nouveau/",
        {"name": "État civil", "email": "etat-civil@ville-a.example", "categories": "question"},
    )
    assert created.status_code == 302
    bad = admin.post(base + "nouveau/", {"name": "Sans adresse", "email": "pas-une-adresse"})
    assert bad.status_code == 200 and "Sans adresse" in bad.content.decode()
    assert world.client(world.members[Role.MODERATEUR]).post(base + "nouveau/").status_code == 403

    api = APIClient()
    api.force_authenticate(world.members[Role.MODERATEUR])
    root = f"/api/v1/c/{world.a.slug}/"
    names = [s["name"] for s in api.get(root + "services/").json()["results"]]
    assert "Voirie" in names and "État civil" in names
    routed = api.post(root + f"inbox/{item.pk}/route/", {"service": voirie.pk}, format="json")
    assert routed.status_code == 201, routed.content
    answered = api.post(
        root + f"inbox/{item.pk}/service-answer/",
        {"request": routed.json()["id"], "text": "Fait."},
        format="json",
    )
    assert answered.status_code == 200 and answered.json()["answer"] == "Fait."
    # deleting a service that received messages keeps it, inactive
    admin.post(base + f"{voirie.pk}/supprimer/")
    voirie.refresh_from_db()
    assert voirie.active is False
