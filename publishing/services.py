"""Every write on publications and variants made by a person: writing, submitting,
validating, sending back, cancelling. Each checks the actor's capability. Sending posts
out is ``publishing.delivery`` (the tasks' services)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import record
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability, Role
from collectivites.services import notify_role, require
from publishing.models import Publication, Review, Variant, VariantEvent

S = Variant.State


class Conflict(ValidationError):
    """Someone else changed the variant meanwhile (compare-and-set failed)."""


def transition(
    variant: Variant,
    to: str,
    *,
    actor: AbstractBaseUser | None,
    detail: str = "",
    **fields: Any,
) -> Variant:
    """Move ``variant`` to ``to`` if the state machine allows it and nobody moved it
    meanwhile (conditional UPDATE, count checked); record who and when."""
    if not variant.can_become(to):
        raise ValidationError(
            _("Impossible de passer de « %(a)s » à « %(b)s ».")
            % {"a": variant.get_state_display(), "b": S(to).label}
        )
    updated = (
        Variant.objects.for_collectivite(variant.collectivite_id)
        .filter(pk=variant.pk, state=variant.state)
        .update(state=to, updated_at=timezone.now(), **fields)
    )
    if updated != 1:
        raise Conflict(_("Cette publication vient d'être modifiée par quelqu'un d'autre."))
    VariantEvent.objects.create(
        collectivite_id=variant.collectivite_id,
        variant=variant,
        from_state=variant.state,
        to_state=to,
        actor=actor,
        detail=detail[:500],
    )
    variant.state = to
    for name, value in fields.items():
        setattr(variant, name, value)
    return variant


def _accounts(collectivite: Collectivite, account_ids: Iterable[int]) -> list[SocialAccount]:
    ids = list(dict.fromkeys(int(i) for i in account_ids))
    accounts = list(SocialAccount.objects.for_collectivite(collectivite).filter(pk__in=ids))
    if not ids:
        raise ValidationError({"accounts": _("Choisissez au moins un compte.")})
    if len(accounts) != len(ids):
        raise ValidationError(
            {"accounts": _("Un compte choisi n'appartient pas à la collectivité.")}
        )
    return accounts


@transaction.atomic
def publication_create(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    title: str,
    text: str,
    account_ids: Iterable[int],
    scheduled_at: dt.datetime | None = None,
    campaign: str = "",
    link: str = "",
    notes: str = "",
    sponsored: bool = False,
) -> Publication:
    """Write once: one variant per chosen account, each starting from the same text."""
    require(actor, collectivite, Capability.PUBLISHING_DRAFT)
    if not title.strip():
        raise ValidationError({"title": _("Donnez un titre à la publication.")})
    accounts = _accounts(collectivite, account_ids)
    publication = Publication.objects.create(
        collectivite=collectivite,
        title=title.strip(),
        campaign=campaign,
        author=actor,
        notes=notes,
        link=link,
        sponsored=sponsored,
    )
    from publishing.alerts import hold_if_paused

    for account in accounts:
        variant = Variant.objects.create(
            collectivite=collectivite,
            publication=publication,
            account=account,
            text=text,
            link=link,
            scheduled_at=scheduled_at,
        )
        hold_if_paused(variant)
    return publication


@transaction.atomic
def variant_update(*, actor: AbstractBaseUser, variant: Variant, data: dict[str, Any]) -> Variant:
    """Edit a variant's text, link or time. An edit after submission sends the whole
    publication back to review (when the collectivité validates at all)."""
    collectivite = variant.collectivite
    require(actor, collectivite, Capability.PUBLISHING_DRAFT)
    if variant.state not in Variant.EDITABLE:
        raise ValidationError(_("Cette déclinaison ne peut plus être modifiée."))
    allowed = {"text", "link", "scheduled_at"}
    changes = {k: v for k, v in data.items() if k in allowed and getattr(variant, k) != v}
    if not changes:
        return variant
    for name, value in changes.items():
        setattr(variant, name, value)
    variant.save(update_fields=[*changes, "updated_at"])
    if variant.state in (S.APPROVED, S.IN_REVIEW) and collectivite.validation_steps > 0:
        _back_to_review(variant.publication, actor, _("modifiée après soumission"))
    elif variant.state == S.FAILED:
        transition(
            variant, S.DRAFT, actor=actor, detail=_("modifiée après un échec"), error_message=""
        )
    return variant


def _back_to_review(publication: Publication, actor: AbstractBaseUser, detail: str) -> None:
    Publication.objects.for_collectivite(publication.collectivite_id).filter(
        pk=publication.pk
    ).update(approvals=0)
    publication.approvals = 0
    for variant in _variants(publication).filter(state__in=[S.APPROVED]):
        transition(variant, S.IN_REVIEW, actor=actor, detail=detail)


def _variants(publication: Publication) -> Any:
    return Variant.objects.for_collectivite(publication.collectivite_id).filter(
        publication=publication
    )


@transaction.atomic
def publication_submit(*, actor: AbstractBaseUser, publication: Publication) -> Publication:
    collectivite = publication.collectivite
    require(actor, collectivite, Capability.PUBLISHING_DRAFT)
    drafts = list(_variants(publication).filter(state=S.DRAFT))
    if not drafts:
        raise ValidationError(_("Aucune déclinaison à soumettre."))
    from publishing.findings import findings_for_variant

    problems = []
    for variant in drafts:
        blocking = findings_for_variant(variant).errors
        if blocking:
            problems.append(
                _("%(account)s : %(errors)s")
                % {
                    "account": variant.account.display_name,
                    "errors": " ".join(f.message for f in blocking),
                }
            )
    if problems:
        raise ValidationError([_("Corrigez d'abord ce qui bloque la publication.")] + problems)
    Review.objects.create(
        collectivite=collectivite,
        publication=publication,
        reviewer=actor,
        decision=Review.Decision.SUBMITTED,
    )
    record(
        collectivite=collectivite,
        actor=actor,
        action=Action.PUBLICATION_SUBMITTED,
        obj=publication,
        after={
            "accounts": [v.account.display_name for v in drafts],
            "validation_steps": collectivite.validation_steps,
        },
    )
    if collectivite.validation_steps == 0:
        for variant in drafts:
            transition(variant, S.APPROVED, actor=actor, detail=_("sans validation"))
        return publication
    for variant in drafts:
        transition(variant, S.IN_REVIEW, actor=actor)
    _ask_validators(publication, step=publication.approvals + 1)
    return publication


def _ask_validators(publication: Publication, *, step: int) -> None:
    """Tell the step's named validators, or every validateur, in the app and by e-mail."""
    from collectivites.services import notify_users

    collectivite = publication.collectivite
    message = _("« %(title)s » attend votre validation.") % {"title": publication.title}
    link = reverse(
        "publication_detail", kwargs={"collectivite_slug": collectivite.slug, "pk": publication.pk}
    )
    named = collectivite.step_validator_ids(step)
    if named:
        notify_users(
            collectivite=collectivite, user_ids=named, message=message, link=link, email=True
        )
    else:
        notify_role(
            collectivite=collectivite, role=Role.VALIDATEUR, message=message, link=link, email=True
        )


