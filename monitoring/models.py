"""Citizens' comments, replies, mentions and messages gathered into one inbox."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from collectivites.tenancy import TenantModel


class Citizen(TenantModel):
    """A person who wrote to the collectivité on one network (per collectivité)."""

    network = models.CharField(max_length=20)
    external_id = models.CharField(max_length=200)
    handle = models.CharField(max_length=200, blank=True)
    display_name = models.CharField(max_length=200, blank=True)
    avatar_url = models.URLField(max_length=2000, blank=True)
    notes = models.TextField(_("notes internes"), blank=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["collectivite", "network", "external_id"], name="citizen_unique"
            )
        ]
        verbose_name = _("citoyen·ne")

    def __str__(self) -> str:
        return self.shown_name(
            display_name=self.display_name, handle=self.handle, external_id=self.external_id
        )

    @staticmethod
    def shown_name(*, display_name: str, handle: str, external_id: str) -> str:
        """How a citizen is named on the pages (the inbox's list reads these as values)."""
        return display_name or handle or external_id


class Tag(TenantModel):
    name = models.CharField(_("nom"), max_length=60)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["collectivite", "name"], name="tag_unique")]

    def __str__(self) -> str:
        return self.name


class InboxItem(TenantModel):
    class Kind(models.TextChoices):
        COMMENT = "comment", _("Commentaire")
        REPLY = "reply", _("Réponse")
        MENTION = "mention", _("Mention")
        MESSAGE = "message", _("Message privé")

    class Status(models.TextChoices):
        NOUVEAU = "nouveau", _("Nouveau")
        ASSIGNE = "assigne", _("Assigné")
        EN_ATTENTE = "en_attente", _("En attente d'un service")
        REPONDU = "repondu", _("Répondu")
        CLOS = "clos", _("Clos")
        MASQUE = "masque", _("Masqué")
        SUPPRIME = "supprime", _("Supprimé du réseau")

    # indexed by inbox_item_by_post below, which starts with it
    account = models.ForeignKey(
        "collectivites.SocialAccount",
        on_delete=models.CASCADE,
        related_name="inbox_items",
        db_index=False,
    )
    network = models.CharField(max_length=20)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    external_id = models.CharField(max_length=300)
    parent_external_id = models.CharField(max_length=300, blank=True)
    root_external_id = models.CharField(max_length=300, blank=True)
    post_external_id = models.CharField(max_length=300, blank=True)
    variant = models.ForeignKey(
        "publishing.Variant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    citizen = models.ForeignKey(Citizen, on_delete=models.PROTECT, related_name="items")
    text = models.TextField()
    language = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)
    permalink = models.URLField(max_length=2000, blank=True)
    labels = models.JSONField(default=list, blank=True)  # [{"code", "score", "reasons"}]
    place = models.CharField(max_length=200, blank=True)
    priority = models.PositiveSmallIntegerField(default=0, db_index=True)
    needs_answer = models.BooleanField(default=False)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.NOUVEAU, db_index=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="items")
    first_response_at = models.DateTimeField(null=True, blank=True)
    # Business seconds (the charter's opening hours, French public holidays) between the
    # message and our first answer, stored when it is sent so reporting aggregates in SQL.
    first_response_business_seconds = models.PositiveIntegerField(null=True, blank=True)
    # When an answer is due (the charter's response target in business hours), set at
    # collection for items that need an answer; past it, an open item is overdue.
    due_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)
    # The citizen changed the text on the network after we collected it: ``text`` is the
    # current version, ``revisions`` the earlier ones for the record
    # ([{"text", "until"}], oldest first), and the labels are those of the current text.
    edited_at = models.DateTimeField(_("modifié le"), null=True, blank=True)
    revisions = models.JSONField(default=list, blank=True)
    # The citizen (or the network) removed it: nothing left to answer; the item and the
    # text we collected stay, for the record and the reports.
    removed_at = models.DateTimeField(_("retiré par son auteur le"), null=True, blank=True)

    class Meta:
        ordering = ["-priority", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "external_id"], name="inbox_item_unique")
        ]
        # On PostgreSQL, migration 0005 adds two GIN indexes the ORM cannot declare
        # portably: the French full-text search expression and the labels' containment;
        # migration 0011 one partial index per triage label over the open items in
        # INBOX_ORDER (the inbox filtered by label), and dependency statistics telling the
        # planner that the account implies the collectivité; 0012 a covering index for
        # reporting's counts (inbox_item_report).
        indexes = [
            models.Index(fields=["collectivite", "status", "-priority", "created_at"]),
            models.Index(fields=["collectivite", "-created_at"], name="inbox_item_recent"),
            models.Index(fields=["collectivite", "due_at"], name="inbox_item_due"),
            # The comments stored from one of the account's posts: collection compares them
            # with what the network still lists (``Page.listed``). It takes the place of
            # the account's own index, so writing an item costs no more.
            models.Index(fields=["account", "post_external_id"], name="inbox_item_by_post"),
            # What arrived since the inbox page was drawn.
            models.Index(fields=["collectivite", "received_at"], name="inbox_item_arrival"),
            # The inbox's default view (the open items in INBOX_ORDER): the open statuses
            # are an IN list, so the index above cannot return them in order; this partial
            # index does, and the first page reads 51 rows instead of sorting them all.
            models.Index(
                fields=["collectivite", "-priority", "created_at", "id"],
                condition=models.Q(status__in=["nouveau", "assigne", "en_attente"]),
                name="inbox_item_open_order",
            ),
        ]
        verbose_name = _("message reçu")

    def __str__(self) -> str:
        return f"{self.citizen}: {self.text[:40]}"

    @property
    def label_codes(self) -> list[str]:
        return [label["code"] for label in self.labels]

    @property
    def earlier_versions(self) -> list[dict[str, object]]:
        """The texts the author replaced, oldest first, each with when it was replaced."""
        import datetime as dt

        return [
            {"text": r.get("text", ""), "until": dt.datetime.fromisoformat(r["until"])}
            for r in self.revisions
            if r.get("until")
        ]

    @property
    def overdue(self) -> bool:
        """An open item whose answer is due and late (the inbox highlights it)."""
        from django.utils import timezone

        return (
            self.due_at is not None
            and self.first_response_at is None
            and self.status in (self.Status.NOUVEAU, self.Status.ASSIGNE, self.Status.EN_ATTENTE)
            and self.due_at < timezone.now()
        )


