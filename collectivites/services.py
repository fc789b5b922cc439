"""Every write on a collectivité and its settings. Views, the API and tasks call these;
each checks the actor's capability itself, so no caller can forget it."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import person_label, record, snapshot
from collectivites.models import (
    Audience,
    Collectivite,
    EditorialLine,
    ElectionPeriod,
    Invitation,
    Membership,
    ModerationCharter,
    Notification,
    SocialAccount,
)
from collectivites.permissions import Capability, Role
from collectivites.selectors import roles_of

User = get_user_model()


def require(user: AbstractBaseUser, collectivite: Collectivite, capability: str) -> None:
    """Raise PermissionDenied unless ``user`` holds ``capability`` in ``collectivite``: their
    roles, unless the 2FA policy blocks them, or an API key's scopes (``access.gate``)."""
    from access.gate import grant, two_factor_message

    if capability not in Capability.values:
        raise ValueError(f"Unknown capability {capability!r}")
    granted = grant(
        user=user, collectivite=collectivite, roles=roles_of(user=user, collectivite=collectivite)
    )
    if granted is not None and granted.two_factor:
        raise PermissionDenied(two_factor_message(granted.two_factor))
    if granted is None or capability not in granted.capabilities:
        raise PermissionDenied(_("Votre rôle ne permet pas cette action."))


def _check_roles(roles: Iterable[str]) -> list[str]:
    chosen = sorted(set(roles))
    if not chosen:
        raise ValidationError({"roles": _("Choisissez au moins un rôle.")})
    unknown = set(chosen) - set(Role.values)
    if unknown:
        raise ValidationError({"roles": _("Rôle inconnu : %(r)s") % {"r": ", ".join(unknown)}})
    return chosen


def _save(obj: Model) -> Model:
    obj.full_clean()
    obj.save()
    return obj


# --- members -------------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *, actor: AbstractBaseUser, collectivite: Collectivite, email: str, roles: Iterable[str]
) -> Invitation:
    """Record the invitation; the e-mail with its one-time link is sent by a task.

    The link's token is drawn by that task (``invitation_send``), so it never travels
    through the broker and is never known to this request, the page or the API."""
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    chosen = _check_roles(roles)
    email = User.objects.normalize_email(email).strip().lower()
    invitation = Invitation(
        collectivite=collectivite,
        email=email,
        roles=chosen,
        token_hash=_hash_token(secrets.token_urlsafe(32)),  # replaced when the e-mail is sent
        invited_by=actor,
        expires_at=timezone.now() + settings.INVITATION_VALIDITY,
    )
    _save(invitation)
    record(
        collectivite=collectivite,
        actor=actor,
        action=Action.INVITATION_CREATED,
        obj=invitation,
        after={"email": email, "roles": chosen},
    )

    from collectivites.tasks import send_invitation_email

    transaction.on_commit(lambda: send_invitation_email.delay(collectivite.pk, invitation.pk))
    return invitation


def invitation_send(*, collectivite: Collectivite, invitation_id: int) -> bool:
    """Draw a fresh one-time token, keep only its hash, e-mail the link. A retry draws a
    new token, so only the last e-mail sent holds a working link."""
    invitation = (
        Invitation.objects.for_collectivite(collectivite)
        .select_related("invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None or not invitation.is_usable:
        return False
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _hash_token(token)
    invitation.save(update_fields=["token_hash"])
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "invitation": invitation,
            "collectivite": collectivite,
            "days": settings.INVITATION_VALIDITY.days,
            "url": settings.PARVIS_BASE_URL + reverse("invitation_accept", kwargs={"token": token}),
        }
        subject = render_to_string("collectivites/email/invitation_subject.txt", context).strip()
        body = render_to_string("collectivites/email/invitation.txt", context)
    send_mail(subject, body, None, [invitation.email])
    return True


def invitation_find(*, token: str) -> Invitation | None:
    """The invitation a link points to, if it can still be used (the token is the scope)."""
    invitation = (
        Invitation.objects.dangerously_unscoped()
        .select_related("collectivite")
        .filter(token_hash=_hash_token(token))
        .first()
    )
    if invitation is None or not invitation.is_usable:
        return None
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> Collectivite:
    invitation = invitation_find(token=token)
    if invitation is None:
        raise ValidationError(_("Ce lien d'invitation n'est plus valable."))
    locked = (
        Invitation.objects.for_collectivite(invitation.collectivite)
        .select_for_update()
        .get(pk=invitation.pk)
    )
    if not locked.is_usable:
        raise ValidationError(_("Ce lien d'invitation n'est plus valable."))
    for role in locked.roles:
        Membership.objects.get_or_create(collectivite=invitation.collectivite, user=user, role=role)
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by"])
    record(
        collectivite=invitation.collectivite,
        actor=user,
        action=Action.INVITATION_ACCEPTED,
        obj=locked,
        after={"roles": locked.roles},
    )
    return invitation.collectivite


@transaction.atomic
def invitation_revoke(
    *, actor: AbstractBaseUser, collectivite: Collectivite, invitation_id: int
) -> None:
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    pending = Invitation.objects.for_collectivite(collectivite).filter(
        pk=invitation_id, accepted_at__isnull=True
    )
    invitation = pending.first()
    if invitation is not None and pending.delete()[0]:
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.INVITATION_REVOKED,
            obj=invitation,
            object_id=invitation_id,
            before={"email": invitation.email, "roles": invitation.roles},
        )


