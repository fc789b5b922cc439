"""Collecting citizens' messages and working through them. Every write is here; each
person's action checks the capability."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.models import Action
from audit.services import record
from collectivites.connections import call_network
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability, has_capability
from collectivites.services import require
from monitoring import selectors, spikes
from monitoring.models import (
    Citizen,
    CollectionState,
    InboxItem,
    MonitoringPolicy,
    Reply,
    SavedReply,
    Service,
    ServiceRequest,
    Tag,
    Watch,
    WatchAlert,
    WatchCursor,
    WatchHit,
)
from networks.base import (
    AuthExpired,
    Author,
    InboxEntry,
    ItemKind,
    ItemRef,
    NetworkError,
    NotSupported,
    RateLimited,
    Rejected,
)

logger = logging.getLogger(__name__)
Status = InboxItem.Status

# Collection adapts to activity: soon again when something came, slower when quiet.
ACTIVE_INTERVAL = dt.timedelta(minutes=1)
QUIET_INTERVALS = [dt.timedelta(minutes=m) for m in (2, 5, 10, 15)]
CLAIM_LEASE = dt.timedelta(minutes=5)
MAX_PAGES = 10
# Networks that tell a poller nothing of a removal are asked, at most this often per
# account, which of the messages collected in the last GONE_WITHIN are gone.
GONE_EVERY = dt.timedelta(hours=1)
GONE_WITHIN = dt.timedelta(days=7)
GONE_ASKED = 100


# --- collection -------------------------------------------------------------------------------


def collect_due(*, now: dt.datetime | None = None, limit: int = 200) -> list[tuple[int, int]]:
    """Claim accounts whose collection is due (cross-tenant: the scheduler serves every
    collectivité) and queue one task each once committed."""
    from monitoring.tasks import collect_account_task

    now = now or timezone.now()
    for account in (
        SocialAccount.objects.dangerously_unscoped()
        .filter(status=SocialAccount.Status.CONNECTED, collection__isnull=True)
        .only("pk", "collectivite_id")[:limit]
    ):
        CollectionState.objects.get_or_create(
            collectivite_id=account.collectivite_id, account=account, defaults={"next_run_at": now}
        )
    claimed: list[tuple[int, int]] = []
    with transaction.atomic():
        states = list(
            CollectionState.objects.dangerously_unscoped()
            .select_for_update(skip_locked=True)
            .filter(next_run_at__lte=now, account__status=SocialAccount.Status.CONNECTED)
            .order_by("next_run_at")[:limit]
        )
        for state in states:
            # the lease: if the task never runs, the account comes back after it
            CollectionState.objects.dangerously_unscoped().filter(pk=state.pk).update(
                next_run_at=now + CLAIM_LEASE
            )
            claimed.append((state.collectivite_id, state.account_id))
        if claimed:
            transaction.on_commit(lambda: [collect_account_task.delay(c, a) for c, a in claimed])
    return claimed


def _next_interval(state: CollectionState, found: int, now: dt.datetime) -> dt.timedelta:
    """Soon again when something came; otherwise the next step after the time since the
    run before (not ``next_run_at``, which the claim's lease has overwritten by now)."""
    if found:
        return ACTIVE_INTERVAL
    previous = now - state.last_run_at if state.last_run_at else None
    for step in QUIET_INTERVALS:
        if previous is None or step > previous:
            return step
    return QUIET_INTERVALS[-1]


def collect_account(*, account: SocialAccount, now: dt.datetime | None = None) -> int:
    """Fetch what is new since the stored cursor; store items and the new cursor in one
    transaction per page, so a worker that dies loses nothing and repeats nothing."""
    from monitoring.triage import triage

    state, _created = CollectionState.objects.for_collectivite(
        account.collectivite_id
    ).get_or_create(collectivite_id=account.collectivite_id, account=account)
    found = 0
    error = ""
    retry_at: dt.datetime | None = None
    try:
        for _page in range(MAX_PAGES):
            cursor = state.cursor or None
            page = call_network(account, lambda a, ref, c=cursor: a.fetch_inbox(ref, c))
            with transaction.atomic():
                found += _store(account, page.items, triage, listed=page.listed)
                if page.next_cursor:
                    state.cursor = page.next_cursor
                CollectionState.objects.for_collectivite(account.collectivite_id).filter(
                    pk=state.pk
                ).update(cursor=state.cursor)
            if not page.has_more:
                break
    except RateLimited as exc:
        error = _("Le réseau demande de ralentir.")
        retry_at = timezone.now() + dt.timedelta(seconds=exc.retry_after or 900)
    except AuthExpired:
        error = _("Le compte doit être reconnecté.")
    except NetworkError as exc:
        error = f"{type(exc).__name__}: {exc.message}"[:300]
    if not error:
        _check_gone(account, state, triage)
    now = now or timezone.now()
    interval = _next_interval(state, found, now)
    CollectionState.objects.for_collectivite(account.collectivite_id).filter(pk=state.pk).update(
        last_run_at=now,
        last_count=found,
        last_error=error,
        next_run_at=retry_at or now + interval,
    )
    return found


def _check_gone(account: SocialAccount, state: CollectionState, triage: Any) -> int:
    """Ask the network which of the account's recent messages (the newest first, not
    hidden nor deleted by us) are gone, at most every ``GONE_EVERY``; those are stored as
    removed by their authors. Only for networks whose adapter can tell (``Adapter.gone``);
    the others tell removals otherwise (webhooks, listings, changes since the cursor) or
    not at all. A failure is left for the next time."""
    from networks.base import Adapter
    from networks.registry import get_adapter

    now = timezone.now()
    if type(get_adapter(account.network)).gone is Adapter.gone:
        return 0  # the network tells removals otherwise, or not at all
    if state.gone_checked_at and now - state.gone_checked_at < GONE_EVERY:
        return 0
    recent = list(
        _removable(account)
        .filter(created_at__gte=now - GONE_WITHIN)
        .order_by("-created_at")
        .values_list("external_id", "kind")[:GONE_ASKED]
    )
    gone: set[str] = set()
    if recent:
        try:
            gone = call_network(account, lambda a, ref: a.gone(ref, [e for e, _k in recent]))
        except NetworkError as exc:
            logger.info("collection %s: removals not checked (%s)", account.pk, exc.code)
            return 0
    CollectionState.objects.for_collectivite(account.collectivite_id).filter(pk=state.pk).update(
        gone_checked_at=now
    )
    if not gone:
        return 0
    with transaction.atomic():
        return _store(
            account, [_tombstone(e, k) for e, k in recent if e in gone], triage, charter=False
        )


def _tombstone(external_id: str, kind: str) -> InboxEntry:
    """What the network says of a message it removed: only which one it was."""
    return InboxEntry(
        kind=ItemKind(kind),
        external_id=external_id,
        author=Author(external_id=""),
        text="",
        created_at=timezone.now(),
        removed=True,
    )


def _store(
    account: SocialAccount,
    entries: Iterable[InboxEntry],
    triage: Any,
    *,
    charter: bool = True,
    listed: Mapping[str, frozenset[str]] | None = None,
) -> int:
    """Upsert on (account, external_id): an item seen twice is stored once. ``charter``:
    apply the charter afterwards (not for mentions found elsewhere by a watch: those are
    not ours to hide). ``listed``: posts whose comments the network listed in full, with
    the ids present (``Page.listed``); what was stored from them and is absent was removed."""
    entries = list(entries)
    if listed:
        entries.extend(_unlisted(account, listed))
    if not entries:
        return 0
    collectivite_id = account.collectivite_id
    rules = _charter_rules(collectivite_id, account.network)
    triage = _with_escalation(rules.escalation_terms, triage)
    known, variants, authors = _known(account, entries)
    changed = [
        e
        for e in entries
        if e.external_id in known and (e.removed or (e.text and e.text != known[e.external_id]))
    ]
    if changed:
        _store_changes(account, changed, triage, rules.hours, charter=charter)
    fresh = [e for e in entries if e.external_id not in known and not e.removed]
    if not fresh:
        return 0
    citizens = _citizens_for(account, fresh, authors)
    hours = rules.hours
    # a text sent many times (a flood, "Merci !") triaged once: its labels as stored
    triaged: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
    items: list[dict[str, Any]] = []
    urgent: list[str] = []
    for entry in fresh:
        known_text = triaged.get(entry.text)
        if known_text is None:
            result = triage(entry.text)
            known_text = triaged[entry.text] = (result, _labels_of(result))
        result, labels = known_text
        if "urgent" in result.codes:
            urgent.append(entry.external_id)
        items.append(
            {
                "collectivite_id": collectivite_id,
                "account_id": account.pk,
                "network": account.network,
                "kind": entry.kind.value if isinstance(entry.kind, ItemKind) else str(entry.kind),
                "external_id": entry.external_id,
                "parent_external_id": entry.parent_id or "",
                "root_external_id": entry.root_id or "",
                "post_external_id": entry.post_external_id or "",
                "variant_id": variants.get(entry.post_external_id or ""),
                "citizen_id": citizens[_citizen_key(entry)],
                "text": entry.text,
                "language": entry.language or "",
                "created_at": entry.created_at,
                "permalink": entry.permalink[:2000],
                "labels": labels,
                "place": (result.place or "")[:200],
                "priority": result.priority,
                "needs_answer": result.needs_answer,
                "due_at": hours.due(entry.created_at) if result.needs_answer else None,
                "raw": entry.raw,
                "edited_at": entry.edited_at,
            }
        )
    created = _insert_new(items)
    # reporting's daily rollup counts again a past day that gets a message late (sends
    # nothing for a page of recent messages, as a collection's pages are)
    from reporting.services import inbox_days_invalidate

    inbox_days_invalidate(
        collectivite_id=collectivite_id, created_at=[i["created_at"] for i in items]
    )
    _after_store(account, [i["external_id"] for i in items], urgent, charter=charter)
    return created


def _unlisted(account: SocialAccount, listed: Mapping[str, frozenset[str]]) -> list[InboxEntry]:
    """Tombstones for the comments and replies stored from the posts in ``listed`` that the
    network no longer lists: their authors removed them. One we hid or deleted is not
    counted (a network may leave it out), nor one already known to be removed."""
    from django.db.models import Q

    absent = Q()
    for post, present in listed.items():
        absent |= Q(post_external_id=post) & ~Q(external_id__in=list(present))
    rows = (
        _removable(account)
        .filter(absent, post_external_id__in=list(listed))
        .filter(kind__in=[ItemKind.COMMENT, ItemKind.REPLY])
        .values_list("external_id", "kind")
    )
    return [_tombstone(external_id, kind) for external_id, kind in rows]


def _removable(account: SocialAccount) -> Any:
    """The account's messages a network's silence may show removed: not already known to
    be, not anonymised, not hidden nor deleted by us (a network may leave those out)."""
    return (
        InboxItem.objects.for_collectivite(account.collectivite_id)
        .filter(account=account, removed_at__isnull=True, anonymised_at__isnull=True)
        .exclude(status__in=[Status.MASQUE, Status.SUPPRIME])
    )


def _with_escalation(terms: list[str], triage: Any) -> Any:
    """``triage``, plus the charter's rule that some words always escalate: a text that
    holds one is labelled urgent (the reason names the word), so it comes first and the
    moderators are told, whatever the rules or a model made of it."""
    from monitoring.triage import REASONS, Label, fold, needs_answer_of, priority_of

    if not terms:
        return triage
    patterns = [(w, re.compile(rf"(?<!\w){re.escape(fold(w))}(?!\w)")) for w in terms]

    def escalating(text: str) -> Any:
        result = triage(text)
        folded = fold(text)
        reasons = tuple(
            REASONS["charter_keyword"].format(w=word)
            for word, pattern in patterns
            if pattern.search(folded)
        )
        if not reasons:
            return result
        labels = [label for label in result.labels if label.code != "urgent"]
        urgent = next((label for label in result.labels if label.code == "urgent"), None)
        labels.insert(
            0,
            Label(
                code="urgent",
                score=1.0,
                reasons=(*(urgent.reasons if urgent else ()), *reasons),
            ),
        )
        codes = [label.code for label in labels]
        return dataclasses.replace(
            result,
            labels=tuple(labels),
            priority=priority_of(codes),
            needs_answer=needs_answer_of(codes),
        )

    return escalating


def _labels_of(result: Any) -> list[dict[str, Any]]:
    return [
        {"code": label.code, "score": label.score, "reasons": list(label.reasons)}
        for label in result.labels
    ]


# The author removing a message closes it if nobody had started on it; one waiting on a
# service stays there (the report may still stand), an answered or hidden one is done.
_CLOSED_BY_REMOVAL = (Status.NOUVEAU, Status.ASSIGNE)


def _store_changes(
    account: SocialAccount,
    entries: list[InboxEntry],
    triage: Any,
    hours: ResponseHours,
    *,
    charter: bool,
) -> None:
    """What the network says changed about items already stored: a text edited by its
    author (the earlier text kept in ``revisions``, the item triaged again: its labels,
    place, priority and due date follow the new text) or a message removed (marked, and
    closed when nobody had started on it). Each change is recorded; the edit of a
    message already anonymised or deleted by us changes nothing."""
    collectivite_id = account.collectivite_id
    by_id = {e.external_id: e for e in entries}
    items = (
        InboxItem.objects.for_collectivite(collectivite_id)
        .select_for_update()
        .filter(account=account, external_id__in=list(by_id))
        .exclude(status=Status.SUPPRIME)
        .filter(anonymised_at__isnull=True)
    )
    now = timezone.now()
    edited: list[str] = []
    urgent: list[str] = []
    for item in items:
        entry = by_id[item.external_id]
        if entry.removed:
            if item.removed_at is not None:
                continue
            before = item.status
            item.removed_at = now
            if item.status in _CLOSED_BY_REMOVAL:
                item.status = Status.CLOS
            item.save(update_fields=["removed_at", "status"])
            record(
                collectivite=collectivite_id,
                actor=None,
                action=Action.ITEM_REMOVED_BY_AUTHOR,
                obj=item,
                object_label=f"{item.get_kind_display()} {item.network} #{item.pk}",
                before={"status": before},
                after={"status": item.status},
                actor_label="Réseau (retiré par son auteur)",
            )
            continue
        if entry.text == item.text:
            continue
        result = triage(entry.text)
        before_labels = item.label_codes
        item.revisions = [*item.revisions, {"text": item.text, "until": now.isoformat()}]
        item.text = entry.text
        item.edited_at = entry.edited_at or now
        item.labels = _labels_of(result)
        item.place = (result.place or "")[:200]
        item.priority = result.priority
        item.needs_answer = result.needs_answer
        if result.needs_answer and item.due_at is None:
            item.due_at = hours.due(item.created_at)
        item.save(
            update_fields=[
                "revisions",
                "text",
                "edited_at",
                "labels",
                "place",
                "priority",
                "needs_answer",
                "due_at",
            ]
        )
        record(
            collectivite=collectivite_id,
            actor=None,
            action=Action.ITEM_EDITED_BY_AUTHOR,
            obj=item,
            object_label=f"{item.get_kind_display()} {item.network} #{item.pk}",
            before={"labels": before_labels},
            after={"labels": item.label_codes},
            actor_label="Réseau (modifié par son auteur)",
        )
        edited.append(item.external_id)
        if "urgent" in item.label_codes and "urgent" not in before_labels:
            urgent.append(item.external_id)
    _after_store(account, edited, urgent, charter=charter)


def _after_store(
    account: SocialAccount, external_ids: list[str], urgent: list[str], *, charter: bool
) -> None:
    """Once committed: the charter applied to what came or changed, and the moderators
    told of what is urgent."""
    collectivite_id, account_pk = account.collectivite_id, account.pk
    if charter and external_ids:
        from monitoring.tasks import apply_charter_task

        transaction.on_commit(
            lambda: apply_charter_task.delay(collectivite_id, account_pk, external_ids)
        )
    if urgent:
        from monitoring.tasks import notify_urgent_task

        transaction.on_commit(lambda: notify_urgent_task.delay(collectivite_id, account_pk, urgent))


def _columns(model: type[models.Model]) -> tuple[tuple[str, ...], tuple[Any, ...], frozenset[str]]:
    """A model's columns as an insert writes them (all but the primary key): their
    attribute names, their default values (JSON already encoded; asked at each call, so a
    callable default gives a fresh value) and the JSON ones. A column added to the model
    is written with its default without a change here."""
    fields = _insert_fields(model)
    json_fields = frozenset(f.attname for f in fields if isinstance(f, models.JSONField))
    defaults = tuple(
        json.dumps(f.get_default()) if f.attname in json_fields else f.get_default() for f in fields
    )
    return tuple(f.attname for f in fields), defaults, json_fields


@functools.cache
def _insert_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


def _insert_new(items: list[dict[str, Any]]) -> int:
    """``bulk_create(ignore_conflicts=True)`` of the items (field values by attribute
    name; the others take their defaults): an item already stored (same account and
    external id) is left as it is. Returns how many were given.

    On PostgreSQL the rows go by ``COPY`` straight into the table, inside a savepoint;
    if an item was stored meanwhile (another worker, a webhook), the unique constraint
    stops the ``COPY``, the savepoint is rolled back and the rows go by ``COPY`` into a
    temporary table then one ``INSERT … ON CONFLICT DO NOTHING``. Django's bulk insert
    prepares and quotes every value of every row in Python, and the temporary table
    costs its creation in the catalogue each time: both cost more than the rows
    themselves (bench_inbox)."""
    from django.db import connection

    now = timezone.now()  # received_at: auto_now_add, as bulk_create sets it
    if connection.vendor != "postgresql":
        InboxItem.objects.bulk_create(
            [InboxItem(**item, received_at=now) for item in items], ignore_conflicts=True
        )
        return len(items)
    import psycopg
    from psycopg import sql

    # Not waiting for the commit's WAL flush loses nothing that matters: if the server
    # itself crashes in the next fraction of a second, this transaction is lost whole,
    # the collection cursor stored with it too, so the next run fetches the same page
    # again (nothing lost, nothing twice); a webhook's event is marked processed by a
    # later, synchronous commit, which flushes this one first (the WAL is in order). A
    # worker that dies changes nothing: the server has the commit.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
    attnames, defaults, json_fields = _columns(InboxItem)
    position = {name: k for k, name in enumerate(attnames)}
    json_positions = {position[name] for name in json_fields}
    rows = []
    seen: set[str] = set()
    for item in items:
        if item["external_id"] in seen:  # twice in one page: the first is kept
            continue
        seen.add(item["external_id"])
        row = list(defaults)
        for name, value in item.items():
            k = position[name]
            row[k] = json.dumps(value) if k in json_positions else value
        row[position["received_at"]] = now
        rows.append(row)
    columns = sql.SQL(", ").join(
        sql.Identifier(InboxItem._meta.get_field(name).column) for name in attnames
    )
    table = sql.Identifier(InboxItem._meta.db_table)
    try:
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.connection.cursor() as raw,
            raw.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns)) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return len(items)
    except psycopg.errors.UniqueViolation:
        pass
    incoming = sql.Identifier("inbox_incoming")
    with connection.cursor() as cursor, cursor.connection.cursor() as raw:
        # a new table each time, dropped at once: nothing shared between transactions, so
        # it holds behind a transaction-pooling proxy too
        raw.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
            ).format(incoming, columns, table)
        )
        with raw.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(incoming, columns)) as copy:
            for row in rows:
                copy.write_row(row)
        raw.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                table, columns, columns, incoming
            )
        )
        raw.execute(sql.SQL("DROP TABLE {}").format(incoming))
    return len(items)


