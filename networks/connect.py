"""Connecting accounts: each network's connector turns an admin's consent into
``ConnectableAccount`` objects (credentials included) that the caller stores encrypted.

Two shapes: OAuth (``start`` returns the network's authorisation URL plus data to keep
in the admin's session -- PKCE verifier, Mastodon client -- and ``finish`` exchanges the
code), and a form (Bluesky app passwords, the sandbox) through ``connect_with_form``.
``state`` is generated, checked and consumed by the caller, never by the connector.
App credentials come from settings (environment); a network without them reports what
is missing instead of failing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from abc import ABC
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings


@dataclass(frozen=True)
class ConnectableAccount:
    external_id: str
    handle: str
    display_name: str
    credentials: dict[str, Any] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    token_expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    flow_data: dict[str, Any] = field(repr=False)  # kept server-side in the session


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    secret: bool = False
    help_text: str = ""


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) for S256."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


class Connector(ABC):
    network: ClassVar[str]
    # settings.PARVIS_NETWORK_APPS[network] keys this connector needs (e.g. client_id)
    required_app_settings: ClassVar[tuple[str, ...]] = ()
    # environment variables that provide them, for the "not configured" message
    env_names: ClassVar[tuple[str, ...]] = ()
    uses_oauth: ClassVar[bool] = True
    # fields asked before redirecting (Mastodon: the instance) or instead of OAuth (Bluesky)
    form_fields: ClassVar[tuple[FormField, ...]] = ()

    def app_settings(self) -> dict[str, str]:
        return dict(getattr(settings, "PARVIS_NETWORK_APPS", {}).get(self.network, {}))

    def missing_settings(self) -> list[str]:
        app = self.app_settings()
        missing = [k for k in self.required_app_settings if not app.get(k)]
        return list(self.env_names) if missing else []

    def is_configured(self) -> bool:
        return not self.missing_settings()

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> AuthorizationStart:
        raise NotImplementedError

    def finish(
        self, *, redirect_uri: str, query: dict[str, str], flow_data: dict[str, Any]
    ) -> list[ConnectableAccount]:
        raise NotImplementedError

    def connect_with_form(self, form: dict[str, str]) -> list[ConnectableAccount]:
        raise NotImplementedError
