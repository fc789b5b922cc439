"""Shared fixtures. ``world`` builds two collectivités, A and B, with one member of every
role in A and an outsider admin of B, so every test can check the outsider's 404."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from collectivites.models import Collectivite
from collectivites.permissions import Role
from tests import factories


@pytest.fixture(autouse=True)
def _celery_eager(settings: Any) -> Any:
    """In-process tests run tasks eagerly; tests/system runs real workers instead."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True, scope="session")
def _flush_may_empty_the_audit_trail() -> Any:
    """Transactional tests end by emptying every table; the audit trail's triggers refuse
    that (audit/db.py) unless the purge window is open: open it around the flush only."""
    from django.db.backends.base.operations import BaseDatabaseOperations

    from audit.db import purge_window

    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: Any) -> None:
        with purge_window(self.connection.alias):
            original(self, sql_list)

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    BaseDatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    a: Collectivite
    b: Collectivite
    members: dict[str, Any] = field(default_factory=dict)  # role -> user of A
    outsider: Any = None  # admin of B only

    def client(self, user: Any) -> Client:
        c = Client()
        c.force_login(user)
        return c


@pytest.fixture
def world(db: Any) -> World:
    a = factories.CollectiviteFactory(name="Ville A", slug="ville-a")
    b = factories.CollectiviteFactory(name="Ville B", slug="ville-b")
    w = World(a=a, b=b)
    for role in Role.values:
        user = factories.UserFactory(email=f"{role}@a.example")
        factories.MembershipFactory(collectivite=a, user=user, role=role)
        w.members[role] = user
    w.outsider = factories.UserFactory(email="admin@b.example")
    factories.MembershipFactory(collectivite=b, user=w.outsider, role=Role.ADMIN)
    return w


@pytest.fixture
def account(world: World) -> Any:
    """A sandbox account of collectivité A, connected as the sandbox's form connects one."""
    from networks.adapters.sandbox import SandboxConnector

    (candidate,) = SandboxConnector().connect_with_form({"handle": "@villea"})
    return factories.SocialAccountFactory(
        collectivite=world.a,
        network="sandbox",
        handle=candidate.handle,
        external_id=candidate.external_id,
        credentials=candidate.credentials,
    )


@pytest.fixture
def invite(django_capture_on_commit_callbacks: Any) -> Any:
    """Invite as the given admin and return (invitation, token read from the e-mail sent)."""
    import re

    from django.core import mail

    from collectivites import services

    def _invite(actor: Any, collectivite: Collectivite, email: str, roles: list[str]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            invitation = services.invitation_create(
                actor=actor, collectivite=collectivite, email=email, roles=roles
            )
        token = re.search(r"/invitation/([^/\s]+)/", mail.outbox[-1].body).group(1)
        invitation.refresh_from_db()
        return invitation, token

    return _invite
