"""A worker killed between fetching a page of the inbox and committing it: a real process,
on the PostgreSQL test database, ends by SIGKILL after the items of the page are written in
its transaction but before the commit. The next collection loses nothing and stores nothing
twice."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from monitoring import services
from monitoring.models import CollectionState, InboxItem
from networks.adapters.sandbox import SandboxAdapter, SandboxConnector
from networks.base import Account, PostContent
from networks.models import SandboxItem
from tests import factories
from tests.system.helpers import (
    PYTHON,
    ROOT,
    clean_env,
    requires_postgres_and_redis,
    url_with_path,
)

pytestmark = [pytest.mark.system, requires_postgres_and_redis]

# The child wraps the storing step: the page's rows go into the open transaction, then the
# process is killed the hard way, as the kernel's OOM killer or a lost machine would.
CHILD = """
import os, signal, sys
import django
django.setup()
from collectivites.models import SocialAccount
from monitoring import services
stored = services._store
def store_then_die(*args, **kwargs):
    stored(*args, **kwargs)
    print("stored in the transaction, dying before the commit", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
services._store = store_then_die
account = SocialAccount.objects.dangerously_unscoped().get(pk=int(sys.argv[1]))
services.collect_account(account=account)
"""


def test_a_worker_killed_before_the_commit_loses_nothing_and_repeats_nothing(
    transactional_db: Any,
) -> None:
    collectivite = factories.CollectiviteFactory(slug="ville-coupee")
    (candidate,) = SandboxConnector().connect_with_form({"handle": "@ville-coupee"})
    account = factories.SocialAccountFactory(
        collectivite=collectivite,
        network="sandbox",
        handle=candidate.handle,
        external_id=candidate.external_id,
        credentials=candidate.credentials,
    )
    ref = Account(
        network="sandbox",
        external_id=account.external_id,
        handle=account.handle,
        credentials=account.credentials,
    )
    for n in range(3):
        SandboxAdapter().publish(ref, PostContent(text=f"Annonce {n}", idempotency_key=f"k{n}"))
    visible = timezone.now() - dt.timedelta(minutes=1)
    SandboxItem.objects.filter(account_external_id=account.external_id).update(
        created_at=visible, changed_at=visible
    )
    on_network = SandboxItem.objects.filter(
        account_external_id=account.external_id, by_page=False
    ).count()
    assert on_network > 0

    env = clean_env(
        DATABASE_URL=url_with_path(
            os.environ["DATABASE_URL"], "/" + settings.DATABASES["default"]["NAME"]
        ),
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        SECRET_KEY=settings.SECRET_KEY,
        PARVIS_ENCRYPTION_KEYS=",".join(settings.PARVIS_ENCRYPTION_KEYS),
        PARVIS_TESTING="1",
    )
    child = subprocess.run(
        [PYTHON, "-c", CHILD, str(account.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "dying before the commit" in child.stdout

    items = InboxItem.objects.for_collectivite(collectivite)
    assert items.count() == 0  # the transaction died with the process
    state = CollectionState.objects.for_collectivite(collectivite).filter(account=account)
    assert not state.exists() or state.get().cursor == ""  # the cursor did not move

    assert services.collect_account(account=account) == on_network  # nothing lost
    assert services.collect_account(account=account) == 0  # nothing twice
    assert items.count() == on_network
    assert items.values("external_id").distinct().count() == on_network
