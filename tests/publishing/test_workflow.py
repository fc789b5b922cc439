"""Writing, submitting, validating and sending back, with each role's rights."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from collectivites.models import Notification
from collectivites.permissions import Role
from publishing import services
from publishing.forms import local_to_utc
from publishing.models import Review, Variant, VariantEvent
from tests import factories

pytestmark = pytest.mark.django_db
S = Variant.State


@pytest.fixture
def accounts(world: Any) -> list[Any]:
    return [
        factories.SocialAccountFactory(collectivite=world.a, network="sandbox", handle="@fb"),
        factories.SocialAccountFactory(collectivite=world.a, network="sandbox", handle="@ig"),
    ]


def create(world: Any, accounts: list[Any], author_role: str = Role.REDACTEUR) -> Any:
    return services.publication_create(
        actor=world.members[author_role],
        collectivite=world.a,
        title="Fête de la musique",
        text="Rendez-vous place de la Mairie le 21 juin !",
        account_ids=[a.pk for a in accounts],
        scheduled_at=dt.datetime(2027, 6, 20, 8, 0, tzinfo=dt.UTC),
    )


def states(publication: Any) -> list[str]:
    return sorted(
        Variant.objects.for_collectivite(publication.collectivite)
        .filter(publication=publication)
        .values_list("state", flat=True)
    )


def test_write_once_one_variant_per_account(world: Any, accounts: list[Any]) -> None:
    publication = create(world, accounts)
    variants = Variant.objects.for_collectivite(world.a).filter(publication=publication)
    assert variants.count() == 2
    assert {v.text for v in variants} == {"Rendez-vous place de la Mairie le 21 juin !"}
    assert states(publication) == [S.DRAFT, S.DRAFT]


def test_accounts_of_another_collectivite_are_refused(world: Any) -> None:
    foreign = factories.SocialAccountFactory(collectivite=world.b)
    with pytest.raises(ValidationError):
        create(world, [foreign])


@pytest.mark.parametrize("role", [Role.LECTEUR, Role.MODERATEUR, Role.ADMIN])
def test_who_cannot_write(world: Any, accounts: list[Any], role: str) -> None:
    with pytest.raises(PermissionDenied):
        create(world, accounts, author_role=role)


def test_one_step_validation(world: Any, accounts: list[Any]) -> None:
    world.a.validation_steps = 1
    world.a.save()
    publication = create(world, accounts)
    services.publication_submit(actor=world.members[Role.REDACTEUR], publication=publication)
    assert states(publication) == [S.IN_REVIEW, S.IN_REVIEW]
    assert (
        Notification.objects.for_collectivite(world.a)
        .filter(user=world.members[Role.VALIDATEUR])
        .exists()
    )
    with pytest.raises(PermissionDenied):
        services.publication_approve(actor=world.members[Role.REDACTEUR], publication=publication)
    services.publication_approve(actor=world.members[Role.VALIDATEUR], publication=publication)
    assert states(publication) == [S.APPROVED, S.APPROVED]
    events = VariantEvent.objects.for_collectivite(world.a).filter(to_state=S.APPROVED)
    assert {e.actor for e in events} == {world.members[Role.VALIDATEUR]}


def test_two_steps_need_two_different_people(world: Any, accounts: list[Any]) -> None:
    world.a.validation_steps = 2
    world.a.save()
    cabinet = factories.UserFactory(email="cabinet@a.example")
    factories.MembershipFactory(collectivite=world.a, user=cabinet, role=Role.VALIDATEUR)
    publication = create(world, accounts)
    services.publication_submit(actor=world.members[Role.REDACTEUR], publication=publication)
    services.publication_approve(actor=world.members[Role.VALIDATEUR], publication=publication)
    assert states(publication) == [S.IN_REVIEW, S.IN_REVIEW]
    with pytest.raises(ValidationError, match="autre personne"):
        services.publication_approve(actor=world.members[Role.VALIDATEUR], publication=publication)
    services.publication_approve(actor=cabinet, publication=publication)
    assert states(publication) == [S.APPROVED, S.APPROVED]


def test_no_validation_goes_straight_to_approved(world: Any, accounts: list[Any]) -> None:
    world.a.validation_steps = 0
    world.a.save()
    publication = create(world, accounts)
    services.publication_submit(actor=world.members[Role.REDACTEUR], publication=publication)
    assert states(publication) == [S.APPROVED, S.APPROVED]


def test_send_back_needs_a_comment_the_author_sees(world: Any, accounts: list[Any]) -> None:
    publication = create(world, accounts)
    services.publication_submit(actor=world.members[Role.REDACTEUR], publication=publication)
    validator = world.members[Role.VALIDATEUR]
    with pytest.raises(ValidationError):
        services.publication_send_back(actor=validator, publication=publication, comment=" ")
    services.publication_send_back(
        actor=validator, publication=publication, comment="Précisez l'horaire, merci."
    )
    assert states(publication) == [S.DRAFT, S.DRAFT]
    note = Notification.objects.for_collectivite(world.a).get(user=world.members[Role.REDACTEUR])
    assert "Précisez l'horaire" in note.message
    assert Review.objects.for_collectivite(world.a).filter(decision="sent_back").count() == 1


def test_editing_an_approved_variant_sends_it_back_to_review(
    world: Any, accounts: list[Any]
) -> None:
    publication = create(world, accounts)
    services.publication_submit(actor=world.members[Role.REDACTEUR], publication=publication)
    services.publication_approve(actor=world.members[Role.VALIDATEUR], publication=publication)
    variant = Variant.objects.for_collectivite(world.a).filter(publication=publication).first()
    services.variant_update(
        actor=world.members[Role.REDACTEUR], variant=variant, data={"text": "Nouveau texte"}
    )
    assert states(publication) == [S.IN_REVIEW, S.IN_REVIEW]


def test_state_machine_refuses_impossible_moves(world: Any, accounts: list[Any]) -> None:
    publication = create(world, accounts)
    variant = Variant.objects.for_collectivite(world.a).filter(publication=publication).first()
    with pytest.raises(ValidationError):
        services.transition(variant, S.PUBLISHED, actor=None)


def test_compare_and_set_detects_a_concurrent_change(world: Any, accounts: list[Any]) -> None:
    publication = create(world, accounts)
    variant = Variant.objects.for_collectivite(world.a).filter(publication=publication).first()
    stale = Variant.objects.for_collectivite(world.a).get(pk=variant.pk)
    services.variant_cancel(actor=world.members[Role.REDACTEUR], variant=variant)
    with pytest.raises(services.Conflict):
        services.transition(stale, S.IN_REVIEW, actor=None)


@pytest.mark.parametrize(
    ("day", "expected_utc_hour"),
    [
        (dt.date(2026, 3, 28), 8),  # the day before summer time: UTC+1
        (dt.date(2026, 3, 29), 7),  # summer time starts at 02:00: UTC+2
        (dt.date(2026, 10, 24), 7),  # last day of summer time
        (dt.date(2026, 10, 25), 8),  # winter time again
    ],
)
def test_nine_oclock_in_paris_across_daylight_saving(day: dt.date, expected_utc_hour: int) -> None:
    utc = local_to_utc(day, dt.time(9, 0), "Europe/Paris")
    assert (utc.date(), utc.hour) == (day, expected_utc_hour)


def test_a_time_that_does_not_exist_moves_forward() -> None:
    utc = local_to_utc(dt.date(2026, 3, 29), dt.time(2, 30), "Europe/Paris")
    assert utc == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)  # 03:30 summer time


def test_blocking_findings_stop_the_submission(world: Any, accounts: list[Any]) -> None:
    publication = services.publication_create(
        actor=world.members[Role.REDACTEUR],
        collectivite=world.a,
        title="Trop long",
        text="𝐁𝐨𝐧𝐣𝐨𝐮𝐫 à tous",  # "fancy" letters that screen readers spell out
        account_ids=[accounts[0].pk],
    )
    with pytest.raises(ValidationError) as exc:
        services.publication_submit(actor=world.members[Role.REDACTEUR], publication=publication)
    assert "Corrigez d'abord" in exc.value.messages[0]
    assert states(publication) == [S.DRAFT]


def test_pre_election_content_needs_an_acknowledgement_that_is_recorded(
    world: Any, accounts: list[Any]
) -> None:
    factories.ElectionPeriodFactory(
        collectivite=world.a,
        label="Municipales 2027",
        starts_on=dt.date(2026, 9, 1),
        ends_on=dt.date(2027, 3, 21),
        candidates="Jeanne Dupont",
    )
    publication = services.publication_create(
        actor=world.members[Role.REDACTEUR],
        collectivite=world.a,
        title="Bilan",
        text="Le bilan de l'année : promesse tenue pour la nouvelle piscine !",
        account_ids=[accounts[0].pk],
        scheduled_at=dt.datetime(2027, 1, 10, 9, tzinfo=dt.UTC),
    )
    services.publication_submit(actor=world.members[Role.REDACTEUR], publication=publication)
    validator = world.members[Role.VALIDATEUR]
    with pytest.raises(ValidationError, match="Période pré-électorale"):
        services.publication_approve(actor=validator, publication=publication)
    assert states(publication) == [S.IN_REVIEW]
    services.publication_approve(
        actor=validator, publication=publication, acknowledge_election=True
    )
    variant = Variant.objects.for_collectivite(world.a).get(publication=publication)
    assert variant.state == S.APPROVED
    assert variant.election_acknowledged_by == validator
    assert Review.objects.for_collectivite(world.a).filter(decision="election_ack").exists()


def test_named_validators_for_each_step(world: Any, accounts: list[Any]) -> None:
    world.a.validation_steps = 2
    world.a.save()
    dircom = world.members[Role.VALIDATEUR]
    cabinet = factories.UserFactory(email="cabinet@a.example")
    factories.MembershipFactory(collectivite=world.a, user=cabinet, role=Role.VALIDATEUR)
    world.a.first_step_validators.set([dircom])
    world.a.second_step_validators.set([cabinet])
    publication = create(world, accounts)
    services.publication_submit(actor=world.members[Role.REDACTEUR], publication=publication)
    assert not Notification.objects.for_collectivite(world.a).filter(user=cabinet).exists()
    with pytest.raises(ValidationError, match="personnes désignées"):
        services.publication_approve(actor=cabinet, publication=publication)
    services.publication_approve(actor=dircom, publication=publication)
    assert Notification.objects.for_collectivite(world.a).filter(user=cabinet).exists()
    with pytest.raises(ValidationError, match="personnes désignées"):
        services.publication_approve(actor=dircom, publication=publication)
    services.publication_approve(actor=cabinet, publication=publication)
    assert states(publication) == [S.APPROVED, S.APPROVED]


def test_only_validators_can_be_named(world: Any) -> None:
    from collectivites import services as settings_services

    with pytest.raises(ValidationError):
        settings_services.collectivite_update(
            actor=world.members[Role.ADMIN],
            collectivite=world.a,
            data={"first_step_validators": [world.members[Role.LECTEUR]]},
        )
