"""Thin tasks: the daily retention purge (beat: ``purge-audit-trail``)."""

from __future__ import annotations

from celery import shared_task

from audit import services


@shared_task(acks_late=True, ignore_result=True)
def purge_audit_trail() -> int:
    return services.purge_expired()