def _known(
    account: SocialAccount, entries: list[InboxEntry]
) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """What is already stored about a page, in one query: the items among its external
    ids (with their text, to tell an edit), the ids of our posts they answer
    (``Variant``) and of their authors already known (``Citizen``), each by external id,
    all in the account's collectivité."""
    from django.db import connection
    from django.db.models import IntegerField, TextField, Value

    from publishing.models import Variant

    collectivite_id = account.collectivite_id
    ids = [e.external_id for e in entries]
    posts = list({e.post_external_id for e in entries if e.post_external_id})
    authors = list({_citizen_key(e) for e in entries})
    found: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
    texts: dict[str, str] = {}
    if connection.vendor == "postgresql":
        # the same three lookups, each list sent as one array: Django would quote each of
        # the ~200 values into the text of the query, which cost more than running it
        import psycopg
        from psycopg import sql

        def table(model: type[models.Model]) -> sql.Identifier:
            return sql.Identifier(model._meta.db_table)

        query = sql.SQL(
            "SELECT 0, external_id, id, text FROM {} WHERE collectivite_id = %(c)s"
            " AND account_id = %(a)s AND external_id = ANY(%(ids)s)"
            " UNION ALL SELECT 1, external_id, id, NULL FROM {} WHERE collectivite_id = %(c)s"
            " AND account_id = %(a)s AND external_id = ANY(%(posts)s)"
            " UNION ALL SELECT 2, external_id, id, NULL FROM {} WHERE collectivite_id = %(c)s"
            " AND network = %(n)s AND external_id = ANY(%(authors)s)"
        ).format(table(InboxItem), table(Variant), table(Citizen))
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:  # bound by the server
            cursor.execute(
                query,
                {
                    "c": collectivite_id,
                    "a": account.pk,
                    "n": account.network,
                    "ids": ids,
                    "posts": posts,
                    "authors": authors,
                },
            )
            for which, external_id, pk, text in cursor:
                found[which][external_id] = pk
                if which == 0:
                    texts[external_id] = text
        return texts, found[1], found[2]
    queries = [
        InboxItem.objects.for_collectivite(collectivite_id)
        .filter(account=account, external_id__in=ids)
        .order_by()
        .values_list(Value(0, IntegerField()), "external_id", "pk", "text"),
        Citizen.objects.for_collectivite(collectivite_id)
        .filter(network=account.network, external_id__in=authors)
        .order_by()
        .values_list(Value(2, IntegerField()), "external_id", "pk", Value(None, TextField())),
    ]
    if posts:
        queries.append(
            Variant.objects.for_collectivite(collectivite_id)
            .filter(account=account, external_id__in=posts)
            .order_by()
            .values_list(Value(1, IntegerField()), "external_id", "pk", Value(None, TextField()))
        )
    for which, external_id, pk, text in queries[0].union(*queries[1:], all=True):
        found[which][external_id] = pk
        if which == 0:
            texts[external_id] = text
    return texts, found[1], found[2]


