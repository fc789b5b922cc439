"""``/api/v1/c/<slug>/reporting/``: the KPIs (summary, detail), time series, and the
import of the web-analytics export. The same selectors as the pages (``reporting.kpis``).

The period is given as the pages and the downloads name it, ``periode=2026-10`` (a month),
``2026-T4`` (a quarter), ``2026`` (a year) or ``2026-10-03..2026-10-17`` (days, both
included), parsed by ``reporting.forms.parse_period``; or, as before, by ``kind`` (month,
quarter, year) with ``year`` and ``month`` or ``quarter``, or by ``start`` and ``end``
(both included). ``account`` and ``network`` narrow the detail and the series; for an
intercommunalité, ``commune`` gives one of its communes' figures and accounts (as its
detailed page: without it, the detail has one row per commune and no row per account).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from collectivites.api import SLUG_PARAMETER, TenantAPIMixin
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability
from networks.registry import Network
from reporting import kpis, services
from reporting.forms import custom_period, parse_period
from reporting.models import WebAnalyticsRow

# --- input -----------------------------------------------------------------------------------


class PeriodQuerySerializer(serializers.Serializer):
    periode = serializers.CharField(
        required=False,
        help_text=(
            "La période comme dans les pages et les téléchargements : AAAA-MM (un mois), "
            "AAAA-Tn (un trimestre), AAAA (une année) ou AAAA-MM-JJ..AAAA-MM-JJ (des jours, "
            "bornes incluses). Ne se combine pas avec kind/year/month/quarter/start/end."
        ),
    )
    kind = serializers.ChoiceField(
        choices=[("month", "mois"), ("quarter", "trimestre"), ("year", "année")],
        required=False,
        help_text="Type de période ; sans start/end, le mois en cours par défaut.",
        error_messages={"invalid_choice": "Type de période inconnu : « {input} »."},
    )
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)
    month = serializers.IntegerField(required=False, min_value=1, max_value=12)
    quarter = serializers.IntegerField(required=False, min_value=1, max_value=4)
    start = serializers.DateField(required=False, help_text="Premier jour (AAAA-MM-JJ).")
    end = serializers.DateField(required=False, help_text="Dernier jour inclus (AAAA-MM-JJ).")
    account = serializers.IntegerField(required=False, help_text="Un seul compte (id).")
    commune = serializers.IntegerField(
        required=False,
        help_text=(
            "Intercommunalité : une de ses communes (id), ses chiffres et ses comptes. Sans "
            "commune, compte ni réseau, le détail d'une intercommunalité donne une ligne par "
            "commune (communes) et laisse vides accounts et cadence (une ligne par compte : "
            "le CSV « comptes » les donne tous)."
        ),
    )
    network = serializers.ChoiceField(
        choices=Network.choices,
        required=False,
        error_messages={"invalid_choice": "Réseau inconnu : « {input} »."},
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        today = self.context["today"]
        start, end = attrs.get("start"), attrs.get("end")
        if "periode" in attrs:
            other = [k for k in ("kind", "year", "month", "quarter", "start", "end") if k in attrs]
            if other:
                raise ValidationError(
                    {
                        "periode": [
                            _("Donnez la période par « periode » ou par %(other)s, pas les deux.")
                            % {"other": ", ".join(other)}
                        ]
                    }
                )
            try:
                attrs["period"] = parse_period(attrs["periode"], today=today)
            except ValueError as exc:
                raise ValidationError({"periode": [str(exc)]}) from exc
            return attrs
        if start or end:
            try:
                attrs["period"] = custom_period(start, end)
            except ValueError as exc:
                raise ValidationError({"end": [str(exc)]}) from exc
            return attrs
        kind = attrs.get("kind", "month")
        year = attrs.get("year", today.year)
        if kind == "month":
            attrs["period"] = kpis.Period.month(year, attrs.get("month", today.month))
        elif kind == "quarter":
            default_q = (today.month - 1) // 3 + 1
            attrs["period"] = kpis.Period.quarter(year, attrs.get("quarter", default_q))
        else:
            attrs["period"] = kpis.Period.year(year)
        return attrs


class SeriesQuerySerializer(PeriodQuerySerializer):
    metric = serializers.ChoiceField(
        choices=[(m, m) for m in kpis.SERIES_METRICS],
        error_messages={
            "invalid_choice": "Indicateur inconnu : « {input} ».",
            "required": "Indiquez l'indicateur (metric).",
        },
    )
    granularity = serializers.ChoiceField(
        choices=[("day", "jour"), ("week", "semaine"), ("month", "mois")],
        required=False,
        default="day",
        error_messages={"invalid_choice": "Granularité inconnue : « {input} »."},
    )


PERIOD_PARAMETERS = [SLUG_PARAMETER, PeriodQuerySerializer]

# --- output ----------------------------------------------------------------------------------


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="Exclu : le lendemain du dernier jour.")
    kind = serializers.CharField()
    label = serializers.CharField()


class FigureSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="null : non fourni.")
    previous = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(allow_null=True, help_text="Évolution relative (0.25 = +25 %).")
    unit = serializers.ChoiceField(choices=[(u, u) for u in kpis.UNITS])
    sentence = serializers.CharField()


class SummarySerializer(serializers.Serializer):
    period = PeriodSerializer()
    previous_period = PeriodSerializer()
    figures = FigureSerializer(many=True)


class AccountRowSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    collectivite_id = serializers.IntegerField()
    name = serializers.CharField()
    network = serializers.CharField()
    network_label = serializers.CharField()
    followers = serializers.IntegerField(allow_null=True)
    followers_growth = serializers.IntegerField(allow_null=True)
    impressions = serializers.IntegerField(allow_null=True)
    reach = serializers.IntegerField(allow_null=True)
    profile_visits = serializers.IntegerField(allow_null=True)
    link_clicks = serializers.IntegerField(allow_null=True)
    posts = serializers.IntegerField()
    interactions = serializers.IntegerField(allow_null=True)
    comments = serializers.IntegerField(allow_null=True)
    engagement_rate = serializers.FloatField(allow_null=True)


class NetworkRowSerializer(serializers.Serializer):
    network = serializers.CharField()
    network_label = serializers.CharField()
    accounts = serializers.IntegerField()
    followers = serializers.IntegerField(allow_null=True)
    followers_growth = serializers.IntegerField(allow_null=True)
    impressions = serializers.IntegerField(allow_null=True)
    reach = serializers.IntegerField(allow_null=True)
    link_clicks = serializers.IntegerField(allow_null=True)
    posts = serializers.IntegerField()
    interactions = serializers.IntegerField(allow_null=True)
    engagement_rate = serializers.FloatField(allow_null=True)


class CommuneRowSerializer(serializers.Serializer):
    collectivite_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    population = serializers.IntegerField(allow_null=True)
    followers = serializers.IntegerField(allow_null=True)
    followers_growth = serializers.IntegerField(allow_null=True)
    reach = serializers.IntegerField(allow_null=True)
    reach_per_1000 = serializers.FloatField(allow_null=True)
    posts = serializers.IntegerField()
    engagement_rate = serializers.FloatField(allow_null=True)
    inbox_volume = serializers.IntegerField()
    requests = serializers.IntegerField()
    response_rate = serializers.FloatField(allow_null=True)


class TopPostSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField()
    publication_id = serializers.IntegerField()
    title = serializers.CharField()
    account_id = serializers.IntegerField()
    account_name = serializers.CharField()
    network = serializers.CharField()
    network_label = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    permalink = serializers.CharField()
    impressions = serializers.IntegerField(allow_null=True)
    reach = serializers.IntegerField(allow_null=True)
    interactions = serializers.IntegerField()
    comments = serializers.IntegerField(allow_null=True)
    engagement_rate = serializers.FloatField(allow_null=True)
    reason = serializers.ChoiceField(
        choices=[("reach", "reach"), ("engagement", "engagement"), ("comments", "comments")]
    )
    why = serializers.CharField()


class LabelCountSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)


class SentimentPointSerializer(serializers.Serializer):
    week = serializers.DateField()
    positive = serializers.IntegerField()
    negative = serializers.IntegerField()
    score = serializers.FloatField(allow_null=True)


class ThemeCountSerializer(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField()


class InboxStatsSerializer(serializers.Serializer):
    volume = serializers.IntegerField()
    previous_volume = serializers.IntegerField()
    requests = serializers.IntegerField()
    answered = serializers.IntegerField()
    response_rate = serializers.FloatField(allow_null=True)
    resolved = serializers.IntegerField()
    resolution_rate = serializers.FloatField(allow_null=True)
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)
    previous_median_hours = serializers.FloatField(allow_null=True)
    target_hours = serializers.IntegerField()
    within_target_rate = serializers.FloatField(allow_null=True)
    mentions = serializers.IntegerField()
    triage = LabelCountSerializer(many=True)
    sentiment = SentimentPointSerializer(many=True)
    themes = ThemeCountSerializer(many=True)


class CadenceRowSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    account_name = serializers.CharField()
    network = serializers.CharField()
    network_label = serializers.CharField()
    target_per_week = serializers.IntegerField()
    posts = serializers.IntegerField()
    per_week = serializers.FloatField()
    ratio = serializers.FloatField(allow_null=True)


class AccessibilitySerializer(serializers.Serializer):
    posts = serializers.IntegerField()
    compliant = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    images_without_alt = serializers.IntegerField()
    videos_without_subtitles = serializers.IntegerField()


class ValidationStatsSerializer(serializers.Serializer):
    scheduled = serializers.IntegerField()
    on_time = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    previous_share = serializers.FloatField(allow_null=True)


class AlertRowSerializer(serializers.Serializer):
    publication_id = serializers.IntegerField()
    title = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    variants = serializers.IntegerField()
    reach = serializers.IntegerField(allow_null=True)
    impressions = serializers.IntegerField(allow_null=True)


class WatchStatsSerializer(serializers.Serializer):
    mentions = serializers.IntegerField()
    previous_mentions = serializers.IntegerField()
    spikes = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()


class NamedCountSerializer(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField()


def _named(pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"name": name, "count": count} for name, count in pairs]


class WebStatsSerializer(serializers.Serializer):
    imported = serializers.BooleanField()
    visits = serializers.IntegerField(allow_null=True)
    previous_visits = serializers.IntegerField(allow_null=True)
    by_source = serializers.SerializerMethodField()
    top_pages = serializers.SerializerMethodField()
    top_campaigns = serializers.SerializerMethodField()

    @extend_schema_field(NamedCountSerializer(many=True))
    def get_by_source(self, obj: kpis.WebStats) -> list[dict[str, Any]]:
        return _named(obj.by_source)

    @extend_schema_field(NamedCountSerializer(many=True))
    def get_top_pages(self, obj: kpis.WebStats) -> list[dict[str, Any]]:
        return _named(obj.top_pages)

    @extend_schema_field(NamedCountSerializer(many=True))
    def get_top_campaigns(self, obj: kpis.WebStats) -> list[dict[str, Any]]:
        return _named(obj.top_campaigns)


class DetailSerializer(serializers.Serializer):
    period = PeriodSerializer()
    previous_period = PeriodSerializer()
    figures = FigureSerializer(many=True)
    accounts = AccountRowSerializer(many=True)
    networks = NetworkRowSerializer(many=True)
    communes = CommuneRowSerializer(many=True)
    communes_total = CommuneRowSerializer(allow_null=True)
    top_posts = TopPostSerializer(many=True)
    inbox = InboxStatsSerializer()
    cadence = CadenceRowSerializer(many=True)
    accessibility = AccessibilitySerializer()
    validation = ValidationStatsSerializer()
    alerts = AlertRowSerializer(many=True)
    watch = WatchStatsSerializer()
    web = WebStatsSerializer()


class SeriesPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    value = serializers.FloatField(allow_null=True, help_text="null : non fourni.")


class SeriesSerializer(serializers.Serializer):
    period = PeriodSerializer()
    metric = serializers.CharField()
    granularity = serializers.CharField()
    points = SeriesPointSerializer(many=True)


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="Export CSV : date, page, utm_source, utm_medium, utm_campaign, visites.",
        error_messages={
            "required": "Joignez le fichier CSV (champ file).",
            "empty": "Le fichier est vide.",
            "invalid": "Envoyez un fichier (multipart/form-data).",
        },
    )


class ImportResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField(help_text="Lignes lues.")
    stored = serializers.IntegerField(help_text="Lignes enregistrées ou remplacées.")
    error_count = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.CharField(), help_text="Lignes refusées.")
    message = serializers.CharField()


# --- views -----------------------------------------------------------------------------------


class ReportingViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    """KPIs of the collectivité (and of its communes, for an intercommunalité)."""

    model = WebAnalyticsRow
    read_capability = Capability.REPORTING_VIEW
    write_capability = Capability.REPORTING_IMPORT
    serializer_class = SummarySerializer
    pagination_class = None

    def _query(self, serializer_class: type[PeriodQuerySerializer]) -> dict[str, Any]:
        today = timezone.now().astimezone(ZoneInfo(self.collectivite.time_zone)).date()
        query = serializer_class(data=self.request.query_params, context={"today": today})
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        data["scope"] = self.collectivite
        commune = data.get("commune")
        if commune is not None:
            if commune not in kpis.scope_ids(self.collectivite)[1:]:
                raise ValidationError(
                    {"commune": [_("Commune inconnue dans cette intercommunalité.")]}
                )
            data["scope"] = Collectivite.objects.get(pk=commune)
        account = data.get("account")
        if account is not None:
            scope = kpis.scope_ids(data["scope"])
            known = (
                SocialAccount.objects.dangerously_unscoped()
                .filter(collectivite_id__in=scope, pk=account)
                .exists()
            )
            if not known:
                raise ValidationError({"account": [_("Compte inconnu dans cette collectivité.")]})
        return data

    @extend_schema(
        parameters=PERIOD_PARAMETERS,
        responses=SummarySerializer,
        summary="Les chiffres clés de la période (page des élus)",
    )
    @action(detail=False, methods=["get"])
    def summary(self, request: Request, collectivite_slug: str) -> Response:
        q = self._query(PeriodQuerySerializer)
        period = q["period"]
        figures = kpis.summary(q["scope"], period)
        body = {"period": period, "previous_period": period.previous(), "figures": figures}
        return Response(SummarySerializer(body).data)

    @extend_schema(
        parameters=PERIOD_PARAMETERS,
        responses=DetailSerializer,
        summary="Le détail : comptes, réseaux, communes, publications, messages, site",
    )
    @action(detail=False, methods=["get"], url_path="detail")
    def kpi_detail(self, request: Request, collectivite_slug: str) -> Response:
        q = self._query(PeriodQuerySerializer)
        result = kpis.detail(
            q["scope"], q["period"], account_id=q.get("account"), network=q.get("network")
        )
        if result.communes and not (q.get("account") or q.get("network")):
            # as the page: one row per commune, no row per account until filtered
            result = dataclasses.replace(result, accounts=[], cadence=[])
        return Response(DetailSerializer(result).data)

    @extend_schema(
        parameters=[SLUG_PARAMETER, SeriesQuerySerializer],
        responses=SeriesSerializer,
        summary="Une série temporelle (par jour, semaine ou mois)",
    )
    @action(detail=False, methods=["get"])
    def series(self, request: Request, collectivite_slug: str) -> Response:
        q = self._query(SeriesQuerySerializer)
        points = kpis.series(
            q["scope"],
            q["period"],
            q["metric"],
            granularity=q["granularity"],
            account_id=q.get("account"),
            network=q.get("network"),
        )
        body = {
            "period": q["period"],
            "metric": q["metric"],
            "granularity": q["granularity"],
            "points": [{"date": d, "value": v} for d, v in points],
        }
        return Response(SeriesSerializer(body).data)

    @extend_schema(
        parameters=[SLUG_PARAMETER],
        request={"multipart/form-data": ImportInputSerializer},
        responses={200: ImportResultSerializer},
        summary="Importer l'export CSV de la mesure d'audience du site",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="web-analytics-import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def web_analytics_import(self, request: Request, collectivite_slug: str) -> Response:
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > services.MAX_IMPORT_BYTES:
            raise ValidationError(
                {
                    "file": [
                        _("Le fichier dépasse %(mb)d Mo.")
                        % {"mb": services.MAX_IMPORT_BYTES // 2**20}
                    ]
                }
            )
        result = self.call_service(services.web_analytics_import, data=upload.read())
        return Response(ImportResultSerializer(result).data)
