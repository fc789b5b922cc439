"""Lockout after repeated failures (django-axes), the password policy, idle expiry, and
re-authentication before sensitive pages (roles, removal, connecting an account, urgent
alerts)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from access.middleware import LAST_SEEN_KEY
from collectivites.permissions import Role
from tests.access.helpers import age_authentication, text
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def lockout(settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def _try(client: Client, email: str, password: str) -> Any:
    return client.post("/connexion/", {"username": email, "password": password})


def test_repeated_failures_lock_the_account_from_that_address(world: Any, lockout: None) -> None:
    from axes.models import AccessAttempt

    email = world.members[Role.VALIDATEUR].email
    client = Client()
    for _ in range(2):
        assert _try(client, email, "mauvais-mot-de-passe").status_code == 200
    locked = _try(client, email.upper(), "mauvais-mot-de-passe")  # case changes nothing
    assert locked.status_code == 429
    assert "Connexion bloquée" in text(locked)
    # even the right password is refused while locked
    again = _try(client, email, PASSWORD)
    assert again.status_code == 429 and "_auth_user_id" not in client.session
    # the same account from another address, and another account, are not locked
    other_ip = Client(REMOTE_ADDR="192.0.2.10")
    assert _try(other_ip, email, PASSWORD).status_code == 302
    assert _try(Client(), world.members[Role.LECTEUR].email, PASSWORD).status_code == 302
    assert AccessAttempt.objects.filter(username=email).exists()


def test_a_lockout_is_audited(world: Any, lockout: None) -> None:
    pytest.importorskip("audit.services")
    from audit.models import AuditEvent

    email = world.members[Role.VALIDATEUR].email
    client = Client()
    for _ in range(3):
        _try(client, email, "mauvais-mot-de-passe")
    events = AuditEvent.objects.for_collectivite(world.a).filter(action="auth.locked_out")
    assert events.count() == 1


def test_the_password_policy_wants_twelve_characters_in_french(world: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_password("Kx7#mpq2Lz")  # 10 characters
    assert "12 caractères" in " ".join(exc.value.messages)
    validate_password("Kx7#mpq2Lz!v")


def test_an_idle_session_ends(world: Any, settings: Any) -> None:
    settings.PARVIS_SESSION_IDLE_SECONDS = 600
    client = world.client(world.members[Role.LECTEUR])
    assert client.get("/c/ville-a/").status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - 601
    session.save()
    response = client.get("/c/ville-a/")
    assert response.status_code == 302 and response["Location"].startswith("/connexion/")
    assert "_auth_user_id" not in client.session


def test_an_active_session_is_kept(world: Any, settings: Any) -> None:
    settings.PARVIS_SESSION_IDLE_SECONDS = 600
    client = world.client(world.members[Role.LECTEUR])
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - 300
    session.save()
    assert client.get("/c/ville-a/").status_code == 200


# --- re-authentication ------------------------------------------------------------------------


def test_changing_roles_asks_for_the_password_again_then_comes_back(world: Any) -> None:
    admin, target = world.members[Role.ADMIN], world.members[Role.LECTEUR]
    client = world.client(admin)
    url = f"/c/ville-a/membres/{target.pk}/roles/"
    assert client.get(url).status_code == 200  # just logged in: recent enough
    age_authentication(client, 3600)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/confirmer/?next=")
    wrong = client.post(response["Location"], {"password": "pas-le-bon", "next": url})
    assert wrong.status_code == 200 and "Mot de passe incorrect" in text(wrong)
    ok = client.post("/confirmer/", {"password": PASSWORD, "next": url})
    assert ok.status_code == 302 and ok["Location"] == url
    assert client.get(url).status_code == 200


def test_a_refused_post_goes_back_to_the_page_it_came_from(world: Any) -> None:
    admin, target = world.members[Role.ADMIN], world.members[Role.LECTEUR]
    client = world.client(admin)
    age_authentication(client, 3600)
    response = client.post(
        f"/c/ville-a/membres/{target.pk}/retirer/",
        HTTP_REFERER="http://testserver/c/ville-a/membres/",
    )
    assert response.status_code == 302
    assert response["Location"] == "/confirmer/?next=%2Fc%2Fville-a%2Fmembres%2F"
    from collectivites.selectors import member_of

    assert member_of(collectivite=world.a, user_id=target.pk) is not None
    # a foreign Referer is not followed
    foreign = client.post(
        f"/c/ville-a/membres/{target.pk}/retirer/", HTTP_REFERER="https://evil.example/x"
    )
    assert foreign["Location"] == "/confirmer/?next=%2F"


def test_the_confirmation_page_does_not_redirect_elsewhere(world: Any) -> None:
    client = world.client(world.members[Role.ADMIN])
    ok = client.post("/confirmer/", {"password": PASSWORD, "next": "https://evil.example/"})
    assert ok.status_code == 302 and ok["Location"] == "/"


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (Role.ADMIN, "/c/ville-a/comptes/connecter/sandbox/"),
        (Role.VALIDATEUR, "/c/ville-a/publications/alerte/"),
        (Role.ADMIN, "/c/ville-a/parametres/cles-api/"),
    ],
)
def test_sensitive_pages_need_a_recent_password(world: Any, role: str, path: str) -> None:
    client = world.client(world.members[role])
    assert client.get(path).status_code == 200
    age_authentication(client, 3600)
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/confirmer/")


def test_without_the_capability_it_is_still_403_not_a_password_prompt(world: Any) -> None:
    client = world.client(world.members[Role.LECTEUR])
    age_authentication(client, 3600)
    assert client.get("/c/ville-a/publications/alerte/").status_code == 403


def test_a_failed_login_is_audited_without_what_was_typed(world: Any) -> None:
    pytest.importorskip("audit.services")
    from audit.models import AuditEvent

    member = world.members[Role.VALIDATEUR]
    assert _try(Client(), member.email.upper(), "mauvais-mot-de-passe").status_code == 200
    assert _try(Client(), "personne@exemple.fr", "mauvais-mot-de-passe").status_code == 200

    # in the member's collectivité, about the member, for its admins to see
    (failed,) = AuditEvent.objects.for_collectivite(world.a).filter(action="auth.login_failed")
    assert failed.object_id == str(member.pk) and failed.actor_id is None
    assert failed.ip_address  # from the request
    # an address that is no account: one platform-wide event that does not keep it
    (unknown,) = AuditEvent.objects.dangerously_unscoped().filter(
        action="auth.login_failed", collectivite__isnull=True
    )
    assert "personne@exemple.fr" not in str(
        [getattr(unknown, f.attname) for f in AuditEvent._meta.concrete_fields]
    )
    assert "mauvais-mot-de-passe" not in str(
        [getattr(e, f.attname) for e in (failed, unknown) for f in AuditEvent._meta.concrete_fields]
    )
    # a right password records nothing more
    assert _try(Client(), member.email, PASSWORD).status_code == 302
    assert AuditEvent.objects.dangerously_unscoped().filter(action="auth.login_failed").count() == 2
