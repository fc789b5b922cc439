"""django-axes' view of a login attempt: the address is compared lower-cased, as the login
form does, so changing the case of letters does not buy more attempts."""

from __future__ import annotations

from typing import Any


def username_of(request: Any, credentials: dict[str, Any] | None) -> str:
    value = (credentials or {}).get("username") or request.POST.get("username") or ""
    return str(value).strip().lower()


def client_ip(request: Any) -> str | None:
    """The address the audit trail records (our proxy's X-Forwarded-For entry when behind
    the TLS proxy), so a lockout and its audit event name the same client."""
    try:
        from audit.context import meta_of
    except ImportError:
        return request.META.get("REMOTE_ADDR")
    return meta_of(request).ip