@transaction.atomic
def publication_approve(
    *,
    actor: AbstractBaseUser,
    publication: Publication,
    comment: str = "",
    acknowledge_election: bool = False,
) -> Publication:
    """One validation step. In a pre-election period, content the guard flags needs the
    validateur to acknowledge it explicitly; the acknowledgement is recorded."""
    collectivite = publication.collectivite
    require(actor, collectivite, Capability.PUBLISHING_APPROVE)
    publication = (
        Publication.objects.for_collectivite(collectivite)
        .select_for_update()
        .get(pk=publication.pk)
    )
    pending = list(_variants(publication).filter(state=S.IN_REVIEW))
    if not pending:
        raise ValidationError(_("Rien n'attend de validation dans cette publication."))
    from publishing.findings import findings_for_variant

    flagged = [v for v in pending if findings_for_variant(v).needs_election_ack]
    if flagged and not acknowledge_election:
        raise ValidationError(
            _(
                "Période pré-électorale : %(accounts)s contient des éléments que le juge "
                "examinerait (ton promotionnel, candidat nommé, nouveauté). Confirmez que le "
                "contenu reste neutre et informatif pour valider."
            )
            % {"accounts": ", ".join(v.account.display_name for v in flagged)}
        )
    if flagged:
        Variant.objects.for_collectivite(collectivite).filter(
            pk__in=[v.pk for v in flagged]
        ).update(election_acknowledged_by=actor, election_acknowledged_at=timezone.now())
        Review.objects.create(
            collectivite=collectivite,
            publication=publication,
            reviewer=actor,
            step=publication.approvals + 1,
            decision=Review.Decision.ELECTION_ACK,
            comment=comment,
        )
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.ELECTION_ACKNOWLEDGED,
            obj=publication,
            after={"accounts": [v.account.display_name for v in flagged], "comment": comment},
        )
    step = publication.approvals + 1
    named = collectivite.step_validator_ids(step)
    if named and actor.pk not in named:
        raise ValidationError(
            _("La validation n°%(n)s revient aux personnes désignées par la collectivité.")
            % {"n": step}
        )
    if (
        step > 1
        and Review.objects.for_collectivite(collectivite)
        .filter(
            publication=publication,
            decision=Review.Decision.APPROVED,
            reviewer=actor,
            step=step - 1,
        )
        .exists()
    ):
        raise ValidationError(
            _("La seconde validation doit venir d'une autre personne que la première.")
        )
    Review.objects.create(
        collectivite=collectivite,
        publication=publication,
        reviewer=actor,
        step=step,
        decision=Review.Decision.APPROVED,
        comment=comment,
    )
    record(
        collectivite=collectivite,
        actor=actor,
        action=Action.PUBLICATION_APPROVED,
        obj=publication,
        before={"approvals": publication.approvals},
        after={"approvals": step, "steps": collectivite.validation_steps, "comment": comment},
    )
    Publication.objects.for_collectivite(collectivite).filter(pk=publication.pk).update(
        approvals=step
    )
    publication.approvals = step
    if step < collectivite.validation_steps:
        _ask_validators(publication, step=step + 1)
    if step >= collectivite.validation_steps:
        for variant in pending:
            transition(variant, S.APPROVED, actor=actor, detail=comment)
        notify_author(
            publication,
            _("« %(title)s » est validée.") % {"title": publication.title},
        )
    return publication