def _citizen_key(entry: InboxEntry) -> str:
    return entry.author.external_id or entry.author.handle


def _citizens_for(
    account: SocialAccount, entries: list[InboxEntry], known: dict[str, int]
) -> dict[str, int]:
    """The ids of the authors of ``entries`` as Citizen rows: ``known``, those already
    stored (looked up by ``_known``), and the others created at once, in one query
    whatever their number."""
    from django.db import connection

    collectivite_id = account.collectivite_id
    scoped = Citizen.objects.for_collectivite(collectivite_id).filter(network=account.network)
    keys = {_citizen_key(e): e.author for e in entries}
    found = {key: known[key] for key in keys if key in known}
    missing = {
        key: {
            "collectivite_id": collectivite_id,
            "network": account.network,
            "external_id": key,
            "handle": author.handle,
            "display_name": author.display_name,
            "avatar_url": author.avatar_url[:2000],
        }
        for key, author in keys.items()
        if key not in found
    }
    if not missing:
        return found
    if connection.vendor == "postgresql":
        found.update(_insert_citizens(list(missing.values())))
    else:
        Citizen.objects.bulk_create(
            [Citizen(**values) for values in missing.values()], ignore_conflicts=True
        )
    if len(found) < len(keys):  # created by someone else meanwhile, or not on PostgreSQL
        found.update(
            scoped.filter(external_id__in=[k for k in missing if k not in found]).values_list(
                "external_id", "pk"
            )
        )
    return found


def _insert_citizens(citizens: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """``INSERT … SELECT … FROM unnest(…) ON CONFLICT DO NOTHING RETURNING``: one
    statement, each column sent once as an array (the others take their defaults), the
    new ids returned; a citizen created meanwhile by someone else is skipped (the caller
    looks it up)."""
    import psycopg
    from django.db import connection
    from psycopg import sql

    attnames, defaults, json_fields = _columns(Citizen)
    fields = [Citizen._meta.get_field(name) for name in attnames]
    given = [name for name in attnames if name in citizens[0]]
    select, params = [], []
    for name, field, default in zip(attnames, fields, defaults, strict=True):
        cast = sql.SQL(field.db_type(connection) + ("[]" if name in given else ""))
        if name in given:
            params.append([c[name] for c in citizens])
            select.append(sql.SQL("unnest({}::{})").format(sql.Placeholder(), cast))
        else:
            params.append(default)
            select.append(sql.SQL("{}::{}").format(sql.Placeholder(), cast))
    query = sql.SQL("INSERT INTO {} ({}) SELECT {} ON CONFLICT DO NOTHING RETURNING {}, {}").format(
        sql.Identifier(Citizen._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(f.column) for f in fields),
        sql.SQL(", ").join(select),
        sql.Identifier(Citizen._meta.get_field("external_id").column),
        sql.Identifier(Citizen._meta.pk.column),
    )
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:  # parameters bound by the server
        cursor.execute(query, params)
        return cursor.fetchall()


@dataclasses.dataclass(frozen=True)
class ResponseHours:
    """The charter's business hours and response target for one collectivité."""

    opens: dt.time
    closes: dt.time
    target_hours: int
    tz: str

    def due(self, received: dt.datetime) -> dt.datetime:
        from monitoring.business_hours import add_business_seconds

        return add_business_seconds(
            received, self.target_hours * 3600, opens=self.opens, closes=self.closes, tz=self.tz
        )

    def waited(self, start: dt.datetime, end: dt.datetime) -> int:
        from monitoring.business_hours import business_seconds

        return round(business_seconds(start, end, opens=self.opens, closes=self.closes, tz=self.tz))


def response_hours(collectivite: Collectivite | int, network: str | None = None) -> ResponseHours:
    """Business hours and target from the collectivité's charter (its defaults when it has
    none), in its time zone; the target is ``network``'s own when the charter sets one."""
    return _charter_rules(getattr(collectivite, "pk", collectivite), network).hours


@dataclasses.dataclass(frozen=True)
class CharterRules:
    """What collection applies from the charter: the hours and target that set due dates,
    and the words that always escalate."""

    hours: ResponseHours
    escalation_terms: list[str]


def _charter_rules(collectivite_id: int, network: str | None) -> CharterRules:
    """The charter's rules in one query (collection asks at every page), the charter's
    defaults when the collectivité has none, in its time zone."""
    from django.db import connection

    from collectivites.models import ModerationCharter

    charter = ModerationCharter._meta
    columns = ", ".join(
        f"m.{charter.get_field(name).column}"
        for name in (
            "business_hours_start",
            "business_hours_end",
            "response_target_hours",
            "response_targets",
            "escalation_keywords",
        )
    )
    # one join written out: the charter has no reverse accessor, and the ORM's five
    # subqueries took ten times this query
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.time_zone, {columns} FROM {Collectivite._meta.db_table} c"  # noqa: S608
            f" LEFT JOIN {charter.db_table} m ON m.collectivite_id = c.id WHERE c.id = %s",
            [collectivite_id],
        )
        found = cursor.fetchone()
    tz, opens, closes, target_hours, targets, terms = found or (None,) * 6
    if opens is None:  # no charter: its defaults
        defaults = ModerationCharter(collectivite_id=collectivite_id)
        opens, closes = defaults.business_hours_start, defaults.business_hours_end
        target_hours, targets, terms = defaults.response_target_hours, {}, ""
    if isinstance(targets, str):  # JSON as the driver gives it
        targets = json.loads(targets)
    return CharterRules(
        hours=ResponseHours(
            opens=opens if isinstance(opens, dt.time) else dt.time.fromisoformat(opens),
            closes=closes if isinstance(closes, dt.time) else dt.time.fromisoformat(closes),
            target_hours=ModerationCharter.target_in(targets, target_hours, network),
            tz=_zone_name(tz),
        ),
        escalation_terms=ModerationCharter.split_terms(terms or ""),
    )


def _zone_name(name: str | None) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name or "Europe/Paris")
    except (KeyError, ValueError):
        return "Europe/Paris"
    return name or "Europe/Paris"


