"""Access: the collectivité's security policy, recovery codes, API keys, personal tokens.

Secrets are never stored: an API key or a personal token is kept as the SHA-256 of a
high-entropy random string plus a short visible prefix to recognise it; a recovery code
as its SHA-256. The TOTP seed itself lives in django-otp's ``TOTPDevice``.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, ThrottlingMixin

from collectivites.tenancy import TenantModel


class SecurityPolicy(TenantModel):
    """One per collectivité (absent = no requirement)."""

    class TwoFactor(models.TextChoices):
        OFF = "off", _("Facultative")
        SENSITIVE = "sensitive", _("Exigée pour les rôles qui publient, modèrent ou administrent")
        ALL = "all", _("Exigée pour tous les membres")

    two_factor = models.CharField(
        _("double authentification"),
        max_length=16,
        choices=TwoFactor.choices,
        default=TwoFactor.OFF,
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collectivite"], name="access_one_policy_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.collectivite_id}: {self.two_factor}"


class RecoveryCodeDevice(ThrottlingMixin, Device):
    """A django-otp device whose tokens are single-use recovery codes, stored hashed."""

    def verify_token(self, token: str) -> bool:
        from access.tokens import hash_secret, normalize_recovery_code

        allowed, _info = self.verify_is_allowed()
        if not allowed:
            return False
        code = normalize_recovery_code(token)
        # A conditional UPDATE whose count is checked: a code is used once, even when two
        # requests race with it.
        used = (
            RecoveryCode.objects.filter(
                device=self, code_hash=hash_secret(code), used_at__isnull=True
            ).update(used_at=timezone.now())
            if code
            else 0
        )
        if used == 1:
            self.throttle_reset()
            return True
        self.throttle_increment()
        return False

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def remaining(self) -> int:
        return RecoveryCode.objects.filter(device=self, used_at__isnull=True).count()


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["device", "code_hash"])]

    def __str__(self) -> str:
        return f"recovery code {self.pk} ({'used' if self.used_at else 'unused'})"


class Scope(models.TextChoices):
    READ = "read", _("Lecture")
    PUBLISH = "publish", _("Publication (rédiger, programmer, soumettre)")
    MODERATE = "moderate", _("Modération (répondre, masquer)")


class CredentialMixin(models.Model):
    name = models.CharField(_("nom"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expire le"), null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def is_usable(self, now: dt.datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return str(_("révoqué"))
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return str(_("expiré"))
        return str(_("actif"))


class ApiKey(CredentialMixin, TenantModel):
    """A collectivité's key for its own tools. It acts as a technical user (no password, no
    membership) whose capabilities are those of its scopes, never an admin's."""

    scopes = models.JSONField(default=list)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_api_key"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def capabilities(self) -> frozenset[str]:
        from access.gate import scope_capabilities

        return scope_capabilities(self.scopes)

    @property
    def scope_labels(self) -> list[str]:
        labels = dict(Scope.choices)
        return [str(labels[s]) for s in self.scopes if s in labels]


class PersonalToken(CredentialMixin):
    """A person's token: it acts with that person's roles, wherever they are a member."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
