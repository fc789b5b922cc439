"""API keys (per collectivité, scopes, never admin) and personal tokens (a person's roles):
hashed at rest, shown once, Bearer authentication, expiry, revocation, cross-tenant 404,
scope 403, throttling per credential, and the pages that create and revoke them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from access import gate, services
from access.models import ApiKey, PersonalToken
from access.tokens import hash_secret
from collectivites.permissions import Role
from tests.access.helpers import age_authentication, text

pytestmark = pytest.mark.django_db


def refused(response: Any) -> bool:
    return response.status_code == 401 and "révoqué" in response.json()["detail"]


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _key(world: Any, scopes: list[str], days: int | None = None) -> tuple[ApiKey, str]:
    issued = services.api_key_create(
        actor=world.members[Role.ADMIN],
        collectivite=world.a,
        name="Site de la ville",
        scopes=scopes,
        expires_in_days=days,
    )
    return issued.credential, issued.token


def test_a_key_is_stored_as_a_hash_with_a_visible_prefix(world: Any) -> None:
    key, token = _key(world, ["read"])
    assert token.startswith("pvk_") and len(token) > 40
    key.refresh_from_db()
    assert key.token_hash == hash_secret(token) and key.prefix == token[:12]
    assert token not in str(ApiKey.objects.for_collectivite(world.a).values())


def test_a_read_key_reads_its_collectivite_and_nothing_else(world: Any) -> None:
    _key_row, token = _key(world, ["read"])
    client = bearer(token)
    assert client.get("/api/v1/c/ville-a/accounts/").status_code == 200
    assert client.get("/api/v1/c/ville-a/publications/").status_code == 200
    # scopes: no writing, no members, no admin capability at all
    refused = client.post("/api/v1/c/ville-a/accounts/", {"network": "sandbox"})
    assert refused.status_code == 403
    assert client.get("/api/v1/c/ville-a/members/").status_code == 403
    assert client.get("/api/v1/c/ville-a/api-keys/").status_code == 403
    # another collectivité: as if it did not exist
    assert client.get("/api/v1/c/ville-b/accounts/").status_code == 404
    # no page either: a key is not a session
    assert client.get("/c/ville-a/").status_code == 302


def test_a_moderation_key_works_the_inbox_but_cannot_publish(world: Any) -> None:
    _row, token = _key(world, ["moderate"])
    client = bearer(token)
    assert client.get("/api/v1/c/ville-a/inbox/").status_code == 200
    assert client.get("/api/v1/c/ville-a/publications/").status_code == 403


def test_a_publish_key_drafts_through_the_services(world: Any) -> None:
    from publishing import services as publishing_services
    from tests import factories

    key, token = _key(world, ["publish"])
    account = factories.SocialAccountFactory(collectivite=world.a, network="sandbox")
    publication = publishing_services.publication_create(
        actor=key.user,
        collectivite=world.a,
        title="Piscine",
        text="Fermeture de la piscine lundi.",
        account_ids=[account.pk],
    )
    assert publication.collectivite_id == world.a.pk
    # the services apply the scopes too: approving is never a key's
    from django.core.exceptions import PermissionDenied

    from collectivites.services import require

    with pytest.raises(PermissionDenied):
        require(key.user, world.a, "publishing.approve")
    with pytest.raises(PermissionDenied):
        require(key.user, world.b, "publishing.draft")
    require(key.user, world.a, "publishing.draft")
    assert bearer(token).get("/api/v1/c/ville-a/publications/").status_code == 200


def test_scopes_never_grant_admin_capabilities() -> None:
    every_scope = gate.scope_capabilities(list(gate.SCOPE_CAPABILITIES))
    assert every_scope and not every_scope & gate.NEVER_FOR_KEYS


def test_revoked_or_expired_keys_are_refused(world: Any, freezer: Any) -> None:
    key, token = _key(world, ["read"], days=30)
    client = bearer(token)
    assert client.get("/api/v1/c/ville-a/accounts/").status_code == 200
    freezer.tick(dt.timedelta(days=31))
    expired = client.get("/api/v1/c/ville-a/accounts/")
    # 401 with the scheme to use: the credentials are the problem, not the rights
    assert expired.status_code == 401 and "expiré" in expired.json()["detail"]
    assert expired["WWW-Authenticate"].startswith("Bearer")

    key2, token2 = _key(world, ["read"])
    services.api_key_revoke(actor=world.members[Role.ADMIN], collectivite=world.a, key_id=key2.pk)
    assert refused(bearer(token2).get("/api/v1/c/ville-a/accounts/"))
    assert refused(bearer("pvk_nimportequoi").get("/api/v1/c/ville-a/accounts/"))


def test_last_use_is_recorded_at_most_once_a_minute(
    world: Any, django_assert_max_num_queries: Any
) -> None:
    key, token = _key(world, ["read"])
    client = bearer(token)
    client.get("/api/v1/c/ville-a/accounts/")
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    client.get("/api/v1/c/ville-a/accounts/")
    key.refresh_from_db()
    assert key.last_used_at == first


def test_throttling_is_per_key(world: Any, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/min", "personal_token": "3/min"},
    }
    _k1, token1 = _key(world, ["read"])
    _k2, token2 = _key(world, ["read"])
    one = bearer(token1)
    assert [one.get("/api/v1/c/ville-a/accounts/").status_code for _ in range(3)] == [200] * 3
    assert one.get("/api/v1/c/ville-a/accounts/").status_code == 429
    # another key has its own budget; sessions are not throttled by this class
    assert bearer(token2).get("/api/v1/c/ville-a/accounts/").status_code == 200
    session = world.client(world.members[Role.ADMIN])
    assert all(session.get("/api/v1/c/ville-a/accounts/").status_code == 200 for _ in range(5))


# --- personal tokens ---------------------------------------------------------------------------


def test_a_personal_token_acts_with_its_owners_roles(world: Any) -> None:
    issued = services.personal_token_create(
        user=world.members[Role.REDACTEUR], name="script", expires_in_days=30
    )
    client = bearer(issued.token)
    assert issued.token.startswith("pvp_")
    assert client.get("/api/v1/c/ville-a/publications/").status_code == 200
    assert client.get("/api/v1/c/ville-a/members/").status_code == 403
    assert client.get("/api/v1/c/ville-b/accounts/").status_code == 404
    assert [c["slug"] for c in client.get("/api/v1/collectivites/").json()["results"]] == [
        "ville-a"
    ]


def test_a_personal_token_always_expires(world: Any) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.personal_token_create(
            user=world.members[Role.LECTEUR], name="x", expires_in_days=0
        )
    with pytest.raises(ValidationError):
        services.personal_token_create(
            user=world.members[Role.LECTEUR], name="x", expires_in_days=10_000
        )


def test_own_tokens_listed_and_revoked_through_the_api(world: Any) -> None:
    user = world.members[Role.LECTEUR]
    mine = services.personal_token_create(user=user, name="mine", expires_in_days=5)
    other = services.personal_token_create(user=world.outsider, name="other", expires_in_days=5)
    client = bearer(mine.token)
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["mine"]
    assert "token_hash" not in listed[0]
    assert client.post(f"/api/v1/tokens/{other.credential.pk}/revoke/").status_code == 404
    assert client.post(f"/api/v1/tokens/{mine.credential.pk}/revoke/").status_code == 200
    assert refused(client.get("/api/v1/tokens/"))
    assert PersonalToken.objects.get(pk=other.credential.pk).revoked_at is None


def test_sensitive_api_actions_need_a_recent_password_or_a_personal_token(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    target = world.members[Role.LECTEUR]
    url = f"/api/v1/c/ville-a/members/{target.pk}/"
    session = world.client(admin)
    age_authentication(session, 3600)
    refused = session.put(url, {"roles": ["redacteur"]}, content_type="application/json")
    assert refused.status_code == 403 and "sensible" in refused.json()["detail"]
    token = services.personal_token_create(user=admin, name="ops", expires_in_days=1).token
    done = bearer(token).put(url, {"roles": ["redacteur"]}, content_type="application/json")
    assert done.status_code == 200 and done.json()["roles"] == ["redacteur"]


# --- pages -------------------------------------------------------------------------------------


def test_an_admin_creates_a_key_in_the_page_sees_it_once_and_revokes_it(world: Any) -> None:
    client = world.client(world.members[Role.ADMIN])
    url = "/c/ville-a/parametres/cles-api/"
    assert client.get(url).status_code == 200
    shown = client.post(url, {"name": "Open data", "scopes": ["read"], "expires_in_days": "90"})
    token = re.search(r'value="(pvk_[^"]+)"', text(shown)).group(1)
    key = ApiKey.objects.for_collectivite(world.a).get()
    assert key.token_hash == hash_secret(token)
    assert key.expires_at > timezone.now() + dt.timedelta(days=89)
    listing = text(client.get(url))
    assert key.prefix in listing and token not in listing
    assert bearer(token).get("/api/v1/c/ville-a/accounts/").status_code == 200
    assert world.client(world.outsider).post(f"{url}{key.pk}/revoquer/").status_code == 404
    assert client.post(f"{url}{key.pk}/revoquer/").status_code == 302
    assert refused(bearer(token).get("/api/v1/c/ville-a/accounts/"))


def test_key_creation_refuses_no_scope_in_french(world: Any) -> None:
    client = world.client(world.members[Role.ADMIN])
    page = client.post("/c/ville-a/parametres/cles-api/", {"name": "x", "scopes": []})
    assert page.status_code == 200 and "Ce champ est obligatoire" in text(page)
    assert not ApiKey.objects.for_collectivite(world.a).exists()


def test_a_person_creates_a_token_in_their_profile_after_a_fresh_password(world: Any) -> None:
    user = world.members[Role.MODERATEUR]
    client = world.client(user)
    assert "Jetons d'API personnels" in text(client.get("/compte/securite/"))
    age_authentication(client, 3600)
    stale = client.post("/compte/jetons/", {"name": "cli", "expires_in_days": "7"})
    assert stale.status_code == 302 and stale["Location"].startswith("/confirmer/")
    assert not PersonalToken.objects.exists()
    age_authentication(client, 0)
    shown = client.post("/compte/jetons/", {"name": "cli", "expires_in_days": "7"})
    token = re.search(r'value="(pvp_[^"]+)"', text(shown)).group(1)
    assert bearer(token).get("/api/v1/c/ville-a/inbox/").status_code == 200
    credential = PersonalToken.objects.get()
    other = world.client(world.members[Role.LECTEUR])
    assert other.post(f"/compte/jetons/{credential.pk}/revoquer/").status_code == 404
    assert client.post(f"/compte/jetons/{credential.pk}/revoquer/").status_code == 302
    assert refused(bearer(token).get("/api/v1/c/ville-a/inbox/"))


def test_the_openapi_schema_declares_the_bearer_scheme(world: Any) -> None:
    schema = world.client(world.members[Role.ADMIN]).get("/api/v1/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert "/api/v1/c/{collectivite_slug}/api-keys/" in schema["paths"]
    assert "/api/v1/tokens/" in schema["paths"]