@transaction.atomic
def publication_send_back(
    *, actor: AbstractBaseUser, publication: Publication, comment: str
) -> Publication:
    collectivite = publication.collectivite
    require(actor, collectivite, Capability.PUBLISHING_APPROVE)
    if not comment.strip():
        raise ValidationError({"comment": _("Expliquez à l'auteur·rice ce qu'il faut revoir.")})
    pending = list(_variants(publication).filter(state__in=[S.IN_REVIEW, S.APPROVED]))
    if not pending:
        raise ValidationError(_("Rien à renvoyer dans cette publication."))
    Review.objects.create(
        collectivite=collectivite,
        publication=publication,
        reviewer=actor,
        step=publication.approvals + 1,
        decision=Review.Decision.SENT_BACK,
        comment=comment,
    )
    record(
        collectivite=collectivite,
        actor=actor,
        action=Action.PUBLICATION_SENT_BACK,
        obj=publication,
        before={"states": sorted({v.state for v in pending})},
        after={"state": S.DRAFT, "comment": comment},
    )
    Publication.objects.for_collectivite(collectivite).filter(pk=publication.pk).update(approvals=0)
    for variant in pending:
        transition(variant, S.DRAFT, actor=actor, detail=comment)
    notify_author(
        publication,
        _("« %(title)s » vous est renvoyée : %(comment)s")
        % {"title": publication.title, "comment": comment[:200]},
    )
    return publication


