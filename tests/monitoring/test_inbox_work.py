"""Working through the inbox in numbers: bulk actions, the filters by who took a message
and by date, and the count of messages that came since the page was drawn."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from collectivites.permissions import Role
from monitoring import selectors, services
from monitoring.models import InboxItem
from networks.adapters.sandbox import inject_fault
from networks.models import SandboxItem
from tests.monitoring.test_charter_rules import comments_saying

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(world: Any, account: Any) -> list[InboxItem]:
    comments_saying(
        account,
        "Bonjour, la piscine ouvre quand ?",
        "Le trottoir de la rue Haute est défoncé.",
        "Merci pour le marché de Noël !",
    )
    services.collect_account(account=account)
    return list(InboxItem.objects.for_collectivite(world.a).order_by("pk"))


def test_bulk_close_and_assign(world: Any, items: list[InboxItem]) -> None:
    moderator = world.members[Role.MODERATEUR]
    first, second = items[0], items[1]
    done = services.items_bulk(
        actor=moderator, collectivite=world.a, item_ids=[first.pk, second.pk], action="close"
    )
    assert done.done == 2 and done.failed == []
    assert {
        i.status
        for i in InboxItem.objects.for_collectivite(world.a).filter(pk__in=[first.pk, second.pk])
    } == {InboxItem.Status.CLOS}
    services.items_bulk(
        actor=moderator, collectivite=world.a, item_ids=[items[2].pk], action="assign_me"
    )
    taken = InboxItem.objects.for_collectivite(world.a).get(pk=items[2].pk)
    assert taken.assignee == moderator and taken.status == InboxItem.Status.ASSIGNE


def test_bulk_goes_on_when_one_message_refuses(
    world: Any, account: Any, items: list[InboxItem]
) -> None:
    moderator = world.members[Role.MODERATEUR]
    other_collectivite = InboxItem.objects.for_collectivite(world.a).count() + 10_000
    inject_fault(account.external_id, "rejected", operation="hide", remaining=1)
    outcome = services.items_bulk(
        actor=moderator,
        collectivite=world.a,
        item_ids=[items[0].pk, items[1].pk, other_collectivite],
        action="hide",
    )
    assert outcome.done == 1
    assert [pk for pk, _reason in outcome.failed] == [items[0].pk, other_collectivite]
    assert all(reason for _pk, reason in outcome.failed)
    assert SandboxItem.objects.get(external_id=items[1].external_id).hidden
    assert not SandboxItem.objects.get(external_id=items[0].external_id).hidden


def test_bulk_checks_who_and_what(world: Any, items: list[InboxItem]) -> None:
    with pytest.raises(PermissionDenied):
        services.items_bulk(
            actor=world.members[Role.LECTEUR],
            collectivite=world.a,
            item_ids=[items[0].pk],
            action="close",
        )
    with pytest.raises(ValidationError):
        services.items_bulk(
            actor=world.members[Role.MODERATEUR], collectivite=world.a, item_ids=[], action="close"
        )
    with pytest.raises(ValidationError):
        services.items_bulk(
            actor=world.members[Role.MODERATEUR],
            collectivite=world.a,
            item_ids=[items[0].pk],
            action="tag",
            tag="  ",
        )
    # a message of another collectivité is not found there, and not touched
    from tests import factories

    b_moderator = factories.UserFactory(email="moderateur@b.example")
    factories.MembershipFactory(collectivite=world.b, user=b_moderator, role=Role.MODERATEUR)
    outcome = services.items_bulk(
        actor=b_moderator, collectivite=world.b, item_ids=[items[0].pk], action="close"
    )
    assert outcome.done == 0 and outcome.failed[0][0] == items[0].pk


def test_bulk_through_the_page_and_the_api(world: Any, items: list[InboxItem]) -> None:
    moderator = world.client(world.members[Role.MODERATEUR])
    response = moderator.post(
        f"/c/{world.a.slug}/boite/par-lot/",
        {"items": [str(items[0].pk), str(items[1].pk)], "action": "tag", "tag": "travaux",
         "retour": "etat=tous"},
    )  # fmt: skip
    assert response.status_code == 302 and response.url.endswith("/boite/?etat=tous")
    assert {t.name for t in items[0].tags.all()} == {"travaux"}
    page = moderator.get(response.url).content.decode()
    assert "2 messages traités." in page

    api = moderator.post(
        f"/api/v1/c/{world.a.slug}/inbox/bulk/",
        {"items": [items[2].pk, 999999], "action": "close"},
        content_type="application/json",
    )
    assert api.status_code == 200
    assert api.json()["done"] == 1 and api.json()["failed"][0]["id"] == 999999
    refused = world.client(world.members[Role.LECTEUR]).post(
        f"/api/v1/c/{world.a.slug}/inbox/bulk/",
        {"items": [items[2].pk], "action": "close"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    # another collectivité's member cannot reach A's messages through B's inbox
    other = world.client(world.outsider).post(
        f"/api/v1/c/{world.b.slug}/inbox/bulk/",
        {"items": [items[0].pk], "action": "close"},
        content_type="application/json",
    )
    assert other.status_code == 403 or other.json()["done"] == 0


def test_filters_by_who_took_it_and_by_date(world: Any, items: list[InboxItem]) -> None:
    moderator = world.members[Role.MODERATEUR]
    services.item_assign(actor=moderator, item=items[0], assignee=moderator)
    taken = selectors.inbox(collectivite=world.a, assignee_id=moderator.pk)
    assert [i.pk for i in taken] == [items[0].pk]
    InboxItem.objects.for_collectivite(world.a).filter(pk=items[1].pk).update(
        created_at=timezone.now() - dt.timedelta(days=40)
    )
    client = world.client(moderator)
    today = timezone.localdate()
    page = client.get(
        f"/c/{world.a.slug}/boite/",
        {"du": (today - dt.timedelta(days=2)).isoformat(), "au": today.isoformat()},
    ).content.decode()
    # by link, not by text: the sandbox's simulated residents may say the same thing twice
    assert f'data-item="{items[0].pk}"' in page and f'data-item="{items[1].pk}"' not in page
    bad = client.get(f"/c/{world.a.slug}/boite/", {"du": "31/02/2026"}).content.decode()
    assert "Date non reconnue" in bad
    backwards = client.get(
        f"/c/{world.a.slug}/boite/", {"du": today.isoformat(), "au": "2020-01-01"}
    ).content.decode()
    assert "La date de fin doit suivre la date de début." in backwards


def test_the_page_hears_of_new_messages(world: Any, account: Any, items: list[InboxItem]) -> None:
    import re
    from urllib.parse import unquote

    client = world.client(world.members[Role.MODERATEUR])
    page = client.get(f"/c/{world.a.slug}/boite/").content.decode()
    drawn = unquote(re.search(r"nouveaux/\?depuis=([^\"]+)\"", page).group(1))
    news = client.get(f"/c/{world.a.slug}/boite/nouveaux/", {"depuis": drawn})
    assert news.status_code == 200 and "nouveau" not in news.content.decode()
    comments_saying(account, "Encore une question : le marché est-il ouvert ?")
    services.collect_account(account=account)
    news = client.get(f"/c/{world.a.slug}/boite/nouveaux/", {"depuis": drawn}).content.decode()
    assert re.search(r"\d+ nouveaux? messages? (est|sont) arrivés?", news) and "Afficher" in news
    # not a time: nothing to say, no error
    odd = client.get(f"/c/{world.a.slug}/boite/nouveaux/", {"depuis": "hier"})
    assert odd.status_code == 200 and "nouveau" not in odd.content.decode()
    # another collectivité's new messages are not counted
    assert (
        selectors.arrived_since(collectivite=world.b, since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        == 0
    )
