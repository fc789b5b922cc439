"""Outbound HTTP: one place for timeouts, the user agent and reading the networks'
throttling headers. Adapters built on an SDK pass these timeouts to it; our own clients
(LinkedIn) use ``client()``. Tests fake the transport (``responses``, ``respx``)."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Mapping

import httpx

from networks.base import AuthExpired, NetworkError, RateLimited, Rejected, Transient

TIMEOUT_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 5.0
USER_AGENT = "Parvis/1.0 (+https://parvis.fr)"


def client(base_url: str = "", headers: Mapping[str, str] | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        follow_redirects=False,
    )


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or the reset headers
    X, Mastodon and others send (``x-rate-limit-reset`` epoch, ``x-ratelimit-reset``
    ISO date, ``ratelimit-reset``)."""
    now = time.time() if now is None else now
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after")
    if value:
        if value.strip().isdigit():
            return float(value)
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed is not None:
            return max(0.0, parsed.timestamp() - now)
    for name in ("x-rate-limit-reset", "ratelimit-reset", "x-ratelimit-reset"):
        value = lower.get(name)
        if not value:
            continue
        value = value.strip()
        if value.isdigit():
            number = float(value)
            # an epoch (X) or a delay in seconds (IETF draft's RateLimit-Reset)
            return max(0.0, number - now) if number > 1_000_000_000 else number
        try:
            reset = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        return max(0.0, reset.timestamp() - now)
    return None


def error_for_status(
    status: int, headers: Mapping[str, str], *, network: str, detail: str = ""
) -> NetworkError:
    """The generic mapping adapters fall back on when the body says nothing more precise."""
    message = f"{network}: HTTP {status} {detail}".strip()
    if status == 429:
        return RateLimited(
            message, retry_after=retry_after_seconds(headers), network=network, code="429"
        )
    if status == 401:
        return AuthExpired(message, network=network, code="401")
    if status in (400, 403, 404, 409, 413, 415, 422):
        return Rejected(
            "Le réseau a refusé cette demande.", message, network=network, code=str(status)
        )
    return Transient(message, network=network, code=str(status))
