"""The pages, as the town hall's team uses them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from collectivites.models import Audience, EditorialLine, Membership, SocialAccount
from collectivites.permissions import Role
from tests import factories

pytestmark = pytest.mark.django_db


def test_login_page_is_french(client: Any) -> None:
    response = client.get("/connexion/")
    assert response.status_code == 200
    assert 'lang="fr"' in response.content.decode()
    assert "Connexion à Parvis" in response.content.decode()


def test_login_with_wrong_password_says_so_in_french(client: Any, world: Any) -> None:
    response = client.post(
        "/connexion/", {"username": "admin@a.example", "password": "faux"}, follow=True
    )
    assert "Adresse e-mail ou mot de passe incorrect." in response.content.decode()


def test_login_ignores_the_case_of_the_address(client: Any, world: Any) -> None:
    response = client.post(
        "/connexion/", {"username": " Admin@A.example ", "password": factories.PASSWORD}
    )
    assert response.status_code == 302


def test_home_lands_on_the_only_collectivite(world: Any) -> None:
    response = world.client(world.members[Role.REDACTEUR]).get("/")
    assert response.status_code == 302
    assert response["Location"] == f"/c/{world.a.slug}/"
    # An élu who only reads lands on the dashboard.
    response = world.client(world.members[Role.LECTEUR]).get("/")
    assert response["Location"] == f"/c/{world.a.slug}/rapports/"


def test_home_lists_several_collectivites_then_remembers_the_last(world: Any) -> None:
    person = world.members[Role.REDACTEUR]
    factories.MembershipFactory(collectivite=world.b, user=person, role=Role.LECTEUR)
    client = world.client(person)
    page = client.get("/").content.decode()
    assert "Ville A" in page and "Ville B" in page
    client.get(f"/c/{world.b.slug}/")
    # Only a reader in B: back to B's dashboard.
    assert client.get("/")["Location"] == f"/c/{world.b.slug}/rapports/"
    client.get(f"/c/{world.a.slug}/")
    assert client.get("/")["Location"] == f"/c/{world.a.slug}/"


def test_switcher_lists_only_my_collectivites(world: Any) -> None:
    person = world.members[Role.REDACTEUR]
    factories.CollectiviteFactory(name="Ville C")
    page = world.client(person).get(f"/c/{world.a.slug}/").content.decode()
    assert "Changer de collectivité" in page
    assert "Ville C" not in page and "Ville B" not in page


def test_overview_shows_accounts_lines_and_active_election(world: Any) -> None:
    import datetime as dt

    line = factories.EditorialLineFactory(
        account=factories.SocialAccountFactory(
            collectivite=world.a, display_name="Ville A Facebook"
        )
    )
    factories.SocialAccountFactory(collectivite=world.b, display_name="Compte de B")
    today = dt.date.today()
    factories.ElectionPeriodFactory(
        collectivite=world.a,
        label="Municipales partielles",
        starts_on=today - dt.timedelta(days=3),
        ends_on=today + dt.timedelta(days=3),
    )
    page = world.client(world.members[Role.LECTEUR]).get(f"/c/{world.a.slug}/").content.decode()
    assert line.account.display_name in page
    assert "Compte de B" not in page
    assert "Période pré-électorale en cours" in page


class TestEditorialLines:
    def test_admin_edits_a_line(self, world: Any) -> None:
        line = factories.EditorialLineFactory(
            account=factories.SocialAccountFactory(collectivite=world.a)
        )
        audience = factories.AudienceFactory(collectivite=world.a, name="Seniors")
        url = f"/c/{world.a.slug}/lignes-editoriales/{line.pk}/modifier/"
        client = world.client(world.members[Role.ADMIN])
        assert client.get(url).status_code == 200
        response = client.post(
            url,
            {
                "account": line.account_id,
                "tone": "Sobre",
                "address_form": "vouvoiement",
                "target_audiences": [audience.pk],
                "cadence_per_week": 5,
                "hashtags": "#MaVille",
                "words_to_avoid": "",
                "signature": "",
                "objectives": "",
                "notes": "",
            },
            follow=True,
        )
        assert "La ligne éditoriale est enregistrée." in response.content.decode()
        line.refresh_from_db()
        assert (line.tone, line.cadence_per_week) == ("Sobre", 5)
        assert list(line.target_audiences.all()) == [audience]

    def test_bad_input_is_explained_and_nothing_is_lost(self, world: Any) -> None:
        line = factories.EditorialLineFactory(
            account=factories.SocialAccountFactory(collectivite=world.a), tone="Avant"
        )
        url = f"/c/{world.a.slug}/lignes-editoriales/{line.pk}/modifier/"
        response = world.client(world.members[Role.ADMIN]).post(
            url,
            {
                "account": line.account_id,
                "tone": "Tapé mais pas enregistré",
                "address_form": "vouvoiement",
                "cadence_per_week": 500,
            },
        )
        page = response.content.decode()
        assert response.status_code == 200
        assert "inférieure ou égale à 100" in page
        assert "Tapé mais pas enregistré" in page
        line.refresh_from_db()
        assert line.tone == "Avant"

    def test_foreign_account_is_not_offered_nor_accepted(self, world: Any) -> None:
        foreign = factories.SocialAccountFactory(collectivite=world.b, display_name="Compte de B")
        client = world.client(world.members[Role.ADMIN])
        url = f"/c/{world.a.slug}/lignes-editoriales/nouvelle/"
        assert "Compte de B" not in client.get(url).content.decode()
        response = client.post(
            url, {"account": foreign.pk, "address_form": "vouvoiement", "cadence_per_week": 2}
        )
        assert response.status_code == 200
        assert not EditorialLine.objects.for_collectivite(world.b).exists()

    def test_another_collectivites_line_is_404(self, world: Any) -> None:
        foreign = factories.EditorialLineFactory(
            account=factories.SocialAccountFactory(collectivite=world.b)
        )
        url = f"/c/{world.a.slug}/lignes-editoriales/{foreign.pk}/modifier/"
        assert world.client(world.members[Role.ADMIN]).get(url).status_code == 404

    def test_reader_sees_lines_but_no_edit_link(self, world: Any) -> None:
        factories.EditorialLineFactory(account=factories.SocialAccountFactory(collectivite=world.a))
        page = (
            world.client(world.members[Role.LECTEUR])
            .get(f"/c/{world.a.slug}/lignes-editoriales/")
            .content.decode()
        )
        assert "Modifier" not in page


class TestAccountsAndAudiences:
    def test_create_account_then_duplicate_is_explained(self, world: Any) -> None:
        client = world.client(world.members[Role.ADMIN])
        url = f"/c/{world.a.slug}/comptes/ajouter/"
        data = {
            "network": "mastodon",
            "handle": "@ville@social.example",
            "display_name": "Ville A",
            "status": "disconnected",
        }
        assert client.post(url, data).status_code == 302
        response = client.post(url, data)
        assert "Cette valeur est déjà utilisée dans la collectivité." in response.content.decode()
        assert SocialAccount.objects.for_collectivite(world.a).count() == 1

    def test_delete_account_asks_then_deletes(self, world: Any) -> None:
        account = factories.SocialAccountFactory(collectivite=world.a)
        client = world.client(world.members[Role.ADMIN])
        url = f"/c/{world.a.slug}/comptes/{account.pk}/supprimer/"
        assert "Supprimer" in client.get(url).content.decode()
        assert SocialAccount.objects.for_collectivite(world.a).count() == 1
        client.post(url)
        assert SocialAccount.objects.for_collectivite(world.a).count() == 0

    def test_audience_with_age_bands_and_networks(self, world: Any) -> None:
        client = world.client(world.members[Role.ADMIN])
        response = client.post(
            f"/c/{world.a.slug}/publics/nouveau/",
            {
                "name": "Jeunes",
                "age_bands": ["18_24"],
                "networks": ["instagram"],
                "description": "",
            },
            follow=True,
        )
        assert "18-24 ans" in response.content.decode()
        audience = Audience.objects.for_collectivite(world.a).get()
        assert audience.age_bands == ["18_24"] and audience.networks == ["instagram"]


class TestMembers:
    def test_invite_then_accept_as_a_newcomer(
        self, world: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        admin = world.client(world.members[Role.ADMIN])
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post(
                f"/c/{world.a.slug}/membres/inviter/",
                {"email": "nouveau@mairie.example", "roles": ["moderateur"]},
                follow=True,
            )
        assert "Invitation envoyée à nouveau@mairie.example" in response.content.decode()
        link = re.search(r"(/invitation/[^/\s]+/)", mail.outbox[0].body).group(1)

        from django.test import Client

        newcomer = Client()
        assert "Créez votre compte Parvis" in newcomer.get(link).content.decode()
        mismatch = newcomer.post(
            link,
            {
                "first_name": "Nina",
                "last_name": "Petit",
                "password1": "un-long-secret-42",
                "password2": "autre",
            },
        )
        assert "Les deux mots de passe ne correspondent pas." in mismatch.content.decode()
        response = newcomer.post(
            link,
            {
                "first_name": "Nina",
                "last_name": "Petit",
                "password1": "un-long-secret-42",
                "password2": "un-long-secret-42",
            },
        )
        assert response["Location"] == f"/c/{world.a.slug}/"
        assert newcomer.get(f"/c/{world.a.slug}/").status_code == 200
        assert (
            Membership.objects.for_collectivite(world.a)
            .filter(user__email="nouveau@mairie.example", role="moderateur")
            .exists()
        )
        assert newcomer.get(link).status_code == 410

    def test_existing_user_accepts_after_login(self, world: Any, invite: Any) -> None:
        _invitation, token = invite(
            world.members[Role.ADMIN], world.a, world.outsider.email, ["lecteur"]
        )
        path = f"/invitation/{token}/"
        client = world.client(world.outsider)
        assert "Accepter l'invitation" in client.get(path).content.decode()
        client.post(path)
        assert client.get(f"/c/{world.a.slug}/").status_code == 200

    def test_change_roles_and_last_admin_guard(self, world: Any) -> None:
        admin = world.members[Role.ADMIN]
        client = world.client(admin)
        response = client.post(
            f"/c/{world.a.slug}/membres/{admin.pk}/roles/", {"roles": ["lecteur"]}
        )
        assert "au moins un·e administrateur·rice" in response.content.decode()
        target = world.members[Role.LECTEUR]
        client.post(
            f"/c/{world.a.slug}/membres/{target.pk}/roles/", {"roles": ["redacteur", "lecteur"]}
        )
        assert set(
            Membership.objects.for_collectivite(world.a)
            .filter(user=target)
            .values_list("role", flat=True)
        ) == {"redacteur", "lecteur"}

    def test_remove_member(self, world: Any) -> None:
        target = world.members[Role.MODERATEUR]
        client = world.client(world.members[Role.ADMIN])
        response = client.post(f"/c/{world.a.slug}/membres/{target.pk}/retirer/", follow=True)
        assert "Le membre a été retiré" in response.content.decode()
        assert world.client(target).get(f"/c/{world.a.slug}/").status_code == 404


def test_charter_edit_checks_business_hours(world: Any) -> None:
    client = world.client(world.members[Role.ADMIN])
    response = client.post(
        f"/c/{world.a.slug}/charte/modifier/",
        {
            "public_text": "Texte",
            "response_target_hours": 24,
            "business_hours_start": "18:00",
            "business_hours_end": "09:00",
        },
    )
    assert "La fin des heures ouvrées doit suivre leur début." in response.content.decode()


def test_english_is_available(world: Any) -> None:
    client = world.client(world.members[Role.ADMIN])
    client.post("/langue/", {"language": "en", "next": "/"})
    page = client.get(f"/c/{world.a.slug}/").content.decode()
    assert 'lang="en"' in page and "Overview" in page


def test_french_even_when_the_browser_asks_for_english(world: Any) -> None:
    client = world.client(world.members[Role.ADMIN])
    page = client.get(f"/c/{world.a.slug}/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content
    assert 'lang="fr"' in page.decode()
    assert "Vue d'ensemble" in page.decode()
