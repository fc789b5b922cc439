"""Collecting citizens' messages and working through them. Every write is here; each
person's action checks the capability."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import record
from collectivites.connections import call_network
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability
from collectivites.services import require
from monitoring import selectors, spikes
from monitoring.models import (
    Citizen,
    CollectionState,
    InboxItem,
    Reply,
    SavedReply,
    Watch,
    WatchAlert,
    WatchCursor,
    WatchHit,
)
from networks.base import (
    AuthExpired,
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


def _next_interval(state: CollectionState, found: int) -> dt.timedelta:
    if found:
        return ACTIVE_INTERVAL
    quiet = QUIET_INTERVALS
    previous = (
        (state.next_run_at - state.last_run_at) if state.next_run_at and state.last_run_at else None
    )
    for step in quiet:
        if previous is None or step > previous:
            return step
    return quiet[-1]


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
                found += _store(account, page.items, triage)
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
    now = now or timezone.now()
    interval = _next_interval(state, found)
    CollectionState.objects.for_collectivite(account.collectivite_id).filter(pk=state.pk).update(
        last_run_at=now,
        last_count=found,
        last_error=error,
        next_run_at=retry_at or now + interval,
    )
    return found


def _store(
    account: SocialAccount, entries: Iterable[InboxEntry], triage: Any, *, charter: bool = True
) -> int:
    """Upsert on (account, external_id): an item seen twice is stored once. ``charter``:
    apply the charter afterwards (not for mentions found elsewhere by a watch: those are
    not ours to hide)."""
    from publishing.models import Variant

    entries = list(entries)
    if not entries:
        return 0
    collectivite_id = account.collectivite_id
    known = set(
        InboxItem.objects.for_collectivite(collectivite_id)
        .filter(account=account, external_id__in=[e.external_id for e in entries])
        .values_list("external_id", flat=True)
    )
    fresh = [e for e in entries if e.external_id not in known]
    if not fresh:
        return 0
    variants = dict(
        Variant.objects.for_collectivite(collectivite_id)
        .filter(
            account=account,
            external_id__in={e.post_external_id for e in fresh if e.post_external_id},
        )
        .values_list("external_id", "pk")
    )
    items = []
    for entry in fresh:
        citizen, _created = Citizen.objects.for_collectivite(collectivite_id).get_or_create(
            collectivite_id=collectivite_id,
            network=account.network,
            external_id=entry.author.external_id or entry.author.handle,
            defaults={
                "handle": entry.author.handle,
                "display_name": entry.author.display_name,
                "avatar_url": entry.author.avatar_url[:2000],
            },
        )
        result = triage(entry.text)
        items.append(
            InboxItem(
                collectivite_id=collectivite_id,
                account=account,
                network=account.network,
                kind=entry.kind.value if isinstance(entry.kind, ItemKind) else str(entry.kind),
                external_id=entry.external_id,
                parent_external_id=entry.parent_id or "",
                root_external_id=entry.root_id or "",
                post_external_id=entry.post_external_id or "",
                variant_id=variants.get(entry.post_external_id or ""),
                citizen=citizen,
                text=entry.text,
                language=entry.language or "",
                created_at=entry.created_at,
                permalink=entry.permalink[:2000],
                labels=[
                    {"code": label.code, "score": label.score, "reasons": list(label.reasons)}
                    for label in result.labels
                ],
                place=(result.place or "")[:200],
                priority=result.priority,
                needs_answer=result.needs_answer,
                raw=entry.raw,
            )
        )
    created = InboxItem.objects.bulk_create(items, ignore_conflicts=True)
    external_ids = [i.external_id for i in items]
    if charter:
        from monitoring.tasks import apply_charter_task

        transaction.on_commit(
            lambda: apply_charter_task.delay(collectivite_id, account.pk, external_ids)
        )
    return len(created)


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
    if not text.strip():
        raise ValidationError({"text": _("La réponse est vide.")})
    reply = Reply.objects.create(
        collectivite=item.collectivite, item=item, text=text.strip(), author=actor
    )
    from monitoring.tasks import send_reply_task

    transaction.on_commit(lambda: send_reply_task.delay(item.collectivite_id, reply.pk))
    return reply


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
        ).update(first_response_at=now)
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


def item_hide(*, actor: AbstractBaseUser, item: InboxItem, hidden: bool = True) -> InboxItem:
    require(actor, item.collectivite, Capability.INBOX_MODERATE)
    try:
        if hidden:
            call_network(item.account, lambda a, ref: a.hide(ref, _ref(item)))
        else:
            call_network(item.account, lambda a, ref: a.unhide(ref, _ref(item)))
    except NotSupported as exc:
        raise ValidationError(
            _("%(network)s ne permet pas de masquer ce message.")
            % {"network": item.account.get_network_display()}
        ) from exc
    except Rejected as exc:
        raise ValidationError(exc.reason) from exc
    except NetworkError as exc:
        raise ValidationError(_("Le réseau ne répond pas, réessayez dans un instant.")) from exc
    status = Status.MASQUE if hidden else Status.NOUVEAU
    with transaction.atomic():
        _record_item(actor, item, Action.ITEM_HIDDEN if hidden else Action.ITEM_UNHIDDEN, status)
        item.status = status
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
    import dataclasses

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

    from collectivites.models import Membership
    from collectivites.permissions import roles_with
    from collectivites.services import notify_users

    collectivite = Collectivite.objects.get(pk=watch.collectivite_id)
    user_ids = set(watch.recipients.values_list("pk", flat=True))
    if not user_ids:
        user_ids = set(
            Membership.objects.for_collectivite(collectivite)
            .filter(role__in=roles_with(Capability.WATCH_MANAGE))
            .values_list("user_id", flat=True)
        )
    local = alert.hour_start.astimezone(_zone(collectivite))
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


def _zone(collectivite: Collectivite) -> Any:
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(collectivite.time_zone or "Europe/Paris")
    except (KeyError, ValueError):
        return ZoneInfo("Europe/Paris")
