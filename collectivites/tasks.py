"""Thin tasks: load ids, call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from collectivites import services
from collectivites.models import Invitation


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(invitation_id: int, token: str) -> None:
    invitation = (
        Invitation.objects.dangerously_unscoped()
        .select_related("collectivite", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None or not invitation.is_usable:
        return
    with translation.override("fr"):
        context = {
            "invitation": invitation,
            "url": settings.PARVIS_BASE_URL + reverse("invitation_accept", kwargs={"token": token}),
        }
        subject = render_to_string("collectivites/email/invitation_subject.txt", context).strip()
        body = render_to_string("collectivites/email/invitation.txt", context)
    send_mail(subject, body, None, [invitation.email])


@shared_task(acks_late=True)
def purge_expired_invitations() -> int:
    return services.invitations_purge_expired()
