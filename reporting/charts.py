"""Line and bar charts drawn as SVG on the server, for the PDF report (no browser needed).

Each chart is a standalone ``<svg role="img">`` whose ``<title>`` and ``<desc>`` say what it
shows in words (the text alternative: the figures' range and the last value), so that a
screen reader and a PDF text extraction get the substance of the chart. Gaps (a day the
network gave nothing) break the line rather than drawing a zero. All text is escaped.

The pages draw their charts in the browser with Chart.js; the figures are the same
(``reporting.kpis.series``), these SVGs are for the PDF and e-mail only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from xml.sax.saxutils import escape, quoteattr

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from reporting.kpis import number_format

# Colour-blind safe (Okabe-Ito), each with a dash pattern so series differ without colour.
PALETTE = ["#0a5bb5", "#c05800", "#08785a", "#a3307e", "#4d4d4d"]
DASHES = ["", "6 3", "2 3", "8 3 2 3", "1 2"]
INK = "#1b1b1f"
GRID = "#c9ccd6"
FONT = "DejaVu Sans, Noto Sans, Arial, sans-serif"

_ids = count(1)

Value = float | None


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[dt.date, Value]]


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round axis steps (1, 2, 2.5 or 5 × 10^n) covering ``low``..``high``, starting at or
    below ``low``."""
    if high < low:
        low, high = high, low
    if math.isclose(high, low):
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(target - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    value = start
    while True:
        ticks.append(round(value, 10))
        if value >= high - step * 1e-9:
            return ticks
        value += step


def format_number(value: float | None, decimals: int = 0) -> str:
    if value is None:
        return _("non fourni")
    if decimals == 0 or float(value).is_integer():
        return number_format(round(value), 0, force_grouping=True)
    return number_format(value, decimals, force_grouping=True)


def _fmt_tick(value: float) -> str:
    if abs(value) >= 1_000_000:
        return number_format(value / 1_000_000, 1) + " M"
    return format_number(value, 1 if not float(value).is_integer() else 0)


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 11,
          weight: str = "normal") -> str:  # fmt: skip
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-family={quoteattr(FONT)} '
        f'fill="{INK}" text-anchor="{anchor}" font-weight="{weight}">{escape(content)}</text>'
    )


def _open(width: int, height: int, title: str, description: str) -> tuple[str, str]:
    n = next(_ids)
    title_id, desc_id = f"chart-title-{n}", f"chart-desc-{n}"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{title_id} {desc_id}">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(description)}</desc>'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        + _text(8, 18, title, size=13, weight="bold")
    )
    return head, "</svg>"


def _empty(width: int, height: int, title: str) -> str:
    message = _("Aucune donnée pour cette période.")
    head, tail = _open(width, height, title, message)
    return head + _text(width / 2, height / 2, message, anchor="middle", size=12) + tail


def describe_series(series: Sequence[Series]) -> str:
    """The text alternative of a line chart: per series, its range and its last value."""
    parts = []
    for s in series:
        known = [(d, v) for d, v in s.points if v is not None]
        if not known:
            parts.append(_("%(label)s : non fourni sur la période.") % {"label": s.label})
            continue
        low = min(known, key=lambda p: p[1])
        high = max(known, key=lambda p: p[1])
        last = known[-1]
        parts.append(
            _(
                "%(label)s : de %(low)s (%(low_day)s) à %(high)s (%(high_day)s), "
                "%(last)s le %(last_day)s."
            )
            % {
                "label": s.label,
                "low": format_number(low[1], 1),
                "low_day": date_format(low[0], "j F"),
                "high": format_number(high[1], 1),
                "high_day": date_format(high[0], "j F"),
                "last": format_number(last[1], 1),
                "last_day": date_format(last[0], "j F"),
            }
        )
    return " ".join(parts)


