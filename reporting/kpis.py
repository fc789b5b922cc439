"""The KPIs: one selector module shared by the pages, the exports and the API.

Everything is aggregated in the database (grouped by account, by collectivité or by
day); Python only combines the few grouped rows (one per account at most) and computes
the first-response durations in business hours, which need the calendar of French
public holidays (``monitoring.business_hours``).

``None`` always means "not provided" (no network of the scope gives this figure, or
nothing to measure), never zero. Definitions: ``docs/kpis.md``.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    FloatField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import (
    Cast,
    Coalesce,
    NullIf,
    TruncDate,
    TruncDay,
    TruncMonth,
    TruncWeek,
)
from django.utils import numberformat
from django.utils.dates import MONTHS
from django.utils.formats import date_format, get_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from collectivites.models import Collectivite, EditorialLine, ModerationCharter, SocialAccount
from networks.registry import Network
from reporting.models import (
    ACCOUNT_FIGURES,
    INBOX_DAY_COUNTS,
    INBOX_DAY_LABELS,
    AccountMetricDay,
    AccountMetricMonth,
    InboxDay,
    PostMetricDay,
    PostMetricLatest,
    WebAnalyticsRow,
)

KINDS = ("month", "quarter", "year", "custom")
UNITS = ("count", "percent", "hours", "per_1000_inhabitants", "ratio")
GRANULARITIES = ("day", "week", "month")
ACCOUNT_METRICS = tuple(ACCOUNT_FIGURES)
SERIES_METRICS = (
    *ACCOUNT_METRICS,
    "posts",
    "interactions",
    "engagement_rate",
    "inbox",
    "requests",
    "mentions",
    "site_visits",
)
# Triage labels shown in the mix (monitoring.triage.CODES), in this order: the rollup's, so
# that a day's label counts are read in the order they are kept.
TRIAGE_CODES = INBOX_DAY_LABELS
DEFAULT_OPENS = dt.time(9, 0)
DEFAULT_CLOSES = dt.time(17, 30)
DEFAULT_TARGET_HOURS = 24
TOP_POSTS = 5


# --- periods ----------------------------------------------------------------------------------


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + (day.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """Days from ``start`` (included) to ``end`` (excluded), in the collectivité's time
    zone."""

    start: dt.date
    end: dt.date
    kind: str = "custom"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown period kind {self.kind!r}")
        if self.end <= self.start:
            raise ValueError(_("La fin de la période doit suivre son début."))

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        if not 1 <= month <= 12:
            raise ValueError(_("Le mois doit être compris entre 1 et 12."))
        start = dt.date(year, month, 1)
        return cls(start, _add_months(start, 1), "month")

    @classmethod
    def quarter(cls, year: int, q: int) -> Period:
        if not 1 <= q <= 4:
            raise ValueError(_("Le trimestre doit être compris entre 1 et 4."))
        start = dt.date(year, 3 * (q - 1) + 1, 1)
        return cls(start, _add_months(start, 3), "quarter")

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(dt.date(year, 1, 1), dt.date(year + 1, 1, 1), "year")

    @classmethod
    def custom(cls, start: dt.date, end: dt.date) -> Period:
        return cls(start, end, "custom")

    @classmethod
    def containing(cls, day: dt.date, kind: str) -> Period:
        if kind == "month":
            return cls.month(day.year, day.month)
        if kind == "quarter":
            return cls.quarter(day.year, (day.month - 1) // 3 + 1)
        if kind == "year":
            return cls.year(day.year)
        raise ValueError(f"no period of kind {kind!r} contains a day")

    def previous(self) -> Period:
        """The period just before: the previous month, quarter or year; for a custom
        period, the same number of days just before."""
        if self.kind == "month":
            return Period(_add_months(self.start, -1), self.start, "month")
        if self.kind == "quarter":
            return Period(_add_months(self.start, -3), self.start, "quarter")
        if self.kind == "year":
            return Period.year(self.start.year - 1)
        return Period(self.start - (self.end - self.start), self.start, "custom")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def weeks(self) -> float:
        return self.days / 7

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day < self.end

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{MONTHS[self.start.month]} {self.start.year}"
        if self.kind == "quarter":
            return _("T%(q)d %(year)d") % {
                "q": (self.start.month - 1) // 3 + 1,
                "year": self.start.year,
            }
        if self.kind == "year":
            return str(self.start.year)
        return _("du %(start)s au %(end)s") % {
            "start": date_format(self.start, "SHORT_DATE_FORMAT"),
            "end": date_format(self.last_day, "SHORT_DATE_FORMAT"),
        }

    @property
    def previous_phrase(self) -> str:
        """How a sentence names the previous period: "le mois précédent"."""
        return {
            "month": _("le mois précédent"),
            "quarter": _("le trimestre précédent"),
            "year": _("l'année précédente"),
        }.get(self.kind, _("la période précédente"))

    def bounds(self, tz: str) -> tuple[dt.datetime, dt.datetime]:
        """The period as aware datetimes: midnight of ``start`` and of ``end`` in ``tz``."""
        zone = ZoneInfo(tz)
        return (
            dt.datetime.combine(self.start, dt.time(), zone),
            dt.datetime.combine(self.end, dt.time(), zone),
        )


# --- figures ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _separators(lang: str | None) -> tuple[str, Any, str]:
    return (
        get_format("DECIMAL_SEPARATOR", lang),
        get_format("NUMBER_GROUPING", lang),
        get_format("THOUSAND_SEPARATOR", lang),
    )


def number_format(
    value: float, decimal_pos: int | None = None, force_grouping: bool = False
) -> str:
    """``django.utils.formats.number_format`` with the language's separators looked up
    once per language: a dashboard formats thousands of figures, and the lookups were most
    of its cost."""
    decimal, grouping, thousand = _separators(get_language())
    return numberformat.format(
        value,
        decimal,
        decimal_pos,
        grouping,
        thousand,
        force_grouping=force_grouping,
        use_l10n=True,
    )


def format_value(value: float | None, unit: str) -> str:
    """A figure as a French page shows it; "non fourni" when there is none."""
    if value is None:
        return _("non fourni")
    if unit == "hours":
        return format_hours(value)
    if unit == "percent":
        return _("%(value)s %%") % {"value": number_format(value, 1, force_grouping=True)}
    if unit in ("per_1000_inhabitants", "ratio"):
        return number_format(value, 1, force_grouping=True)
    return number_format(round(value), 0, force_grouping=True)


def format_hours(hours: float) -> str:
    minutes = round(hours * 60)
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    h, m = divmod(minutes, 60)
    if m == 0 or h >= 10:
        return _("%(h)d h") % {"h": round(minutes / 60)}
    return _("%(h)d h %(m)02d") % {"h": h, "m": m}


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float | None
    previous: float | None
    unit: str
    sentence: str

    @property
    def change(self) -> float | None:
        """Relative change against the previous period (0.25 = +25 %)."""
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return (self.value - self.previous) / abs(self.previous)

    @property
    def provided(self) -> bool:
        return self.value is not None

    @property
    def display(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def previous_display(self) -> str:
        return format_value(self.previous, self.unit)


def _labels() -> dict[str, str]:
    return _labels_in(get_language())


@functools.lru_cache(maxsize=16)
def _labels_in(language: str | None) -> dict[str, str]:
    """The figures' labels in ``language`` (the active one): translated once per language,
    not once per figure."""
    return {
        "audience": _("Abonnés"),
        "audience_growth": _("Nouveaux abonnés"),
        "reach": _("Portée"),
        "reach_per_1000": _("Portée pour 1 000 habitants"),
        "impressions": _("Vues"),
        "engagement_rate": _("Taux d'engagement"),
        "response_time_median": _("Délai médian de première réponse"),
        "response_time_p90": _("Délai de première réponse (90 %)"),
        "response_rate": _("Taux de réponse"),
        "resolution_rate": _("Demandes résolues"),
        "inbox_volume": _("Messages reçus"),
        "posts_published": _("Publications"),
        "alerts_reach": _("Portée des alertes urgentes"),
        "link_clicks": _("Clics sur les liens"),
        "site_visits": _("Visites du site depuis les réseaux"),
        "accessibility_share": _("Publications accessibles"),
        "validated_on_time": _("Validées à temps"),
        "mentions": _("Mentions"),
    }


def _sentences() -> dict[str, tuple[str, str, str]]:
    """key -> (with both values, without a previous value, when not provided)."""
    return _sentences_in(get_language())


@functools.lru_cache(maxsize=16)
def _sentences_in(language: str | None) -> dict[str, tuple[str, str, str]]:
    return {
        "audience": (
            _(
                "Les comptes de la collectivité réunissent %(value)s abonnés"
                ", contre %(previous)s %(when)s."
            ),
            _("Les comptes de la collectivité réunissent %(value)s abonnés."),
            _("Le nombre d'abonnés n'est pas fourni pour cette période."),
        ),
        "audience_growth": (
            _("Les comptes ont gagné %(value)s abonnés, contre %(previous)s %(when)s."),
            _("Les comptes ont gagné %(value)s abonnés."),
            _("L'évolution du nombre d'abonnés n'est pas connue pour cette période."),
        ),
        "reach": (
            _(
                "Les publications ont été vues par %(value)s personnes (cumul quotidien)"
                ", contre %(previous)s %(when)s."
            ),
            _("Les publications ont été vues par %(value)s personnes (cumul quotidien)."),
            _("La portée n'est fournie par aucun des réseaux de la collectivité."),
        ),
        "reach_per_1000": (
            _(
                "Soit %(value)s personnes touchées pour 1 000 habitants"
                ", contre %(previous)s %(when)s."
            ),
            _("Soit %(value)s personnes touchées pour 1 000 habitants."),
            _(
                "La portée par habitant n'est pas connue "
                "(portée non fournie ou population non renseignée)."
            ),
        ),
        "impressions": (
            _("Les publications ont été affichées %(value)s fois, contre %(previous)s %(when)s."),
            _("Les publications ont été affichées %(value)s fois."),
            _("Le nombre de vues n'est fourni par aucun des réseaux de la collectivité."),
        ),
        "engagement_rate": (
            _(
                "Les publications ont suscité %(value)s d'interactions"
                ", contre %(previous)s %(when)s."
            ),
            _("Les publications ont suscité %(value)s d'interactions."),
            _("Le taux d'engagement n'est pas connu : aucune publication mesurée sur la période."),
        ),
        "response_time_median": (
            _(
                "Les habitants ont obtenu une réponse en %(value)s en médiane"
                ", contre %(previous)s %(when)s."
            ),
            _("Les habitants ont obtenu une réponse en %(value)s en médiane."),
            _("Aucune question ni réclamation n'a reçu de réponse sur la période."),
        ),
        "response_time_p90": (
            _(
                "9 réponses sur 10 ont été données en moins de %(value)s"
                ", contre %(previous)s %(when)s."
            ),
            _("9 réponses sur 10 ont été données en moins de %(value)s."),
            _("Aucune question ni réclamation n'a reçu de réponse sur la période."),
        ),
        "response_rate": (
            _(
                "%(value)s des questions et réclamations ont reçu une réponse"
                ", contre %(previous)s %(when)s."
            ),
            _("%(value)s des questions et réclamations ont reçu une réponse."),
            _("Aucune question ni réclamation n'a été reçue sur la période."),
        ),
        "resolution_rate": (
            _(
                "%(value)s des demandes des habitants ont été traitées et closes"
                ", contre %(previous)s %(when)s."
            ),
            _("%(value)s des demandes des habitants ont été traitées et closes."),
            _("Aucune demande d'habitant n'a été reçue sur la période."),
        ),
        "inbox_volume": (
            _("%(value)s messages d'habitants ont été reçus, contre %(previous)s %(when)s."),
            _("%(value)s messages d'habitants ont été reçus."),
            _("Aucun message n'a été reçu sur la période."),
        ),
        "posts_published": (
            _("%(value)s publications sont parues, contre %(previous)s %(when)s."),
            _("%(value)s publications sont parues."),
            _("Aucune publication n'est parue sur la période."),
        ),
        "alerts_reach": (
            _("Les alertes urgentes ont touché %(value)s personnes, contre %(previous)s %(when)s."),
            _("Les alertes urgentes ont touché %(value)s personnes."),
            _("Aucune alerte urgente mesurée sur la période."),
        ),
        "link_clicks": (
            _(
                "Les liens des publications ont été cliqués %(value)s fois"
                ", contre %(previous)s %(when)s."
            ),
            _("Les liens des publications ont été cliqués %(value)s fois."),
            _("Les clics sur les liens ne sont fournis par aucun des réseaux de la collectivité."),
        ),
        "site_visits": (
            _("Les réseaux ont amené %(value)s visites sur le site, contre %(previous)s %(when)s."),
            _("Les réseaux ont amené %(value)s visites sur le site."),
            _("Aucun export de la mesure d'audience du site n'a été importé pour cette période."),
        ),
        "accessibility_share": (
            _(
                "%(value)s des publications respectaient les règles d'accessibilité"
                ", contre %(previous)s %(when)s."
            ),
            _("%(value)s des publications respectaient les règles d'accessibilité."),
            _("Aucune publication sur la période."),
        ),
        "validated_on_time": (
            _(
                "%(value)s des publications ont été validées avant l'heure prévue"
                ", contre %(previous)s %(when)s."
            ),
            _("%(value)s des publications ont été validées avant l'heure prévue."),
            _("Aucune publication programmée n'est passée par la validation sur la période."),
        ),
        "mentions": (
            _("La collectivité a été mentionnée %(value)s fois, contre %(previous)s %(when)s."),
            _("La collectivité a été mentionnée %(value)s fois."),
            _("Aucune mention relevée sur la période."),
        ),
    }


def make_figure(
    key: str, value: float | None, previous: float | None, unit: str, period: Period
) -> Figure:
    both, alone, missing = _sentences()[key]
    shown = value
    if key == "audience_growth" and value is not None and value < 0:
        shown = -value
        both = _("Les comptes ont perdu %(value)s abonnés, contre %(previous)s %(when)s.")
        alone = _("Les comptes ont perdu %(value)s abonnés.")
        previous_txt = format_value(-previous if previous is not None else None, unit)
    else:
        previous_txt = format_value(previous, unit)
    if value is None:
        sentence = missing
    elif previous is None:
        sentence = alone % {"value": format_value(shown, unit)}
    else:
        sentence = both % {
            "value": format_value(shown, unit),
            "previous": previous_txt,
            "when": period.previous_phrase,
        }
    return Figure(key, _labels()[key], value, previous, unit, sentence)


# --- scope ------------------------------------------------------------------------------------


def scope_ids(collectivite: Collectivite) -> list[int]:
    """The collectivité itself, then its member communes when it is an intercommunalité
    (communes whose ``parent`` it is)."""
    children = Collectivite.objects.filter(parent=collectivite).order_by("name")
    return [collectivite.pk, *children.values_list("pk", flat=True)]


def _rows(model: type, ids: list[int]) -> QuerySet:
    """Rows of the collectivités in ``ids``, which always come from ``scope_ids`` of the
    collectivité the caller was allowed to read (itself and its communes)."""
    if len(ids) == 1:
        return model.objects.for_collectivite(ids[0])
    return model.objects.dangerously_unscoped().filter(collectivite_id__in=ids)


def _population(collectivite: Collectivite, ids: list[int]) -> int | None:
    if collectivite.population:
        return collectivite.population
    if len(ids) > 1:
        total = Collectivite.objects.filter(pk__in=ids[1:]).aggregate(p=Sum("population"))["p"]
        return total or None
    return None


def _add(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _ratio(num: float | None, den: float | None, scale: float = 100.0) -> float | None:
    if num is None or not den:
        return None
    return num * scale / den


def _growth(end: int | None, before: int | None) -> int | None:
    if end is None or before is None:
        return None
    return end - before


# --- the grouped queries ----------------------------------------------------------------------


@dataclass
class _Acc:
    """One account's aggregates for the period (``_p``: the previous period)."""

    pk: int
    collectivite_id: int
    network: str
    name: str
    followers: int | None = None
    followers_p: int | None = None
    followers_pp: int | None = None
    impressions: int | None = None
    impressions_p: int | None = None
    reach: int | None = None
    reach_p: int | None = None
    profile_visits: int | None = None
    profile_visits_p: int | None = None
    link_clicks: int | None = None
    link_clicks_p: int | None = None
    posts: int = 0
    posts_p: int = 0
    alerts: int = 0
    measured: int = 0
    post_impressions: int | None = None
    post_reach: int | None = None
    comments: int | None = None
    interactions: int | None = None
    eng_num: float = 0.0
    eng_den: float = 0.0
    eng_num_p: float = 0.0
    eng_den_p: float = 0.0
    alerts_reach: int | None = None
    alerts_reach_p: int | None = None

    @property
    def growth(self) -> int | None:
        return _growth(self.followers, self.followers_p)

    @property
    def growth_p(self) -> int | None:
        return _growth(self.followers_p, self.followers_pp)


