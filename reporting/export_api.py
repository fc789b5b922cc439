"""``/api/v1/c/<slug>/reports/``: the report as PDF and every table as CSV, as the pages
give them (``reporting.views``), for scripts and other tools.

- ``GET reports/pdf/?periode=2026-10`` → ``application/pdf`` (capability ``reporting.view``)
- ``GET reports/csv/<table>/?periode=…&compte=…&reseau=…`` → ``text/csv`` (UTF-8 with BOM,
  ``;``, decimal comma; capability ``reporting.export``)

``periode`` is ``AAAA-MM`` (a month), ``AAAA-Tn`` (a quarter) or ``AAAA`` (a year); the last
complete month by default. The KPIs as JSON are under ``reporting/`` (``reporting.api``).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from collectivites.api import SLUG_PARAMETER, TenantAPIMixin
from collectivites.models import SocialAccount
from collectivites.permissions import Capability
from reporting import kpis, report, tables
from reporting.forms import parse_period, period_param
from reporting.views import csv_table

PERIOD_PARAMETER = OpenApiParameter(
    "periode",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=False,
    description="AAAA-MM (mois), AAAA-Tn (trimestre) ou AAAA (année) ; "
    "par défaut le dernier mois complet.",
)
TABLE_PARAMETER = OpenApiParameter(
    "table",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Tableau : indicateurs, comptes, reseaux, communes, publications-marquantes, "
    "boite, etiquettes, tonalite, themes, rythme, accessibilite, validation, alertes, veille, "
    "site-sources, site-pages, site-campagnes, ou les données d'un graphique "
    "(graphique-abonnes, graphique-portee, graphique-messages).",
)
ACCOUNT_PARAMETER = OpenApiParameter(
    "compte", OpenApiTypes.INT, OpenApiParameter.QUERY, required=False, description="Un compte."
)
NETWORK_PARAMETER = OpenApiParameter(
    "reseau", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False, description="Un réseau."
)


class _ExportView(TenantAPIMixin, APIView):
    """Downloads only: nothing here writes (other methods: 403 without the export
    capability, 405 with it)."""

    write_capability = Capability.REPORTING_EXPORT

    def _period(self, request: Request) -> kpis.Period:
        today = tables.today_in(self.collectivite.time_zone)
        try:
            return parse_period(request.query_params.get("periode"), today=today)
        except ValueError as exc:
            raise ValidationError({"periode": [str(exc)]}) from exc


class ReportPdfView(_ExportView):
    read_capability = Capability.REPORTING_VIEW

    @extend_schema(
        operation_id="reports_pdf",
        summary="Le rapport de la période, en PDF",
        parameters=[SLUG_PARAMETER, PERIOD_PARAMETER],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            400: OpenApiResponse(description="Période inconnue"),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        period = self._period(request)
        built = report.build_report(self.collectivite, period)
        response = HttpResponse(report.render_pdf(built), content_type="application/pdf")
        name = report.pdf_filename(self.collectivite, period_param(period))
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class ReportCsvView(_ExportView):
    read_capability = Capability.REPORTING_EXPORT

    @extend_schema(
        operation_id="reports_csv",
        summary="Un tableau du tableau de bord détaillé, en CSV",
        description="UTF-8 avec BOM, séparateur « ; », virgule décimale, en-têtes en "
        "français ; une cellule vide signifie « non fourni ».",
        parameters=[
            SLUG_PARAMETER,
            TABLE_PARAMETER,
            PERIOD_PARAMETER,
            ACCOUNT_PARAMETER,
            NETWORK_PARAMETER,
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
            400: OpenApiResponse(description="Période ou filtre inconnu"),
            404: OpenApiResponse(description="Tableau inconnu"),
        },
    )
    def get(self, request: Request, table: str, *args: Any, **kwargs: Any) -> HttpResponse:
        c = self.collectivite
        period = self._period(request)
        account_id, network = self._filters(request)
        found = csv_table(c, period, table, account_id=account_id, network=network)
        if found is None:
            raise NotFound("Tableau inconnu.")
        response = HttpResponse(tables.csv_bytes(found), content_type="text/csv; charset=utf-8")
        name = f"{c.slug}-{found.key}-{period_param(period)}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def _filters(self, request: Request) -> tuple[int | None, str | None]:
        scope = kpis.scope_ids(self.collectivite)
        accounts = (
            SocialAccount.objects.for_collectivite(self.collectivite)
            if len(scope) == 1
            else SocialAccount.objects.dangerously_unscoped().filter(collectivite_id__in=scope)
        )
        account_id: int | None = None
        raw = request.query_params.get("compte")
        if raw:
            if not raw.isdigit() or not accounts.filter(pk=int(raw)).exists():
                raise ValidationError({"compte": ["Compte inconnu."]})
            account_id = int(raw)
        network = request.query_params.get("reseau") or None
        if network and not accounts.filter(network=network).exists():
            raise ValidationError({"reseau": ["Aucun compte sur ce réseau."]})
        return account_id, network
