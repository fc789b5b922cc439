"""The reporting pages' inputs: which period, which account or network, who gets the
monthly report.

A period travels in URLs as ``periode=2026-10`` (a month), ``2026-T4`` (a quarter),
``2026`` (a year) or ``2026-10-03..2026-10-17`` (any days, both included): short, readable,
and the same for the pages, the PDF, the CSV and the API. ``parse_period`` is the one
parser of that parameter; ``custom_period`` the one check of a range of days (the pages'
``du``/``au`` fields and the API's ``start``/``end`` use it too).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collectivites.models import Collectivite, SocialAccount
from networks.registry import Network
from reporting.kpis import Period

PERIOD_RE = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{1,2})|T(?P<quarter>[1-4])))?$")
RANGE_RE = re.compile(r"^(?P<start>\d{4}-\d{2}-\d{2})\.\.(?P<end>\d{4}-\d{2}-\d{2})$")
PICKER_YEARS = 3  # how far back the picker's list goes; any older period works by URL
MAX_CUSTOM_DAYS = 731  # a range of days covers at most two years


def period_param(period: Period) -> str:
    if period.kind == "month":
        return f"{period.start.year}-{period.start.month:02d}"
    if period.kind == "quarter":
        return f"{period.start.year}-T{(period.start.month - 1) // 3 + 1}"
    if period.kind == "year":
        return str(period.start.year)
    return f"{period.start.isoformat()}..{period.last_day.isoformat()}"


def custom_period(
    start: dt.date | None, end: dt.date | None, *, today: dt.date | None = None
) -> Period:
    """The days from ``start`` to ``end``, both included; ``ValueError`` with a French
    message when one is missing, they are in the wrong order, the range is longer than two
    years or (given ``today``) it has not started yet."""
    if not (start and end):
        raise ValueError(_("Donnez le premier et le dernier jour."))
    if end < start:
        raise ValueError(_("Le dernier jour précède le premier."))
    if (end - start).days + 1 > MAX_CUSTOM_DAYS:
        raise ValueError(_("Une période couvre au plus deux ans."))
    period = Period.custom(start, end + dt.timedelta(days=1))
    if today is not None and start > today:
        raise ValueError(_("La période %(p)s n'a pas encore commencé.") % {"p": period.label})
    return period


def parse_day(value: str | None) -> dt.date | None:
    """A day typed or picked in a form: ``AAAA-MM-JJ`` (what a date field sends) or
    ``JJ/MM/AAAA``; None when empty; ``ValueError`` with a French message otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(
        _("Date invalide : « %(v)s ». Exemple : 2026-10-31 ou 31/10/2026.") % {"v": value[:40]}
    )


def parse_range(start: str | None, end: str | None, *, today: dt.date) -> Period:
    """The pages' "du … au …" fields as a period (see ``custom_period``)."""
    return custom_period(parse_day(start), parse_day(end), today=today)


def default_period(today: dt.date) -> Period:
    """The last complete month: what an élu reads, and what the monthly report covers."""
    return Period.containing(today, "month").previous()


def parse_period(value: str | None, *, today: dt.date) -> Period:
    """The period named by ``value``; ``ValueError`` with a French message if it names none or
    one that has not started yet."""
    if not value:
        return default_period(today)
    days = RANGE_RE.match(value.strip())
    if days:
        return parse_range(days["start"], days["end"], today=today)
    match = PERIOD_RE.match(value.strip())
    if not match:
        raise ValueError(
            _(
                "Période inconnue : « %(v)s ». Exemples : 2026-10, 2026-T4, 2026, "
                "2026-10-01..2026-10-15."
            )
            % {"v": value[:40]}
        )
    year = int(match["year"])
    if match["month"]:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise ValueError(_("Le mois doit être entre 1 et 12."))
        period = Period.month(year, month)
    elif match["quarter"]:
        period = Period.quarter(year, int(match["quarter"]))
    else:
        period = Period.year(year)
    if period.start > today:
        raise ValueError(_("La période %(p)s n'a pas encore commencé.") % {"p": period.label})
    return period


