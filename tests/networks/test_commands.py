from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from networks.adapters.sandbox import SandboxAdapter
from networks.base import Account, Transient
from tests import factories

pytestmark = pytest.mark.django_db


def sandbox_account() -> Any:
    return factories.SocialAccountFactory(
        network="sandbox", external_id="sba_cmd", handle="@cmd", credentials={"token": "t-123"}
    )


def test_network_check_reports_each_call() -> None:
    account = sandbox_account()
    out = StringIO()
    call_command("network_check", account.pk, stdout=out)
    text = out.getvalue()
    assert "lecture des messages" in text and "statistiques du compte" in text
    assert "t-123" not in text


def test_network_check_fails_loudly_when_the_network_refuses() -> None:
    account = sandbox_account()
    call_command("sandbox_fault", account.pk, "auth_expired", "--probability", "1")
    with pytest.raises(CommandError, match="2 vérification"):
        call_command("network_check", account.pk, stdout=StringIO())


def test_sandbox_fault_then_clear() -> None:
    account = sandbox_account()
    call_command("sandbox_fault", account.pk, "transient", "--next", "2", stdout=StringIO())
    ref = Account(network="sandbox", external_id="sba_cmd", credentials={"token": "t-123"})
    for _ in range(2):
        with pytest.raises(Transient):
            SandboxAdapter().fetch_inbox(ref, None)
    SandboxAdapter().fetch_inbox(ref, None)
    call_command("sandbox_fault", account.pk, "timeout", "--probability", "1", stdout=StringIO())
    call_command("sandbox_fault", account.pk, "--clear", stdout=StringIO())
    SandboxAdapter().fetch_inbox(ref, None)


def test_unknown_account() -> None:
    with pytest.raises(CommandError):
        call_command("network_check", 999999, stdout=StringIO())
