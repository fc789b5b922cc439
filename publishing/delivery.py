"""Sending variants out exactly once: the services the publishing tasks call.

The database is the schedule. ``dispatch_due`` claims due variants (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so two dispatchers never take the same row), marks them
``publishing`` with a lease and a fresh lease token, and queues one task each once the
transaction commits. ``publish`` runs in the task: it acts only if the variant is still
``publishing`` under the same token, asks the network first when an earlier attempt
may have posted (``ambiguous``), and records the outcome. ``reap_expired_leases`` gives
back variants whose worker died mid-publish, marked ambiguous. Cross-tenant by design
(the scheduler serves every collectivité): those queries say ``dangerously_unscoped``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
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
from publishing.models import Review, Variant, VariantEvent
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


def dispatch_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[Claim]:
    """Claim up to ``limit`` due variants and queue their publishing once committed."""
    from publishing.tasks import publish_variant

    now = now or timezone.now()
    claims: list[Claim] = []
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
            .only("pk", "collectivite_id", "attempts", "first_attempt_at")[:limit]
        )
        lease_until = now + lease_duration()
        events = []
        for variant in due:
            token = uuid.uuid4()
            Variant.objects.dangerously_unscoped().filter(pk=variant.pk, state=S.APPROVED).update(
                state=S.PUBLISHING,
                lease_expires_at=lease_until,
                lease_token=token,
                attempts=variant.attempts + 1,
                first_attempt_at=variant.first_attempt_at or now,
                updated_at=now,
            )
            events.append(
                VariantEvent(
                    collectivite_id=variant.collectivite_id,
                    variant_id=variant.pk,
                    from_state=S.APPROVED,
                    to_state=S.PUBLISHING,
                    detail=f"tentative {variant.attempts + 1}",
                )
            )
            claims.append(Claim(variant.collectivite_id, variant.pk, str(token)))
        VariantEvent.objects.bulk_create(events)
        if claims:
            transaction.on_commit(
                lambda: [
                    publish_variant.delay(c.collectivite_id, c.variant_id, c.lease_token)
                    for c in claims
                ]
            )
    return claims


def content_of(variant: Variant) -> PostContent:
    media = []
    for asset in variant.media.all().order_by("variantmedia__position"):
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


def publish(*, collectivite_id: int, variant_id: int, lease_token: str) -> str:
    """Publish one claimed variant. Returns what happened (for logs and tests)."""
    variant = (
        Variant.objects.for_collectivite(collectivite_id)
        .select_related("account", "publication", "collectivite", "account__collectivite")
        .filter(pk=variant_id)
        .first()
    )
    if variant is None or variant.state != S.PUBLISHING or str(variant.lease_token) != lease_token:
        return "skipped"
    if variant.lease_expires_at and variant.lease_expires_at < timezone.now():
        return "lease-expired"
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
