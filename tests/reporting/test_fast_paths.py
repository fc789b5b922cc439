"""The KPIs' fast paths give the figures the portable paths give, on the hand-computed world
of ``test_kpis`` (Val de Loue, November 2026):

- PostgreSQL reads each post's latest snapshot with ``DISTINCT ON`` and matches triage
  labels by JSONB containment; SQLite (and this test, forced) uses the correlated subquery
  and the text match. The same database runs both here, so whichever the suite runs on,
  both are compared.
- First-response durations stored with each item (``first_response_business_seconds``) give
  what computing them from the timestamps gives.
- The élus' overview gives the detail's figures and commune rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection

from monitoring.models import InboxItem
from monitoring.services import response_hours
from reporting import kpis
from reporting.kpis import Period
from tests.reporting.test_kpis import NOV, Val


@pytest.fixture
def val(db: Any) -> Val:
    return Val()


def _everything(collectivite: Any, period: Period) -> tuple[Any, ...]:
    return (
        kpis.detail(collectivite, period),
        kpis.detail(collectivite, period, network="facebook"),
        kpis.summary(collectivite, period),
        kpis.overview(collectivite, period),
        [
            kpis.series(collectivite, period, m, granularity="week")
            for m in ("interactions", "engagement_rate", "posts")
        ],
    )


def test_the_vendor_path_and_the_portable_path_agree(val: Val, monkeypatch: Any) -> None:
    fast = _everything(val.interco, NOV) + _everything(val.aubel, Period.quarter(2026, 4))
    monkeypatch.setattr(kpis, "_postgres", lambda: False)
    portable = _everything(val.interco, NOV) + _everything(val.aubel, Period.quarter(2026, 4))
    assert fast == portable
    d = fast[0]
    # and they are the hand-computed figures: V1's latest snapshot (not its early one)
    v1 = next(p for p in d.top_posts if p.variant_id == val.v1.pk)
    assert (v1.impressions, v1.interactions) == (400, 30)
    triage = {t.code: t.count for t in d.inbox.triage}
    assert (triage["question"], triage["reclamation"], triage["positif"]) == (3, 1, 1)


def test_posts_without_figures_count_as_posts_only(val: Val, monkeypatch: Any) -> None:
    """A post not measured yet counts as a post and adds nothing (not a zero) to the
    figures, on PostgreSQL (the variants joined to their kept latest figures) as on the
    portable path."""
    from publishing.models import Variant
    from tests import factories

    user = factories.UserFactory()
    for n, account in enumerate((val.md, val.md, val.fb)):
        pub = factories.PublicationFactory(
            collectivite=account.collectivite, author=user, urgent=n == 2, title=f"U{n}"
        )
        factories.VariantFactory(
            publication=pub,
            account=account,
            state=Variant.State.PUBLISHED,
            published_at=dt.datetime(2026, 11, 14 + n, 10, tzinfo=dt.UTC),
            external_id=f"unmeasured-{n}",
        )
    fast = _everything(val.interco, NOV)
    monkeypatch.setattr(kpis, "_postgres", lambda: False)
    assert fast == _everything(val.interco, NOV)
    md = next(a for a in fast[0].accounts if a.account_id == val.md.pk)
    assert md.posts == 3 and md.interactions == 10  # V2 only: 6 + 3 + 1


def test_top_posts_keep_five_per_reason_and_break_ties_by_age(val: Val, monkeypatch: Any) -> None:
    """Seven posts with the same figures: each reason keeps ``TOP_POSTS`` of them, the
    oldest variants first, on PostgreSQL (picked in the database) as on the portable path.
    A post without impressions has no engagement rate and one without comments is no
    reason for comments."""
    from publishing.models import Variant
    from reporting.models import PostMetricDay
    from tests import factories

    user = factories.UserFactory()
    tied = []
    for n in range(7):
        pub = factories.PublicationFactory(collectivite=val.aubel, author=user, title=f"T{n}")
        variant = factories.VariantFactory(
            publication=pub,
            account=val.fb,
            state=Variant.State.PUBLISHED,
            published_at=dt.datetime(2026, 11, 2 + n, 10, tzinfo=dt.UTC),
            external_id=f"tied-{n}",
        )
        PostMetricDay.objects.create(
            collectivite=val.aubel,
            variant=variant,
            day=dt.date(2026, 11, 28),
            impressions=None if n == 6 else 1500,
            reach=900,
            reactions=50,
            comments=0 if n == 5 else 10,
            shares=40,
        )
        tied.append(variant.pk)
    fast = kpis.detail(val.interco, NOV).top_posts
    monkeypatch.setattr(kpis, "_postgres", lambda: False)
    assert fast == kpis.detail(val.interco, NOV).top_posts
    by_reason = {
        reason: [p.variant_id for p in fast if p.reason == reason]
        for reason in ("reach", "engagement", "comments")
    }
    # V3 (1,500 impressions, reach 900, 10 comments) ties with them and is older than all;
    # V1's rate is higher (30 interactions for 400 impressions: 7.5 % against 6.67 %)
    assert by_reason["reach"] == [val.v3.pk, *tied[:4]]
    assert by_reason["engagement"] == [val.v1.pk, val.v3.pk, *tied[:3]]
    assert by_reason["comments"] == [val.v3.pk, *tied[:4]]
    assert fast[0].title == "V3" and fast[0].network == "facebook"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_postgres_reads_latest_snapshots_from_the_kept_table(val: Val) -> None:
    from publishing.models import Variant

    variants = Variant.objects.for_collectivite(val.aubel)
    sql = str(kpis._latest_post_rows([val.aubel.pk], variants).query)
    assert 'FROM "reporting_postmetriclatest"' in sql
    assert "@>" in str(InboxItem.objects.for_collectivite(val.aubel).filter(
        kpis._label_filter("question")
    ).query)  # fmt: skip


def _latest_by_hand() -> dict[int, tuple[Any, ...]]:
    """Each variant's latest snapshot, computed from every ``PostMetricDay`` row."""
    from reporting.models import PostMetricDay

    latest: dict[int, tuple[Any, ...]] = {}
    for row in (
        PostMetricDay.objects.dangerously_unscoped()
        .order_by("day")
        .values_list("variant_id", "collectivite_id", *_FIGURES)
    ):
        latest[row[0]] = row[1:]
    return latest