def invitations_purge_expired() -> int:
    """Maintenance across tenants (beat): expired, unaccepted invitations go."""
    deleted, _detail = (
        Invitation.objects.dangerously_unscoped()
        .filter(accepted_at__isnull=True, expires_at__lt=timezone.now())
        .delete()
    )
    return deleted


def _admins_left_after(collectivite: Collectivite, user_id: int, new_roles: list[str]) -> int:
    others = (
        Membership.objects.for_collectivite(collectivite)
        .filter(role=Role.ADMIN)
        .exclude(user_id=user_id)
        .count()
    )
    return others + (1 if Role.ADMIN in new_roles else 0)


@transaction.atomic
def member_set_roles(
    *, actor: AbstractBaseUser, collectivite: Collectivite, user_id: int, roles: Iterable[str]
) -> list[str]:
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    chosen = _check_roles(roles)
    current = (
        Membership.objects.for_collectivite(collectivite)
        .select_for_update()
        .filter(user_id=user_id)
    )
    if not current.exists():
        raise ValidationError(_("Cette personne n'est pas membre de la collectivité."))
    if _admins_left_after(collectivite, user_id, chosen) == 0:
        raise ValidationError(
            {"roles": _("La collectivité doit garder au moins un·e administrateur·rice.")}
        )
    before = sorted(current.values_list("role", flat=True))
    current.exclude(role__in=chosen).delete()
    for role in chosen:
        Membership.objects.get_or_create(collectivite=collectivite, user_id=user_id, role=role)
    if before != chosen:
        _record_member(actor, collectivite, user_id, Action.ROLES_CHANGED, before, chosen)
    return chosen


def _record_member(
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    user_id: int,
    action: Action,
    before: list[str],
    after: list[str] | None,
) -> None:
    member = User.objects.filter(pk=user_id).first()
    record(
        collectivite=collectivite,
        actor=actor,
        action=action,
        object_type=User._meta.label_lower,
        object_id=user_id,
        object_label=person_label(member) if member else str(user_id),
        before={"roles": before},
        after={"roles": after} if after is not None else None,
    )


@transaction.atomic
def member_remove(*, actor: AbstractBaseUser, collectivite: Collectivite, user_id: int) -> None:
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    if _admins_left_after(collectivite, user_id, []) == 0:
        raise ValidationError(_("La collectivité doit garder au moins un·e administrateur·rice."))
    memberships = Membership.objects.for_collectivite(collectivite).filter(user_id=user_id)
    before = sorted(memberships.values_list("role", flat=True))
    if memberships.delete()[0]:
        _record_member(actor, collectivite, user_id, Action.MEMBER_REMOVED, before, None)


# --- notifications ----------------------------------------------------------------------------


def notify_role(
    *, collectivite: Collectivite, role: str, message: str, link: str = "", email: bool = False
) -> list[Notification]:
    user_ids = set(
        Membership.objects.for_collectivite(collectivite)
        .filter(role=role)
        .values_list("user_id", flat=True)
    )
    return notify_users(
        collectivite=collectivite, user_ids=user_ids, message=message, link=link, email=email
    )


