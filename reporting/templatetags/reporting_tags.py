"""Filters of the reporting templates; the wording lives in ``reporting.tables``."""

from __future__ import annotations

from django import template

from reporting import kpis, tables

register = template.Library()


@register.filter
def change(figure: kpis.Figure) -> str:
    """``+12,5 %`` against the previous period, or "" when there is nothing to compare."""
    return tables.format_change(figure.change)


@register.filter
def trend(figure: kpis.Figure) -> str:
    """``up`` / ``down`` / ``flat`` / "" (a CSS class for the arrow)."""
    return tables.trend(figure)
