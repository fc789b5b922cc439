"""The reporting pages, PDF, CSV and monthly e-mail, on the hand-computed world of
``test_kpis`` (Val de Loue, November 2026): what they show is what ``reporting.kpis`` says."""

from __future__ import annotations

import html
import io
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from collectivites.permissions import Role
from reporting import kpis, services
from reporting.kpis import Period
from reporting.models import ReportRecipient
from tests import factories
from tests.reporting.test_kpis import NOV, Val

NBSP = "\xa0"


def _client(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _member(collectivite: Any, role: str, email: str) -> Any:
    user = factories.UserFactory(email=email, first_name="Prénom", last_name=email.split("@")[0])
    factories.MembershipFactory(collectivite=collectivite, user=user, role=role)
    return user


def _text(response: Any) -> str:
    return html.unescape(response.content.decode()).replace(NBSP, " ").replace("\u202f", " ")


@pytest.fixture
def val(db: Any) -> Val:
    return Val()


@pytest.fixture(autouse=True)
def _today(freezer: Any) -> None:
    freezer.move_to("2026-12-10 10:00:00")


def test_elu_dashboard_of_an_interco_shows_the_sum_and_each_commune(val: Val) -> None:
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    response = _client(elu).get(f"/c/{val.interco.slug}/rapports/")  # default: last month
    assert response.status_code == 200
    text = _text(response)
    assert "Tableau de bord — novembre 2026" in text
    expected = {f.key: f for f in kpis.summary(val.interco, NOV)}
    # hand-computed in test_kpis: 1 050 + 230 followers, fb's reach 500 + 700
    assert expected["audience"].value == 1280 and expected["reach"].value == 1200
    for f in expected.values():
        assert f.display.replace(NBSP, " ") in text
        assert f.sentence.replace(NBSP, " ") in text
    assert "Commune par commune" in text and "Aubel" in text and "Brézolles" in text
    # charts: data for Chart.js in json_script, and a table alternative with a caption
    assert 'type="application/json"' in text and "<script>" not in text
    assert "<caption>Abonnés — novembre 2026 — données du graphique</caption>" in text


def test_a_commune_sees_only_its_own_figures(val: Val) -> None:
    elu = _member(val.brez, Role.LECTEUR, "elu@brez.example")
    text = _text(_client(elu).get(f"/c/{val.brez.slug}/rapports/?periode=2026-11"))
    assert "Les comptes de la collectivité réunissent 230 abonnés, contre 210" in text
    assert "1 280" not in text and "Commune par commune" not in text
    # another collectivité's dashboard is not found
    assert _client(elu).get(f"/c/{val.aubel.slug}/rapports/").status_code == 404


def test_period_picker_any_past_period_and_bad_input(val: Val) -> None:
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    client = _client(elu)
    text = _text(client.get(f"/c/{val.interco.slug}/rapports/?periode=2026-T4"))
    assert "Tableau de bord — T4 2026" in text
    assert '<option value="2026-T4" selected>' in text
    text = _text(client.get(f"/c/{val.interco.slug}/rapports/?periode=2026-13", follow=True))
    assert "Le mois doit être" in text and "Tableau de bord — novembre 2026" in text
    text = _text(client.get(f"/c/{val.interco.slug}/rapports/?periode=2027-03"))
    assert "La période mars 2027 n'a pas encore commencé." in text


def test_lecteur_lands_on_the_dashboard(val: Val) -> None:
    elu = _member(val.aubel, Role.LECTEUR, "elu@aubel.example")
    response = _client(elu).get("/")
    assert response["Location"] == f"/c/{val.aubel.slug}/rapports/"
    agent = _member(val.aubel, Role.REDACTEUR, "agent@aubel.example")
    assert _client(agent).get("/")["Location"] == f"/c/{val.aubel.slug}/"


def test_detail_filtered_by_network(val: Val) -> None:
    agent = _member(val.interco, Role.REDACTEUR, "agent@val.example")
    client = _client(agent)
    text = _text(client.get(f"/c/{val.interco.slug}/rapports/detail/?periode=2026-11"))
    for title in ("Par réseau", "Par commune", "Publications les plus marquantes"):
        assert f"<caption>{title}</caption>" in text
    assert "V3" in text  # the urgent alert, top post by reach
    text = _text(
        client.get(f"/c/{val.interco.slug}/rapports/detail/?periode=2026-11&reseau=mastodon")
    )
    filtered = kpis.detail(val.interco, NOV, network="mastodon")
    assert [a.name for a in filtered.accounts] == [val.md.display_name]
    assert "230 abonnés" in text and "1 280" not in text
    # an account of a stranger is not a valid filter
    text = _text(client.get(f"/c/{val.interco.slug}/rapports/detail/?compte=999999"))
    assert "Filtre inconnu" in text


def test_an_interco_detail_shows_its_communes_and_one_communes_accounts(val: Val) -> None:
    """An intercommunalité's detail: one row per commune, no table per account (hundreds
    of rows) until a commune is chosen; then that commune's figures and accounts. The CSV
    of every account of the intercommunalité stays available."""
    admin = _member(val.interco, Role.ADMIN, "admin@val.example")
    client = _client(admin)
    base = f"/c/{val.interco.slug}/rapports/detail/?periode=2026-11"
    text = _text(client.get(base))
    assert "<caption>Par commune</caption>" in text
    assert "<caption>Par compte</caption>" not in text
    assert "<caption>Rythme de publication et ligne éditoriale</caption>" not in text
    assert '<label for="id_commune">Commune :</label>' in text
    # the accounts offered are the intercommunalité's own (it has none), not every one
    assert f'<option value="{val.fb.pk}">' not in text
    assert f'<option value="{val.aubel.pk}">Aubel</option>' in text
    assert "Choisissez une commune pour voir ses comptes un par un" in text
    csv_link = f"/c/{val.interco.slug}/rapports/csv/comptes.csv?periode=2026-11"
    assert csv_link in text
    rows = client.get(csv_link).content.decode("utf-8-sig").splitlines()
    assert len(rows) == 3  # the header and the interco's two accounts
    # one commune: its figures (its own page's) and its accounts, one by one
    text = _text(client.get(f"{base}&commune={val.aubel.pk}"))
    assert "Les chiffres ne portent que sur Aubel." in text
    assert "<caption>Par compte</caption>" in text and "<caption>Par commune</caption>" not in text
    assert f'<option value="{val.aubel.pk}" selected>Aubel</option>' in text
    assert f'<option value="{val.fb.pk}">' in text and f'<option value="{val.md.pk}">' not in text
    aubel = {f.key: f for f in kpis.detail(val.aubel, NOV).figures}
    assert aubel["inbox_volume"].sentence.replace(NBSP, " ") in text
    assert "230 abonnés" not in text  # Brézolles' mastodon account is not counted
    # a link to one account finds its commune; the CSV links keep the filters
    text = _text(client.get(f"{base}&compte={val.md.pk}"))
    assert f'<option value="{val.brez.pk}" selected>Brézolles</option>' in text
    assert f'<option value="{val.md.pk}" selected>' in text
    links = client.get(f"{base}&compte={val.md.pk}").content.decode()
    assert (
        f"csv/comptes.csv?periode=2026-11&amp;commune={val.brez.pk}&amp;compte={val.md.pk}" in links
    )
    # a collectivité outside the intercommunalité is not a valid filter
    text = _text(client.get(f"{base}&commune={val.stranger.pk}"))
    assert "Filtre inconnu" in text and "<caption>Par commune</caption>" in text


def test_csv_of_a_table(val: Val) -> None:
    agent = _member(val.interco, Role.REDACTEUR, "agent@val.example")
    response = _client(agent).get(f"/c/{val.interco.slug}/rapports/csv/comptes.csv?periode=2026-11")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        "val-de-loue" in response["Content-Disposition"]
        or ".csv" in response["Content-Disposition"]
    )
    body = response.content
    assert body.startswith("\ufeff".encode())  # BOM: Excel reads the accents right
    lines = body.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("Compte;Réseau;Abonnés;Nouveaux abonnés;Vues;Portée")
    rows = {line.split(";")[0]: line.split(";") for line in lines[1:] if line}
    fb = rows[val.fb.display_name]
    assert fb[2:6] == ["1050", "50", "2000", "1200"]  # followers, growth, views, reach
    md = rows[val.md.display_name]
    assert md[2] == "230" and md[4] == "" and md[5] == ""  # not provided: empty, not 0
    # engagement rate with a decimal comma (docs/kpis.md: interactions per view)
    assert "," in fb[11] or fb[11].isdigit()


