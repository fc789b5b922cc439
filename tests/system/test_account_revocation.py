"""A network revokes a token: beat's periodic check, run by a real worker, turns the
account "to reconnect" and e-mails the collectivité's admins."""

from __future__ import annotations

from typing import Any

import pytest

from collectivites.models import Notification, SocialAccount
from collectivites.permissions import Role
from networks.adapters.sandbox import SandboxConnector, revoke
from tests import factories
from tests.system.helpers import Stack, body_of, requires_postgres_and_redis, wait_until

pytestmark = [pytest.mark.system, requires_postgres_and_redis]


def test_beat_notices_a_revoked_token_and_tells_the_admins(
    transactional_db: Any, system_stack: Stack
) -> None:
    collectivite = factories.CollectiviteFactory(name="Ville Révoquée", slug="ville-revoquee")
    admin = factories.UserFactory(email="admin@ville-revoquee.example")
    factories.MembershipFactory(collectivite=collectivite, user=admin, role=Role.ADMIN)
    (candidate,) = SandboxConnector().connect_with_form({"handle": "@ville-revoquee"})
    account = factories.SocialAccountFactory(
        collectivite=collectivite,
        network="sandbox",
        handle=candidate.handle,
        external_id=candidate.external_id,
        credentials=candidate.credentials,
    )
    revoke(account.external_id)

    accounts = SocialAccount.objects.for_collectivite(collectivite)
    wait_until(
        lambda: accounts.get(pk=account.pk).status == SocialAccount.Status.TO_RECONNECT,
        timeout=25.0,
        what="the account to turn 'to reconnect'",
    )
    assert Notification.objects.for_collectivite(collectivite).filter(user=admin).count() == 1

    def mail_to_admin() -> str | None:
        for message in system_stack.mail():
            if message["To"] == admin.email:
                return body_of(message)
        return None

    body = wait_until(mail_to_admin, timeout=20.0, what="the e-mail to the admin")
    assert "doit être reconnecté" in body
    assert candidate.credentials["token"] not in body
