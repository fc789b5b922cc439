"""Secrets that development generates once into ``var/`` (never committed).

Production passes ``SECRET_KEY`` and ``PARVIS_ENCRYPTION_KEYS`` in the environment;
these helpers only run when they are absent.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    # O_EXCL: two processes starting together keep the first value written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


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
