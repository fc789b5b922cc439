"""Connecting accounts, and what happens when a network revokes a token."""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import pytest
from django.core import mail
from rest_framework.test import APIClient

from collectivites import connections
from collectivites.models import Notification, SocialAccount
from collectivites.permissions import Role
from networks import registry
from networks.base import AuthExpired
from networks.connect import AuthorizationStart, ConnectableAccount, Connector
from tests import factories

pytestmark = pytest.mark.django_db


def connect_sandbox(world: Any, handle: str = "@villea") -> SocialAccount:
    client = world.client(world.members[Role.ADMIN])
    response = client.post(
        f"/c/{world.a.slug}/comptes/connecter/sandbox/",
        {"handle": handle, "display_name": "Ville A (bac à sable)"},
        follow=True,
    )
    assert "Compte connecté : Ville A (bac à sable)." in response.content.decode()
    return SocialAccount.objects.for_collectivite(world.a).get(handle=handle)


class FakeOAuthConnector(Connector):
    """Stands for an OAuth network: the tests drive both ends of the redirection."""

    network = "x"
    required_app_settings = ()
    received: ClassVar[list[dict[str, Any]]] = []

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> AuthorizationStart:
        return AuthorizationStart(
            url=f"https://reseau.example/authorize?state={state}&redirect_uri={redirect_uri}",
            flow_data={"code_verifier": "verif-123"},
        )

    def finish(
        self, *, redirect_uri: str, query: dict[str, str], flow_data: dict[str, Any]
    ) -> list[ConnectableAccount]:
        self.received.append({"query": query, "flow_data": flow_data})
        return [
            ConnectableAccount(
                external_id=f"page-{n}",
                handle=f"@page{n}",
                display_name=f"Page {n}",
                credentials={"access_token": f"TOKEN-PAGE-{n}-SECRET"},
            )
            for n in (1, 2)
        ]


@pytest.fixture
def fake_oauth(monkeypatch: Any) -> FakeOAuthConnector:
    connector = FakeOAuthConnector()
    FakeOAuthConnector.received = []
    original = registry.get_connector

    def get(network: str) -> Connector:
        return connector if network == "x" else original(network)

    monkeypatch.setattr("collectivites.connections.get_connector", get)
    monkeypatch.setattr("collectivites.connection_views.get_connector", get)
    return connector


def test_networks_without_app_credentials_say_what_to_set(world: Any, settings: Any) -> None:
    settings.PARVIS_NETWORK_APPS = {**settings.PARVIS_NETWORK_APPS, "x": {}}
    page = world.client(world.members[Role.ADMIN]).get(f"/c/{world.a.slug}/comptes/connecter/")
    text = page.content.decode()
    assert "Non configuré" in text and "X_CLIENT_ID" in text
    assert "Connecter un compte Bac à sable" in text


def test_connect_a_sandbox_account_in_the_page(world: Any) -> None:
    account = connect_sandbox(world)
    assert account.status == SocialAccount.Status.CONNECTED
    assert account.credentials["token"]
    assert account.connected_by == world.members[Role.ADMIN]


def test_reconnecting_updates_the_same_account(world: Any) -> None:
    first = connect_sandbox(world)
    old_token = first.credentials["token"]
    again = connect_sandbox(world)
    assert again.pk == first.pk and again.credentials["token"] != old_token
    assert SocialAccount.objects.for_collectivite(world.a).count() == 1


