"""Sending variants out exactly once: the services the publishing tasks call.

The database is the schedule. ``dispatch_due`` claims due variants (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so two dispatchers never take the same row), marks them
``publishing`` with a lease and a fresh lease token, and queues one task per batch of an
account's claims once the transaction commits. ``publish_many`` runs in the task: it acts
only on variants still ``publishing`` under the same token, asks the network first when an
earlier attempt may have posted (``ambiguous``), and records each outcome.
``reap_expired_leases`` gives back variants whose worker died mid-publish, marked ambiguous.
Cross-tenant by design (the scheduler serves every collectivité): those queries say
``dangerously_unscoped``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import person_label, record
from collectivites.connections import call_network
from networks.base import (
    AuthExpired,
    Media,
    MediaKind,
    NetworkError,
    NotSupported,
    PostContent,
    Published,
    RateLimited,
    Rejected,
    Transient,
)
from publishing.media import signed_url
from publishing.models import MediaAsset, Review, Variant, VariantEvent, VariantMedia
from publishing.services import notify_author
from publishing.utm import add_utm, apply_utm_to_text

logger = logging.getLogger(__name__)
S = Variant.State

MAX_ATTEMPTS = 8
BACKOFF_CAP_SECONDS = 30 * 60


def lease_duration() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "PARVIS_PUBLISH_LEASE_SECONDS", 300))


def backoff(attempt: int) -> dt.timedelta:
    """Exponential with full jitter, capped."""
    base = settings.PARVIS_PUBLISH_BACKOFF_SECONDS
    ceiling = min(BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempt - 1))
    return dt.timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311


@dataclass(frozen=True)
class Claim:
    collectivite_id: int
    variant_id: int
    lease_token: str


def batch_size() -> int:
    return max(1, getattr(settings, "PARVIS_PUBLISH_BATCH_SIZE", 20))


def _batches(due: list[Variant]) -> list[list[Variant]]:
    """Claims grouped per account (one credential, one adapter, the network's own pace),
    cut into batches; the order of ``due`` (urgent first, then the oldest) is kept."""
    groups: dict[int, list[Variant]] = {}
    for variant in due:
        groups.setdefault(variant.account_id, []).append(variant)
    size = batch_size()
    return [
        group[i : i + size]
        for group in sorted(groups.values(), key=lambda g: due.index(g[0]))
        for i in range(0, len(group), size)
    ]


def dispatch_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[Claim]:
    """Claim up to ``limit`` due variants and, once committed, queue one publishing task per
    batch of claims of the same account (``PARVIS_PUBLISH_BATCH_SIZE``)."""
    from publishing.tasks import publish_variants

    now = now or timezone.now()
    claims: list[Claim] = []
    batches: list[list[Claim]] = []
    with transaction.atomic():
        # Backpressure: keep what is in flight well inside the lease, so a burst never
        # leaves leases to expire in the broker's queue (docs/benchmarks.md).
        in_flight = (
            Variant.objects.dangerously_unscoped()
            .filter(state=S.PUBLISHING, lease_expires_at__gt=now)
            .count()
        )
        limit = min(limit, max(0, settings.PARVIS_DISPATCH_MAX_IN_FLIGHT - in_flight))
        if not limit:
            return []
        due = list(
            Variant.objects.dangerously_unscoped()
            .select_for_update(skip_locked=True)
            .filter(state=S.APPROVED, held=False, scheduled_at__lte=now)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            # urgent alerts first, then the oldest due
            .order_by("-publication__urgent", "scheduled_at", "pk")
            .only("pk", "collectivite_id", "account_id", "attempts")[:limit]
        )
        lease_until = now + lease_duration()
        events = []
        for batch in _batches(due):
            # One statement per batch; the rows are ours (locked above). The variants of a
            # batch share a lease token: each is still recorded on its own (pk and token).
            token = uuid.uuid4()
            Variant.objects.dangerously_unscoped().filter(
                pk__in=[v.pk for v in batch], state=S.APPROVED
            ).update(
                state=S.PUBLISHING,
                lease_expires_at=lease_until,
                lease_token=token,
                attempts=F("attempts") + 1,
                first_attempt_at=Coalesce("first_attempt_at", Value(now)),
                updated_at=now,
            )
            batch_claims = [Claim(v.collectivite_id, v.pk, str(token)) for v in batch]
            events += [
                VariantEvent(
                    collectivite_id=v.collectivite_id,
                    variant_id=v.pk,
                    from_state=S.APPROVED,
                    to_state=S.PUBLISHING,
                    detail=f"tentative {v.attempts + 1}",
                )
                for v in batch
            ]
            claims += batch_claims
            batches.append(batch_claims)
        VariantEvent.objects.bulk_create(events)
        if batches:
            transaction.on_commit(
                lambda: [
                    publish_variants.delay(
                        batch[0].collectivite_id, [[c.variant_id, c.lease_token] for c in batch]
                    )
                    for batch in batches
                ]
            )
    return claims


def content_of(variant: Variant) -> PostContent:
    media = []
    assets = getattr(variant, "ordered_media", None)
    if assets is None:
        assets = [vm.asset for vm in _media_links([variant.pk], variant.collectivite_id)]
    for asset in assets:
        with asset.file.open("rb") as fh:
            data = fh.read()
        media.append(
            Media(
                kind=MediaKind(asset.kind),
                data=data,
                mime_type=asset.mime_type,
                alt_text=asset.alt_text,
                filename=asset.file.name.rsplit("/", 1)[-1],
                public_url=signed_url(asset.pk),
            )
        )
    text, link = outgoing(variant)
    return PostContent(
        text=text,
        idempotency_key=str(variant.idempotency_key),
        media=tuple(media),
        link=link,
    )


def outgoing(variant: Variant) -> tuple[str, str | None]:
    """Text and link as they leave: UTM parameters on links to the collectivité's own site
    (when it wants them), per network."""
    collectivite = variant.collectivite
    if not (collectivite.utm_enabled and collectivite.website_url):
        return variant.text, variant.link or None
    options = {
        "site_url": collectivite.website_url,
        "network": variant.account.network,
        "campaign": variant.publication.campaign,
    }
    text = apply_utm_to_text(variant.text, **options)
    link = add_utm(variant.link, **options) if variant.link else None
    return text, link


# What the trail records when a publishing attempt ends (a retry is not an outcome).
_OUTCOMES = {
    S.PUBLISHED: Action.VARIANT_PUBLISHED,
    S.FAILED: Action.VARIANT_FAILED,
    S.UNCONFIRMED: Action.VARIANT_UNCONFIRMED,
}


def _record_outcome(variant: Variant, to: str, fields: dict[str, object]) -> None:
    """Actor: Parvis (the worker); who approved the publication goes with it."""
    approvers = [
        person_label(r.reviewer) if r.reviewer else ""
        for r in Review.objects.for_collectivite(variant.collectivite_id)
        .filter(publication_id=variant.publication_id, decision=Review.Decision.APPROVED)
        .select_related("reviewer")
        .order_by("created_at")
    ]
    after = {
        "state": to,
        "account": variant.account.display_name,
        "approved_by": approvers,
        "urgent": variant.publication.urgent,
    }
    for name in ("external_id", "permalink", "error_message"):
        if fields.get(name):
            after[name] = fields[name]
    record(
        collectivite=variant.collectivite_id,
        actor=None,
        action=_OUTCOMES[to],
        obj=variant,
        before={"state": S.PUBLISHING},
        after=after,
        actor_label="Parvis (publication programmée)",
    )


@transaction.atomic
def _finish(
    variant: Variant, to: str, *, detail: str = "", notify: str = "", **fields: object
) -> None:
    now = timezone.now()
    # publish_many marked the variant ambiguous before calling the network; an outcome
    # that says nothing new about it puts back what was known before the attempt.
    fields.setdefault("ambiguous", variant.ambiguous)
    updated = (
        Variant.objects.for_collectivite(variant.collectivite_id)
        .filter(pk=variant.pk, state=S.PUBLISHING, lease_token=variant.lease_token)
        .update(state=to, lease_expires_at=None, lease_token=None, updated_at=now, **fields)
    )
    if updated != 1:
        # The lease was taken back meanwhile (reaper): the next owner decides.
        logger.warning("variant %s: lease lost before recording %s", variant.pk, to)
        return
    VariantEvent.objects.create(
        collectivite_id=variant.collectivite_id,
        variant_id=variant.pk,
        from_state=S.PUBLISHING,
        to_state=to,
        detail=detail[:500],
    )
    if to in _OUTCOMES:
        _record_outcome(variant, to, fields)
    if notify:
        notify_author(variant.publication, notify)


def _media_links(variant_ids: list[int], collectivite_id: int) -> list[VariantMedia]:
    return list(
        VariantMedia.objects.for_collectivite(collectivite_id)
        .filter(variant_id__in=variant_ids)
        .select_related("asset")
        .order_by("variant_id", "position", "pk")
    )


def publish(*, collectivite_id: int, variant_id: int, lease_token: str) -> str:
    """Publish one claimed variant. Returns what happened (for logs and tests)."""
    (outcome,) = publish_many(collectivite_id=collectivite_id, claims=[(variant_id, lease_token)])
    return outcome


def publish_many(*, collectivite_id: int, claims: Sequence[tuple[int, str]]) -> list[str]:
    """Publish a batch of claimed variants of one collectivité, one after the other; returns
    what happened to each, in order.

    The batch is loaded in one query. Before any network call, the variants still ours are
    marked ``ambiguous`` in one statement: if this worker dies mid-batch and the task runs
    again (``acks_late``) or the reaper takes them back, whoever comes next asks the network
    (``find_published``) before posting again. Each outcome is recorded on its own, so a
    death mid-batch loses at most the answer being awaited."""
    ids = [variant_id for variant_id, _token in claims]
    loaded = {
        v.pk: v
        for v in Variant.objects.for_collectivite(collectivite_id)
        .select_related("account", "publication", "collectivite", "account__collectivite")
        .filter(pk__in=ids)
    }
    now = timezone.now()
    ours = {
        variant_id: loaded[variant_id]
        for variant_id, token in claims
        if variant_id in loaded
        and loaded[variant_id].state == S.PUBLISHING
        and str(loaded[variant_id].lease_token) == token
        and not (loaded[variant_id].lease_expires_at and loaded[variant_id].lease_expires_at < now)
    }
    if ours:
        media: dict[int, list[MediaAsset]] = {pk: [] for pk in ours}
        for link in _media_links(list(ours), collectivite_id):
            media[link.variant_id].append(link.asset)
        for pk, variant in ours.items():
            variant.ordered_media = media[pk]  # type: ignore[attr-defined]
        Variant.objects.for_collectivite(collectivite_id).filter(
            pk__in=list(ours), state=S.PUBLISHING, ambiguous=False
        ).update(ambiguous=True)
    outcomes = []
    for variant_id, token in claims:
        variant = loaded.get(variant_id)
        if variant is None or variant.state != S.PUBLISHING or str(variant.lease_token) != token:
            outcomes.append("skipped")
        elif variant_id not in ours:
            outcomes.append("lease-expired")
        else:
            outcomes.append(_publish_one(variant))
    return outcomes


def _publish_one(variant: Variant) -> str:
    """Publish a loaded variant that this worker holds; ``variant.ambiguous`` is what it
    was before this attempt."""
    content = content_of(variant)
    since = (variant.first_attempt_at or timezone.now()) - dt.timedelta(minutes=5)

    if variant.ambiguous:
        try:
            found = call_network(
                variant.account, lambda a, ref: a.find_published(ref, content, since)
            )
        except NotSupported:
            _finish(
                variant,
                S.UNCONFIRMED,
                detail="find_published not supported",
                error_message=_(
                    "Le réseau n'a pas confirmé la publication et ne permet pas de le vérifier : "
                    "regardez sur le compte avant de la relancer."
                ),
                notify=_("« %(t)s » : vérifiez sur le réseau si elle est bien parue.")
                % {"t": variant.publication.title},
            )
            return "unconfirmed"
        except NetworkError as exc:
            return _retry_or_fail(variant, exc)
        if found is not None:
            _published(variant, found)
            return "published-found"

    try:
        published = call_network(variant.account, lambda a, ref: a.publish(ref, content))
    except NetworkError as exc:
        return _retry_or_fail(variant, exc, during_publish=True)
    _published(variant, published)
    return "published"


def _published(variant: Variant, published: Published) -> None:
    _finish(
        variant,
        S.PUBLISHED,
        external_id=published.external_id,
        permalink=published.permalink,
        published_at=published.published_at or timezone.now(),
        error_message="",
        ambiguous=False,
        next_attempt_at=None,
    )


def _retry_or_fail(variant: Variant, exc: NetworkError, *, during_publish: bool = False) -> str:
    title = variant.publication.title
    if isinstance(exc, Rejected):
        _finish(
            variant,
            S.FAILED,
            detail=exc.message,
            error_message=exc.reason[:500],
            notify=_("« %(t)s » n'a pas pu être publiée sur %(a)s : %(r)s")
            % {"t": title, "a": variant.account.display_name, "r": exc.reason},
        )
        return "failed-rejected"
    if isinstance(exc, AuthExpired):
        _finish(
            variant,
            S.FAILED,
            detail=exc.message,
            error_message=_("Le compte %(a)s doit être reconnecté.")
            % {"a": variant.account.display_name},
            notify=_("« %(t)s » n'a pas pu être publiée : le compte %(a)s doit être reconnecté.")
            % {"t": title, "a": variant.account.display_name},
        )
        return "failed-auth"
    if isinstance(exc, NotSupported):
        _finish(
            variant,
            S.FAILED,
            detail=exc.message,
            error_message=_("Ce réseau ne permet pas cette publication."),
        )
        return "failed-unsupported"
    if variant.attempts >= MAX_ATTEMPTS:
        _finish(
            variant,
            S.UNCONFIRMED if (during_publish or variant.ambiguous) else S.FAILED,
            detail=exc.message,
            error_message=_("Le réseau n'a pas répondu après %(n)s tentatives.")
            % {"n": variant.attempts},
            notify=_("« %(t)s » n'a pas pu être publiée sur %(a)s après plusieurs tentatives.")
            % {"t": title, "a": variant.account.display_name},
        )
        return "gave-up"
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        delay = dt.timedelta(seconds=max(1.0, exc.retry_after))
    else:
        delay = backoff(variant.attempts)
    _finish(
        variant,
        S.APPROVED,
        detail=f"{type(exc).__name__}: {exc.message}",
        next_attempt_at=timezone.now() + delay,
        # A Transient during publish may hide a post that went out: ask first next time.
        ambiguous=variant.ambiguous or (during_publish and isinstance(exc, Transient)),
    )
    return "retry"


def reap_expired_leases(*, now: dt.datetime | None = None) -> int:
    """Variants left ``publishing`` by a worker that died go back to the queue, ambiguous."""
    now = now or timezone.now()
    reaped = 0
    with transaction.atomic():
        for variant in (
            Variant.objects.dangerously_unscoped()
            .select_for_update(skip_locked=True)
            .filter(state=S.PUBLISHING, lease_expires_at__lt=now)
        ):
            Variant.objects.dangerously_unscoped().filter(
                pk=variant.pk, state=S.PUBLISHING, lease_token=variant.lease_token
            ).update(
                state=S.APPROVED,
                lease_token=None,
                lease_expires_at=None,
                ambiguous=True,
                next_attempt_at=now,
                updated_at=now,
            )
            VariantEvent.objects.create(
                collectivite_id=variant.collectivite_id,
                variant_id=variant.pk,
                from_state=S.PUBLISHING,
                to_state=S.APPROVED,
                detail="bail expiré : tentative reprise",
            )
            reaped += 1
    return reaped
