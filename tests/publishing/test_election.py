"""The pre-election guard (publishing/election.py): period boundaries in Paris time
(daylight saving included), promotional wording, candidates, sponsoring, precedent."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from publishing.checks import Finding, Level, VariantDraft
from publishing.election import (
    ElectionContext,
    Period,
    active_period,
    candidate_mentions,
    check_election,
    has_precedent,
    local_day,
    needs_election_acknowledgement,
    promotional_wording,
)

UTC = dt.UTC
# Municipales 2026: rounds on 15 and 22 March 2026; L.52-1 from 1 September 2025.
MUNICIPALES = Period("Municipales 2026", dt.date(2025, 9, 1), dt.date(2026, 3, 22))
INSIDE = dt.datetime(2026, 2, 10, 9, 30, tzinfo=UTC)
NEUTRAL = "La médiathèque ouvre samedi de 10 h à 18 h. Entrée libre."


def context(**kw: object) -> ElectionContext:
    values: dict[str, object] = {"periods": [MUNICIPALES]}
    values.update(kw)
    return ElectionContext(**values)  # type: ignore[arg-type]


def check(text: str = NEUTRAL, when: dt.datetime = INSIDE, **kw: object) -> list[Finding]:
    draft = VariantDraft(text=text, network="facebook", scheduled_at=when)
    return check_election(draft, context(**kw))


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        # Spring forward, Sunday 29 March 2026 (UTC+1 → UTC+2 at 01:00 UTC).
        (dt.datetime(2026, 3, 28, 22, 59, tzinfo=UTC), dt.date(2026, 3, 28)),
        (dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC), dt.date(2026, 3, 29)),
        (dt.datetime(2026, 3, 29, 21, 59, tzinfo=UTC), dt.date(2026, 3, 29)),
        (dt.datetime(2026, 3, 29, 22, 0, tzinfo=UTC), dt.date(2026, 3, 30)),
        # Fall back, Sunday 26 October 2025 (UTC+2 → UTC+1 at 01:00 UTC).
        (dt.datetime(2025, 10, 25, 21, 59, tzinfo=UTC), dt.date(2025, 10, 25)),
        (dt.datetime(2025, 10, 25, 22, 0, tzinfo=UTC), dt.date(2025, 10, 26)),
        (dt.datetime(2025, 10, 26, 22, 59, tzinfo=UTC), dt.date(2025, 10, 26)),
        (dt.datetime(2025, 10, 26, 23, 0, tzinfo=UTC), dt.date(2025, 10, 27)),
    ],
)
def test_local_day_in_paris_across_daylight_saving(moment: dt.datetime, day: dt.date) -> None:
    assert local_day(moment) == day


def test_local_day_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError):
        local_day(dt.datetime(2026, 3, 1, 12, 0))


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        # First day: 1 September 2025 in Paris (summer time, UTC+2).
        (dt.datetime(2025, 8, 31, 21, 59, tzinfo=UTC), False),
        (dt.datetime(2025, 8, 31, 22, 0, tzinfo=UTC), True),
        # Last day, the second round: 22 March 2026 in Paris (winter time, UTC+1).
        (dt.datetime(2026, 3, 22, 22, 59, tzinfo=UTC), True),
        (dt.datetime(2026, 3, 22, 23, 0, tzinfo=UTC), False),
    ],
)
def test_period_bounds_are_paris_days_included(moment: dt.datetime, inside: bool) -> None:
    assert ("election.period" in codes(check(when=moment))) is inside


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (dt.datetime(2026, 3, 29, 21, 30, tzinfo=UTC), True),  # 23:30 CEST on the 29th
        (dt.datetime(2026, 3, 29, 22, 30, tzinfo=UTC), False),  # 00:30 CEST on the 30th
        (dt.datetime(2026, 3, 28, 22, 30, tzinfo=UTC), False),  # 23:30 CET on the 28th
        (dt.datetime(2026, 3, 28, 23, 30, tzinfo=UTC), True),  # 00:30 CET on the 29th
    ],
)
def test_a_one_day_period_on_the_spring_forward_sunday(moment: dt.datetime, inside: bool) -> None:
    day = Period("Scrutin partiel", dt.date(2026, 3, 29), dt.date(2026, 3, 29))
    assert bool(check(when=moment, periods=[day])) is inside


def test_the_collectivites_own_time_zone() -> None:
    # 01:30 UTC on 23 March is still 22 March (22:30) in French Guiana.
    moment = dt.datetime(2026, 3, 23, 1, 30, tzinfo=UTC)
    assert check(when=moment) == []
    assert codes(check(when=moment, time_zone="America/Cayenne")) == ["election.period"]


def test_active_period_takes_tuples_models_and_prefers_the_earliest() -> None:
    model = SimpleNamespace(
        label="Départementales", starts_on=dt.date(2025, 10, 1), ends_on=dt.date(2026, 3, 22)
    )
    periods = [Period.from_model(model), ("Municipales 2026", MUNICIPALES[1], MUNICIPALES[2])]
    assert active_period(periods, dt.date(2026, 1, 5)).label == "Municipales 2026"
    assert active_period(periods, dt.date(2025, 9, 15)).label == "Municipales 2026"
    assert active_period(periods, dt.date(2026, 4, 1)) is None
    assert active_period([], dt.date(2026, 1, 5)) is None


def test_no_draft_date_means_now() -> None:
    draft = VariantDraft(text=NEUTRAL, network="x")
    assert codes(check_election(draft, context(), now=INSIDE)) == ["election.period"]
    assert check_election(draft, context(), now=dt.datetime(2026, 5, 1, tzinfo=UTC)) == []


# --- the findings -------------------------------------------------------------------------------


def test_inside_the_period_an_info_gives_the_rules() -> None:
    (finding,) = check()
    assert (finding.level, finding.code, finding.field) == (
        Level.INFO,
        "election.period",
        "schedule",
    )
    assert "10 février 2026" in finding.message
    assert "« Municipales 2026 » (du 1er septembre 2025 au 22 mars 2026)" in finding.message
    assert "L.52-1" in finding.message and "L.52-8" in finding.message
    assert not needs_election_acknowledgement([finding])


def test_outside_every_period_nothing_at_all() -> None:
    text = "Promesse tenue ! Bilan du mandat de Jean-Marc Petit."
    before = dt.datetime(2025, 6, 1, 8, tzinfo=UTC)
    findings = check(text, before, sponsored=True, candidate_names=["Jean-Marc Petit"])
    assert findings == []
    assert check(text, dt.datetime(2026, 6, 1, 8, tzinfo=UTC), theme="Bilan") == []


def test_sponsored_post_is_an_error_in_the_period() -> None:
    findings = check(sponsored=True)
    assert codes(findings) == ["election.period", "election.sponsored"]
    error = findings[1]
    assert error.level == Level.ERROR
    assert "L.52-1" in error.message and "L.52-8" in error.message
    assert codes(check(sponsored=False)) == ["election.period"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Promesse tenue : la médiathèque est ouverte !", "Promesse tenue"),
        ("Nous sommes FIERS de cette nouvelle école.", "FIERS"),
        ("Grâce à l’action de notre maire, le parc est rénové.", "Grâce à l’action de"),
        ("Le maire a obtenu 2 M€ de l'État.", "Le maire a obtenu"),
        ("Un vrai succès pour la fête du village 🎉", "succès"),
        ("Record de fréquentation à la piscine !", "Record"),
        ("Nous avons réalisé 12 km de pistes cyclables.", "Nous avons réalisé"),
        ("Le BILAN du mandat en images", "BILAN"),
        ("Engagements tenus pour nos écoles.", "Engagements tenus"),
        ("Une réussite collective", "réussite"),
        ("Un investissement historique pour le quartier", "investissement historique"),
    ],
)
def test_promotional_wording_needs_an_acknowledgement(text: str, found: str) -> None:
    assert found in promotional_wording(text)
    findings = check(text)
    assert codes(findings) == ["election.period", "election.promotional_wording"]
    assert findings[1].level == Level.WARNING
    assert f"« {found} »" in findings[1].message
    assert needs_election_acknowledgement(findings)


@pytest.mark.parametrize(
    "text",
    [
        NEUTRAL,
        "Réunion publique sur le bilan carbone de la commune.",
        "Record de chaleur attendu : la salle des fêtes est climatisée.",
        "Le successeur de la ligne 4 sera présenté jeudi.",
        "Centre historique fermé aux voitures dimanche.",
        "Le maire a reçu les nouveaux habitants.",
    ],
)
def test_neutral_wording_passes(text: str) -> None:
    assert promotional_wording(text) == []
    assert codes(check(text)) == ["election.period"]


def test_candidate_names_need_an_acknowledgement() -> None:
    names = ["Jean-Marc Petit", "Aïcha Benali"]
    text = "Inauguration avec jean marc PETIT et Aicha Benali."
    assert candidate_mentions(text, names) == ["jean marc PETIT", "Aicha Benali"]
    findings = check(text, candidate_names=names)
    assert codes(findings) == ["election.period", "election.candidate_named"]
    assert "« jean marc PETIT », « Aicha Benali »" in findings[1].message
    assert needs_election_acknowledgement(findings)
    assert candidate_mentions("Le Petit Marché et la rue Petitjean", names) == []
    assert codes(check("Le Petit Marché est ouvert.", candidate_names=names)) == ["election.period"]


HISTORY = {
    (2024, 6, "Fête de la musique"): 3,
    (2023, 6, "fete de la musique"): 2,
    (2024, 12, "Vœux"): 1,
    (2025, 12, "Marché de Noël"): 4,
    (2022, 3, "Carnaval"): 0,
}


@pytest.mark.parametrize(
    ("theme", "day", "precedent"),
    [
        ("Fête de la musique", dt.date(2026, 6, 21), True),
        ("FÊTE DE LA MUSIQUE", dt.date(2026, 5, 30), True),  # a month early
        ("Fête de la musique", dt.date(2026, 7, 14), True),  # a month late
        ("Fête de la musique", dt.date(2026, 4, 15), False),
        ("Vœux", dt.date(2026, 1, 8), True),  # December of an earlier year
        ("Marché de Noël", dt.date(2026, 1, 8), False),  # last month is not last year
        ("Carnaval", dt.date(2026, 3, 1), False),  # no post that month
        ("Inauguration", dt.date(2026, 6, 21), False),
    ],
)
def test_has_precedent(theme: str, day: dt.date, precedent: bool) -> None:
    assert has_precedent(HISTORY, theme, day) is precedent


def test_theme_without_precedent_needs_an_acknowledgement() -> None:
    march = dt.datetime(2026, 3, 5, 9, tzinfo=UTC)
    findings = check(when=march, theme="Inauguration", history=HISTORY)
    assert codes(findings) == ["election.period", "election.no_precedent"]
    assert "« Inauguration » vers le mois de mars" in findings[1].message
    assert needs_election_acknowledgement(findings)
    # Same theme and time of year as before: no warning.
    december = dt.datetime(2025, 12, 10, 9, tzinfo=UTC)
    assert codes(check(when=december, theme="Vœux", history=HISTORY)) == ["election.period"]
    # No theme given: no precedent check.
    assert codes(check(when=march, theme="", history=HISTORY)) == ["election.period"]


def test_acknowledgement_only_for_election_warnings() -> None:
    assert not needs_election_acknowledgement([])
    assert not needs_election_acknowledgement(check(sponsored=True))
    other = Finding(Level.WARNING, "editorial.tutoiement", "…", "text")  # type: ignore[arg-type]
    assert not needs_election_acknowledgement([other])
