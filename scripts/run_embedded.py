"""Run web, Celery worker and beat together for the embedded default.

One command, one Ctrl-C: every child process is stopped when this one is, and if
one child dies the others are stopped too (nothing left half-running).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    port = os.environ.get("PORT", "8000")
    env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1"), "PYTHONUNBUFFERED": "1"}
    python = sys.executable
    commands = {
        "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
    }
    children: dict[str, subprocess.Popen[bytes]] = {}

    def stop(*_args: object) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()

    # Installed before the first child starts: a SIGTERM or a failure while starting
    # leaves nothing running behind.
    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        for name, cmd in commands.items():
            children[name] = subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: S603
    except BaseException:
        stop()
        raise
    print(f"\nParvis écoute sur http://127.0.0.1:{port}/  (Ctrl-C pour tout arrêter)\n", flush=True)

    try:
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"« {name} » s'est arrêté (code {child.returncode}) : arrêt.", flush=True)
                    stop()
                    return child.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
        return 0


if __name__ == "__main__":
    sys.exit(main())
