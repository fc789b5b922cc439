"""Reading the audit trail: one collectivité's events, filtered (pages, CSV, API)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from collectivites.models import Collectivite


@dataclass(frozen=True)
class EventFilter:
    actor_id: int | None = None
    action: str = ""
    object_type: str = ""
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive
    text: str = ""


def events(*, collectivite: Collectivite, filters: EventFilter | None = None) -> QuerySet:
    f = filters or EventFilter()
    qs = AuditEvent.objects.for_collectivite(collectivite)
    if f.actor_id is not None:
        qs = qs.filter(actor_id=f.actor_id)
    if f.action:
        qs = qs.filter(action=f.action)
    if f.object_type:
        qs = qs.filter(object_type=f.object_type)
    if f.since:
        qs = qs.filter(created_at__date__gte=f.since)
    if f.until:
        qs = qs.filter(created_at__date__lte=f.until)
    if f.text:
        qs = qs.filter(
            Q(actor_label__icontains=f.text)
            | Q(object_label__icontains=f.text)
            | Q(object_id=f.text)
            | Q(action__icontains=f.text)
        )
    return qs.order_by("-created_at", "-pk")


def actors(*, collectivite: Collectivite) -> list[tuple[int, str]]:
    """Who appears in the collectivité's trail (for the filter), by kept label."""
    rows = (
        AuditEvent.objects.for_collectivite(collectivite)
        .filter(actor_id__isnull=False)
        .values_list("actor_id", "actor_label")
        .distinct()
    )
    seen: dict[int, str] = {}
    for actor_id, label in rows:
        seen.setdefault(actor_id, label)
    return sorted(seen.items(), key=lambda row: row[1].lower())


def object_types(*, collectivite: Collectivite) -> list[str]:
    return sorted(
        set(
            AuditEvent.objects.for_collectivite(collectivite)
            .exclude(object_type="")
            .values_list("object_type", flat=True)
        )
    )
