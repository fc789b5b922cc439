"""Reads shared by the publishing pages, the API and reports."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict

from django.db.models import Prefetch, QuerySet

from collectivites.models import Collectivite
from publishing.models import Publication, Review, Variant


def publications(*, collectivite: Collectivite) -> QuerySet[Publication]:
    return (
        Publication.objects.for_collectivite(collectivite)
        .select_related("author")
        .prefetch_related(
            Prefetch(
                "variants",
                queryset=Variant.objects.for_collectivite(collectivite).select_related("account"),
            )
        )
    )


def publication(*, collectivite: Collectivite, pk: int) -> Publication | None:
    return publications(collectivite=collectivite).filter(pk=pk).first()


def reviews(*, publication: Publication) -> QuerySet[Review]:
    return (
        Review.objects.for_collectivite(publication.collectivite_id)
        .filter(publication=publication)
        .select_related("reviewer")
    )


def variants_between(
    *, collectivite: Collectivite, start: dt.datetime, end: dt.datetime
) -> QuerySet[Variant]:
    return (
        Variant.objects.for_collectivite(collectivite)
        .filter(scheduled_at__gte=start, scheduled_at__lt=end)
        .select_related("account", "publication", "publication__author")
    )


def posts_in_week(
    *,
    collectivite: Collectivite,
    account_id: int,
    around: dt.datetime,
    excluding: int | None = None,
) -> int:
    """Other variants of an account in the local week (Monday to Sunday) of ``around``;
    cancelled and failed ones do not count."""
    tz = zoneinfo.ZoneInfo(collectivite.time_zone)
    local = around.astimezone(tz)
    monday = dt.datetime.combine(local.date() - dt.timedelta(days=local.weekday()), dt.time.min, tz)
    qs = (
        Variant.objects.for_collectivite(collectivite)
        .filter(
            account_id=account_id,
            scheduled_at__gte=monday,
            scheduled_at__lt=monday + dt.timedelta(days=7),
        )
        .exclude(state__in=[Variant.State.CANCELLED, Variant.State.FAILED])
    )
    if excluding:
        qs = qs.exclude(pk=excluding)
    return qs.count()


def theme_history(*, collectivite: Collectivite) -> dict[tuple[int, int, str], int]:
    """Past posts counted by (year, month, campaign): the pre-election guard's precedents."""
    history: dict[tuple[int, int, str], int] = defaultdict(int)
    tz = zoneinfo.ZoneInfo(collectivite.time_zone)
    for when, theme in (
        Variant.objects.for_collectivite(collectivite)
        .filter(state=Variant.State.PUBLISHED, published_at__isnull=False)
        .values_list("published_at", "publication__campaign")
    ):
        local = when.astimezone(tz)
        history[(local.year, local.month, theme or "")] += 1
    return dict(history)
