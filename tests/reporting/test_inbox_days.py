"""The inbox's daily rollup (``InboxDay``, PostgreSQL): the dashboards read the settled
days' counts from it and count the other days from the items, and the figures are always
those the items give. On the hand-computed world of ``test_kpis`` (Val de Loue, November
2026): the rollup gives exactly the live counts; a change that moves a count (a status, an
answer, a label, a deletion, an item stored late) removes its day's row, so the figures
stay exact until the nightly rebuild counts the day again; anything else leaves it."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import InboxItem
from reporting import kpis, services
from reporting.kpis import Period
from reporting.models import INBOX_DAY_COUNTS, InboxDay
from tests.reporting.test_kpis import NOV, Val, at

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the rollup is kept on PostgreSQL"
)

# every day of October and November is settled (more than two days old)
LATER = dt.date(2026, 12, 10)
FIRST = LATER - dt.timedelta(days=2 + 400)  # rows go back 400 days before the last one
LAST = dt.date(2026, 12, 8)
ROWS = (LAST - FIRST).days + 1
OCT = Period.month(2026, 10)


@pytest.fixture
def val(db: Any) -> Val:
    return Val()


def _figures(val: Val) -> tuple[Any, ...]:
    """Everything the dashboards compute from the inbox, whole scopes (where the rollup is
    read), for the interco, a commune, two months, a quarter and a custom range."""
    out: list[Any] = []
    for who in (val.interco, val.aubel):
        for period in (
            NOV,
            OCT,
            Period.quarter(2026, 4),
            Period.custom(at(3, 0).date(), at(22, 0).date()),
        ):
            out += [
                kpis.detail(who, period),
                kpis.overview(who, period),
                kpis.series_set(who, period, ["inbox", "requests", "mentions"]),
                kpis.series_set(who, period, ["inbox", "mentions"], granularity="week"),
            ]
    return tuple(out)


def _live(val: Val, monkeypatch: Any) -> tuple[Any, ...]:
    """The same figures counted from the items the way they were before the rollup."""
    with monkeypatch.context() as m:
        m.setattr(kpis, "_rolled_up", lambda account_ids: False)
        return _figures(val)


def _refresh(val: Val, today: dt.date = LATER, *, full: bool = False) -> int:
    return sum(
        services.inbox_days_refresh(collectivite=c, today=today, full=full)
        for c in (val.interco, val.aubel, val.brez, val.stranger)
    )


def _rows(val: Val) -> dict[dt.date, InboxDay]:
    return {r.day: r for r in InboxDay.objects.for_collectivite(val.aubel)}


def _counted(item_sql: list[str]) -> list[str]:
    """The queries that count items by day (what the rollup spares)."""
    return [q for q in item_sql if "monitoring_inboxitem" in q and "AT TIME ZONE" in q]


def _sql(fn: Any) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [q["sql"] for q in ctx.captured_queries]


def test_the_rollup_gives_the_figures_the_items_give(val: Val, monkeypatch: Any) -> None:
    before = _live(val, monkeypatch)
    assert _figures(val) == before  # nothing rolled up: every day counted from the items
    written = _refresh(val)
    assert written > 0
    rows = _rows(val)
    # a row for every day of the last 400 to 8 December, zero included; its figures are
    # the hand-computed ones
    assert (min(rows), max(rows), len(rows)) == (FIRST, LAST, ROWS)
    assert (rows[dt.date(2026, 11, 10)].requests, rows[dt.date(2026, 11, 10)].resolved) == (1, 1)
    assert (rows[dt.date(2026, 11, 21)].mentions, rows[dt.date(2026, 11, 21)].label_positif) == (
        1,
        1,
    )
    assert rows[dt.date(2026, 11, 3)].volume == 0
    assert {r.time_zone for r in rows.values()} == {"Europe/Paris"}
    # read from the rollup: no item is counted by day any more
    sql = _sql(lambda: kpis.detail(val.interco, NOV))
    assert _counted(sql) == [], _counted(sql)
    assert _figures(val) == before
    # the stored counts are the live ones, day by day
    stored = kpis._day_counts(
        kpis.scope_ids(val.interco), dt.date(2026, 10, 1), LATER, "Europe/Paris"
    )
    InboxDay.objects.dangerously_unscoped().all().delete()
    assert (
        kpis._day_counts(kpis.scope_ids(val.interco), dt.date(2026, 10, 1), LATER, "Europe/Paris")
        == stored
    )


def test_today_and_yesterday_are_counted_from_the_items(val: Val, monkeypatch: Any) -> None:
    before = _live(val, monkeypatch)
    # on 22 November, the days up to the 20th are settled; the 21st (a mention) is not
    _refresh(val, dt.date(2026, 11, 22))
    assert max(_rows(val)) == dt.date(2026, 11, 20)
    sql = _sql(lambda: kpis.detail(val.interco, NOV))
    assert len(_counted(sql)) == 1  # the days from the 21st on, in one query
    assert _figures(val) == before


def test_a_refresh_writes_only_the_missing_days_unless_full(val: Val) -> None:
    assert _refresh(val) > 0
    assert _refresh(val) == 0
    InboxDay.objects.for_collectivite(val.aubel).filter(day=dt.date(2026, 11, 6)).delete()
    assert _refresh(val) == 1
    assert _refresh(val, full=True) == 4 * ROWS  # every day of the four collectivités


@pytest.mark.parametrize(
    ("change", "day"),
    [
        # a moderator closes a request of 6 November (resolved moves)
        (lambda items: items.filter(external_id="i2").update(status="clos"), 6),
        # the open question of 20 November gets its first answer (answered moves)
        (lambda items: items.filter(external_id="i4").update(first_response_at=at(23, 9)), 20),
        # re-triaged after an edit: the mention of the 21st becomes a complaint
        (
            lambda items: items.filter(external_id="i5").update(
                labels=[{"code": "reclamation", "score": 0.9, "reasons": []}], needs_answer=True
            ),
            21,
        ),
        # deleted (the retention purge, an account removed)
        (lambda items: items.filter(external_id="i3").delete(), 10),
    ],
    ids=["closed", "answered", "relabelled", "deleted"],
)
def test_a_change_that_moves_a_count_removes_its_day(
    val: Val, monkeypatch: Any, change: Any, day: int
) -> None:
    _refresh(val)
    change(InboxItem.objects.for_collectivite(val.aubel))
    rows = _rows(val)
    assert dt.date(2026, 11, day) not in rows
    assert len(rows) == ROWS - 1  # only that one
    assert _figures(val) == _live(val, monkeypatch)
    assert _refresh(val) == 1  # the nightly rebuild counts it again
    assert _figures(val) == _live(val, monkeypatch)


def test_a_change_that_moves_no_count_keeps_the_rows(val: Val) -> None:
    _refresh(val)
    items = InboxItem.objects.for_collectivite(val.aubel)
    items.update(priority=3, text="anonymisé")
    items.filter(external_id="i1").update(status="en_attente")  # neither closed nor answered
    assert len(_rows(val)) == ROWS


def test_an_item_moved_to_another_day_removes_both_days(val: Val, monkeypatch: Any) -> None:
    _refresh(val)
    InboxItem.objects.for_collectivite(val.aubel).filter(external_id="i1").update(
        created_at=at(12, 23, minute=30)  # 22:30 UTC: the 12th in Paris, not the 13th
    )
    rows = _rows(val)
    assert dt.date(2026, 11, 2) not in rows and dt.date(2026, 11, 12) not in rows
    assert dt.date(2026, 11, 13) in rows
    assert _figures(val) == _live(val, monkeypatch)


def test_a_service_status_change_removes_its_day(val: Val, monkeypatch: Any) -> None:
    from monitoring.services import item_set_status
    from tests import factories

    _refresh(val)
    admin = factories.UserFactory()
    factories.MembershipFactory(collectivite=val.aubel, user=admin, role="moderateur")
    item = InboxItem.objects.for_collectivite(val.aubel).get(external_id="i4")
    item_set_status(actor=admin, item=item, status=InboxItem.Status.CLOS)
    assert dt.date(2026, 11, 20) not in _rows(val)
    assert _figures(val) == _live(val, monkeypatch)


def test_an_item_stored_late_is_told_and_removes_its_day(val: Val, monkeypatch: Any) -> None:
    """What the collection does after storing a page (``inbox_days_invalidate``): a page of
    fresh items sends nothing; an item written more than 20 hours before it is stored
    removes its day's row."""
    from monitoring.models import Citizen

    _refresh(val)
    now = dt.datetime(2026, 12, 10, 12, tzinfo=dt.UTC)
    fresh = [now - dt.timedelta(minutes=5), now - dt.timedelta(hours=19)]
    assert (
        _sql(
            lambda: services.inbox_days_invalidate(
                collectivite_id=val.aubel.pk, created_at=fresh, now=now
            )
        )
        == []
    )
    late = at(7, 11)
    InboxItem.objects.create(
        collectivite=val.aubel,
        account=val.fb,
        network="facebook",
        kind="comment",
        external_id="late",
        citizen=Citizen.objects.for_collectivite(val.aubel).get(),
        text="…",
        created_at=late,
        labels=[{"code": "question", "score": 0.8, "reasons": []}],
        needs_answer=True,
    )
    assert dt.date(2026, 11, 7) in _rows(val)  # no INSERT trigger: the collection tells
    assert services.inbox_days_invalidate(
        collectivite_id=val.aubel.pk, created_at=[*fresh, late], now=now
    )
    assert dt.date(2026, 11, 7) not in _rows(val)
    assert _figures(val) == _live(val, monkeypatch)