def notify_urgent(*, account: SocialAccount, external_ids: list[str]) -> int:
    """Tell the moderators, in the app and by e-mail, that urgent messages came (danger,
    accident, fire, flooding). One notification per message; returns how many."""
    from django.urls import reverse

    from collectivites.selectors import member_ids_with
    from collectivites.services import notify_users

    collectivite = Collectivite.objects.get(pk=account.collectivite_id)
    moderators = set(
        member_ids_with(collectivite=collectivite, capability=Capability.INBOX_MODERATE)
    )
    items = (
        InboxItem.objects.for_collectivite(collectivite)
        .filter(account=account, external_id__in=external_ids)
        .exclude(status=Status.MASQUE)
        .select_related("citizen")
    )
    sent = 0
    for item in items:
        if "urgent" not in item.label_codes:
            continue
        notify_users(
            collectivite=collectivite,
            user_ids=moderators,
            message=_("Message urgent de %(who)s sur %(network)s : « %(text)s »")
            % {
                "who": item.citizen,
                "network": account.get_network_display(),
                "text": item.text[:140],
            },
            link=reverse(
                "inbox_item", kwargs={"collectivite_slug": collectivite.slug, "pk": item.pk}
            ),
            email=True,
        )
        sent += 1
    return sent


# What the charter's rules hide, by triage label.
CHARTER_RULES = {"hide_insults": "insulte", "hide_spam": "spam", "hide_off_topic": "hors_sujet"}


def charter_apply(*, account: SocialAccount, external_ids: list[str]) -> int:
    """Hide on the network what the collectivité's charter forbids (the same rule every
    time); returns how many items were hidden. A network that cannot hide leaves the item
    for a moderator."""
    from collectivites.models import ModerationCharter

    charter = ModerationCharter.objects.for_collectivite(account.collectivite_id).first()
    if charter is None:
        return 0
    forbidden = {label for rule, label in CHARTER_RULES.items() if getattr(charter, rule)}
    hidden = 0
    for item in (
        InboxItem.objects.for_collectivite(account.collectivite_id)
        .select_related("citizen", "account")
        .filter(account=account, external_id__in=external_ids, status=Status.NOUVEAU)
    ):
        if not forbidden & set(item.label_codes):
            continue
        try:
            call_network(account, lambda a, ref, i=item: a.hide(ref, _ref(i)))
        except NetworkError:
            continue
        with transaction.atomic():
            InboxItem.objects.for_collectivite(account.collectivite_id).filter(pk=item.pk).update(
                status=Status.MASQUE
            )
            _record_item(
                None,
                item,
                Action.CHARTER_AUTO_HIDDEN,
                Status.MASQUE,
                labels=sorted(forbidden & set(item.label_codes)),
            )
        hidden += 1
    return hidden


def store_entries(*, account: SocialAccount, entries: Iterable[InboxEntry]) -> int:
    """Entries a network pushed (webhooks): the same upsert and triage as collection."""
    from monitoring.triage import triage

    with transaction.atomic():
        return _store(account, entries, triage)


# --- working through the inbox ----------------------------------------------------------------


def _ref(item: InboxItem) -> ItemRef:
    return ItemRef(
        external_id=item.external_id,
        kind=ItemKind(item.kind),
        post_external_id=item.post_external_id or None,
        root_id=item.root_external_id or None,
        parent_id=item.parent_external_id or None,
        author_handle=item.citizen.handle,
        author_id=item.citizen.external_id,
    )


def item_assign(
    *, actor: AbstractBaseUser, item: InboxItem, assignee: AbstractBaseUser | None
) -> InboxItem:
    require(actor, item.collectivite, Capability.INBOX_REPLY)
    if assignee is not None:
        require(assignee, item.collectivite, Capability.INBOX_REPLY)
    item.assignee = assignee
    if item.status == Status.NOUVEAU and assignee is not None:
        item.status = Status.ASSIGNE
    item.save(update_fields=["assignee", "status"])
    return item


def _record_item(
    actor: AbstractBaseUser | None, item: InboxItem, action: Action, to: str, **after: Any
) -> None:
    """The trail names a citizen's message by kind, network and id, not by its text."""
    record(
        collectivite=item.collectivite_id,
        actor=actor,
        action=action,
        obj=item,
        object_label=f"{item.get_kind_display()} {item.network} #{item.pk}",
        before={"status": item.status},
        after={"status": to, **after},
        actor_label="" if actor else "Parvis (charte de modération)",
    )


@transaction.atomic
def item_set_status(*, actor: AbstractBaseUser, item: InboxItem, status: str) -> InboxItem:
    require(actor, item.collectivite, Capability.INBOX_REPLY)
    if status not in (Status.NOUVEAU, Status.EN_ATTENTE, Status.CLOS):
        raise ValidationError(_("Cet état se pose par une action (répondre, masquer)."))
    if item.status != status:
        _record_item(actor, item, Action.ITEM_STATUS_CHANGED, status)
    item.status = status
    item.save(update_fields=["status"])
    return item


def fill_saved_reply(saved: SavedReply, item: InboxItem) -> str:
    name = item.citizen.display_name or item.citizen.handle
    first = name.split()[0] if name else ""
    return saved.text.replace("{prenom}", first).replace("{nom}", name)


@transaction.atomic
def reply_create(*, actor: AbstractBaseUser, item: InboxItem, text: str) -> Reply:
    """Queue an answer to the network (sent by a task once committed)."""
    require(actor, item.collectivite, Capability.INBOX_REPLY)
    if item.removed_at is not None:
        raise ValidationError(
            _("Ce message a été retiré du réseau par son auteur : on ne peut plus y répondre.")
        )
    if not text.strip():
        raise ValidationError({"text": _("La réponse est vide.")})
    pending = _reply_needs_approval(actor, item.collectivite)
    reply = Reply.objects.create(
        collectivite=item.collectivite,
        item=item,
        text=text.strip(),
        author=actor,
        state=Reply.State.PENDING if pending else Reply.State.SENDING,
    )
    if pending:
        _tell_approvers(reply)
    else:
        _queue_send(reply)
    return reply


def _queue_send(reply: Reply) -> None:
    from monitoring.tasks import send_reply_task

    collectivite_id, pk = reply.collectivite_id, reply.pk
    transaction.on_commit(lambda: send_reply_task.delay(collectivite_id, pk))


def _reply_needs_approval(actor: AbstractBaseUser, collectivite: Collectivite) -> bool:
    """The charter names the members whose replies go through a validateur first; a
    member who may approve replies approves their own."""
    from collectivites.models import ModerationCharter
    from collectivites.services import roles_of

    charter = ModerationCharter.objects.for_collectivite(collectivite).first()
    if charter is None or not charter.reply_approval_members.filter(pk=actor.pk).exists():
        return False
    return not has_capability(
        roles_of(user=actor, collectivite=collectivite), Capability.INBOX_APPROVE
    )


def _tell_approvers(reply: Reply) -> None:
    from django.urls import reverse

    from collectivites.selectors import member_ids_with
    from collectivites.services import notify_users

    collectivite = reply.item.collectivite
    approvers = member_ids_with(
        collectivite=collectivite, capability=Capability.INBOX_APPROVE
    ).exclude(user=reply.author_id)
    author = reply.author.get_full_name() or reply.author.email
    notify_users(
        collectivite=collectivite,
        user_ids=set(approvers),
        message=_("Une réponse de %(who)s à un citoyen attend votre validation.") % {"who": author},
        link=reverse("replies_pending", kwargs={"collectivite_slug": collectivite.slug}),
        email=True,
    )


def _pending_reply(collectivite: Collectivite, reply: Reply) -> Reply:
    locked = (
        Reply.objects.for_collectivite(collectivite)
        .select_for_update()
        .select_related("item")
        .get(pk=reply.pk)
    )
    if locked.state != Reply.State.PENDING:
        raise ValidationError(_("Cette réponse a déjà été validée ou refusée."))
    return locked


@transaction.atomic
def reply_approve(*, actor: AbstractBaseUser, reply: Reply, text: str | None = None) -> Reply:
    """A validateur lets a reply go out, as written or changed (the author's text is kept
    for the record). Sent by the same task as any reply. Recorded."""
    require(actor, reply.item.collectivite, Capability.INBOX_APPROVE)
    locked = _pending_reply(reply.item.collectivite, reply)
    if locked.item.removed_at is not None:
        raise ValidationError(
            _("Ce message a été retiré du réseau par son auteur : on ne peut plus y répondre.")
        )
    new_text = (text if text is not None else locked.text).strip()
    if not new_text:
        raise ValidationError({"text": _("La réponse est vide.")})
    if new_text != locked.text:
        locked.original_text = locked.text
        locked.text = new_text
    locked.state = Reply.State.SENDING
    locked.reviewed_by = actor
    locked.reviewed_at = timezone.now()
    locked.save(update_fields=["text", "original_text", "state", "reviewed_by", "reviewed_at"])
    record(
        collectivite=locked.collectivite_id,
        actor=actor,
        action=Action.REPLY_APPROVED,
        obj=locked,
        object_label=f"{_('Réponse')} #{locked.pk}",
        after={"edited": bool(locked.original_text)},
    )
    _queue_send(locked)
    return locked


