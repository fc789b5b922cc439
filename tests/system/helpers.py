"""Tools for tests that start real processes: spawning with logs to files, stopping
whole process groups, polling with deadlines, HTTP log-in, reading the e-mail files."""

from __future__ import annotations

import contextlib
import email
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import gunicorn.config
import pytest
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

NEEDS_SERVICES = "needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL as .ci/run does"

# Variables of ours that change what a child process connects to or how it behaves; a
# child that must run "as installed" gets none of them from the pytest environment.
CONFIG_VARS = (
    "DATABASE_URL",
    "DATABASE_TEST_NAME",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "EMAIL_URL",
    "SECRET_KEY",
    "PARVIS_ENCRYPTION_KEYS",
    "PARVIS_VAR_DIR",
    "PARVIS_TESTING",
    "PARVIS_BASE_URL",
    "PARVIS_MAINTENANCE_INTERVAL",
    "PARVIS_PASSWORD_HASHER_FAST",
    "DEBUG",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "PORT",
)

T = TypeVar("T")


def services_available() -> bool:
    """True when this run's settings point at PostgreSQL and a Redis cache."""
    engine = settings.DATABASES["default"]["ENGINE"]
    return engine == "django.db.backends.postgresql" and bool(settings.REDIS_URL)


requires_postgres_and_redis = pytest.mark.skipif(not services_available(), reason=NEEDS_SERVICES)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def url_with_path(url: str, path: str) -> str:
    """``url`` with its path replaced (a database name, a Redis DB number)."""
    return urlsplit(url)._replace(path=path).geturl()


def clean_env(**overrides: str) -> dict[str, str]:
    """The inherited environment without our configuration variables, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.update({"PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "config.settings"})
    env.update(overrides)
    return env


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.2
) -> T:
    """Call ``probe`` until it returns neither None nor False; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        # Not truthiness: a Response for a 503 is falsy, and it is an answer.
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- processes --------------------------------------------------------------------------------


class Processes:
    """The children one fixture started. Each writes stdout and stderr to its own file;
    ``stop`` ends them all. Each child leads its own process group, so gunicorn's
    workers and Celery's pool go with it even if the parent misbehaves."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, cmd: list[str], env: Mapping[str, str], *, cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        try:
            child = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()  # the child holds its own descriptor
        self.children[name] = child
        return child

    def run(
        self, name: str, cmd: list[str], env: Mapping[str, str], *, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion; its output is kept with the other logs."""
        result = subprocess.run(
            cmd,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        with (self.log_dir / f"{name}.log").open("a") as log:
            log.write(
                f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}[exit {result.returncode}]\n"
            )
        if result.returncode != 0:
            pytest.fail(f"{name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def assert_alive(self) -> None:
        dead = {n: c.returncode for n, c in self.children.items() if c.poll() is not None}
        if dead:
            pytest.fail(f"process(es) exited early: {dead}\n{self.logs()}", pytrace=False)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every child, wait up to ``timeout``, then SIGKILL what is left."""
        for child in self.children.values():
            if child.poll() is None:
                _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
        for child in self.children.values():
            # Also reaps grandchildren the leader left behind (pool processes).
            _signal_group(child.pid, signal.SIGKILL)
            if child.poll() is None:
                child.wait(timeout=5)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def logs(self, max_chars: int = 20_000) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace")
            if len(text) > max_chars:
                text = "[…]\n" + text[-max_chars:]
            parts.append(f"===== {path.name} =====\n{text}")
        return "\n".join(parts) or "(no logs)"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {p for p in found if is_running(p)}


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return "(gone)"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def gunicorn_command(port: int) -> list[str]:
    cmd = [
        PYTHON, "-m", "gunicorn", "config.wsgi:application",
        f"--bind=127.0.0.1:{port}", "--workers=2", "--timeout=30", "--graceful-timeout=5",
        "--access-logfile=-", "--error-logfile=-",
    ]  # fmt: skip
    if hasattr(gunicorn.config, "ControlSocketDisable"):
        # gunicorn >= 25.1 otherwise opens a control socket under $HOME, one path shared
        # by every instance on the machine.
        cmd.append("--no-control-socket")
    return cmd


@dataclass
class Stack:
    """What the ``system_stack`` fixture started and where to look."""

    base_url: str
    broker_url: str
    mail_dir: Path
    var_dir: Path
    processes: Processes

    def mail(self) -> list[Message]:
        return read_mail(self.mail_dir)


# --- HTTP -------------------------------------------------------------------------------------

_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    assert match, "no csrfmiddlewaretoken in the page"
    return match.group(1)


def healthz(base_url: str, timeout: float = 10.0) -> requests.Response | None:
    """The /healthz response, or None while nothing listens yet."""
    try:
        return requests.get(f"{base_url}/healthz", timeout=timeout)
    except requests.ConnectionError:
        return None


def wait_healthy(base_url: str, processes: Processes, *, timeout: float) -> dict[str, str]:
    def probe() -> dict[str, str] | None:
        processes.assert_alive()
        response = healthz(base_url)
        return response.json() if response is not None and response.status_code == 200 else None

    try:
        return wait_until(probe, timeout=timeout, what=f"{base_url}/healthz to answer 200")
    except TimeoutError as exc:
        pytest.fail(f"{exc}\n{processes.logs()}", pytrace=False)


def log_in(base_url: str, email_address: str, password: str) -> requests.Session:
    """A session signed in through the login form, CSRF cookie and token included."""
    session = requests.Session()
    page = session.get(f"{base_url}/connexion/", timeout=10)
    assert page.status_code == 200, page.status_code
    response = session.post(
        f"{base_url}/connexion/",
        data={
            "csrfmiddlewaretoken": csrf_token(page.text),
            "username": email_address,
            "password": password,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.status_code
    assert "/connexion/" not in response.url, f"login refused for {email_address}"
    assert "sessionid" in session.cookies
    return session


def post_form(
    session: requests.Session, url: str, data: Mapping[str, str | Iterable[str]]
) -> requests.Response:
    """GET the form for its CSRF token, then POST ``data`` to it (redirects followed)."""
    page = session.get(url, timeout=10)
    assert page.status_code == 200, (url, page.status_code)
    fields: dict[str, str | list[str]] = {"csrfmiddlewaretoken": csrf_token(page.text)}
    for key, value in data.items():
        fields[key] = value if isinstance(value, str) else list(value)
    return session.post(url, data=fields, timeout=15)


# --- e-mail -----------------------------------------------------------------------------------

# Django's file backend ends every message it writes with this line.
_MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def read_mail(mail_dir: Path) -> list[Message]:
    """Every complete message Django's file backend wrote in ``mail_dir``."""
    messages: list[Message] = []
    if not mail_dir.is_dir():
        return messages
    for path in sorted(mail_dir.iterdir()):
        chunks = path.read_bytes().split(_MAIL_SEPARATOR)
        # The last chunk is what follows the last separator: empty, or a message still
        # being written.
        messages.extend(email.message_from_bytes(chunk) for chunk in chunks[:-1] if chunk)
    return messages


def body_of(message: Message) -> str:
    part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), message)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")
