"""Collecting citizens' messages and working through them. Every write is here; each
person's action checks the capability."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from collectivites.connections import call_network
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability
from collectivites.services import require
from monitoring.models import Citizen, CollectionState, InboxItem, Reply, SavedReply
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


def _store(account: SocialAccount, entries: Iterable[InboxEntry], triage: Any) -> int:
    """Upsert on (account, external_id): an item seen twice is stored once."""
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
        InboxItem.objects.for_collectivite(account.collectivite_id).filter(pk=item.pk).update(
            status=Status.MASQUE
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


def item_set_status(*, actor: AbstractBaseUser, item: InboxItem, status: str) -> InboxItem:
    require(actor, item.collectivite, Capability.INBOX_REPLY)
    if status not in (Status.NOUVEAU, Status.EN_ATTENTE, Status.CLOS):
        raise ValidationError(_("Cet état se pose par une action (répondre, masquer)."))
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
    item.status = Status.MASQUE if hidden else Status.NOUVEAU
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
    saved = saved or SavedReply(collectivite=collectivite)
    for name in ("title", "text", "theme"):
        if name in data:
            setattr(saved, name, data[name])
    saved.validated_by = actor
    saved.validated_at = timezone.now()
    saved.full_clean()
    saved.save()
    return saved
