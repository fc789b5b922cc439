"""The editorial calendar: month and week grids in the collectivité's time zone, the
cadence each editorial line asks for, and the iCalendar export. Pure reads."""

from __future__ import annotations

import calendar as pycal
import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import QuerySet

from collectivites.models import Collectivite, EditorialLine
from publishing.models import Variant


@dataclass
class Filters:
    account: int | None = None
    network: str = ""
    campaign: str = ""
    author: int | None = None

    def apply(self, qs: QuerySet[Variant]) -> QuerySet[Variant]:
        if self.account:
            qs = qs.filter(account_id=self.account)
        if self.network:
            qs = qs.filter(account__network=self.network)
        if self.campaign:
            qs = qs.filter(publication__campaign=self.campaign)
        if self.author:
            qs = qs.filter(publication__author_id=self.author)
        return qs


@dataclass
class Day:
    date: dt.date
    in_month: bool
    variants: list[Variant] = field(default_factory=list)


@dataclass
class CadenceGap:
    account: str
    planned: int
    target: int


@dataclass
class Week:
    monday: dt.date
    days: list[Day]
    gaps: list[CadenceGap] = field(default_factory=list)


def _bounds(
    first: dt.date, last: dt.date, tz: zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def weeks_between(
    *,
    collectivite: Collectivite,
    first: dt.date,
    last: dt.date,
    month: int | None,
    filters: Filters,
) -> list[Week]:
    """Weeks (Monday first) covering ``first``..``last`` with each day's variants, local
    time, and for each week the editorial lines whose cadence is not met."""
    tz = zoneinfo.ZoneInfo(collectivite.time_zone)
    monday = first - dt.timedelta(days=first.weekday())
    sunday = last + dt.timedelta(days=6 - last.weekday())
    start, end = _bounds(monday, sunday, tz)
    qs = filters.apply(
        Variant.objects.for_collectivite(collectivite)
        .filter(scheduled_at__gte=start, scheduled_at__lt=end)
        .exclude(state=Variant.State.CANCELLED)
        .select_related("account", "publication", "publication__author")
        .order_by("scheduled_at")
    )
    by_day: dict[dt.date, list[Variant]] = defaultdict(list)
    for variant in qs:
        variant.local_time = variant.scheduled_at.astimezone(tz)  # type: ignore[attr-defined]
        variant.movable = variant.state in Variant.EDITABLE  # type: ignore[attr-defined]
        by_day[variant.local_time.date()].append(variant)  # type: ignore[attr-defined]

    lines = list(
        EditorialLine.objects.for_collectivite(collectivite)
        .select_related("account")
        .filter(cadence_per_week__gt=0)
    )
    if filters.account:
        lines = [line for line in lines if line.account_id == filters.account]
    if filters.network:
        lines = [line for line in lines if line.account.network == filters.network]

    weeks = []
    day = monday
    while day <= sunday:
        days = []
        for offset in range(7):
            current = day + dt.timedelta(days=offset)
            days.append(
                Day(
                    date=current,
                    in_month=month is None or current.month == month,
                    variants=by_day.get(current, []),
                )
            )
        week = Week(monday=day, days=days)
        for line in lines:
            planned = sum(1 for d in days for v in d.variants if v.account_id == line.account_id)
            if planned < line.cadence_per_week:
                week.gaps.append(
                    CadenceGap(
                        account=line.account.display_name,
                        planned=planned,
                        target=line.cadence_per_week,
                    )
                )
        weeks.append(week)
        day += dt.timedelta(days=7)
    return weeks


def month_grid(
    *, collectivite: Collectivite, year: int, month: int, filters: Filters
) -> list[Week]:
    last_day = pycal.monthrange(year, month)[1]
    return weeks_between(
        collectivite=collectivite,
        first=dt.date(year, month, 1),
        last=dt.date(year, month, last_day),
        month=month,
        filters=filters,
    )


def _ics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """RFC 5545: lines of at most 75 octets, continued with a space."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts)


def icalendar(*, collectivite: Collectivite, variants: QuerySet[Variant], domain: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Parvis//Calendrier éditorial//FR",
        f"X-WR-CALNAME:{_ics_escape('Publications — ' + collectivite.name)}",
        "CALSCALE:GREGORIAN",
    ]
    for variant in variants.select_related("account", "publication"):
        start = variant.scheduled_at.astimezone(dt.UTC)
        end = start + dt.timedelta(minutes=15)
        summary = f"[{variant.account.get_network_display()}] {variant.publication.title}"
        description = (
            f"{variant.get_state_display()} — {variant.account.display_name}\n{variant.text}"
        )
        lines += [
            "BEGIN:VEVENT",
            f"UID:variant-{variant.idempotency_key}@{domain}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{start.strftime('%Y%m%dT%H%M%SZ')}",
            f"DTEND:{end.strftime('%Y%m%dT%H%M%SZ')}",
            f"SUMMARY:{_ics_escape(summary)}",
            f"DESCRIPTION:{_ics_escape(description)}",
            f"STATUS:{'CANCELLED' if variant.state == Variant.State.CANCELLED else 'CONFIRMED'}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