@transaction.atomic
def variant_cancel(*, actor: AbstractBaseUser, variant: Variant) -> Variant:
    require(actor, variant.collectivite, Capability.PUBLISHING_DRAFT)
    before = variant.state
    transition(variant, S.CANCELLED, actor=actor)
    record(
        collectivite=variant.collectivite_id,
        actor=actor,
        action=Action.VARIANT_CANCELLED,
        obj=variant,
        before={"state": before},
        after={"state": S.CANCELLED},
    )
    return variant


def notify_author(publication: Publication, message: str) -> None:
    from collectivites.models import Notification

    Notification.objects.create(
        collectivite_id=publication.collectivite_id,
        user_id=publication.author_id,
        message=message[:500],
        link=reverse(
            "publication_detail",
            kwargs={"collectivite_slug": publication.collectivite.slug, "pk": publication.pk},
        ),
    )


# --- media ------------------------------------------------------------------------------------


@transaction.atomic
def media_add(
    *,
    actor: AbstractBaseUser,
    publication: Publication,
    upload: Any,
    alt_text: str = "",
    credit: str = "",
    has_subtitles: bool = False,
    variant_ids: Iterable[int] | None = None,
) -> Any:
    """Attach an image or a video to the publication's editable variants (or the chosen
    ones). Checked by content, size-limited; approved variants go back to review."""
    from publishing.media import inspect
    from publishing.models import MediaAsset, VariantMedia

    collectivite = publication.collectivite
    require(actor, collectivite, Capability.PUBLISHING_DRAFT)
    found = inspect(upload)
    targets = [v for v in _variants(publication) if v.state in Variant.EDITABLE]
    if variant_ids is not None:
        wanted = {int(i) for i in variant_ids}
        targets = [v for v in targets if v.pk in wanted]
    if not targets:
        raise ValidationError(_("Aucune déclinaison modifiable pour recevoir ce média."))
    asset = MediaAsset.objects.create(
        collectivite=collectivite,
        file=found.content or upload,  # an image is stored re-encoded, without metadata
        kind=found.kind,
        mime_type=found.mime_type,
        size=found.size,
        width=found.width,
        height=found.height,
        alt_text=alt_text.strip(),
        credit=credit.strip(),
        has_subtitles=has_subtitles,
        uploaded_by=actor,
    )
    for variant in targets:
        position = (
            VariantMedia.objects.for_collectivite(collectivite).filter(variant=variant).count()
        )
        VariantMedia.objects.create(
            collectivite=collectivite, variant=variant, asset=asset, position=position
        )
    _media_changed(publication, actor, targets)
    return asset


@transaction.atomic
def media_update(
    *, actor: AbstractBaseUser, publication: Publication, asset_id: int, alt_text: str, credit: str
) -> Any:
    from publishing.models import MediaAsset, VariantMedia

    collectivite = publication.collectivite
    require(actor, collectivite, Capability.PUBLISHING_DRAFT)
    links = list(
        VariantMedia.objects.for_collectivite(collectivite)
        .filter(asset_id=asset_id, variant__publication=publication)
        .select_related("variant")
    )
    if not links:
        raise ValidationError(_("Ce média n'appartient pas à cette publication."))
    if any(link.variant.state not in Variant.EDITABLE for link in links):
        raise ValidationError(_("Ce média est déjà en cours de publication."))
    MediaAsset.objects.for_collectivite(collectivite).filter(pk=asset_id).update(
        alt_text=alt_text.strip(), credit=credit.strip()
    )
    _media_changed(publication, actor, [link.variant for link in links])
    return MediaAsset.objects.for_collectivite(collectivite).get(pk=asset_id)


@transaction.atomic
def media_remove(*, actor: AbstractBaseUser, publication: Publication, asset_id: int) -> None:
    from publishing.models import VariantMedia

    collectivite = publication.collectivite
    require(actor, collectivite, Capability.PUBLISHING_DRAFT)
    links = VariantMedia.objects.for_collectivite(collectivite).filter(
        asset_id=asset_id, variant__publication=publication, variant__state__in=Variant.EDITABLE
    )
    variants = [link.variant for link in links.select_related("variant")]
    links.delete()
    _media_changed(publication, actor, variants)


