"""Reads shared by the inbox pages and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
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
    Tag,
    Watch,
    WatchAlert,
    WatchHit,
)

OPEN = [InboxItem.Status.NOUVEAU, InboxItem.Status.ASSIGNE, InboxItem.Status.EN_ATTENTE]

# PostgreSQL's French text search with accents folded (migration 0005 creates it and the
# GIN index over this very expression); SQLite searches with icontains.
SEARCH_CONFIG = "french_unaccent"
# The inbox's order: what needs an answer first (priority comes from the triage labels:
# urgent, insult, question and complaint above the rest), then the longest waiting; the
# id makes the order total, so the API's cursor can resume from any row.
INBOX_ORDER = ("-priority", "created_at", "id")
SEARCH_ORDER = ("-rank", "id")


def _postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def inbox(
    *,
    collectivite: Collectivite,
    status: str = "",
    label: str = "",
    account_id: int | None = None,
    mine_for: int | None = None,
    network: str = "",
    tag_id: int | None = None,
    overdue: bool = False,
    q: str = "",
    now: dt.datetime | None = None,
    assignee_id: int | None = None,
    received_from: dt.datetime | None = None,
    received_before: dt.datetime | None = None,
) -> QuerySet[InboxItem]:
    """The inbox filtered in the database. With ``q``, the matches ranked by relevance
    (PostgreSQL) or newest first (SQLite); otherwise ``INBOX_ORDER``. The dates bound
    when the citizen wrote (``created_at``)."""
    qs = InboxItem.objects.for_collectivite(collectivite).select_related(
        "citizen", "account", "assignee"
    )
    if status == "ouverts" or not status:
        qs = qs.filter(status__in=OPEN)
    elif status in InboxItem.Status.values:
        qs = qs.filter(status=status)
    if account_id:
        qs = qs.filter(account_id=account_id)
    if network:
        qs = qs.filter(network=network)
    if mine_for:
        qs = qs.filter(assignee_id=mine_for)
    if assignee_id:
        qs = qs.filter(assignee_id=assignee_id)
    if received_from:
        qs = qs.filter(created_at__gte=received_from)
    if received_before:
        qs = qs.filter(created_at__lt=received_before)
    if tag_id:
        qs = qs.filter(tags__id=tag_id)
    if label:
        qs = with_label(qs, label)
    if overdue:
        qs = qs.filter(
            due_at__lt=now or timezone.now(), first_response_at__isnull=True, status__in=OPEN
        )
    q = " ".join(q.split())[:200]
    if q:
        return search(qs, q)
    return qs.order_by(*INBOX_ORDER)


def members_who_reply(*, collectivite: Collectivite) -> list[Any]:
    """The members who may take a message (the inbox's "pris en charge par" filter)."""
    from django.contrib.auth import get_user_model

    from collectivites.permissions import Capability
    from collectivites.selectors import member_ids_with

    ids = member_ids_with(collectivite=collectivite, capability=Capability.INBOX_REPLY)
    return list(
        get_user_model().objects.filter(pk__in=ids).order_by("last_name", "first_name", "email")
    )


def arrived_since(*, collectivite: Collectivite, since: dt.datetime) -> int:
    """How many open messages were stored after ``since`` (the inbox page's drawing)."""
    return (
        InboxItem.objects.for_collectivite(collectivite)
        .filter(received_at__gt=since, status__in=OPEN)
        .count()
    )


def with_label(qs: QuerySet[InboxItem], label: str) -> QuerySet[InboxItem]:
    """Items carrying the triage label ``label``: JSONB containment on PostgreSQL (GIN
    index ``inbox_item_labels``; for the open items, migration 0011's per-label partial
    index ``inbox_item_open_<label>`` in ``INBOX_ORDER``, whose predicate is this very
    clause); on SQLite, which has no JSON containment, the label's code as it is written
    in the stored JSON."""
    if _postgres():
        return qs.filter(labels__contains=[{"code": label}])
    import json

    return qs.filter(labels__icontains=json.dumps({"code": label})[1:-1])


def search(qs: QuerySet[InboxItem], q: str) -> QuerySet[InboxItem]:
    """French full-text search (websearch syntax: words, "a phrase", -excluded, or),
    ranked; accents and inflections ignored (« piscines » finds « Piscine »). SQLite:
    every word must appear in the text (case ignored), oldest first."""
    if not _postgres():
        from django.db.models import Q, Value

        words = q.split()
        condition = Q()
        for word in words:
            condition &= Q(text__icontains=word)
        return qs.filter(condition).annotate(rank=Value(1.0)).order_by(*SEARCH_ORDER)
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    vector = SearchVector("text", config=SEARCH_CONFIG)
    query = SearchQuery(q, config=SEARCH_CONFIG, search_type="websearch")
    return (
        qs.alias(document=vector)
        .filter(document=query)
        .annotate(rank=SearchRank(vector, query))
        .order_by(*SEARCH_ORDER)
    )


def keyset_page(qs: QuerySet[Any], cursor: str, size: int) -> tuple[list[Any], str]:
    """One page of ``qs`` (model instances, or dicts from ``values()`` that include the
    order's fields) after ``cursor`` and the cursor of the next page ("" on the last).
    The cursor carries the last row's values of ``qs``'s order (which must be total, as
    ``INBOX_ORDER`` and ``SEARCH_ORDER`` are), so any page costs what the first does and
    rows arriving meanwhile shift nothing. A malformed cursor raises ``ValueError``."""
    fields = [(str(f).lstrip("-"), str(f).startswith("-")) for f in qs.query.order_by]
    if cursor:
        qs = qs.filter(_after(fields, _decode(cursor, len(fields))))
    rows = list(qs[: size + 1])
    page = rows[:size]
    return page, _encode(fields, page[-1]) if len(rows) > size else ""


def _decode(cursor: str, length: int) -> list[Any]:
    import base64
    import binascii
    import json

    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ValueError("bad cursor") from exc
    if not isinstance(values, list) or len(values) != length:
        raise ValueError("bad cursor")
    return values


def _after(fields: list[tuple[str, bool]], values: list[Any]) -> Q:
    """Rows strictly after ``values``: (a, b, c) after (x, y, z) spelled out field by field,
    each descending or ascending."""
    from django.utils.dateparse import parse_datetime

    parsed = []
    for (name, _desc), value in zip(fields, values, strict=True):
        if name.endswith("_at"):
            value = parse_datetime(value) if isinstance(value, str) else None
            if value is None:
                raise ValueError("bad cursor")
        elif not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError("bad cursor")
        parsed.append(value)
    condition = Q()
    for i, (name, desc) in enumerate(fields):
        step = Q(**{f"{name}__{'lt' if desc else 'gt'}": parsed[i]})
        for j in range(i):
            step &= Q(**{fields[j][0]: parsed[j]})
        condition |= step
    return condition


def _encode(fields: list[tuple[str, bool]], row: Any) -> str:
    import base64
    import json

    values = []
    for name, _desc in fields:
        value = row[name] if isinstance(row, dict) else getattr(row, name)
        values.append(value.isoformat() if hasattr(value, "isoformat") else value)
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


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


def pending_replies(*, collectivite: Collectivite) -> QuerySet[Reply]:
    """Replies waiting for a validateur, oldest first."""
    return (
        Reply.objects.for_collectivite(collectivite)
        .filter(state=Reply.State.PENDING)
        .select_related("author", "item", "item__citizen", "item__account")
        .order_by("created_at", "pk")
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


def tags(*, collectivite: Collectivite) -> QuerySet[Tag]:
    return Tag.objects.for_collectivite(collectivite).order_by("name")
