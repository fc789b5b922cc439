"""The audit trail: one append-only row per consequential action.

Who did what, to what, when and from where. Rows are written by the services
(``audit.services.record``), never changed: the database refuses UPDATE, DELETE and
TRUNCATE on the table (triggers, migration 0002); the retention purge is the one
controlled exception (``audit.db.purge_window``).

Tenancy. Every event belongs to a collectivité, except platform-level ones that
belong to none (a failed login for an unknown address, the re-encryption of every
credential, the retention purge itself): ``collectivite`` is therefore nullable, and
those rows are only visible to platform staff (Django admin). The manager fails closed
like every tenant model's.

Nothing here points at a row with a real foreign-key constraint: deleting a user or a
collectivité must neither cascade into the trail nor update it (the trigger would
refuse). ``collectivite_id`` and ``actor_id`` are kept as plain ids, with
``actor_label`` so that a deleted person's events stay readable.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from collectivites.tenancy import TenantModel


class Action(models.TextChoices):
    """Every consequential action. The value is stored; add new ones at the end of a
    group (no migration needed: the column carries no database-level choices)."""

    # publishing
    PUBLICATION_SUBMITTED = "publication.submitted", _("Publication soumise")
    PUBLICATION_APPROVED = "publication.approved", _("Publication validée")
    PUBLICATION_SENT_BACK = "publication.sent_back", _("Publication renvoyée")
    ELECTION_ACKNOWLEDGED = (
        "publication.election_acknowledged",
        _("Réserve pré-électorale : contenu confirmé neutre"),
    )
    VARIANT_CANCELLED = "variant.cancelled", _("Déclinaison annulée")
    VARIANT_PUBLISHED = "variant.published", _("Déclinaison publiée")
    VARIANT_FAILED = "variant.failed", _("Publication échouée")
    VARIANT_UNCONFIRMED = "variant.unconfirmed", _("Publication non confirmée")
    ALERT_PUBLISHED = "alert.published", _("Alerte urgente publiée")
    ALERT_UPDATED = "alert.updated", _("Alerte urgente mise à jour")
    ALERT_CLOSED = "alert.closed", _("Alerte urgente close")
    CRISIS_PAUSED = "crisis.paused", _("Pause de crise déclenchée")
    CRISIS_RESUMED = "crisis.resumed", _("Pause de crise levée")
    # moderation
    REPLY_SENT = "reply.sent", _("Réponse envoyée à un citoyen")
    REPLY_APPROVED = "reply.approved", _("Réponse à un citoyen validée")
    REPLY_REFUSED = "reply.refused", _("Réponse à un citoyen refusée")
    ITEM_HIDDEN = "inbox.hidden", _("Message masqué")
    ITEM_UNHIDDEN = "inbox.unhidden", _("Message démasqué")
    ITEM_DELETED = "inbox.deleted", _("Message supprimé")
    ITEM_STATUS_CHANGED = "inbox.status_changed", _("État d'un message changé")
    CHARTER_AUTO_HIDDEN = "inbox.charter_hidden", _("Message masqué par la charte")
    ITEM_EDITED_BY_AUTHOR = "inbox.edited_by_author", _("Message modifié par son auteur")
    ITEM_REMOVED_BY_AUTHOR = "inbox.removed_by_author", _("Message retiré par son auteur")
    SAVED_REPLY_SAVED = "saved_reply.saved", _("Réponse type enregistrée")
    # members
    INVITATION_CREATED = "member.invited", _("Membre invité")
    INVITATION_REVOKED = "member.invitation_revoked", _("Invitation annulée")
    INVITATION_ACCEPTED = "member.invitation_accepted", _("Invitation acceptée")
    ROLES_CHANGED = "member.roles_changed", _("Rôles modifiés")
    MEMBER_REMOVED = "member.removed", _("Membre retiré")
    # accounts and credentials
    ACCOUNT_CONNECTED = "account.connected", _("Compte connecté")
    ACCOUNT_SAVED = "account.saved", _("Compte déclaré ou modifié")
    ACCOUNT_DELETED = "account.deleted", _("Compte déconnecté et supprimé")
    ACCOUNT_TO_RECONNECT = "account.to_reconnect", _("Compte à reconnecter")
    CREDENTIALS_ROTATED = "credentials.rotated", _("Identifiants rechiffrés (rotation de clé)")
    # settings
    COLLECTIVITE_UPDATED = "collectivite.updated", _("Informations de la collectivité modifiées")
    CHARTER_UPDATED = "charter.updated", _("Charte de modération modifiée")
    EDITORIAL_LINE_SAVED = "editorial_line.saved", _("Ligne éditoriale enregistrée")
    EDITORIAL_LINE_DELETED = "editorial_line.deleted", _("Ligne éditoriale supprimée")
    AUDIENCE_SAVED = "audience.saved", _("Public enregistré")
    AUDIENCE_DELETED = "audience.deleted", _("Public supprimé")
    ELECTION_PERIOD_SAVED = "election_period.saved", _("Période électorale enregistrée")
    ELECTION_PERIOD_DELETED = "election_period.deleted", _("Période électorale supprimée")
    # personal data and exports
    PERSONAL_DATA_EXPORTED = "personal_data.exported", _("Données personnelles exportées")
    PERSONAL_DATA_ERASED = "personal_data.erased", _("Données personnelles effacées")
    REPORT_EXPORTED = "report.exported", _("Rapport exporté")
    AUDIT_EXPORTED = "audit.exported", _("Journal d'audit exporté")
    AUDIT_PURGED = "audit.purged", _("Journal d'audit purgé (durée de conservation)")
    # authentication and API access
    LOGIN_FAILED = "auth.login_failed", _("Échec de connexion")
    LOCKED_OUT = "auth.locked_out", _("Connexion bloquée après trop d'échecs")
    TWO_FACTOR_ENROLLED = "auth.2fa_enrolled", _("Double authentification activée")
    TWO_FACTOR_DISABLED = "auth.2fa_disabled", _("Double authentification désactivée")
    RECOVERY_CODES_REGENERATED = "auth.recovery_codes", _("Codes de secours régénérés")
    API_KEY_CREATED = "api_key.created", _("Clé d'API créée")
    API_KEY_REVOKED = "api_key.revoked", _("Clé d'API révoquée")
    API_TOKEN_CREATED = "api_token.created", _("Jeton personnel créé")
    API_TOKEN_REVOKED = "api_token.revoked", _("Jeton personnel révoqué")


class AuditEvent(TenantModel):
    # Overrides TenantModel's: nullable (platform-level events) and without a database
    # constraint or cascade (the trail outlives what it talks about).
    collectivite = models.ForeignKey(
        "collectivites.Collectivite",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("collectivité"),
    )
    created_at = models.DateTimeField(_("date"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("auteur"),
    )
    actor_label = models.CharField(_("auteur (nom conservé)"), max_length=300)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("type d'objet"), max_length=100, blank=True)
    object_id = models.CharField(_("identifiant de l'objet"), max_length=64, blank=True)
    object_label = models.CharField(_("objet"), max_length=200, blank=True)
    before = models.JSONField(_("avant"), null=True, blank=True)
    after = models.JSONField(_("après"), null=True, blank=True)
    ip_address = models.GenericIPAddressField(_("adresse IP"), null=True, blank=True)
    user_agent = models.CharField(_("navigateur"), max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("événement d'audit")
        verbose_name_plural = _("journal d'audit")
        indexes = [
            models.Index(fields=["collectivite", "-created_at"], name="audit_by_collectivite"),
            models.Index(fields=["object_type", "object_id"], name="audit_by_object"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    @property
    def action_label(self) -> str:
        try:
            return str(Action(self.action).label)
        except ValueError:
            return self.action

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise RuntimeError("The audit trail is append-only.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise RuntimeError("The audit trail is append-only (the retention purge removes rows).")
