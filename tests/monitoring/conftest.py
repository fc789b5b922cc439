"""What the monitoring tests share: a sandbox account of collectivité A."""

from __future__ import annotations

from typing import Any

import pytest

from networks.adapters.sandbox import SandboxConnector
from tests import factories


@pytest.fixture
def account(world: Any) -> Any:
    (candidate,) = SandboxConnector().connect_with_form({"handle": "@villea"})
    return factories.SocialAccountFactory(
        collectivite=world.a,
        network="sandbox",
        handle=candidate.handle,
        external_id=candidate.external_id,
        credentials=candidate.credentials,
    )