def test_oauth_flow_choose_pages_and_no_replay(world: Any, fake_oauth: FakeOAuthConnector) -> None:
    client = world.client(world.members[Role.ADMIN])
    start = client.post(f"/c/{world.a.slug}/comptes/connecter/x/")
    assert start.status_code == 302
    location = start["Location"]
    assert location.startswith("https://reseau.example/authorize?state=")
    state = re.search(r"state=([^&]+)", location).group(1)
    assert "/comptes/connexion/retour/" in location

    back = client.get("/comptes/connexion/retour/", {"state": state, "code": "abc"})
    assert back.status_code == 302 and "/comptes/connecter/choisir/" in back["Location"]
    assert fake_oauth.received[0]["flow_data"] == {"code_verifier": "verif-123"}
    assert fake_oauth.received[0]["query"]["code"] == "abc"

    choose = client.get(back["Location"])
    assert "Page 1" in choose.content.decode() and "Page 2" in choose.content.decode()
    assert "TOKEN-PAGE" not in choose.content.decode()
    assert "Choisissez au moins un compte." in client.post(back["Location"], {}).content.decode()
    done = client.post(back["Location"], {"accounts": ["1"]}, follow=True)
    assert "Comptes connectés : Page 2." in done.content.decode()
    (account,) = SocialAccount.objects.for_collectivite(world.a)
    assert account.external_id == "page-2" and account.network == "x"

    replay = client.get("/comptes/connexion/retour/", {"state": state, "code": "abc"}, follow=True)
    assert "inconnue ou expirée" in replay.content.decode()
    assert len(fake_oauth.received) == 1


def test_a_state_from_another_session_is_refused(
    world: Any, fake_oauth: FakeOAuthConnector
) -> None:
    admin = world.client(world.members[Role.ADMIN])
    state = re.search(
        r"state=([^&]+)", admin.post(f"/c/{world.a.slug}/comptes/connecter/x/")["Location"]
    ).group(1)
    attacker = world.client(world.outsider)
    response = attacker.get(
        "/comptes/connexion/retour/", {"state": state, "code": "x"}, follow=True
    )
    assert "inconnue ou expirée" in response.content.decode()
    assert fake_oauth.received == []
    assert not SocialAccount.objects.for_collectivite(world.b).exists()


def test_cancelled_on_the_network(world: Any, fake_oauth: FakeOAuthConnector) -> None:
    client = world.client(world.members[Role.ADMIN])
    state = re.search(
        r"state=([^&]+)", client.post(f"/c/{world.a.slug}/comptes/connecter/x/")["Location"]
    ).group(1)
    response = client.get(
        "/comptes/connexion/retour/", {"state": state, "error": "access_denied"}, follow=True
    )
    assert "La connexion a été annulée sur le réseau." in response.content.decode()


