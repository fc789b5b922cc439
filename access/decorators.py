"""``requires_recent_auth``: sensitive actions ask for the password again (and a 2FA code
when the person has enrolled) if the last proof is older than ``max_age`` seconds
(``PARVIS_REAUTH_SECONDS`` by default). Put it inside ``@requires(...)`` so that a role
without the capability still gets its 403 first."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from access.gate import REAUTH_MESSAGE, recently_authenticated


def reauth_redirect(request: HttpRequest) -> HttpResponse:
    """To the confirmation page, coming back here (GET) or, after a refused POST, to the page
    the form was on (a POST cannot be replayed)."""
    target = request.get_full_path()
    if request.method != "GET":
        referer = request.headers.get("Referer", "")
        parts = urlsplit(referer)
        candidate = parts.path + (f"?{parts.query}" if parts.query else "")
        if referer and url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = candidate
        else:
            target = "/"
        messages.warning(request, str(REAUTH_MESSAGE))
    return HttpResponseRedirect(f"{reverse('reauth')}?{urlencode({'next': target})}")


def requires_recent_auth(
    max_age: int | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not recently_authenticated(request, max_age):
                return reauth_redirect(request)
            return view(request, *args, **kwargs)

        wrapped.requires_recent_auth = True  # type: ignore[attr-defined]
        return wrapped

    return decorator


class RecentAuthMixin:
    """For class-based views (put it first): ``get`` and ``post`` check, so the tenant and
    capability checks of ``dispatch`` still come first."""

    reauth_max_age: int | None = None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not recently_authenticated(request, self.reauth_max_age):
            return reauth_redirect(request)
        return super().get(request, *args, **kwargs)  # type: ignore[misc]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not recently_authenticated(request, self.reauth_max_age):
            return reauth_redirect(request)
        return super().post(request, *args, **kwargs)  # type: ignore[misc]
