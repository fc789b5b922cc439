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


@shared_task(acks_late=True, ignore_result=True, expires=3600)
def refresh_inbox_days() -> int:
    """Beat, nightly: roll up every collectivité's newly settled day and the days
    invalidated since the last run (``services.inbox_days_refresh``)."""
    return services.inbox_days_refresh_all()


@shared_task(acks_late=True, ignore_result=True, expires=3600)
def send_monthly_reports() -> int:
    """Beat, early on the 1st of each month (and the next two days, to catch up after an
    outage: each recipient gets a month's report at most once, ``ReportDelivery`` being the
    record, see ``services.monthly_report_send``): queue last month's report for every
    collectivité that chose recipients."""
    from django.utils import timezone

    from collectivites.models import Collectivite
    from reporting.kpis import Period
    from reporting.models import ReportRecipient

    period = Period.containing(timezone.localdate(), "month").previous()
    ids = (
        ReportRecipient.objects.dangerously_unscoped()
        .values_list("collectivite_id", flat=True)
        .distinct()
    )
    queued = 0
    for collectivite_id in Collectivite.objects.filter(pk__in=ids).values_list("pk", flat=True):
        send_monthly_report.delay(collectivite_id, period.start.year, period.start.month)
        queued += 1
    return queued


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=6,
)
def send_monthly_report(collectivite_id: int, year: int, month: int) -> int:
    from collectivites.models import Collectivite
    from reporting.kpis import Period

    collectivite = Collectivite.objects.filter(pk=collectivite_id).first()
    if collectivite is None:
        return 0
    return services.monthly_report_send(collectivite=collectivite, period=Period.month(year, month))
