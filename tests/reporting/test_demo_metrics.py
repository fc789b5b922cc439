"""The demo has figures to show: seed_demo adds about 90 days of metrics, once."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from collectivites.models import Collectivite
from reporting import kpis
from reporting.models import AccountMetricDay


@pytest.mark.django_db
def test_seed_demo_gives_the_dashboards_figures_once() -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    commune = Collectivite.objects.get(slug="saint-aubin")
    rows = AccountMetricDay.objects.for_collectivite(commune).count()
    assert rows >= 3 * 90
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert AccountMetricDay.objects.for_collectivite(commune).count() == rows

    interco = Collectivite.objects.get(slug="val-des-tilleuls")
    last_month = kpis.Period.containing(timezone.localdate(), "month").previous()
    figures: dict[str, Any] = {f.key: f for f in kpis.summary(interco, last_month)}
    for key in ("audience", "reach", "reach_per_1000", "engagement_rate", "posts_published"):
        assert figures[key].value, key
    assert figures["response_time_median"].value is not None
    detail = kpis.detail(interco, last_month)
    assert detail.top_posts and detail.web.visits
    assert len(detail.communes) == 2
