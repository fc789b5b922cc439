"""Thin tasks: ids in, a service call. The beat schedule is in settings."""

from __future__ import annotations

from celery import shared_task

from collectivites.models import SocialAccount
from reporting import services


@shared_task(acks_late=True, ignore_result=True, expires=240)
def collect_metrics_due() -> int:
    return len(services.metrics_collect_due())


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def collect_account_metrics_task(collectivite_id: int, account_id: int) -> int:
    account = (
        SocialAccount.objects.for_collectivite(collectivite_id)
        .select_related("collectivite")
        .filter(pk=account_id)
        .first()
    )
    if account is None:
        return 0
    return len(services.metrics_collect_account(account=account).days)
