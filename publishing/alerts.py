"""Urgent alerts and the crisis pause: the services a validateur uses when something
happens. An alert skips the queue and the validation (the action is recorded and the
other validators are told after the fact); a crisis pause holds everything scheduled."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.models import Action
from audit.services import record
from collectivites.models import Collectivite, Membership
from collectivites.permissions import Capability, Role
from collectivites.services import require
from publishing.models import CrisisPause, Publication, Review, Variant
from publishing.services import _accounts, transition

S = Variant.State


@dataclass(frozen=True)
class AlertTemplate:
    code: str
    label: str
    text: str  # French, with {lieu}, {quand} and {consignes} to fill in


TEMPLATES: dict[str, AlertTemplate] = {
    t.code: t
    for t in (
        AlertTemplate(
            "meteo",
            gettext_lazy("Alerte météo"),
            "⚠️ Alerte météo {quand} sur {lieu}. {consignes} Limitez vos déplacements et "
            "suivez les consignes des autorités.",
        ),
        AlertTemplate(
            "travaux",
            gettext_lazy("Route coupée, travaux"),
            "🚧 Circulation interrompue {lieu} {quand}. {consignes} Une déviation est mise en "
            "place.",
        ),
        AlertTemplate(
            "eau",
            gettext_lazy("Coupure d'eau"),
            "💧 Coupure d'eau {lieu} {quand}. {consignes} Merci de votre compréhension.",
        ),
        AlertTemplate(
            "annulation",
            gettext_lazy("Événement annulé"),
            "❌ Annulation : {consignes} prévu {quand} {lieu} est annulé.",
        ),
        AlertTemplate(
            "fr-alert",
            gettext_lazy("Relais FR-Alert"),
            "📢 Relais FR-Alert {quand} pour {lieu} : {consignes} Suivez les consignes reçues "
            "sur votre téléphone.",
        ),
    )
}


def fill(template: AlertTemplate, *, lieu: str, quand: str, consignes: str) -> str:
    text = template.text.format(lieu=lieu.strip(), quand=quand.strip(), consignes=consignes.strip())
    return " ".join(text.split())


@transaction.atomic
def alert_publish(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    kind: str,
    title: str,
    text: str,
    account_ids: Iterable[int],
    alert_of: Publication | None = None,
) -> Publication:
    """Publish now, to the chosen accounts, without the validation queue. Held by no
    crisis pause (an alert is what a crisis needs)."""
    publication = _post_alert(
        actor=actor,
        collectivite=collectivite,
        kind=kind,
        title=title,
        text=text,
        account_ids=account_ids,
        alert_of=alert_of,
    )
    _record_alert(
        actor, publication, Action.ALERT_PUBLISHED if alert_of is None else Action.ALERT_UPDATED
    )
    return publication


def _record_alert(actor: AbstractBaseUser, publication: Publication, action: Action) -> None:
    record(
        collectivite=publication.collectivite_id,
        actor=actor,
        action=action,
        obj=publication,
        after={
            "kind": publication.alert_kind,
            "alert_of": publication.alert_of_id,
            "accounts": _alert_accounts(publication),
            "validation": False,
        },
    )


@transaction.atomic
def _post_alert(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    kind: str,
    title: str,
    text: str,
    account_ids: Iterable[int],
    alert_of: Publication | None = None,
) -> Publication:
    require(actor, collectivite, Capability.PUBLISHING_URGENT)
    if kind not in TEMPLATES and kind != "suivi":
        raise ValidationError({"kind": _("Type d'alerte inconnu.")})
    if not text.strip():
        raise ValidationError({"text": _("Le message d'alerte est vide.")})
    accounts = _accounts(collectivite, account_ids)
    now = timezone.now()
    publication = Publication.objects.create(
        collectivite=collectivite,
        title=title.strip() or str(TEMPLATES[kind].label if kind in TEMPLATES else _("Suivi")),
        author=actor,
        urgent=True,
        alert_kind=kind,
        alert_of=alert_of,
    )
    Review.objects.create(
        collectivite=collectivite,
        publication=publication,
        reviewer=actor,
        decision=Review.Decision.APPROVED,
        comment=_("Alerte urgente publiée sans validation préalable."),
    )
    for account in accounts:
        variant = Variant.objects.create(
            collectivite=collectivite,
            publication=publication,
            account=account,
            text=text.strip(),
            scheduled_at=now,
        )
        transition(variant, S.APPROVED, actor=actor, detail=_("alerte urgente"))
    _tell_other_validators(collectivite, actor, publication)

    from publishing.tasks import dispatch

    transaction.on_commit(lambda: dispatch.delay())
    return publication


def alert_update(*, actor: AbstractBaseUser, publication: Publication, text: str) -> Publication:
    """A follow-up post (the situation evolves); the alert stays open."""
    collectivite = publication.collectivite
    require(actor, collectivite, Capability.PUBLISHING_URGENT)
    if not publication.urgent or publication.alert_closed_at or publication.alert_of_id:
        raise ValidationError(_("Seule une alerte en cours peut recevoir une mise à jour."))
    return alert_publish(
        actor=actor,
        collectivite=collectivite,
        kind="suivi",
        title=_("Mise à jour : %(t)s") % {"t": publication.title},
        text=text,
        account_ids=_alert_accounts(publication),
        alert_of=publication,
    )


def _alert_accounts(publication: Publication) -> list[int]:
    """The accounts an alert went to: its follow-ups go to the same ones."""
    return list(
        Variant.objects.for_collectivite(publication.collectivite_id)
        .filter(publication=publication)
        .values_list("account_id", flat=True)
    )


@transaction.atomic
def alert_close(
    *,
    actor: AbstractBaseUser,
    publication: Publication,
    text: str,
    account_ids: Iterable[int] | None = None,
) -> Publication:
    """End an alert with a last post (a new post, to the same accounts by default)."""
    collectivite = publication.collectivite
    require(actor, collectivite, Capability.PUBLISHING_URGENT)
    if not publication.urgent or publication.alert_closed_at:
        raise ValidationError(_("Cette alerte est déjà close."))
    ids = list(account_ids) if account_ids is not None else _alert_accounts(publication)
    follow_up = _post_alert(
        actor=actor,
        collectivite=collectivite,
        kind="suivi",
        title=_("Fin d'alerte : %(t)s") % {"t": publication.title},
        text=text,
        account_ids=ids,
        alert_of=publication,
    )
    Publication.objects.for_collectivite(collectivite).filter(pk=publication.pk).update(
        alert_closed_at=timezone.now()
    )
    _record_alert(actor, publication, Action.ALERT_CLOSED)
    return follow_up


def _tell_other_validators(
    collectivite: Collectivite, actor: AbstractBaseUser, publication: Publication
) -> None:
    from collectivites.models import Notification

    others = (
        Membership.objects.for_collectivite(collectivite)
        .filter(role=Role.VALIDATEUR)
        .exclude(user=actor)
        .values_list("user_id", flat=True)
    )
    link = reverse(
        "publication_detail", kwargs={"collectivite_slug": collectivite.slug, "pk": publication.pk}
    )
    name = getattr(actor, "get_full_name", lambda: "")() or getattr(actor, "email", "")
    for user_id in set(others):
        Notification.objects.create(
            collectivite=collectivite,
            user_id=user_id,
            message=_("Alerte urgente publiée par %(who)s : « %(t)s ».")
            % {"who": name, "t": publication.title},
            link=link,
        )


# --- crisis pause -----------------------------------------------------------------------------


def active_pause(*, collectivite: Collectivite) -> CrisisPause | None:
    return CrisisPause.objects.for_collectivite(collectivite).filter(ended_at__isnull=True).first()


def _pausable(collectivite: Collectivite, account_ids: list[int]) -> object:
    qs = Variant.objects.for_collectivite(collectivite).filter(
        state__in=[S.DRAFT, S.IN_REVIEW, S.APPROVED, S.FAILED],
        publication__urgent=False,
    )
    if account_ids:
        qs = qs.filter(account_id__in=account_ids)
    return qs


@transaction.atomic
def crisis_pause(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    reason: str,
    account_ids: Iterable[int] = (),
) -> CrisisPause:
    require(actor, collectivite, Capability.PUBLISHING_URGENT)
    if active_pause(collectivite=collectivite):
        raise ValidationError(_("Une pause est déjà en cours."))
    if not reason.strip():
        raise ValidationError({"reason": _("Indiquez le motif de la pause.")})
    ids = [a.pk for a in _accounts(collectivite, account_ids)] if list(account_ids) else []
    pause = CrisisPause.objects.create(
        collectivite=collectivite, reason=reason.strip(), started_by=actor
    )
    if ids:
        pause.accounts.set(ids)
    held = _pausable(collectivite, ids).update(held=True)  # type: ignore[attr-defined]
    record(
        collectivite=collectivite,
        actor=actor,
        action=Action.CRISIS_PAUSED,
        obj=pause,
        after={"reason": pause.reason, "accounts": ids, "held": held},
    )
    from collectivites.services import notify_role

    notify_role(
        collectivite=collectivite,
        role=Role.REDACTEUR,
        message=_("Pause de crise : plus rien ne part avant la reprise (%(r)s).") % {"r": reason},
        link=reverse("crisis", kwargs={"collectivite_slug": collectivite.slug}),
    )
    return pause


def held_variants(*, collectivite: Collectivite) -> object:
    return (
        Variant.objects.for_collectivite(collectivite)
        .filter(held=True)
        .select_related("account", "publication")
        .order_by("scheduled_at")
    )


@transaction.atomic
def crisis_resume(*, actor: AbstractBaseUser, collectivite: Collectivite) -> int:
    """Release what is still held; what was cancelled or rescheduled meanwhile stays so.
    Returns how many variants were released."""
    require(actor, collectivite, Capability.PUBLISHING_URGENT)
    pause = active_pause(collectivite=collectivite)
    if pause is None:
        raise ValidationError(_("Aucune pause en cours."))
    released = Variant.objects.for_collectivite(collectivite).filter(held=True).update(held=False)
    CrisisPause.objects.for_collectivite(collectivite).filter(pk=pause.pk).update(
        ended_by=actor, ended_at=timezone.now()
    )
    record(
        collectivite=collectivite,
        actor=actor,
        action=Action.CRISIS_RESUMED,
        obj=pause,
        after={"released": released},
    )
    return released


def hold_if_paused(variant: Variant) -> None:
    """A variant created or rescheduled during a pause is held too."""
    pause = active_pause(collectivite=variant.collectivite)
    if pause is None or variant.publication.urgent:
        return
    ids = list(pause.accounts.values_list("pk", flat=True))
    if not ids or variant.account_id in ids:
        Variant.objects.for_collectivite(variant.collectivite_id).filter(pk=variant.pk).update(
            held=True
        )
