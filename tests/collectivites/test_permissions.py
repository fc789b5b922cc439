"""The role table as a matrix: each role × each capability, written out by hand so that
a change to the table is a change to this test too."""

import pytest

from collectivites.permissions import (
    ROLE_CAPABILITIES,
    Capability,
    Role,
    capabilities_for,
    has_capability,
    roles_with,
)

A, R, V, M, L = "admin", "redacteur", "validateur", "moderateur", "lecteur"

EXPECTED: dict[str, set[str]] = {
    "collectivite.view": {A, R, V, M, L},
    "members.view": {A, V},
    "members.manage": {A},
    "accounts.view": {A, R, V, M, L},
    "accounts.manage": {A},
    "editorial.view": {A, R, V, M, L},
    "editorial.manage": {A},
    "charter.view": {A, R, V, M, L},
    "charter.manage": {A},
    "elections.view": {A, R, V, M, L},
    "elections.manage": {A},
    "publishing.view": {A, R, V, M},
    "publishing.draft": {R, V},
    "publishing.approve": {V},
    "publishing.urgent": {V},
    "inbox.view": {A, V, M},
    "inbox.reply": {M},
    "inbox.moderate": {M},
    "inbox.approve": {V},
    "watch.manage": {A, M},
    "personal_data.manage": {A, M},
    "reporting.view": {A, R, V, M, L},
    "reporting.export": {A, R, V},
    "reporting.import": {A},
    "audit.view": {A},
}


def test_every_capability_is_in_the_matrix() -> None:
    assert set(EXPECTED) == set(Capability.values)


def test_every_role_is_in_the_table() -> None:
    assert set(ROLE_CAPABILITIES) == set(Role.values)


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("capability", Capability.values)
def test_matrix(role: str, capability: str) -> None:
    assert has_capability([role], capability) is (role in EXPECTED[capability])


def test_several_roles_add_up() -> None:
    caps = capabilities_for([R, M])
    assert "publishing.draft" in caps and "inbox.reply" in caps
    assert "publishing.approve" not in caps


def test_no_role_no_capability() -> None:
    assert capabilities_for([]) == frozenset()
    assert not has_capability([], "collectivite.view")


def test_unknown_capability_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        has_capability([A], "publishing.everything")


def test_roles_with() -> None:
    assert roles_with("publishing.approve") == [V]
