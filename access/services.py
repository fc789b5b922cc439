"""Every write of the access app. Each checks the actor's right itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from access import tokens
from access.gate import KEY_USERNAME_PREFIX, SCOPE_CAPABILITIES, has_two_factor
from access.models import (
    ApiKey,
    PersonalToken,
    RecoveryCode,
    RecoveryCodeDevice,
    Scope,
    SecurityPolicy,
)
from collectivites.models import Collectivite
from collectivites.permissions import Capability
from collectivites.selectors import collectivites_of, roles_of
from collectivites.services import require

User = get_user_model()
RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "application"
RECOVERY_DEVICE_NAME = "codes de secours"


def _audit(**kwargs: Any) -> None:
    """The audit trail (app ``audit``), when it is installed."""
    try:
        from audit.services import record
    except ImportError:
        return
    record(**kwargs)


# --- the collectivité's policy ---------------------------------------------------------------


def policy_of(*, collectivite: Collectivite) -> SecurityPolicy:
    return SecurityPolicy.objects.for_collectivite(collectivite).first() or SecurityPolicy(
        collectivite=collectivite
    )


@transaction.atomic
def policy_set(
    *, actor: AbstractBaseUser, collectivite: Collectivite, two_factor: str
) -> SecurityPolicy:
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    if two_factor not in SecurityPolicy.TwoFactor.values:
        raise ValidationError({"two_factor": _("Choix inconnu.")})
    if two_factor != SecurityPolicy.TwoFactor.OFF and not has_two_factor(actor):
        raise ValidationError(
            {
                "two_factor": _(
                    "Activez d'abord la double authentification sur votre propre compte : "
                    "sinon vous seriez bloqué·e par cette règle."
                )
            }
        )
    policy = policy_of(collectivite=collectivite)
    before = policy.two_factor
    policy.two_factor = two_factor
    policy.updated_by = actor
    policy.full_clean()
    policy.save()
    if before != two_factor:
        _audit(
            collectivite=collectivite,
            actor=actor,
            action="collectivite.updated",
            obj=policy,
            before={"two_factor": before},
            after={"two_factor": two_factor},
        )
    return policy


# --- two-factor authentication ----------------------------------------------------------------


def totp_pending_device(*, user: AbstractBaseUser) -> TOTPDevice:
    """The unconfirmed device being enrolled (one at a time), created if needed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


@dataclass
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]


@transaction.atomic
def totp_confirm(*, user: AbstractBaseUser, device_id: int, code: str) -> Enrolment:
    """Confirm the pending device with its first code; replaces any earlier device and
    issues fresh recovery codes (returned once, stored hashed)."""
    device = (
        TOTPDevice.objects.select_for_update().filter(user=user, pk=device_id, confirmed=False)
    ).first()
    if device is None:
        raise ValidationError(
            {"code": _("Cette inscription n'est plus valable : recommencez depuis le début.")}
        )
    if not device.verify_token((code or "").strip().replace(" ", "")):
        raise ValidationError(
            {"code": _("Code incorrect. Vérifiez l'heure de votre téléphone et réessayez.")}
        )
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    _audit_for_memberships(user, action="auth.2fa_enrolled")
    return Enrolment(device=device, recovery_codes=codes)


def _new_recovery_codes(user: AbstractBaseUser) -> list[str]:
    RecoveryCodeDevice.objects.filter(user=user).delete()
    device = RecoveryCodeDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME)
    codes = [tokens.new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, code_hash=tokens.hash_secret(c)) for c in codes
    )
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: AbstractBaseUser) -> list[str]:
    if not has_two_factor(user):
        raise ValidationError(_("La double authentification n'est pas active sur ce compte."))
    codes = _new_recovery_codes(user)
    _audit_for_memberships(user, action="auth.recovery_codes")
    return codes


def recovery_device(*, user: AbstractBaseUser) -> RecoveryCodeDevice | None:
    return RecoveryCodeDevice.objects.filter(user=user).first()


def _delete_devices(user: AbstractBaseUser) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCodeDevice.objects.filter(user=user).delete()


@transaction.atomic
def two_factor_disable(*, user: AbstractBaseUser) -> None:
    """The person turns it off (the view asks for a fresh password and code first)."""
    _delete_devices(user)
    _audit_for_memberships(user, action="auth.2fa_disabled")


@transaction.atomic
def member_two_factor_reset(
    *, actor: AbstractBaseUser, collectivite: Collectivite, user_id: int
) -> None:
    """An admin resets a member who lost their phone and their codes: they enrol again at
    their next login (the policy sends them there)."""
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    member = User.objects.filter(pk=user_id).first()
    if member is None or not roles_of(user=member, collectivite=collectivite):
        raise ValidationError(_("Cette personne n'est pas membre de la collectivité."))
    if member.pk == actor.pk:
        raise ValidationError(
            _("Pour votre propre compte, utilisez la page « Sécurité du compte ».")
        )
    _delete_devices(member)
    _audit(
        collectivite=collectivite,
        actor=actor,
        action="auth.2fa_disabled",
        obj=member,
        after={"reset_by": "admin"},
    )


def _audit_for_memberships(user: AbstractBaseUser, *, action: str) -> None:
    """Events about a person, recorded in each of their collectivités (so that its admins
    see them), or once platform-wide when they belong to none."""
    collectivites = list(collectivites_of(user=user)) or [None]
    for collectivite in collectivites:
        _audit(collectivite=collectivite, actor=user, action=action, obj=user)


