"""``/api/v1/``: same tenancy, capabilities and services as the pages."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from collectivites.models import SocialAccount
from collectivites.permissions import Role
from tests import factories

pytestmark = pytest.mark.django_db


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_my_collectivites_with_roles(world: Any) -> None:
    person = world.members[Role.REDACTEUR]
    factories.MembershipFactory(collectivite=world.b, user=person, role=Role.LECTEUR)
    data = api(person).get("/api/v1/collectivites/").json()
    assert [(c["slug"], c["roles"]) for c in data["results"]] == [
        ("ville-a", ["redacteur"]),
        ("ville-b", ["lecteur"]),
    ]


def test_accounts_crud_never_shows_credentials(world: Any) -> None:
    admin = api(world.members[Role.ADMIN])
    base = f"/api/v1/c/{world.a.slug}/accounts/"
    audience = factories.AudienceFactory(collectivite=world.a)
    created = admin.post(
        base,
        {
            "network": "bluesky",
            "handle": "@ville-a.bsky.social",
            "display_name": "Ville A",
            "status": "disconnected",
            "audiences": [audience.pk],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    account = SocialAccount.objects.for_collectivite(world.a).get()
    account.credentials = {"access_token": "secret-token-value"}
    account.save()
    listing = admin.get(base)
    assert "secret-token-value" not in listing.content.decode()
    assert "credentials" not in listing.json()["results"][0]
    patched = admin.patch(
        f"{base}{account.pk}/", {"display_name": "Ville A officiel"}, format="json"
    )
    assert patched.json()["display_name"] == "Ville A officiel"
    assert admin.delete(f"{base}{account.pk}/").status_code == 204


def test_related_ids_from_another_collectivite_are_refused(world: Any) -> None:
    foreign = factories.AudienceFactory(collectivite=world.b)
    response = api(world.members[Role.ADMIN]).post(
        f"/api/v1/c/{world.a.slug}/accounts/",
        {"network": "x", "handle": "@a", "display_name": "A", "audiences": [foreign.pk]},
        format="json",
    )
    assert response.status_code == 400
    assert "audiences" in response.json()


def test_service_errors_come_back_as_400_in_french(world: Any) -> None:
    admin = api(world.members[Role.ADMIN])
    response = admin.post(
        f"/api/v1/c/{world.a.slug}/election-periods/",
        {
            "election": "municipales",
            "label": "M",
            "starts_on": "2032-03-01",
            "ends_on": "2031-09-01",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"ends_on": ["La fin doit être postérieure au début."]}


def test_editorial_line_unique_per_account(world: Any) -> None:
    line = factories.EditorialLineFactory(
        account=factories.SocialAccountFactory(collectivite=world.a)
    )
    response = api(world.members[Role.ADMIN]).post(
        f"/api/v1/c/{world.a.slug}/editorial-lines/",
        {"account": line.account_id, "cadence_per_week": 2},
        format="json",
    )
    assert response.status_code == 400


def test_members_and_roles(world: Any) -> None:
    admin = api(world.members[Role.ADMIN])
    base = f"/api/v1/c/{world.a.slug}/members/"
    members = admin.get(base).json()
    assert {m["email"] for m in members} == {f"{r}@a.example" for r in Role.values}
    target = world.members[Role.LECTEUR]
    response = admin.put(f"{base}{target.pk}/", {"roles": ["validateur"]}, format="json")
    assert response.json()["roles"] == ["validateur"]
    last_admin = world.members[Role.ADMIN]
    refused = admin.put(f"{base}{last_admin.pk}/", {"roles": ["lecteur"]}, format="json")
    assert refused.status_code == 400
    assert (
        admin.put(f"{base}{world.outsider.pk}/", {"roles": ["lecteur"]}, format="json").status_code
        == 404
    )


def test_invitations(world: Any) -> None:
    admin = api(world.members[Role.ADMIN])
    base = f"/api/v1/c/{world.a.slug}/invitations/"
    created = admin.post(base, {"email": "a@b.fr", "roles": ["lecteur"]}, format="json")
    assert created.status_code == 201
    assert "token" not in created.json() and "token_hash" not in created.json()
    assert admin.get(base).json()["count"] == 1
    assert admin.delete(f"{base}{created.json()['id']}/").status_code == 204


def test_charter_get_and_put(world: Any) -> None:
    admin = api(world.members[Role.ADMIN])
    url = f"/api/v1/c/{world.a.slug}/charter/"
    assert admin.get(url).json()["response_target_hours"] == 24
    response = admin.patch(url, {"response_target_hours": 8}, format="json")
    assert response.status_code == 200 and response.json()["response_target_hours"] == 8
    reader = api(world.members[Role.LECTEUR])
    assert reader.get(url).json()["response_target_hours"] == 8
    assert reader.patch(url, {"response_target_hours": 1}, format="json").status_code == 403


def test_schema_lists_the_tenant_routes(world: Any) -> None:
    response = api(world.members[Role.ADMIN]).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/c/{collectivite_slug}/accounts/",
        "/api/v1/c/{collectivite_slug}/editorial-lines/{id}/",
        "/api/v1/c/{collectivite_slug}/charter/",
        "/api/v1/c/{collectivite_slug}/members/{id}/",
    ):
        assert path in paths, path


def test_verify_an_account_and_read_notifications(world: Any) -> None:
    from networks.adapters.sandbox import SandboxConnector, revoke

    (candidate,) = SandboxConnector().connect_with_form({"handle": "@villea"})
    account = factories.SocialAccountFactory(
        collectivite=world.a,
        network="sandbox",
        handle="@villea",
        external_id=candidate.external_id,
        credentials=candidate.credentials,
    )
    admin = api(world.members[Role.ADMIN])
    url = f"/api/v1/c/{world.a.slug}/accounts/{account.pk}/verify/"
    ok = admin.post(url)
    assert ok.status_code == 200 and ok.json()["status"] == "connected"
    revoke(account.external_id)
    refused = admin.post(url).json()
    assert refused["status"] == "to_reconnect"
    assert "reconnecté" in refused["message"]
    assert api(world.members[Role.REDACTEUR]).post(url).status_code == 403

    notes = admin.get(f"/api/v1/c/{world.a.slug}/notifications/").json()
    assert notes["count"] == 1 and notes["results"][0]["read_at"] is None
    assert admin.post(f"/api/v1/c/{world.a.slug}/notifications/mark-read/").status_code == 204
    notes = admin.get(f"/api/v1/c/{world.a.slug}/notifications/").json()
    assert notes["results"][0]["read_at"] is not None
    reader = api(world.members[Role.LECTEUR]).get(f"/api/v1/c/{world.a.slug}/notifications/")
    assert reader.json()["count"] == 0
