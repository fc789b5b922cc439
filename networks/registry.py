"""The networks Parvis speaks to, and where each adapter and connector lives.

Adapters are imported lazily (as healthchecks does for its transports): a network's
SDK is loaded only when that network is used.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from networks.base import Adapter
    from networks.connect import Connector


class Network(models.TextChoices):
    SANDBOX = "sandbox", _("Bac à sable")
    FACEBOOK = "facebook", _("Facebook")
    INSTAGRAM = "instagram", _("Instagram")
    X = "x", _("X")
    LINKEDIN = "linkedin", _("LinkedIn")
    MASTODON = "mastodon", _("Mastodon")
    BLUESKY = "bluesky", _("Bluesky")


_ADAPTERS = {
    Network.SANDBOX: "networks.adapters.sandbox.SandboxAdapter",
    Network.FACEBOOK: "networks.adapters.facebook.FacebookAdapter",
    Network.INSTAGRAM: "networks.adapters.instagram.InstagramAdapter",
    Network.X: "networks.adapters.x.XAdapter",
    Network.LINKEDIN: "networks.adapters.linkedin.LinkedInAdapter",
    Network.MASTODON: "networks.adapters.mastodon.MastodonAdapter",
    Network.BLUESKY: "networks.adapters.bluesky.BlueskyAdapter",
}

_CONNECTORS = {
    Network.SANDBOX: "networks.adapters.sandbox.SandboxConnector",
    Network.FACEBOOK: "networks.adapters.facebook.FacebookConnector",
    Network.INSTAGRAM: "networks.adapters.instagram.InstagramConnector",
    Network.X: "networks.adapters.x.XConnector",
    Network.LINKEDIN: "networks.adapters.linkedin.LinkedInConnector",
    Network.MASTODON: "networks.adapters.mastodon.MastodonConnector",
    Network.BLUESKY: "networks.adapters.bluesky.BlueskyConnector",
}


def _load(path: str) -> type:
    module, _sep, name = path.rpartition(".")
    return getattr(import_module(module), name)


@cache
def get_adapter(network: str) -> Adapter:
    return _load(_ADAPTERS[Network(network)])()


@cache
def get_connector(network: str) -> Connector:
    return _load(_CONNECTORS[Network(network)])()
