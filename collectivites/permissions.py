"""The one permission table: role -> capabilities.

Pages, the API and services all ask ``has_capability``; nothing else decides who
may do what. A member may hold several roles in a collectivité: their
capabilities are the union.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrateur·rice")
    REDACTEUR = "redacteur", _("Rédacteur·rice")
    VALIDATEUR = "validateur", _("Validateur·rice")
    MODERATEUR = "moderateur", _("Modérateur·rice")
    LECTEUR = "lecteur", _("Lecteur·rice (élu·e)")


class Capability(models.TextChoices):
    # the collectivité and its settings
    VIEW = "collectivite.view", _("Voir la collectivité")
    MEMBERS_VIEW = "members.view", _("Voir les membres")
    MEMBERS_MANAGE = "members.manage", _("Inviter, changer les rôles, retirer des membres")
    ACCOUNTS_VIEW = "accounts.view", _("Voir les comptes sociaux")
    ACCOUNTS_MANAGE = "accounts.manage", _("Connecter et configurer les comptes sociaux")
    EDITORIAL_VIEW = "editorial.view", _("Voir les lignes éditoriales et les publics")
    EDITORIAL_MANAGE = "editorial.manage", _("Modifier les lignes éditoriales et les publics")
    CHARTER_VIEW = "charter.view", _("Voir la charte de modération")
    CHARTER_MANAGE = "charter.manage", _("Modifier la charte de modération")
    ELECTIONS_VIEW = "elections.view", _("Voir les périodes électorales")
    ELECTIONS_MANAGE = "elections.manage", _("Déclarer les périodes électorales")
    # publishing
    PUBLISHING_VIEW = "publishing.view", _("Voir les publications et le calendrier")
    PUBLISHING_DRAFT = "publishing.draft", _("Rédiger et programmer des publications")
    PUBLISHING_APPROVE = "publishing.approve", _("Valider ou renvoyer des publications")
    PUBLISHING_URGENT = "publishing.urgent", _("Publier une alerte urgente")
    # monitoring
    INBOX_VIEW = "inbox.view", _("Voir la boîte de modération")
    INBOX_REPLY = "inbox.reply", _("Répondre aux citoyens")
    INBOX_MODERATE = "inbox.moderate", _("Masquer, supprimer, escalader")
    INBOX_APPROVE = "inbox.approve", _("Valider les réponses aux citoyens avant leur envoi")
    WATCH_MANAGE = "watch.manage", _("Configurer la veille")
    PERSONAL_DATA_MANAGE = (
        "personal_data.manage",
        _("Exporter et effacer les données personnelles d'un citoyen"),
    )
    # reporting
    REPORTING_VIEW = "reporting.view", _("Voir les tableaux de bord et rapports")
    REPORTING_EXPORT = "reporting.export", _("Exporter les rapports")
    REPORTING_IMPORT = "reporting.import", _("Importer les statistiques du site internet")
    # audit trail
    AUDIT_VIEW = "audit.view", _("Consulter et exporter le journal d'audit")


C = Capability

_EVERYONE = frozenset(
    {
        C.VIEW,
        C.ACCOUNTS_VIEW,
        C.EDITORIAL_VIEW,
        C.CHARTER_VIEW,
        C.ELECTIONS_VIEW,
        C.REPORTING_VIEW,
    }
)

ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.ADMIN: _EVERYONE
    | {
        C.MEMBERS_VIEW,
        C.MEMBERS_MANAGE,
        C.ACCOUNTS_MANAGE,
        C.EDITORIAL_MANAGE,
        C.CHARTER_MANAGE,
        C.ELECTIONS_MANAGE,
        C.WATCH_MANAGE,
        C.PUBLISHING_VIEW,
        C.INBOX_VIEW,
        C.PERSONAL_DATA_MANAGE,
        C.REPORTING_EXPORT,
        C.REPORTING_IMPORT,
        C.AUDIT_VIEW,
    },
    Role.REDACTEUR: _EVERYONE | {C.PUBLISHING_VIEW, C.PUBLISHING_DRAFT, C.REPORTING_EXPORT},
    Role.VALIDATEUR: _EVERYONE
    | {
        C.MEMBERS_VIEW,
        C.PUBLISHING_VIEW,
        C.PUBLISHING_DRAFT,
        C.PUBLISHING_APPROVE,
        C.PUBLISHING_URGENT,
        C.REPORTING_EXPORT,
        # the replies the charter sends through a validateur
        C.INBOX_VIEW,
        C.INBOX_APPROVE,
    },
    Role.MODERATEUR: _EVERYONE
    | {
        C.PUBLISHING_VIEW,
        C.INBOX_VIEW,
        C.INBOX_REPLY,
        C.INBOX_MODERATE,
        C.WATCH_MANAGE,
        C.PERSONAL_DATA_MANAGE,
    },
    Role.LECTEUR: _EVERYONE,
}


def capabilities_for(roles: Iterable[str]) -> frozenset[str]:
    caps: frozenset[str] = frozenset()
    for role in roles:
        caps |= ROLE_CAPABILITIES.get(role, frozenset())
    return caps


def has_capability(roles: Iterable[str], capability: str) -> bool:
    if capability not in Capability.values:
        raise ValueError(f"Unknown capability {capability!r}")
    return capability in capabilities_for(roles)


def roles_with(capability: str) -> list[str]:
    return [role for role, caps in ROLE_CAPABILITIES.items() if capability in caps]
