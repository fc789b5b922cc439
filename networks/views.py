"""The sandbox network's public post page: what a citizen would see on the network."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from networks.models import SandboxItem, SandboxPost


def sandbox_post(request: HttpRequest, external_id: str) -> HttpResponse:
    post = SandboxPost.objects.filter(external_id=external_id, deleted=False).first()
    if post is None:
        raise Http404
    items = list(
        SandboxItem.objects.filter(
            post=post, deleted=False, hidden=False, created_at__lte=timezone.now()
        ).order_by("created_at", "id")
    )
    children: dict[int | None, list[SandboxItem]] = {}
    for item in items:
        children.setdefault(item.parent_id, []).append(item)
    return render(
        request,
        "networks/sandbox_post.html",
        {"post": post, "threads": [(c, children.get(c.pk, [])) for c in children.get(None, [])]},
    )