def test_csv_of_the_figures_and_unknown_table(val: Val) -> None:
    agent = _member(val.interco, Role.VALIDATEUR, "v@val.example")
    client = _client(agent)
    lines = (
        client.get(f"/c/{val.interco.slug}/rapports/csv/indicateurs.csv?periode=2026-11")
        .content.decode("utf-8-sig")
        .split("\r\n")
    )
    assert lines[0] == "Indicateur;Valeur;Unité;Période précédente;Évolution (%);En clair"
    audience = next(line for line in lines if line.startswith("Abonnés;"))
    assert audience.split(";")[1:4] == ["1280", "nombre", "1210"]
    url = f"/c/{val.interco.slug}/rapports/csv/nexiste-pas.csv"
    assert client.get(url).status_code == 404


def test_lecteur_cannot_download_csv_but_can_download_the_pdf(val: Val) -> None:
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    client = _client(elu)
    assert client.get(f"/c/{val.interco.slug}/rapports/csv/comptes.csv").status_code == 403
    response = client.get(f"/c/{val.interco.slug}/rapports/rapport.pdf?periode=2026-11")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "rapport-" in response["Content-Disposition"]
    text = _pdf_text(response.content)
    assert "Val de Loue" in text
    assert "Rapport mensuel — novembre 2026" in text
    assert "1 280" in text and "1 200" in text  # audience and reach
    assert "Aubel" in text and "Brézolles" in text  # per commune
    assert "Abonnés — novembre 2026" in text  # a chart's title, drawn as SVG