class Reply(TenantModel):
    class State(models.TextChoices):
        PENDING = "pending", _("À valider")
        SENDING = "sending", _("En cours d'envoi")
        SENT = "sent", _("Envoyée")
        FAILED = "failed", _("Échec")
        REFUSED = "refused", _("Refusée par un validateur")

    item = models.ForeignKey(InboxItem, on_delete=models.CASCADE, related_name="replies")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENDING)
    external_id = models.CharField(max_length=300, blank=True)
    permalink = models.URLField(max_length=2000, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the charter sends its author's replies through a validateur: who decided, when,
    # why (a refusal), and the author's own text if the validateur changed it.
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True)
    original_text = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("réponse")

    def __str__(self) -> str:
        return self.text[:40]


class SavedReply(TenantModel):
    """A vetted answer; ``{prenom}`` and ``{nom}`` are filled with the citizen's name."""

    title = models.CharField(_("titre"), max_length=200)
    text = models.TextField(_("texte"))
    theme = models.CharField(_("thème"), max_length=120, blank=True)
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    validated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["theme", "title"]
        verbose_name = _("réponse type")

    def __str__(self) -> str:
        return self.title


class CollectionState(TenantModel):
    """Where collection of one account stands: its cursor, stored with the items."""

    account = models.OneToOneField(
        "collectivites.SocialAccount", on_delete=models.CASCADE, related_name="collection"
    )
    cursor = models.TextField(blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_count = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    # when the network was last asked which collected messages are gone (networks that
    # tell a poller nothing of a removal: ``Adapter.gone``)
    gone_checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"collection {self.account_id}"


class WebhookEvent(models.Model):
    """A network's push, stored as received before we answer (its signature already
    checked). Not tenant-owned: the collectivité is only known once it is processed.
    ``body_sha256`` is unique: a replayed event is stored once and processed once."""

    network = models.CharField(max_length=20)
    body = models.TextField()
    body_sha256 = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    items_stored = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.network} {self.received_at:%Y-%m-%d %H:%M}"


# --- the watch (veille) -----------------------------------------------------------------------