def test_revoked_token_turns_the_account_to_reconnect_and_tells_admins_once(
    world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    account = connect_sandbox(world)
    second_admin = factories.UserFactory(email="admin2@a.example")
    factories.MembershipFactory(collectivite=world.a, user=second_admin, role=Role.ADMIN)
    client = world.client(world.members[Role.ADMIN])
    client.post(f"/c/{world.a.slug}/comptes/{account.pk}/simuler-revocation/")
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(f"/c/{world.a.slug}/comptes/{account.pk}/verifier/", follow=True)
    assert "le compte doit être reconnecté" in page.content.decode()
    assert "À reconnecter" in page.content.decode()
    account.refresh_from_db()
    assert account.status == SocialAccount.Status.TO_RECONNECT
    notified = set(
        Notification.objects.for_collectivite(world.a).values_list("user__email", flat=True)
    )
    assert notified == {"admin@a.example", "admin2@a.example"}
    assert sorted(m.to[0] for m in mail.outbox) == ["admin2@a.example", "admin@a.example"]
    assert "doit être reconnecté" in mail.outbox[0].body

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(AuthExpired):
        connections.call_network(account, lambda a, ref: a.fetch_inbox(ref, None))
    assert Notification.objects.for_collectivite(world.a).count() == 2
    assert len(mail.outbox) == 2

    reconnected = connect_sandbox(world)
    assert reconnected.status == SocialAccount.Status.CONNECTED


def test_notifications_page_and_bell(world: Any) -> None:
    account = connect_sandbox(world)
    from networks.adapters.sandbox import revoke

    revoke(account.external_id)
    with pytest.raises(AuthExpired):
        connections.call_network(account, lambda a, ref: a.fetch_inbox(ref, None))
    client = world.client(world.members[Role.ADMIN])
    overview = client.get(f"/c/{world.a.slug}/").content.decode()
    assert '1<span class="visually-hidden"> non lues' in overview
    page = client.get(f"/c/{world.a.slug}/notifications/").content.decode()
    assert "doit être reconnecté" in page
    client.post(f"/c/{world.a.slug}/notifications/")
    assert "non lues" not in client.get(f"/c/{world.a.slug}/").content.decode()
    reader = world.client(world.members[Role.LECTEUR])
    assert (
        "doit être reconnecté"
        not in reader.get(f"/c/{world.a.slug}/notifications/").content.decode()
    )


def test_the_periodic_check_finds_revoked_accounts(world: Any) -> None:
    from collectivites.tasks import verify_social_accounts
    from networks.adapters.sandbox import revoke

    account = connect_sandbox(world)
    revoke(account.external_id)
    assert verify_social_accounts.delay().get() == 1
    account.refresh_from_db()
    assert account.status == SocialAccount.Status.TO_RECONNECT


def test_revocation_button_only_for_sandbox(world: Any) -> None:
    other = factories.SocialAccountFactory(collectivite=world.a, network="mastodon")
    client = world.client(world.members[Role.ADMIN])
    assert (
        client.post(f"/c/{world.a.slug}/comptes/{other.pk}/simuler-revocation/").status_code == 404
    )


def test_no_token_in_logs_pages_or_api(
    world: Any, caplog: Any, fake_oauth: FakeOAuthConnector, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    client = world.client(world.members[Role.ADMIN])
    account = connect_sandbox(world)
    state = re.search(
        r"state=([^&]+)", client.post(f"/c/{world.a.slug}/comptes/connecter/x/")["Location"]
    ).group(1)
    back = client.get("/comptes/connexion/retour/", {"state": state, "code": "abc"})
    bodies = [client.get(back["Location"]).content.decode()]
    client.post(back["Location"], {"accounts": ["0", "1"]})
    client.post(f"/c/{world.a.slug}/comptes/{account.pk}/simuler-revocation/")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/c/{world.a.slug}/comptes/{account.pk}/verifier/")
    for url in (
        f"/c/{world.a.slug}/comptes/",
        f"/c/{world.a.slug}/",
        f"/c/{world.a.slug}/notifications/",
        f"/admin/collectivites/socialaccount/{account.pk}/change/",
    ):
        bodies.append(client.get(url).content.decode())
    api = APIClient()
    api.force_authenticate(world.members[Role.ADMIN])
    bodies.append(api.get(f"/api/v1/c/{world.a.slug}/accounts/").content.decode())
    secrets_stored = [
        value
        for a in SocialAccount.objects.for_collectivite(world.a)
        for value in a.credentials.values()
    ]
    assert len(secrets_stored) == 3
    everything = "\n".join(bodies + [r.getMessage() for r in caplog.records])
    everything += "\n".join(m.body for m in mail.outbox)
    for secret in secrets_stored:
        assert secret not in everything


def test_credentials_about_to_expire_are_refreshed_and_stored_encrypted(
    world: Any, monkeypatch: Any
) -> None:
    import datetime as dt

    from django.utils import timezone

    from networks.adapters.sandbox import SandboxAdapter

    account = connect_sandbox(world)
    account.token_expires_at = timezone.now() + dt.timedelta(hours=1)
    account.save()
    seen: list[str] = []

    class Refreshing(SandboxAdapter):
        def refresh_credentials(self, ref: Any) -> bool:
            ref.update_credentials(token="fresh-token", expires_at="2027-01-01T00:00:00+00:00")
            return True

        def fetch_inbox(self, ref: Any, cursor: Any) -> Any:
            seen.append(ref.credentials["token"])
            return super().fetch_inbox(ref, cursor)

    monkeypatch.setattr("collectivites.connections.get_adapter", lambda network: Refreshing())
    connections.call_network(account, lambda a, ref: a.fetch_inbox(ref, None))
    assert seen == ["fresh-token"]
    stored = SocialAccount.objects.for_collectivite(world.a).get(pk=account.pk)
    assert stored.credentials["token"] == "fresh-token"
    assert stored.token_expires_at.year == 2027


def test_reconnecting_keeps_a_refresh_token_the_network_does_not_send_again(world: Any) -> None:
    account = connect_sandbox(world)
    account.credentials = {**account.credentials, "refresh_token": "keep-me"}
    account.save()
    again = connect_sandbox(world)
    assert again.credentials["refresh_token"] == "keep-me"
    assert again.credentials["token"] != "keep-me"
