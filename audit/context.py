"""Where the current request came from, for the audit trail, without passing the
request through every service.

``RequestMetaMiddleware`` (in ``MIDDLEWARE``) stores the client's IP address and user
agent in a context variable for the duration of each request; ``current()`` reads them
(``RequestMeta(None, "")`` outside a request: Celery tasks, commands). Services never call
it themselves: ``audit.services.record`` does. To attribute work done elsewhere to a
request (a test, a command acting for someone), wrap it in ``using(RequestMeta(...))``.

The IP is ``REMOTE_ADDR``; behind the TLS proxy (``BEHIND_TLS_PROXY``, which sets
``SECURE_PROXY_SSL_HEADER``) it is the last address of ``X-Forwarded-For``, the one our own
proxy appended (earlier entries are whatever the client claimed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse

USER_AGENT_MAX = 300


@dataclass(frozen=True)
class RequestMeta:
    ip: str | None = None
    user_agent: str = ""


_NONE = RequestMeta()
_current: ContextVar[RequestMeta] = ContextVar("parvis_audit_request_meta", default=_NONE)


def current() -> RequestMeta:
    """The current request's IP and user agent (empty outside a request)."""
    return _current.get()


@contextmanager
def using(meta: RequestMeta) -> Iterator[None]:
    token = _current.set(meta)
    try:
        yield
    finally:
        _current.reset(token)


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def meta_of(request: HttpRequest) -> RequestMeta:
    ip = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            ip = forwarded.split(",")[-1]
    agent = request.META.get("HTTP_USER_AGENT", "")
    return RequestMeta(ip=_valid_ip(ip), user_agent=agent[:USER_AGENT_MAX])


class RequestMetaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with using(meta_of(request)):
            return self.get_response(request)