class Watch(TenantModel):
    """What is said about the territory elsewhere: terms searched on the networks
    periodically, mentions stored as inbox items, and an alert when the hourly volume
    clearly exceeds its usual level (docs/watch.md)."""

    name = models.CharField(_("nom"), max_length=120)
    terms = models.JSONField(_("termes recherchés"), default=list)
    excluded_terms = models.JSONField(_("termes exclus"), default=list, blank=True)
    networks = models.JSONField(_("réseaux"), default=list, blank=True)  # [] = every network
    active = models.BooleanField(_("active"), default=True)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("alertes à")
    )
    spike_minimum = models.PositiveIntegerField(
        _("volume minimal d'un pic (mentions par heure)"), default=10
    )
    spike_k = models.FloatField(_("sensibilité (écarts robustes)"), default=4.0)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["collectivite", "name"], name="watch_unique_name")
        ]
        verbose_name = _("veille")

    def __str__(self) -> str:
        return self.name


class WatchCursor(TenantModel):
    """Where the search of one watch through one account stands, per term."""

    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="cursors")
    account = models.ForeignKey(
        "collectivites.SocialAccount", on_delete=models.CASCADE, related_name="+"
    )
    cursors = models.JSONField(default=dict, blank=True)  # term -> the adapter's cursor
    newest = models.JSONField(default=dict, blank=True)  # term -> newest created_at seen
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["watch", "account"], name="watch_cursor_unique")
        ]

    def __str__(self) -> str:
        return f"{self.watch_id}/{self.account_id}"


class WatchHit(TenantModel):
    """An inbox item found by a watch; ``created_at`` is the item's, kept here so the
    hourly volume is counted on one indexed table."""

    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="hits")
    item = models.ForeignKey(InboxItem, on_delete=models.CASCADE, related_name="watch_hits")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["watch", "item"], name="watch_hit_unique")]
        indexes = [models.Index(fields=["watch", "created_at"])]

    def __str__(self) -> str:
        return f"{self.watch_id}:{self.item_id}"


class WatchAlert(TenantModel):
    """One spike: from the first hour over the threshold to the last consecutive one.
    Raised once; the hours that follow extend it."""

    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="alerts")
    hour_start = models.DateTimeField()  # first hour of the spike (UTC, on the hour)
    last_hour = models.DateTimeField()
    peak_count = models.PositiveIntegerField()
    threshold = models.FloatField()
    median = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-hour_start"]
        constraints = [
            models.UniqueConstraint(fields=["watch", "hour_start"], name="watch_alert_unique")
        ]
        verbose_name = _("alerte de veille")

    def __str__(self) -> str:
        return f"{self.watch} {self.hour_start:%Y-%m-%d %H:00}"


# --- routing to the collectivité's services ----------------------------------------------------


class Service(TenantModel):
    """A department of the collectivité (voirie, propreté, état civil…) that messages can
    be sent to. ``categories`` are the triage labels and tags it handles by default;
    ``default_reply`` the vetted answer proposed for them."""

    name = models.CharField(_("nom"), max_length=120)
    email = models.EmailField(_("adresse de contact"))
    categories = models.JSONField(_("catégories traitées"), default=list, blank=True)
    default_reply = models.ForeignKey(
        SavedReply,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("réponse type par défaut"),
    )
    active = models.BooleanField(_("actif"), default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["collectivite", "name"], name="service_unique_name")
        ]
        verbose_name = _("service")

    def __str__(self) -> str:
        return self.name


class ServiceRequest(TenantModel):
    """A message sent to a service, and the service's answer once it came (pasted by a
    moderator or typed by the service through the signed link of the e-mail)."""

    item = models.ForeignKey(InboxItem, on_delete=models.CASCADE, related_name="service_requests")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="requests")
    note = models.TextField(blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(auto_now_add=True)
    answer = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_via = models.CharField(max_length=10, blank=True)  # "lien" or "saisie"

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.service} ← {self.item_id}"


# --- personal data ------------------------------------------------------------------------------


class MonitoringPolicy(TenantModel):
    """Per collectivité: how long citizens' messages are kept after their last activity."""

    retention_months = models.PositiveSmallIntegerField(
        _("durée de conservation (mois après la dernière activité)"), default=12
    )
    last_purge_at = models.DateTimeField(null=True, blank=True)
    last_purge_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collectivite"], name="monitoring_policy_unique")
        ]

    def __str__(self) -> str:
        return f"{self.collectivite_id}: {self.retention_months} mois"
