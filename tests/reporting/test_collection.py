"""Daily metric collection: through the sandbox and through the real adapters with the
networks faked at the HTTP transport (payloads under tests/networks/payloads)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import responses
from django.utils import timezone

from collectivites.models import SocialAccount
from networks.models import SandboxFault, SandboxPost
from publishing.models import Variant
from reporting import services
from reporting.models import AccountMetricDay, MetricCollectionState, PostMetricDay
from tests import factories

PAYLOADS = Path(__file__).parent.parent / "networks" / "payloads"
# 10:00 in Paris on Friday 20 November 2026: "yesterday" is the 19th
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 20)
YESTERDAY = dt.date(2026, 11, 19)


def payload(network: str, name: str) -> Any:
    return json.loads((PAYLOADS / network / name).read_text(encoding="utf-8"))


@pytest.fixture
def sandbox(db: Any) -> SocialAccount:
    return factories.SocialAccountFactory(
        network="sandbox", external_id="sandbox-ville", credentials={"token": "t"}
    )


def published(account: SocialAccount, external_id: str, when: dt.datetime) -> Variant:
    return factories.VariantFactory(
        publication__collectivite=account.collectivite,
        account=account,
        state=Variant.State.PUBLISHED,
        published_at=when,
        external_id=external_id,
    )


def rows(model: Any, account: SocialAccount) -> Any:
    return model.objects.for_collectivite(account.collectivite)


def state(account: SocialAccount) -> MetricCollectionState:
    return rows(MetricCollectionState, account).get(account=account)


def test_sandbox_day_and_posts_stored_once_whatever_the_reruns(sandbox: SocialAccount) -> None:
    post = SandboxPost.objects.create(
        account_external_id=sandbox.external_id, text="Marché de Noël", link="https://v.example"
    )
    SandboxPost.objects.filter(pk=post.pk).update(created_at=NOW - dt.timedelta(days=3))
    recent = published(sandbox, post.external_id, NOW - dt.timedelta(days=3))
    published(sandbox, "too-old", NOW - dt.timedelta(days=45))  # outside the 30 days

    result = services.metrics_collect_account(account=sandbox, now=NOW)

    assert result.days == [YESTERDAY] and result.posts == 1 and result.error == ""
    (day,) = rows(AccountMetricDay, sandbox).filter(account=sandbox)
    assert day.day == YESTERDAY
    assert day.followers > 0 and day.reach is not None and day.link_clicks is not None
    (snapshot,) = rows(PostMetricDay, sandbox).filter(variant=recent)
    assert snapshot.day == TODAY
    assert snapshot.impressions > 0 and snapshot.saves is None  # sandbox gives no saves
    assert state(sandbox).last_day == YESTERDAY
    assert state(sandbox).next_run_at > NOW

    # the same day again (a retry, a second worker): same rows, same figures
    first = (day.followers, day.impressions, snapshot.impressions)
    MetricCollectionState.objects.for_collectivite(sandbox.collectivite).update(last_day=None)
    services.metrics_collect_account(account=sandbox, now=NOW)
    assert rows(AccountMetricDay, sandbox).count() == 1
    assert rows(PostMetricDay, sandbox).count() == 1
    again = rows(AccountMetricDay, sandbox).get()
    assert (again.followers, again.impressions, rows(PostMetricDay, sandbox).get().impressions) == (
        first
    )


def test_back_fill_after_an_outage_up_to_30_days(sandbox: SocialAccount) -> None:
    services.metrics_collect_account(account=sandbox, now=NOW - dt.timedelta(days=5))
    assert state(sandbox).last_day == YESTERDAY - dt.timedelta(days=5)

    result = services.metrics_collect_account(account=sandbox, now=NOW)

    assert result.days == [YESTERDAY - dt.timedelta(days=n) for n in range(4, -1, -1)]
    assert rows(AccountMetricDay, sandbox).count() == 6

    MetricCollectionState.objects.for_collectivite(sandbox.collectivite).update(
        last_day=TODAY - dt.timedelta(days=90)
    )
    result = services.metrics_collect_account(account=sandbox, now=NOW + dt.timedelta(days=40))
    assert len(result.days) == 30
    assert result.days[0] == TODAY + dt.timedelta(days=10)


@pytest.mark.parametrize(
    ("error", "retry"),
    [("rate_limited", True), ("transient", True), ("auth_expired", False)],
)
def test_network_errors_are_a_normal_day(sandbox: SocialAccount, error: str, retry: bool) -> None:
    SandboxFault.objects.create(
        account_external_id=sandbox.external_id,
        operation="fetch_account_metrics",
        error=error,
        remaining=1,
    )
    result = services.metrics_collect_account(account=sandbox, now=NOW)

    assert result.days == [] and result.error
    assert not rows(AccountMetricDay, sandbox).exists()
    st = state(sandbox)
    assert st.last_error == result.error and st.last_day is None
    sandbox.refresh_from_db()
    if retry:  # tried again within the day
        assert st.next_run_at - timezone.now() < dt.timedelta(hours=2)
        assert sandbox.status == SocialAccount.Status.CONNECTED
        # the fault is spent: the next run collects the day and clears the error
        services.metrics_collect_account(account=sandbox, now=NOW)
        assert rows(AccountMetricDay, sandbox).count() == 1
        assert state(sandbox).last_error == ""
    else:  # call_network marked the account; the scheduler no longer claims it
        assert sandbox.status == SocialAccount.Status.TO_RECONNECT
        assert services.metrics_collect_due(now=NOW + dt.timedelta(days=2)) == []


def test_the_scheduler_spreads_accounts_and_claims_each_once(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    accounts = [
        factories.SocialAccountFactory(network="sandbox", credentials={"token": "t"})
        for _ in range(6)
    ]
    factories.SocialAccountFactory(status=SocialAccount.Status.DISCONNECTED)
    assert services.metrics_collect_due(now=NOW) == []  # states created, not due yet
    slots = {state(a).next_run_at for a in accounts}
    assert len(slots) > 1  # not all at the same moment
    assert all(NOW < s <= NOW + dt.timedelta(days=1) for s in slots)

    later = NOW + dt.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        claimed = services.metrics_collect_due(now=later)
    assert sorted(a for _c, a in claimed) == sorted(a.pk for a in accounts)
    # the eager worker ran each task: yesterday's metrics stored, next run tomorrow
    assert all(rows(AccountMetricDay, a).filter(account=a).exists() for a in accounts)
    assert services.metrics_collect_due(now=later) == []


# --- real adapters, faked at the transport ------------------------------------------------------

GRAPH = "https://graph.facebook.com/v26.0"
PAGE_ID = "546349135390552"
POST1 = f"{PAGE_ID}_1116692661689527"
POST2 = f"{PAGE_ID}_1116692661689999"
MASTODON = "https://mastodon.example"
STATUS = "113500000000000001"


@pytest.fixture
def meta_app(settings: Any) -> None:
    apps = dict(settings.PARVIS_NETWORK_APPS)
    apps["facebook"] = {"client_id": "438296512345678", "client_secret": "app-secret"}
    settings.PARVIS_NETWORK_APPS = apps


def test_facebook_page_insights_and_posts(db: Any, meta_app: None) -> None:
    account = factories.SocialAccountFactory(
        network="facebook", external_id=PAGE_ID, credentials={"access_token": "EAAG-token"}
    )
    first = published(account, POST1, NOW - dt.timedelta(days=2))
    second = published(account, POST2, NOW - dt.timedelta(days=1))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as graph:
        graph.get(f"{GRAPH}/{PAGE_ID}/insights", json=payload("facebook", "page_insights_day.json"))
        graph.get(GRAPH, json=payload("facebook", "post_metrics_ids.json"))
        result = services.metrics_collect_account(account=account, now=NOW)

    assert result.error == "" and result.posts == 2
    day = rows(AccountMetricDay, account).get()
    assert (day.followers, day.impressions, day.reach, day.profile_visits) == (
        4210,
        15873,
        6120,
        388,
    )
    assert day.link_clicks is None  # Facebook gives no page-level link clicks: not 0
    one = rows(PostMetricDay, account).get(variant=first)
    assert (one.impressions, one.reach, one.reactions, one.comments, one.shares) == (
        1830,
        1204,
        42,
        9,
        7,
    )
    two = rows(PostMetricDay, account).get(variant=second)
    assert two.shares == 0 and two.impressions is None


def test_facebook_rate_limit_keeps_the_day_for_later(db: Any, meta_app: None) -> None:
    account = factories.SocialAccountFactory(
        network="facebook", external_id=PAGE_ID, credentials={"access_token": "EAAG-token"}
    )
    with responses.RequestsMock() as graph:
        graph.get(
            f"{GRAPH}/{PAGE_ID}/insights", json=payload("facebook", "error_32.json"), status=403
        )
        result = services.metrics_collect_account(account=account, now=NOW)
    assert result.error and not rows(AccountMetricDay, account).exists()
    assert state(account).last_day is None


def test_mastodon_followers_only_and_back_filled_days_left_unknown(db: Any) -> None:
    account = factories.SocialAccountFactory(
        network="mastodon",
        external_id="110000000000000001",
        credentials={"access_token": "user-token"},
        connection_settings={"instance_url": MASTODON, "domain": "mastodon.example"},
    )
    MetricCollectionState.objects.create(
        collectivite=account.collectivite, account=account, last_day=YESTERDAY - dt.timedelta(2)
    )
    variant = published(account, STATUS, NOW - dt.timedelta(days=1))
    with responses.RequestsMock() as http:
        credentials = payload("mastodon", "account_credentials.json")
        http.get(f"{MASTODON}/api/v1/accounts/verify_credentials", json=credentials)
        http.get(
            f"{MASTODON}/api/v1/statuses/{STATUS}",
            json=payload("mastodon", "status_published.json"),
        )
        result = services.metrics_collect_account(account=account, now=NOW)

    assert result.error == "" and result.days == [YESTERDAY - dt.timedelta(1), YESTERDAY]
    days = {d.day: d for d in rows(AccountMetricDay, account)}
    # Mastodon only tells today's count: the back-filled day does not pretend to know it
    assert days[YESTERDAY].followers == 821
    assert days[YESTERDAY - dt.timedelta(1)].followers is None
    assert days[YESTERDAY].reach is None and days[YESTERDAY].impressions is None
    snap = rows(PostMetricDay, account).get(variant=variant)
    assert (snap.reactions, snap.shares, snap.comments, snap.impressions) == (11, 6, 5, None)