@transaction.atomic
def reply_refuse(*, actor: AbstractBaseUser, reply: Reply, note: str) -> Reply:
    """A validateur stops a reply, saying why; its author is told. Recorded."""
    from django.urls import reverse

    from collectivites.services import notify_users

    require(actor, reply.item.collectivite, Capability.INBOX_APPROVE)
    note = note.strip()
    if not note:
        raise ValidationError({"note": _("Dites à l'auteur pourquoi la réponse est refusée.")})
    locked = _pending_reply(reply.item.collectivite, reply)
    locked.state = Reply.State.REFUSED
    locked.reviewed_by = actor
    locked.reviewed_at = timezone.now()
    locked.review_note = note[:500]
    locked.save(update_fields=["state", "reviewed_by", "reviewed_at", "review_note"])
    record(
        collectivite=locked.collectivite_id,
        actor=actor,
        action=Action.REPLY_REFUSED,
        obj=locked,
        object_label=f"{_('Réponse')} #{locked.pk}",
        after={"note": locked.review_note},
    )
    collectivite = reply.item.collectivite
    notify_users(
        collectivite=collectivite,
        user_ids=[locked.author_id],
        message=_("Votre réponse à un citoyen a été refusée : %(note)s")
        % {"note": locked.review_note},
        link=reverse(
            "inbox_item", kwargs={"collectivite_slug": collectivite.slug, "pk": locked.item_id}
        ),
    )
    return locked


def reply_send(*, collectivite: Collectivite, reply_id: int) -> str:
    reply = (
        Reply.objects.for_collectivite(collectivite)
        .select_related("item", "item__account", "item__account__collectivite", "item__citizen")
        .filter(pk=reply_id, state=Reply.State.SENDING)
        .first()
    )
    if reply is None:
        return "skipped"
    item = reply.item
    try:
        published = call_network(item.account, lambda a, ref: a.reply(ref, _ref(item), reply.text))
    except (Rejected, NotSupported, AuthExpired) as exc:
        reason = getattr(exc, "reason", "") or _("Le réseau a refusé la réponse.")
        Reply.objects.for_collectivite(collectivite).filter(pk=reply.pk).update(
            state=Reply.State.FAILED, error=reason[:500]
        )
        return "failed"
    now = timezone.now()
    with transaction.atomic():
        Reply.objects.for_collectivite(collectivite).filter(pk=reply.pk).update(
            state=Reply.State.SENT,
            external_id=published.external_id,
            permalink=published.permalink,
            sent_at=now,
        )
        InboxItem.objects.for_collectivite(collectivite).filter(pk=item.pk).update(
            status=Status.REPONDU
        )
        InboxItem.objects.for_collectivite(collectivite).filter(
            pk=item.pk, first_response_at__isnull=True
        ).update(
            first_response_at=now,
            first_response_business_seconds=response_hours(collectivite).waited(
                item.created_at, now
            ),
        )
        record(
            collectivite=collectivite,
            actor=reply.author,
            action=Action.REPLY_SENT,
            obj=reply,
            after={
                "item": item.pk,
                "network": item.network,
                "text": reply.text,
                "permalink": published.permalink,
            },
        )
    return "sent"


def _moderate_on_network(item: InboxItem, operation: Any, *, unsupported: str) -> None:
    """Run a moderator's action on the network; what the network says comes back as a
    French message on the page (``unsupported`` names what it cannot do)."""
    try:
        call_network(item.account, operation)
    except NotSupported as exc:
        raise ValidationError(
            unsupported % {"network": item.account.get_network_display()}
        ) from exc
    except Rejected as exc:
        raise ValidationError(exc.reason) from exc
    except NetworkError as exc:
        raise ValidationError(_("Le réseau ne répond pas, réessayez dans un instant.")) from exc


def item_hide(*, actor: AbstractBaseUser, item: InboxItem, hidden: bool = True) -> InboxItem:
    require(actor, item.collectivite, Capability.INBOX_MODERATE)
    _moderate_on_network(
        item,
        (lambda a, ref: a.hide(ref, _ref(item)))
        if hidden
        else (lambda a, ref: a.unhide(ref, _ref(item))),
        unsupported=_("%(network)s ne permet pas de masquer ce message."),
    )
    status = Status.MASQUE if hidden else Status.NOUVEAU
    with transaction.atomic():
        _record_item(actor, item, Action.ITEM_HIDDEN if hidden else Action.ITEM_UNHIDDEN, status)
        item.status = status
        item.save(update_fields=["status"])
    return item


def item_delete(*, actor: AbstractBaseUser, item: InboxItem) -> InboxItem:
    """Delete a citizen's message on the network, where the network allows it (illegal
    content, personal data published by mistake). Parvis keeps the item and its original
    text for the record, marked "supprimé du réseau"; the trail names who did it."""
    require(actor, item.collectivite, Capability.INBOX_MODERATE)
    if item.status == Status.SUPPRIME:
        raise ValidationError(_("Ce message est déjà supprimé du réseau."))
    _moderate_on_network(
        item,
        lambda a, ref: a.delete(ref, _ref(item)),
        unsupported=_("%(network)s ne permet pas de supprimer ce message : masquez-le plutôt."),
    )
    with transaction.atomic():
        _record_item(actor, item, Action.ITEM_DELETED, Status.SUPPRIME)
        item.status = Status.SUPPRIME
        item.save(update_fields=["status"])
    return item


def saved_reply_save(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    data: dict[str, Any],
    saved: SavedReply | None = None,
) -> SavedReply:
    """Vetted answers are written by those who validate (they stand for the collectivité)."""
    require(actor, collectivite, Capability.PUBLISHING_APPROVE)
    before = {"title": saved.title, "text": saved.text, "theme": saved.theme} if saved else None
    saved = saved or SavedReply(collectivite=collectivite)
    for name in ("title", "text", "theme"):
        if name in data:
            setattr(saved, name, data[name])
    saved.validated_by = actor
    saved.validated_at = timezone.now()
    saved.full_clean()
    with transaction.atomic():
        saved.save()
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.SAVED_REPLY_SAVED,
            obj=saved,
            before=before,
            after={"title": saved.title, "text": saved.text, "theme": saved.theme},
        )
    return saved


# --- the watch (veille) -----------------------------------------------------------------------

# Networks whose search cursor resumes after the newest result seen (X keeps since_id, the
# sandbox and Instagram an id); the others (Mastodon, Bluesky) list newest first and their
# cursor goes to older pages, so each run starts from the top and pages down until it meets
# what it has already seen.
BACKWARD_SEARCH = {"mastodon", "bluesky"}
WATCH_SEARCH_PAGES = 5
WATCH_INTERVAL = dt.timedelta(minutes=10)
WATCH_LEASE = dt.timedelta(minutes=10)


