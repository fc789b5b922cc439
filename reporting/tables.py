"""The reporting tables as the pages, the PDF and the CSV downloads show them.

Nothing is computed here: every figure comes from ``reporting.kpis`` (``summary``,
``detail``, ``series``). This module only names the columns in French, orders them, and
formats a cell for a page (``kpis.format_value``) or for a spreadsheet (``csv_bytes``).

CSV files are written for French spreadsheet users: UTF-8 with a byte-order mark (so Excel
reads the accents right), ``;`` between cells and a decimal comma (Excel in French reads
``,`` as the decimal separator), dates as ``AAAA-MM-JJ``, an empty cell where a figure
is not provided (never a zero).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.formats import date_format
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from reporting import kpis

# cell kinds: the kpis units, plus plain text and dates
TEXT, COUNT, PERCENT, HOURS, RATIO, PER_1000 = (
    "text",
    "count",
    "percent",
    "hours",
    "ratio",
    "per_1000_inhabitants",
)
DATE, DATETIME, CHANGE = "date", "datetime", "change"
FIGURE = "figure"  # a (value, unit) pair: one column holding figures of several units


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = TEXT
    csv_only: bool = False  # e.g. the unit of a figure, which the page writes with the value


@dataclass(frozen=True)
class Table:
    key: str  # in the CSV's URL and file name
    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]
    footer: Sequence[Any] | None = None  # a total row
    note: str = ""
    tz: str = "Europe/Paris"
    chart: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def display_columns(self) -> list[Column]:
        return [c for c in self.columns if not c.csv_only]

    def display_rows(self) -> list[list[str]]:
        return [self._display(row) for row in self.rows]

    def display_footer(self) -> list[str] | None:
        return self._display(self.footer) if self.footer else None

    def body_html(self) -> str:
        """The ``<tr>`` of the body, the first cell a row header, built here rather than
        by the template: an intercommunalité's tables run to hundreds of rows, and the
        template's loop nodes cost more than the figures (bench_reporting)."""
        return mark_safe(  # noqa: S308 -- every cell is escaped here
            "".join(_row_html(cells) for cells in self.display_rows())
        )

    def footer_html(self) -> str:
        cells = self.display_footer()
        return mark_safe(_row_html(cells)) if cells else ""  # noqa: S308 -- escaped

    def _display(self, row: Sequence[Any]) -> list[str]:
        return [
            display_cell(v, c.kind, self.tz)
            for v, c in zip(row, self.columns, strict=True)
            if not c.csv_only
        ]


def _row_html(cells: Sequence[str]) -> str:
    if not cells:
        return "<tr></tr>"
    head, *rest = cells
    return (
        f'<tr><th scope="row">{conditional_escape(head)}</th>'
        + "".join(f"<td>{conditional_escape(cell)}</td>" for cell in rest)
        + "</tr>"
    )


def format_change(change: float | None) -> str:
    """``0.125`` -> ``+12,5 %``; empty when there is nothing to compare."""
    if change is None:
        return ""
    percent = change * 100
    if abs(percent) < 0.05:
        return _("stable")
    sign = "+" if percent > 0 else "−"
    return f"{sign}{kpis.number_format(abs(percent), 1, force_grouping=True)} %"


def trend(figure: kpis.Figure) -> str:
    """ "up", "down", "flat" or "" (no comparison) for the arrow next to a figure."""
    change = figure.change
    if change is None:
        return ""
    if abs(change) < 0.0005:
        return "flat"
    return "up" if change > 0 else "down"


def display_cell(value: Any, kind: str, tz: str = "Europe/Paris") -> str:
    if kind == TEXT:
        return "" if value is None else str(value)
    if kind == CHANGE:
        return format_change(value)
    if kind == FIGURE:
        return kpis.format_value(*value)
    if kind == DATE:
        return date_format(value, "j F Y") if value else ""
    if kind == DATETIME:
        if not value:
            return ""
        return date_format(value.astimezone(ZoneInfo(tz)), "j F Y H:i")
    return kpis.format_value(value, kind)


def csv_cell(value: Any, kind: str, tz: str = "Europe/Paris") -> str:
    if kind == FIGURE:
        value = value[0]
    if value is None:
        return ""
    if kind == DATETIME:
        return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    if kind == DATE:
        return value.isoformat()
    if isinstance(value, bool):
        return _("oui") if value else _("non")
    if isinstance(value, int) and kind != CHANGE:
        return str(value)
    if isinstance(value, float):
        if kind == CHANGE:
            value *= 100
        return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",") or "0"
    return str(value)


