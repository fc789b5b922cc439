"""Importing the collectivité's web-analytics export (CSV): the page, the service."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from collectivites.permissions import Role
from reporting import services
from reporting.models import WebAnalyticsRow

MATOMO = (
    "date;page;utm_source;utm_medium;utm_campaign;visites\n"
    "2026-11-05;https://aubel.example/agenda;facebook;social;marche-noel;42\n"
    "05/11/2026;https://aubel.example/agenda;Facebook;social;marche-noel;8\n"  # adds up
    "2026-11-06;https://aubel.example/piscine;instagram;social;;1 204\n"
)
AT_INTERNET = (
    "Jour,Page,Source de campagne,Support de campagne,Nom de campagne,Visites\r\n"
    "2026-11-07,https://aubel.example/agenda,linkedin,social,voeux,15\r\n"
)


def rows(collectivite: Any) -> dict[tuple[Any, ...], int]:
    return {
        (r.day, r.url, r.utm_source, r.utm_medium, r.utm_campaign): r.visits
        for r in WebAnalyticsRow.objects.for_collectivite(collectivite)
    }


def test_import_reads_common_exports_and_adds_up_same_lines(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    result = services.web_analytics_import(
        actor=admin, collectivite=world.a, data=MATOMO.encode("utf-8")
    )
    assert (result.rows, result.stored, result.error_count) == (3, 2, 0)
    services.web_analytics_import(
        actor=admin, collectivite=world.a, data=AT_INTERNET.encode("cp1252")
    )
    nov = dt.date(2026, 11, 5)
    assert rows(world.a) == {
        (nov, "https://aubel.example/agenda", "facebook", "social", "marche-noel"): 42 + 8,
        (dt.date(2026, 11, 6), "https://aubel.example/piscine", "instagram", "social", ""): 1204,
        (dt.date(2026, 11, 7), "https://aubel.example/agenda", "linkedin", "social", "voeux"): 15,
    }
    assert rows(world.b) == {}


def test_reimporting_the_same_file_changes_nothing(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    services.web_analytics_import(actor=admin, collectivite=world.a, data=MATOMO.encode())
    before = rows(world.a)
    services.web_analytics_import(actor=admin, collectivite=world.a, data=MATOMO.encode())
    assert rows(world.a) == before
    # a corrected figure for the same day, page and UTM replaces the earlier one
    fixed = "date;page;utm_source;utm_medium;utm_campaign;visites\n"
    fixed += "2026-11-06;https://aubel.example/piscine;instagram;social;;1300\n"
    services.web_analytics_import(actor=admin, collectivite=world.a, data=fixed.encode())
    assert (
        rows(world.a)[
            (dt.date(2026, 11, 6), "https://aubel.example/piscine", "instagram", "social", "")
        ]
        == 1300
    )
    assert len(rows(world.a)) == 2


def test_utm_in_the_page_address_is_enough(world: Any) -> None:
    data = (
        "Date\tURL de la page\tNb visites\n"
        "2026-11-08\thttps://aubel.example/agenda?id=3&utm_source=mastodon"
        "&utm_medium=social&utm_campaign=noel\t7\n"
    )
    services.web_analytics_import(
        actor=world.members[Role.ADMIN], collectivite=world.a, data=data.encode()
    )
    assert rows(world.a) == {
        (dt.date(2026, 11, 8), "https://aubel.example/agenda?id=3", "mastodon", "social", "noel"): 7
    }


def test_bad_lines_are_listed_in_french_and_good_ones_kept(world: Any) -> None:
    data = (
        "date;page;utm_source;utm_medium;utm_campaign;visites\n"
        "2026-11-05;https://aubel.example/;facebook;social;;12\n"
        "31/13/2026;https://aubel.example/;facebook;social;;3\n"
        "2026-11-06;https://aubel.example/;facebook;social;;beaucoup\n"
    )
    result = services.web_analytics_import(
        actor=world.members[Role.ADMIN], collectivite=world.a, data=data.encode()
    )
    assert (result.stored, result.error_count) == (1, 2)
    assert result.errors == [
        "Ligne 3 : date illisible « 31/13/2026 » (attendu AAAA-MM-JJ ou JJ/MM/AAAA).",
        "Ligne 4 : nombre de visites illisible « beaucoup » (attendu un entier positif).",
    ]
    assert len(rows(world.a)) == 1


def test_a_file_without_the_needed_columns_is_refused_whole(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    with pytest.raises(ValidationError) as caught:
        services.web_analytics_import(
            actor=admin, collectivite=world.a, data=b"jour;pages vues\n2026-11-05;3\n"
        )
    assert "Colonnes introuvables : visites" in caught.value.messages[0]
    with pytest.raises(ValidationError) as caught:
        services.web_analytics_import(actor=admin, collectivite=world.a, data=b"")
    assert caught.value.messages == ["Le fichier est vide."]
    assert rows(world.a) == {}


def test_only_admins_import(world: Any) -> None:
    for role in (Role.REDACTEUR, Role.VALIDATEUR, Role.MODERATEUR, Role.LECTEUR):
        with pytest.raises(PermissionDenied):
            services.web_analytics_import(
                actor=world.members[role], collectivite=world.a, data=MATOMO.encode()
            )
    with pytest.raises(PermissionDenied):
        services.web_analytics_import(
            actor=world.outsider, collectivite=world.a, data=MATOMO.encode()
        )


def test_the_import_page(world: Any) -> None:
    url = f"/c/{world.a.slug}/rapports/import/"
    admin = world.client(world.members[Role.ADMIN])
    page = admin.get(url)
    assert page.status_code == 200
    assert "Importer les visites du site" in page.content.decode()
    assert "Aucun export importé" in page.content.decode()

    upload = SimpleUploadedFile("visites.csv", MATOMO.encode(), content_type="text/csv")
    response = admin.post(url, {"file": upload}, follow=True)
    body = response.content.decode()
    assert "2 ligne(s) enregistrée(s), 0 ligne(s) refusée(s)." in body
    assert "2 lignes, 1254 visites" in body

    bad = "date;page;visites\n2026-11-05;/;12\nhier;/;3\n"
    upload = SimpleUploadedFile("visites.csv", bad.encode(), content_type="text/csv")
    response = admin.post(url, {"file": upload})
    assert response.status_code == 200
    assert "Ligne 3 : date illisible « hier »" in response.content.decode()

    upload = SimpleUploadedFile("visites.csv", b"a;b\n1;2\n", content_type="text/csv")
    response = admin.post(url, {"file": upload})
    assert response.status_code == 200
    assert "Colonnes introuvables" in response.content.decode()

    assert world.client(world.members[Role.LECTEUR]).get(url).status_code == 403
    assert world.client(world.outsider).get(url).status_code == 404
