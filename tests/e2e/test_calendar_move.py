"""Moving a post on the editorial calendar: dragged onto another day with the mouse, or
moved with the "Déplacer" form from the keyboard; it keeps its local time either way."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import check_a11y, login

pytestmark = pytest.mark.e2e

REDACTEUR = "redaction@demo.parvis.fr"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _first_monday_after(day: dt.date, weeks: int) -> dt.date:
    return day + dt.timedelta(days=7 * weeks - day.weekday())


def test_drag_a_post_to_another_day_then_move_it_from_the_keyboard(page: Page, demo: None) -> None:
    from collectivites.models import Collectivite, SocialAccount
    from publishing.models import Variant
    from tests import factories

    saint_aubin = Collectivite.objects.get(slug="saint-aubin")
    account = SocialAccount.objects.for_collectivite(saint_aubin).order_by("pk").first()
    # A Monday at least two weeks ahead, with the Wednesday of that week as the target:
    # both in the same week, so in the same week view.
    monday = _first_monday_after(dt.datetime.now(PARIS).date(), 2)
    variant = factories.VariantFactory(
        publication__collectivite=saint_aubin,
        publication__title="Réunion de quartier",
        account=account,
        state=Variant.State.DRAFT,
        scheduled_at=dt.datetime.combine(monday, dt.time(18, 30), tzinfo=PARIS),
    )

    login(page, REDACTEUR)
    page.goto(f"/c/saint-aubin/publications/calendrier/?semaine={monday.isoformat()}")
    calendar = page.get_by_role("region", name="Calendrier")
    item = calendar.locator(f'li[data-move="{variant.pk}"]')
    expect(item).to_contain_text("18:30")
    wednesday = monday + dt.timedelta(days=2)
    item.drag_to(calendar.locator(f'td[data-day="{wednesday.isoformat()}"]'))

    expect(page.get_by_role("main").get_by_role("status")).to_contain_text(
        "« Réunion de quartier »"
    )
    variant.refresh_from_db()
    assert variant.scheduled_at.astimezone(PARIS) == dt.datetime.combine(
        wednesday, dt.time(18, 30), tzinfo=PARIS
    )
    moved = calendar.locator(f'td[data-day="{wednesday.isoformat()}"] li[data-move="{variant.pk}"]')
    expect(moved).to_contain_text("18:30")

    # From the keyboard: open "Déplacer", choose Friday 10:00, submit.
    summary = moved.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    friday = monday + dt.timedelta(days=4)
    moved.get_by_label("Nouveau jour").fill(friday.isoformat())
    moved.get_by_label("Heure").fill("10:00")
    check_a11y(page)  # with the form open
    moved.get_by_role("button", name="Déplacer", exact=True).press("Enter")
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text(
        re.compile(r"déplacée au vendredi")
    )
    variant.refresh_from_db()
    assert variant.scheduled_at.astimezone(PARIS) == dt.datetime.combine(
        friday, dt.time(10), tzinfo=PARIS
    )
    check_a11y(page)
