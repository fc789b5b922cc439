"""The pre-election guard: what a post may say while an election is coming.

Code électoral, article L.52-1: from the first day of the sixth month before the month of
a general election, (1) no commercial advertising in the press or any means of
audiovisual communication (social networks included) may serve electoral propaganda, and
(2) no campaign promoting the achievements or the management of a collectivité may be
organised on the territory concerned. Article L.52-8: a legal person (a collectivité
included) may not fund a candidate's campaign, directly or in kind: a post paid by the
collectivité that serves a candidate is such a gift. The judge (Conseil d'État, Conseil
constitutionnel) tolerates institutional communication that is neutral and informative
and has a precedent: same kind of content, same time of year, same form, in the years
before (antériorité, régularité, identité).

The collectivité's admin enters its periods (``collectivites.ElectionPeriod``); inside one,
every variant gets an info finding with the rules, and warnings that a validateur must
acknowledge (:func:`needs_election_acknowledgement`) for promotional wording, a named
candidate and a theme without precedent; a sponsored (paid) post is an error.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from publishing.checks import (
    Field,
    Finding,
    Level,
    VariantDraft,
    fold,
    quote_list,
    search_folded,
    whole_words,
)

__all__ = [
    "ACKNOWLEDGEMENT_CODES",
    "PROMOTIONAL_PATTERNS",
    "ElectionContext",
    "Period",
    "active_period",
    "candidate_mentions",
    "check_election",
    "has_precedent",
    "local_day",
    "needs_election_acknowledgement",
    "promotional_wording",
]

ACKNOWLEDGEMENT_CODES = frozenset(
    {"election.promotional_wording", "election.candidate_named", "election.no_precedent"}
)
PRECEDENT_WINDOW_MONTHS = 1  # a precedent may fall a month earlier or later in the year


class Period(NamedTuple):
    label: str
    starts_on: dt.date
    ends_on: dt.date  # included: the day of the (last) round

    @classmethod
    def from_model(cls, period: Any) -> Period:
        """From a ``collectivites.models.ElectionPeriod`` (read by attribute only)."""
        return cls(period.label, period.starts_on, period.ends_on)


# (year, month, theme) -> number of the collectivité's posts on that theme that month.
History = Mapping[tuple[int, int, str], int]


@dataclass(frozen=True)
class ElectionContext:
    """What the guard needs beyond the draft. ``periods``: :class:`Period` or plain
    ``(label, starts_on, ends_on)`` tuples. ``sponsored``: the variant is boosted or paid.
    ``theme``: the publication's kind or theme (e.g. "fête de la musique", "travaux"), ""
    when unknown (then no precedent check). ``history``: the collectivité's past posts
    counted by ``(year, month, theme)`` (themes compared without case or accents)."""

    periods: Sequence[Period | tuple[str, dt.date, dt.date]] = ()
    candidate_names: Sequence[str] = ()
    sponsored: bool = False
    theme: str = ""
    history: History = field(default_factory=dict)
    time_zone: str = "Europe/Paris"


def local_day(moment: dt.datetime, time_zone: str = "Europe/Paris") -> dt.date:
    """The calendar day of ``moment`` (aware) in ``time_zone``."""
    if timezone.is_naive(moment):
        raise ValueError("scheduled_at must be an aware datetime")
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def active_period(
    periods: Iterable[Period | tuple[str, dt.date, dt.date]], day: dt.date
) -> Period | None:
    """The period containing ``day`` (bounds included), the earliest-starting if several."""
    inside = [Period(*p) for p in periods if p[1] <= day <= p[2]]
    return min(inside, key=lambda p: p.starts_on) if inside else None


# French wording that promotes a record (folded: lower case, no accents, ' apostrophes;
# matched as whole words, any whitespace between words).
PROMOTIONAL_PATTERNS = (
    r"bilans?(?!\s+(?:carbone|energetique|de\s+sante|de\s+competences|sanguin|medical))",
    r"reussites?",
    r"pari\s+(?:reussi|gagne|tenu)",
    r"promesses?\s+tenues?",
    r"engagements?\s+tenus?",
    r"(?:tenu|tenir|tiens|tenons)\s+(?:parole|nos\s+engagements|nos\s+promesses)",
    r"fiertes?",
    r"fier|fiers|fiere|fieres",
    r"grace\s+a\s+(?:l'action|l'engagement|la\s+mobilisation|la\s+volonte|l'impulsion)"
    r"\s+(?:de|du|des)",
    r"grace\s+(?:au|a\s+notre|a\s+la|a\s+l')\s*(?:maire|municipalite|majorite"
    r"|equipe\s+municipale|president|presidente)",
    r"(?:nous\s+avons|j'ai)\s+(?:realise|reussi|obtenu|concretise|accompli|tenu|livre"
    r"|transforme|investi|fait)",
    r"(?:le|la|notre)\s+(?:maire|president|presidente|majorite|municipalite)\s+a\s+"
    r"(?:obtenu|realise|reussi|tenu|concretise|permis|su|decroche)",
    r"records?(?!\s+de\s+(?:chaleur|froid|temperature|pluie))",
    r"succes",
    r"mission\s+accomplie",
    r"objectifs?\s+atteints?",
    r"sans\s+precedent",
    r"du\s+jamais\s+vu",
    r"(?:investissement|annee|mandat)\s+historique",
    r"realisations?\s+(?:du|de\s+notre|de\s+la)\s+(?:mandat|municipalite|majorite)",
    r"depuis\s+(?:le\s+debut\s+(?:du|de\s+notre)\s+mandat|notre\s+election)",
)
_PROMOTIONAL_RE = whole_words("|".join(f"(?:{p})" for p in PROMOTIONAL_PATTERNS))


def promotional_wording(text: str) -> list[str]:
    """The promotional phrases of ``text`` as written there ("Promesse tenue", "fiers")."""
    return [found for _start, _end, found in search_folded(text, _PROMOTIONAL_RE)]


def candidate_mentions(text: str, names: Iterable[str]) -> list[str]:
    """The configured candidate names found in ``text`` as whole words, whatever the case
    and accents; spaces and hyphens between parts are interchangeable ("Jean-Marc Petit"
    finds "jean marc petit")."""
    found: list[str] = []
    for name in names:
        parts = [re.escape(p) for p in re.split(r"[\s\-]+", fold(name).strip()) if p]
        if not parts:
            continue
        hits = search_folded(text, whole_words(r"[\s\-]+".join(parts)))
        found.extend(hit for _start, _end, hit in hits[:1])
    return found


def has_precedent(
    history: History, theme: str, day: dt.date, *, window: int = PRECEDENT_WINDOW_MONTHS
) -> bool:
    """Whether the collectivité posted on ``theme`` in a previous year at the same time of
    year as ``day`` (the same month, or ``window`` months around it)."""
    wanted = fold(theme).strip()
    target = day.year * 12 + day.month - 1
    for (year, month, past_theme), count in history.items():
        if count <= 0 or fold(past_theme).strip() != wanted:
            continue
        diff = target - (year * 12 + month - 1)
        if diff >= 12 - window and (diff % 12 <= window or diff % 12 >= 12 - window):
            return True
    return False


def _day(value: dt.date) -> str:
    if value.day == 1 and (get_language() or "fr").startswith("fr"):
        return date_format(value, "1\\e\\r F Y")  # "1er mars 2026"
    return date_format(value, "j F Y")


def check_election(
    draft: VariantDraft, context: ElectionContext, *, now: dt.datetime | None = None
) -> list[Finding]:
    """The pre-election findings for ``draft``; none outside every period. The day is the
    one of ``scheduled_at`` (or ``now``, default the current time) in the context's time
    zone, bounds of the period included."""
    moment = draft.scheduled_at or now or timezone.now()
    day = local_day(moment, context.time_zone)
    period = active_period(context.periods, day)
    if period is None:
        return []
    findings = [
        Finding(
            Level.INFO,
            "election.period",
            _(
                "Publication prévue le %(day)s, pendant la période pré-électorale "
                "« %(label)s » (du %(start)s au %(end)s) : contenu neutre et informatif "
                "uniquement, sans mise en valeur des réalisations ou de la gestion de la "
                "collectivité (article L.52-1 du Code électoral), sans publicité payante "
                "(articles L.52-1 et L.52-8)."
            )
            % {
                "day": _day(day),
                "label": period.label,
                "start": _day(period.starts_on),
                "end": _day(period.ends_on),
            },
            Field.SCHEDULE,
        )
    ]
    if context.sponsored:
        findings.append(
            Finding(
                Level.ERROR,
                "election.sponsored",
                _(
                    "Publication sponsorisée pendant la période pré-électorale « %(label)s » : "
                    "la publicité payante est interdite (article L.52-1 du Code électoral) et, "
                    "payée par la collectivité, elle pourrait être un don à un candidat "
                    "(article L.52-8). Retirez la sponsorisation."
                )
                % {"label": period.label},
                Field.SCHEDULE,
            )
        )
    wording = promotional_wording(draft.text)
    if wording:
        findings.append(
            Finding(
                Level.WARNING,
                "election.promotional_wording",
                _(
                    "Formulation promotionnelle en période pré-électorale (%(words)s) : la "
                    "communication de la collectivité doit rester neutre et informative "
                    "(article L.52-1). Reformulez, ou faites confirmer par un validateur."
                )
                % {"words": quote_list(wording)},
                Field.TEXT,
            )
        )
    names = candidate_mentions(draft.text, context.candidate_names)
    if names:
        findings.append(
            Finding(
                Level.WARNING,
                "election.candidate_named",
                _(
                    "Le texte nomme %(names)s, qui se présente à l'élection : la "
                    "communication de la collectivité ne doit pas servir sa campagne "
                    "(articles L.52-1 et L.52-8). Un validateur doit confirmer."
                )
                % {"names": quote_list(names)},
                Field.TEXT,
            )
        )
    if context.theme.strip() and not has_precedent(context.history, context.theme, day):
        findings.append(
            Finding(
                Level.WARNING,
                "election.no_precedent",
                _(
                    "Aucune publication « %(theme)s » vers le mois de %(month)s les années "
                    "précédentes : en période pré-électorale, une communication doit pouvoir "
                    "justifier de son antériorité, de sa régularité et de sa forme habituelle "
                    "(article L.52-1). Un validateur doit confirmer."
                )
                % {"theme": context.theme.strip(), "month": date_format(day, "F")},
                Field.SCHEDULE,
            )
        )
    return findings


def needs_election_acknowledgement(findings: Iterable[Finding]) -> bool:
    """Whether a validateur must acknowledge the pre-election warnings before the variant
    is approved (errors block anyway and cannot be acknowledged)."""
    return any(f.code in ACKNOWLEDGEMENT_CODES for f in findings)
