"""Metrics collected from the networks and imported from the collectivité's web analytics.

Every count is nullable: ``None`` means "not provided by this network" (or not provided by
the export), never zero. The KPIs (``reporting.kpis``) read these rows only through
aggregates computed in the database.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from collectivites.tenancy import TenantModel

# an account's figures, and what the covering indexes of its days and months carry
ACCOUNT_FIGURES = ["followers", "impressions", "reach", "profile_visits", "link_clicks"]


class AccountFigures(models.Model):
    """An account's figures (None: not provided by the network)."""

    followers = models.PositiveIntegerField(_("abonnés"), null=True, blank=True)
    impressions = models.PositiveBigIntegerField(_("impressions"), null=True, blank=True)
    reach = models.PositiveBigIntegerField(_("portée"), null=True, blank=True)
    profile_visits = models.PositiveIntegerField(_("visites du profil"), null=True, blank=True)
    link_clicks = models.PositiveIntegerField(_("clics sur les liens"), null=True, blank=True)

    class Meta:
        abstract = True


class AccountMetricDay(AccountFigures, TenantModel):
    """One account's figures for one day (in the collectivité's time zone), as the network
    reported them. Followers is the count at the end of that day; the others are that day's
    totals."""

    account = models.ForeignKey(
        "collectivites.SocialAccount",
        verbose_name=_("compte"),
        on_delete=models.CASCADE,
        related_name="metric_days",
    )
    day = models.DateField(_("jour"))
    collected_at = models.DateTimeField(_("collecté le"), auto_now=True)

    class Meta:
        ordering = ["account", "day"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="account_metric_day_unique")
        ]
        indexes = [
            # the KPIs read a scope's days for the sums, the last followers and the charts:
            # on PostgreSQL the figures are in the index (an index-only scan)
            models.Index(
                fields=["collectivite", "day"],
                include=["account", *ACCOUNT_FIGURES],
                name="account_metric_coll_day_cover",
            ),
        ]
        verbose_name = _("statistiques quotidiennes d'un compte")
        verbose_name_plural = _("statistiques quotidiennes des comptes")

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}"


class AccountMetricMonth(AccountFigures, TenantModel):
    """One account's figures summed over one calendar month of ``AccountMetricDay``:
    what the KPIs read on PostgreSQL for periods made of whole months (a month, a quarter,
    a year) instead of every day of them. Followers is the count on ``followers_day``, the
    month's last day with one; the others are the month's totals, None when no day of the
    month provided them.

    Never written by the application: on PostgreSQL, a trigger on ``AccountMetricDay``
    (migration 0006) keeps it on every insert, update and delete, whoever makes them. On
    SQLite it stays empty and the KPIs read the days."""

    account = models.ForeignKey(
        "collectivites.SocialAccount",
        verbose_name=_("compte"),
        on_delete=models.CASCADE,
        related_name="metric_months",
    )
    month = models.DateField(_("mois"), help_text=_("Premier jour du mois."))
    followers_day = models.DateField(_("jour du nombre d'abonnés"), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "month"], name="account_metric_month_unique")
        ]
        indexes = [
            models.Index(
                fields=["collectivite", "month"],
                include=["account", *ACCOUNT_FIGURES],
                name="account_metric_coll_month",
            ),
        ]
        verbose_name = _("statistiques mensuelles d'un compte")
        verbose_name_plural = _("statistiques mensuelles des comptes")

    def __str__(self) -> str:
        return f"{self.account_id} {self.month:%Y-%m}"


class PostFigures(models.Model):
    """A post's figures as a network reports them on ``day`` (None: not provided)."""

    day = models.DateField(_("jour"))
    impressions = models.PositiveBigIntegerField(_("impressions"), null=True, blank=True)
    reach = models.PositiveBigIntegerField(_("portée"), null=True, blank=True)
    reactions = models.PositiveIntegerField(_("réactions"), null=True, blank=True)
    comments = models.PositiveIntegerField(_("commentaires"), null=True, blank=True)
    shares = models.PositiveIntegerField(_("partages"), null=True, blank=True)
    saves = models.PositiveIntegerField(_("enregistrements"), null=True, blank=True)
    link_clicks = models.PositiveIntegerField(_("clics sur les liens"), null=True, blank=True)
    video_views = models.PositiveIntegerField(_("vues de vidéo"), null=True, blank=True)

    class Meta:
        abstract = True


