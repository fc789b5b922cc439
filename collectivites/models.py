"""Tenants and what each collectivité configures."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from collectivites.permissions import Role
from collectivites.tenancy import TenantModel, TenantQuerySet
from networks.fields import EncryptedJSONField
from networks.registry import Network


def _validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Fuseau horaire inconnu : %(tz)s"), params={"tz": value})


class Collectivite(models.Model):
    class Kind(models.TextChoices):
        COMMUNE = "commune", _("Commune")
        INTERCOMMUNALITE = "intercommunalite", _("Intercommunalité")
        DEPARTEMENT = "departement", _("Département")
        REGION = "region", _("Région")
        AUTRE = "autre", _("Autre")

    class ValidationSteps(models.IntegerChoices):
        NONE = 0, _("Aucune validation")
        ONE = 1, _("Une étape de validation")
        TWO = 2, _("Deux étapes de validation")

    name = models.CharField(_("nom"), max_length=200)
    slug = models.SlugField(_("identifiant d'adresse"), max_length=80, unique=True)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.COMMUNE)
    official_code = models.CharField(
        _("code INSEE ou SIREN"),
        max_length=14,
        blank=True,
        validators=[
            RegexValidator(
                r"^(\d[0-9AB]\d{3}|\d{9})$",
                _("Saisissez un code INSEE (5 caractères) ou un SIREN (9 chiffres)."),
            )
        ],
    )
    population = models.PositiveIntegerField(_("population"), null=True, blank=True)
    time_zone = models.CharField(
        _("fuseau horaire"), max_length=64, default="Europe/Paris", validators=[_validate_time_zone]
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("intercommunalité de rattachement"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
    )
    website_url = models.URLField(_("site internet"), blank=True)
    validation_steps = models.PositiveSmallIntegerField(
        _("étapes de validation"), choices=ValidationSteps.choices, default=ValidationSteps.ONE
    )
    utm_enabled = models.BooleanField(
        _("ajouter les paramètres UTM aux liens vers le site"),
        default=True,
        help_text=_("utm_source = le réseau, utm_medium = social, utm_campaign = la campagne."),
    )
    # Who validates each step: named members, or (empty) any validateur.
    first_step_validators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("validation 1 : personnes désignées"),
        blank=True,
        related_name="+",
    )
    second_step_validators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("validation 2 : personnes désignées"),
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("collectivité")
        verbose_name_plural = _("collectivités")

    def __str__(self) -> str:
        return self.name

    def step_validator_ids(self, step: int) -> set[int]:
        """Named validators of ``step`` (1 or 2); empty means any validateur."""
        field = self.first_step_validators if step == 1 else self.second_step_validators
        return set(field.values_list("pk", flat=True)) if self.pk else set()

    def clean(self) -> None:
        if self.parent_id and self.parent_id == self.pk:
            raise ValidationError(
                {"parent": _("Une collectivité ne peut pas être son propre parent.")}
            )


class MembershipQuerySet(TenantQuerySet):
    def for_user(self, user: settings.AUTH_USER_MODEL) -> MembershipQuerySet:  # type: ignore[name-defined]
        """A person's own memberships across collectivités (the switcher, the home page)."""
        qs = self.filter(user=user)
        qs._scoped = True
        return qs


class Membership(TenantModel):
    """One role of one person in one collectivité; a person may hold several roles."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["collectivite", "user", "role"], name="membership_unique_role"
            )
        ]
        verbose_name = _("rôle d'un membre")
        verbose_name_plural = _("rôles des membres")

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()}"


class Invitation(TenantModel):
    """A one-time link sent by e-mail; only the SHA-256 of its token is stored."""

    email = models.EmailField(_("adresse e-mail"))
    roles = models.JSONField(_("rôles"), default=list)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")

    def __str__(self) -> str:
        return self.email

    @property
    def is_usable(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


class SocialAccount(TenantModel):
    class Status(models.TextChoices):
        CONNECTED = "connected", _("Connecté")
        TO_RECONNECT = "to_reconnect", _("À reconnecter")
        DISCONNECTED = "disconnected", _("Déconnecté")

    network = models.CharField(_("réseau"), max_length=20, choices=Network.choices)
    handle = models.CharField(_("identifiant sur le réseau"), max_length=200)
    display_name = models.CharField(_("nom affiché"), max_length=200)
    external_id = models.CharField(_("identifiant technique"), max_length=200, blank=True)
    status = models.CharField(
        _("état"), max_length=20, choices=Status.choices, default=Status.DISCONNECTED
    )
    credentials = EncryptedJSONField(_("jetons d'accès"), default=dict, blank=True, editable=False)
    # Non-secret connection data the adapter needs (e.g. a Mastodon instance URL).
    connection_settings = models.JSONField(default=dict, blank=True, editable=False)
    token_expires_at = models.DateTimeField(_("expiration du jeton"), null=True, blank=True)
    status_reason = models.CharField(_("motif"), max_length=500, blank=True, editable=False)
    status_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    audiences = models.ManyToManyField(
        "collectivites.Audience", verbose_name=_("publics"), blank=True, related_name="accounts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["network", "handle"]
        constraints = [
            models.UniqueConstraint(
                fields=["collectivite", "network", "handle"], name="socialaccount_unique_handle"
            )
        ]
        verbose_name = _("compte social")
        verbose_name_plural = _("comptes sociaux")

    def __str__(self) -> str:
        return f"{self.display_name} · {self.get_network_display()}"


class Notification(TenantModel):
    """A message to one member in the app (the bell in the header); e-mailed too when the
    sender asks for it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    message = models.CharField(_("message"), max_length=500)
    link = models.CharField(_("lien"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["collectivite", "user", "read_at"])]
        verbose_name = _("notification")

    def __str__(self) -> str:
        return self.message


