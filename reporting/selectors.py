"""Reads of the reporting app other than the KPIs (those are in ``reporting.kpis``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Min, Sum

from collectivites.models import Collectivite
from reporting.models import WebAnalyticsRow


@dataclass(frozen=True)
class WebAnalyticsOverview:
    rows: int
    visits: int
    first_day: dt.date | None
    last_day: dt.date | None
    last_import: dt.datetime | None


def web_analytics_overview(*, collectivite: Collectivite) -> WebAnalyticsOverview:
    """What the collectivité has imported so far from its web analytics."""
    agg = WebAnalyticsRow.objects.for_collectivite(collectivite).aggregate(
        rows=Count("pk"),
        visits=Sum("visits"),
        first_day=Min("day"),
        last_day=Max("day"),
        last_import=Max("imported_at"),
    )
    return WebAnalyticsOverview(
        rows=agg["rows"],
        visits=agg["visits"] or 0,
        first_day=agg["first_day"],
        last_day=agg["last_day"],
        last_import=agg["last_import"],
    )