# --- API keys (per collectivité) --------------------------------------------------------------


def _expiry(days: int | None) -> dt.datetime | None:
    if not days:
        return None
    if days < 1 or days > settings.PARVIS_API_TOKEN_MAX_DAYS:
        raise ValidationError(
            {
                "expires_in_days": _("Entre 1 et %(max)s jours.")
                % {"max": settings.PARVIS_API_TOKEN_MAX_DAYS}
            }
        )
    return timezone.now() + dt.timedelta(days=days)


@dataclass
class Issued:
    credential: ApiKey | PersonalToken
    token: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *,
    actor: AbstractBaseUser,
    collectivite: Collectivite,
    name: str,
    scopes: list[str],
    expires_in_days: int | None,
) -> Issued:
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    chosen = sorted(set(scopes))
    if not chosen:
        raise ValidationError({"scopes": _("Choisissez au moins une portée.")})
    unknown = set(chosen) - set(SCOPE_CAPABILITIES) - set(Scope.values)
    if unknown:
        raise ValidationError({"scopes": _("Portée inconnue : %(s)s") % {"s": ", ".join(unknown)}})
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Donnez un nom à la clé.")})
    token, prefix, digest = tokens.new_token(tokens.API_KEY_PREFIX)
    technical = User(username=f"{KEY_USERNAME_PREFIX}{prefix}", first_name=name[:150])
    technical.set_unusable_password()
    technical.save()
    key = ApiKey(
        collectivite=collectivite,
        name=name,
        prefix=prefix,
        token_hash=digest,
        scopes=chosen,
        user=technical,
        created_by=actor,
        expires_at=_expiry(expires_in_days),
    )
    key.full_clean()
    key.save()
    _audit(
        collectivite=collectivite,
        actor=actor,
        action="api_key.created",
        obj=key,
        after={"name": name, "scopes": chosen, "prefix": prefix},
    )
    return Issued(credential=key, token=token)


@transaction.atomic
def api_key_revoke(*, actor: AbstractBaseUser, collectivite: Collectivite, key_id: int) -> ApiKey:
    require(actor, collectivite, Capability.MEMBERS_MANAGE)
    key = (
        ApiKey.objects.for_collectivite(collectivite).select_for_update().filter(pk=key_id).first()
    )
    if key is None:
        raise ValidationError(_("Cette clé n'existe pas."))
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.revoked_by = actor
        key.save(update_fields=["revoked_at", "revoked_by"])
        User.objects.filter(pk=key.user_id).update(is_active=False)
        _audit(
            collectivite=collectivite,
            actor=actor,
            action="api_key.revoked",
            obj=key,
            before={"prefix": key.prefix},
        )
    return key


# --- personal tokens ---------------------------------------------------------------------------


@transaction.atomic
def personal_token_create(*, user: AbstractBaseUser, name: str, expires_in_days: int) -> Issued:
    """The view asks for a recent password (and code) first. A token always expires."""
    if user.get_username().startswith(KEY_USERNAME_PREFIX):
        raise PermissionDenied(_("Une clé d'API ne peut pas créer de jeton."))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Donnez un nom au jeton.")})
    expires_at = _expiry(expires_in_days)
    if expires_at is None:
        raise ValidationError({"expires_in_days": _("Un jeton personnel expire toujours.")})
    token, prefix, digest = tokens.new_token(tokens.PERSONAL_TOKEN_PREFIX)
    credential = PersonalToken(
        user=user, name=name, prefix=prefix, token_hash=digest, expires_at=expires_at
    )
    credential.full_clean()
    credential.save()
    _audit_for_memberships(user, action="api_token.created")
    return Issued(credential=credential, token=token)


@transaction.atomic
def personal_token_revoke(*, user: AbstractBaseUser, token_id: int) -> PersonalToken:
    credential = PersonalToken.objects.select_for_update().filter(user=user, pk=token_id).first()
    if credential is None:
        raise ValidationError(_("Ce jeton n'existe pas."))
    if credential.revoked_at is None:
        credential.revoked_at = timezone.now()
        credential.save(update_fields=["revoked_at"])
        _audit_for_memberships(user, action="api_token.revoked")
    return credential


# --- use -------------------------------------------------------------------------------------


def credential_for_token(token: str) -> ApiKey | PersonalToken | None:
    """The key or token a bearer string stands for (the string is the credential)."""
    if token.startswith(tokens.API_KEY_PREFIX):
        return (
            ApiKey.objects.dangerously_unscoped()
            .select_related("user", "collectivite")
            .filter(token_hash=tokens.hash_secret(token))
            .first()
        )
    if token.startswith(tokens.PERSONAL_TOKEN_PREFIX):
        return (
            PersonalToken.objects.select_related("user")
            .filter(token_hash=tokens.hash_secret(token))
            .first()
        )
    return None


def credential_touch(credential: ApiKey | PersonalToken) -> None:
    """Record use at most once a minute: one conditional UPDATE, not a write per call."""
    now = timezone.now()
    if credential.last_used_at and now - credential.last_used_at < dt.timedelta(minutes=1):
        return
    model = type(credential)
    manager = (
        model.objects.dangerously_unscoped()  # type: ignore[attr-defined]
        if model is ApiKey
        else model.objects
    )
    manager.filter(pk=credential.pk).update(last_used_at=now)
    credential.last_used_at = now
