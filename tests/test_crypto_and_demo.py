from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from collectivites.models import Collectivite, Membership, SocialAccount
from networks import crypto
from tests import factories

pytestmark = pytest.mark.django_db


def raw_credentials(account: SocialAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT credentials FROM {SocialAccount._meta.db_table} WHERE id = %s", [account.pk]
        )
        return cursor.fetchone()[0]


def test_credentials_are_encrypted_at_rest(settings: Any) -> None:
    account = factories.SocialAccountFactory(credentials={"access_token": "EAAB-secret"})
    stored = raw_credentials(account)
    assert "EAAB-secret" not in stored
    account.refresh_from_db()
    assert account.credentials == {"access_token": "EAAB-secret"}


def test_rotation_re_encrypts_with_the_newest_key(settings: Any) -> None:
    old = settings.PARVIS_ENCRYPTION_KEYS[0]
    account = factories.SocialAccountFactory(credentials={"access_token": "tok"})
    from networks.models import MastodonApp

    app = MastodonApp.objects.create(
        instance_url="https://mastodon.example",
        redirect_uri="https://parvis.example/retour/",
        scopes="read write",
        credentials={"client_id": "id", "client_secret": "secret"},
    )
    new = Fernet.generate_key().decode()
    settings.PARVIS_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_credentials", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.PARVIS_ENCRYPTION_KEYS = [new]
    account.refresh_from_db()
    assert account.credentials == {"access_token": "tok"}
    app.refresh_from_db()
    assert app.credentials == {"client_id": "id", "client_secret": "secret"}


def test_unknown_key_is_a_clear_error(settings: Any) -> None:
    token = crypto.encrypt("x")
    settings.PARVIS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.CredentialDecryptionError):
        crypto.decrypt(token)


def test_seed_demo_is_idempotent() -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    counts = (
        Collectivite.objects.count(),
        Membership.objects.dangerously_unscoped().count(),
        SocialAccount.objects.dangerously_unscoped().count(),
    )
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert counts == (
        Collectivite.objects.count(),
        Membership.objects.dangerously_unscoped().count(),
        SocialAccount.objects.dangerously_unscoped().count(),
    )
    commune = Collectivite.objects.get(slug="saint-aubin")
    assert commune.parent.slug == "val-des-tilleuls"
    roles = set(Membership.objects.for_collectivite(commune).values_list("role", flat=True))
    assert roles == {"admin", "redacteur", "validateur", "moderateur", "lecteur"}


def test_malformed_encryption_key_stops_the_start() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from config.secrets import check_encryption_keys

    check_encryption_keys([Fernet.generate_key().decode()])
    with pytest.raises(ImproperlyConfigured, match="key #2"):
        check_encryption_keys([Fernet.generate_key().decode(), "pas-une-cle"])
    with pytest.raises(ImproperlyConfigured):
        check_encryption_keys([])


def test_processes_starting_together_share_one_generated_key(tmp_path: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from config.secrets import read_or_create_encryption_keys

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda _: tuple(read_or_create_encryption_keys(tmp_path)), range(32))
        )
    assert len(set(results)) == 1 and results[0] and results[0][0]
    assert [p.name for p in tmp_path.iterdir()] == ["encryption_keys"]
