"""Meta's webhooks: the handshake, the signature, the raw event stored before answering,
and a replayed or forged event that changes nothing. Payload shaped as Meta's Webhooks
reference for the Page ``feed`` field (tests/monitoring/payloads/)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from monitoring.models import InboxItem, WebhookEvent
from tests import factories

pytestmark = pytest.mark.django_db
PAYLOAD = (Path(__file__).parent / "payloads" / "meta_page_feed_comment.json").read_bytes()
SECRET = "app-secret-for-tests"


@pytest.fixture
def meta(settings: Any) -> None:
    settings.PARVIS_NETWORK_APPS = {
        **settings.PARVIS_NETWORK_APPS,
        "facebook": {
            "client_id": "1",
            "client_secret": SECRET,
            "webhook_verify_token": "jeton-abonnement",
        },
    }


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_subscription_handshake(client: Any, meta: None) -> None:
    ok = client.get(
        "/webhooks/meta/",
        {
            "hub.mode": "subscribe",
            "hub.verify_token": "jeton-abonnement",
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.content == b"1158201444"
    bad = client.get(
        "/webhooks/meta/",
        {"hub.mode": "subscribe", "hub.verify_token": "autre", "hub.challenge": "x"},
    )
    assert bad.status_code == 403


def test_a_signed_event_becomes_inbox_items_once(
    client: Any, meta: None, world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    account = factories.SocialAccountFactory(
        collectivite=world.a, network="facebook", external_id="104857600123456"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/webhooks/meta/",
            PAYLOAD,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signed(PAYLOAD),
        )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.processed_at and event.items_stored == 1
    (item,) = InboxItem.objects.for_collectivite(world.a)
    assert item.account == account and item.external_id == "998877_4455667788"
    assert item.text.startswith("Bonjour, la piscine est ouverte dimanche")
    assert "question" in item.label_codes
    # the same event again: stored once, processed once
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(
            "/webhooks/meta/",
            PAYLOAD,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signed(PAYLOAD),
        )
    assert again.status_code == 200
    assert WebhookEvent.objects.count() == 1
    assert InboxItem.objects.for_collectivite(world.a).count() == 1


def test_a_forged_event_is_refused_and_stored_nowhere(client: Any, meta: None, world: Any) -> None:
    factories.SocialAccountFactory(
        collectivite=world.a, network="facebook", external_id="104857600123456"
    )
    forged = json.dumps(json.loads(PAYLOAD)).encode()
    for header in (signed(forged, "wrong-secret"), "", "sha1=abc"):
        response = client.post(
            "/webhooks/meta/",
            forged,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=header,
        )
        assert response.status_code == 403
    assert WebhookEvent.objects.count() == 0
    assert not InboxItem.objects.for_collectivite(world.a).exists()


def test_without_app_secret_nothing_is_accepted(client: Any, settings: Any) -> None:
    settings.PARVIS_NETWORK_APPS = {**settings.PARVIS_NETWORK_APPS, "facebook": {}}
    response = client.post(
        "/webhooks/meta/",
        PAYLOAD,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signed(PAYLOAD, ""),
    )
    assert response.status_code == 403


def _post(client: Any, body: bytes, capture: Any) -> Any:
    with capture(execute=True):
        return client.post(
            "/webhooks/meta/",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signed(body),
        )


def test_an_edited_then_removed_comment_updates_the_item_and_keeps_the_record(
    client: Any, meta: None, world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from audit.models import Action, AuditEvent

    factories.SocialAccountFactory(
        collectivite=world.a, network="facebook", external_id="104857600123456"
    )
    payloads = Path(__file__).parent / "payloads"
    assert _post(client, PAYLOAD, django_capture_on_commit_callbacks).status_code == 200
    first = PAYLOAD.decode()
    edited = (payloads / "meta_page_feed_comment_edited.json").read_bytes()
    assert _post(client, edited, django_capture_on_commit_callbacks).status_code == 200
    (item,) = InboxItem.objects.for_collectivite(world.a)
    assert item.text.startswith("Bonjour, la piscine est fermée depuis ce matin")
    assert item.edited_at is not None and item.removed_at is None
    assert [r["text"] for r in item.revisions] == [
        json.loads(first)["entry"][0]["changes"][0]["value"]["message"]
    ]
    assert "urgent" in item.label_codes  # triaged again: the new text tells of flooding
    # replayed: the same edit changes nothing more
    _post(client, edited, django_capture_on_commit_callbacks)
    item.refresh_from_db()
    assert len(item.revisions) == 1

    removed = (payloads / "meta_page_feed_comment_removed.json").read_bytes()
    assert _post(client, removed, django_capture_on_commit_callbacks).status_code == 200
    item.refresh_from_db()
    assert item.removed_at is not None and item.status == InboxItem.Status.CLOS
    assert item.text.startswith("Bonjour, la piscine est fermée")  # kept for the record
    actions = list(
        AuditEvent.objects.filter(collectivite=world.a)
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == [Action.ITEM_EDITED_BY_AUTHOR, Action.ITEM_REMOVED_BY_AUTHOR]
