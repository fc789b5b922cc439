"""Reads shared by the publishing pages, the API and reports."""

from __future__ import annotations

import datetime as dt

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


def posts_in_week(*, collectivite: Collectivite, account_id: int, around: dt.datetime) -> int:
    """Variants of an account scheduled or published in the ISO week of ``around``
    (cancelled and failed ones do not count)."""
    monday = (around - dt.timedelta(days=around.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return (
        Variant.objects.for_collectivite(collectivite)
        .filter(
            account_id=account_id,
            scheduled_at__gte=monday,
            scheduled_at__lt=monday + dt.timedelta(days=7),
        )
        .exclude(state__in=[Variant.State.CANCELLED, Variant.State.FAILED])
        .count()
    )