def period_choices(today: dt.date) -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped options for the picker, most recent first: months, quarters, years (the
    current, incomplete one included)."""
    months, quarters, years = [], [], []
    period = Period.containing(today, "month")
    for _i in range(12 * PICKER_YEARS):
        months.append((period_param(period), period.label))
        period = period.previous()
    period = Period.containing(today, "quarter")
    for _i in range(4 * PICKER_YEARS):
        quarters.append((period_param(period), period.label))
        period = period.previous()
    period = Period.containing(today, "year")
    for _i in range(PICKER_YEARS):
        years.append((period_param(period), period.label))
        period = period.previous()
    return [(_("Mois"), months), (_("Trimestres"), quarters), (_("Années"), years)]


class QuickSelect(forms.Select):
    """A ``<select>`` drawn here rather than through the widget templates: an
    intercommunalité's 775 accounts cost 0.2 s of option templates (bench_reporting)."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> str:
        chosen = {str(v) for v in self.format_value(value)}

        def option(key: Any, label: Any) -> str:
            selected = " selected" if str(key) in chosen else ""
            return f'<option value="{escape(key)}"{selected}>{escape(label)}</option>'

        parts = []
        for key, label in self.choices:
            if isinstance(label, list | tuple):
                inner = "".join(option(k, v) for k, v in label)
                parts.append(f'<optgroup label="{escape(key)}">{inner}</optgroup>')
            else:
                parts.append(option(key, label))
        attributes = flatatt(self.build_attrs(self.attrs, attrs))
        return mark_safe(  # noqa: S308 -- every value and label is escaped above
            f'<select name="{escape(name)}"{attributes}>{"".join(parts)}</select>'
        )


class DetailFilterForm(forms.Form):
    """The team dashboard's filters: one account or one network (or all). An
    intercommunalité's page adds a commune (``communes``, the collectivités of its scope):
    its accounts are offered once a commune is chosen (``accounts`` are then that
    commune's), not the hundreds of the whole intercommunalité."""

    compte = forms.TypedChoiceField(
        label=gettext_lazy("Compte"),
        required=False,
        coerce=int,
        empty_value=None,
        widget=QuickSelect,
    )
    reseau = forms.ChoiceField(label=gettext_lazy("Réseau"), required=False)

    def __init__(self, *args: Any, collectivite: Collectivite, accounts: list[SocialAccount],
                 communes: list[tuple[int, str]] | None = None, networks: list[str] | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        if communes:
            self.fields["commune"] = forms.TypedChoiceField(
                label=_("Commune"),
                required=False,
                coerce=int,
                empty_value=None,
                choices=[("", _("Toutes les communes")), *communes],
            )
            self.order_fields(["commune", "compte", "reseau"])
        labels = dict(Network.choices)
        owners: dict[str, list[tuple[int, str]]] = {}
        for a in accounts:
            owners.setdefault(a.collectivite.name, []).append(
                (a.pk, f"{a.display_name} · {labels.get(a.network, a.network)}")
            )
        everything: list[tuple[Any, Any]] = [("", _("Tous les comptes"))]
        if len(owners) > 1:
            everything += [(owner, choices) for owner, choices in sorted(owners.items())]
        else:
            everything += [choice for choices in owners.values() for choice in choices]
        self.fields["compte"].choices = everything
        used = sorted(set(networks) if networks is not None else {a.network for a in accounts})
        self.fields["reseau"].choices = [("", _("Tous les réseaux"))] + [
            (n, labels.get(n, n)) for n in used
        ]


class RecipientsForm(forms.Form):
    """Who receives the monthly report: any member of the collectivité."""

    users = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Destinataires du rapport mensuel"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "Le rapport du mois écoulé leur est envoyé en PDF par e-mail le 1er de chaque mois."
        ),
    )

    def __init__(self, *args: Any, members: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["users"].choices = members
