"""Thin tasks: ids in, a service call. The beat schedule is in settings."""

from __future__ import annotations

from celery import shared_task

from publishing import delivery


@shared_task(acks_late=True, ignore_result=True, expires=30)
def dispatch() -> int:
    return len(delivery.dispatch_due())


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def publish_variants(collectivite_id: int, claims: list[list[int | str]]) -> list[str]:
    """A batch of one account's claims, ``[[variant_id, lease_token], ...]``."""
    return delivery.publish_many(
        collectivite_id=collectivite_id,
        claims=[(int(variant_id), str(token)) for variant_id, token in claims],
    )


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def publish_variant(collectivite_id: int, variant_id: int, lease_token: str) -> str:
    """One claim: what dispatchers queued before batches (kept for messages still queued
    during an upgrade)."""
    return delivery.publish(
        collectivite_id=collectivite_id, variant_id=variant_id, lease_token=lease_token
    )


@shared_task(acks_late=True, ignore_result=True, expires=60)
def reap() -> int:
    return delivery.reap_expired_leases()
