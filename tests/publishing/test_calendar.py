"""The editorial calendar: local days, cadence gaps, filters, iCalendar export."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from collectivites.permissions import Role
from publishing import calendar, services
from publishing.models import Variant
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(world: Any) -> Any:
    account = factories.SocialAccountFactory(collectivite=world.a, display_name="Ville A Facebook")
    factories.EditorialLineFactory(account=account, cadence_per_week=3)
    return account


def variant_at(
    account: Any, when: dt.datetime, title: str = "Marché de Noël", **kw: Any
) -> Variant:
    return factories.VariantFactory(
        publication__collectivite=account.collectivite,
        publication__title=title,
        account=account,
        scheduled_at=when,
        **kw,
    )


def test_a_late_evening_post_lands_on_its_local_day(world: Any, account: Any) -> None:
    # 23:30 UTC on 7 December is 00:30 on 8 December in Paris.
    variant_at(account, dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.UTC))
    weeks = calendar.month_grid(
        collectivite=world.a, year=2026, month=12, filters=calendar.Filters()
    )
    days = {d.date: d for w in weeks for d in w.days}
    assert [v.local_time.hour for v in days[dt.date(2026, 12, 8)].variants] == [0]
    assert days[dt.date(2026, 12, 7)].variants == []


def test_weeks_where_the_cadence_is_not_met(world: Any, account: Any) -> None:
    for day in (7, 8, 9):
        variant_at(account, dt.datetime(2026, 12, day, 10, tzinfo=dt.UTC))
    variant_at(account, dt.datetime(2026, 12, 15, 10, tzinfo=dt.UTC))
    weeks = calendar.month_grid(
        collectivite=world.a, year=2026, month=12, filters=calendar.Filters()
    )
    by_monday = {w.monday: w for w in weeks}
    assert by_monday[dt.date(2026, 12, 7)].gaps == []
    (gap,) = by_monday[dt.date(2026, 12, 14)].gaps
    assert (gap.account, gap.planned, gap.target) == ("Ville A Facebook", 1, 3)


def test_filters_and_cancelled_variants(world: Any, account: Any) -> None:
    other = factories.SocialAccountFactory(collectivite=world.a, network="mastodon")
    variant_at(account, dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC))
    variant_at(other, dt.datetime(2026, 12, 9, 11, tzinfo=dt.UTC))
    variant_at(account, dt.datetime(2026, 12, 9, 12, tzinfo=dt.UTC), state=Variant.State.CANCELLED)
    weeks = calendar.month_grid(
        collectivite=world.a, year=2026, month=12, filters=calendar.Filters(network="mastodon")
    )
    found = [v for w in weeks for d in w.days for v in d.variants]
    assert [v.account_id for v in found] == [other.pk]


def test_calendar_page_and_other_collectivites(world: Any, account: Any) -> None:
    variant_at(account, dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC), title="Vœux du maire")
    foreign = factories.SocialAccountFactory(collectivite=world.b)
    variant_at(foreign, dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC), title="Secret de B")
    client = world.client(world.members[Role.LECTEUR])
    assert client.get(f"/c/{world.a.slug}/publications/calendrier/?mois=2026-12").status_code == 403
    client = world.client(world.members[Role.REDACTEUR])
    page = client.get(f"/c/{world.a.slug}/publications/calendrier/?mois=2026-12").content.decode()
    assert "Vœux du maire" in page and "Secret de B" not in page
    assert "décembre 2026" in page
    week = client.get(
        f"/c/{world.a.slug}/publications/calendrier/?semaine=2026-12-09"
    ).content.decode()
    assert "Semaine du 07/12/2026" in week and "Vœux du maire" in week


def test_icalendar_export(world: Any, account: Any, freezer: Any) -> None:
    freezer.move_to("2026-12-01T08:00:00Z")
    variant = variant_at(
        account, dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC), title="Vœux, du maire; 2027"
    )
    client = world.client(world.members[Role.REDACTEUR])
    response = client.get(f"/c/{world.a.slug}/publications/calendrier.ics")
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content.decode()
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert f"UID:variant-{variant.idempotency_key}@" in body
    assert "DTSTART:20261209T100000Z" in body
    assert "Vœux\\, du maire\\; 2027" in body
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))


# --- moving a post to another day -------------------------------------------------------------


def move_url(world: Any, variant: Variant) -> str:
    publication = f"/c/{world.a.slug}/publications/{variant.publication_id}"
    return f"{publication}/declinaisons/{variant.pk}/deplacer/"


def test_moving_keeps_the_local_time_across_the_clock_change(
    world: Any, account: Any, freezer: Any
) -> None:
    freezer.move_to("2026-10-01T08:00:00Z")
    world.a.validation_steps = 1
    world.a.save()
    # 09:00 in Paris on 20 October (summer time) is 07:00 UTC ...
    variant = variant_at(
        account, dt.datetime(2026, 10, 20, 7, tzinfo=dt.UTC), state=Variant.State.APPROVED
    )
    services.variant_move(
        actor=world.members[Role.REDACTEUR], variant=variant, day=dt.date(2026, 11, 3)
    )
    variant.refresh_from_db()
    # ... and 09:00 on 3 November (winter time) is 08:00 UTC.
    assert variant.scheduled_at == dt.datetime(2026, 11, 3, 8, tzinfo=dt.UTC)
    # A validated post that moves is validated again.
    assert variant.state == Variant.State.IN_REVIEW


def test_moving_to_another_time_and_into_the_past(world: Any, account: Any, freezer: Any) -> None:
    freezer.move_to("2026-12-01T08:00:00Z")
    when = dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC)
    variant = variant_at(account, when, state=Variant.State.DRAFT)
    redacteur = world.members[Role.REDACTEUR]
    services.variant_move(
        actor=redacteur, variant=variant, day=dt.date(2026, 12, 10), time=dt.time(18, 30)
    )
    variant.refresh_from_db()
    assert variant.scheduled_at == dt.datetime(2026, 12, 10, 17, 30, tzinfo=dt.UTC)
    with pytest.raises(ValidationError, match="dans le passé"):
        services.variant_move(actor=redacteur, variant=variant, day=dt.date(2026, 11, 30))
    variant.refresh_from_db()
    assert variant.scheduled_at == dt.datetime(2026, 12, 10, 17, 30, tzinfo=dt.UTC)
    with pytest.raises(PermissionDenied):
        services.variant_move(
            actor=world.members[Role.MODERATEUR], variant=variant, day=dt.date(2026, 12, 20)
        )


def test_moving_from_the_calendar_page(world: Any, account: Any, freezer: Any) -> None:
    freezer.move_to("2026-12-01T08:00:00Z")
    variant = variant_at(account, dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC))
    published = variant_at(
        account, dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC), state=Variant.State.PUBLISHED
    )
    client = world.client(world.members[Role.REDACTEUR])
    calendar_url = f"/c/{world.a.slug}/publications/calendrier/?mois=2026-12"
    page = client.get(calendar_url).content.decode()
    assert f'data-move="{variant.pk}"' in page and f'data-move="{published.pk}"' not in page
    assert 'data-day="2026-12-16"' in page

    response = client.post(move_url(world, variant), {"jour": "2026-12-16", "retour": calendar_url})
    assert response.status_code == 302 and response["Location"] == calendar_url
    variant.refresh_from_db()
    assert variant.scheduled_at == dt.datetime(2026, 12, 16, 10, tzinfo=dt.UTC)
    assert "déplacée au mercredi 16 décembre 2026" in client.get(calendar_url).content.decode()

    # Bad input: a French message, nothing changed; a foreign return address is ignored.
    response = client.post(move_url(world, variant), {"jour": "16/12", "retour": calendar_url})
    assert "Choisissez un jour valide" in client.get(response["Location"]).content.decode()
    response = client.post(
        move_url(world, published), {"jour": "2026-12-20", "retour": "https://ailleurs.example/"}
    )
    assert response["Location"].endswith(f"/publications/{published.publication_id}/")
    published.refresh_from_db()
    assert published.scheduled_at == dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)

    # The moderator sees the calendar, cannot move anything.
    moderateur = world.client(world.members[Role.MODERATEUR])
    assert "data-move" not in moderateur.get(calendar_url).content.decode()
    assert moderateur.post(move_url(world, variant), {"jour": "2026-12-17"}).status_code == 403
