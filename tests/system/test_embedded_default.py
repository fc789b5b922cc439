"""The embedded default (`make run`): nothing but Python, SQLite and the filesystem broker.
These tests never need PostgreSQL or Redis."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest
import requests

from tests.system.helpers import (
    PYTHON,
    Processes,
    clean_env,
    command_line,
    descendants,
    free_port,
    gunicorn_command,
    healthz,
    is_running,
    log_in,
    wait_healthy,
    wait_until,
)

pytestmark = pytest.mark.system

DEMO_ADMIN = "admin@demo.parvis.fr"
DEMO_PASSWORD = "parvis-demo"


def _row_counts(database: Path) -> dict[str, int]:
    """Rows per table of the SQLite database, to see what a command changed."""
    with sqlite3.connect(database) as connection:
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        counts = {}
        for (table,) in tables:
            query = f'SELECT COUNT(*) FROM "{table}"'  # noqa: S608 -- names from sqlite_master
            counts[table] = connection.execute(query).fetchone()[0]
        return counts


def test_embedded_default_runs_and_stops_cleanly(processes: Processes, tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = clean_env(PARVIS_VAR_DIR=str(var_dir), PORT=str(port))
    manage = [PYTHON, "manage.py"]

    processes.run("migrate", [*manage, "migrate", "--noinput"], env, timeout=60)
    processes.run("seed_demo", [*manage, "seed_demo"], env, timeout=30)
    database = var_dir / "parvis.sqlite3"
    seeded = _row_counts(database)
    assert seeded["collectivites_collectivite"] == 2
    processes.run("seed_demo-again", [*manage, "seed_demo"], env, timeout=30)
    assert _row_counts(database) == seeded, "seed_demo is not idempotent"

    runner = processes.start("run_embedded", [PYTHON, "scripts/run_embedded.py"], env)
    health = wait_healthy(base_url, processes, timeout=40)
    assert (health["database"], health["broker"]) == ("ok", "ok"), health

    session = log_in(base_url, DEMO_ADMIN, DEMO_PASSWORD)
    overview = session.get(f"{base_url}/c/saint-aubin/", timeout=10)
    assert overview.status_code == 200
    assert "Saint-Aubin-des-Tilleuls" in overview.text

    children = descendants(runner.pid)
    names = " | ".join(command_line(pid) for pid in children)
    for part in ("runserver", "worker", "beat"):
        assert part in names, f"no {part} among the runner's children: {names}"

    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=20) == 0
    try:
        wait_until(
            lambda: not any(is_running(pid) for pid in children),
            timeout=5,
            what="the runner's children to exit",
        )
    except TimeoutError:
        left = {pid: command_line(pid) for pid in children if is_running(pid)}
        pytest.fail(f"processes left behind after SIGTERM: {left}")


def test_healthz_says_503_when_the_broker_is_down(processes: Processes, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = clean_env(
        PARVIS_VAR_DIR=str(tmp_path / "var"),
        PARVIS_TESTING="1",
        # Nothing listens on port 1: connections are refused at once.
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )
    processes.start("gunicorn", gunicorn_command(port), env)

    def answered() -> requests.Response | None:
        processes.assert_alive()
        return healthz(base_url, timeout=20)

    response = wait_until(answered, timeout=30, what="gunicorn to answer /healthz")
    assert response.status_code == 503
    health = response.json()
    assert (health["database"], health["broker"]) == ("ok", "down"), health