def _fold(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _clean_terms(values: Any, field: str, *, required: bool) -> list[str]:
    if isinstance(values, str):
        values = values.splitlines()
    terms: list[str] = []
    for value in values or []:
        term = " ".join(str(value).split())
        if term and term not in terms:
            if len(term) > 100:
                raise ValidationError({field: _("Un terme dépasse 100 caractères.")})
            terms.append(term)
    if required and not terms:
        raise ValidationError({field: _("Indiquez au moins un terme à rechercher.")})
    if len(terms) > 30:
        raise ValidationError({field: _("30 termes au plus par veille.")})
    return terms


def watch_save(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    data: dict[str, Any],
    watch: Watch | None = None,
) -> Watch:
    """Create or change a watch. Recipients must be members of the collectivité."""
    from collectivites.models import Membership
    from networks.registry import Network

    require(actor, collectivite, Capability.WATCH_MANAGE)
    watch = watch or Watch(collectivite=collectivite)
    if "name" in data:
        watch.name = (data["name"] or "").strip()
    if "terms" in data or watch.pk is None:
        watch.terms = _clean_terms(data.get("terms"), "terms", required=True)
    if "excluded_terms" in data:
        watch.excluded_terms = _clean_terms(
            data["excluded_terms"], "excluded_terms", required=False
        )
    if "networks" in data:
        unknown = set(data["networks"] or []) - set(Network.values)
        if unknown:
            raise ValidationError(
                {"networks": _("Réseau inconnu : %(n)s") % {"n": ", ".join(unknown)}}
            )
        watch.networks = sorted(set(data["networks"] or []))
    for name in ("active", "spike_minimum", "spike_k"):
        if name in data and data[name] is not None:
            setattr(watch, name, data[name])
    if watch.spike_minimum < 1:
        raise ValidationError({"spike_minimum": _("Le volume minimal est d'au moins 1.")})
    if not 1.0 <= watch.spike_k <= 20.0:
        raise ValidationError({"spike_k": _("La sensibilité est comprise entre 1 et 20.")})
    duplicate = Watch.objects.for_collectivite(collectivite).filter(name=watch.name)
    if watch.pk:
        duplicate = duplicate.exclude(pk=watch.pk)
    if watch.name and duplicate.exists():
        raise ValidationError({"name": _("Une veille porte déjà ce nom.")})
    if watch.pk is None:
        watch.next_run_at = timezone.now()
    watch.full_clean(exclude=["terms", "excluded_terms", "networks"])
    with transaction.atomic():
        watch.save()
        if "recipients" in data:
            members = set(
                Membership.objects.for_collectivite(collectivite).values_list("user_id", flat=True)
            )
            ids = {getattr(u, "pk", u) for u in data["recipients"] or []}
            if ids - members:
                raise ValidationError(
                    {"recipients": _("Les alertes ne vont qu'aux membres de la collectivité.")}
                )
            watch.recipients.set(sorted(ids))
    return watch


def watch_delete(*, actor: AbstractBaseUser, collectivite: Collectivite, watch: Watch) -> None:
    """The watch goes; the mentions it found stay in the inbox."""
    require(actor, collectivite, Capability.WATCH_MANAGE)
    Watch.objects.for_collectivite(collectivite).filter(pk=watch.pk).delete()


def watch_due(*, now: dt.datetime | None = None, limit: int = 100) -> list[tuple[int, int]]:
    """Claim active watches whose search is due (cross-tenant: the scheduler serves every
    collectivité) and queue one task each once committed."""
    from monitoring.tasks import watch_run_task

    now = now or timezone.now()
    claimed: list[tuple[int, int]] = []
    with transaction.atomic():
        watches = list(
            Watch.objects.dangerously_unscoped()
            .select_for_update(skip_locked=True)
            .filter(active=True)
            .filter(models.Q(next_run_at__isnull=True) | models.Q(next_run_at__lte=now))
            .order_by("next_run_at")[:limit]
        )
        for watch in watches:
            Watch.objects.dangerously_unscoped().filter(pk=watch.pk).update(
                next_run_at=now + WATCH_LEASE
            )
            claimed.append((watch.collectivite_id, watch.pk))
        if claimed:
            transaction.on_commit(lambda: [watch_run_task.delay(c, w) for c, w in claimed])
    return claimed


def _search_accounts(watch: Watch) -> list[SocialAccount]:
    """One connected account per network the watch covers: a search is network-wide, so
    searching through two accounts of the same network would only find the same posts."""
    chosen: dict[str, SocialAccount] = {}
    accounts = (
        SocialAccount.objects.for_collectivite(watch.collectivite_id)
        .filter(status=SocialAccount.Status.CONNECTED)
        .select_related("collectivite")
        .order_by("pk")
    )
    for account in accounts:
        if watch.networks and account.network not in watch.networks:
            continue
        chosen.setdefault(account.network, account)
    return list(chosen.values())


def _excluded(watch: Watch, text: str) -> bool:
    folded = _fold(text)
    return any(_fold(term) in folded for term in watch.excluded_terms)


def _link_hits(watch: Watch, account: SocialAccount, external_ids: list[str]) -> int:
    rows = (
        InboxItem.objects.for_collectivite(watch.collectivite_id)
        .filter(account=account, external_id__in=external_ids)
        .values_list("pk", "created_at")
    )
    hits = [
        WatchHit(collectivite_id=watch.collectivite_id, watch=watch, item_id=pk, created_at=at)
        for pk, at in rows
    ]
    return len(WatchHit.objects.bulk_create(hits, ignore_conflicts=True))


def _search_term(watch: Watch, account: SocialAccount, state: WatchCursor, term: str) -> int:
    """Search one term through one account; store what is new, link it to the watch and
    keep the cursor with it, in one transaction per page."""

    from monitoring.triage import triage

    backward = account.network in BACKWARD_SEARCH
    cursor = None if backward else (state.cursors.get(term) or None)
    newest_seen = state.newest.get(term)
    newest = newest_seen
    stored = 0
    for _page in range(WATCH_SEARCH_PAGES):
        page = call_network(account, lambda a, ref, c=cursor: a.search(ref, term, c))
        entries = [
            dataclasses.replace(e, kind=ItemKind.MENTION)
            for e in page.items
            if not _excluded(watch, e.text)
        ]
        for entry in page.items:
            stamp = entry.created_at.isoformat()
            if newest is None or stamp > newest:
                newest = stamp
        with transaction.atomic():
            stored += _store(account, entries, triage, charter=False)
            _link_hits(watch, account, [e.external_id for e in entries])
            if not backward and page.next_cursor:
                state.cursors[term] = page.next_cursor
            if newest:
                state.newest[term] = newest
            WatchCursor.objects.for_collectivite(watch.collectivite_id).filter(pk=state.pk).update(
                cursors=state.cursors, newest=state.newest
            )
        if backward:
            seen_all = newest_seen is not None and all(
                e.created_at.isoformat() <= newest_seen for e in page.items
            )
            if not page.next_cursor or not page.items or seen_all:
                break
            cursor = page.next_cursor
        else:
            if not page.has_more:
                break
            cursor = page.next_cursor
    return stored


def watch_run(*, watch: Watch, now: dt.datetime | None = None) -> int:
    """Search every term of the watch on each network it covers, then look for a spike.
    Returns how many new mentions were stored."""
    found = 0
    errors: list[str] = []
    for account in _search_accounts(watch):
        state, _created = WatchCursor.objects.for_collectivite(watch.collectivite_id).get_or_create(
            collectivite_id=watch.collectivite_id, watch=watch, account=account
        )
        error = ""
        try:
            for term in watch.terms:
                found += _search_term(watch, account, state, term)
        except NotSupported:
            error = _("%(network)s ne permet pas de rechercher des publications.") % {
                "network": account.get_network_display()
            }
        except Rejected as exc:
            error = exc.reason
        except RateLimited:
            error = _("Le réseau demande de ralentir.")
        except AuthExpired:
            error = _("Le compte doit être reconnecté.")
        except NetworkError as exc:
            error = f"{type(exc).__name__}: {exc.message}"
        WatchCursor.objects.for_collectivite(watch.collectivite_id).filter(pk=state.pk).update(
            last_run_at=timezone.now(), last_error=error[:300]
        )
        if error:
            errors.append(f"{account.get_network_display()} : {error}")
    now = now or timezone.now()
    Watch.objects.for_collectivite(watch.collectivite_id).filter(pk=watch.pk).update(
        last_run_at=now, last_error=" ; ".join(errors)[:300], next_run_at=now + WATCH_INTERVAL
    )
    watch_check_spikes(watch=watch, now=now)
    return found


def watch_verdict(*, watch: Watch, hour: dt.datetime) -> spikes.Verdict:
    """Judge one hour against the same hour of the previous days (those since the watch
    was created, at most 28)."""
    hour = selectors.hour_floor(hour)
    first = (
        selectors.hour_floor(watch.created_at) if watch.created_at else hour - dt.timedelta(days=28)
    )
    days = [
        hour - dt.timedelta(days=d)
        for d in range(1, spikes.HISTORY_DAYS + 1)
        if hour - dt.timedelta(days=d) >= first
    ]
    since = days[-1] if days else hour
    counts = selectors.watch_hourly_counts(
        watch=watch, since=since, until=hour + dt.timedelta(hours=1)
    )
    history = [counts.get(day, 0) for day in days]
    return spikes.judge(counts.get(hour, 0), history, k=watch.spike_k, minimum=watch.spike_minimum)


def watch_check_spikes(*, watch: Watch, now: dt.datetime | None = None) -> WatchAlert | None:
    """Judge the hour under way and the one before (mentions can arrive late); raise an
    alert for a new spike only."""
    now = now or timezone.now()
    raised = None
    for hour in (selectors.hour_floor(now) - dt.timedelta(hours=1), selectors.hour_floor(now)):
        verdict = watch_verdict(watch=watch, hour=hour)
        if verdict.spike:
            raised = _alert_for(watch, hour, verdict) or raised
    return raised


def _alert_for(watch: Watch, hour: dt.datetime, verdict: spikes.Verdict) -> WatchAlert | None:
    """One alert per spike: an hour that follows an alerted hour extends that alert. The
    watch's row lock makes two workers agree."""
    with transaction.atomic():
        Watch.objects.for_collectivite(watch.collectivite_id).select_for_update().get(pk=watch.pk)
        alerts = WatchAlert.objects.for_collectivite(watch.collectivite_id).filter(watch=watch)
        ongoing = alerts.filter(
            hour_start__lte=hour, last_hour__gte=hour - dt.timedelta(hours=1)
        ).first()
        if ongoing is not None:
            alerts.filter(pk=ongoing.pk).update(
                last_hour=max(ongoing.last_hour, hour),
                peak_count=max(ongoing.peak_count, verdict.count),
            )
            return None
        alert = WatchAlert.objects.create(
            collectivite_id=watch.collectivite_id,
            watch=watch,
            hour_start=hour,
            last_hour=hour,
            peak_count=verdict.count,
            threshold=verdict.threshold,
            median=verdict.median,
        )
        transaction.on_commit(lambda: _notify_alert(watch, alert))
    return alert


def _notify_alert(watch: Watch, alert: WatchAlert) -> None:
    from django.urls import reverse

    from collectivites.selectors import member_ids_with
    from collectivites.services import notify_users

    collectivite = Collectivite.objects.get(pk=watch.collectivite_id)
    user_ids = set(watch.recipients.values_list("pk", flat=True))
    if not user_ids:
        user_ids = set(
            member_ids_with(collectivite=collectivite, capability=Capability.WATCH_MANAGE)
        )
    local = alert.hour_start.astimezone(zone_of(collectivite))
    message = _(
        "Veille « %(watch)s » : pic de %(count)s mentions à %(hour)s (d'habitude %(usual)s)."
    ) % {
        "watch": watch.name,
        "count": alert.peak_count,
        "hour": local.strftime("%d/%m %Hh"),
        "usual": f"{alert.median:g}",
    }
    link = reverse("watch_detail", kwargs={"collectivite_slug": collectivite.slug, "pk": watch.pk})
    notify_users(
        collectivite=collectivite, user_ids=user_ids, message=message, link=link, email=True
    )


def zone_of(collectivite: Collectivite) -> Any:
    """The collectivité's time zone (Paris when its setting is unknown)."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(_zone_name(collectivite.time_zone))


# --- routing to the collectivité's services ---------------------------------------------------

SERVICE_ANSWER_SALT = "monitoring.service-answer"
SERVICE_ANSWER_MAX_AGE = dt.timedelta(days=30)


def service_save(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    data: dict[str, Any],
    service: Service | None = None,
) -> Service:
    """The collectivité's directory of services is a setting: admins keep it."""
    require(actor, collectivite, Capability.CHARTER_MANAGE)
    service = service or Service(collectivite=collectivite)
    for name in ("name", "email", "active"):
        if name in data and data[name] is not None:
            setattr(
                service, name, data[name].strip() if isinstance(data[name], str) else data[name]
            )
    if "categories" in data:
        service.categories = _clean_terms(data["categories"], "categories", required=False)
    if "default_reply" in data:
        reply = data["default_reply"]
        reply_id = getattr(reply, "pk", reply)
        if (
            reply_id
            and not SavedReply.objects.for_collectivite(collectivite).filter(pk=reply_id).exists()
        ):
            raise ValidationError({"default_reply": _("Réponse type inconnue.")})
        service.default_reply_id = reply_id or None
    duplicate = Service.objects.for_collectivite(collectivite).filter(name=service.name)
    if service.pk:
        duplicate = duplicate.exclude(pk=service.pk)
    if duplicate.exists():
        raise ValidationError({"name": _("Un service porte déjà ce nom.")})
    service.full_clean(exclude=["categories", "default_reply"])
    service.save()
    return service


def service_delete(
    *, actor: AbstractBaseUser, collectivite: Collectivite, service: Service
) -> None:
    """A service that received messages is kept (their history names it): it is deactivated."""
    require(actor, collectivite, Capability.CHARTER_MANAGE)
    services_qs = Service.objects.for_collectivite(collectivite).filter(pk=service.pk)
    if ServiceRequest.objects.for_collectivite(collectivite).filter(service=service).exists():
        services_qs.update(active=False)
    else:
        services_qs.delete()


def default_service_for(item: InboxItem) -> Service | None:
    """The first active service whose categories name one of the item's labels or tags."""
    wanted = {_fold(code) for code in item.label_codes}
    wanted |= {_fold(name) for name in item.tags.values_list("name", flat=True)}
    for service in Service.objects.for_collectivite(item.collectivite_id).filter(active=True):
        if wanted & {_fold(c) for c in service.categories}:
            return service
    return None


def service_answer_token(request: ServiceRequest) -> str:
    from django.core import signing

    return signing.dumps({"r": request.pk, "c": request.collectivite_id}, salt=SERVICE_ANSWER_SALT)


def service_request_from_token(token: str) -> ServiceRequest | None:
    """The request a service's answer link names, if the signature holds and the link is
    less than 30 days old."""
    from django.core import signing

    try:
        data = signing.loads(
            token, salt=SERVICE_ANSWER_SALT, max_age=SERVICE_ANSWER_MAX_AGE.total_seconds()
        )
    except signing.BadSignature:
        return None
    return (
        ServiceRequest.objects.for_collectivite(data.get("c"))
        .select_related("item", "item__citizen", "service", "collectivite")
        .filter(pk=data.get("r"))
        .first()
    )


@transaction.atomic
def item_route(
    *, actor: AbstractBaseUser, item: InboxItem, service: Service, note: str = ""
) -> ServiceRequest:
    """Send a citizen's message to a service (e-mail with the message, the place, a link
    back and a link to answer); the item waits on it."""
    require(actor, item.collectivite, Capability.INBOX_REPLY)
    if service.collectivite_id != item.collectivite_id or not service.active:
        raise ValidationError({"service": _("Ce service n'existe pas ou n'est plus actif.")})
    request = ServiceRequest.objects.create(
        collectivite_id=item.collectivite_id,
        item=item,
        service=service,
        note=note.strip(),
        sent_by=actor,
    )
    InboxItem.objects.for_collectivite(item.collectivite_id).filter(pk=item.pk).update(
        status=Status.EN_ATTENTE
    )
    item.status = Status.EN_ATTENTE
    transaction.on_commit(lambda: _send_route_email(request.pk, item.collectivite_id))
    return request


def _send_route_email(request_id: int, collectivite_id: int) -> None:
    from django.conf import settings
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.urls import reverse

    request = (
        ServiceRequest.objects.for_collectivite(collectivite_id)
        .select_related("item", "item__citizen", "item__account", "service", "collectivite")
        .get(pk=request_id)
    )
    item = request.item
    base = settings.PARVIS_BASE_URL
    context = {
        "request": request,
        "item": item,
        "collectivite": request.collectivite,
        "item_url": base
        + reverse(
            "inbox_item", kwargs={"collectivite_slug": request.collectivite.slug, "pk": item.pk}
        ),
        "answer_url": base
        + reverse("service_answer", kwargs={"token": service_answer_token(request)}),
    }
    send_mail(
        _("[%(c)s] Message d'un citoyen pour %(s)s")
        % {"c": request.collectivite.name, "s": request.service.name},
        render_to_string("monitoring/email/service_request.txt", context),
        None,
        [request.service.email],
    )


@transaction.atomic
def service_answer_record(
    *,
    request: ServiceRequest,
    text: str,
    actor: AbstractBaseUser | None = None,
) -> ServiceRequest:
    """The service's answer: through the signed link (``actor`` None) or pasted by a member
    (who needs ``inbox.reply``). It becomes the draft of the reply on the item's page; the
    person who sent the message is told."""
    if actor is not None:
        require(actor, request.collectivite, Capability.INBOX_REPLY)
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("La réponse du service est vide.")})
    if len(text) > 5000:
        raise ValidationError({"text": _("La réponse dépasse 5 000 caractères.")})
    locked = (
        ServiceRequest.objects.for_collectivite(request.collectivite_id)
        .select_for_update()
        .get(pk=request.pk)
    )
    if actor is None and locked.answered_at is not None:
        raise ValidationError(_("Ce service a déjà répondu ; merci."))
    locked.answer = text
    locked.answered_at = timezone.now()
    locked.answered_via = "saisie" if actor is not None else "lien"
    locked.save(update_fields=["answer", "answered_at", "answered_via"])
    if locked.sent_by_id:
        from django.urls import reverse

        from collectivites.services import notify_users

        collectivite = Collectivite.objects.get(pk=locked.collectivite_id)
        notify_users(
            collectivite=collectivite,
            user_ids=[locked.sent_by_id],
            message=_("%(s)s a répondu : la réponse est prête à relire.")
            % {"s": request.service.name},
            link=reverse(
                "inbox_item", kwargs={"collectivite_slug": collectivite.slug, "pk": locked.item_id}
            ),
        )
    return locked