class Audience(TenantModel):
    class AgeBand(models.TextChoices):
        UNDER_18 = "moins_18", _("Moins de 18 ans")
        A18_24 = "18_24", _("18-24 ans")
        A25_34 = "25_34", _("25-34 ans")
        A35_49 = "35_49", _("35-49 ans")
        A50_64 = "50_64", _("50-64 ans")
        A65_PLUS = "65_plus", _("65 ans et plus")

    name = models.CharField(_("nom"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    age_bands = models.JSONField(_("tranches d'âge"), default=list, blank=True)
    interests = models.TextField(_("centres d'intérêt"), blank=True)
    networks = models.JSONField(_("réseaux qui les touchent"), default=list, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["collectivite", "name"], name="audience_unique_name")
        ]
        verbose_name = _("public")
        verbose_name_plural = _("publics")

    def __str__(self) -> str:
        return self.name

    def get_age_bands_display(self) -> list[str]:
        labels = dict(self.AgeBand.choices)
        return [str(labels.get(b, b)) for b in self.age_bands]

    def get_networks_display(self) -> list[str]:
        labels = dict(Network.choices)
        return [str(labels.get(n, n)) for n in self.networks]


class EditorialLine(TenantModel):
    class AddressForm(models.TextChoices):
        VOUVOIEMENT = "vouvoiement", _("Vouvoiement")
        TUTOIEMENT = "tutoiement", _("Tutoiement")

    account = models.OneToOneField(
        SocialAccount,
        verbose_name=_("compte"),
        on_delete=models.CASCADE,
        related_name="editorial_line",
    )
    tone = models.CharField(_("ton"), max_length=200, blank=True)
    address_form = models.CharField(
        _("adresse au public"),
        max_length=20,
        choices=AddressForm.choices,
        default=AddressForm.VOUVOIEMENT,
    )
    target_audiences = models.ManyToManyField(
        Audience, verbose_name=_("publics visés"), blank=True, related_name="editorial_lines"
    )
    objectives = models.TextField(_("objectifs"), blank=True)
    cadence_per_week = models.PositiveSmallIntegerField(
        _("publications par semaine"),
        default=3,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    hashtags = models.TextField(_("mots-dièse à utiliser"), blank=True)
    words_to_avoid = models.TextField(_("mots à éviter"), blank=True)
    signature = models.CharField(_("signature"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("ligne éditoriale")
        verbose_name_plural = _("lignes éditoriales")

    def __str__(self) -> str:
        return str(_("Ligne éditoriale de %(account)s") % {"account": self.account})

    def clean(self) -> None:
        if (
            self.account_id
            and self.collectivite_id
            and (self.account.collectivite_id != self.collectivite_id)
        ):
            raise ValidationError({"account": _("Ce compte appartient à une autre collectivité.")})

    @staticmethod
    def split_list(value: str) -> list[str]:
        return [w.strip() for w in value.replace("\n", ",").split(",") if w.strip()]

    @property
    def hashtag_list(self) -> list[str]:
        return self.split_list(self.hashtags)

    @property
    def words_to_avoid_list(self) -> list[str]:
        return self.split_list(self.words_to_avoid)


class ModerationCharter(TenantModel):
    """The charter published to citizens and the rules moderators apply."""

    public_text = models.TextField(_("texte publié aux citoyens"), blank=True)
    hide_insults = models.BooleanField(_("masquer les insultes et le harcèlement"), default=True)
    hide_spam = models.BooleanField(_("masquer le spam et les arnaques"), default=True)
    hide_personal_data = models.BooleanField(
        _("masquer les données personnelles publiées"), default=True
    )
    hide_defamation = models.BooleanField(_("masquer les propos diffamatoires"), default=True)
    hide_off_topic = models.BooleanField(_("masquer les messages hors sujet"), default=False)
    answer_questions = models.BooleanField(_("répondre aux questions"), default=True)
    answer_complaints = models.BooleanField(_("répondre aux réclamations"), default=True)
    response_target_hours = models.PositiveSmallIntegerField(
        _("délai de réponse visé (heures ouvrées)"),
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(720)],
    )
    business_hours_start = models.TimeField(_("début des heures ouvrées"), default="09:00")
    business_hours_end = models.TimeField(_("fin des heures ouvrées"), default="17:30")
    # {network: hours}: a network's own target, where it differs from the general one.
    response_targets = models.JSONField(
        _("délais de réponse par réseau (heures ouvrées)"), default=dict, blank=True
    )
    escalation_keywords = models.TextField(
        _("mots-clés qui font toujours remonter un message"),
        blank=True,
        help_text=_(
            "Un mot ou une expression par ligne ; majuscules et accents ne comptent pas. "
            "Un message qui en contient un est marqué urgent et signalé aux modérateurs."
        ),
    )
    reply_approval_members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        verbose_name=_("membres dont les réponses passent par un validateur"),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collectivite"], name="charter_one_per_collectivite")
        ]
        verbose_name = _("charte de modération")

    def __str__(self) -> str:
        return str(_("Charte de modération"))

    @staticmethod
    def target_in(targets: dict[str, int] | None, general: int, network: str | None) -> int:
        """The answer delay target on ``network``: its own if ``response_targets`` sets
        one, else the general one (static: collection reads the values, not the row)."""
        own = (targets or {}).get(network or "")
        return int(own) if own else general

    @staticmethod
    def split_terms(text: str) -> list[str]:
        """``escalation_keywords`` as terms: one per line, blank lines left out."""
        return [t.strip() for t in text.splitlines() if t.strip()]

    def escalation_terms(self) -> list[str]:
        return self.split_terms(self.escalation_keywords)

    def clean(self) -> None:
        if (
            self.business_hours_start
            and self.business_hours_end
            and self.business_hours_start >= self.business_hours_end
        ):
            raise ValidationError(
                {"business_hours_end": _("La fin des heures ouvrées doit suivre leur début.")}
            )
        targets = self.response_targets
        if not isinstance(targets, dict) or any(
            network not in Network.values
            or not isinstance(hours, int)
            or isinstance(hours, bool)
            or not 1 <= hours <= 720
            for network, hours in targets.items()
        ):
            raise ValidationError(
                {
                    "response_targets": _(
                        "Donnez pour chaque réseau connu un délai entier entre 1 et 720 heures."
                    )
                }
            )


class ElectionPeriod(TenantModel):
    """The pre-election period (article L52-1 du code électoral) during which
    institutional communication is restrained; publishing checks it."""

    class Election(models.TextChoices):
        MUNICIPALES = "municipales", _("Municipales")
        DEPARTEMENTALES = "departementales", _("Départementales")
        REGIONALES = "regionales", _("Régionales")
        LEGISLATIVES = "legislatives", _("Législatives")
        PRESIDENTIELLE = "presidentielle", _("Présidentielle")
        EUROPEENNES = "europeennes", _("Européennes")
        AUTRE = "autre", _("Autre")

    election = models.CharField(_("élection"), max_length=20, choices=Election.choices)
    label = models.CharField(_("intitulé"), max_length=200)
    starts_on = models.DateField(_("début de la période pré-électorale"))
    ends_on = models.DateField(_("fin (jour du scrutin ou du second tour)"))
    scope = models.CharField(_("périmètre"), max_length=200, blank=True)
    candidates = models.TextField(
        _("candidats déclarés"),
        blank=True,
        help_text=_("Séparés par des virgules : leur nom dans une publication sera signalé."),
    )
    notes = models.TextField(_("consignes"), blank=True)

    class Meta:
        ordering = ["-starts_on"]
        verbose_name = _("période électorale")
        verbose_name_plural = _("périodes électorales")

    def __str__(self) -> str:
        return self.label

    def clean(self) -> None:
        if self.starts_on and self.ends_on and self.starts_on > self.ends_on:
            raise ValidationError({"ends_on": _("La fin doit être postérieure au début.")})

    def is_active(self, day: object | None = None) -> bool:
        today = day or timezone.localdate()
        return self.starts_on <= today <= self.ends_on  # type: ignore[operator]
