"""Posting slots and "add to queue": the next free slot, in local time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from collectivites.permissions import Role
from publishing import services
from publishing.models import Variant
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(world: Any) -> Any:
    account = factories.SocialAccountFactory(collectivite=world.a)
    admin = world.members[Role.ADMIN]
    for weekday in (1, 3):  # Tuesday and Thursday at noon
        services.slot_add(
            actor=admin,
            collectivite=world.a,
            account_id=account.pk,
            weekday=weekday,
            time=dt.time(12),
        )
    return account


def draft(account: Any, **kw: Any) -> Variant:
    return factories.VariantFactory(
        publication__collectivite=account.collectivite, account=account, **kw
    )


def test_next_free_slot_skips_taken_ones_across_daylight_saving(
    world: Any, account: Any, freezer: Any
) -> None:
    freezer.move_to("2026-10-23T10:00:00Z")  # Friday; summer time ends on Sunday 25th
    variant = draft(account)
    first = services.next_free_slot(variant=variant)
    assert first == dt.datetime(2026, 10, 27, 11, 0, tzinfo=dt.UTC)  # Tue 12:00, winter time
    draft(account, scheduled_at=first)
    assert services.next_free_slot(variant=variant) == dt.datetime(2026, 10, 29, 11, tzinfo=dt.UTC)


def test_add_to_queue(world: Any, account: Any, freezer: Any) -> None:
    freezer.move_to("2026-06-01T08:00:00Z")  # Monday, summer time
    variant = draft(account)
    services.variant_queue(actor=world.members[Role.REDACTEUR], variant=variant)
    variant.refresh_from_db()
    assert variant.scheduled_at == dt.datetime(2026, 6, 2, 10, tzinfo=dt.UTC)
    no_slots = draft(factories.SocialAccountFactory(collectivite=world.a))
    with pytest.raises(ValidationError, match="Aucun créneau libre"):
        services.variant_queue(actor=world.members[Role.REDACTEUR], variant=no_slots)


def test_slots_are_set_by_admins(world: Any, account: Any) -> None:
    with pytest.raises(PermissionDenied):
        services.slot_add(
            actor=world.members[Role.REDACTEUR],
            collectivite=world.a,
            account_id=account.pk,
            weekday=0,
            time=dt.time(9),
        )
    with pytest.raises(ValidationError):
        services.slot_add(
            actor=world.members[Role.ADMIN],
            collectivite=world.a,
            account_id=account.pk,
            weekday=1,
            time=dt.time(12),
        )
    page = world.client(world.members[Role.ADMIN]).get(f"/c/{world.a.slug}/publications/creneaux/")
    assert "Mardi" in page.content.decode() and "Jeudi" in page.content.decode()
    writer = world.client(world.members[Role.REDACTEUR])
    response = writer.post(
        f"/c/{world.a.slug}/publications/creneaux/",
        {"account": account.pk, "weekday": 0, "time": "09:00"},
    )
    assert response.status_code == 403
