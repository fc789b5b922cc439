"""What the dashboards and the monthly report show, put together from ``reporting.kpis``:
the figures, the charts' series and the tables; and the report rendered as PDF.

The PDF is HTML rendered by WeasyPrint, with the charts drawn as SVG on the server
(``reporting.charts``): no browser, no request anywhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from collectivites.models import Collectivite
from reporting import charts, kpis, tables

GRANULARITY = {"month": "day", "quarter": "week", "year": "month", "custom": "day"}


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    kind: str  # "line" | "bar"
    granularity: str
    series: list[charts.Series]

    @property
    def bucket_label(self) -> str:
        return {"day": _("Jour"), "week": _("Semaine du"), "month": _("Mois")}[self.granularity]

    def labels(self) -> list[str]:
        if self.kind == "bar":
            return [day_label for day_label, _v in self.bars()]
        days = sorted({d for s in self.series for d, _v in s.points})
        fmt = "F Y" if self.granularity == "month" else "j b"
        from django.utils.formats import date_format

        return [date_format(d, fmt) for d in days]

    def bars(self) -> list[tuple[str, float | None]]:
        return [(s.label, s.points[0][1] if s.points else None) for s in self.series]

    def chartjs(self) -> dict[str, Any]:
        """The data Chart.js draws (read by static/js/reporting-charts.js)."""
        if self.kind == "bar":
            bars = self.bars()
            return {
                "type": "bar",
                "title": self.title,
                "labels": [label for label, _v in bars],
                "datasets": [{"label": self.title, "data": [v for _l, v in bars]}],
            }
        return {
            "type": "line",
            "title": self.title,
            "labels": self.labels(),
            "datasets": [
                {"label": s.label, "data": [v for _d, v in s.points]} for s in self.series
            ],
        }

    def table(self, tz: str) -> tables.Table:
        """The chart's data as a table: its text alternative (RGAA)."""
        if self.kind == "bar":
            return tables.Table(
                key=self.key,
                title=self.title,
                columns=[tables.Column(_("Libellé")), tables.Column(self.title, tables.COUNT)],
                rows=[[label, v] for label, v in self.bars()],
                tz=tz,
            )
        days = sorted({d for s in self.series for d, _v in s.points})
        by_series = [dict(s.points) for s in self.series]
        return tables.Table(
            key=self.key,
            title=self.title,
            columns=[
                tables.Column(self.bucket_label, tables.DATE),
                *[tables.Column(s.label, tables.COUNT) for s in self.series],
            ],
            rows=[[d, *[values.get(d) for values in by_series]] for d in days],
            tz=tz,
        )

    def svg(self) -> str:
        if self.kind == "bar":
            return charts.bar_chart(self.title, self.bars())
        return charts.line_chart(self.title, self.series)


def chart_specs(
    collectivite: Collectivite,
    period: kpis.Period,
    *,
    account_id: int | None = None,
    network: str | None = None,
    networks: list[kpis.NetworkRow] | None = None,
) -> list[ChartSpec]:
    """The charts of the dashboards and the report: audience, reach and messages over the
    period, and reach per network when the rows are given."""
    granularity = GRANULARITY[period.kind]
    points = kpis.series_set(
        collectivite,
        period,
        ["followers", "reach", "inbox", "requests"],
        granularity=granularity,
        account_id=account_id,
        network=network,
    )

    def one(metric: str, label: str) -> charts.Series:
        return charts.Series(label, points[metric])

    specs = [
        ChartSpec(
            "abonnes",
            _("Abonnés — %(p)s") % {"p": period.label},
            "line",
            granularity,
            [one("followers", _("Abonnés"))],
        ),
        ChartSpec(
            "portee",
            _("Portée — %(p)s") % {"p": period.label},
            "line",
            granularity,
            [one("reach", _("Portée"))],
        ),
        ChartSpec(
            "messages",
            _("Messages des habitants — %(p)s") % {"p": period.label},
            "line",
            granularity,
            [one("inbox", _("Messages reçus")), one("requests", _("Demandes"))],
        ),
    ]
    if networks:
        specs.append(
            ChartSpec(
                "portee-reseaux",
                _("Portée par réseau — %(p)s") % {"p": period.label},
                "bar",
                granularity,
                [charts.Series(n.network_label, [(period.start, n.reach)]) for n in networks],
            )
        )
    return specs


@dataclass
class Report:
    collectivite: Collectivite
    period: kpis.Period
    figures: list[kpis.Figure]
    detail: kpis.Detail
    tables: list[tables.Table]
    charts: list[ChartSpec]
    generated_at: dt.datetime = field(default_factory=timezone.now)

    @property
    def title(self) -> str:
        if self.period.kind == "month":
            return _("Rapport mensuel — %(p)s") % {"p": self.period.label}
        return _("Rapport — %(p)s") % {"p": self.period.label}


# Tables of the PDF (the CSV downloads have them all); order as printed.
REPORT_TABLES = (
    "communes",
    "reseaux",
    "comptes",
    "publications-marquantes",
    "boite",
    "etiquettes",
    "rythme",
    "accessibilite",
    "validation",
    "alertes",
)
SUMMARY_KEYS = {
    "audience",
    "audience_growth",
    "reach",
    "reach_per_1000",
    "engagement_rate",
    "response_time_median",
    "response_rate",
    "posts_published",
    "alerts_reach",
}


PDF_MAX_ROWS = 25  # a longer table is cut in the PDF (most followed first); the CSV has all


def _shortened(table: tables.Table) -> tables.Table:
    if len(table.rows) <= PDF_MAX_ROWS or table.key != "comptes":
        return table
    kept = sorted(table.rows, key=lambda row: -(row[2] or 0))[:PDF_MAX_ROWS]
    note = _(
        "Les %(n)d comptes les plus suivis sur %(total)d ; le tableau complet est "
        "téléchargeable en CSV depuis le tableau de bord détaillé."
    ) % {"n": PDF_MAX_ROWS, "total": len(table.rows)}
    return replace(table, rows=kept, note=note)


def build_report(collectivite: Collectivite, period: kpis.Period) -> Report:
    d = kpis.detail(collectivite, period)
    tz = collectivite.time_zone
    all_tables = tables.detail_tables(d, tz)
    return Report(
        collectivite=collectivite,
        period=period,
        figures=[f for f in d.figures if f.key in SUMMARY_KEYS],
        detail=d,
        tables=[_shortened(t) for key in REPORT_TABLES if (t := tables.find(all_tables, key))],
        charts=chart_specs(collectivite, period, networks=d.networks),
    )


def render_pdf(report: Report) -> bytes:
    from weasyprint import HTML

    html = render_to_string(
        "reporting/report_pdf.html",
        {
            "report": report,
            "collectivite": report.collectivite,
            "charts_svg": [spec.svg() for spec in report.charts],
        },
    )
    return HTML(string=html).write_pdf()  # its <title> becomes the PDF's title


def pdf_filename(collectivite: Collectivite, period_param: str) -> str:
    return f"rapport-{collectivite.slug}-{period_param}.pdf"
