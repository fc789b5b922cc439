"""Real processes for tests/system: gunicorn, a Celery worker and Celery beat on the
PostgreSQL test database and a dedicated Redis DB, e-mail written to files.

The stack is module-scoped: its beat purges expired invitations every two seconds, which
must not reach the transactional tests of other modules run in the same session.

Tests put their data in with ``transactional_db`` (committed, so the children see it).
When a test fails, the children's logs are attached to its report."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.system.helpers import (
    NEEDS_SERVICES,
    PYTHON,
    Processes,
    Stack,
    clean_env,
    free_port,
    gunicorn_command,
    services_available,
    url_with_path,
    wait_healthy,
    wait_until,
)

# The children's broker has a Redis DB of its own, flushed at start: nothing left there by
# an earlier run reaches this worker, and nothing mixes with the in-process tests' broker.
BROKER_REDIS_DB = 5
MAINTENANCE_INTERVAL = 2  # seconds between beat's purges of expired invitations
START_TIMEOUT = 45.0
WORKER_NAME = "system@%h"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            processes = value.processes if isinstance(value, Stack) else value
            if isinstance(processes, Processes):
                report.sections.append(("children's logs", processes.logs()))
    return report


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Children a single test starts; all stopped when it ends."""
    started = Processes(tmp_path / "logs")
    yield started
    started.stop()


def _worker_answers(env: dict[str, str]) -> bool:
    # The CLI in a child rather than app.control.ping here: Celery lets the
    # CELERY_BROKER_URL of this process's environment override any broker given to an
    # app, so an in-process probe would ping the in-process tests' broker instead.
    result = subprocess.run(
        [PYTHON, "-m", "celery", "inspect", "ping", "--timeout=1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
    )
    return result.returncode == 0 and "system@" in result.stdout


@pytest.fixture(scope="module")
def system_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Generator[Stack, None, None]:
    if not services_available():
        pytest.skip(NEEDS_SERVICES)
    # Requested only now so a skipped run does not build a test database; the children
    # are stopped before pytest-django drops it (they hold connections to it).
    request.getfixturevalue("django_db_setup")

    root = tmp_path_factory.mktemp("system")
    var_dir, mail_dir = root / "var", root / "mail"
    var_dir.mkdir()
    mail_dir.mkdir()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    broker_url = url_with_path(settings.REDIS_URL, f"/{BROKER_REDIS_DB}")
    with redis.Redis.from_url(broker_url) as connection:
        connection.flushdb()

    env = clean_env(
        DATABASE_URL=url_with_path(
            os.environ["DATABASE_URL"], "/" + settings.DATABASES["default"]["NAME"]
        ),
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=broker_url,
        EMAIL_URL=f"filemail:///{mail_dir}",  # three slashes, then the absolute path
        PARVIS_VAR_DIR=str(var_dir),
        PARVIS_TESTING="1",
        PARVIS_BASE_URL=base_url,
        PARVIS_MAINTENANCE_INTERVAL=str(MAINTENANCE_INTERVAL),
        PARVIS_ACCOUNT_CHECK_INTERVAL=str(MAINTENANCE_INTERVAL),
        # Same keys as this process, so what a test writes the children can read.
        SECRET_KEY=settings.SECRET_KEY,
        PARVIS_ENCRYPTION_KEYS=",".join(settings.PARVIS_ENCRYPTION_KEYS),
        # tests.conftest hashes the factories' passwords with MD5; this makes the
        # children accept them.
        PARVIS_PASSWORD_HASHER_FAST="1",
    )
    stack = Stack(base_url, broker_url, mail_dir, var_dir, Processes(root / "logs"))
    celery = [PYTHON, "-m", "celery", "-A", "config"]
    try:
        stack.processes.start("gunicorn", gunicorn_command(port), env)
        stack.processes.start(
            "worker",
            [*celery, "worker", "--loglevel=INFO", "--concurrency=2", f"--hostname={WORKER_NAME}",
             "--without-gossip", "--without-mingle"],
            env,
        )  # fmt: skip
        stack.processes.start("beat", [*celery, "beat", "--loglevel=INFO"], env)

        wait_healthy(base_url, stack.processes, timeout=START_TIMEOUT)

        def worker_ready() -> bool:
            stack.processes.assert_alive()
            return _worker_answers(env)

        try:
            wait_until(worker_ready, timeout=START_TIMEOUT, what="the worker to answer a ping")
        except TimeoutError as exc:
            pytest.fail(f"{exc}\n{stack.processes.logs()}", pytrace=False)
        yield stack
    finally:
        stack.processes.stop()
