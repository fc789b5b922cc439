"""Publications written once, one variant per target account, and their life.

A variant's state only changes through ``publishing.services`` (each change recorded as
a ``VariantEvent`` with who and when). ``Variant.TRANSITIONS`` is the state machine.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from collectivites.tenancy import TenantModel


class Publication(TenantModel):
    title = models.CharField(_("titre"), max_length=200)
    campaign = models.CharField(_("campagne ou thème"), max_length=120, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("auteur·rice"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    notes = models.TextField(_("notes internes"), blank=True)
    link = models.URLField(_("lien vers le site de la collectivité"), max_length=2000, blank=True)
    sponsored = models.BooleanField(_("publication sponsorisée"), default=False)
    urgent = models.BooleanField(_("alerte urgente"), default=False)
    alert_kind = models.CharField(_("type d'alerte"), max_length=40, blank=True)
    alert_of = models.ForeignKey(
        "self",
        verbose_name=_("suite de l'alerte"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_ups",
    )
    alert_closed_at = models.DateTimeField(null=True, blank=True)
    approvals = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(2)], editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # reporting: the urgent alerts among a period's posts, read without the others
            models.Index(
                fields=["collectivite", "id"],
                condition=models.Q(urgent=True),
                name="publication_urgent_idx",
            ),
        ]
        verbose_name = _("publication")

    def __str__(self) -> str:
        return self.title


class Variant(TenantModel):
    class State(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        IN_REVIEW = "in_review", _("En validation")
        APPROVED = "approved", _("Validée")
        PUBLISHING = "publishing", _("En cours de publication")
        PUBLISHED = "published", _("Publiée")
        FAILED = "failed", _("Échec")
        UNCONFIRMED = "unconfirmed", _("À vérifier")
        CANCELLED = "cancelled", _("Annulée")

    S = State
    TRANSITIONS: dict[str, frozenset[str]] = {
        S.DRAFT: frozenset({S.IN_REVIEW, S.APPROVED, S.CANCELLED}),
        S.IN_REVIEW: frozenset({S.DRAFT, S.APPROVED, S.CANCELLED}),
        S.APPROVED: frozenset({S.PUBLISHING, S.IN_REVIEW, S.DRAFT, S.CANCELLED}),
        S.PUBLISHING: frozenset({S.PUBLISHED, S.FAILED, S.APPROVED, S.UNCONFIRMED}),
        S.FAILED: frozenset({S.DRAFT, S.APPROVED, S.CANCELLED}),
        S.UNCONFIRMED: frozenset({S.PUBLISHED, S.APPROVED, S.CANCELLED}),
        S.PUBLISHED: frozenset(),
        S.CANCELLED: frozenset({S.DRAFT}),
    }
    EDITABLE = frozenset({S.DRAFT, S.IN_REVIEW, S.APPROVED, S.FAILED})

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="variants")
    account = models.ForeignKey(
        "collectivites.SocialAccount",
        verbose_name=_("compte"),
        on_delete=models.PROTECT,
        related_name="variants",
    )
    text = models.TextField(_("texte"), blank=True)
    link = models.URLField(_("lien"), max_length=2000, blank=True)
    media = models.ManyToManyField(
        "publishing.MediaAsset", through="publishing.VariantMedia", blank=True
    )
    scheduled_at = models.DateTimeField(_("date de publication"), null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    held = models.BooleanField(_("suspendue (pause de crise)"), default=False)
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_id = models.CharField(max_length=200, blank=True)
    permalink = models.URLField(max_length=2000, blank=True)
    error_message = models.CharField(_("erreur"), max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    # An earlier attempt may have posted (timeout after sending, worker lost): ask the
    # network before trying again.
    ambiguous = models.BooleanField(default=False)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    election_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    election_acknowledged_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_at", "pk"]
        indexes = [
            # the dispatcher's query: due, approved, not held
            models.Index(fields=["state", "scheduled_at"], name="variant_due_idx"),
            models.Index(fields=["state", "lease_expires_at"], name="variant_lease_idx"),
            # reporting: a collectivité's posts published in a period
            models.Index(
                fields=["collectivite", "state", "published_at"], name="variant_published_idx"
            ),
        ]
        verbose_name = _("déclinaison")

    def __str__(self) -> str:
        return f"{self.publication} → {self.account}"

    def can_become(self, state: str) -> bool:
        return state in self.TRANSITIONS[self.state]


class MediaAsset(TenantModel):
    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Vidéo")

    file = models.FileField(_("fichier"), upload_to="media/%Y/%m/")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    alt_text = models.TextField(_("texte alternatif"), blank=True)
    credit = models.CharField(_("crédit"), max_length=200, blank=True)
    has_subtitles = models.BooleanField(_("sous-titrée"), default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("média")

    def __str__(self) -> str:
        return self.file.name


class VariantMedia(TenantModel):
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE)
    asset = models.ForeignKey(MediaAsset, on_delete=models.PROTECT)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "asset"], name="variantmedia_unique")
        ]


class Review(TenantModel):
    class Decision(models.TextChoices):
        SUBMITTED = "submitted", _("Soumise à validation")
        APPROVED = "approved", _("Validée")
        SENT_BACK = "sent_back", _("Renvoyée")
        ELECTION_ACK = "election_ack", _("Période électorale : contenu reconnu conforme")

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    step = models.PositiveSmallIntegerField(default=0)
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(_("commentaire"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("décision de validation")

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.reviewer})"


class VariantEvent(TenantModel):
    """Every state change of a variant: who (None for the system) and when."""

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


class CrisisPause(TenantModel):
    """Everything scheduled is held (for the chosen accounts, or all) until resumed."""

    reason = models.CharField(_("motif"), max_length=300)
    accounts = models.ManyToManyField(
        "collectivites.SocialAccount", verbose_name=_("comptes"), blank=True, related_name="+"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("pause de crise")

    def __str__(self) -> str:
        return self.reason


class PostingSlot(TenantModel):
    """A regular time an account posts (e.g. Facebook on Tuesdays at 12:00, local time):
    "add to queue" takes the next free one."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Lundi")
        TUESDAY = 1, _("Mardi")
        WEDNESDAY = 2, _("Mercredi")
        THURSDAY = 3, _("Jeudi")
        FRIDAY = 4, _("Vendredi")
        SATURDAY = 5, _("Samedi")
        SUNDAY = 6, _("Dimanche")

    account = models.ForeignKey(
        "collectivites.SocialAccount",
        verbose_name=_("compte"),
        on_delete=models.CASCADE,
        related_name="posting_slots",
    )
    weekday = models.PositiveSmallIntegerField(_("jour"), choices=Weekday.choices)
    time = models.TimeField(_("heure"))

    class Meta:
        ordering = ["account", "weekday", "time"]
        constraints = [
            models.UniqueConstraint(fields=["account", "weekday", "time"], name="slot_unique")
        ]
        verbose_name = _("créneau de publication")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.time:%H:%M}"
