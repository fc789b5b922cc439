"""The journal: an admin browses, filters and exports the collectivité's audit trail."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from audit import selectors, services
from audit.forms import EventFilterForm
from collectivites.permissions import Capability
from collectivites.viewmixins import requires

PAGE_SIZE = 50


@requires(Capability.AUDIT_VIEW)
@require_safe
def journal(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    form = EventFilterForm(request.GET or None)
    filters = form.filters() if request.GET else None
    page = Paginator(
        selectors.events(collectivite=collectivite, filters=filters), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/journal.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "actors": selectors.actors(collectivite=collectivite),
            "object_types": selectors.object_types(collectivite=collectivite),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@requires(Capability.AUDIT_VIEW)
@require_safe
def journal_csv(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    """CSV for a spreadsheet in French: ``;`` separators, UTF-8 with a BOM."""
    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    form = EventFilterForm(request.GET or None)
    rows = services.journal_export(
        actor=request.user,
        collectivite=collectivite,
        filters=form.filters() if request.GET else None,
    )
    writer = csv.writer(_Echo(), delimiter=";")

    def content() -> Iterator[Any]:
        yield "\ufeff"
        for row in rows:
            yield writer.writerow(row)

    name = f"journal-{collectivite.slug}-{timezone.localdate():%Y-%m-%d}.csv"
    response = StreamingHttpResponse(content(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