def notify_users(
    *,
    collectivite: Collectivite,
    user_ids: Iterable[int],
    message: str,
    link: str = "",
    email: bool = False,
) -> list[Notification]:
    members = set(
        Membership.objects.for_collectivite(collectivite).values_list("user_id", flat=True)
    )
    user_ids = {u for u in user_ids if u in members}
    notifications = [
        Notification.objects.create(
            collectivite=collectivite, user_id=user_id, message=message, link=link
        )
        for user_id in sorted(user_ids)
    ]
    if email and notifications:
        from collectivites.tasks import email_notifications

        ids = [n.pk for n in notifications]
        transaction.on_commit(lambda: email_notifications.delay(collectivite.pk, ids))
    return notifications


def notifications_mark_read(*, user: AbstractBaseUser, collectivite: Collectivite) -> int:
    return (
        Notification.objects.for_collectivite(collectivite)
        .filter(user=user, read_at__isnull=True)
        .update(read_at=timezone.now())
    )


def notifications_send_email(*, collectivite: Collectivite, notification_ids: list[int]) -> int:
    """E-mail each notification to its member (the task's work)."""
    sent = 0
    for notification in (
        Notification.objects.for_collectivite(collectivite)
        .select_related("user")
        .filter(pk__in=notification_ids)
    ):
        if not notification.user.email:
            continue
        with translation.override(settings.LANGUAGE_CODE):
            body = render_to_string(
                "collectivites/email/notification.txt",
                {
                    "notification": notification,
                    "collectivite": collectivite,
                    "url": settings.PARVIS_BASE_URL + (notification.link or "/"),
                },
            )
            subject = _("Parvis — %(c)s : %(m)s") % {
                "c": collectivite.name,
                "m": notification.message[:80],
            }
        send_mail(subject, body, None, [notification.user.email])
        sent += 1
    return sent


# --- social accounts, editorial lines, audiences ----------------------------------------------


def _assign(obj: Model, data: dict[str, Any]) -> list[tuple[str, Any]]:
    """Set plain fields, return many-to-many values to set after saving."""
    m2m = []
    for name, value in data.items():
        field = obj._meta.get_field(name)
        if field.many_to_many:
            m2m.append((name, value))
        else:
            setattr(obj, name, value)
    return m2m


def _scoped_m2m(collectivite: Collectivite, values: Iterable[Model]) -> list[Model]:
    values = list(values)
    for value in values:
        if getattr(value, "collectivite_id", collectivite.pk) != collectivite.pk:
            raise ValidationError(_("Un élément choisi appartient à une autre collectivité."))
    return values


@transaction.atomic
def _upsert(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    capability: str,
    obj: Model,
    data: dict[str, Any],
    action: Action,
) -> Model:
    require(actor, collectivite, capability)
    if obj.pk and obj.collectivite_id != collectivite.pk:
        raise PermissionDenied
    before = snapshot(obj, data) if obj.pk else None
    obj.collectivite = collectivite
    m2m = _assign(obj, data)
    try:
        with transaction.atomic():
            _save(obj)
    except IntegrityError as exc:
        raise ValidationError(_("Un élément identique existe déjà.")) from exc
    for name, values in m2m:
        getattr(obj, name).set(_scoped_m2m(collectivite, values))
    after = snapshot(obj, data)
    if before != after:
        record(
            collectivite=collectivite,
            actor=actor,
            action=action,
            obj=obj,
            before=before,
            after=after,
        )
    return obj


def social_account_save(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    data: dict[str, Any],
    account: SocialAccount | None = None,
) -> SocialAccount:
    account = account or SocialAccount()
    return _upsert(
        actor=actor,
        collectivite=collectivite,
        capability=Capability.ACCOUNTS_MANAGE,
        obj=account,
        data=data,
        action=Action.ACCOUNT_SAVED,
    )


@transaction.atomic
def social_account_delete(
    *, actor: AbstractBaseUser, collectivite: Collectivite, account: SocialAccount
) -> None:
    require(actor, collectivite, Capability.ACCOUNTS_MANAGE)
    if SocialAccount.objects.for_collectivite(collectivite).filter(pk=account.pk).delete()[0]:
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.ACCOUNT_DELETED,
            obj=account,
            before=snapshot(account, ["network", "handle", "external_id", "status"]),
        )


def editorial_line_save(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    data: dict[str, Any],
    line: EditorialLine | None = None,
) -> EditorialLine:
    line = line or EditorialLine()
    account = data.get("account")
    if account is not None and account.collectivite_id != collectivite.pk:
        raise ValidationError({"account": _("Ce compte appartient à une autre collectivité.")})
    return _upsert(
        actor=actor,
        collectivite=collectivite,
        capability=Capability.EDITORIAL_MANAGE,
        obj=line,
        data=data,
        action=Action.EDITORIAL_LINE_SAVED,
    )


