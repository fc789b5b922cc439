"""``Authorization: Bearer <token>`` for the API: a collectivité's API key or a personal
token. The token is looked up by its SHA-256; nothing else about it is stored."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from access import services
from access.models import ApiKey

INVALID = _("Jeton d'API invalide, expiré ou révoqué.")


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                _("En-tête Authorization attendu : « Bearer <jeton> », sans espace dans le jeton.")
            )
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(INVALID) from exc
        credential = services.credential_for_token(token)
        if credential is None or not credential.is_usable() or not credential.user.is_active:
            raise AuthenticationFailed(INVALID)
        services.credential_touch(credential)
        user = credential.user
        # access.gate reads this instead of querying again
        user.__dict__["_access_api_key"] = credential if isinstance(credential, ApiKey) else None
        return user, credential

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "access.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "Clé d'API d'une collectivité (pvk_…) ou jeton personnel (pvp_…), "
                "créés dans Parvis et montrés une seule fois."
            ),
        }
