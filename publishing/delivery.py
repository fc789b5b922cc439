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
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import event as audit_event
from audit.services import person_label, record_many
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
    cut into batches; the order of ``due`` (urgent first, then the oldest) is kept: the
    accounts come in the order of their first due variant (a dict keeps insertion order)."""
    groups: dict[int, list[Variant]] = {}
    for variant in due:
        groups.setdefault(variant.account_id, []).append(variant)
    size = batch_size()
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


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


@dataclass
class _Outcome:
    variant: Variant
    to: str
    detail: str
    notify: str
    fields: dict[str, object]


class _Recorder:
    """Outcomes of a batch, written together: every ``RECORD_EVERY`` outcomes or
    ``RECORD_AFTER_SECONDS``, and at the end of the batch (even when it ends in an error).
    Safe because ``publish_many`` marked the batch ambiguous before any network call: if
    the worker dies before a record, the next owner asks the network before posting."""

    RECORD_EVERY = 10
    RECORD_AFTER_SECONDS = 2.0

    def __init__(self, collectivite_id: int) -> None:
        self.collectivite_id = collectivite_id
        self.pending: list[_Outcome] = []
        self.since = 0.0

    def finish(
        self, variant: Variant, to: str, *, detail: str = "", notify: str = "", **fields: object
    ) -> None:
        # An outcome that says nothing new about ambiguity puts back what was known before
        # this attempt (publish_many marked the variant ambiguous).
        fields.setdefault("ambiguous", variant.ambiguous)
        if not self.pending:
            self.since = time.monotonic()
        self.pending.append(_Outcome(variant, to, detail, notify, fields))
        if (
            len(self.pending) >= self.RECORD_EVERY
            or time.monotonic() - self.since >= self.RECORD_AFTER_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        if pending:
            _record(self.collectivite_id, pending)


@transaction.atomic
def _record(collectivite_id: int, outcomes: list[_Outcome]) -> None:
    now = timezone.now()
    variants = Variant.objects.for_collectivite(collectivite_id)
    held = {
        (pk, str(token))
        for pk, token in variants.select_for_update()
        .filter(pk__in=[o.variant.pk for o in outcomes], state=S.PUBLISHING)
        .values_list("pk", "lease_token")
    }
    ours = []
    for outcome in outcomes:
        if (outcome.variant.pk, str(outcome.variant.lease_token)) in held:
            ours.append(outcome)
        else:
            # The lease was taken back meanwhile (reaper): the next owner decides.
            logger.warning(
                "variant %s: lease lost before recording %s", outcome.variant.pk, outcome.to
            )
    if not ours:
        return
    # One UPDATE for the lot: each column takes each variant's own value.
    names = {"state"} | {name for o in ours for name in o.fields}
    columns: dict[str, object] = {}
    for name in names:
        field = Variant._meta.get_field(name)
        whens = [
            When(
                pk=o.variant.pk,
                then=Value(o.to if name == "state" else o.fields[name], output_field=field),
            )
            for o in ours
            if name == "state" or name in o.fields
        ]
        columns[name] = Case(*whens, default=F(name), output_field=field)
    variants.filter(pk__in=[o.variant.pk for o in ours]).update(
        lease_expires_at=None, lease_token=None, updated_at=now, **columns
    )
    VariantEvent.objects.bulk_create(
        VariantEvent(
            collectivite_id=collectivite_id,
            variant_id=o.variant.pk,
            from_state=S.PUBLISHING,
            to_state=o.to,
            detail=o.detail[:500],
        )
        for o in ours
    )
    _record_outcomes(collectivite_id, [o for o in ours if o.to in _OUTCOMES])
    for o in ours:
        if o.notify:
            notify_author(o.variant.publication, o.notify)


def _record_outcomes(collectivite_id: int, outcomes: list[_Outcome]) -> None:
    """The audit trail's events. Actor: Parvis (the worker); who approved each publication
    goes with it."""
    if not outcomes:
        return
    approvers: dict[int, list[str]] = {}
    for review in (
        Review.objects.for_collectivite(collectivite_id)
        .filter(
            publication_id__in={o.variant.publication_id for o in outcomes},
            decision=Review.Decision.APPROVED,
        )
        .select_related("reviewer")
        .order_by("created_at", "pk")
    ):
        approvers.setdefault(review.publication_id, []).append(
            person_label(review.reviewer) if review.reviewer else ""
        )
    events = []
    for o in outcomes:
        variant = o.variant
        after = {
            "state": o.to,
            "account": variant.account.display_name,
            "approved_by": approvers.get(variant.publication_id, []),
            "urgent": variant.publication.urgent,
        }
        for name in ("external_id", "permalink", "error_message"):
            if o.fields.get(name):
                after[name] = o.fields[name]
        events.append(
            audit_event(
                collectivite=collectivite_id,
                actor=None,
                action=_OUTCOMES[o.to],
                obj=variant,
                before={"state": S.PUBLISHING},
                after=after,
                actor_label="Parvis (publication programmée)",
            )
        )
    record_many(events)


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
    (``find_published``) before posting again. Outcomes are recorded together, a few at a
    time (``_Recorder``)."""
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
    recorder = _Recorder(collectivite_id)
    try:
        for variant_id, token in claims:
            variant = loaded.get(variant_id)
            if (
                variant is None
                or variant.state != S.PUBLISHING
                or str(variant.lease_token) != token
            ):
                outcomes.append("skipped")
            elif variant_id not in ours:
                outcomes.append("lease-expired")
            else:
                outcomes.append(_publish_one(variant, recorder))
    finally:
        recorder.flush()
    return outcomes


def _publish_one(variant: Variant, recorder: _Recorder) -> str:
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
            recorder.finish(
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
            return _retry_or_fail(variant, exc, recorder)
        if found is not None:
            _published(variant, found, recorder)
            return "published-found"

    try:
        published = call_network(variant.account, lambda a, ref: a.publish(ref, content))
    except NetworkError as exc:
        return _retry_or_fail(variant, exc, recorder, during_publish=True)
    _published(variant, published, recorder)
    return "published"


def _published(variant: Variant, published: Published, recorder: _Recorder) -> None:
    recorder.finish(
        variant,
        S.PUBLISHED,
        external_id=published.external_id,
        permalink=published.permalink,
        published_at=published.published_at or timezone.now(),
        error_message="",
        ambiguous=False,
        next_attempt_at=None,
    )


def _retry_or_fail(
    variant: Variant, exc: NetworkError, recorder: _Recorder, *, during_publish: bool = False
) -> str:
    title = variant.publication.title
    if isinstance(exc, Rejected):
        recorder.finish(
            variant,
            S.FAILED,
            detail=exc.message,
            error_message=exc.reason[:500],
            notify=_("« %(t)s » n'a pas pu être publiée sur %(a)s : %(r)s")
            % {"t": title, "a": variant.account.display_name, "r": exc.reason},
        )
        return "failed-rejected"
    if isinstance(exc, AuthExpired):
        recorder.finish(
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
        recorder.finish(
            variant,
            S.FAILED,
            detail=exc.message,
            error_message=_("Ce réseau ne permet pas cette publication."),
        )
        return "failed-unsupported"
    if variant.attempts >= MAX_ATTEMPTS:
        recorder.finish(
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
    recorder.finish(
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