def test_the_collection_tells_of_an_item_stored_late(val: Val) -> None:
    from monitoring.services import store_entries
    from networks.base import Author, InboxEntry, ItemKind

    _refresh(val)
    entry = InboxEntry(
        kind=ItemKind.COMMENT,
        external_id="late-1",
        author=Author(external_id="someone"),
        text="Une question tardive ?",
        created_at=at(7, 11).astimezone(dt.UTC),
    )
    store_entries(account=val.fb, entries=[entry])
    assert dt.date(2026, 11, 7) not in _rows(val)


def test_a_changed_time_zone_is_counted_from_the_items(val: Val, monkeypatch: Any) -> None:
    """Rows are kept in their collectivité's time zone; a scope read in another one (a
    commune of another zone than its intercommunalité, a zone changed) counts the items."""
    _refresh(val)
    val.aubel.time_zone = "America/Martinique"
    val.aubel.save(update_fields=["time_zone"])
    before = _live(val, monkeypatch)
    assert _figures(val) == before  # the interco still reads Paris days
    assert _refresh(val) > 0  # Aubel's Paris rows dropped, its Martinique days written
    assert {r.time_zone for r in _rows(val).values()} == {"America/Martinique"}
    assert _figures(val) == before


def test_the_nightly_task_is_scheduled(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-inbox-days"]
    assert entry["task"] == "reporting.tasks.refresh_inbox_days"


def test_the_task_refreshes_every_collectivite(val: Val, freezer: Any) -> None:
    from reporting.tasks import refresh_inbox_days

    freezer.move_to("2026-12-10 02:30:00+00:00")
    assert refresh_inbox_days() > 0
    assert max(_rows(val)) == dt.date(2026, 12, 8)
    # a collectivité without messages reads its zeros
    stranger = InboxDay.objects.for_collectivite(val.stranger)
    assert stranger.count() == ROWS and not stranger.exclude(volume=0).exists()


def test_counts_are_in_the_order_the_kpis_read_them() -> None:
    assert INBOX_DAY_COUNTS[:5] == ("volume", "requests", "answered", "resolved", "mentions")
    assert INBOX_DAY_COUNTS[5:] == tuple(f"label_{c}" for c in kpis.TRIAGE_CODES)
    assert ZoneInfo("Europe/Paris")  # the zone the hand-computed world lives in


@pytest.mark.django_db(transaction=True)
def test_a_change_during_the_rebuild_removes_the_row_it_made_stale() -> None:
    """The rebuild counts under the collectivité's advisory lock, taken before it reads;
    a moderator's change made meanwhile waits for the rebuild to commit, then deletes the
    row the rebuild wrote from a snapshot without that change."""
    import threading
    import time

    from django.db import connections, transaction

    val = Val()
    day = dt.date(2026, 11, 20)
    _refresh(val)
    InboxDay.objects.for_collectivite(val.aubel).filter(day=day).delete()

    def close_the_question() -> None:
        try:
            InboxItem.objects.for_collectivite(val.aubel).filter(external_id="i4").update(
                status="clos"
            )
        finally:
            connections.close_all()

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [services.INBOX_DAY_LOCK, val.aubel.pk]
            )
        moderator = threading.Thread(target=close_the_question)
        moderator.start()
        waiting = False
        for _ in range(100):  # the moderator's update waits for the lock in its trigger
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = %s AND NOT granted",
                    [services.INBOX_DAY_LOCK],
                )
                waiting = cursor.fetchone()[0] == 1
            if waiting:
                break
            time.sleep(0.05)
        assert waiting
        # the rebuild counts the day from a snapshot without the uncommitted change
        assert services.inbox_days_refresh(collectivite=val.aubel, today=LATER) == 1
        assert InboxDay.objects.for_collectivite(val.aubel).get(day=day).resolved == 0
    moderator.join(10)
    assert not moderator.is_alive()
    assert not InboxDay.objects.for_collectivite(val.aubel).filter(day=day).exists()
    assert services.inbox_days_refresh(collectivite=val.aubel, today=LATER) == 1
    assert InboxDay.objects.for_collectivite(val.aubel).get(day=day).resolved == 1
