from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from collectivites.selectors import collectivites_of, unread_notifications_count


def tenancy(request: HttpRequest) -> dict[str, Any]:
    member = getattr(request, "member", None)
    user = getattr(request, "user", None)
    mine = list(collectivites_of(user=user)) if user is not None and user.is_authenticated else []
    return {
        "member": member,
        "collectivite": member.collectivite if member else None,
        "caps": member.capabilities if member else frozenset(),
        "my_collectivites": mine,
        "unread_notifications": (
            unread_notifications_count(user=user, collectivite=member.collectivite) if member else 0
        ),
    }