def _media_changed(
    publication: Publication, actor: AbstractBaseUser, variants: list[Variant]
) -> None:
    if publication.collectivite.validation_steps > 0 and any(
        v.state in (S.APPROVED, S.IN_REVIEW) for v in variants
    ):
        _back_to_review(publication, actor, _("média modifié après soumission"))


# --- posting slots and the queue ----------------------------------------------------------------


def slot_add(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    account_id: int,
    weekday: int,
    time: dt.time,
) -> Any:
    from publishing.models import PostingSlot

    require(actor, collectivite, Capability.EDITORIAL_MANAGE)
    (account,) = _accounts(collectivite, [account_id])
    slot, created = PostingSlot.objects.for_collectivite(collectivite).get_or_create(
        collectivite=collectivite, account=account, weekday=weekday, time=time
    )
    if not created:
        raise ValidationError(_("Ce créneau existe déjà."))
    return slot


def slot_delete(*, actor: AbstractBaseUser, collectivite: Collectivite, slot_id: int) -> None:
    from publishing.models import PostingSlot

    require(actor, collectivite, Capability.EDITORIAL_MANAGE)
    PostingSlot.objects.for_collectivite(collectivite).filter(pk=slot_id).delete()


def next_free_slot(*, variant: Variant, after: dt.datetime | None = None) -> dt.datetime | None:
    """The account's next slot (local time, across daylight-saving changes) that no other
    variant of that account already takes, within eight weeks."""
    import zoneinfo

    from publishing.forms import local_to_utc
    from publishing.models import PostingSlot

    collectivite = variant.collectivite
    slots = list(
        PostingSlot.objects.for_collectivite(collectivite).filter(account_id=variant.account_id)
    )
    if not slots:
        return None
    tz = zoneinfo.ZoneInfo(collectivite.time_zone)
    after = after or timezone.now()
    taken = set(
        Variant.objects.for_collectivite(collectivite)
        .filter(account_id=variant.account_id, scheduled_at__gt=after)
        .exclude(pk=variant.pk)
        .exclude(state__in=[S.CANCELLED, S.FAILED])
        .values_list("scheduled_at", flat=True)
    )
    start = after.astimezone(tz).date()
    for offset in range(7 * 8):
        day = start + dt.timedelta(days=offset)
        for slot in sorted((s for s in slots if s.weekday == day.weekday()), key=lambda s: s.time):
            moment = local_to_utc(day, slot.time, collectivite.time_zone)
            if moment > after and moment not in taken:
                return moment
    return None


@transaction.atomic
def variant_move(
    *, actor: AbstractBaseUser, variant: Variant, day: dt.date, time: dt.time | None = None
) -> Variant:
    """Move a variant to another day of the calendar, at the same local time unless another
    is given: 09:00 stays 09:00 in the collectivité's time zone across daylight-saving
    changes. Goes through ``variant_update``, so an approved post goes back to review where
    the collectivité validates."""
    import zoneinfo

    from publishing.forms import local_to_utc

    require(actor, variant.collectivite, Capability.PUBLISHING_DRAFT)
    tz_name = variant.collectivite.time_zone
    if time is None:
        if variant.scheduled_at is None:
            raise ValidationError(_("Donnez une heure : cette déclinaison n'est pas programmée."))
        time = variant.scheduled_at.astimezone(zoneinfo.ZoneInfo(tz_name)).time()
    moment = local_to_utc(day, time, tz_name)
    if moment <= timezone.now():
        raise ValidationError(_("On ne peut pas programmer une publication dans le passé."))
    return variant_update(actor=actor, variant=variant, data={"scheduled_at": moment})


@transaction.atomic
def variant_queue(*, actor: AbstractBaseUser, variant: Variant) -> Variant:
    """ "Add to queue": the next free posting slot of the variant's account."""
    require(actor, variant.collectivite, Capability.PUBLISHING_DRAFT)
    moment = next_free_slot(variant=variant)
    if moment is None:
        raise ValidationError(
            _("Aucun créneau libre : définissez les créneaux de publication de ce compte.")
        )
    return variant_update(actor=actor, variant=variant, data={"scheduled_at": moment})