def _accounts_qs(ids: list[int], account_id: int | None, network: str | None) -> QuerySet:
    qs = _rows(SocialAccount, ids)
    if account_id is not None:
        qs = qs.filter(pk=account_id)
    if network:
        qs = qs.filter(network=network)
    return qs


def _last_followers(period: Period) -> Subquery:
    return Subquery(
        AccountMetricDay.objects.filter(
            collectivite_id=OuterRef("collectivite_id"),
            account_id=OuterRef("pk"),
            day__gte=period.start,
            day__lt=period.end,
            followers__isnull=False,
        )
        .order_by("-day")
        .values("followers")[:1]
    )


def _whole_months(period: Period) -> bool:
    return period.start.day == 1 and period.end.day == 1


def _followers_at_end(
    ids: list[int], periods: list[Period], account_ids: list[int], *, filtered: bool
) -> list[dict[int, int]]:
    """For each of ``periods``, the last known followers count in it of each account of
    ``account_ids`` (the scope's, or those of a filter when ``filtered``). PostgreSQL:
    ``DISTINCT ON (account_id)``, instead of a subquery per account and period. A period of
    whole months reads the months' rows (``AccountMetricMonth``: each holds its last count).
    Otherwise, followers being collected daily, the period's last week is read first; only
    the accounts with no count in it are looked for in the whole period."""
    found: list[dict[int, int]] = []
    for period in periods:
        model, field = (
            (AccountMetricMonth, "month") if _whole_months(period) else (AccountMetricDay, "day")
        )
        rows = _rows(model, ids).filter(
            **{f"{field}__gte": period.start, f"{field}__lt": period.end},
            followers__isnull=False,
        )

        def last(qs: QuerySet, field: str = field) -> dict[int, int]:
            return dict(
                qs.order_by("account_id", f"-{field}")
                .distinct("account_id")
                .values_list("account_id", "followers")
            )

        if model is AccountMetricMonth:
            found.append(last(rows.filter(account_id__in=account_ids) if filtered else rows))
            continue
        week = max(period.start, period.end - dt.timedelta(days=7))
        recent = rows.filter(day__gte=week)
        ends = last(recent.filter(account_id__in=account_ids) if filtered else recent)
        missing = [pk for pk in account_ids if pk not in ends]
        if missing and week > period.start:
            ends.update(last(rows.filter(day__lt=week, account_id__in=missing)))
        found.append(ends)
    return found


def _postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _latest_post_rows(ids: list[int], variants: QuerySet) -> QuerySet:
    """The latest snapshot of each variant of ``variants`` (a post's metrics are lifetime
    totals, so its latest row is its figure), as rows with ``PostMetricDay``'s fields.

    PostgreSQL: ``PostMetricLatest``, one row per variant kept by a trigger on every write
    to ``PostMetricDay`` (migration 0003): one primary-key probe per post of the periods
    instead of looking through its snapshots. Elsewhere (SQLite), the portable correlated
    subquery "the row whose day is its variant's latest day"; both give the same rows
    (``tests/reporting/test_fast_paths.py``)."""
    if _postgres():
        return _rows(PostMetricLatest, ids).filter(variant_id__in=variants.values("pk"))
    rows = _rows(PostMetricDay, ids).filter(variant_id__in=variants.values("pk"))
    latest = (
        PostMetricDay.objects.filter(
            collectivite_id=OuterRef("collectivite_id"), variant_id=OuterRef("variant_id")
        )
        .order_by("-day")
        .values("day")[:1]
    )
    return rows.filter(day=Subquery(latest))


def _interactions() -> Any:
    return (
        Coalesce("reactions", 0)
        + Coalesce("comments", 0)
        + Coalesce("shares", 0)
        + Coalesce("saves", 0)
    )