@transaction.atomic
def editorial_line_delete(
    *, actor: AbstractBaseUser, collectivite: Collectivite, line: EditorialLine
) -> None:
    require(actor, collectivite, Capability.EDITORIAL_MANAGE)
    if EditorialLine.objects.for_collectivite(collectivite).filter(pk=line.pk).delete()[0]:
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.EDITORIAL_LINE_DELETED,
            obj=line,
            before=snapshot(line, ["account"]),
        )


def audience_save(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    data: dict[str, Any],
    audience: Audience | None = None,
) -> Audience:
    audience = audience or Audience()
    return _upsert(
        actor=actor,
        collectivite=collectivite,
        capability=Capability.EDITORIAL_MANAGE,
        obj=audience,
        data=data,
        action=Action.AUDIENCE_SAVED,
    )


@transaction.atomic
def audience_delete(
    *, actor: AbstractBaseUser, collectivite: Collectivite, audience: Audience
) -> None:
    require(actor, collectivite, Capability.EDITORIAL_MANAGE)
    if Audience.objects.for_collectivite(collectivite).filter(pk=audience.pk).delete()[0]:
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.AUDIENCE_DELETED,
            obj=audience,
            before=snapshot(audience, ["name"]),
        )


# --- charter and election periods --------------------------------------------------------------


def charter_save(
    *, actor: AbstractBaseUser, collectivite: Collectivite, data: dict[str, Any]
) -> ModerationCharter:
    charter = ModerationCharter.objects.for_collectivite(collectivite).first() or ModerationCharter(
        collectivite=collectivite
    )
    chosen = {getattr(u, "pk", u) for u in data.get("reply_approval_members") or []}
    members = set(
        Membership.objects.for_collectivite(collectivite)
        .filter(user_id__in=chosen)
        .values_list("user_id", flat=True)
    )
    if chosen - members:
        raise ValidationError(
            {"reply_approval_members": _("Choisissez des membres de la collectivité.")}
        )
    return _upsert(
        actor=actor,
        collectivite=collectivite,
        capability=Capability.CHARTER_MANAGE,
        obj=charter,
        data=data,
        action=Action.CHARTER_UPDATED,
    )


def election_period_save(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    data: dict[str, Any],
    period: ElectionPeriod | None = None,
) -> ElectionPeriod:
    period = period or ElectionPeriod()
    return _upsert(
        actor=actor,
        collectivite=collectivite,
        capability=Capability.ELECTIONS_MANAGE,
        obj=period,
        data=data,
        action=Action.ELECTION_PERIOD_SAVED,
    )


@transaction.atomic
def election_period_delete(
    *, actor: AbstractBaseUser, collectivite: Collectivite, period: ElectionPeriod
) -> None:
    require(actor, collectivite, Capability.ELECTIONS_MANAGE)
    if ElectionPeriod.objects.for_collectivite(collectivite).filter(pk=period.pk).delete()[0]:
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.ELECTION_PERIOD_DELETED,
            obj=period,
            before=snapshot(period, ["election", "label", "starts_on", "ends_on"]),
        )


@transaction.atomic
def collectivite_update(
    *, actor: AbstractBaseUser, collectivite: Collectivite, data: dict[str, Any]
) -> Collectivite:
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    before = snapshot(Collectivite.objects.get(pk=collectivite.pk), data)
    m2m = {}
    for name, value in data.items():
        if collectivite._meta.get_field(name).many_to_many:
            m2m[name] = value
        else:
            setattr(collectivite, name, value)
    collectivite.full_clean()
    collectivite.save()
    validators = set(
        Membership.objects.for_collectivite(collectivite)
        .filter(role=Role.VALIDATEUR)
        .values_list("user_id", flat=True)
    )
    for name, users in m2m.items():
        users = list(users)
        if any(u.pk not in validators for u in users):
            raise ValidationError({name: _("Seul·e un·e validateur·rice peut être désigné·e.")})
        getattr(collectivite, name).set(users)
    after = snapshot(collectivite, data)
    if before != after:
        record(
            collectivite=collectivite,
            actor=actor,
            action=Action.COLLECTIVITE_UPDATED,
            obj=collectivite,
            before=before,
            after=after,
        )
    return collectivite
