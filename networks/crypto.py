"""Credentials at rest: Fernet with rotation (MultiFernet).

Keys come from ``settings.PARVIS_ENCRYPTION_KEYS``; the first encrypts, every key
decrypts, so a new key is put first and ``rotate_credentials`` re-encrypts.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialDecryptionError(Exception):
    """Stored credentials cannot be read with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("PARVIS_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "PARVIS_ENCRYPTION_KEYS must be comma-separated Fernet keys."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.PARVIS_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialDecryptionError("No configured key decrypts these credentials.") from exc


def rotate(token: str) -> str:
    """Re-encrypt with the first (newest) key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialDecryptionError("No configured key decrypts these credentials.") from exc
