"""Rate limits per API key and per personal token (not per address: many tools share one),
counted in the cache (Redis in production). Rates: ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``
``api_key`` and ``personal_token``; read at each request so tests and operators can change
them."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from access.models import ApiKey, PersonalToken


class CredentialRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def __init__(self) -> None:  # the rate is chosen per request, in allow_request
        pass

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        credential = getattr(request, "auth", None)
        if isinstance(credential, ApiKey):
            self.scope = "api_key"
        elif isinstance(credential, PersonalToken):
            self.scope = "personal_token"
        else:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        # the visible prefix is random per credential: no clash between databases sharing
        # one Redis (tests, staging)
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
