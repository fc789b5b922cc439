"""Each access action leaves exactly one audit event in the collectivité concerned."""

from __future__ import annotations

from typing import Any

import pytest

from access import services
from collectivites.permissions import Role
from tests.access.helpers import enrol

pytestmark = pytest.mark.django_db

AuditEvent = pytest.importorskip("audit.models").AuditEvent


def _actions(collectivite: Any) -> list[str]:
    return list(
        AuditEvent.objects.for_collectivite(collectivite)
        .order_by("created_at", "pk")
        .values_list("action", flat=True)
    )


def test_key_creation_and_revocation_are_audited_without_the_secret(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    issued = services.api_key_create(
        actor=admin, collectivite=world.a, name="Open data", scopes=["read"], expires_in_days=None
    )
    services.api_key_revoke(actor=admin, collectivite=world.a, key_id=issued.credential.pk)
    services.api_key_revoke(actor=admin, collectivite=world.a, key_id=issued.credential.pk)
    assert _actions(world.a) == ["api_key.created", "api_key.revoked"]
    dumped = str(list(AuditEvent.objects.for_collectivite(world.a).values()))
    assert issued.token not in dumped and issued.credential.token_hash not in dumped
    assert _actions(world.b) == []


def test_enrolment_reset_and_policy_are_audited(world: Any) -> None:
    admin, moderator = world.members[Role.ADMIN], world.members[Role.MODERATEUR]
    enrol(moderator)
    assert _actions(world.a) == ["auth.2fa_enrolled"]
    services.member_two_factor_reset(actor=admin, collectivite=world.a, user_id=moderator.pk)
    reset = AuditEvent.objects.for_collectivite(world.a).get(action="auth.2fa_disabled")
    assert reset.actor_id == admin.pk and reset.after == {"reset_by": "admin"}
    enrol(admin)
    services.policy_set(actor=admin, collectivite=world.a, two_factor="all")
    services.policy_set(actor=admin, collectivite=world.a, two_factor="all")  # no change
    assert _actions(world.a).count("collectivite.updated") == 1


def test_personal_tokens_are_audited_in_each_of_the_owners_collectivites(world: Any) -> None:
    user = world.members[Role.LECTEUR]
    issued = services.personal_token_create(user=user, name="cli", expires_in_days=3)
    services.personal_token_revoke(user=user, token_id=issued.credential.pk)
    assert _actions(world.a) == ["api_token.created", "api_token.revoked"]
