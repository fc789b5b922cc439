"""Thin tasks: ids in, a service call. The beat schedule is in settings."""

from __future__ import annotations

from celery import shared_task

from collectivites.models import Collectivite, SocialAccount
from monitoring import services


def _account(collectivite_id: int, account_id: int) -> SocialAccount | None:
    return (
        SocialAccount.objects.for_collectivite(collectivite_id)
        .select_related("collectivite")
        .filter(pk=account_id)
        .first()
    )


@shared_task(acks_late=True, ignore_result=True, expires=60)
def collect_due() -> int:
    return len(services.collect_due())


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def collect_account_task(collectivite_id: int, account_id: int) -> int:
    account = _account(collectivite_id, account_id)
    if account is None:
        return 0
    return services.collect_account(account=account)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_reply_task(collectivite_id: int, reply_id: int) -> str:
    collectivite = Collectivite.objects.filter(pk=collectivite_id).first()
    if collectivite is None:
        return "skipped"
    return services.reply_send(collectivite=collectivite, reply_id=reply_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_webhook_task(event_id: int) -> int:
    from monitoring import webhooks

    return webhooks.process(event_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def apply_charter_task(collectivite_id: int, account_id: int, external_ids: list[str]) -> int:
    account = _account(collectivite_id, account_id)
    if account is None:
        return 0
    return services.charter_apply(account=account, external_ids=external_ids)


@shared_task(acks_late=True, ignore_result=True, expires=60)
def watch_due() -> int:
    return len(services.watch_due())


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def watch_run_task(collectivite_id: int, watch_id: int) -> int:
    from monitoring.models import Watch

    watch = Watch.objects.for_collectivite(collectivite_id).filter(pk=watch_id, active=True).first()
    if watch is None:
        return 0
    return services.watch_run(watch=watch)


@shared_task(acks_late=True, ignore_result=True, expires=3600)
def purge_personal_data() -> int:
    return services.purge_expired()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def notify_urgent_task(collectivite_id: int, account_id: int, external_ids: list[str]) -> int:
    account = _account(collectivite_id, account_id)
    if account is None:
        return 0
    return services.notify_urgent(account=account, external_ids=external_ids)