def _accounts(
    ids: list[int],
    period: Period,
    tz: str,
    account_id: int | None,
    network: str | None,
) -> dict[int, _Acc]:
    prev = period.previous()
    accounts_qs = _accounts_qs(ids, account_id, network)
    accs: dict[int, _Acc] = {}
    fields = ("pk", "collectivite_id", "network", "display_name", "handle")
    if _postgres():
        rows = list(accounts_qs.values(*fields))
        ends = _followers_at_end(
            ids,
            [period, prev, prev.previous()],
            [r["pk"] for r in rows],
            filtered=account_id is not None or bool(network),
        )
        for r in rows:
            r["f"], r["f_p"], r["f_pp"] = (end.get(r["pk"]) for end in ends)
    else:
        rows = list(
            accounts_qs.annotate(
                f=_last_followers(period),
                f_p=_last_followers(prev),
                f_pp=_last_followers(prev.previous()),
            ).values(*fields, "f", "f_p", "f_pp")
        )
    for row in rows:
        accs[row["pk"]] = _Acc(
            pk=row["pk"],
            collectivite_id=row["collectivite_id"],
            network=row["network"],
            name=row["display_name"] or row["handle"],
            followers=row["f"],
            followers_p=row["f_p"],
            followers_pp=row["f_pp"],
        )
    if not accs:
        return accs
    filtered = account_id is not None or bool(network)
    account_ids = list(accs)

    # account metrics: sums per account over both periods in one pass; on PostgreSQL,
    # periods of whole months read the months' sums (``AccountMetricMonth``)
    model, field = (
        (AccountMetricMonth, "month")
        if _postgres() and _whole_months(period) and _whole_months(prev)
        else (AccountMetricDay, "day")
    )
    days = _rows(model, ids).filter(**{f"{field}__gte": prev.start, f"{field}__lt": period.end})
    if filtered:
        days = days.filter(account_id__in=account_ids)
    now, before = Q(**{f"{field}__gte": period.start}), Q(**{f"{field}__lt": period.start})
    sums: dict[str, Any] = {}
    for m in ("impressions", "reach", "profile_visits", "link_clicks"):
        sums[f"s_{m}"] = Sum(m, filter=now)
        sums[f"s_{m}_p"] = Sum(m, filter=before)
    # order_by(): the model's ordering by account would join the accounts for nothing
    for row in days.order_by().values("account_id").annotate(**sums):
        acc = accs.get(row["account_id"])
        if acc is not None:
            for key in sums:
                setattr(acc, key[2:], row[key])

    # published variants per account, and the latest figures of those that have some
    start, end = period.bounds(tz)
    p_start, _p_end = prev.bounds(tz)
    posts_of = _posts_by_account_sql if _postgres() else _posts_by_account
    for row in posts_of(ids, p_start, start, end, account_ids if filtered else None):
        acc = accs.get(row["account_id"])
        if acc is None:
            continue
        acc.posts, acc.posts_p, acc.alerts = row["posts"], row["posts_p"], row["alerts"]
        acc.measured = row["measured"]
        acc.post_impressions = row["post_impressions"]
        acc.post_reach = row["post_reach"]
        acc.comments = row["comments_sum"]
        acc.interactions = row["interactions"]
        acc.alerts_reach, acc.alerts_reach_p = row["alerts_reach"], row["alerts_reach_p"]
        # engagement: interactions per view; per follower for posts whose network gives
        # no view count (Mastodon, Bluesky), see docs/kpis.md
        acc.eng_num = float(row["inter_impr"] or 0)
        acc.eng_den = float(row["post_impressions"] or 0)
        if row["n_no_impr"] and acc.followers:
            acc.eng_num += float(row["inter_no_impr"] or 0)
            acc.eng_den += float(row["n_no_impr"] * acc.followers)
        acc.eng_num_p = float(row["inter_impr_p"] or 0)
        acc.eng_den_p = float(row["impressions_p"] or 0)
        if row["n_no_impr_p"] and acc.followers_p:
            acc.eng_num_p += float(row["inter_no_impr_p"] or 0)
            acc.eng_den_p += float(row["n_no_impr_p"] * acc.followers_p)
    return accs


# what ``_posts_by_account`` gives for each account: the posts published in the period
# and the previous one, the urgent alerts, then sums over the latest figures of the posts
# that have some (``_p``: the previous period)
POST_SUMS = (
    "measured",
    "post_impressions",
    "post_reach",
    "comments_sum",
    "interactions",
    "inter_impr",
    "inter_no_impr",
    "n_no_impr",
    "inter_impr_p",
    "inter_no_impr_p",
    "n_no_impr_p",
    "impressions_p",
    "alerts_reach",
    "alerts_reach_p",
)


def _posts_by_account(
    ids: list[int],
    p_start: dt.datetime,
    start: dt.datetime,
    end: dt.datetime,
    account_ids: list[int] | None,
) -> list[dict[str, Any]]:
    """Per account, the posts published from ``p_start`` to ``end`` (the previous period
    before ``start``) counted, and the latest figures of those that have some summed
    (``POST_SUMS``): the portable path, two grouped queries (``_posts_by_account_sql``
    gives the same rows on PostgreSQL in one)."""
    variants = _published_between(ids, p_start, end, account_ids)
    cur, old = Q(published_at__gte=start), Q(published_at__lt=start)
    found: dict[int, dict[str, Any]] = {}
    for row in variants.values("account_id").annotate(
        posts=Count("pk", filter=cur),
        posts_p=Count("pk", filter=old),
        alerts=Count("pk", filter=cur & Q(publication__urgent=True)),
    ):
        found[row["account_id"]] = {
            **row,
            **dict.fromkeys(POST_SUMS),
            "measured": 0,
            "n_no_impr": 0,
            "n_no_impr_p": 0,
        }
    cur = Q(variant__published_at__gte=start)
    old = Q(variant__published_at__lt=start)
    has_impr, no_impr = Q(impressions__isnull=False), Q(impressions__isnull=True)
    urgent = Q(variant__publication__urgent=True)
    for row in (
        _latest_post_rows(ids, variants)
        .annotate(inter=_interactions())
        .order_by()
        .values("variant__account_id")
        .annotate(
            measured=Count("pk", filter=cur),
            post_impressions=Sum("impressions", filter=cur),
            post_reach=Sum("reach", filter=cur),
            comments_sum=Sum("comments", filter=cur),
            interactions=Sum("inter", filter=cur),
            inter_impr=Sum("inter", filter=cur & has_impr),
            inter_no_impr=Sum("inter", filter=cur & no_impr),
            n_no_impr=Count("pk", filter=cur & no_impr),
            inter_impr_p=Sum("inter", filter=old & has_impr),
            inter_no_impr_p=Sum("inter", filter=old & no_impr),
            n_no_impr_p=Count("pk", filter=old & no_impr),
            impressions_p=Sum("impressions", filter=old),
            alerts_reach=Sum("reach", filter=cur & urgent),
            alerts_reach_p=Sum("reach", filter=old & urgent),
        )
    ):
        found[row.pop("variant__account_id")].update(row)
    return list(found.values())


