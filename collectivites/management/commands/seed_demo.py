"""Load the demo: an intercommunalité and one of its communes, members of every role,
sandbox accounts, editorial lines, audiences, a charter. Idempotent: running it again
changes nothing that is already there (and never touches other data)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from collectivites.models import (
    Audience,
    Collectivite,
    EditorialLine,
    ElectionPeriod,
    Membership,
    ModerationCharter,
    SocialAccount,
)
from collectivites.permissions import Role
from networks.adapters.sandbox import sandbox_external_id
from networks.registry import Network

DEMO_PASSWORD = "parvis-demo"  # noqa: S105 -- demo data, printed on purpose

INTERCO = {
    "slug": "val-des-tilleuls",
    "name": "Communauté de communes du Val des Tilleuls",
    "kind": Collectivite.Kind.INTERCOMMUNALITE,
    "official_code": "200000172",
    "population": 48210,
    "website_url": "https://www.cc-val-des-tilleuls.example",
    "validation_steps": Collectivite.ValidationSteps.TWO,
}
COMMUNE = {
    "slug": "saint-aubin",
    "name": "Saint-Aubin-des-Tilleuls",
    "kind": Collectivite.Kind.COMMUNE,
    "official_code": "99123",
    "population": 12480,
    "website_url": "https://www.saint-aubin-des-tilleuls.example",
    "validation_steps": Collectivite.ValidationSteps.ONE,
}

# e-mail, first name, last name, {collectivité slug: roles}
PEOPLE: list[tuple[str, str, str, dict[str, list[str]]]] = [
    (
        "admin@demo.parvis.fr",
        "Claire",
        "Martin",
        {COMMUNE["slug"]: [Role.ADMIN], INTERCO["slug"]: [Role.ADMIN]},
    ),
    ("redaction@demo.parvis.fr", "Yanis", "Benali", {COMMUNE["slug"]: [Role.REDACTEUR]}),
    ("dircom@demo.parvis.fr", "Sophie", "Lefèvre", {COMMUNE["slug"]: [Role.VALIDATEUR]}),
    ("moderation@demo.parvis.fr", "Léa", "Nguyen", {COMMUNE["slug"]: [Role.MODERATEUR]}),
    ("elu@demo.parvis.fr", "Bernard", "Roussel", {COMMUNE["slug"]: [Role.LECTEUR]}),
    (
        "interco@demo.parvis.fr",
        "Karim",
        "Dubois",
        {
            INTERCO["slug"]: [Role.REDACTEUR, Role.VALIDATEUR, Role.MODERATEUR],
            COMMUNE["slug"]: [Role.REDACTEUR, Role.MODERATEUR],
        },
    ),
]

AUDIENCES = [
    (
        "Seniors",
        "Habitants de plus de 65 ans, très présents sur Facebook.",
        ["65_plus"],
        ["facebook"],
    ),
    (
        "Familles",
        "Parents d'enfants scolarisés : écoles, cantine, centre de loisirs.",
        ["25_34", "35_49"],
        ["facebook", "instagram"],
    ),
    (
        "Jeunes",
        "Lycéens et étudiants : sport, culture, mobilités.",
        ["moins_18", "18_24"],
        ["instagram"],
    ),
    (
        "Acteurs économiques",
        "Commerçants, artisans, entreprises du territoire.",
        ["35_49", "50_64"],
        ["linkedin"],
    ),
]

ACCOUNTS = [
    # network, handle, display name, audiences, line
    (
        Network.SANDBOX,
        "@saintaubin.facebook",
        "Ville de Saint-Aubin (Facebook)",
        ["Seniors", "Familles"],
        {
            "tone": "Chaleureux et pratique",
            "cadence_per_week": 4,
            "hashtags": "#SaintAubin, #VivreASaintAubin",
            "words_to_avoid": "gratuit, révolutionnaire",
            "signature": "— Ville de Saint-Aubin",
        },
    ),
    (
        Network.SANDBOX,
        "@saintaubin.instagram",
        "Ville de Saint-Aubin (Instagram)",
        ["Jeunes", "Familles"],
        {
            "tone": "Visuel et enjoué",
            "cadence_per_week": 3,
            "address_form": EditorialLine.AddressForm.TUTOIEMENT,
            "hashtags": "#SaintAubin, #SortirASaintAubin",
        },
    ),
    (
        Network.SANDBOX,
        "@saintaubin.linkedin",
        "Ville de Saint-Aubin (LinkedIn)",
        ["Acteurs économiques"],
        {"tone": "Professionnel", "cadence_per_week": 1, "hashtags": "#Emploi, #Attractivité"},
    ),
]


class Command(BaseCommand):
    help = "Charge les données de démonstration (idempotent) et affiche les identifiants."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        interco = self._collectivite(INTERCO)
        commune = self._collectivite({**COMMUNE, "parent": interco})
        by_slug = {interco.slug: interco, commune.slug: commune}

        User = get_user_model()
        for email, first, last, memberships in PEOPLE:
            user = User.objects.filter(username=email).first()
            if user is None:
                user = User.objects.create_user(
                    username=email,
                    email=email,
                    password=DEMO_PASSWORD,
                    first_name=first,
                    last_name=last,
                )
            for slug, roles in memberships.items():
                for role in roles:
                    Membership.objects.get_or_create(
                        collectivite=by_slug[slug], user=user, role=role
                    )

        audiences = {}
        for name, description, ages, networks in AUDIENCES:
            audiences[name], _created = Audience.objects.for_collectivite(commune).get_or_create(
                collectivite=commune,
                name=name,
                defaults={"description": description, "age_bands": ages, "networks": networks},
            )

        for network, handle, display, audience_names, line in ACCOUNTS:
            account, created = SocialAccount.objects.for_collectivite(commune).get_or_create(
                collectivite=commune,
                network=network,
                handle=handle,
                defaults={
                    "display_name": display,
                    "external_id": sandbox_external_id(handle),
                    "status": SocialAccount.Status.CONNECTED,
                    "credentials": {"token": secrets.token_urlsafe(24)},
                },
            )
            if created:
                account.audiences.set([audiences[n] for n in audience_names])
                editorial = EditorialLine.objects.create(
                    collectivite=commune, account=account, **line
                )
                editorial.target_audiences.set([audiences[n] for n in audience_names])

        SocialAccount.objects.for_collectivite(interco).get_or_create(
            collectivite=interco,
            network=Network.SANDBOX,
            handle="@valdestilleuls",
            defaults={
                "display_name": "Val des Tilleuls",
                "external_id": sandbox_external_id("@valdestilleuls"),
                "status": SocialAccount.Status.CONNECTED,
                "credentials": {"token": secrets.token_urlsafe(24)},
            },
        )

        ModerationCharter.objects.for_collectivite(commune).get_or_create(
            collectivite=commune,
            defaults={
                "public_text": (
                    "Cette page est un espace d'échange avec la Ville de Saint-Aubin. "
                    "Nous répondons à vos questions du lundi au vendredi. Les messages "
                    "injurieux, diffamatoires, publicitaires ou contenant des données "
                    "personnelles sont masqués."
                ),
                "response_target_hours": 24,
            },
        )
        ElectionPeriod.objects.for_collectivite(commune).get_or_create(
            collectivite=commune,
            label="Élections municipales 2032",
            defaults={
                "election": ElectionPeriod.Election.MUNICIPALES,
                "starts_on": dt.date(2031, 9, 1),
                "ends_on": dt.date(2032, 3, 21),
                "scope": "Commune",
            },
        )

        self._publications(commune, by_slug)
        self._metrics([commune, interco])

        self.stdout.write(self.style.SUCCESS("Démo prête."))
        self.stdout.write(f"Identifiants de démonstration (mot de passe : {DEMO_PASSWORD}) :")
        for email, first, last, memberships in PEOPLE:
            roles = "; ".join(
                f"{by_slug[slug].name} : {', '.join(roles)}" for slug, roles in memberships.items()
            )
            self.stdout.write(f"  {email:<28} {first} {last} — {roles}")

    def _collectivite(self, values: dict[str, Any]) -> Collectivite:
        slug = values["slug"]
        collectivite, _created = Collectivite.objects.get_or_create(
            slug=slug, defaults={k: v for k, v in values.items() if k != "slug"}
        )
        return collectivite

    def _publications(self, commune: Collectivite, by_slug: dict[str, Collectivite]) -> None:
        """A few publications in every state, so the calendar and the lists are not empty.
        The approved one is due: the first beat tick publishes it on the sandbox."""
        from django.utils import timezone

        from publishing.models import PostingSlot, Publication, Variant

        User = get_user_model()
        author = User.objects.get(username="redaction@demo.parvis.fr")
        accounts = list(SocialAccount.objects.for_collectivite(commune).order_by("handle"))
        facebook = next(a for a in accounts if "facebook" in a.handle)
        for weekday in (1, 3):
            PostingSlot.objects.for_collectivite(commune).get_or_create(
                collectivite=commune, account=facebook, weekday=weekday, time=dt.time(12, 0)
            )
        now = timezone.now()
        plans = [
            (
                "Réouverture de la piscine",
                "La piscine municipale rouvre ses portes lundi à 9 h après deux mois de travaux. "
                "Horaires et tarifs sur le site de la ville.",
                Variant.State.APPROVED,
                now - dt.timedelta(minutes=1),
            ),
            (
                "Marché de Noël",
                "Le marché de Noël s'installe place de la Mairie du 12 au 24 décembre : "
                "artisans, chorales et chalets gourmands.",
                Variant.State.IN_REVIEW,
                now + dt.timedelta(days=3),
            ),
            (
                "Collecte des encombrants",
                "Prochaine collecte des encombrants mardi dans le quartier des Tilleuls. "
                "Inscription en mairie jusqu'à vendredi.",
                Variant.State.DRAFT,
                now + dt.timedelta(days=6),
            ),
        ]
        for title, text, state, when in plans:
            publication, created = Publication.objects.for_collectivite(commune).get_or_create(
                collectivite=commune,
                title=title,
                defaults={"author": author, "campaign": "Vie locale"},
            )
            if not created:
                continue
            for account in accounts:
                Variant.objects.create(
                    collectivite=commune,
                    publication=publication,
                    account=account,
                    text=text,
                    scheduled_at=when,
                    state=state,
                )

    def _metrics(self, collectivites: list[Collectivite]) -> None:
        """About 90 days of plausible, deterministic figures (the same on every machine),
        so the dashboards show something from the first ``make run``: daily account
        metrics, a published post a few times a week with its metrics, answered messages,
        and visits to the site from the networks. Only added where nothing is there yet."""
        import random
        import zoneinfo

        from django.utils import timezone

        from monitoring.models import Citizen, InboxItem
        from publishing.models import Publication, Variant
        from reporting.models import AccountMetricDay, PostMetricDay, WebAnalyticsRow

        days = 90
        author = get_user_model().objects.get(username="redaction@demo.parvis.fr")
        subjects = [
            ("Conseil municipal", "Le conseil municipal se réunit jeudi à 19 h, en direct."),
            ("Travaux rue Pasteur", "Circulation alternée rue Pasteur jusqu'à vendredi."),
            ("Fête du sport", "Dimanche, initiations gratuites au parc des Tilleuls."),
            ("Vaccination", "Permanence de vaccination au centre social mercredi."),
            ("Médiathèque", "Nouveaux horaires de la médiathèque à partir de lundi."),
            ("Collecte des déchets", "Jour férié : la collecte est décalée au lendemain."),
        ]
        questions = [
            ("Bonjour, à quelle heure ouvre la mairie samedi ?", "question"),
            ("La lampe de la rue des Écoles est en panne depuis une semaine.", "reclamation"),
            ("Merci pour cette belle fête, bravo aux bénévoles !", "positif"),
            ("Comment s'inscrire à la cantine pour la rentrée ?", "question"),
        ]
        for collectivite in collectivites:
            zone = zoneinfo.ZoneInfo(collectivite.time_zone)
            today = timezone.now().astimezone(zone).date()
            first = today - dt.timedelta(days=days)
            accounts = list(SocialAccount.objects.for_collectivite(collectivite).order_by("pk"))
            metric_rows: list[AccountMetricDay] = []
            for account in accounts:
                if (
                    AccountMetricDay.objects.for_collectivite(collectivite)
                    .filter(account=account)
                    .exists()
                ):
                    continue
                rng = random.Random(f"demo-metrics-{account.handle}")  # noqa: S311
                followers = rng.randint(900, 6000)
                for n in range(days):
                    followers += rng.randint(-2, 9)
                    impressions = int(followers * rng.uniform(0.2, 0.9))
                    metric_rows.append(
                        AccountMetricDay(
                            collectivite=collectivite,
                            account=account,
                            day=first + dt.timedelta(days=n),
                            followers=followers,
                            impressions=impressions,
                            reach=int(impressions * rng.uniform(0.55, 0.8)),
                            profile_visits=rng.randint(5, 60),
                            link_clicks=rng.randint(0, 40),
                        )
                    )
            AccountMetricDay.objects.bulk_create(metric_rows, ignore_conflicts=True)

            if (
                Publication.objects.for_collectivite(collectivite)
                .filter(title__startswith="Archive · ")
                .exists()
            ):
                continue
            rng = random.Random(f"demo-posts-{collectivite.slug}")  # noqa: S311
            citizen, _created = Citizen.objects.for_collectivite(collectivite).get_or_create(
                collectivite=collectivite,
                network=Network.SANDBOX,
                external_id="demo-habitant",
                defaults={"handle": "@habitant", "display_name": "Camille Habitant"},
            )
            post_rows: list[PostMetricDay] = []
            items: list[InboxItem] = []
            web_rows: list[WebAnalyticsRow] = []
            for n in range(3, days, 3):
                day = first + dt.timedelta(days=n)
                title, text = subjects[n % len(subjects)]
                published_at = dt.datetime.combine(day, dt.time(11, 30), zone)
                publication = Publication.objects.create(
                    collectivite=collectivite,
                    title=f"Archive · {title} ({day:%d/%m})",
                    author=author,
                    campaign="Vie locale",
                    urgent=n % 27 == 0,
                )
                for account in accounts:
                    variant = Variant.objects.create(
                        collectivite=collectivite,
                        publication=publication,
                        account=account,
                        text=text,
                        scheduled_at=published_at,
                        published_at=published_at,
                        state=Variant.State.PUBLISHED,
                        external_id=f"demo-{collectivite.slug}-{n}-{account.pk}",
                    )
                    impressions = rng.randint(300, 4000)
                    post_rows.append(
                        PostMetricDay(
                            collectivite=collectivite,
                            variant=variant,
                            day=min(day + dt.timedelta(days=2), today),
                            impressions=impressions,
                            reach=int(impressions * rng.uniform(0.6, 0.85)),
                            reactions=int(impressions * rng.uniform(0.01, 0.06)),
                            comments=rng.randint(0, 25),
                            shares=rng.randint(0, 15),
                            saves=None,
                            link_clicks=rng.randint(0, 60),
                            video_views=None,
                        )
                    )
                text_, label = questions[n % len(questions)]
                created = published_at + dt.timedelta(hours=2)
                answered = created + dt.timedelta(hours=rng.choice([1, 2, 3, 5, 8, 20]))
                items.append(
                    InboxItem(
                        collectivite=collectivite,
                        account=accounts[n % len(accounts)],
                        network=Network.SANDBOX,
                        kind=InboxItem.Kind.COMMENT,
                        external_id=f"demo-item-{collectivite.slug}-{n}",
                        citizen=citizen,
                        text=text_,
                        created_at=created,
                        labels=[{"code": label, "score": 0.8, "reasons": []}],
                        needs_answer=label != "positif",
                        first_response_at=answered if label != "positif" else None,
                        status=InboxItem.Status.CLOS if n % 2 else InboxItem.Status.REPONDU,
                    )
                )
                for source in ("facebook", "instagram", "linkedin"):
                    web_rows.append(
                        WebAnalyticsRow(
                            collectivite=collectivite,
                            day=day,
                            url=f"{collectivite.website_url or 'https://www.ville.example'}/actualites",
                            utm_source=source,
                            utm_medium="social",
                            utm_campaign="vie-locale",
                            visits=rng.randint(5, 120),
                        )
                    )
            PostMetricDay.objects.bulk_create(post_rows, ignore_conflicts=True)
            InboxItem.objects.bulk_create(items, ignore_conflicts=True)
            WebAnalyticsRow.objects.bulk_create(web_rows, ignore_conflicts=True)