def _csv_header(column: Column) -> str:
    suffix = {
        PERCENT: " (%)",
        HOURS: _(" (heures)"),
        CHANGE: _(" (%)"),
    }.get(column.kind, "")
    return column.label + suffix


def csv_bytes(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([_csv_header(c) for c in table.columns])
    for row in [*table.rows, *([table.footer] if table.footer else [])]:
        writer.writerow(
            [csv_cell(v, c.kind, table.tz) for v, c in zip(row, table.columns, strict=True)]
        )
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


# --- the tables -------------------------------------------------------------------------------


def figures_table(figures: Sequence[kpis.Figure], period: kpis.Period, tz: str) -> Table:
    return Table(
        key="indicateurs",
        title=_("Indicateurs — %(p)s") % {"p": period.label},
        columns=[
            Column(_("Indicateur")),
            Column(_("Valeur"), FIGURE),
            Column(_("Unité"), csv_only=True),
            Column(_("Période précédente"), FIGURE),
            Column(_("Évolution"), CHANGE),
            Column(_("En clair")),
        ],
        rows=[
            [
                f.label,
                (f.value, f.unit),
                unit_label(f.unit),
                (f.previous, f.unit),
                f.change,
                f.sentence,
            ]
            for f in figures
        ],
        tz=tz,
    )


def unit_label(unit: str) -> str:
    return {
        "count": _("nombre"),
        "percent": _("%"),
        "hours": _("heures ouvrées"),
        "per_1000_inhabitants": _("pour 1 000 habitants"),
        "ratio": _("ratio"),
    }.get(unit, unit)


def detail_tables(d: kpis.Detail, tz: str, *, per_account: bool = True) -> list[Table]:
    """Every table of the team dashboard, in page order (the figures first). Without
    ``per_account`` (an intercommunalité's page before anything is filtered), the tables
    of one row per account (accounts, publishing rhythm) are left out: the commune table
    sums them; their CSV still has every account."""
    tables = [
        figures_table(d.figures, d.period, tz),
        Table(
            key="comptes",
            title=_("Par compte"),
            columns=[
                Column(_("Compte")),
                Column(_("Réseau")),
                Column(_("Abonnés"), COUNT),
                Column(_("Nouveaux abonnés"), COUNT),
                Column(_("Vues"), COUNT),
                Column(_("Portée"), COUNT),
                Column(_("Visites du profil"), COUNT),
                Column(_("Clics sur les liens"), COUNT),
                Column(_("Publications"), COUNT),
                Column(_("Interactions"), COUNT),
                Column(_("Commentaires"), COUNT),
                Column(_("Taux d'engagement"), PERCENT),
            ],
            rows=[
                [
                    a.name,
                    a.network_label,
                    a.followers,
                    a.followers_growth,
                    a.impressions,
                    a.reach,
                    a.profile_visits,
                    a.link_clicks,
                    a.posts,
                    a.interactions,
                    a.comments,
                    a.engagement_rate,
                ]
                for a in d.accounts
            ],
            tz=tz,
        ),
        Table(
            key="reseaux",
            title=_("Par réseau"),
            columns=[
                Column(_("Réseau")),
                Column(_("Comptes"), COUNT),
                Column(_("Abonnés"), COUNT),
                Column(_("Nouveaux abonnés"), COUNT),
                Column(_("Vues"), COUNT),
                Column(_("Portée"), COUNT),
                Column(_("Clics sur les liens"), COUNT),
                Column(_("Publications"), COUNT),
                Column(_("Interactions"), COUNT),
                Column(_("Taux d'engagement"), PERCENT),
            ],
            rows=[
                [
                    n.network_label,
                    n.accounts,
                    n.followers,
                    n.followers_growth,
                    n.impressions,
                    n.reach,
                    n.link_clicks,
                    n.posts,
                    n.interactions,
                    n.engagement_rate,
                ]
                for n in d.networks
            ],
            tz=tz,
        ),
    ]
    if d.communes:
        tables.append(communes_table(d, tz))
    tables += [
        Table(
            key="publications-marquantes",
            title=_("Publications les plus marquantes"),
            columns=[
                Column(_("Publication")),
                Column(_("Compte")),
                Column(_("Réseau")),
                Column(_("Publiée le"), DATETIME),
                Column(_("Vues"), COUNT),
                Column(_("Portée"), COUNT),
                Column(_("Interactions"), COUNT),
                Column(_("Commentaires"), COUNT),
                Column(_("Taux d'engagement"), PERCENT),
                Column(_("Pourquoi")),
            ],
            rows=[
                [
                    p.title,
                    p.account_name,
                    p.network_label,
                    p.published_at,
                    p.impressions,
                    p.reach,
                    p.interactions,
                    p.comments,
                    p.engagement_rate,
                    p.why,
                ]
                for p in d.top_posts
            ],
            tz=tz,
        ),
        inbox_table(d.inbox, tz),
        Table(
            key="etiquettes",
            title=_("Messages par étiquette"),
            columns=[
                Column(_("Étiquette")),
                Column(_("Messages"), COUNT),
                Column(_("Part des messages"), PERCENT),
            ],
            rows=[[lc.label, lc.count, lc.share] for lc in d.inbox.triage],
            tz=tz,
        ),
        Table(
            key="tonalite",
            title=_("Tonalité des messages, semaine par semaine"),
            columns=[
                Column(_("Semaine du"), DATE),
                Column(_("Positifs"), COUNT),
                Column(_("Négatifs"), COUNT),
                Column(_("Solde (de −1 à +1)"), RATIO),
            ],
            rows=[[s.week, s.positive, s.negative, s.score] for s in d.inbox.sentiment],
            tz=tz,
        ),
        Table(
            key="themes",
            title=_("Thèmes les plus fréquents"),
            columns=[Column(_("Thème")), Column(_("Messages"), COUNT)],
            rows=[[t.name, t.count] for t in d.inbox.themes],
            tz=tz,
        ),
        Table(
            key="rythme",
            title=_("Rythme de publication et ligne éditoriale"),
            columns=[
                Column(_("Compte")),
                Column(_("Réseau")),
                Column(_("Objectif par semaine"), COUNT),
                Column(_("Publications"), COUNT),
                Column(_("Par semaine"), RATIO),
                Column(_("Atteinte de l'objectif"), PERCENT),
            ],
            rows=[
                [
                    c.account_name,
                    c.network_label,
                    c.target_per_week,
                    c.posts,
                    c.per_week,
                    c.ratio * 100 if c.ratio is not None else None,
                ]
                for c in d.cadence
            ],
            tz=tz,
        ),
        Table(
            key="accessibilite",
            title=_("Accessibilité des publications"),
            columns=[
                Column(_("Publications"), COUNT),
                Column(_("Conformes"), COUNT),
                Column(_("Part conforme"), PERCENT),
                Column(_("Images sans texte alternatif"), COUNT),
                Column(_("Vidéos sans sous-titres"), COUNT),
            ],
            rows=[
                [
                    d.accessibility.posts,
                    d.accessibility.compliant,
                    d.accessibility.share,
                    d.accessibility.images_without_alt,
                    d.accessibility.videos_without_subtitles,
                ]
            ],
            tz=tz,
        ),
        Table(
            key="validation",
            title=_("Validation dans les temps"),
            columns=[
                Column(_("Publications programmées et validées"), COUNT),
                Column(_("Validées avant l'heure prévue"), COUNT),
                Column(_("Part"), PERCENT),
                Column(_("Part, période précédente"), PERCENT),
            ],
            rows=[
                [
                    d.validation.scheduled,
                    d.validation.on_time,
                    d.validation.share,
                    d.validation.previous_share,
                ]
            ],
            tz=tz,
        ),
        Table(
            key="alertes",
            title=_("Alertes urgentes"),
            columns=[
                Column(_("Alerte")),
                Column(_("Publiée le"), DATETIME),
                Column(_("Comptes"), COUNT),
                Column(_("Portée"), COUNT),
                Column(_("Vues"), COUNT),
            ],
            rows=[[a.title, a.published_at, a.variants, a.reach, a.impressions] for a in d.alerts],
            tz=tz,
        ),
        Table(
            key="veille",
            title=_("Veille : mentions de la collectivité"),
            columns=[
                Column(_("Mentions"), COUNT),
                Column(_("Période précédente"), COUNT),
                Column(_("Pics d'activité"), COUNT),
            ],
            rows=[[d.watch.mentions, d.watch.previous_mentions, d.watch.spikes]],
            tz=tz,
        ),
        Table(
            key="site-sources",
            title=_("Visites du site depuis les réseaux, par source"),
            columns=[Column(_("Source (utm_source)")), Column(_("Visites"), COUNT)],
            rows=[[s, v] for s, v in d.web.by_source],
            note=""
            if d.web.imported
            else _("Aucun export de la mesure d'audience du site n'a été importé."),
            tz=tz,
        ),
        Table(
            key="site-pages",
            title=_("Pages du site les plus visitées depuis les réseaux"),
            columns=[Column(_("Page")), Column(_("Visites"), COUNT)],
            rows=[[s, v] for s, v in d.web.top_pages],
            tz=tz,
        ),
        Table(
            key="site-campagnes",
            title=_("Campagnes (utm_campaign) qui ont amené le plus de visites"),
            columns=[Column(_("Campagne")), Column(_("Visites"), COUNT)],
            rows=[[s, v] for s, v in d.web.top_campaigns],
            tz=tz,
        ),
    ]
    if not per_account:
        tables = [t for t in tables if t.key not in PER_ACCOUNT]
    return tables


# the tables with one row per account
PER_ACCOUNT = ("comptes", "rythme")


def communes_columns() -> list[Column]:
    return [
        Column(_("Collectivité")),
        Column(_("Population"), COUNT),
        Column(_("Abonnés"), COUNT),
        Column(_("Nouveaux abonnés"), COUNT),
        Column(_("Portée"), COUNT),
        Column(_("Portée pour 1 000 habitants"), PER_1000),
        Column(_("Publications"), COUNT),
        Column(_("Taux d'engagement"), PERCENT),
        Column(_("Messages reçus"), COUNT),
        Column(_("Demandes"), COUNT),
        Column(_("Taux de réponse"), PERCENT),
    ]


def _commune_cells(r: kpis.CommuneRow) -> list[Any]:
    return [
        r.name,
        r.population,
        r.followers,
        r.followers_growth,
        r.reach,
        r.reach_per_1000,
        r.posts,
        r.engagement_rate,
        r.inbox_volume,
        r.requests,
        r.response_rate,
    ]


def communes_table(d: kpis.Detail | kpis.Overview, tz: str) -> Table:
    return Table(
        key="communes",
        title=_("Par commune"),
        columns=communes_columns(),
        rows=[_commune_cells(r) for r in d.communes],
        footer=_commune_cells(d.communes_total) if d.communes_total else None,
        tz=tz,
    )


def inbox_table(box: kpis.InboxStats, tz: str) -> Table:
    rows: list[tuple[str, float | None, str]] = [
        (_("Messages reçus"), box.volume, COUNT),
        (_("Messages reçus, période précédente"), box.previous_volume, COUNT),
        (_("Demandes (questions, réclamations)"), box.requests, COUNT),
        (_("Demandes ayant reçu une réponse"), box.answered, COUNT),
        (_("Taux de réponse"), box.response_rate, PERCENT),
        (_("Demandes closes"), box.resolved, COUNT),
        (_("Taux de résolution"), box.resolution_rate, PERCENT),
        (_("Première réponse, médiane"), box.median_hours, HOURS),
        (_("Première réponse, 9 sur 10 en moins de"), box.p90_hours, HOURS),
        (_("Objectif de la charte"), float(box.target_hours), HOURS),
        (_("Réponses dans l'objectif"), box.within_target_rate, PERCENT),
        (_("Mentions"), box.mentions, COUNT),
    ]
    return Table(
        key="boite",
        title=_("Boîte de modération"),
        columns=[
            Column(_("Indicateur")),
            Column(_("Valeur"), FIGURE),
            Column(_("Unité"), csv_only=True),
        ],
        rows=[[label, (value, unit), unit_label(unit)] for label, value, unit in rows],
        tz=tz,
    )


def find(tables: Sequence[Table], key: str) -> Table | None:
    return next((t for t in tables if t.key == key), None)


def today_in(tz: str) -> dt.date:
    from django.utils import timezone

    return timezone.now().astimezone(ZoneInfo(tz)).date()
