"""Periods named one way everywhere (``periode`` in the pages, the downloads and the KPI API,
with a custom range of days), and the monthly e-mail's delivery record (at most once)."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client
from rest_framework.test import APIClient

from collectivites.models import Notification
from collectivites.permissions import Role
from reporting import kpis, services
from reporting.forms import parse_period, period_param
from reporting.kpis import Period
from reporting.models import ReportDelivery
from tests import factories
from tests.reporting.test_kpis import NOV, Val

TODAY = dt.date(2026, 12, 10)


@pytest.fixture
def val(db: Any) -> Val:
    return Val()


@pytest.fixture(autouse=True)
def _today(freezer: Any) -> None:
    freezer.move_to("2026-12-10 10:00:00")


def _member(collectivite: Any, role: str, email: str) -> Any:
    user = factories.UserFactory(email=email)
    factories.MembershipFactory(collectivite=collectivite, user=user, role=role)
    return user


def _page(user: Any, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url, follow=True)
    assert response.status_code == 200
    return html.unescape(response.content.decode()).replace("\xa0", " ")


# --- the one parser ---------------------------------------------------------------------------


def test_periode_names_months_quarters_years_and_ranges() -> None:
    assert parse_period("2026-11", today=TODAY) == NOV
    assert parse_period("2026-T4", today=TODAY) == Period.quarter(2026, 4)
    assert parse_period("2025", today=TODAY) == Period.year(2025)
    days = parse_period("2026-11-03..2026-11-17", today=TODAY)
    assert (days.start, days.end, days.kind) == (
        dt.date(2026, 11, 3),
        dt.date(2026, 11, 18),
        "custom",
    )
    for period in (NOV, Period.quarter(2026, 4), Period.year(2025), days):
        assert parse_period(period_param(period), today=TODAY) == period
    for bad, message in (
        ("2026-11-17..2026-11-03", "Le dernier jour précède le premier."),
        ("2024-01-01..2026-11-03", "Une période couvre au plus deux ans."),
        ("2026-12-20..2026-12-31", "n'a pas encore commencé"),
        ("2026-02-30..2026-03-02", "Date invalide"),
        ("hier", "Période inconnue"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_period(bad, today=TODAY)


# --- pages: a custom range of days ------------------------------------------------------------


def test_pages_take_a_range_of_days(val: Val) -> None:
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    base = f"/c/{val.interco.slug}/rapports/"
    text = _page(elu, f"{base}?du=2026-11-01&au=2026-11-30")
    assert "Tableau de bord — du 01/11/2026 au 30/11/2026" in text
    # the figures of those days are November's (the comparison is the 30 days before)
    days = {f.key: f for f in kpis.summary(val.interco, Period.custom(NOV.start, NOV.end))}
    assert days["audience"].value == 1280
    assert days["audience"].display.replace("\xa0", " ") in text
    # the range stays chosen, the fields keep it, the PDF link carries it
    assert '<option value="2026-11-01..2026-11-30" selected>' in text
    assert 'name="du" id="periode-du" value="2026-11-01"' in text
    assert "rapport.pdf?periode=2026-11-01..2026-11-30" in text
    # typed the French way too
    assert "du 03/11/2026 au 17/11/2026" in _page(elu, f"{base}?du=03/11/2026&au=17/11/2026")


def test_a_bad_range_is_said_in_french_and_last_month_shown(val: Val) -> None:
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    base = f"/c/{val.interco.slug}/rapports/"
    for query, message in (
        ("du=2026-11-20&au=2026-11-02", "Le dernier jour précède le premier."),
        ("du=2026-11-20", "Donnez le premier et le dernier jour."),
        ("du=2026-13-01&au=2026-13-05", "Date invalide : « 2026-13-01 »."),
        ("du=2027-01-01&au=2027-01-31", "n'a pas encore commencé."),
        ("du=2023-01-01&au=2026-11-30", "Une période couvre au plus deux ans."),
    ):
        text = _page(elu, f"{base}?{query}")
        assert message in text, query
        assert "Tableau de bord — novembre 2026" in text


def test_detail_and_csv_with_a_range_keep_the_filters(val: Val) -> None:
    agent = _member(val.interco, Role.REDACTEUR, "agent@val.example")
    base = f"/c/{val.interco.slug}/rapports/detail/"
    text = _page(agent, f"{base}?du=2026-11-01&au=2026-11-15&reseau=facebook")
    assert "Tableau de bord détaillé — du 01/11/2026 au 15/11/2026" in text
    assert '<input type="hidden" name="reseau" value="facebook">' in text
    client = Client()
    client.force_login(agent)
    response = client.get(
        f"/c/{val.interco.slug}/rapports/csv/reseaux.csv?periode=2026-11-01..2026-11-15"
    )
    assert response.status_code == 200
    assert "2026-11-01..2026-11-15.csv" in response["Content-Disposition"]


# --- the KPI API takes periode ----------------------------------------------------------------


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_kpi_api_takes_periode_like_the_downloads(val: Val) -> None:
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    base = f"/api/v1/c/{val.interco.slug}/reporting"
    client = _api(elu)
    old = client.get(f"{base}/summary/?kind=month&year=2026&month=11").json()
    new = client.get(f"{base}/summary/?periode=2026-11").json()
    assert new == old and new["period"]["label"] == "novembre 2026"
    quarter = client.get(f"{base}/detail/?periode=2026-T4").json()
    assert quarter["period"]["kind"] == "quarter"
    days = client.get(f"{base}/series/?periode=2026-11-01..2026-11-07&metric=inbox").json()
    assert [p["date"] for p in days["points"]][0] == "2026-11-01"
    assert len(days["points"]) == 7
    same = client.get(f"{base}/series/?start=2026-11-01&end=2026-11-07&metric=inbox").json()
    assert same == days
    bad = client.get(f"{base}/summary/?periode=2026-13")
    assert bad.status_code == 400 and bad.json() == {
        "periode": ["Le mois doit être entre 1 et 12."]
    }
    bad = client.get(f"{base}/summary/?periode=2026-11&kind=year")
    assert bad.status_code == 400 and "pas les deux" in bad.json()["periode"][0]
    bad = client.get(f"{base}/summary/?periode=2027")
    assert "n'a pas encore commencé" in bad.json()["periode"][0]


def test_openapi_lists_periode_on_the_kpi_endpoints(db: Any) -> None:
    admin = factories.UserFactory(email="s@x.example")
    paths = _api(admin).get("/api/v1/schema/?format=json").json()["paths"]
    for name in ("summary", "detail", "series"):
        params = paths[f"/api/v1/c/{{collectivite_slug}}/reporting/{name}/"]["get"]["parameters"]
        assert "periode" in {p["name"] for p in params}, name


# --- the monthly e-mail: one delivery row per recipient and period -----------------------------


def _recipients(val: Val) -> tuple[Any, Any]:
    admin = _member(val.interco, Role.ADMIN, "admin@val.example")
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    services.report_recipients_set(
        actor=admin, collectivite=val.interco, user_ids=[admin.pk, elu.pk]
    )
    return admin, elu


def test_each_send_is_recorded_and_unique(val: Val, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin, elu = _recipients(val)
    assert services.monthly_report_send(collectivite=val.interco, period=NOV) == 2
    rows = ReportDelivery.objects.for_collectivite(val.interco).order_by("user_id")
    assert [(r.user_id, r.period_start) for r in rows] == [
        (admin.pk, NOV.start),
        (elu.pk, NOV.start),
    ]
    assert all(r.sent_at is not None for r in rows)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportDelivery.objects.create(collectivite=val.interco, user=elu, period_start=NOV.start)


def test_a_claim_left_by_a_dead_worker_is_never_sent_again(val: Val, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin, elu = _recipients(val)
    # a worker claimed the elu's report, then died before the mail server said yes
    ReportDelivery.objects.create(collectivite=val.interco, user=elu, period_start=NOV.start)
    assert services.monthly_report_send(collectivite=val.interco, period=NOV) == 1
    assert [m.to for m in mail.outbox] == [["admin@val.example"]]
    claim = ReportDelivery.objects.for_collectivite(val.interco).get(user=elu)
    assert claim.sent_at is None  # at most once: left for someone to look at, not resent


def test_a_report_sent_before_the_delivery_record_is_not_sent_again(
    val: Val, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin, elu = _recipients(val)
    link = services.monthly_report_link(collectivite=val.interco, period=NOV)
    Notification.objects.create(collectivite=val.interco, user=elu, message="…", link=link)
    assert services.monthly_report_send(collectivite=val.interco, period=NOV) == 1
    assert [m.to for m in mail.outbox] == [["admin@val.example"]]
    legacy = ReportDelivery.objects.for_collectivite(val.interco).get(user=elu)
    assert legacy.sent_at is not None
