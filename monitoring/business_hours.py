"""Time counted in business hours: how long citizens waited, and when an answer is due.

The charter (``collectivites.ModerationCharter``) sets the opening and closing times and a
response target in business hours. Business days are Monday to Friday, except French public
holidays (the eleven national ones; with ``alsace_moselle`` also Good Friday and 26 December).
Times are taken in the collectivité's time zone, so a message received at 20:00 on a Friday
starts counting on Monday at the opening time.

This is the one place that does this arithmetic: the inbox (overdue items) and reporting
(first-response times) both call it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["add_business_seconds", "business_seconds", "is_business_day", "public_holidays"]

# Deadlines further than this are not searched for (a misconfigured charter must not loop).
_MAX_DAYS = 3660


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=256)
def public_holidays(year: int, *, alsace_moselle: bool = False) -> frozenset[dt.date]:
    """France's public holidays (jours fériés) of ``year``."""
    easter = _easter(year)
    days = {
        dt.date(year, 1, 1),  # Jour de l'an
        easter + dt.timedelta(days=1),  # Lundi de Pâques
        dt.date(year, 5, 1),  # Fête du travail
        dt.date(year, 5, 8),  # Victoire 1945
        easter + dt.timedelta(days=39),  # Ascension
        easter + dt.timedelta(days=50),  # Lundi de Pentecôte
        dt.date(year, 7, 14),  # Fête nationale
        dt.date(year, 8, 15),  # Assomption
        dt.date(year, 11, 1),  # Toussaint
        dt.date(year, 11, 11),  # Armistice
        dt.date(year, 12, 25),  # Noël
    }
    if alsace_moselle:
        days |= {easter - dt.timedelta(days=2), dt.date(year, 12, 26)}
    return frozenset(days)


def is_business_day(day: dt.date, *, alsace_moselle: bool = False) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year, alsace_moselle=alsace_moselle)


def _window(
    day: dt.date, opens: dt.time, closes: dt.time, zone: ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    return (
        dt.datetime.combine(day, opens, tzinfo=zone),
        dt.datetime.combine(day, closes, tzinfo=zone),
    )


def _check(opens: dt.time, closes: dt.time) -> None:
    if opens >= closes:
        raise ValueError("business hours must open before they close")


def business_seconds(
    start: dt.datetime,
    end: dt.datetime,
    *,
    opens: dt.time,
    closes: dt.time,
    tz: str,
    alsace_moselle: bool = False,
) -> float:
    """Seconds of business time between two aware datetimes (0 when ``end <= start``)."""
    _check(opens, closes)
    if end <= start:
        return 0.0
    zone = ZoneInfo(tz)
    start, end = start.astimezone(zone), end.astimezone(zone)
    total = 0.0
    day = start.date()
    while day <= end.date():
        if is_business_day(day, alsace_moselle=alsace_moselle):
            day_open, day_close = _window(day, opens, closes, zone)
            lo, hi = max(start, day_open), min(end, day_close)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += dt.timedelta(days=1)
    return total


def add_business_seconds(
    start: dt.datetime,
    seconds: float,
    *,
    opens: dt.time,
    closes: dt.time,
    tz: str,
    alsace_moselle: bool = False,
) -> dt.datetime:
    """The moment ``seconds`` of business time after ``start`` (a due date)."""
    _check(opens, closes)
    zone = ZoneInfo(tz)
    moment = start.astimezone(zone)
    remaining = max(0.0, seconds)
    day = moment.date()
    for _ in range(_MAX_DAYS):
        if is_business_day(day, alsace_moselle=alsace_moselle):
            day_open, day_close = _window(day, opens, closes, zone)
            lo = max(moment, day_open)
            if lo < day_close:
                available = (day_close - lo).total_seconds()
                if remaining <= available:
                    return lo + dt.timedelta(seconds=remaining)
                remaining -= available
        day += dt.timedelta(days=1)
    raise ValueError("deadline too far away")
