"""TOTP two-factor authentication: enrolment with a server-drawn QR code, the login's
second step, single-use recovery codes, turning it off (fresh password first), an admin's
reset, and the collectivité's policy enforced on pages, the API and the services."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from access import gate, services
from access.models import RecoveryCode, SecurityPolicy
from access.tokens import hash_secret
from collectivites.permissions import Capability, Role
from collectivites.services import require
from tests.access.helpers import age_authentication, code_for, enrol, text
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ENROL_URL = "/compte/securite/double-authentification/"


@pytest.fixture(autouse=True)
def _no_code_throttling(settings: Any) -> None:
    """django-otp makes each wrong code double the wait before the next try (tested on its
    own below); these tests type a wrong code and then the right one straight away."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def _policy(collectivite: Any, value: str) -> None:
    SecurityPolicy.objects.for_collectivite(collectivite).delete()
    SecurityPolicy.objects.create(collectivite=collectivite, two_factor=value)


def _login_password(client: Client, user: Any, next_url: str = "") -> Any:
    data = {"username": user.email, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/connexion/", data)


def test_enrolment_shows_an_inline_svg_and_the_secret_then_recovery_codes_once(
    world: Any,
) -> None:
    user = world.members[Role.MODERATEUR]
    client = world.client(user)
    page = client.get(ENROL_URL)
    assert page.status_code == 200
    html = text(page)
    assert "<svg" in html and 'role="img"' in html and "<script" not in html.split("<main")[-1]
    secret = re.search(r'data-secret="([A-Z2-7]+)"', html).group(1)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    from base64 import b32encode

    assert b32encode(device.bin_key).decode() == secret

    wrong = client.post(ENROL_URL, {"device": device.pk, "code": "000000"})
    assert "Code incorrect" in text(wrong)
    assert not gate.has_two_factor(user)

    done = client.post(ENROL_URL, {"device": device.pk, "code": code_for(device)})
    assert done.status_code == 200
    codes = re.findall(
        r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", text(done)
    )
    assert len(codes) == services.RECOVERY_CODE_COUNT
    assert gate.has_two_factor(user)
    # hashed at rest: the codes themselves are nowhere in the table
    stored = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    assert stored == {hash_secret(c) for c in codes}
    assert not stored & set(codes)
    # the session that enrolled is verified
    assert client.session.get("otp_device_id")


def test_login_asks_the_code_after_the_password(world: Any) -> None:
    user = world.members[Role.VALIDATEUR]
    device, _codes = enrol(user)
    client = Client()
    response = _login_password(client, user, next_url="/c/ville-a/")
    assert response.status_code == 302 and response["Location"].startswith("/connexion/code/")
    # not signed in yet
    assert "_auth_user_id" not in client.session
    assert client.get("/c/ville-a/")["Location"].startswith("/connexion/?next=")

    step = client.get(response["Location"])
    assert step.status_code == 200 and "Code de vérification" in text(step)
    bad = client.post(response["Location"], {"code": "123456", "next": "/c/ville-a/"})
    assert bad.status_code == 200 and "Code incorrect" in text(bad)
    ok = client.post(
        response["Location"], {"code": code_for(device, steps_ahead=1), "next": "/c/ville-a/"}
    )
    assert ok.status_code == 302 and ok["Location"] == "/c/ville-a/"
    assert client.get("/c/ville-a/").status_code == 200


def test_a_user_without_2fa_logs_in_with_the_password_alone(world: Any) -> None:
    client = Client()
    response = _login_password(client, world.members[Role.LECTEUR])
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" in client.session


def test_a_recovery_code_works_once(world: Any) -> None:
    user = world.members[Role.REDACTEUR]
    _device, codes = enrol(user)
    code = codes[3].upper().replace("-", " ")  # typed loosely: case and separators ignored

    first = Client()
    location = _login_password(first, user)["Location"]
    assert first.post(location, {"code": code}).status_code == 302
    assert "_auth_user_id" in first.session

    second = Client()
    location = _login_password(second, user)["Location"]
    again = second.post(location, {"code": code})
    assert again.status_code == 200 and "_auth_user_id" not in second.session
    assert RecoveryCode.objects.filter(used_at__isnull=False).count() == 1


def test_the_pending_login_expires(world: Any, freezer: Any) -> None:
    user = world.members[Role.REDACTEUR]
    device, _ = enrol(user)
    client = Client()
    location = _login_password(client, user)["Location"]
    freezer.tick(600)
    response = client.post(location, {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/connexion/"
    assert "_auth_user_id" not in client.session


# --- the collectivité's policy ----------------------------------------------------------------


def test_policy_blocks_an_unenrolled_moderator_on_pages_with_a_french_message(
    world: Any,
) -> None:
    _policy(world.a, SecurityPolicy.TwoFactor.SENSITIVE)
    client = world.client(world.members[Role.MODERATEUR])
    response = client.get("/c/ville-a/boite/", follow=False)
    assert response.status_code == 302
    assert response["Location"].startswith(ENROL_URL + "?next=")
    followed = client.get("/c/ville-a/boite/", follow=True)
    assert "exige la double authentification" in text(followed)
    # even the overview: no page of the collectivité until enrolment
    assert client.get("/c/ville-a/")["Location"].startswith(ENROL_URL)
    # what stays open: enrolment, the account page, language, logout
    assert client.get(ENROL_URL).status_code == 200
    assert client.get("/compte/securite/").status_code == 200
    assert client.post("/langue/", {"language": "fr"}).status_code == 302
    assert client.post("/deconnexion/").status_code == 302


def test_policy_spares_the_reader_unless_it_covers_everyone(world: Any) -> None:
    _policy(world.a, SecurityPolicy.TwoFactor.SENSITIVE)
    reader = world.client(world.members[Role.LECTEUR])
    assert reader.get("/c/ville-a/").status_code == 200
    _policy(world.a, SecurityPolicy.TwoFactor.ALL)
    assert reader.get("/c/ville-a/")["Location"].startswith(ENROL_URL)


def test_policy_blocks_the_api_with_403_in_french(world: Any) -> None:
    _policy(world.a, SecurityPolicy.TwoFactor.SENSITIVE)
    client = world.client(world.members[Role.MODERATEUR])
    response = client.get("/api/v1/c/ville-a/inbox/")
    assert response.status_code == 403
    assert "double authentification" in response.json()["detail"]
    # another collectivité's policy does not follow the person
    assert world.client(world.outsider).get("/api/v1/c/ville-b/accounts/").status_code == 200


def test_policy_holds_in_the_services_too(world: Any) -> None:
    _policy(world.a, SecurityPolicy.TwoFactor.SENSITIVE)
    moderator = world.members[Role.MODERATEUR]
    with pytest.raises(PermissionDenied, match="double authentification"):
        require(moderator, world.a, Capability.INBOX_REPLY)
    enrol(moderator)
    require(moderator, world.a, Capability.INBOX_REPLY)


def test_an_enrolled_member_whose_session_is_not_verified_types_a_code(world: Any) -> None:
    _policy(world.a, SecurityPolicy.TwoFactor.SENSITIVE)
    moderator = world.members[Role.MODERATEUR]
    device, _ = enrol(moderator)
    client = world.client(moderator)  # a session opened without the code
    response = client.get("/c/ville-a/boite/")
    assert response.status_code == 302 and response["Location"].startswith("/connexion/code/")
    assert client.get("/api/v1/c/ville-a/inbox/").status_code == 403
    done = client.post(response["Location"], {"code": code_for(device, steps_ahead=1)})
    assert done.status_code == 302 and done["Location"] == "/c/ville-a/boite/"
    assert client.get("/c/ville-a/boite/").status_code == 200
    assert client.get("/api/v1/c/ville-a/inbox/").status_code == 200


def test_the_admin_sets_the_policy_after_enrolling_themselves(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    client = world.client(admin)
    url = "/c/ville-a/parametres/securite/"
    assert client.get(url).status_code == 200
    refused = client.post(url, {"two_factor": "sensitive"})
    assert refused.status_code == 200
    assert "Activez d'abord la double authentification" in text(refused)
    assert services.policy_of(collectivite=world.a).two_factor == "off"

    device, _ = enrol(admin)
    client = Client()
    location = _login_password(client, admin)["Location"]
    client.post(location, {"code": code_for(device, steps_ahead=1)})
    assert client.post(url, {"two_factor": "sensitive"}).status_code == 302
    assert services.policy_of(collectivite=world.a).two_factor == "sensitive"
    page = text(client.get(url))
    assert "manquante (exigée)" in page


def test_a_lecteur_cannot_see_the_security_settings(world: Any) -> None:
    assert (
        world.client(world.members[Role.LECTEUR]).get("/c/ville-a/parametres/securite/").status_code
        == 403
    )


# --- turning it off, resetting ----------------------------------------------------------------


def test_turning_it_off_needs_a_fresh_password_and_code(world: Any) -> None:
    user = world.members[Role.VALIDATEUR]
    device, _ = enrol(user)
    client = world.client(user)
    age_authentication(client, 3600)
    response = client.post(
        "/compte/securite/double-authentification/desactiver/",
        HTTP_REFERER="http://testserver/compte/securite/",
    )
    assert response.status_code == 302 and response["Location"].startswith("/confirmer/")
    assert gate.has_two_factor(user)

    confirm = client.get(response["Location"])
    assert "Code de vérification" in text(confirm)
    wrong = client.post(response["Location"], {"password": PASSWORD, "code": "000000"})
    assert wrong.status_code == 200
    ok = client.post(
        response["Location"],
        {
            "password": PASSWORD,
            "code": code_for(device, steps_ahead=1),
            "next": "/compte/securite/",
        },
    )
    assert ok.status_code == 302 and ok["Location"] == "/compte/securite/"
    assert client.post("/compte/securite/double-authentification/desactiver/").status_code == 302
    assert not gate.has_two_factor(user)
    assert not RecoveryCode.objects.exists()


def test_an_admin_resets_a_members_2fa(world: Any) -> None:
    admin, moderator = world.members[Role.ADMIN], world.members[Role.MODERATEUR]
    enrol(moderator)
    url = f"/c/ville-a/parametres/securite/membres/{moderator.pk}/reinitialiser-2fa/"
    assert world.client(world.members[Role.VALIDATEUR]).post(url).status_code == 403
    assert world.client(world.outsider).post(url).status_code == 404
    client = world.client(admin)
    assert client.post(url).status_code == 302
    assert not gate.has_two_factor(moderator)
    # someone of another collectivité cannot be reset from here
    services_error = client.post(
        f"/c/ville-a/parametres/securite/membres/{world.outsider.pk}/reinitialiser-2fa/",
        follow=True,
    )
    assert "n'est pas membre" in text(services_error)


def test_wrong_codes_slow_down_the_next_tries(world: Any, settings: Any) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    user = world.members[Role.VALIDATEUR]
    device, _ = enrol(user)
    client = Client()
    location = _login_password(client, user)["Location"]
    client.post(location, {"code": "000000"})
    client.post(location, {"code": "111111"})
    # the right code, but too soon after two wrong ones
    refused = client.post(location, {"code": code_for(device, steps_ahead=1)})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    device.refresh_from_db()
    assert device.throttling_failure_count >= 1