def _posts_sql(
    ids: list[int],
    since: dt.datetime,
    end: dt.datetime,
    account_ids: list[int] | None,
    *,
    unmeasured: bool,
) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: the ``FROM … WHERE`` of the scope's posts (``v``) published from
    ``since`` to ``end``, each with its latest figures (``m``, ``m.inter`` the sum of
    ``_interactions()``) looked up by key in a lateral subquery kept apart (``OFFSET 0``)
    so the planner cannot turn it into a scan and hash of every post's figures; with the
    posts not measured yet (``m`` null) when ``unmeasured``. Its parameters: ``ids``,
    ``accounts``, ``published``, ``since``, ``end``."""
    from publishing.models import Variant

    which = "" if account_ids is None else "AND v.account_id = ANY(%(accounts)s)"
    sql = f"""
        FROM {Variant._meta.db_table} v
        {"LEFT JOIN" if unmeasured else "JOIN"} LATERAL (
            SELECT variant_id, impressions, reach, comments,
                   COALESCE(reactions, 0) + COALESCE(comments, 0)
                   + COALESCE(shares, 0) + COALESCE(saves, 0) AS inter
            FROM {PostMetricLatest._meta.db_table}
            WHERE variant_id = v.id AND collectivite_id = ANY(%(ids)s)
            OFFSET 0
        ) m ON TRUE
        WHERE v.collectivite_id = ANY(%(ids)s) AND v.state = %(published)s
          AND v.published_at >= %(since)s AND v.published_at < %(end)s {which}"""  # noqa: S608 -- constant names and clauses
    params = {
        "ids": list(ids),
        "accounts": list(account_ids or ()),
        "published": Variant.State.PUBLISHED.value,
        "since": since,
        "end": end,
    }
    return sql, params


def _fetch(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _posts_by_account_sql(
    ids: list[int],
    p_start: dt.datetime,
    start: dt.datetime,
    end: dt.datetime,
    account_ids: list[int] | None,
) -> list[dict[str, Any]]:
    """PostgreSQL: ``_posts_by_account`` in one query. It walks the periods' posts on the
    published index and looks up each one's latest figures by key (``_posts_sql``), and
    reads the urgent publications once from their partial index
    (``publication_urgent_idx``) rather than joining every publication. Both paths give
    the same rows (``tests/reporting/test_fast_paths.py``)."""
    from publishing.models import Publication

    publication = Publication._meta.db_table
    cur, old = "v.published_at >= %(start)s", "v.published_at < %(start)s"
    urgent = (
        f"v.publication_id IN (SELECT id FROM {publication} "  # noqa: S608 -- constant names
        "WHERE urgent AND collectivite_id = ANY(%(ids)s))"
    )
    has = "m.variant_id IS NOT NULL"
    sums = {
        "measured": f"COUNT(*) FILTER (WHERE {cur} AND {has})",
        "post_impressions": f"SUM(m.impressions) FILTER (WHERE {cur})::bigint",
        "post_reach": f"SUM(m.reach) FILTER (WHERE {cur})::bigint",
        "comments_sum": f"SUM(m.comments) FILTER (WHERE {cur})::bigint",
        "interactions": f"SUM(m.inter) FILTER (WHERE {cur})::bigint",
        "inter_impr": f"SUM(m.inter) FILTER (WHERE {cur} AND m.impressions IS NOT NULL)::bigint",
        "inter_no_impr": f"SUM(m.inter) FILTER (WHERE {cur} AND m.impressions IS NULL)::bigint",
        "n_no_impr": f"COUNT(*) FILTER (WHERE {cur} AND {has} AND m.impressions IS NULL)",
        "inter_impr_p": f"SUM(m.inter) FILTER (WHERE {old} AND m.impressions IS NOT NULL)::bigint",
        "inter_no_impr_p": f"SUM(m.inter) FILTER (WHERE {old} AND m.impressions IS NULL)::bigint",
        "n_no_impr_p": f"COUNT(*) FILTER (WHERE {old} AND {has} AND m.impressions IS NULL)",
        "impressions_p": f"SUM(m.impressions) FILTER (WHERE {old})::bigint",
        "alerts_reach": f"SUM(m.reach) FILTER (WHERE {cur} AND {urgent})::bigint",
        "alerts_reach_p": f"SUM(m.reach) FILTER (WHERE {old} AND {urgent})::bigint",
    }
    columns = {
        "account_id": "v.account_id",
        "posts": f"COUNT(*) FILTER (WHERE {cur})",
        "posts_p": f"COUNT(*) FILTER (WHERE {old})",
        "alerts": f"COUNT(*) FILTER (WHERE {cur} AND {urgent})",
        **sums,
    }
    assert tuple(sums) == POST_SUMS
    posts, params = _posts_sql(ids, p_start, end, account_ids, unmeasured=True)
    sql = f"""
        SELECT {", ".join(f"{expression} AS {name}" for name, expression in columns.items())}
        {posts}
        GROUP BY v.account_id"""  # noqa: S608 -- table names and clauses are constants
    return _fetch(sql, params | {"start": start})


@dataclass
class _Totals:
    """Sums over a set of accounts."""

    followers: int | None
    followers_p: int | None
    growth: int | None
    growth_p: int | None
    impressions: int | None
    impressions_p: int | None
    reach: int | None
    reach_p: int | None
    link_clicks: int | None
    link_clicks_p: int | None
    posts: int
    posts_p: int
    engagement: float | None
    engagement_p: float | None
    alerts: int
    alerts_reach: int | None
    alerts_reach_p: int | None
    interactions: int | None
    accounts: int


def _totals(accs: Iterable[_Acc]) -> _Totals:
    accs = list(accs)

    def total(attr: str) -> Any:
        return _add(*(getattr(a, attr) for a in accs))

    return _Totals(
        followers=total("followers"),
        followers_p=total("followers_p"),
        growth=total("growth"),
        growth_p=total("growth_p"),
        impressions=total("impressions"),
        impressions_p=total("impressions_p"),
        reach=total("reach"),
        reach_p=total("reach_p"),
        link_clicks=total("link_clicks"),
        link_clicks_p=total("link_clicks_p"),
        posts=sum(a.posts for a in accs),
        posts_p=sum(a.posts_p for a in accs),
        engagement=_ratio(sum(a.eng_num for a in accs), sum(a.eng_den for a in accs)),
        engagement_p=_ratio(sum(a.eng_num_p for a in accs), sum(a.eng_den_p for a in accs)),
        alerts=sum(a.alerts for a in accs),
        alerts_reach=total("alerts_reach"),
        alerts_reach_p=total("alerts_reach_p"),
        interactions=total("interactions"),
        accounts=len(accs),
    )


@dataclass
class _Charter:
    opens: dt.time
    closes: dt.time
    target_hours: int  # the general answer delay target
    tz: str
    targets: dict[str, int] = field(default_factory=dict)  # a network's own, where set

    def target_on(self, network: str) -> int:
        return ModerationCharter.target_in(self.targets, self.target_hours, network)

    def within(self, hours: str) -> Q:
        """The answers given within the target of their network (``hours``: the name of
        the answer's delay in hours annotated on the items)."""
        own = {network: int(t) for network, t in self.targets.items() if t}
        within = Q(**{f"{hours}__lte": self.target_hours})
        if not own:
            return within
        within &= ~Q(network__in=list(own))
        for network, target in own.items():
            within |= Q(network=network, **{f"{hours}__lte": target})
        return within


def _charters(ids: list[int], default_tz: dict[int, str]) -> dict[int, _Charter]:
    found = {
        c["collectivite_id"]: c
        for c in _rows(ModerationCharter, ids).values(
            "collectivite_id",
            "business_hours_start",
            "business_hours_end",
            "response_target_hours",
            "response_targets",
        )
    }
    charters = {}
    for cid in ids:
        c = found.get(cid)
        charters[cid] = _Charter(
            opens=c["business_hours_start"] if c else DEFAULT_OPENS,
            closes=c["business_hours_end"] if c else DEFAULT_CLOSES,
            target_hours=c["response_target_hours"] if c else DEFAULT_TARGET_HOURS,
            tz=default_tz.get(cid, "Europe/Paris"),
            targets=dict(c["response_targets"] or {}) if c else {},
        )
    return charters


def _percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (q in 0..1), as spreadsheets compute it."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class _Inbox:
    volume: int = 0
    volume_p: int = 0
    requests: int = 0
    requests_p: int = 0
    answered: int = 0
    answered_p: int = 0
    resolved: int = 0
    resolved_p: int = 0
    mentions: int = 0
    mentions_p: int = 0
    # first-response durations in business hours: median and 90th percentile of each
    # period, how many answers of the period have one, and how many met their target
    median: float | None = None
    p90: float | None = None
    median_p: float | None = None
    p90_p: float | None = None
    timed: int = 0
    within_target: int = 0
    target_hours: int = DEFAULT_TARGET_HOURS
    # the period's volume, requests and answered per collectivité (commune rows)
    by_collectivite: dict[int, dict[str, int]] = field(default_factory=dict)
    # the counts of each collectivité and day of both periods (``_day_counts``), when they
    # were read that way; the triage mix and the sentiment reuse them
    days: dict[tuple[int, dt.date], tuple[int, ...]] | None = None


def _items_qs(ids: list[int], account_ids: list[int] | None) -> QuerySet:
    from monitoring.models import InboxItem

    qs = _rows(InboxItem, ids)
    if account_ids is not None:
        qs = qs.filter(account_id__in=account_ids)
    return qs


def _inbox_grouped(box: _Inbox, items: QuerySet, cur: Q, old: Q) -> None:
    """The counts of both periods in one pass over the items, grouped by collectivité:
    the totals and the commune rows (an account or network filter, or SQLite)."""
    from monitoring.models import InboxItem

    req = Q(needs_answer=True)
    done = Q(first_response_at__isnull=False)
    closed = Q(status=InboxItem.Status.CLOS)
    mention = Q(kind=InboxItem.Kind.MENTION)
    for row in (
        items.order_by()
        .values("collectivite_id")
        .annotate(
            volume=Count("pk", filter=cur),
            volume_p=Count("pk", filter=old),
            requests=Count("pk", filter=cur & req),
            requests_p=Count("pk", filter=old & req),
            answered=Count("pk", filter=cur & req & done),
            answered_p=Count("pk", filter=old & req & done),
            resolved=Count("pk", filter=cur & req & closed),
            resolved_p=Count("pk", filter=old & req & closed),
            mentions=Count("pk", filter=cur & mention),
            mentions_p=Count("pk", filter=old & mention),
        )
    ):
        cid = row.pop("collectivite_id")
        for key, n in row.items():
            setattr(box, key, getattr(box, key) + n)
        box.by_collectivite[cid] = {k: row[k] for k in ("volume", "requests", "answered")}


def _rolled_up(account_ids: list[int] | None) -> bool:
    """Whether the inbox's counts are read by day (``_day_counts``): on PostgreSQL, for a
    whole scope (the rollup is per collectivité, not per account)."""
    return account_ids is None and _postgres()


def _day_counts_aggregates() -> dict[str, Count]:
    """``INBOX_DAY_COUNTS`` as aggregates over items: the definitions ``InboxDay`` keeps
    (``reporting.services._inbox_day_sql`` writes the same in SQL)."""
    from monitoring.models import InboxItem

    req = Q(needs_answer=True)
    return {
        "volume": Count("pk"),
        "requests": Count("pk", filter=req),
        "answered": Count("pk", filter=req & Q(first_response_at__isnull=False)),
        "resolved": Count("pk", filter=req & Q(status=InboxItem.Status.CLOS)),
        "mentions": Count("pk", filter=Q(kind=InboxItem.Kind.MENTION)),
        **{f"label_{code}": Count("pk", filter=_label_filter(code)) for code in TRIAGE_CODES},
    }


def _day_counts(
    ids: list[int], first: dt.date, end: dt.date, tz: str
) -> dict[tuple[int, dt.date], tuple[int, ...]]:
    """The inbox's counts (``INBOX_DAY_COUNTS``, in that order) of each collectivité of
    ``ids`` and each day from ``first`` to ``end`` (excluded) in ``tz`` that had messages.

    A day rolled up (an ``InboxDay`` row of that time zone: settled, and unchanged since)
    is read from its row; the others (today, yesterday, a day invalidated since the last
    rebuild, a collectivité of another time zone) are counted from the items, in one
    grouped query over just those days. So the figures are always those of the items."""
    from monitoring.models import InboxItem

    found: dict[tuple[int, dt.date], tuple[int, ...]] = {}
    rolled: dict[dt.date, set[int]] = defaultdict(set)
    for cid, day, *counts in (
        _rows(InboxDay, ids)
        .filter(day__gte=first, day__lt=end, time_zone=tz)
        .values_list("collectivite_id", "day", *INBOX_DAY_COUNTS)
    ):
        rolled[day].add(cid)
        if counts[0]:
            found[(cid, day)] = tuple(counts)
    # the days to count, as ranges of consecutive days missing the same collectivités
    everyone = frozenset(ids)
    spans: list[tuple[frozenset[int], dt.date, dt.date]] = []
    day = first
    while day < end:
        missing = everyone.difference(rolled.get(day, ()))
        following = day + dt.timedelta(days=1)
        if missing:
            if spans and spans[-1][0] == missing and spans[-1][2] == day:
                spans[-1] = (missing, spans[-1][1], following)
            else:
                spans.append((missing, day, following))
        day = following
    if not spans:
        return found
    zone = ZoneInfo(tz)
    which = Q()
    for cids, a, b in spans:
        which |= Q(
            collectivite_id__in=sorted(cids),
            created_at__gte=dt.datetime.combine(a, dt.time(), zone),
            created_at__lt=dt.datetime.combine(b, dt.time(), zone),
        )
    for row in (
        _rows(InboxItem, ids)
        .filter(which)
        .annotate(local_day=TruncDate("created_at", tzinfo=zone))
        .order_by()
        .values("collectivite_id", "local_day")
        .annotate(**_day_counts_aggregates())
    ):
        found[(row["collectivite_id"], row["local_day"])] = tuple(
            row[name] for name in INBOX_DAY_COUNTS
        )
    return found


def _inbox(
    ids: list[int],
    period: Period,
    tz: str,
    tzs: dict[int, str],
    account_ids: list[int] | None,
    *,
    times: bool = True,
) -> _Inbox:
    from monitoring.business_hours import business_seconds

    prev = period.previous()
    start, end = period.bounds(tz)
    p_start, _p_end = prev.bounds(tz)
    items = _items_qs(ids, account_ids).filter(created_at__gte=p_start, created_at__lt=end)
    cur, old = Q(created_at__gte=start), Q(created_at__lt=start)
    req = Q(needs_answer=True)
    done = Q(first_response_at__isnull=False)
    box = _Inbox()
    if _rolled_up(account_ids):
        # the days' counts (rolled up, or counted from the items for the days without a
        # row), summed per collectivité and period
        box.days = _day_counts(ids, prev.start, period.end, tz)
        for (cid, day), counts in box.days.items():
            volume, requests, answered, resolved, mentions = counts[:5]
            if day >= period.start:
                box.volume += volume
                box.requests += requests
                box.answered += answered
                box.resolved += resolved
                box.mentions += mentions
                mine = box.by_collectivite.setdefault(
                    cid, {"volume": 0, "requests": 0, "answered": 0}
                )
                mine["volume"] += volume
                mine["requests"] += requests
                mine["answered"] += answered
            else:
                box.volume_p += volume
                box.requests_p += requests
                box.answered_p += answered
                box.resolved_p += resolved
                box.mentions_p += mentions
    else:
        _inbox_grouped(box, items, cur, old)
    if not times:
        return box
    charters = _charters(ids, tzs)
    box.target_hours = charters[ids[0]].target_hours
    # Durations in business hours: stored with each item when its first answer is sent
    # (monitoring, ``first_response_business_seconds``); items answered before that column
    # existed are computed here, with the holiday calendar, as they always were.
    answered = items.filter(req & done)
    unstored = Q(first_response_business_seconds__isnull=True)
    if _postgres() and _durations_in_database(box, answered, cur, unstored, charters):
        return box
    # One query for both: the timestamps are read only for the items without stored seconds.
    rows = answered.values_list(
        "collectivite_id",
        "network",
        ExpressionWrapper(cur, output_field=BooleanField()),
        "first_response_business_seconds",
        Case(When(unstored, then=F("created_at")), output_field=DateTimeField()),
        Case(When(unstored, then=F("first_response_at")), output_field=DateTimeField()),
    )
    hours: list[float] = []
    hours_p: list[float] = []
    for cid, network, is_current, seconds, created, answered_at in rows:
        ch = charters[cid]
        if seconds is None:
            seconds = business_seconds(
                created, answered_at, opens=ch.opens, closes=ch.closes, tz=ch.tz
            )
        value = seconds / 3600
        if is_current:
            hours.append(value)
            if value <= ch.target_on(network):
                box.within_target += 1
        else:
            hours_p.append(value)
    box.median, box.p90 = _percentile(hours, 0.5), _percentile(hours, 0.9)
    box.median_p, box.p90_p = _percentile(hours_p, 0.5), _percentile(hours_p, 0.9)
    box.timed = len(hours)
    return box


class _PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont``: linear interpolation between closest ranks, the
    formula of ``_percentile`` (same float8 arithmetic), without reading the values."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=f"{float(fraction)!r}::float8", **extra)


def _durations_in_database(
    box: _Inbox, answered: QuerySet, cur: Q, unstored: Q, charters: dict[int, _Charter]
) -> bool:
    """PostgreSQL: the durations' percentiles and the count within target computed in one
    aggregate over the stored seconds, when every answered item of the periods has them
    (``False`` otherwise, and the caller reads them all)."""
    hours = Cast("first_response_business_seconds", FloatField()) / Value(
        3600.0, output_field=FloatField()
    )
    # the collectivités whose charter sets one target for every network grouped by it
    # (an intercommunalité's thirty communes make a few clauses), the others one each
    targets: dict[int, list[int]] = defaultdict(list)
    within = Q()
    for cid, ch in charters.items():
        if any(ch.targets.values()):
            within |= Q(collectivite_id=cid) & ch.within("hours")
        else:
            targets[ch.target_hours].append(cid)
    for target, cids in targets.items():
        within |= Q(collectivite_id__in=cids, hours__lte=target)
    old = ~cur
    agg = answered.annotate(hours=hours).aggregate(
        unstored=Count("pk", filter=unstored),
        timed=Count("pk", filter=cur),
        within=Count("pk", filter=cur & within),
        median=_PercentileCont("hours", 0.5, filter=cur),
        p90=_PercentileCont("hours", 0.9, filter=cur),
        median_p=_PercentileCont("hours", 0.5, filter=old),
        p90_p=_PercentileCont("hours", 0.9, filter=old),
    )
    if agg["unstored"]:
        return False
    box.median, box.p90, box.median_p, box.p90_p = (
        agg["median"],
        agg["p90"],
        agg["median_p"],
        agg["p90_p"],
    )
    box.timed, box.within_target = agg["timed"], agg["within"]
    return True


def _time_zones(ids: list[int]) -> dict[int, str]:
    return dict(Collectivite.objects.filter(pk__in=ids).values_list("pk", "time_zone"))


# --- cache of closed periods --------------------------------------------------------------------


def _cache_seconds() -> int:
    from django.conf import settings

    return int(getattr(settings, "PARVIS_REPORTING_CACHE_SECONDS", 3600))


def _data_version(ids: list[int], period: Period, tz: str) -> tuple[Any, ...]:
    """Cheap figures that change when a closed period's KPIs can: the last metric collection
    of the scope's accounts (one state row per account; back-fills included), the last web
    analytics import, and the two periods' inbox items (how many, the last received, the
    last first answer, how many closed) and posts (how many, the last change). What they
    miss (a label or tag edited, a charter changed) shows when the entry expires."""
    from django.db.models import Max

    from monitoring.models import InboxItem
    from publishing.models import Variant
    from reporting.models import MetricCollectionState

    p_start, _ = period.previous().bounds(tz)
    _, end = period.bounds(tz)
    collected = _rows(MetricCollectionState, ids).aggregate(m=Max("last_run_at"))["m"]
    imported = _rows(WebAnalyticsRow, ids).aggregate(m=Max("imported_at"))["m"]
    items = (
        _rows(InboxItem, ids)
        .filter(created_at__gte=p_start, created_at__lt=end)
        .aggregate(
            n=Count("pk"),
            received=Max("received_at"),
            answered=Max("first_response_at"),
            closed=Count("pk", filter=Q(status=InboxItem.Status.CLOS)),
        )
    )
    posts = (
        _rows(Variant, ids)
        .filter(published_at__gte=p_start, published_at__lt=end)
        .aggregate(n=Count("pk"), changed=Max("updated_at"))
    )
    return (collected, imported, *items.values(), *posts.values())


def _cached(
    name: str, collectivite: Collectivite, period: Period, filters: tuple, compute: Any
) -> Any:
    """``compute()``, kept in Django's cache when ``period`` is over in the collectivité's
    time zone (a past period changes only by a back-fill, an import or late inbox work,
    which ``_data_version`` sees). The current period is always computed. The key holds
    the scope, the period, the filters, the language (sentences are translated) and the
    data version; ``PARVIS_REPORTING_CACHE_SECONDS`` (0: no cache) bounds an entry's life."""
    import hashlib

    from django.core.cache import cache
    from django.utils import timezone, translation

    seconds = _cache_seconds()
    tz = collectivite.time_zone
    if seconds <= 0 or period.end > timezone.now().astimezone(ZoneInfo(tz)).date():
        return compute()
    ids = scope_ids(collectivite)
    parts = (name, ids, period, filters, translation.get_language(), _data_version(ids, period, tz))
    key = "reporting:kpis:" + hashlib.sha256(repr(parts).encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, seconds)
    return found


# --- summary ----------------------------------------------------------------------------------


def _summary_figures(
    collectivite: Collectivite, period: Period, ids: list[int], t: _Totals, box: _Inbox
) -> list[Figure]:
    population = _population(collectivite, ids)
    per_1000 = _ratio(t.reach, population, 1000.0)
    per_1000_p = _ratio(t.reach_p, population, 1000.0)
    return [
        make_figure("audience", t.followers, t.followers_p, "count", period),
        make_figure("audience_growth", t.growth, t.growth_p, "count", period),
        make_figure("reach", t.reach, t.reach_p, "count", period),
        make_figure("reach_per_1000", per_1000, per_1000_p, "per_1000_inhabitants", period),
        make_figure("engagement_rate", t.engagement, t.engagement_p, "percent", period),
        make_figure(
            "response_time_median",
            box.median,
            box.median_p,
            "hours",
            period,
        ),
        make_figure(
            "response_rate",
            _ratio(box.answered, box.requests),
            _ratio(box.answered_p, box.requests_p),
            "percent",
            period,
        ),
        make_figure("posts_published", t.posts, t.posts_p, "count", period),
        make_figure(
            "alerts_reach",
            t.alerts_reach,
            t.alerts_reach_p,
            "count",
            period,
        ),
    ]


def summary(collectivite: Collectivite, period: Period) -> list[Figure]:
    """The élu page: a few figures, each with the previous period and a sentence."""
    ids = scope_ids(collectivite)
    tz = collectivite.time_zone
    accs = _accounts(ids, period, tz, None, None)
    box = _inbox(ids, period, tz, _time_zones(ids), None)
    return _summary_figures(collectivite, period, ids, _totals(accs.values()), box)


@dataclass(frozen=True)
class Overview:
    """The élus' page: the summary figures and, for an intercommunalité, one row per
    commune (``communes_total`` sums them)."""

    period: Period
    figures: list[Figure]
    communes: list[CommuneRow]
    communes_total: CommuneRow | None


def overview(collectivite: Collectivite, period: Period) -> Overview:
    """What ``summary`` gives, plus the commune-by-commune table of an intercommunalité,
    from the same grouped rows (per account, then one inbox query grouped by collectivité):
    the figures and rows are those of ``detail`` without computing the rest of it. Kept in
    the cache when the period is over (``_cached``)."""
    return _cached("overview", collectivite, period, (), lambda: _overview(collectivite, period))


def _overview(collectivite: Collectivite, period: Period) -> Overview:
    ids = scope_ids(collectivite)
    tz = collectivite.time_zone
    accs = _accounts(ids, period, tz, None, None)
    box = _inbox(ids, period, tz, _time_zones(ids), None)
    figures = _summary_figures(collectivite, period, ids, _totals(accs.values()), box)
    communes, communes_total = _commune_rows(ids, accs, box)
    return Overview(period, figures, communes, communes_total)


# --- detail -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    account_id: int
    collectivite_id: int
    name: str
    network: str
    network_label: str
    followers: int | None
    followers_growth: int | None
    impressions: int | None
    reach: int | None
    profile_visits: int | None
    link_clicks: int | None
    posts: int
    interactions: int | None
    comments: int | None
    engagement_rate: float | None


@dataclass(frozen=True)
class NetworkRow:
    network: str
    network_label: str
    accounts: int
    followers: int | None
    followers_growth: int | None
    impressions: int | None
    reach: int | None
    link_clicks: int | None
    posts: int
    interactions: int | None
    engagement_rate: float | None


@dataclass(frozen=True)
class CommuneRow:
    """One collectivité of an intercommunalité's scope (the last row of ``communes`` in
    ``Detail`` is not a total: the total is ``communes_total``)."""

    collectivite_id: int | None  # None for the total
    name: str
    population: int | None
    followers: int | None
    followers_growth: int | None
    reach: int | None
    reach_per_1000: float | None
    posts: int
    engagement_rate: float | None
    inbox_volume: int
    requests: int
    response_rate: float | None


@dataclass(frozen=True)
class TopPost:
    variant_id: int
    publication_id: int
    title: str
    account_id: int
    account_name: str
    network: str
    network_label: str
    published_at: dt.datetime | None
    permalink: str
    impressions: int | None
    reach: int | None
    interactions: int
    comments: int | None
    engagement_rate: float | None
    reason: str  # "reach" | "engagement" | "comments"
    why: str  # a French sentence


@dataclass(frozen=True)
class LabelCount:
    code: str
    label: str
    count: int
    share: float | None  # percent of the period's messages


@dataclass(frozen=True)
class SentimentPoint:
    week: dt.date  # Monday
    positive: int
    negative: int
    score: float | None  # (positive - negative) / (positive + negative), -1..1


@dataclass(frozen=True)
class ThemeCount:
    name: str
    count: int


@dataclass(frozen=True)
class InboxStats:
    volume: int
    previous_volume: int
    requests: int  # messages that need an answer (questions, réclamations, urgent)
    answered: int
    response_rate: float | None
    resolved: int
    resolution_rate: float | None
    median_hours: float | None
    p90_hours: float | None
    previous_median_hours: float | None
    target_hours: int
    within_target_rate: float | None  # percent of answers given within the charter's target
    mentions: int
    triage: list[LabelCount]
    sentiment: list[SentimentPoint]
    themes: list[ThemeCount]


@dataclass(frozen=True)
class CadenceRow:
    account_id: int
    account_name: str
    network: str
    network_label: str
    target_per_week: int
    posts: int
    per_week: float
    ratio: float | None  # per_week / target (1.0 = on cadence)


@dataclass(frozen=True)
class AccessibilityStats:
    posts: int
    compliant: int
    share: float | None  # percent
    images_without_alt: int  # posts with at least one image lacking alt text
    videos_without_subtitles: int  # posts with at least one video without subtitles


@dataclass(frozen=True)
class ValidationStats:
    scheduled: int  # published posts that had a scheduled time and were approved
    on_time: int  # approved at or before their scheduled time
    share: float | None  # percent
    previous_share: float | None


@dataclass(frozen=True)
class AlertRow:
    publication_id: int
    title: str
    published_at: dt.datetime | None
    variants: int
    reach: int | None
    impressions: int | None


@dataclass(frozen=True)
class WatchStats:
    mentions: int
    previous_mentions: int
    spikes: int | None  # None until the watch (monitoring.Watch) records spikes
    source: str  # "watch" or "inbox" (mentions counted from inbox items of kind mention)


@dataclass(frozen=True)
class WebStats:
    imported: bool  # any export imported for this scope at all
    visits: int | None  # visits from social networks in the period
    previous_visits: int | None
    by_source: list[tuple[str, int]]
    top_pages: list[tuple[str, int]]
    top_campaigns: list[tuple[str, int]]


@dataclass(frozen=True)
class Detail:
    period: Period
    previous_period: Period
    collectivite_ids: list[int]
    figures: list[Figure]
    accounts: list[AccountRow]
    networks: list[NetworkRow]
    communes: list[CommuneRow]  # empty unless an intercommunalité
    communes_total: CommuneRow | None
    top_posts: list[TopPost]
    inbox: InboxStats
    cadence: list[CadenceRow]
    accessibility: AccessibilityStats
    validation: ValidationStats
    alerts: list[AlertRow]
    watch: WatchStats
    web: WebStats

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)