class PostMetricDay(PostFigures, TenantModel):
    """One published variant's lifetime totals as the network reported them on ``day``
    (cumulative: the latest row of a post is its figure)."""

    variant = models.ForeignKey(
        "publishing.Variant",
        verbose_name=_("déclinaison"),
        on_delete=models.CASCADE,
        related_name="metric_days",
    )
    collected_at = models.DateTimeField(_("collecté le"), auto_now=True)

    class Meta:
        ordering = ["variant", "day"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "day"], name="post_metric_day_unique")
        ]
        indexes = [
            models.Index(fields=["collectivite", "day"], name="post_metric_coll_day_idx"),
        ]
        verbose_name = _("statistiques quotidiennes d'une publication")
        verbose_name_plural = _("statistiques quotidiennes des publications")

    def __str__(self) -> str:
        return f"{self.variant_id} {self.day}"


class PostMetricLatest(PostFigures, TenantModel):
    """A copy of each variant's latest ``PostMetricDay`` (its figures): what the KPIs read
    on PostgreSQL instead of looking for the latest of a post's snapshots at every request.

    Never written by the application: on PostgreSQL, a trigger on ``PostMetricDay``
    (migration 0003) keeps it on every insert, update and delete, whoever makes them (the
    collection, ``COPY``, a fix by hand), so it cannot miss a row. On SQLite it stays empty
    and the KPIs use the portable query on ``PostMetricDay``."""

    variant = models.OneToOneField(
        "publishing.Variant",
        verbose_name=_("déclinaison"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="latest_metrics",
    )

    class Meta:
        verbose_name = _("dernières statistiques d'une publication")
        verbose_name_plural = _("dernières statistiques des publications")

    def __str__(self) -> str:
        return f"{self.variant_id} {self.day}"


# A day is rolled up (``InboxDay``) once it is this many days old in the collectivité's
# time zone: today and yesterday are always counted from the items. So an item stored
# less than ``INBOX_LATE_HOURS`` after it was written can never fall on a rolled-up day
# (the day ended at least 23 hours before, DST included); the collection tells reporting
# only about the items older than that (``reporting.services.inbox_days_invalidate``),
# which a normal collection does not store: no extra statement on its pages.
INBOX_DAY_SETTLED_DAYS = 2
INBOX_LATE_HOURS = 20
# Days are rolled up from the collectivité's first message, and at least this far back
# (zeros included): a collectivité without messages, or a day before its first one, reads
# its zeros rather than asking the items each time.
INBOX_DAY_HORIZON_DAYS = 400
# The triage labels whose daily counts ``InboxDay`` keeps, in the order the KPIs show them
# (``reporting.kpis.TRIAGE_CODES``).
INBOX_DAY_LABELS = (
    "question",
    "reclamation",
    "urgent",
    "positif",
    "negatif",
    "insulte",
    "spam",
    "hors_sujet",
)
# The counts of an ``InboxDay``, in the order the KPIs read them.
INBOX_DAY_COUNTS = (
    "volume",
    "requests",
    "answered",
    "resolved",
    "mentions",
    *(f"label_{code}" for code in INBOX_DAY_LABELS),
)


class InboxDay(TenantModel):
    """One collectivité's inbox counts for one settled day (in ``time_zone``): what the
    dashboards sum instead of reading the period's tens of thousands of items several
    times. Each count is the one the KPIs compute from the items (``reporting.kpis``):
    messages, requests (``needs_answer``), requests answered, requests closed, mentions,
    and the messages carrying each triage label.

    PostgreSQL only, written by ``reporting.services.inbox_days_refresh`` (nightly) for
    days at least ``INBOX_DAY_SETTLED_DAYS`` old. A row is deleted, so the KPIs compute
    its day from the items again, whenever one of its items changes in a way that moves a
    count (a trigger on the items' updates and deletes, migration 0005) or an item of that
    day is stored late (``inbox_days_invalidate``, called by the collection). A missing
    row always means "count the items", never zero."""

    day = models.DateField(_("jour"))
    time_zone = models.CharField(_("fuseau horaire"), max_length=64)
    volume = models.PositiveIntegerField(_("messages"), default=0)
    requests = models.PositiveIntegerField(_("demandes"), default=0)
    answered = models.PositiveIntegerField(_("demandes avec réponse"), default=0)
    resolved = models.PositiveIntegerField(_("demandes closes"), default=0)
    mentions = models.PositiveIntegerField(_("mentions"), default=0)
    label_question = models.PositiveIntegerField(default=0)
    label_reclamation = models.PositiveIntegerField(default=0)
    label_urgent = models.PositiveIntegerField(default=0)
    label_positif = models.PositiveIntegerField(default=0)
    label_negatif = models.PositiveIntegerField(default=0)
    label_insulte = models.PositiveIntegerField(default=0)
    label_spam = models.PositiveIntegerField(default=0)
    label_hors_sujet = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(_("calculé le"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collectivite", "day"], name="inbox_day_unique")
        ]
        verbose_name = _("messages reçus d'un jour")
        verbose_name_plural = _("messages reçus par jour")

    def __str__(self) -> str:
        return f"{self.collectivite_id} {self.day}"


class WebAnalyticsRow(TenantModel):
    """Visits to one page of the collectivité's site on one day from one UTM source,
    medium and campaign, imported from its web analytics export (CSV)."""

    day = models.DateField(_("jour"))
    url = models.CharField(_("page"), max_length=2000)
    utm_source = models.CharField(_("source (utm_source)"), max_length=200, blank=True)
    utm_medium = models.CharField(_("support (utm_medium)"), max_length=200, blank=True)
    utm_campaign = models.CharField(_("campagne (utm_campaign)"), max_length=200, blank=True)
    visits = models.PositiveIntegerField(_("visites"))
    imported_at = models.DateTimeField(_("importé le"), auto_now=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("importé par"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["day", "url"]
        constraints = [
            models.UniqueConstraint(
                fields=["collectivite", "day", "url", "utm_source", "utm_medium", "utm_campaign"],
                name="web_analytics_row_unique",
            )
        ]
        indexes = [models.Index(fields=["collectivite", "day"], name="web_analytics_coll_day_idx")]
        verbose_name = _("visites du site")
        verbose_name_plural = _("visites du site")

    def __str__(self) -> str:
        return f"{self.day} {self.url} ({self.visits})"


class MetricCollectionState(TenantModel):
    """Where metric collection of one account stands: the last day stored, so missing days
    are back-filled after an outage, and the last error."""

    account = models.OneToOneField(
        "collectivites.SocialAccount", on_delete=models.CASCADE, related_name="metric_collection"
    )
    last_day = models.DateField(_("dernier jour collecté"), null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(_("dernière erreur"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("état de la collecte des statistiques")

    def __str__(self) -> str:
        return f"metrics {self.account_id} → {self.last_day}"


class ReportRecipient(TenantModel):
    """A member who receives the monthly report (PDF) by e-mail."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("destinataire"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collectivite", "user"], name="report_recipient_unique")
        ]
        verbose_name = _("destinataire du rapport mensuel")
        verbose_name_plural = _("destinataires du rapport mensuel")

    def __str__(self) -> str:
        return str(self.user)


class ReportDelivery(TenantModel):
    """One monthly report e-mailed to one member: the record that makes sending happen at
    most once per recipient and period.

    The row is claimed (created, ``sent_at`` empty) and committed *before* the e-mail is
    handed to the mail server, then ``sent_at`` is set. A send that raises releases the
    claim (the error says the message did not leave), so a retry sends it; a worker that
    dies between the claim and ``sent_at`` leaves the claim, and nobody sends again: at
    most once, never twice. Such a claim (``sent_at`` empty) is what to look for when a
    recipient says a report never came."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("destinataire"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    period_start = models.DateField(_("début de la période"))
    claimed_at = models.DateTimeField(_("pris en charge le"), auto_now_add=True)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["collectivite", "user", "period_start"], name="report_delivery_unique"
            )
        ]
        verbose_name = _("envoi du rapport mensuel")
        verbose_name_plural = _("envois du rapport mensuel")

    def __str__(self) -> str:
        return f"{self.user_id} {self.period_start} {self.sent_at or '-'}"
