"""Idle expiry: a session unused for ``PARVIS_SESSION_IDLE_SECONDS`` is closed, whatever
its absolute age (``SESSION_COOKIE_AGE``). The last-seen time is written at most once a
minute, so most requests do not save the session."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

LAST_SEEN_KEY = "access_last_seen"
WRITE_EVERY = 60


class IdleSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        idle = settings.PARVIS_SESSION_IDLE_SECONDS
        user = getattr(request, "user", None)
        if idle and user is not None and user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_SEEN_KEY)
            if isinstance(last, int) and now - last > idle:
                logout(request)
                messages.info(request, _("Votre session a expiré après une période d'inactivité."))
            elif not isinstance(last, int) or now - last >= WRITE_EVERY:
                request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)
