"""Reads shared by the inbox pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from collectivites.models import Collectivite
from monitoring.models import InboxItem, Reply, SavedReply

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
        ids = [i.pk for i in qs.only("pk", "labels") if label in i.label_codes]
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
