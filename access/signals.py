"""A login proves the password now (recent-authentication clock); a failed login and a
lockout are audited."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from access import gate


@receiver(user_logged_in)
def _remember_login_time(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        gate.mark_authenticated(request)


@receiver(user_login_failed)
def _audit_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Django masks the password in ``credentials``; only the name typed is read
    _audit_attempt(credentials.get("username"), "auth.login_failed")


@receiver(user_locked_out)
def _audit_lockout(sender: Any, request: Any, username: str | None = None, **kwargs: Any) -> None:
    _audit_attempt(username, "auth.locked_out")


def _audit_attempt(username: Any, action: str) -> None:
    """An event about a login attempt on ``username``: one in each collectivité of the
    person it names, so that its admins see it, or one platform-wide for a name that is no
    account (what was typed is then not kept)."""
    from django.contrib.auth import get_user_model

    from access.services import _audit
    from collectivites.selectors import collectivites_of

    name = (username or "").strip().lower() if isinstance(username, str) else ""
    user = get_user_model().objects.filter(username=name).first() if name else None
    if user is None:
        _audit(collectivite=None, actor=None, action=action)
        return
    for collectivite in list(collectivites_of(user=user)) or [None]:
        _audit(collectivite=collectivite, actor=None, action=action, obj=user)
