"""Exactly once, whatever crashes: several hundred variants across collectivités and
accounts, due within the minute, published by two real Celery workers fed by beat, with
transient errors, rate limits, lost answers and a permanent refusal injected into the
sandbox network -- and one worker killed with SIGKILL while it publishes.

Every variant must end published exactly once on the sandbox (no duplicate, none
missing), or failed with its reason where the injected error is permanent."""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections import Counter
from collections.abc import Generator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from collectivites.models import SocialAccount
from networks.adapters.sandbox import SandboxConnector, inject_fault
from networks.models import SandboxPost
from publishing.models import Variant
from tests import factories
from tests.system.helpers import (
    PYTHON,
    Processes,
    clean_env,
    free_port,
    gunicorn_command,
    requires_postgres_and_redis,
    url_with_path,
    wait_healthy,
    wait_until,
)

pytestmark = [pytest.mark.system, requires_postgres_and_redis]

BROKER_REDIS_DB = 6
PER_ACCOUNT = 50
LEASE_SECONDS = 6
S = Variant.State


@pytest.fixture
def publishing_stack(
    transactional_db: Any, tmp_path: Any
) -> Generator[tuple[Processes, dict[str, str]], None, None]:
    broker_url = url_with_path(settings.REDIS_URL, f"/{BROKER_REDIS_DB}")
    with redis.Redis.from_url(broker_url) as connection:
        connection.flushdb()
    port = free_port()
    env = clean_env(
        DATABASE_URL=url_with_path(
            os.environ["DATABASE_URL"], "/" + settings.DATABASES["default"]["NAME"]
        ),
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=broker_url,
        PARVIS_VAR_DIR=str(tmp_path / "var"),
        PARVIS_TESTING="1",
        PARVIS_BASE_URL=f"http://127.0.0.1:{port}",
        SECRET_KEY=settings.SECRET_KEY,
        PARVIS_ENCRYPTION_KEYS=",".join(settings.PARVIS_ENCRYPTION_KEYS),
        PARVIS_DISPATCH_INTERVAL="0.5",
        PARVIS_REAP_INTERVAL="2",
        PARVIS_PUBLISH_LEASE_SECONDS=str(LEASE_SECONDS),
        # retries within seconds: a variant unlucky enough to fail four times in a row
        # would otherwise wait minutes (15 s doubling) and outlast the test
        PARVIS_PUBLISH_BACKOFF_SECONDS="1",
        # a network that takes a little time, so that a worker dies mid-publish
        PARVIS_SANDBOX_LATENCY_MS="40",
        PARVIS_ACCOUNT_CHECK_INTERVAL="3600",
    )
    processes = Processes(tmp_path / "logs")
    celery = [PYTHON, "-m", "celery", "-A", "config"]
    try:
        processes.start("gunicorn", gunicorn_command(port), env)
        for name in ("worker-a", "worker-b"):
            processes.start(
                name,
                [*celery, "worker", "--loglevel=INFO", "--concurrency=2",
                 f"--hostname={name}@%h", "--without-gossip", "--without-mingle"],
                env,
            )  # fmt: skip
        wait_healthy(f"http://127.0.0.1:{port}", processes, timeout=45.0)
        yield processes, env
    finally:
        processes.stop()


def _sandbox_account(collectivite: Any, handle: str) -> SocialAccount:
    (candidate,) = SandboxConnector().connect_with_form({"handle": handle})
    return factories.SocialAccountFactory(
        collectivite=collectivite,
        network="sandbox",
        handle=candidate.handle,
        external_id=candidate.external_id,
        credentials=candidate.credentials,
    )


def test_hundreds_of_variants_go_out_exactly_once_through_faults_and_a_killed_worker(
    publishing_stack: tuple[Processes, dict[str, str]],
) -> None:
    processes, env = publishing_stack
    due = timezone.now() + dt.timedelta(seconds=5)
    accounts: dict[str, SocialAccount] = {}
    for town in ("nord", "sud", "est"):
        collectivite = factories.CollectiviteFactory(slug=f"ville-{town}", name=f"Ville {town}")
        for network in ("fb", "ig"):
            accounts[f"{town}-{network}"] = _sandbox_account(collectivite, f"@{town}.{network}")
    doomed = accounts["est-ig"]

    variants: list[Variant] = []
    for key, account in accounts.items():
        for n in range(PER_ACCOUNT if account != doomed else 10):
            variants.append(
                factories.VariantFactory(
                    publication__collectivite=account.collectivite,
                    account=account,
                    text=f"{key} — annonce n°{n} : marché de Noël, samedi place de la Mairie.",
                    state=S.APPROVED,
                    scheduled_at=due + dt.timedelta(milliseconds=37 * n),
                )
            )
    inject_fault(
        accounts["nord-fb"].external_id, "transient", operation="publish", probability=0.15
    )
    inject_fault(accounts["nord-ig"].external_id, "rate_limited", operation="publish", remaining=3)
    inject_fault(
        accounts["sud-fb"].external_id,
        "transient",
        operation="publish",
        remaining=4,
        lost_answer=True,
    )
    inject_fault(accounts["sud-ig"].external_id, "timeout", operation="publish", remaining=3)
    inject_fault(doomed.external_id, "rejected", operation="publish", probability=1.0)

    processes.start(
        "beat", [PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"], env
    )
    all_variants = Variant.objects.dangerously_unscoped()

    wait_until(
        lambda: all_variants.filter(state=S.PUBLISHED).count() >= 40,
        timeout=60.0,
        what="the first publications",
    )
    # Kill worker-a outright, pool and all, in the middle of the run.
    os.killpg(processes.children["worker-a"].pid, signal.SIGKILL)

    terminal = {S.PUBLISHED, S.FAILED, S.UNCONFIRMED, S.CANCELLED}

    def finished() -> bool:
        return not all_variants.exclude(state__in=terminal).exists()

    try:
        wait_until(finished, timeout=150.0, what="every variant to reach a final state")
    except TimeoutError:
        left = Counter(all_variants.exclude(state__in=terminal).values_list("state", flat=True))
        pytest.fail(f"still pending: {dict(left)}\n{processes.logs(8000)}", pytrace=False)

    states = Counter(all_variants.values_list("state", flat=True))
    expected_published = len(variants) - 10
    assert states[S.PUBLISHED] == expected_published, (dict(states), processes.logs(8000))
    assert states[S.FAILED] == 10

    for variant in all_variants.filter(account=doomed):
        assert "refusé ce contenu" in variant.error_message

    posts = Counter(SandboxPost.objects.values_list("idempotency_key", flat=True))
    duplicates = {k: n for k, n in posts.items() if n > 1}
    assert not duplicates, f"posted twice: {duplicates}"
    published_keys = {
        str(k)
        for k in all_variants.filter(state=S.PUBLISHED).values_list("idempotency_key", flat=True)
    }
    assert published_keys == set(posts), "every published variant is on the network, and only those"
    for variant in all_variants.filter(state=S.PUBLISHED):
        assert variant.external_id and variant.permalink