def service_draft(item: InboxItem) -> str:
    """The draft reply once a service answered: its vetted default answer (filled for the
    citizen) when it has one, then the service's words."""
    request = (
        ServiceRequest.objects.for_collectivite(item.collectivite_id)
        .filter(item=item, answered_at__isnull=False)
        .select_related("service__default_reply")
        .order_by("-answered_at")
        .first()
    )
    if request is None:
        return ""
    parts = []
    if request.service.default_reply is not None:
        parts.append(fill_saved_reply(request.service.default_reply, item))
    parts.append(request.answer)
    return "\n\n".join(parts)


# --- personal data: retention, export, erasure ------------------------------------------------


def citizen_notes_save(*, actor: AbstractBaseUser, citizen: Citizen, notes: str) -> Citizen:
    """Internal notes on a citizen (never shown to them; part of their data export)."""
    require(actor, citizen.collectivite, Capability.INBOX_REPLY)
    if len(notes) > 5000:
        raise ValidationError({"notes": _("Les notes dépassent 5 000 caractères.")})
    Citizen.objects.for_collectivite(citizen.collectivite_id).filter(pk=citizen.pk).update(
        notes=notes.strip()
    )
    citizen.notes = notes.strip()
    return citizen


def policy_for(collectivite: Collectivite | int) -> MonitoringPolicy:
    collectivite_id = getattr(collectivite, "pk", collectivite)
    policy, _created = MonitoringPolicy.objects.for_collectivite(collectivite_id).get_or_create(
        collectivite_id=collectivite_id
    )
    return policy


def policy_save(
    *, actor: AbstractBaseUser, collectivite: Collectivite, retention_months: int
) -> MonitoringPolicy:
    require(actor, collectivite, Capability.CHARTER_MANAGE)
    if not 1 <= int(retention_months) <= 120:
        raise ValidationError(
            {"retention_months": _("La durée de conservation va de 1 à 120 mois.")}
        )
    policy = policy_for(collectivite)
    policy.retention_months = int(retention_months)
    policy.save(update_fields=["retention_months"])
    return policy


def citizen_export(*, actor: AbstractBaseUser, citizen: Citizen) -> dict[str, Any]:
    """Everything Parvis keeps about one citizen in this collectivité (their messages, our
    answers, the services' answers, internal notes). Recorded."""
    require(actor, citizen.collectivite, Capability.PERSONAL_DATA_MANAGE)
    items = (
        InboxItem.objects.for_collectivite(citizen.collectivite_id)
        .filter(citizen=citizen)
        .select_related("account")
        .prefetch_related("replies", "service_requests__service")
        .order_by("created_at")
    )
    data = {
        "collectivite": citizen.collectivite.name,
        "exported_at": timezone.now().isoformat(),
        "citizen": {
            "network": citizen.network,
            "external_id": citizen.external_id,
            "handle": citizen.handle,
            "display_name": citizen.display_name,
            "notes": citizen.notes,
        },
        "messages": [
            {
                "id": item.pk,
                "network": item.network,
                "account": item.account.display_name,
                "kind": item.kind,
                "created_at": item.created_at.isoformat(),
                "text": item.text,
                "earlier_versions": item.revisions,
                "removed_at": item.removed_at.isoformat() if item.removed_at else None,
                "permalink": item.permalink,
                "place": item.place,
                "labels": item.label_codes,
                "status": item.status,
                "replies": [
                    {"created_at": r.created_at.isoformat(), "text": r.text, "state": r.state}
                    for r in item.replies.all()
                ],
                "services": [
                    {
                        "service": s.service.name,
                        "note": s.note,
                        "answer": s.answer,
                        "sent_at": s.sent_at.isoformat(),
                    }
                    for s in item.service_requests.all()
                ],
            }
            for item in items
        ],
    }
    record(
        collectivite=citizen.collectivite_id,
        actor=actor,
        action=Action.PERSONAL_DATA_EXPORTED,
        obj=citizen,
        object_label=f"{citizen.network} #{citizen.pk}",
        after={"messages": len(data["messages"])},
    )
    return data


