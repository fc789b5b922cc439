"""Services check the capability themselves and keep the collectivité's invariants."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from collectivites import services
from collectivites.models import Invitation, Membership, SocialAccount
from collectivites.permissions import Role
from networks.registry import Network
from tests import factories

pytestmark = pytest.mark.django_db


def roles(world: Any, user: Any) -> set[str]:
    return set(
        Membership.objects.for_collectivite(world.a)
        .filter(user=user)
        .values_list("role", flat=True)
    )


class TestInvitations:
    def test_invite_sends_a_one_time_link_and_stores_only_its_hash(
        self, world: Any, invite: Any
    ) -> None:
        invitation, token = invite(
            world.members[Role.ADMIN],
            world.a,
            "Nouvelle.Agente@Mairie.example",
            [Role.MODERATEUR, Role.REDACTEUR],
        )
        assert invitation.email == "nouvelle.agente@mairie.example"
        assert invitation.roles == [Role.MODERATEUR, Role.REDACTEUR]
        assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token)
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["nouvelle.agente@mairie.example"]
        assert "Ville A" in message.subject
        assert "valable 7 jours" in message.body

    def test_nothing_is_sent_before_the_transaction_commits(self, world: Any) -> None:
        services.invitation_create(
            actor=world.members[Role.ADMIN], collectivite=world.a, email="x@y.fr", roles=["lecteur"]
        )
        assert mail.outbox == []

    def test_accepting_gives_the_roles_once(self, world: Any, invite: Any) -> None:
        _invitation, token = invite(world.members[Role.ADMIN], world.a, "x@y.fr", [Role.LECTEUR])
        user = factories.UserFactory(email="x@y.fr")
        assert services.invitation_accept(token=token, user=user) == world.a
        assert roles(world, user) == {Role.LECTEUR}
        with pytest.raises(ValidationError):
            services.invitation_accept(token=token, user=factories.UserFactory())

    def test_a_resent_email_invalidates_the_previous_link(self, world: Any, invite: Any) -> None:
        invitation, first = invite(world.members[Role.ADMIN], world.a, "x@y.fr", [Role.LECTEUR])
        assert services.invitation_send(collectivite=world.a, invitation_id=invitation.pk)
        second = re.search(r"/invitation/([^/\s]+)/", mail.outbox[-1].body).group(1)
        assert services.invitation_find(token=first) is None
        assert services.invitation_find(token=second) is not None

    def test_sending_is_scoped_to_the_collectivite(self, world: Any, invite: Any) -> None:
        invitation, _token = invite(world.members[Role.ADMIN], world.a, "x@y.fr", [Role.LECTEUR])
        assert not services.invitation_send(collectivite=world.b, invitation_id=invitation.pk)

    def test_expired_invitation_cannot_be_used_and_is_purged(self, world: Any, invite: Any) -> None:
        _invitation, token = invite(world.members[Role.ADMIN], world.a, "x@y.fr", [Role.LECTEUR])
        Invitation.objects.for_collectivite(world.a).update(
            expires_at=timezone.now() - dt.timedelta(minutes=1)
        )
        assert services.invitation_find(token=token) is None
        assert services.invitations_purge_expired() == 1

    def test_only_admins_invite(self, world: Any) -> None:
        for role in (Role.REDACTEUR, Role.VALIDATEUR, Role.MODERATEUR, Role.LECTEUR):
            with pytest.raises(PermissionDenied):
                services.invitation_create(
                    actor=world.members[role],
                    collectivite=world.a,
                    email="x@y.fr",
                    roles=[Role.ADMIN],
                )
        with pytest.raises(PermissionDenied):
            services.invitation_create(
                actor=world.outsider, collectivite=world.a, email="x@y.fr", roles=[Role.ADMIN]
            )

    def test_roles_must_be_chosen_and_known(self, world: Any) -> None:
        admin = world.members[Role.ADMIN]
        with pytest.raises(ValidationError):
            services.invitation_create(actor=admin, collectivite=world.a, email="x@y.fr", roles=[])
        with pytest.raises(ValidationError):
            services.invitation_create(
                actor=admin, collectivite=world.a, email="x@y.fr", roles=["maire"]
            )


class TestMembers:
    def test_set_roles(self, world: Any) -> None:
        target = world.members[Role.LECTEUR]
        services.member_set_roles(
            actor=world.members[Role.ADMIN],
            collectivite=world.a,
            user_id=target.pk,
            roles=[Role.REDACTEUR, Role.VALIDATEUR],
        )
        assert roles(world, target) == {Role.REDACTEUR, Role.VALIDATEUR}

    def test_last_admin_cannot_be_demoted_or_removed(self, world: Any) -> None:
        admin = world.members[Role.ADMIN]
        with pytest.raises(ValidationError):
            services.member_set_roles(
                actor=admin, collectivite=world.a, user_id=admin.pk, roles=[Role.LECTEUR]
            )
        with pytest.raises(ValidationError):
            services.member_remove(actor=admin, collectivite=world.a, user_id=admin.pk)
        assert roles(world, admin) == {Role.ADMIN}

    def test_remove_only_touches_this_collectivite(self, world: Any) -> None:
        person = world.members[Role.REDACTEUR]
        factories.MembershipFactory(collectivite=world.b, user=person, role=Role.REDACTEUR)
        services.member_remove(
            actor=world.members[Role.ADMIN], collectivite=world.a, user_id=person.pk
        )
        assert roles(world, person) == set()
        assert Membership.objects.for_collectivite(world.b).filter(user=person).exists()

    def test_a_non_member_cannot_be_given_roles(self, world: Any) -> None:
        with pytest.raises(ValidationError):
            services.member_set_roles(
                actor=world.members[Role.ADMIN],
                collectivite=world.a,
                user_id=world.outsider.pk,
                roles=[Role.ADMIN],
            )


class TestSettings:
    def test_account_saved_in_the_actors_collectivite(self, world: Any) -> None:
        audience = factories.AudienceFactory(collectivite=world.a)
        account = services.social_account_save(
            actor=world.members[Role.ADMIN],
            collectivite=world.a,
            data={
                "network": Network.MASTODON,
                "handle": "@ville@social.example",
                "display_name": "Ville A",
                "external_id": "",
                "status": SocialAccount.Status.DISCONNECTED,
                "audiences": [audience],
            },
        )
        assert account.collectivite == world.a
        assert list(account.audiences.all()) == [audience]

    def test_cannot_attach_another_collectivites_audience(self, world: Any) -> None:
        foreign = factories.AudienceFactory(collectivite=world.b)
        with pytest.raises(ValidationError):
            services.social_account_save(
                actor=world.members[Role.ADMIN],
                collectivite=world.a,
                data={
                    "network": Network.X,
                    "handle": "@villea",
                    "display_name": "Ville A",
                    "status": SocialAccount.Status.DISCONNECTED,
                    "audiences": [foreign],
                },
            )
        assert not SocialAccount.objects.for_collectivite(world.a).exists()

    def test_cannot_edit_another_collectivites_row_through_mine(self, world: Any) -> None:
        foreign = factories.SocialAccountFactory(collectivite=world.b)
        with pytest.raises(PermissionDenied):
            services.social_account_save(
                actor=world.members[Role.ADMIN],
                collectivite=world.a,
                data={"display_name": "piraté"},
                account=foreign,
            )
        foreign.refresh_from_db()
        assert foreign.display_name != "piraté"

    def test_editorial_line_for_foreign_account_is_refused(self, world: Any) -> None:
        foreign = factories.SocialAccountFactory(collectivite=world.b)
        with pytest.raises(ValidationError):
            services.editorial_line_save(
                actor=world.members[Role.ADMIN], collectivite=world.a, data={"account": foreign}
            )

    def test_duplicate_handle_is_a_validation_error(self, world: Any) -> None:
        factories.SocialAccountFactory(collectivite=world.a, network=Network.X, handle="@villea")
        with pytest.raises(ValidationError):
            services.social_account_save(
                actor=world.members[Role.ADMIN],
                collectivite=world.a,
                data={
                    "network": Network.X,
                    "handle": "@villea",
                    "display_name": "Doublon",
                    "status": SocialAccount.Status.DISCONNECTED,
                },
            )

    def test_charter_is_one_per_collectivite(self, world: Any) -> None:
        admin = world.members[Role.ADMIN]
        first = services.charter_save(
            actor=admin, collectivite=world.a, data={"response_target_hours": 12}
        )
        second = services.charter_save(
            actor=admin, collectivite=world.a, data={"response_target_hours": 6}
        )
        assert first.pk == second.pk and second.response_target_hours == 6

    def test_election_period_dates_are_checked(self, world: Any) -> None:
        with pytest.raises(ValidationError) as exc:
            services.election_period_save(
                actor=world.members[Role.ADMIN],
                collectivite=world.a,
                data={
                    "election": "municipales",
                    "label": "Municipales",
                    "starts_on": dt.date(2032, 3, 1),
                    "ends_on": dt.date(2031, 9, 1),
                },
            )
        assert "ends_on" in exc.value.error_dict

    def test_writers_cannot_change_settings(self, world: Any) -> None:
        with pytest.raises(PermissionDenied):
            services.charter_save(
                actor=world.members[Role.REDACTEUR], collectivite=world.a, data={}
            )
