"""Password reset by e-mail, logout, and the French error pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from collectivites.permissions import Role

pytestmark = pytest.mark.django_db


def test_password_reset_by_email(world: Any) -> None:
    client = Client()
    response = client.post("/mot-de-passe/oubli/", {"email": "lecteur@a.example"}, follow=True)
    assert "Vérifiez votre messagerie" in response.content.decode()
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/mot-de-passe/nouveau/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    set_url = form.redirect_chain[-1][0] if form.redirect_chain else link
    done = client.post(
        set_url,
        {"new_password1": "un-nouveau-secret-2026", "new_password2": "un-nouveau-secret-2026"},
        follow=True,
    )
    assert "Mot de passe enregistré" in done.content.decode()
    assert Client().login(username="lecteur@a.example", password="un-nouveau-secret-2026")


def test_unknown_address_gets_the_same_answer(world: Any) -> None:
    response = Client().post("/mot-de-passe/oubli/", {"email": "personne@nulle.part"}, follow=True)
    assert "Vérifiez votre messagerie" in response.content.decode()
    assert mail.outbox == []


def test_logout_is_a_post(world: Any) -> None:
    client = world.client(world.members[Role.LECTEUR])
    response = client.post("/deconnexion/")
    assert response.status_code == 302
    assert client.get(f"/c/{world.a.slug}/").status_code == 302


def test_403_page_is_french(world: Any) -> None:
    response = world.client(world.members[Role.LECTEUR]).get(f"/c/{world.a.slug}/membres/")
    assert response.status_code == 403
    assert "Accès refusé" in response.content.decode()


def test_invalid_invitation_link(client: Any, db: Any) -> None:
    response = client.get("/invitation/pas-un-vrai-jeton/")
    assert response.status_code == 410
    assert "Ce lien n'est plus valable" in response.content.decode()


def test_beat_task_purges_expired_invitations(world: Any) -> None:
    import datetime as dt

    from django.utils import timezone

    from collectivites.models import Invitation
    from collectivites.tasks import purge_expired_invitations
    from tests import factories

    factories.InvitationFactory(collectivite=world.a, expires_at=timezone.now() - dt.timedelta(1))
    kept = factories.InvitationFactory(collectivite=world.a)
    assert purge_expired_invitations.delay().get() == 1
    assert list(Invitation.objects.for_collectivite(world.a)) == [kept]
