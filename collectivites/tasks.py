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