def _network_label(code: str) -> str:
    return _network_labels_in(get_language()).get(code, code)


@functools.lru_cache(maxsize=16)
def _network_labels_in(language: str | None) -> dict[str, str]:
    return {code: str(label) for code, label in Network.choices}


def _account_rows(accs: dict[int, _Acc]) -> list[AccountRow]:
    return [
        AccountRow(
            account_id=a.pk,
            collectivite_id=a.collectivite_id,
            name=a.name,
            network=a.network,
            network_label=_network_label(a.network),
            followers=a.followers,
            followers_growth=a.growth,
            impressions=a.impressions,
            reach=a.reach,
            profile_visits=a.profile_visits,
            link_clicks=a.link_clicks,
            posts=a.posts,
            interactions=a.interactions,
            comments=a.comments,
            engagement_rate=_ratio(a.eng_num, a.eng_den),
        )
        for a in sorted(accs.values(), key=lambda a: (a.network, a.name.lower()))
    ]


def _network_rows(accs: dict[int, _Acc]) -> list[NetworkRow]:
    by_network: dict[str, list[_Acc]] = defaultdict(list)
    for a in accs.values():
        by_network[a.network].append(a)
    rows = []
    for code in sorted(by_network):
        t = _totals(by_network[code])
        rows.append(
            NetworkRow(
                network=code,
                network_label=_network_label(code),
                accounts=t.accounts,
                followers=t.followers,
                followers_growth=t.growth,
                impressions=t.impressions,
                reach=t.reach,
                link_clicks=t.link_clicks,
                posts=t.posts,
                interactions=t.interactions,
                engagement_rate=t.engagement,
            )
        )
    return rows


