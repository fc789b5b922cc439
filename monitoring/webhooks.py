"""Webhooks: networks that push (Meta: Facebook Pages and Instagram) post here.

The signature (``X-Hub-Signature-256``: HMAC-SHA256 of the raw body with the app
secret) is checked first; a forged event is refused and stored nowhere. A genuine one is
stored raw, durably, before we answer 200, then processed by a task. The body's hash is
unique, so a replayed event changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from collectivites.models import SocialAccount
from monitoring.models import WebhookEvent
from networks.base import Author, InboxEntry, ItemKind


def meta_app() -> dict[str, str]:
    return dict(getattr(settings, "PARVIS_NETWORK_APPS", {}).get("facebook", {}))


def meta_signature_ok(body: bytes, header: str) -> bool:
    secret = meta_app().get("client_secret", "")
    if not secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def meta_verify(params: dict[str, str]) -> str | None:
    """The subscription handshake: the challenge to echo, or None to refuse."""
    token = meta_app().get("webhook_verify_token", "")
    if (
        token
        and params.get("hub.mode") == "subscribe"
        and hmac.compare_digest(params.get("hub.verify_token", ""), token)
    ):
        return params.get("hub.challenge", "")
    return None


def receive(network: str, body: bytes) -> WebhookEvent | None:
    """Store the event durably and queue its processing; None when it was seen before."""
    from monitoring.tasks import process_webhook_task

    digest = hashlib.sha256(body).hexdigest()
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                network=network, body=body.decode("utf-8", "replace"), body_sha256=digest
            )
            transaction.on_commit(lambda: process_webhook_task.delay(event.pk))
    except IntegrityError:
        return None
    return event


def _when(value: Any) -> dt.datetime:
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("+0000", "+00:00"))
        except ValueError:
            pass
    return timezone.now()


# A Page's feed tells of a comment added, edited by its author, or removed.
_FEED_VERBS = ("add", "edited", "remove")


def meta_entries(payload: dict[str, Any]) -> list[tuple[str, str, InboxEntry]]:
    """(network, account external id, entry) for each comment the payload carries:
    Page ``feed`` changes (item ``comment``: verb ``add``, ``edited`` -- the new text --
    or ``remove`` -- a tombstone) and Instagram ``comments``."""
    found: list[tuple[str, str, InboxEntry]] = []
    network = "instagram" if payload.get("object") == "instagram" else "facebook"
    for entry in payload.get("entry", []):
        owner = str(entry.get("id", ""))
        for change in entry.get("changes", []):
            value = change.get("value", {}) or {}
            if network == "facebook":
                if change.get("field") != "feed" or value.get("item") != "comment":
                    continue
                verb = value.get("verb")
                if verb not in _FEED_VERBS or str(value.get("from", {}).get("id")) == owner:
                    continue
                post_id = str(value.get("post_id", ""))
                parent = str(value.get("parent_id", "")) or None
                found.append(
                    (
                        network,
                        owner,
                        InboxEntry(
                            kind=ItemKind.REPLY
                            if parent and parent != post_id
                            else ItemKind.COMMENT,
                            external_id=str(value.get("comment_id", "")),
                            author=Author(
                                external_id=str(value.get("from", {}).get("id", "")),
                                display_name=value.get("from", {}).get("name", ""),
                            ),
                            text=value.get("message", ""),
                            created_at=_when(value.get("created_time")),
                            post_external_id=post_id or None,
                            parent_id=parent if parent != post_id else None,
                            root_id=parent if parent != post_id else None,
                            raw=value,
                            edited_at=timezone.now() if verb == "edited" else None,
                            removed=verb == "remove",
                        ),
                    )
                )
            elif change.get("field") == "comments":
                found.append(
                    (
                        network,
                        owner,
                        InboxEntry(
                            kind=ItemKind.REPLY if value.get("parent_id") else ItemKind.COMMENT,
                            external_id=str(value.get("id", "")),
                            author=Author(
                                external_id=str(value.get("from", {}).get("id", "")),
                                handle=value.get("from", {}).get("username", ""),
                            ),
                            text=value.get("text", ""),
                            created_at=timezone.now(),
                            post_external_id=str(value.get("media", {}).get("id", "")) or None,
                            parent_id=value.get("parent_id") or None,
                            root_id=value.get("parent_id") or None,
                            raw=value,
                        ),
                    )
                )
    return [f for f in found if f[2].external_id]


def process(event_id: int) -> int:
    """Turn a stored event into inbox items (same upsert as collection: nothing twice)."""
    from monitoring.services import store_entries

    event = WebhookEvent.objects.filter(pk=event_id, processed_at__isnull=True).first()
    if event is None:
        return 0
    stored = 0
    error = ""
    try:
        payload = json.loads(event.body)
        for network, owner, entry in meta_entries(payload):
            # The network names the account; it may belong to any collectivité.
            for account in SocialAccount.objects.dangerously_unscoped().filter(
                network=network, external_id=owner
            ):
                stored += store_entries(account=account, entries=[entry])
    except (ValueError, TypeError, AttributeError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    WebhookEvent.objects.filter(pk=event.pk).update(
        processed_at=timezone.now(), items_stored=stored, error=error
    )
    return stored