_FIGURES = ("day", "impressions", "reach", "reactions", "comments", "shares", "saves")


def _kept() -> dict[int, tuple[Any, ...]]:
    from reporting.models import PostMetricLatest

    return {
        row[0]: row[1:]
        for row in PostMetricLatest.objects.dangerously_unscoped().values_list(
            "variant_id", "collectivite_id", *_FIGURES
        )
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL trigger")
def test_the_latest_table_follows_every_write_to_the_snapshots(val: Val, monkeypatch: Any) -> None:
    """The trigger keeps ``PostMetricLatest`` equal to the latest row of each variant
    through inserts (older or newer), the collection's upsert, updates, a change of day
    and deletes, whoever writes."""
    from reporting.models import PostMetricDay
    from reporting.services import _upsert_post_days

    assert _kept() == _latest_by_hand()
    assert _kept()[val.v1.pk][1:3] == (dt.date(2026, 11, 20), 400)
    snaps = PostMetricDay.objects.for_collectivite(val.aubel)
    # an older snapshot arriving late does not replace the latest
    snaps.create(collectivite=val.aubel, variant=val.v1, day=dt.date(2026, 11, 10), impressions=1)
    assert _kept()[val.v1.pk][1:3] == (dt.date(2026, 11, 20), 400)
    # the collection's upsert of the latest day changes its figures
    _upsert_post_days(
        [PostMetricDay(collectivite=val.aubel, variant=val.v1, day=dt.date(2026, 11, 20),
                       impressions=450, reach=320, reactions=21, comments=6, shares=4)]
    )  # fmt: skip
    assert _kept()[val.v1.pk][1:3] == (dt.date(2026, 11, 20), 450)
    # an update by hand, a day moved back, a delete: recomputed from the snapshots
    snaps.filter(variant=val.v1, day=dt.date(2026, 11, 20)).update(day=dt.date(2026, 11, 8))
    assert _kept()[val.v1.pk][1:3] == (dt.date(2026, 11, 10), 1)
    snaps.filter(variant=val.v1, day=dt.date(2026, 11, 10)).delete()
    assert _kept()[val.v1.pk][1:3] == (dt.date(2026, 11, 8), 450)
    snaps.filter(variant=val.v3).delete()
    assert val.v3.pk not in _kept()
    assert _kept() == _latest_by_hand()
    # and the figures read from it are still those of the portable query
    fast = _everything(val.interco, NOV)
    monkeypatch.setattr(kpis, "_postgres", lambda: False)
    assert _everything(val.interco, NOV) == fast


_MONTH_FIGURES = ("impressions", "reach", "profile_visits", "link_clicks")


def _months_by_hand() -> dict[tuple[int, dt.date], tuple[Any, ...]]:
    """Each account's months computed from every ``AccountMetricDay`` row: the sums (None
    where no day has the figure) and the last count of followers with its day."""
    from reporting.models import AccountMetricDay

    months: dict[tuple[int, dt.date], dict[str, Any]] = {}
    for row in (
        AccountMetricDay.objects.dangerously_unscoped()
        .order_by("day")
        .values("account_id", "collectivite_id", "day", "followers", *_MONTH_FIGURES)
    ):
        month = months.setdefault(
            (row["account_id"], row["day"].replace(day=1)),
            {"collectivite_id": row["collectivite_id"], "followers": None, "day": None}
            | dict.fromkeys(_MONTH_FIGURES),
        )
        if row["followers"] is not None:
            month["followers"], month["day"] = row["followers"], row["day"]
        for f in _MONTH_FIGURES:
            if row[f] is not None:
                month[f] = (month[f] or 0) + row[f]
    return {
        key: (m["collectivite_id"], m["followers"], m["day"], *(m[f] for f in _MONTH_FIGURES))
        for key, m in months.items()
    }


def _months_kept() -> dict[tuple[int, dt.date], tuple[Any, ...]]:
    from reporting.models import AccountMetricMonth

    return {
        (row[0], row[1]): row[2:]
        for row in AccountMetricMonth.objects.dangerously_unscoped().values_list(
            "account_id",
            "month",
            "collectivite_id",
            "followers",
            "followers_day",
            *_MONTH_FIGURES,
        )
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL trigger")
def test_the_month_table_follows_every_write_to_the_days(val: Val, monkeypatch: Any) -> None:
    """The trigger keeps ``AccountMetricMonth`` equal to the sums and last followers of
    each account's days through inserts (in any order), the collection's upsert, updates,
    a day moved to another month and deletes, whoever writes; the KPIs read from it are
    those of the days."""
    from reporting.models import AccountMetricDay
    from reporting.services import _upsert_account_day

    nov = dt.date(2026, 11, 1)
    assert _months_kept() == _months_by_hand()
    assert _months_kept()[(val.fb.pk, nov)][1:4] == (1050, dt.date(2026, 11, 30), 1200 + 800)
    days = AccountMetricDay.objects.for_collectivite(val.aubel)
    # an earlier day arriving late adds to the sums and leaves the last followers alone;
    # a day without reach leaves reach as it was (not a zero)
    days.create(collectivite=val.aubel, account=val.fb, day=dt.date(2026, 11, 5),
                followers=1, impressions=7, profile_visits=3)  # fmt: skip
    assert _months_kept()[(val.fb.pk, nov)][1:6] == (1050, dt.date(2026, 11, 30), 2007, 1200, 3)
    # the collection's upsert of a day already there replaces its figures
    _upsert_account_day(
        AccountMetricDay(collectivite=val.aubel, account=val.fb, day=dt.date(2026, 11, 30),
                         followers=1060, impressions=1300, reach=None)
    )  # fmt: skip
    assert _months_kept()[(val.fb.pk, nov)][1:5] == (1060, dt.date(2026, 11, 30), 2107, 500)
    # by hand: the last day moved to October, then deleted; a month left with no day goes
    days.filter(account=val.fb, day=dt.date(2026, 11, 30)).update(day=dt.date(2026, 10, 20))
    assert _months_kept()[(val.fb.pk, nov)][1:3] == (1020, dt.date(2026, 11, 10))
    assert _months_kept() == _months_by_hand()
    days.filter(account=val.fb, day=dt.date(2026, 12, 1)).delete()
    assert (val.fb.pk, dt.date(2026, 12, 1)) not in _months_kept()
    assert _months_kept() == _months_by_hand()
    # and the figures read from it are still those of the days
    fast = _everything(val.interco, NOV) + _everything(val.aubel, Period.quarter(2026, 4))
    monkeypatch.setattr(kpis, "_postgres", lambda: False)
    assert _everything(val.interco, NOV) + _everything(val.aubel, Period.quarter(2026, 4)) == fast


def test_periods_of_whole_months_and_other_periods_give_the_same_sums(
    val: Val, monkeypatch: Any
) -> None:
    """A custom period of whole months whose previous period is not (31 days before
    October: from August 31) mixes both on PostgreSQL: its last followers from the months'
    rows, the previous ones and the sums from the days. The figures are the portable ones."""
    whole = Period.custom(dt.date(2026, 10, 1), dt.date(2026, 11, 1))
    assert kpis._whole_months(whole) and not kpis._whole_months(whole.previous())
    fast = kpis.detail(val.interco, whole)
    monkeypatch.setattr(kpis, "_postgres", lambda: False)
    assert kpis.detail(val.interco, whole) == fast


def test_stored_business_seconds_give_the_computed_durations(val: Val) -> None:
    before = kpis.detail(val.interco, NOV).inbox
    # what monitoring stores when the first answer is sent, for every answered item
    hours = response_hours(val.aubel)
    items = InboxItem.objects.for_collectivite(val.aubel).filter(first_response_at__isnull=False)
    for item in items:
        InboxItem.objects.for_collectivite(val.aubel).filter(pk=item.pk).update(
            first_response_business_seconds=hours.waited(item.created_at, item.first_response_at)
        )
    after = kpis.detail(val.interco, NOV).inbox
    assert after == before
    assert (after.median_hours, after.p90_hours, after.previous_median_hours) == (
        pytest.approx(3.0),
        pytest.approx(3.0 + (7.0 - 3.0) * 0.8),
        pytest.approx(6.0),
    )
    # the stored figure is the one used: a different stored duration changes the median
    InboxItem.objects.for_collectivite(val.aubel).filter(external_id="i1").update(
        first_response_business_seconds=10 * 3600
    )
    assert kpis.detail(val.interco, NOV).inbox.median_hours == pytest.approx(7.0)


def test_overview_is_the_details_figures_and_communes(val: Val) -> None:
    from reporting.report import SUMMARY_KEYS

    for collectivite in (val.interco, val.aubel):
        for period in (NOV, Period.year(2026), Period.custom(dt.date(2026, 11, 3), NOV.end)):
            d = kpis.detail(collectivite, period)
            o = kpis.overview(collectivite, period)
            assert o.figures == [f for f in d.figures if f.key in SUMMARY_KEYS]
            assert o.figures == kpis.summary(collectivite, period)
            assert (o.communes, o.communes_total) == (d.communes, d.communes_total)
    assert [r.name for r in kpis.overview(val.interco, NOV).communes] == [
        "Val de Loue",
        "Aubel",
        "Brézolles",
    ]


def test_the_elu_dashboard_does_not_compute_the_detail(val: Val, monkeypatch: Any) -> None:
    from django.test import Client

    from collectivites.permissions import Role
    from tests import factories

    user = factories.UserFactory(email="elu@val.example")
    factories.MembershipFactory(collectivite=val.interco, user=user, role=Role.LECTEUR)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the élu page must not compute the whole detail")

    monkeypatch.setattr(kpis, "detail", refuse)
    client = Client()
    client.force_login(user)
    response = client.get(f"/c/{val.interco.slug}/rapports/?periode=2026-11")
    assert response.status_code == 200
    assert "Brézolles" in response.content.decode()


def _queries(fn: Any) -> list[str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [q["sql"] for q in ctx.captured_queries]


def test_the_number_of_queries_does_not_grow_with_the_accounts(val: Val) -> None:
    """The overview and the detail of an intercommunalité read grouped rows: a fixed number
    of queries whatever the number of its accounts, posts and messages (no query per
    account, per post or per commune)."""
    from publishing.models import Variant
    from reporting.models import AccountMetricDay, PostMetricDay
    from reporting.report import chart_specs
    from tests import factories

    def pages() -> tuple[int, int]:
        overview = _queries(
            lambda: (kpis.overview(val.interco, NOV), chart_specs(val.interco, NOV))
        )
        detail = _queries(lambda: kpis.detail(val.interco, NOV))
        return len(overview), len(detail)

    before = pages()
    user = factories.UserFactory()
    for n in range(4):
        account = factories.SocialAccountFactory(collectivite=val.brez, network="facebook")
        for day in (dt.date(2026, 9, 30), dt.date(2026, 10, 31), dt.date(2026, 11, 30)):
            AccountMetricDay.objects.create(
                collectivite=val.brez, account=account, day=day, followers=10 + n, reach=3
            )
        pub = factories.PublicationFactory(collectivite=val.brez, author=user, title=f"N{n}")
        variant = factories.VariantFactory(
            publication=pub,
            account=account,
            state=Variant.State.PUBLISHED,
            published_at=dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC),
            external_id=f"n{n}",
        )
        PostMetricDay.objects.create(
            collectivite=val.brez, variant=variant, day=dt.date(2026, 11, 4), impressions=5
        )
    assert pages() == before
    overview, detail = before
    # the inbox's counts: the rollup's rows and the items of the days not rolled up (two
    # queries where there was one, for the figures and for the charts)
    assert overview <= 20 and detail <= 31, before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="percentile_cont")
def test_stored_durations_are_summarised_in_the_database(val: Val) -> None:
    """Once every answered item has its stored seconds, PostgreSQL gives the percentiles
    (``percentile_cont``, the same interpolation) and no duration is read into Python."""
    computed = kpis.detail(val.interco, NOV).inbox
    hours = response_hours(val.aubel)
    items = InboxItem.objects.for_collectivite(val.aubel).filter(first_response_at__isnull=False)
    for item in items:
        items.filter(pk=item.pk).update(
            first_response_business_seconds=hours.waited(item.created_at, item.first_response_at)
        )
    sql = _queries(lambda: kpis.detail(val.interco, NOV))
    durations = [q for q in sql if "first_response_business_seconds" in q]
    assert len(durations) == 1 and "PERCENTILE_CONT" in durations[0], durations
    assert kpis.detail(val.interco, NOV).inbox == computed
