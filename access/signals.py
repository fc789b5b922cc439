"""A login proves the password now (recent-authentication clock); a lockout is audited."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from access import gate


@receiver(user_logged_in)
def _remember_login_time(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        gate.mark_authenticated(request)


@receiver(user_locked_out)
def _audit_lockout(sender: Any, request: Any, username: str | None = None, **kwargs: Any) -> None:
    from django.contrib.auth import get_user_model

    from access.services import _audit
    from collectivites.selectors import collectivites_of

    name = (username or "").strip().lower()
    user = get_user_model().objects.filter(username=name).first()
    if user is None:  # no such account: one platform-wide event; what was typed is not kept
        _audit(collectivite=None, actor=None, action="auth.locked_out")
        return
    for collectivite in list(collectivites_of(user=user)) or [None]:
        _audit(collectivite=collectivite, actor=None, action="auth.locked_out", obj=user)
