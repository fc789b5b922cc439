"""Business-hours arithmetic, checked against durations counted by hand."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from monitoring.business_hours import (
    add_business_seconds,
    business_seconds,
    is_business_day,
    public_holidays,
)

PARIS = ZoneInfo("Europe/Paris")
HOURS = {"opens": dt.time(9), "closes": dt.time(17, 30), "tz": "Europe/Paris"}


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def test_easter_based_holidays_of_2026_and_2027() -> None:
    # Easter 2026 is on 5 April, Easter 2027 on 28 March.
    assert {dt.date(2026, 4, 6), dt.date(2026, 5, 14), dt.date(2026, 5, 25)} <= public_holidays(
        2026
    )
    assert {dt.date(2027, 3, 29), dt.date(2027, 5, 6), dt.date(2027, 5, 17)} <= public_holidays(
        2027
    )
    assert len(public_holidays(2026)) == 11
    assert dt.date(2026, 4, 3) in public_holidays(2026, alsace_moselle=True)  # Vendredi saint
    assert dt.date(2026, 12, 26) in public_holidays(2026, alsace_moselle=True)


def test_business_days() -> None:
    assert is_business_day(dt.date(2026, 11, 23))  # a Monday
    assert not is_business_day(dt.date(2026, 11, 21))  # a Saturday
    assert not is_business_day(dt.date(2026, 11, 11))  # Armistice, a Wednesday


def test_within_one_day() -> None:
    # Monday 10:00 → 12:30: 2 h 30.
    assert business_seconds(at(2026, 11, 23, 10), at(2026, 11, 23, 12, 30), **HOURS) == 9000


def test_friday_evening_to_monday_morning_counts_only_monday() -> None:
    # Friday 20 Nov 20:00 → Monday 23 Nov 10:15: nothing on Friday evening or the weekend,
    # Monday 9:00 → 10:15 = 1 h 15.
    assert business_seconds(at(2026, 11, 20, 20), at(2026, 11, 23, 10, 15), **HOURS) == 4500


def test_across_a_public_holiday() -> None:
    # Tuesday 10 Nov 16:30 → Thursday 12 Nov 10:00, Wednesday 11 Nov is a holiday:
    # Tuesday 16:30 → 17:30 (1 h) + Thursday 9:00 → 10:00 (1 h) = 2 h.
    assert business_seconds(at(2026, 11, 10, 16, 30), at(2026, 11, 12, 10), **HOURS) == 7200


def test_utc_inputs_are_read_in_the_collectivite_s_zone() -> None:
    # 08:30 UTC is 09:30 in Paris in November; 16:00 UTC is 17:00: 7 h 30.
    start = dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC)
    end = dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC)
    assert business_seconds(start, end, **HOURS) == 27000


def test_reversed_or_empty_interval_is_zero() -> None:
    assert business_seconds(at(2026, 11, 23, 12), at(2026, 11, 23, 10), **HOURS) == 0


def test_due_date_rolls_over_nights_weekends_and_holidays() -> None:
    # 3 business hours from Friday 16:00: 1 h 30 on Friday, 1 h 30 on Monday → Monday 10:30.
    due = add_business_seconds(at(2026, 11, 20, 16), 3 * 3600, **HOURS)
    assert due == at(2026, 11, 23, 10, 30)
    # From a Saturday, the clock starts on Monday at opening.
    assert add_business_seconds(at(2026, 11, 21, 11), 3600, **HOURS) == at(2026, 11, 23, 10)
    # From Tuesday 10 Nov 17:00, 1 h: 30 min on Tuesday, 30 min on Thursday (11 Nov is off).
    assert add_business_seconds(at(2026, 11, 10, 17), 3600, **HOURS) == at(2026, 11, 12, 9, 30)


def test_due_date_and_duration_agree() -> None:
    start = at(2026, 12, 24, 15)
    due = add_business_seconds(start, 24 * 3600, **HOURS)
    assert business_seconds(start, due, **HOURS) == pytest.approx(24 * 3600)


def test_hours_that_do_not_open_are_refused() -> None:
    with pytest.raises(ValueError):
        business_seconds(at(2026, 11, 23, 10), at(2026, 11, 23, 11), opens=dt.time(18),
                         closes=dt.time(9), tz="Europe/Paris")  # fmt: skip
