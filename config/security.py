"""HTTP hardening that Django 5.2 does not do by itself: a strict Content-Security-Policy,
a Permissions-Policy, and an endpoint where browsers report CSP violations.

Django's ``SecurityMiddleware`` already sends HSTS, ``X-Content-Type-Options``,
``Referrer-Policy`` and ``Cross-Origin-Opener-Policy``, and ``XFrameOptionsMiddleware``
``X-Frame-Options``; their settings are in ``config/settings.py`` (docs/security.md).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger("parvis.csp")

CSP_HEADER = "Content-Security-Policy"
PERMISSIONS_HEADER = "Permissions-Policy"
# Longest CSP report read; a larger body is answered 413 without being parsed.
MAX_REPORT_BYTES = 16 * 1024
ViewFunc = Callable[..., HttpResponse]


def build_csp(directives: Mapping[str, Sequence[str]]) -> str:
    """``{"script-src": ["'self'"]}`` -> ``"script-src 'self'"``; a directive without
    sources (``upgrade-insecure-requests``) is written alone."""
    parts = []
    for name, sources in directives.items():
        parts.append(" ".join([name, *sources]) if sources else name)
    return "; ".join(parts)


def build_permissions_policy(features: Mapping[str, Sequence[str]]) -> str:
    """``{"camera": []}`` -> ``"camera=()"``: every listed feature off (or limited)."""
    return ", ".join(f"{name}=({' '.join(allow)})" for name, allow in features.items())


def site_csp(**changes: Sequence[str]) -> str:
    """The policy from ``PARVIS_CSP`` (with the report endpoint), some directives replaced."""
    directives = {name: list(sources) for name, sources in settings.PARVIS_CSP.items()}
    directives.update({name.replace("_", "-"): list(v) for name, v in changes.items()})
    if settings.PARVIS_CSP_REPORT_URI:
        directives["report-uri"] = [settings.PARVIS_CSP_REPORT_URI]
    return build_csp(directives)


class SecurityHeadersMiddleware:
    """Adds the CSP and the Permissions-Policy to every response (pages, API, static files
    served by whitenoise, errors). A view that sets its own CSP keeps it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.csp = site_csp()
        self.permissions = build_permissions_policy(settings.PARVIS_PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if CSP_HEADER not in response:
            response[CSP_HEADER] = self.csp
        if PERMISSIONS_HEADER not in response:
            response[PERMISSIONS_HEADER] = self.permissions
        return response


def csp_relaxed(**changes: Sequence[str]) -> Callable[[ViewFunc], ViewFunc]:
    """A view whose pages need one directive wider than the site-wide policy, written with
    underscores: ``@csp_relaxed(form_action=["'self'", "https:"])``. The reason belongs
    next to each use; the rest of the policy stays as it is."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            response[CSP_HEADER] = site_csp(**changes)
            return response

        return wrapped

    return decorator


def _origin_only(value: object) -> str:
    """What a report may say about a URL: its scheme and host, or the keyword the browser
    used (``inline``, ``eval``, ``data``). Paths and query strings can carry personal data
    (a citizen's name in a search, a token in a link) and are dropped."""
    text = str(value or "")[:200]
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return text.split(":", 1)[0] if ":" in text else text


def _path_only(value: object) -> str:
    return urlsplit(str(value or "")[:500]).path[:200]


# The browser posts here without a CSRF token (it cannot have one); the view only logs,
# stores nothing and changes nothing, so there is nothing to forge.
@csrf_exempt
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """Log a browser's CSP violation report at WARNING, without personal data: the page's
    path, the directive, where the blocked resource came from (origin only), the source
    file and line. Accepts both ``report-uri`` (``{"csp-report": {...}}``) and Reporting
    API (``[{"type": "csp-violation", "body": {...}}]``) bodies."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_REPORT_BYTES:
        return HttpResponse(status=413)
    try:
        payload = json.loads(request.read(MAX_REPORT_BYTES) or b"null")
    except ValueError:
        return HttpResponse(status=400)
    if isinstance(payload, dict) and isinstance(payload.get("csp-report"), dict):
        reports = [payload["csp-report"]]
    elif isinstance(payload, list):
        reports = [r.get("body") for r in payload[:20] if isinstance(r, dict)]
        reports = [r for r in reports if isinstance(r, dict)]
    else:
        return HttpResponse(status=400)
    for report in reports:
        get = report.get
        logger.warning(
            "CSP violation: page=%s directive=%s blocked=%s source=%s line=%s",
            _path_only(get("document-uri") or get("documentURL")),
            str(get("effective-directive") or get("effectiveDirective") or "")[:60],
            _origin_only(get("blocked-uri") or get("blockedURL")),
            _path_only(get("source-file") or get("sourceFile")),
            str(get("line-number") or get("lineNumber") or "")[:10],
        )
    return HttpResponse(status=204)
