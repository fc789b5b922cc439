"""Resolves ``/c/<slug>/…`` to the collectivité and the member's roles.

Anonymous visitors go to the login page; a signed-in person who is not a member gets
404 (the collectivité's existence is not disclosed). Views then check one capability
with ``collectivites.viewmixins`` (``TenantViewMixin``, ``requires``). The API resolves
the same way in its own base view (``collectivites.api``) so that it can answer in JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from collectivites.selectors import member_context

SLUG_KWARG = "collectivite_slug"


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.member = None  # type: ignore[attr-defined]
        request.collectivite = None  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        slug = view_kwargs.get(SLUG_KWARG)
        if slug is None or getattr(view_func, "cls", None) is not None and _is_api(view_func):
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        from access.gate import request_verified

        member = member_context(user=request.user, slug=slug, verified=request_verified(request))
        if member is None:
            raise Http404
        if member.two_factor:
            from access.views import two_factor_redirect

            return two_factor_redirect(request, member.two_factor)
        request.member = member  # type: ignore[attr-defined]
        request.collectivite = member.collectivite  # type: ignore[attr-defined]
        if request.session.get("last_collectivite") != member.collectivite.slug:
            # assigning marks the session modified, which saves it (an UPDATE and a
            # commit) at the end of the request: only when it changes
            request.session["last_collectivite"] = member.collectivite.slug
        return None


def _is_api(view_func: Callable[..., Any]) -> bool:
    from rest_framework.views import APIView

    return issubclass(view_func.cls, APIView)
