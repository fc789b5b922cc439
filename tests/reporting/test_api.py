"""The reporting API: same figures as the pages, same tenancy and permissions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from collectivites.permissions import ROLE_CAPABILITIES, Capability, Role
from reporting.models import AccountMetricDay
from tests import factories
from tests.reporting.test_kpis import Val


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def val_world(world: Any) -> tuple[Any, Val]:
    v = Val()
    # the members of world A become members of the interco Val de Loue
    for role, user in world.members.items():
        factories.MembershipFactory(collectivite=v.interco, user=user, role=role)
    return world, v


def test_reporting_capabilities_matrix() -> None:
    everyone = set(Role.values)
    assert {r for r in Role.values if Capability.REPORTING_VIEW in ROLE_CAPABILITIES[r]} == everyone
    assert {r for r in Role.values if Capability.REPORTING_EXPORT in ROLE_CAPABILITIES[r]} == {
        Role.ADMIN,
        Role.REDACTEUR,
        Role.VALIDATEUR,
    }
    assert {r for r in Role.values if Capability.REPORTING_IMPORT in ROLE_CAPABILITIES[r]} == {
        Role.ADMIN
    }


def test_summary_for_a_month_of_an_interco(val_world: Any) -> None:
    world, v = val_world
    url = f"/api/v1/c/{v.interco.slug}/reporting/summary/?kind=month&year=2026&month=11"
    body = api(world.members[Role.LECTEUR]).get(url).json()
    assert body["period"] == {
        "start": "2026-11-01",
        "end": "2026-12-01",
        "kind": "month",
        "label": "novembre 2026",
    }
    assert body["previous_period"]["label"] == "octobre 2026"
    figures = {f["key"]: f for f in body["figures"]}
    assert figures["audience"]["value"] == 1280 and figures["audience"]["previous"] == 1210
    assert figures["reach_per_1000"]["unit"] == "per_1000_inhabitants"
    assert figures["response_time_median"]["sentence"].startswith(
        "Les habitants ont obtenu une réponse en 3 h en médiane"
    )
    assert figures["alerts_reach"]["previous"] is None


def test_detail_and_series_with_filters(val_world: Any) -> None:
    world, v = val_world
    client = api(world.members[Role.REDACTEUR])
    base = f"/api/v1/c/{v.interco.slug}/reporting"
    detail = client.get(f"{base}/detail/?start=2026-11-01&end=2026-11-30&network=mastodon")
    assert detail.status_code == 200
    body = detail.json()
    assert body["period"]["kind"] == "custom" and body["period"]["end"] == "2026-12-01"
    assert [a["network"] for a in body["accounts"]] == ["mastodon"]
    assert body["accounts"][0]["reach"] is None  # not provided, not 0
    assert {c["name"] for c in body["communes"]} == {"Val de Loue", "Aubel", "Brézolles"}

    series = client.get(
        f"{base}/series/?metric=reach&granularity=month&kind=quarter&year=2026&quarter=4"
        f"&account={v.fb.pk}"
    ).json()
    assert series["points"] == [
        {"date": "2026-10-01", "value": 500.0},
        {"date": "2026-11-01", "value": 1200.0},
        {"date": "2026-12-01", "value": 9999.0},
    ]


def test_detail_of_an_interco_by_commune(val_world: Any) -> None:
    """As the page: one row per commune and none per account until a filter; a commune
    gives its own figures and accounts."""
    world, v = val_world
    client = api(world.members[Role.REDACTEUR])
    base = f"/api/v1/c/{v.interco.slug}/reporting"
    body = client.get(f"{base}/detail/?periode=2026-11").json()
    assert body["accounts"] == [] and body["cadence"] == []
    assert [c["name"] for c in body["communes"]] == ["Val de Loue", "Aubel", "Brézolles"]
    body = client.get(f"{base}/detail/?periode=2026-11&commune={v.aubel.pk}").json()
    assert [a["account_id"] for a in body["accounts"]] == [v.fb.pk]
    assert body["communes"] == [] and len(body["cadence"]) == 1
    own = api(world.members[Role.REDACTEUR]).get(
        f"{base}/summary/?periode=2026-11&commune={v.brez.pk}"
    )
    assert {f["key"]: f["value"] for f in own.json()["figures"]}["audience"] == 230
    bad = client.get(f"{base}/detail/?commune={world.b.pk}")
    assert bad.status_code == 400
    assert bad.json() == {"commune": ["Commune inconnue dans cette intercommunalité."]}


def test_clear_french_validation_errors(val_world: Any) -> None:
    world, v = val_world
    client = api(world.members[Role.ADMIN])
    base = f"/api/v1/c/{v.interco.slug}/reporting"
    bad = client.get(f"{base}/summary/?kind=semaine")
    assert bad.status_code == 400
    assert bad.json() == {"kind": ["Type de période inconnu : « semaine »."]}
    bad = client.get(f"{base}/summary/?start=2026-11-10&end=2026-11-01")
    assert bad.json() == {"end": ["Le dernier jour précède le premier."]}
    bad = client.get(f"{base}/series/?metric=likes")
    assert bad.json() == {"metric": ["Indicateur inconnu : « likes »."]}
    # an account of another collectivité is unknown here
    other = factories.SocialAccountFactory(collectivite=world.b)
    bad = client.get(f"{base}/detail/?account={other.pk}")
    assert bad.json() == {"account": ["Compte inconnu dans cette collectivité."]}


def test_tenancy_a_commune_member_does_not_see_the_neighbours(val_world: Any) -> None:
    world, v = val_world
    AccountMetricDay.objects.create(
        collectivite=world.b,
        account=factories.SocialAccountFactory(collectivite=world.b),
        day=dt.date(2026, 11, 3),
        followers=777,
    )
    client = api(world.members[Role.LECTEUR])
    own = client.get(f"/api/v1/c/{world.a.slug}/reporting/summary/?year=2026&month=11").json()
    assert {f["key"]: f["value"] for f in own["figures"]}["audience"] is None
    assert client.get(f"/api/v1/c/{world.b.slug}/reporting/summary/").status_code == 404
    assert api(world.outsider).get(f"/api/v1/c/{v.interco.slug}/reporting/detail/").status_code == (
        404
    )


def test_import_through_the_api(world: Any) -> None:
    url = f"/api/v1/c/{world.a.slug}/reporting/web-analytics-import/"
    csv = (
        b"date;page;utm_source;utm_medium;visites\n2026-11-05;/agenda;facebook;social;12\nx;/;;;1\n"
    )
    admin = api(world.members[Role.ADMIN])
    response = admin.post(url, {"file": SimpleUploadedFile("v.csv", csv)}, format="multipart")
    assert response.status_code == 200
    assert response.json()["stored"] == 1 and response.json()["error_count"] == 1
    assert response.json()["errors"] == [
        "Ligne 3 : date illisible « x » (attendu AAAA-MM-JJ ou JJ/MM/AAAA)."
    ]
    missing = admin.post(url, {}, format="multipart")
    assert missing.status_code == 400
    assert missing.json() == {"file": ["Joignez le fichier CSV (champ file)."]}
    refused = admin.post(
        url, {"file": SimpleUploadedFile("v.csv", b"a;b\n1;2\n")}, format="multipart"
    )
    assert (
        refused.status_code == 400
        and "Colonnes introuvables" in refused.json()["non_field_errors"][0]
    )
    redacteur = api(world.members[Role.REDACTEUR])
    assert redacteur.post(url, {"file": SimpleUploadedFile("v.csv", csv)}).status_code == 403


def test_schema_lists_the_reporting_routes(world: Any) -> None:
    response = api(world.members[Role.ADMIN]).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for name in ("summary", "detail", "series", "web-analytics-import"):
        assert f"/api/v1/c/{{collectivite_slug}}/reporting/{name}/" in paths, name
    params = {
        p["name"]
        for p in paths["/api/v1/c/{collectivite_slug}/reporting/series/"]["get"]["parameters"]
    }
    assert {
        "kind",
        "year",
        "month",
        "quarter",
        "start",
        "end",
        "account",
        "network",
        "metric",
    } <= params
