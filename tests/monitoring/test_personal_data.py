"""Citizens' personal data: kept for the collectivité's retention period after their last
activity, then anonymised (counts stay for reporting); exported and erased on request."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from collectivites.permissions import Role
from monitoring import services
from monitoring.models import Citizen, InboxItem, Reply
from tests import factories

pytestmark = pytest.mark.django_db


def _citizen_with_items(collectivite: Any, name: str, when: dt.datetime, author: Any) -> Citizen:
    account = factories.SocialAccountFactory(collectivite=collectivite)
    citizen = Citizen.objects.create(
        collectivite=collectivite,
        network="sandbox",
        external_id=f"id-{name}",
        handle=f"@{name}",
        display_name=name.title(),
        notes="Appelle souvent la mairie.",
    )
    for k in range(2):
        item = InboxItem.objects.create(
            collectivite=collectivite,
            account=account,
            network="sandbox",
            kind="comment",
            external_id=f"{name}-{k}",
            citizen=citizen,
            text=f"Bonjour, je suis {name.title()}, j'habite 3 rue des Lilas",
            created_at=when,
            labels=[{"code": "question", "score": 1.0, "reasons": ["« Bonjour, je suis »"]}],
            place="rue des Lilas",
            raw={"from": {"name": name.title()}},
            status=InboxItem.Status.REPONDU,
            first_response_at=when + dt.timedelta(hours=1),
        )
        Reply.objects.create(
            collectivite=collectivite, item=item, text=f"Bonjour {name.title()} !", author=author
        )
    Reply.objects.for_collectivite(collectivite).filter(item__citizen=citizen).update(
        created_at=when + dt.timedelta(hours=1)
    )
    return citizen


def test_purge_anonymises_after_the_retention_period_and_keeps_counts(world: Any) -> None:
    now = timezone.now()
    author = world.members[Role.MODERATEUR]
    old = _citizen_with_items(world.a, "ancien", now - dt.timedelta(days=400), author)
    recent = _citizen_with_items(world.a, "recent", now - dt.timedelta(days=200), author)
    other = _citizen_with_items(world.b, "autre", now - dt.timedelta(days=200), author)
    services.policy_save(
        actor=world.outsider, collectivite=world.b, retention_months=3
    )  # B keeps 3 months only
    assert services.purge_expired(now=now) == 2
    old.refresh_from_db()
    recent.refresh_from_db()
    other.refresh_from_db()
    assert old.anonymised_at and not old.display_name and not old.handle and not old.notes
    assert old.external_id == f"anonyme-{old.pk}"
    assert recent.anonymised_at is None and recent.display_name == "Recent"
    assert other.anonymised_at is not None  # B's shorter period
    items = InboxItem.objects.for_collectivite(world.a).filter(citizen=old)
    assert items.count() == 2  # counts stay
    for item in items:
        assert item.text == "" and item.raw == {} and item.place == "" and item.anonymised_at
        assert item.label_codes == ["question"] and item.labels[0]["reasons"] == []
        assert item.first_response_at is not None and item.status == InboxItem.Status.REPONDU
    assert set(
        Reply.objects.for_collectivite(world.a)
        .filter(item__citizen=old)
        .values_list("text", flat=True)
    ) == {""}
    assert services.purge_expired(now=now) == 0  # once


def test_the_last_answer_counts_as_activity(world: Any) -> None:
    now = timezone.now()
    citizen = _citizen_with_items(
        world.a, "lent", now - dt.timedelta(days=400), world.members[Role.MODERATEUR]
    )
    Reply.objects.for_collectivite(world.a).filter(item__citizen=citizen).update(
        created_at=now - dt.timedelta(days=30)
    )
    assert services.purge_expired(now=now) == 0


def test_export_and_erase_from_the_citizen_page(world: Any) -> None:
    citizen = _citizen_with_items(
        world.a, "camille", timezone.now(), world.members[Role.MODERATEUR]
    )
    moderator = world.client(world.members[Role.MODERATEUR])
    base = f"/c/{world.a.slug}/boite/citoyens/{citizen.pk}/"
    page = moderator.get(base).content.decode()
    assert "Camille" in page and "Effacer ses données" in page
    exported = moderator.get(base + "export/")
    data = json.loads(exported.content)
    assert data["citizen"]["display_name"] == "Camille" and len(data["messages"]) == 2
    assert data["messages"][0]["replies"][0]["text"] == "Bonjour Camille !"
    assert data["citizen"]["notes"] == "Appelle souvent la mairie."
    csv = moderator.get(base + "export/?format=csv")
    assert csv["Content-Type"].startswith("text/csv") and "rue des Lilas" in csv.content.decode()
    # erasure needs the confirmation, then is final
    moderator.post(base + "effacer/")
    citizen.refresh_from_db()
    assert citizen.anonymised_at is None
    moderator.post(base + "effacer/", {"confirm": "oui"})
    citizen.refresh_from_db()
    assert citizen.anonymised_at is not None and citizen.display_name == ""
    assert "Camille" not in moderator.get(base).content.decode()
    # who may: reading the page needs inbox.view, export and erasure personal_data.manage
    # (admins and moderators)
    assert world.client(world.members[Role.LECTEUR]).get(base).status_code == 403
    assert world.client(world.members[Role.REDACTEUR]).get(base + "export/").status_code == 403
    admin = world.client(world.members[Role.ADMIN])
    assert admin.get(base + "export/").status_code == 200
    assert "Exporter (JSON)" in admin.get(base).content.decode()
    assert world.client(world.outsider).get(base).status_code == 404


def test_internal_notes(world: Any) -> None:
    citizen = _citizen_with_items(world.a, "noa", timezone.now(), world.members[Role.MODERATEUR])
    moderator = world.client(world.members[Role.MODERATEUR])
    moderator.post(
        f"/c/{world.a.slug}/boite/citoyens/{citizen.pk}/notes/", {"notes": "Élu de quartier."}
    )
    citizen.refresh_from_db()
    assert citizen.notes == "Élu de quartier."


def test_retention_setting(world: Any) -> None:
    admin = world.client(world.members[Role.ADMIN])
    url = f"/c/{world.a.slug}/boite/conservation/"
    assert admin.post(url, {"retention_months": "0"}).status_code == 200
    assert admin.post(url, {"retention_months": "24"}).status_code == 302
    assert services.policy_for(world.a).retention_months == 24
    assert (
        world.client(world.members[Role.MODERATEUR])
        .post(url, {"retention_months": "6"})
        .status_code
        == 403
    )


def test_export_erasure_and_purge_are_recorded(world: Any) -> None:
    from audit.models import AuditEvent

    now = timezone.now()
    moderator = world.members[Role.MODERATEUR]
    citizen = _citizen_with_items(world.a, "sacha", now, moderator)
    services.citizen_export(actor=moderator, citizen=citizen)
    services.citizen_erase(actor=moderator, citizen=citizen)
    _citizen_with_items(world.a, "vieux", now - dt.timedelta(days=500), moderator)
    services.purge_expired(now=now)
    events = AuditEvent.objects.for_collectivite(world.a).order_by("pk")
    actions = [(e.action, e.actor_id) for e in events]
    assert ("personal_data.exported", moderator.pk) in actions
    assert ("personal_data.erased", moderator.pk) in actions
    assert ("personal_data.erased", None) in actions  # the periodic purge
    assert not any("Sacha" in e.object_label or "Vieux" in e.object_label for e in events)
