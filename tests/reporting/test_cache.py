"""A closed period's KPIs are kept in the cache and recomputed when its data changes; the
current period is always computed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import InboxItem
from reporting import kpis
from reporting.models import MetricCollectionState
from tests.reporting.test_kpis import NOV, Val


@pytest.fixture
def val(db: Any, settings: Any) -> Val:
    settings.PARVIS_REPORTING_CACHE_SECONDS = 600  # keys hold fresh ids: nothing to clear
    return Val()


def _queries(fn: Any) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return result, len(ctx.captured_queries)


def test_a_closed_period_is_read_from_the_cache_until_its_data_changes(
    val: Val, freezer: Any
) -> None:
    freezer.move_to("2026-12-10 10:00:00")
    first, cold = _queries(lambda: kpis.detail(val.interco, NOV))
    again, warm = _queries(lambda: kpis.detail(val.interco, NOV))
    assert again == first
    assert warm < 10 < cold  # only the data version's few aggregates
    assert kpis.overview(val.interco, NOV).figures == kpis.summary(val.interco, NOV)
    # a late answer to a November question: the figures follow at once
    InboxItem.objects.for_collectivite(val.aubel).filter(external_id="i4").update(
        first_response_at=NOV.bounds("Europe/Paris")[1]
    )
    changed = kpis.detail(val.interco, NOV)
    assert changed.inbox.answered == first.inbox.answered + 1
    # a back-fill by the collection: likewise
    MetricCollectionState.objects.create(
        collectivite=val.aubel, account=val.fb, last_run_at=NOV.bounds("Europe/Paris")[1]
    )
    _, after_backfill = _queries(lambda: kpis.detail(val.interco, NOV))
    assert after_backfill > 10
    # filters and scopes are apart
    assert kpis.detail(val.interco, NOV, network="mastodon").accounts != changed.accounts
    assert kpis.detail(val.aubel, NOV).communes == []


def test_the_current_period_is_always_computed(val: Val, freezer: Any) -> None:
    freezer.move_to("2026-11-20 10:00:00")
    kpis.detail(val.interco, NOV)
    _, n = _queries(lambda: kpis.detail(val.interco, NOV))
    assert n > 10