def _commune_rows(
    ids: list[int], accs: dict[int, _Acc], box: _Inbox
) -> tuple[list[CommuneRow], CommuneRow | None]:
    """One row per collectivité of an intercommunalité's scope and their total, from the
    per-account rows and the inbox counts ``_inbox`` grouped by collectivité."""
    if len(ids) == 1:
        return [], None
    inbox = box.by_collectivite
    info = {
        c["pk"]: c
        for c in Collectivite.objects.filter(pk__in=ids).values("pk", "name", "population")
    }
    by_coll: dict[int, list[_Acc]] = defaultdict(list)
    for a in accs.values():
        by_coll[a.collectivite_id].append(a)

    def row(
        cid: int | None, name: str, population: int | None, group: list[_Acc], box: dict
    ) -> CommuneRow:
        t = _totals(group)
        return CommuneRow(
            collectivite_id=cid,
            name=name,
            population=population,
            followers=t.followers,
            followers_growth=t.growth,
            reach=t.reach,
            reach_per_1000=_ratio(t.reach, population, 1000.0),
            posts=t.posts,
            engagement_rate=t.engagement,
            inbox_volume=box.get("volume", 0),
            requests=box.get("requests", 0),
            response_rate=_ratio(box.get("answered", 0), box.get("requests", 0)),
        )

    rows = [
        row(cid, info[cid]["name"], info[cid]["population"], by_coll[cid], inbox.get(cid, {}))
        for cid in ids
        if cid in info
    ]
    summed = {
        k: sum(r.get(k, 0) for r in inbox.values()) for k in ("volume", "requests", "answered")
    }
    populations = [info[cid]["population"] for cid in ids[1:] if cid in info]
    root_pop = info[ids[0]]["population"] or (_add(*populations) if populations else None)
    total = row(None, _("Total"), root_pop, list(accs.values()), summed)
    return rows, total


TOP_FIELDS = (
    "variant_id",
    "variant__publication_id",
    "variant__publication__title",
    "variant__account_id",
    "variant__account__display_name",
    "variant__account__network",
    "variant__published_at",
    "variant__permalink",
    "impressions",
    "reach",
    "inter",
    "comments",
    "rate",
)


def _top_picks_sql(
    ids: list[int], period: Period, tz: str, account_ids: list[int] | None
) -> list[tuple[str, list[dict[str, Any]]]]:
    """PostgreSQL: the top posts by each reason in one query. It walks the period's posts
    on the published index, probes each one's latest figures by key (``_posts_sql``),
    computes the three sort keys once, and keeps the first
    ``TOP_POSTS`` of each reason in the database; only those rows are joined to their
    publication and account and sent back. The portable path (``_top_posts``) sorts the
    same keys the same way (``tests/reporting/test_fast_paths.py``)."""
    from publishing.models import Publication, Variant

    variant, publication = Variant._meta.db_table, Publication._meta.db_table
    account = SocialAccount._meta.db_table
    start, end = period.bounds(tz)
    reasons = (  # (reason, rows kept, sort key)
        ("reach", "seen IS NOT NULL", "seen"),
        ("engagement", "rate IS NOT NULL", "rate"),
        ("comments", "comments > 0", "comments"),
    )
    picks = " UNION ALL ".join(
        f"(SELECT %(r{n})s AS reason, {n} AS o, "  # noqa: S608 -- constant clauses
        f"row_number() OVER (ORDER BY {key} DESC, id) AS rank, k.* "
        f"FROM k WHERE {kept} ORDER BY {key} DESC, id LIMIT %(top)s)"
        for n, (_reason, kept, key) in enumerate(reasons)
    )
    posts, params = _posts_sql(ids, start, end, account_ids, unmeasured=False)
    sql = f"""
        WITH k AS MATERIALIZED (
            SELECT v.id, m.impressions, m.reach, m.comments, m.inter,
                   COALESCE(m.reach, m.impressions) AS seen,
                   m.inter::double precision * 100.0 / NULLIF(m.impressions, 0) AS rate
            {posts}
        ), picks AS ({picks})
        SELECT p.reason, p.id AS variant_id, v.publication_id AS variant__publication_id,
               pub.title AS variant__publication__title,
               v.account_id AS variant__account_id,
               a.display_name AS variant__account__display_name,
               a.network AS variant__account__network,
               v.published_at AS variant__published_at, v.permalink AS variant__permalink,
               p.impressions, p.reach, p.inter, p.comments, p.rate
        FROM picks p
        JOIN {variant} v ON v.id = p.id
        JOIN {publication} pub ON pub.id = v.publication_id
        JOIN {account} a ON a.id = v.account_id
        ORDER BY p.o, p.rank"""  # noqa: S608 -- table names and clauses are constants
    params |= {"top": TOP_POSTS} | {f"r{n}": r for n, (r, _kept, _key) in enumerate(reasons)}
    rows = _fetch(sql, params)
    return [(reason, [r for r in rows if r["reason"] == reason]) for reason, _kept, _key in reasons]


def _top_posts(
    ids: list[int], period: Period, tz: str, account_ids: list[int] | None
) -> list[TopPost]:
    if _postgres():
        picks = _top_picks_sql(ids, period, tz, account_ids)
    else:
        posts = _latest_post_rows(ids, _published(ids, period, tz, account_ids)).annotate(
            inter=_interactions(),
            seen=Coalesce("reach", "impressions"),
            rate=ExpressionWrapper(
                Cast(_interactions(), FloatField()) * 100.0 / NullIf("impressions", 0),
                output_field=FloatField(),
            ),
        )
        picks = [
            (reason, list(qs.values(*TOP_FIELDS)[:TOP_POSTS]))
            for reason, qs in (
                ("reach", posts.filter(seen__isnull=False).order_by("-seen", "variant_id")),
                ("engagement", posts.filter(rate__isnull=False).order_by("-rate", "variant_id")),
                ("comments", posts.filter(comments__gt=0).order_by("-comments", "variant_id")),
            )
        ]
    result: list[TopPost] = []
    for reason, rows in picks:
        for r in rows:
            seen = r["reach"] if r["reach"] is not None else r["impressions"]
            if reason == "reach":
                why = _("Vue par %(n)s personnes, la plus large portée de la période.") % {
                    "n": format_value(seen, "count")
                }
            elif reason == "engagement":
                why = _("%(rate)s d'interactions pour les personnes qui l'ont vue.") % {
                    "rate": format_value(r["rate"], "percent")
                }
            else:
                why = _("%(n)s commentaires : la publication a fait réagir.") % {
                    "n": format_value(r["comments"], "count")
                }
            result.append(
                TopPost(
                    variant_id=r["variant_id"],
                    publication_id=r["variant__publication_id"],
                    title=r["variant__publication__title"],
                    account_id=r["variant__account_id"],
                    account_name=r["variant__account__display_name"],
                    network=r["variant__account__network"],
                    network_label=_network_label(r["variant__account__network"]),
                    published_at=r["variant__published_at"],
                    permalink=r["variant__permalink"],
                    impressions=r["impressions"],
                    reach=r["reach"],
                    interactions=r["inter"],
                    comments=r["comments"],
                    engagement_rate=r["rate"],
                    reason=reason,
                    why=why,
                )
            )
    return result