def _pdf_text(content: bytes) -> str:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(io.BytesIO(content))
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    return text.replace(NBSP, " ").replace("\u202f", " ").replace("\r", "")


def test_recipients_page(val: Val) -> None:
    admin = _member(val.interco, Role.ADMIN, "admin@val.example")
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    stranger = factories.UserFactory(email="x@ailleurs.example")
    client = _client(admin)
    url = f"/c/{val.interco.slug}/rapports/destinataires/"
    assert "elu@val.example" in _text(client.get(url))
    response = client.post(url, {"users": [elu.pk]})
    assert response.status_code == 302
    assert services.report_recipient_ids(collectivite=val.interco) == [elu.pk]
    # someone who is not a member cannot be chosen (not offered, refused if forged)
    response = client.post(url, {"users": [elu.pk, stranger.pk]})
    assert response.status_code == 200
    assert services.report_recipient_ids(collectivite=val.interco) == [elu.pk]
    assert _client(elu).post(url, {"users": []}).status_code == 403


def test_monthly_email_is_sent_once_per_recipient_and_month(val: Val, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin = _member(val.interco, Role.ADMIN, "admin@val.example")
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    services.report_recipients_set(
        actor=admin, collectivite=val.interco, user_ids=[elu.pk, admin.pk]
    )
    from reporting.tasks import send_monthly_reports

    send_monthly_reports()  # 10 December: November's report, eagerly
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@val.example", "elu@val.example"]
    message = mail.outbox[0]
    assert "novembre 2026" in message.subject
    ((name, content, mimetype),) = message.attachments
    assert mimetype == "application/pdf" and name.endswith("2026-11.pdf")
    assert "1 280" in _pdf_text(content)
    # beat fires again (the 2nd, the 3rd), a retry, a second worker: nothing more is sent
    send_monthly_reports()
    services.monthly_report_send(collectivite=val.interco, period=NOV)
    assert len(mail.outbox) == 2
    # a recipient added later gets it once; another month is another send
    other = _member(val.interco, Role.REDACTEUR, "r@val.example")
    services.report_recipients_set(
        actor=admin, collectivite=val.interco, user_ids=[elu.pk, admin.pk, other.pk]
    )
    assert services.monthly_report_send(collectivite=val.interco, period=NOV) == 1
    assert (
        services.monthly_report_send(collectivite=val.interco, period=Period.month(2026, 10)) == 3
    )
    assert len(mail.outbox) == 6


def test_a_failed_send_is_retried_without_duplicates(
    val: Val, settings: Any, monkeypatch: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin = _member(val.interco, Role.ADMIN, "admin@val.example")
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    services.report_recipients_set(
        actor=admin, collectivite=val.interco, user_ids=[admin.pk, elu.pk]
    )
    from django.core.mail import EmailMessage

    real_send = EmailMessage.send

    def flaky(self: EmailMessage, fail_silently: bool = False) -> int:
        if self.to == ["elu@val.example"]:
            raise OSError("SMTP down")
        return real_send(self, fail_silently)

    monkeypatch.setattr(EmailMessage, "send", flaky)
    with pytest.raises(OSError):
        services.monthly_report_send(collectivite=val.interco, period=NOV)
    assert [m.to for m in mail.outbox] == [["admin@val.example"]]
    monkeypatch.setattr(EmailMessage, "send", real_send)
    assert services.monthly_report_send(collectivite=val.interco, period=NOV) == 1
    assert [m.to for m in mail.outbox] == [["admin@val.example"], ["elu@val.example"]]
    assert ReportRecipient.objects.for_collectivite(val.interco).count() == 2


def test_api_downloads(val: Val) -> None:
    elu = _member(val.interco, Role.LECTEUR, "elu@val.example")
    agent = _member(val.interco, Role.REDACTEUR, "agent@val.example")
    base = f"/api/v1/c/{val.interco.slug}/reports"
    response = _client(elu).get(f"{base}/pdf/?periode=2026-11")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "1 280" in _pdf_text(response.content)
    assert _client(elu).get(f"{base}/csv/comptes/").status_code == 403
    response = _client(agent).get(f"{base}/csv/reseaux/?periode=2026-11")
    assert response.status_code == 200
    lines = response.content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("Réseau;Comptes;Abonnés")
    assert _client(agent).get(f"{base}/csv/inconnu/").status_code == 404
    bad = _client(agent).get(f"{base}/csv/comptes/?periode=demain")
    assert bad.status_code == 400 and "Période inconnue" in bad.json()["periode"][0]
    bad = _client(agent).get(f"{base}/csv/comptes/?compte=999999")
    assert bad.status_code == 400
    outsider = factories.UserFactory(email="o@ailleurs.example")
    factories.MembershipFactory(collectivite=val.stranger, user=outsider, role=Role.ADMIN)
    assert _client(outsider).get(f"{base}/pdf/").status_code == 404


def test_openapi_schema_lists_the_downloads(db: Any) -> None:
    admin = factories.UserFactory(email="s@x.example")
    schema = _client(admin).get("/api/v1/schema/?format=json").json()
    pdf = schema["paths"]["/api/v1/c/{collectivite_slug}/reports/pdf/"]["get"]
    assert "application/pdf" in pdf["responses"]["200"]["content"]
    csv_path = schema["paths"]["/api/v1/c/{collectivite_slug}/reports/csv/{table}/"]["get"]
    assert "text/csv" in csv_path["responses"]["200"]["content"]