def _anonymise(citizen: Citizen, now: dt.datetime) -> int:
    """Remove what identifies the citizen and what they wrote; keep the rows, their dates,
    network, status, labels (without the reasons, which quote the text) and first-response
    time, so that reporting's counts do not change."""
    items = InboxItem.objects.for_collectivite(citizen.collectivite_id).filter(citizen=citizen)
    labels = list(items.values_list("pk", "labels"))
    count = items.update(
        text="",
        revisions=[],
        raw={},
        permalink="",
        place="",
        parent_external_id="",
        anonymised_at=now,
    )
    for pk, item_labels in labels:
        InboxItem.objects.for_collectivite(citizen.collectivite_id).filter(pk=pk).update(
            labels=[
                {"code": label.get("code"), "score": label.get("score"), "reasons": []}
                for label in item_labels or []
            ]
        )
    Reply.objects.for_collectivite(citizen.collectivite_id).filter(item__citizen=citizen).update(
        text="", error=""
    )
    ServiceRequest.objects.for_collectivite(citizen.collectivite_id).filter(
        item__citizen=citizen
    ).update(note="", answer="")
    Citizen.objects.for_collectivite(citizen.collectivite_id).filter(pk=citizen.pk).update(
        external_id=f"anonyme-{citizen.pk}",
        handle="",
        display_name="",
        avatar_url="",
        notes="",
        anonymised_at=now,
    )
    return count


@transaction.atomic
def citizen_erase(*, actor: AbstractBaseUser, citizen: Citizen) -> int:
    """Erase a citizen's data on request (anonymised as the retention purge does).
    Recorded. Returns how many messages were anonymised."""
    require(actor, citizen.collectivite, Capability.PERSONAL_DATA_MANAGE)
    count = _anonymise(citizen, timezone.now())
    record(
        collectivite=citizen.collectivite_id,
        actor=actor,
        action=Action.PERSONAL_DATA_ERASED,
        obj=citizen,
        object_label=f"{citizen.network} #{citizen.pk}",
        after={"messages": count, "reason": "request"},
    )
    logger.info("citizen %s erased on request (%s messages)", citizen.pk, count)
    return count


def purge_expired(*, now: dt.datetime | None = None) -> int:
    """Anonymise the citizens whose last activity (their last message, or our last answer
    to them) is older than their collectivité's retention period. Cross-tenant: the
    periodic task serves every collectivité. Returns how many citizens were anonymised."""
    from dateutil.relativedelta import relativedelta
    from django.db.models import Max, Q

    now = now or timezone.now()
    months = dict(
        MonitoringPolicy.objects.dangerously_unscoped().values_list(
            "collectivite_id", "retention_months"
        )
    )
    total = 0
    for collectivite_id in Collectivite.objects.values_list("pk", flat=True):
        cutoff = now - relativedelta(months=months.get(collectivite_id, 12))
        expired = (
            Citizen.objects.for_collectivite(collectivite_id)
            .filter(anonymised_at__isnull=True)
            .annotate(
                last_item=Max("items__created_at"), last_reply=Max("items__replies__created_at")
            )
            .filter(Q(last_item__lt=cutoff) | Q(last_item__isnull=True))
            .filter(Q(last_reply__lt=cutoff) | Q(last_reply__isnull=True))
        )
        done = 0
        for citizen in expired[:5000]:
            with transaction.atomic():
                _anonymise(citizen, now)
            done += 1
        if done:
            record(
                collectivite=collectivite_id,
                actor=None,
                action=Action.PERSONAL_DATA_ERASED,
                object_type="monitoring.citizen",
                object_label=_("Durée de conservation : %(n)s citoyen·nes anonymisé·es")
                % {"n": done},
                after={"citizens": done, "reason": "retention", "cutoff": cutoff.isoformat()},
            )
        MonitoringPolicy.objects.for_collectivite(collectivite_id).filter(
            collectivite_id=collectivite_id
        ).update(last_purge_at=now, last_purge_count=done)
        total += done
    return total


# --- tags ---------------------------------------------------------------------------------------


def _tag_name(name: str) -> str:
    name = " ".join((name or "").split()).lstrip("#")
    if not name:
        raise ValidationError({"name": _("Donnez un nom au mot-clé.")})
    if len(name) > 60:
        raise ValidationError({"name": _("Un mot-clé fait au plus 60 caractères.")})
    return name


def tag_save(
    *, actor: AbstractBaseUser, collectivite: Collectivite, name: str, tag: Tag | None = None
) -> Tag:
    """Create or rename one of the collectivité's tags (names are unique, case ignored)."""
    require(actor, collectivite, Capability.INBOX_MODERATE)
    name = _tag_name(name)
    duplicate = Tag.objects.for_collectivite(collectivite).filter(name__iexact=name)
    if tag is not None:
        duplicate = duplicate.exclude(pk=tag.pk)
    if duplicate.exists():
        raise ValidationError({"name": _("Ce mot-clé existe déjà.")})
    tag = tag or Tag(collectivite=collectivite)
    tag.name = name
    tag.save()
    return tag


def tag_delete(*, actor: AbstractBaseUser, collectivite: Collectivite, tag: Tag) -> None:
    """The tag goes, and with it from every message that carried it."""
    require(actor, collectivite, Capability.INBOX_MODERATE)
    Tag.objects.for_collectivite(collectivite).filter(pk=tag.pk).delete()


@transaction.atomic
def item_tag_add(*, actor: AbstractBaseUser, item: InboxItem, name: str) -> Tag:
    """Put a tag on a message; a name the collectivité does not use yet creates the tag."""
    require(actor, item.collectivite, Capability.INBOX_REPLY)
    name = _tag_name(name)
    tags = Tag.objects.for_collectivite(item.collectivite_id)
    tag = tags.filter(name__iexact=name).first()
    if tag is None:
        tag = Tag.objects.create(collectivite_id=item.collectivite_id, name=name)
    item.tags.add(tag)
    return tag


def item_tag_remove(*, actor: AbstractBaseUser, item: InboxItem, tag: Tag) -> None:
    require(actor, item.collectivite, Capability.INBOX_REPLY)
    if tag.collectivite_id != item.collectivite_id:
        raise ValidationError(_("Mot-clé inconnu."))
    item.tags.remove(tag)


# --- bulk actions -----------------------------------------------------------------------------

BULK_LIMIT = 200  # items per bulk action: two pages of the inbox and then some
# The bulk actions, in the order the inbox offers them, with their names.
BULK_ACTIONS = {
    "assign_me": gettext_lazy("Prendre en charge"),
    "waiting": gettext_lazy("Mettre en attente d'un service"),
    "close": gettext_lazy("Clore"),
    "hide": gettext_lazy("Masquer sur le réseau"),
    "tag": gettext_lazy("Ajouter le mot-clé"),
}


@dataclasses.dataclass
class BulkOutcome:
    done: int = 0
    failed: list[tuple[int, str]] = dataclasses.field(default_factory=list)


def items_bulk(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    item_ids: Iterable[int],
    action: str,
    tag: str = "",
) -> BulkOutcome:
    """One action on many messages, each through the same service as one at a time (same
    capability checks, network calls and records): one of ``BULK_ACTIONS``. A message
    that cannot take it (the network refuses to hide it, say) is listed with the reason
    and the others go on."""
    actions = {
        "assign_me": lambda item: item_assign(actor=actor, item=item, assignee=actor),
        "close": lambda item: item_set_status(actor=actor, item=item, status=Status.CLOS),
        "waiting": lambda item: item_set_status(actor=actor, item=item, status=Status.EN_ATTENTE),
        "hide": lambda item: item_hide(actor=actor, item=item),
        "tag": lambda item: item_tag_add(actor=actor, item=item, name=tag),
    }
    if action not in BULK_ACTIONS:
        raise ValidationError({"action": _("Action groupée inconnue.")})
    ids = list(dict.fromkeys(int(i) for i in item_ids))
    if not ids:
        raise ValidationError({"items": _("Cochez au moins un message.")})
    if len(ids) > BULK_LIMIT:
        raise ValidationError({"items": _("Au plus %(n)s messages à la fois.") % {"n": BULK_LIMIT}})
    if action == "tag":
        _tag_name(tag)  # a clear message before anything is done
    capability = Capability.INBOX_MODERATE if action == "hide" else Capability.INBOX_REPLY
    require(actor, collectivite, capability)
    outcome = BulkOutcome()
    items = (
        InboxItem.objects.for_collectivite(collectivite)
        .filter(pk__in=ids)
        .select_related("collectivite", "account", "citizen")
    )
    found = {item.pk: item for item in items}
    for pk in ids:
        item = found.get(pk)
        if item is None:
            outcome.failed.append((pk, _("Message introuvable.")))
            continue
        try:
            actions[action](item)
        except ValidationError as exc:
            outcome.failed.append((pk, " ".join(exc.messages)))
        else:
            outcome.done += 1
    return outcome