def line_chart(title: str, series: Sequence[Series], *, width: int = 640, height: int = 240) -> str:
    """A line per series over dates; ``None`` values leave a gap."""
    days = sorted({d for s in series for d, _v in s.points})
    values = [v for s in series for _d, v in s.points if v is not None]
    if not days or not values:
        return _empty(width, height, title)
    left, right, top = 56, 24, 30
    bottom = 36 + (18 if len(series) > 1 else 0)
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(min(0.0, min(values)), max(values))
    y_low, y_high = ticks[0], ticks[-1]
    first, last = days[0], days[-1]
    span = max((last - first).days, 1)

    def x(day: dt.date) -> float:
        return left + plot_w * ((day - first).days / span if len(days) > 1 else 0.5)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - y_low) / (y_high - y_low))

    head, tail = _open(width, height, title, describe_series(series))
    parts = [head]
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y(tick) + 4, _fmt_tick(tick), anchor="end", size=10))
    for day in _date_ticks(days):
        parts.append(
            _text(x(day), top + plot_h + 16, date_format(day, "j b"), anchor="middle", size=10)
        )
    for i, s in enumerate(series):
        colour, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for run in _runs(s.points):
            if len(run) == 1:
                d, v = run[0]
                parts.append(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>')
                continue
            path = " ".join(
                f"{'M' if j == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for j, (d, v) in enumerate(run)
            )
            parts.append(
                f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>'
            )
    if len(series) > 1:
        legend_y = height - 8
        offset = left
        for i, s in enumerate(series):
            colour, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<line x1="{offset}" x2="{offset + 22}" y1="{legend_y - 4}" '
                f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="2"{dash_attr}/>'
            )
            parts.append(_text(offset + 26, legend_y, s.label, size=10))
            offset += 34 + 6 * len(s.label)
    parts.append(tail)
    return "".join(parts)


def _runs(points: Sequence[tuple[dt.date, Value]]) -> list[list[tuple[dt.date, float]]]:
    """Consecutive known points, split at each ``None``."""
    runs: list[list[tuple[dt.date, float]]] = [[]]
    for day, value in sorted(points, key=lambda p: p[0]):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((day, float(value)))
    return [r for r in runs if r]


def _date_ticks(days: list[dt.date], most: int = 6) -> list[dt.date]:
    if len(days) <= most:
        return days
    step = math.ceil((len(days) - 1) / (most - 1))
    picked = days[::step]
    if picked[-1] != days[-1] and (days[-1] - picked[-1]).days > step / 2:
        picked.append(days[-1])
    return picked


def describe_bars(bars: Sequence[tuple[str, Value]]) -> str:
    return " ; ".join(f"{label} : {format_number(value, 1)}" for label, value in bars) + "."


def bar_chart(
    title: str, bars: Sequence[tuple[str, Value]], *, width: int = 640, bar_height: int = 22
) -> str:
    """Horizontal bars (labels stay readable however long); ``None`` is written, not drawn."""
    known = [v for _label, v in bars if v is not None]
    height = 34 + len(bars) * (bar_height + 8) + 22
    if not bars or not known:
        return _empty(width, max(height, 120), title)
    label_w = min(220, 12 + 7 * max(len(label) for label, _v in bars))
    left, right, top = label_w, 70, 30
    plot_w = width - left - right
    ticks = nice_ticks(min(0.0, min(known)), max(known))
    low, high = ticks[0], ticks[-1]

    def x(value: float) -> float:
        return left + plot_w * (value - low) / (high - low)

    head, tail = _open(width, height, title, describe_bars(bars))
    parts = [head]
    for tick in ticks:
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" '
            f'y2="{height - 20}" stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(x(tick), height - 6, _fmt_tick(tick), anchor="middle", size=10))
    for i, (label, value) in enumerate(bars):
        row_y = top + 4 + i * (bar_height + 8)
        shown = label if len(label) <= 30 else label[:29] + "…"
        parts.append(_text(left - 6, row_y + bar_height * 0.7, shown, anchor="end", size=11))
        if value is None:
            parts.append(_text(left + 4, row_y + bar_height * 0.7, _("non fourni"), size=10))
            continue
        x0, x1 = sorted((x(max(low, 0.0)), x(value)))
        parts.append(
            f'<rect x="{x0:.1f}" y="{row_y}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{bar_height}" fill="{PALETTE[0]}"/>'
        )
        parts.append(_text(x1 + 4, row_y + bar_height * 0.7, format_number(value, 1), size=10))
    parts.append(tail)
    return "".join(parts)