def _label_filter(code: str) -> Q:
    """Items carrying the triage label ``code``. ``labels`` is a JSON list of {"code": ...,
    "score": ..., "reasons": [...]}. PostgreSQL: JSONB containment (the GIN index
    ``inbox_item_labels`` serves it, and even a scan compares JSONB rather than casting each
    row to text); SQLite has no JSON containment: the code as written in the stored JSON."""
    if _postgres():
        return Q(labels__contains=[{"code": code}])
    return Q(labels__icontains=f'"code": "{code}"')


def _inbox_stats(
    ids: list[int], period: Period, tz: str, box: _Inbox, account_ids: list[int] | None
) -> InboxStats:
    from monitoring.lexicon import LABEL_NAMES

    start, end = period.bounds(tz)
    items = _items_qs(ids, account_ids).filter(created_at__gte=start, created_at__lt=end)
    # one pass: each label's count per week; the mix is their sum, the sentiment their
    # positive and negative columns
    if box.days is not None:  # the days' label counts, summed by week (Monday)
        by_week: dict[dt.date, dict[str, int]] = {}
        for (_cid, day), counts in box.days.items():
            if day < period.start:
                continue
            week = by_week.setdefault(
                day - dt.timedelta(days=day.weekday()), dict.fromkeys(TRIAGE_CODES, 0)
            )
            for code, n in zip(TRIAGE_CODES, counts[5:], strict=True):
                week[code] += n
        weeks = [
            {"week": w, **{f"n_{c}": n for c, n in by_week[w].items()}} for w in sorted(by_week)
        ]
    else:
        zone = ZoneInfo(tz)
        weeks = list(
            items.annotate(week=TruncWeek("created_at", tzinfo=zone))
            .values("week")
            .annotate(**{f"n_{c}": Count("pk", filter=_label_filter(c)) for c in TRIAGE_CODES})
            .order_by("week")
        )
    counts = {code: sum(r[f"n_{code}"] for r in weeks) for code in TRIAGE_CODES}
    triage = [
        LabelCount(
            code, str(LABEL_NAMES.get(code, code)), counts[code], _ratio(counts[code], box.volume)
        )
        for code in TRIAGE_CODES
    ]
    sentiment = []
    for r in weeks:
        week = r["week"].date() if isinstance(r["week"], dt.datetime) else r["week"]
        pos, neg = r["n_positif"], r["n_negatif"]
        sentiment.append(
            SentimentPoint(
                week=week,
                positive=pos,
                negative=neg,
                score=((pos - neg) / (pos + neg)) if pos + neg else None,
            )
        )
    themes = [
        ThemeCount(r["tags__name"], r["n"])
        for r in items.filter(tags__isnull=False)
        .values("tags__name")
        .annotate(n=Count("pk"))
        .order_by("-n", "tags__name")[:10]
    ]
    return InboxStats(
        volume=box.volume,
        previous_volume=box.volume_p,
        requests=box.requests,
        answered=box.answered,
        response_rate=_ratio(box.answered, box.requests),
        resolved=box.resolved,
        resolution_rate=_ratio(box.resolved, box.requests),
        median_hours=box.median,
        p90_hours=box.p90,
        previous_median_hours=box.median_p,
        target_hours=box.target_hours,
        within_target_rate=_ratio(box.within_target, box.timed),
        mentions=box.mentions,
        triage=triage,
        sentiment=sentiment,
        themes=themes,
    )


def _cadence(ids: list[int], period: Period, accs: dict[int, _Acc]) -> list[CadenceRow]:
    lines = (
        _rows(EditorialLine, ids)
        .filter(account_id__in=list(accs))
        .values_list("account_id", "cadence_per_week")
    )
    rows = []
    for account_id, target in lines:
        a = accs[account_id]
        per_week = a.posts / period.weeks
        rows.append(
            CadenceRow(
                account_id=a.pk,
                account_name=a.name,
                network=a.network,
                network_label=_network_label(a.network),
                target_per_week=target,
                posts=a.posts,
                per_week=per_week,
                ratio=(per_week / target) if target else None,
            )
        )
    return sorted(rows, key=lambda r: (r.network, r.account_name.lower()))


def _published(ids: list[int], period: Period, tz: str, account_ids: list[int] | None) -> QuerySet:
    return _published_between(ids, *period.bounds(tz), account_ids)


def _published_between(
    ids: list[int], start: dt.datetime, end: dt.datetime, account_ids: list[int] | None
) -> QuerySet:
    from publishing.models import Variant

    qs = _rows(Variant, ids).filter(
        state=Variant.State.PUBLISHED, published_at__gte=start, published_at__lt=end
    )
    if account_ids is not None:
        qs = qs.filter(account_id__in=account_ids)
    return qs


