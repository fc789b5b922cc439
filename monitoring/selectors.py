"""Reads shared by the inbox pages and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from collectivites.models import Collectivite
from monitoring.models import (
    Citizen,
    InboxItem,
    MonitoringPolicy,
    Reply,
    SavedReply,
    Service,
    ServiceRequest,
    Watch,
    WatchAlert,
    WatchHit,
)

OPEN = [InboxItem.Status.NOUVEAU, InboxItem.Status.ASSIGNE, InboxItem.Status.EN_ATTENTE]


def inbox(
    *,
    collectivite: Collectivite,
    status: str = "",
    label: str = "",
    account_id: int | None = None,
    mine_for: int | None = None,
) -> QuerySet[InboxItem]:
    qs = (
        InboxItem.objects.for_collectivite(collectivite)
        .select_related("citizen", "account", "assignee")
        .order_by("-priority", "created_at")
    )
    if status == "ouverts" or not status:
        qs = qs.filter(status__in=OPEN)
    elif status in InboxItem.Status.values:
        qs = qs.filter(status=status)
    if account_id:
        qs = qs.filter(account_id=account_id)
    if mine_for:
        qs = qs.filter(assignee_id=mine_for)
    if label:
        # labels is a small JSON list; filter in Python to stay portable (SQLite, PostgreSQL)
        ids = [i.pk for i in qs.select_related(None).only("pk", "labels") if label in i.label_codes]
        qs = qs.filter(pk__in=ids)
    return qs


def item(*, collectivite: Collectivite, pk: int) -> InboxItem | None:
    return (
        InboxItem.objects.for_collectivite(collectivite)
        .select_related("citizen", "account", "assignee", "variant__publication")
        .filter(pk=pk)
        .first()
    )


def thread(*, item: InboxItem) -> QuerySet[InboxItem]:
    """The other items of the same conversation (same root), oldest first."""
    root = item.root_external_id or item.external_id
    return (
        InboxItem.objects.for_collectivite(item.collectivite_id)
        .filter(account_id=item.account_id)
        .filter(root_external_id=root)
        .exclude(pk=item.pk)
        .select_related("citizen")
        .order_by("created_at")
    )


def citizen_history(*, item: InboxItem) -> QuerySet[InboxItem]:
    return (
        InboxItem.objects.for_collectivite(item.collectivite_id)
        .filter(citizen=item.citizen)
        .exclude(pk=item.pk)
        .order_by("-created_at")[:20]
    )


def replies(*, item: InboxItem) -> QuerySet[Reply]:
    return (
        Reply.objects.for_collectivite(item.collectivite_id)
        .filter(item=item)
        .select_related("author")
    )


def saved_replies(*, collectivite: Collectivite) -> QuerySet[SavedReply]:
    return SavedReply.objects.for_collectivite(collectivite)


# --- the watch -----------------------------------------------------------------------------------


def watches(*, collectivite: Collectivite) -> QuerySet[Watch]:
    return Watch.objects.for_collectivite(collectivite).prefetch_related("recipients")


def watch(*, collectivite: Collectivite, pk: int) -> Watch | None:
    return Watch.objects.for_collectivite(collectivite).filter(pk=pk).first()


def watch_mentions(*, watch: Watch) -> QuerySet[InboxItem]:
    return (
        InboxItem.objects.for_collectivite(watch.collectivite_id)
        .filter(watch_hits__watch=watch)
        .select_related("citizen", "account")
        .order_by("-created_at")
    )


def watch_alerts(*, collectivite: Collectivite, watch: Watch | None = None) -> QuerySet[WatchAlert]:
    qs = WatchAlert.objects.for_collectivite(collectivite).select_related("watch")
    if watch is not None:
        qs = qs.filter(watch=watch)
    return qs.order_by("-hour_start")


def watch_hourly_series(
    *, watch: Watch, hours: int = 72, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The last ``hours`` hours, oldest first, zeros included: ``{"hour", "count"}``."""
    end = hour_floor(now or timezone.now()) + dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=hours)
    counts = watch_hourly_counts(watch=watch, since=start, until=end)
    return [
        {
            "hour": (start + dt.timedelta(hours=h)).isoformat(),
            "count": counts.get(start + dt.timedelta(hours=h), 0),
        }
        for h in range(hours)
    ]


def hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def watch_hourly_counts(
    *, watch: Watch, since: dt.datetime, until: dt.datetime
) -> dict[dt.datetime, int]:
    """Mentions per UTC hour in [since, until): hours without any are absent."""
    from django.db.models import Count
    from django.db.models.functions import TruncHour

    rows = (
        WatchHit.objects.for_collectivite(watch.collectivite_id)
        .filter(watch=watch, created_at__gte=since, created_at__lt=until)
        .annotate(hour=TruncHour("created_at", tzinfo=dt.UTC))
        .values("hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {hour_floor(row["hour"]): row["n"] for row in rows}


# --- services, citizens ---------------------------------------------------------------------------


def services_of(*, collectivite: Collectivite) -> QuerySet[Service]:
    return Service.objects.for_collectivite(collectivite).select_related("default_reply")


def service_requests(*, item: InboxItem) -> QuerySet[ServiceRequest]:
    return (
        ServiceRequest.objects.for_collectivite(item.collectivite_id)
        .filter(item=item)
        .select_related("service", "sent_by")
    )


def policy(*, collectivite: Collectivite) -> MonitoringPolicy:
    """The collectivité's retention setting (the default, unsaved, when it never chose)."""
    found = MonitoringPolicy.objects.for_collectivite(collectivite).first()
    return found or MonitoringPolicy(collectivite=collectivite)


def citizen(*, collectivite: Collectivite, pk: int) -> Citizen | None:
    return Citizen.objects.for_collectivite(collectivite).filter(pk=pk).first()


def citizen_items(*, citizen: Citizen) -> QuerySet[InboxItem]:
    return (
        InboxItem.objects.for_collectivite(citizen.collectivite_id)
        .filter(citizen=citizen)
        .select_related("account")
        .prefetch_related("replies")
        .order_by("-created_at")
    )
