"""Secrets that development generates once into ``var/`` (never committed).

Production passes ``SECRET_KEY`` and ``PARVIS_ENCRYPTION_KEYS`` in the environment;
these helpers only run when they are absent.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The value in ``path``, created once. Processes starting together (web, worker, beat)
    all get the first value written: it is written to a temporary file, then linked into
    place atomically, so nobody ever reads a half-written file."""
    if path.exists():
        return path.read_text().strip()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(make() + "\n")
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic; fails if another process got there first
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


def read_or_create_secret_key(var_dir: Path) -> str:
    return _read_or_create(var_dir / "secret_key", lambda: secrets.token_urlsafe(50))


def read_or_create_encryption_keys(var_dir: Path) -> list[str]:
    raw = _read_or_create(var_dir / "encryption_keys", lambda: Fernet.generate_key().decode())
    return [k.strip() for k in raw.replace("\n", ",").split(",") if k.strip()]


def check_encryption_keys(keys: list[str]) -> None:
    """Fail at start, not at the first token stored, on a malformed key."""
    if not keys:
        raise ImproperlyConfigured("PARVIS_ENCRYPTION_KEYS is empty.")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"PARVIS_ENCRYPTION_KEYS: key #{position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from exc