def _accessibility_and_validation(
    ids: list[int], period: Period, tz: str, account_ids: list[int] | None
) -> tuple[AccessibilityStats, AccessibilityStats, ValidationStats]:
    """Accessibility of the period's posts and of the previous period's, and the share of
    scheduled posts approved by their scheduled time, from one pass over both periods'
    posts counted by period and flags: each post's media checks and last approval are
    looked up once."""
    from django.db.models import Exists

    from publishing.models import MediaAsset, Variant, VariantEvent, VariantMedia

    def media(q: Q) -> Exists:
        return Exists(
            VariantMedia.objects.filter(
                collectivite_id=OuterRef("collectivite_id"), variant_id=OuterRef("pk")
            ).filter(q)
        )

    approved_at = Subquery(
        VariantEvent.objects.filter(
            collectivite_id=OuterRef("collectivite_id"),
            variant_id=OuterRef("pk"),
            to_state=Variant.State.APPROVED,
        )
        .order_by("-created_at")
        .values("created_at")[:1],
        output_field=DateTimeField(),
    )
    no_alt = Q(asset__kind=MediaAsset.Kind.IMAGE, asset__alt_text="")
    no_subs = Q(asset__kind=MediaAsset.Kind.VIDEO, asset__has_subtitles=False)
    start, end = period.bounds(tz)
    p_start, _p_end = period.previous().bounds(tz)
    # grouped by the flags rather than counted with a filter each: a filter per count would
    # have the database look each post's media and approvals up once per count
    timely = Case(
        When(Q(scheduled_at__isnull=True) | Q(approved_at__isnull=True), then=Value(None)),
        When(approved_at__lte=F("scheduled_at"), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    groups = (
        _published_between(ids, p_start, end, account_ids)
        .annotate(
            current=Case(
                When(published_at__gte=start, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            lacks_alt=media(no_alt),
            lacks_subs=media(no_subs),
            approved_at=approved_at,
        )
        .annotate(timely=timely)
        .order_by()
        .values_list("current", "lacks_alt", "lacks_subs", "timely")
        .annotate(n=Count("pk"))
    )
    agg: Counter[str] = Counter()
    for current, lacks_alt, lacks_subs, on_time, n in groups:
        suffix = "" if current else "_p"
        agg[f"posts{suffix}"] += n
        agg[f"compliant{suffix}"] += n if not (lacks_alt or lacks_subs) else 0
        agg[f"no_alt{suffix}"] += n if lacks_alt else 0
        agg[f"no_subs{suffix}"] += n if lacks_subs else 0
        agg[f"scheduled{suffix}"] += n if on_time is not None else 0
        agg[f"on_time{suffix}"] += n if on_time else 0

    def access(suffix: str) -> AccessibilityStats:
        return AccessibilityStats(
            posts=agg[f"posts{suffix}"],
            compliant=agg[f"compliant{suffix}"],
            share=_ratio(agg[f"compliant{suffix}"], agg[f"posts{suffix}"]),
            images_without_alt=agg[f"no_alt{suffix}"],
            videos_without_subtitles=agg[f"no_subs{suffix}"],
        )

    validation = ValidationStats(
        scheduled=agg["scheduled"],
        on_time=agg["on_time"],
        share=_ratio(agg["on_time"], agg["scheduled"]),
        previous_share=_ratio(agg["on_time_p"], agg["scheduled_p"]),
    )
    return access(""), access("_p"), validation


def _alerts(
    ids: list[int], period: Period, tz: str, account_ids: list[int] | None
) -> list[AlertRow]:
    published = _published(ids, period, tz, account_ids).filter(publication__urgent=True)
    pubs = list(
        published.values("publication_id", "publication__title")
        .annotate(first=Min("published_at"), variants=Count("pk"))
        .order_by("-first")
    )
    if not pubs:
        return []
    start, end = period.bounds(tz)
    metrics = {
        r["variant__publication_id"]: r
        for r in _latest_post_rows(ids, published)
        .values("variant__publication_id")
        .annotate(reach=Sum("reach"), impressions=Sum("impressions"))
    }
    return [
        AlertRow(
            publication_id=p["publication_id"],
            title=p["publication__title"],
            published_at=p["first"],
            variants=p["variants"],
            reach=metrics.get(p["publication_id"], {}).get("reach"),
            impressions=metrics.get(p["publication_id"], {}).get("impressions"),
        )
        for p in pubs
    ]


def _watch(box: _Inbox) -> WatchStats:
    # The watch's own model (monitoring.Watch) does not record spikes yet: mentions are the
    # inbox items of kind "mention", and spikes stay unknown (None) until it does.
    return WatchStats(
        mentions=box.mentions, previous_mentions=box.mentions_p, spikes=None, source="inbox"
    )


def _social_web(ids: list[int]) -> QuerySet:
    return _rows(WebAnalyticsRow, ids).filter(
        Q(utm_medium__iexact="social") | Q(utm_source__in=list(Network.values))
    )


def _web(ids: list[int], period: Period, network: str | None) -> WebStats:
    prev = period.previous()
    imported = _rows(WebAnalyticsRow, ids).exists()
    rows = _social_web(ids)
    if network:
        rows = rows.filter(utm_source__iexact=network)
    current = rows.filter(day__gte=period.start, day__lt=period.end)
    agg = rows.filter(day__gte=prev.start, day__lt=period.end).aggregate(
        current=Sum("visits", filter=Q(day__gte=period.start)),
        previous=Sum("visits", filter=Q(day__lt=period.start)),
    )

    def top(key: str) -> list[tuple[str, int]]:
        return [
            (r[key], r["n"])
            for r in current.values(key).annotate(n=Sum("visits")).order_by("-n", key)[:10]
        ]

    return WebStats(
        imported=imported,
        visits=(agg["current"] or 0) if imported else None,
        previous_visits=(agg["previous"] or 0) if imported else None,
        by_source=top("utm_source"),
        top_pages=top("url"),
        top_campaigns=top("utm_campaign"),
    )


def detail(
    collectivite: Collectivite,
    period: Period,
    *,
    account_id: int | None = None,
    network: str | None = None,
) -> Detail:
    """The communications team's detail, optionally for one account or one network. Kept
    in the cache when the period is over (``_cached``)."""
    return _cached(
        "detail",
        collectivite,
        period,
        (account_id, network),
        lambda: _detail(collectivite, period, account_id=account_id, network=network),
    )


def _detail(
    collectivite: Collectivite,
    period: Period,
    *,
    account_id: int | None = None,
    network: str | None = None,
) -> Detail:
    ids = scope_ids(collectivite)
    tz = collectivite.time_zone
    tzs = _time_zones(ids)
    accs = _accounts(ids, period, tz, account_id, network)
    filtered = account_id is not None or bool(network)
    account_ids = list(accs) if filtered else None
    box = _inbox(ids, period, tz, tzs, account_ids)
    t = _totals(accs.values())
    figures = _summary_figures(collectivite, period, ids, t, box)
    access, access_p, validation = _accessibility_and_validation(ids, period, tz, account_ids)
    web = _web(ids, period, network)
    communes, communes_total = _commune_rows(ids, accs, box)
    figures += [
        make_figure("impressions", t.impressions, t.impressions_p, "count", period),
        make_figure("link_clicks", t.link_clicks, t.link_clicks_p, "count", period),
        make_figure("site_visits", web.visits, web.previous_visits, "count", period),
        make_figure(
            "response_time_p90",
            box.p90,
            box.p90_p,
            "hours",
            period,
        ),
        make_figure(
            "resolution_rate",
            _ratio(box.resolved, box.requests),
            _ratio(box.resolved_p, box.requests_p),
            "percent",
            period,
        ),
        make_figure("inbox_volume", box.volume, box.volume_p, "count", period),
        make_figure("accessibility_share", access.share, access_p.share, "percent", period),
        make_figure(
            "validated_on_time", validation.share, validation.previous_share, "percent", period
        ),
        make_figure("mentions", box.mentions, box.mentions_p, "count", period),
    ]
    return Detail(
        period=period,
        previous_period=period.previous(),
        collectivite_ids=ids,
        figures=figures,
        accounts=_account_rows(accs),
        networks=_network_rows(accs),
        communes=communes,
        communes_total=communes_total,
        top_posts=_top_posts(ids, period, tz, account_ids),
        inbox=_inbox_stats(ids, period, tz, box, account_ids),
        cadence=_cadence(ids, period, accs),
        accessibility=access,
        validation=validation,
        alerts=_alerts(ids, period, tz, account_ids),
        watch=_watch(box),
        web=web,
    )


# --- time series ------------------------------------------------------------------------------


def _buckets(period: Period, granularity: str) -> list[dt.date]:
    if granularity == "day":
        return [period.start + dt.timedelta(days=i) for i in range(period.days)]
    if granularity == "week":
        day = period.start - dt.timedelta(days=period.start.weekday())
        out = []
        while day < period.end:
            out.append(day)
            day += dt.timedelta(days=7)
        return out
    out = []
    day = period.start.replace(day=1)
    while day < period.end:
        out.append(day)
        day = _add_months(day, 1)
    return out


def _bucket_of(day: dt.date, granularity: str) -> dt.date:
    if granularity == "day":
        return day
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _trunc(granularity: str, field_name: str, zone: ZoneInfo | None = None) -> Any:
    fn = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}[granularity]
    if zone is None:
        return fn(field_name)
    return fn(field_name, tzinfo=zone)


def _as_date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


INBOX_SERIES = ("inbox", "requests", "mentions")


def series(
    collectivite: Collectivite,
    period: Period,
    metric: str,
    *,
    granularity: str = "day",
    account_id: int | None = None,
    network: str | None = None,
) -> list[tuple[dt.date, float | None]]:
    """One value per day, week (Monday) or month of ``period``; None where nothing was
    provided. Followers is the total on the bucket's last day with data; the other
    account metrics are sums; engagement_rate is per the posts published in the bucket."""
    return series_set(
        collectivite,
        period,
        [metric],
        granularity=granularity,
        account_id=account_id,
        network=network,
    )[metric]


def series_set(
    collectivite: Collectivite,
    period: Period,
    metrics: list[str],
    *,
    granularity: str = "day",
    account_id: int | None = None,
    network: str | None = None,
) -> dict[str, list[tuple[dt.date, float | None]]]:
    """``series`` of several metrics: the inbox's (messages, requests, mentions) are counted
    in one grouped query."""
    for metric in metrics:
        if metric not in SERIES_METRICS:
            raise ValueError(_("Indicateur inconnu : %(metric)s") % {"metric": metric})
    if granularity not in GRANULARITIES:
        raise ValueError(_("Granularité inconnue : %(g)s") % {"g": granularity})
    ids = scope_ids(collectivite)
    tz = collectivite.time_zone
    filtered = account_id is not None or bool(network)
    account_ids = (
        list(_accounts_qs(ids, account_id, network).values_list("pk", flat=True))
        if filtered
        else None
    )
    found: dict[str, dict[dt.date, float | None]] = {}
    inbox = [m for m in metrics if m in INBOX_SERIES]
    if inbox:
        found.update(_inbox_series(ids, period, tz, inbox, granularity, account_ids))
    account = [m for m in metrics if m in ACCOUNT_METRICS]
    if account:
        found.update(_account_series(ids, period, account, granularity, account_ids))
    for metric in metrics:
        if metric not in found:
            found[metric] = _series_values(
                ids, period, tz, metric, granularity, account_ids, network
            )
    result = {}
    for metric in metrics:
        values = found[metric]
        counted = metric in ("posts", *INBOX_SERIES)
        result[metric] = [
            (b, float(values[b]) if values.get(b) is not None else (0.0 if counted else None))
            for b in _buckets(period, granularity)
        ]
    return result


def _inbox_series(
    ids: list[int],
    period: Period,
    tz: str,
    metrics: list[str],
    granularity: str,
    account_ids: list[int] | None,
) -> dict[str, dict[dt.date, float | None]]:
    from monitoring.models import InboxItem

    found: dict[str, dict[dt.date, float | None]] = {m: {} for m in metrics}
    if _rolled_up(account_ids):  # the days' counts, summed by bucket
        position = {"inbox": 0, "requests": 1, "mentions": 4}
        for (_cid, day), day_counts in _day_counts(ids, period.start, period.end, tz).items():
            bucket = _bucket_of(day, granularity)
            for m in metrics:
                value = found[m].get(bucket) or 0
                found[m][bucket] = value + day_counts[position[m]]
        return found
    start, end = period.bounds(tz)
    items = _items_qs(ids, account_ids).filter(created_at__gte=start, created_at__lt=end)
    counts = {
        "inbox": Count("pk"),
        "requests": Count("pk", filter=Q(needs_answer=True)),
        "mentions": Count("pk", filter=Q(kind=InboxItem.Kind.MENTION)),
    }
    for r in (
        items.annotate(b=_trunc(granularity, "created_at", ZoneInfo(tz)))
        .values("b")
        .annotate(**{f"n_{m}": counts[m] for m in metrics})
    ):
        for m in metrics:
            found[m][_as_date(r["b"])] = r[f"n_{m}"]
    return found


def _account_series(
    ids: list[int],
    period: Period,
    metrics: list[str],
    granularity: str,
    account_ids: list[int] | None,
) -> dict[str, dict[dt.date, float | None]]:
    """The account metrics' series from one read of their daily sums: followers is the
    total on the bucket's last day with data, the others are summed over the bucket's days
    (None where no day provided them)."""
    rows = _rows(AccountMetricDay, ids).filter(day__gte=period.start, day__lt=period.end)
    if account_ids is not None:
        rows = rows.filter(account_id__in=account_ids)
    found: dict[str, dict[dt.date, float | None]] = {m: {} for m in metrics}
    daily = rows.values("day").annotate(**{m: Sum(m) for m in metrics}).order_by("day")
    for r in daily:
        bucket = _bucket_of(r["day"], granularity)
        for m in metrics:
            values, v = found[m], r[m]
            if m == "followers":  # one row per day: the last day with data wins its bucket
                if v is not None:
                    values[bucket] = v
            elif v is not None:
                values[bucket] = (values.get(bucket) or 0) + v
            else:
                values.setdefault(bucket, None)
    return found


def _series_values(
    ids: list[int],
    period: Period,
    tz: str,
    metric: str,
    granularity: str,
    account_ids: list[int] | None,
    network: str | None,
) -> dict[dt.date, float | None]:
    zone = ZoneInfo(tz)
    values: dict[dt.date, float | None] = {}
    if metric in ("posts", "interactions", "engagement_rate"):
        if metric == "posts":
            qs = _published(ids, period, tz, account_ids)
            for r in (
                qs.annotate(b=_trunc(granularity, "published_at", zone))
                .values("b")
                .annotate(v=Count("pk"))
            ):
                values[_as_date(r["b"])] = r["v"]
        else:
            posts = _latest_post_rows(ids, _published(ids, period, tz, account_ids))
            grouped = (
                posts.annotate(
                    inter=_interactions(), b=_trunc(granularity, "variant__published_at", zone)
                )
                .values("b")
                .annotate(
                    total=Sum("inter"),
                    num=Sum("inter", filter=Q(impressions__isnull=False)),
                    den=Sum("impressions"),
                )
            )
            for r in grouped:
                if metric == "interactions":
                    values[_as_date(r["b"])] = r["total"]
                else:
                    values[_as_date(r["b"])] = _ratio(r["num"], r["den"])
    else:  # site_visits
        rows = _social_web(ids).filter(day__gte=period.start, day__lt=period.end)
        if network:
            rows = rows.filter(utm_source__iexact=network)
        for r in rows.annotate(b=_trunc(granularity, "day")).values("b").annotate(v=Sum("visits")):
            values[_as_date(r["b"])] = r["v"]

    return values


__all__ = [
    "ACCOUNT_METRICS",
    "SERIES_METRICS",
    "AccessibilityStats",
    "AccountRow",
    "AlertRow",
    "CadenceRow",
    "CommuneRow",
    "Detail",
    "Figure",
    "InboxStats",
    "LabelCount",
    "NetworkRow",
    "Overview",
    "Period",
    "SentimentPoint",
    "ThemeCount",
    "TopPost",
    "ValidationStats",
    "WatchStats",
    "WebStats",
    "detail",
    "format_hours",
    "format_value",
    "make_figure",
    "overview",
    "scope_ids",
    "series",
    "series_set",
    "summary",
]
