"""Triage's reasons are French source strings in the catalogue: every reason the rules
write on the labelled set is recognised and shown in English to an English reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from monitoring.triage import _reason_patterns, translate_reason, triage

DATA = Path(__file__).parent / "data" / "labelled_comments.jsonl"


def _reasons() -> list[str]:
    texts = [json.loads(line)["text"] for line in DATA.read_text("utf-8").splitlines() if line]
    return [r for text in texts for label in triage(text).labels for r in label.reasons]


def test_every_reason_on_the_labelled_set_is_a_known_template() -> None:
    reasons = _reasons()
    assert len(reasons) > 500
    unknown = [r for r in reasons if translate_reason(r, lambda t: "\0" + t) == r]
    assert unknown == []
    # a French reader gets the reason exactly as it was stored
    assert all(translate_reason(r, lambda t: t) == r for r in reasons)


def test_every_template_has_an_english_translation() -> None:
    with translation.override("en"):
        missing = [t for t, _p in _reason_patterns() if translation.gettext(t) == t]
    assert missing == []


@pytest.mark.django_db
def test_the_item_page_and_the_api_show_reasons_in_english(world: Any) -> None:
    from collectivites.permissions import Role
    from monitoring import services
    from networks.base import Author, InboxEntry, ItemKind
    from tests import factories

    account = factories.SocialAccountFactory(collectivite=world.a, network="sandbox")
    from django.utils import timezone

    services.store_entries(
        account=account,
        entries=[
            InboxEntry(
                kind=ItemKind.COMMENT,
                external_id="r1",
                author=Author(external_id="a1", handle="@a1"),
                text="Quand rouvre la médiathèque ? Merci 👍",
                created_at=timezone.now(),
            )
        ],
    )
    from monitoring.models import InboxItem

    item = InboxItem.objects.for_collectivite(world.a).get()
    assert 'contient "Quand" et un "?"' in item.labels[0]["reasons"]  # stored in French
    moderator = world.client(world.members[Role.MODERATEUR])
    page = moderator.get(f"/c/{world.a.slug}/boite/{item.pk}/").content.decode()
    assert "contient &quot;Quand&quot; et un &quot;?&quot;" in page
    from django.conf import settings

    moderator.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the footer's language switch
    english = moderator.get(f"/c/{world.a.slug}/boite/{item.pk}/").content.decode()
    assert "contains &quot;Quand&quot; and a &quot;?&quot;" in english
    api = moderator.get(f"/api/v1/c/{world.a.slug}/inbox/{item.pk}/").json()
    assert 'contains "Quand" and a "?"' in api["labels"][0]["reasons"]
