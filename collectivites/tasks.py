"""Thin tasks: load ids, call a service."""

from __future__ import annotations

from celery import shared_task

from collectivites import services
from collectivites.models import Collectivite


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(collectivite_id: int, invitation_id: int) -> bool:
    collectivite = Collectivite.objects.filter(pk=collectivite_id).first()
    if collectivite is None:
        return False
    return services.invitation_send(collectivite=collectivite, invitation_id=invitation_id)


@shared_task(acks_late=True)
def purge_expired_invitations() -> int:
    return services.invitations_purge_expired()


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def email_notifications(collectivite_id: int, notification_ids: list[int]) -> int:
    collectivite = Collectivite.objects.filter(pk=collectivite_id).first()
    if collectivite is None:
        return 0
    return services.notifications_send_email(
        collectivite=collectivite, notification_ids=notification_ids
    )


@shared_task(acks_late=True)
def verify_social_accounts() -> int:
    """Maintenance across tenants: a light call per connected account, so a revoked token
    is noticed (and its admins told) before anyone needs the account."""
    from collectivites import connections
    from collectivites.models import SocialAccount

    checked = 0
    for account in (
        SocialAccount.objects.dangerously_unscoped()
        .select_related("collectivite")
        .filter(status=SocialAccount.Status.CONNECTED)
    ):
        connections.social_account_check(account=account)
        checked += 1
    return checked
