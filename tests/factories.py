"""Factories for every model (later issues add theirs here or in tests/<app>/factories.py)."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from collectivites.models import (
    Audience,
    Collectivite,
    EditorialLine,
    ElectionPeriod,
    Invitation,
    Membership,
    ModerationCharter,
    SocialAccount,
)
from collectivites.permissions import Role
from networks.registry import Network

PASSWORD = "un-mot-de-passe-de-test"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    email = factory.Sequence(lambda n: f"agent{n}@mairie.example")
    username = factory.SelfAttribute("email")
    first_name = factory.Faker("first_name", locale="fr_FR")
    last_name = factory.Faker("last_name", locale="fr_FR")
    password = factory.django.Password(PASSWORD)


class CollectiviteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collectivite

    name = factory.Sequence(lambda n: f"Commune {n}")
    slug = factory.Sequence(lambda n: f"commune-{n}")
    kind = Collectivite.Kind.COMMUNE
    official_code = factory.Sequence(lambda n: f"{10000 + n:05d}")
    population = 8000


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    collectivite = factory.SubFactory(CollectiviteFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.REDACTEUR


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    collectivite = factory.SubFactory(CollectiviteFactory)
    email = factory.Sequence(lambda n: f"invite{n}@mairie.example")
    roles = factory.LazyFunction(lambda: [Role.LECTEUR])
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))


class AudienceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Audience

    collectivite = factory.SubFactory(CollectiviteFactory)
    name = factory.Sequence(lambda n: f"Public {n}")
    description = "Habitants du centre-ville"
    age_bands = factory.LazyFunction(lambda: ["35_49"])
    networks = factory.LazyFunction(lambda: [Network.FACEBOOK])


class SocialAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SocialAccount

    collectivite = factory.SubFactory(CollectiviteFactory)
    network = Network.SANDBOX
    handle = factory.Sequence(lambda n: f"@ville{n}")
    display_name = factory.Sequence(lambda n: f"Ville {n}")
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    status = SocialAccount.Status.CONNECTED


class EditorialLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EditorialLine

    account = factory.SubFactory(SocialAccountFactory)
    collectivite = factory.SelfAttribute("account.collectivite")
    tone = "Chaleureux"
    cadence_per_week = 3
    hashtags = "#MaVille"
    words_to_avoid = "gratuit"
    signature = "— La mairie"


class ModerationCharterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModerationCharter

    collectivite = factory.SubFactory(CollectiviteFactory)
    public_text = "Soyez courtois."
    response_target_hours = 24


class ElectionPeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ElectionPeriod

    collectivite = factory.SubFactory(CollectiviteFactory)
    election = ElectionPeriod.Election.MUNICIPALES
    label = "Municipales"
    starts_on = dt.date(2031, 9, 1)
    ends_on = dt.date(2032, 3, 21)


class PublicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "publishing.Publication"

    collectivite = factory.SubFactory(CollectiviteFactory)
    title = factory.Sequence(lambda n: f"Publication {n}")
    author = factory.SubFactory(UserFactory)


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "publishing.Variant"

    publication = factory.SubFactory(PublicationFactory)
    collectivite = factory.SelfAttribute("publication.collectivite")
    account = factory.SubFactory(
        SocialAccountFactory, collectivite=factory.SelfAttribute("..collectivite")
    )
    text = "La médiathèque ouvre ses portes samedi de 10 h à 18 h."


class MediaAssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "publishing.MediaAsset"

    collectivite = factory.SubFactory(CollectiviteFactory)
    file = factory.django.FileField(filename="affiche.png", data=b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    kind = "image"
    mime_type = "image/png"
    size = 72
    alt_text = "Affiche de la fête de la musique"


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "publishing.Review"

    publication = factory.SubFactory(PublicationFactory)
    collectivite = factory.SelfAttribute("publication.collectivite")
    reviewer = factory.SubFactory(UserFactory)
    decision = "submitted"
