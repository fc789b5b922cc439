"""Production-shaped processes (gunicorn, Celery worker and beat on PostgreSQL and Redis):
an invitation goes out by e-mail through the worker, and beat's maintenance really runs."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import requests
from django.utils import timezone

from collectivites.models import Invitation
from collectivites.permissions import Role
from tests import factories
from tests.system.helpers import (
    Stack,
    body_of,
    log_in,
    post_form,
    requires_postgres_and_redis,
    wait_until,
)

pytestmark = [pytest.mark.system, requires_postgres_and_redis]

MAIL_TIMEOUT = 20.0
# Beat ticks every MAINTENANCE_INTERVAL (2 s); allow for a slow first tick and the worker.
PURGE_TIMEOUT = 20.0
PURGED_ONE = re.compile(r"purge_expired_invitations\[[\w-]+\] succeeded in [\d.]+s: 1$", re.M)


def test_an_invitation_is_mailed_by_the_worker_and_its_link_opens_the_signup(
    transactional_db: Any, system_stack: Stack
) -> None:
    collectivite = factories.CollectiviteFactory(name="Ville de Test", slug="ville-de-test")
    admin = factories.UserFactory(email="admin@ville-de-test.example")
    factories.MembershipFactory(collectivite=collectivite, user=admin, role=Role.ADMIN)
    invited = "nouvelle.recrue@ville-de-test.example"

    session = log_in(system_stack.base_url, admin.email, factories.PASSWORD)
    response = post_form(
        session,
        f"{system_stack.base_url}/c/{collectivite.slug}/membres/inviter/",
        {"email": invited, "roles": [Role.REDACTEUR, Role.LECTEUR]},
    )
    assert response.status_code == 200
    assert response.url == f"{system_stack.base_url}/c/{collectivite.slug}/membres/"
    invitation = Invitation.objects.for_collectivite(collectivite).get(email=invited)
    assert sorted(invitation.roles) == [Role.LECTEUR, Role.REDACTEUR]

    def mail_to_invited() -> str | None:
        for message in system_stack.mail():
            if message["To"] == invited:
                return body_of(message)
        return None

    body = wait_until(mail_to_invited, timeout=MAIL_TIMEOUT, what=f"an e-mail to {invited}")
    link = re.search(r"(https?://\S+/invitation/[\w-]+/)", body)
    assert link, body
    assert link.group(1).startswith(f"{system_stack.base_url}/invitation/")
    assert "Ville de Test" in body

    signup = requests.get(link.group(1), timeout=10)  # a newcomer: not signed in
    assert signup.status_code == 200
    assert invited in signup.text
    assert 'name="password1"' in signup.text


def test_beat_purges_expired_invitations(transactional_db: Any, system_stack: Stack) -> None:
    past = timezone.now() - dt.timedelta(days=1)
    expired = factories.InvitationFactory(expires_at=past)
    accepted = factories.InvitationFactory(expires_at=past, accepted_at=past - dt.timedelta(days=1))
    pending = factories.InvitationFactory()
    invitations = Invitation.objects.dangerously_unscoped()

    wait_until(
        lambda: not invitations.filter(pk=expired.pk).exists(),
        timeout=PURGE_TIMEOUT,
        what="beat and the worker to purge the expired invitation",
    )
    assert invitations.filter(pk__in=[accepted.pk, pending.pk]).count() == 2
    # And it was the beat-scheduled task, run by the worker, that did it.
    wait_until(
        lambda: PURGED_ONE.search(system_stack.processes.log("worker")) is not None,
        timeout=5,
        what="the worker to log the purge",
    )
