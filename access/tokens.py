"""Random secrets and how they are kept: SHA-256 only, with a short visible prefix."""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "pvk_"
PERSONAL_TOKEN_PREFIX = "pvp_"  # noqa: S105 - a label, not a secret
VISIBLE = 12  # characters of a token shown in lists to recognise it
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_GROUPS = 4
RECOVERY_GROUP_LENGTH = 4


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_token(kind_prefix: str) -> tuple[str, str, str]:
    """(token shown once, visible prefix, hash stored)."""
    token = kind_prefix + secrets.token_urlsafe(32)  # 256 bits
    return token, token[:VISIBLE], hash_secret(token)


def new_recovery_code() -> str:
    """16 characters from a 31-letter alphabet (~79 bits), in groups: abcd-efgh-jkmn-pqrs."""
    groups = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
        for _ in range(RECOVERY_GROUPS)
    ]
    return "-".join(groups)


def normalize_recovery_code(value: str) -> str:
    raw = "".join(ch for ch in (value or "").lower() if ch.isalnum())
    if len(raw) != RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH:
        return ""
    size = RECOVERY_GROUP_LENGTH
    return "-".join(raw[i : i + size] for i in range(0, len(raw), size))
