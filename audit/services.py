"""Writing the audit trail. The one entry point is ``record``; the one way rows leave is
``purge_expired``.

``record`` is called by the services, next to the write it describes and inside the
same transaction (a rolled-back action leaves no event, a recorded event always matches
a committed action):

    from audit.models import Action
    from audit.services import record

    record(collectivite=c, actor=actor, action=Action.MEMBER_REMOVED, obj=user,
           before={"roles": ["admin"]})

- ``actor``: the person acting, or ``None`` for Parvis itself (the scheduler, the
  charter, a command); then give ``actor_label`` (e.g. ``"Système (charte)"``).
- ``obj``: the model instance acted upon (type, id and a short label are kept), or pass
  ``object_type``/``object_id``/``object_label`` yourself.
- ``before``/``after``: small JSON summaries of what changed. Never put a secret, token,
  password or credential in them: keys that look like one are replaced by ``"***"``
  anyway (``SECRET_KEYS``). ``snapshot(obj, fields)`` builds one from a model.
- ``request_meta``: IP and user agent; by default those of the current request, which
  ``audit.context.RequestMetaMiddleware`` keeps (none in a Celery task or a command).
- ``collectivite=None`` only for platform-level events (a failed login for an unknown
  address, the credentials' rotation, the purge): only platform staff see those.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from audit.context import RequestMeta, current
from audit.db import purge_window
from audit.models import Action, AuditEvent
from collectivites.models import Collectivite

SECRET_KEYS = ("password", "token", "secret", "credential", "api_key", "key_hash", "otp")
SYSTEM_LABEL = "Parvis (système)"
MAX_TEXT = 500


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_KEYS)


def _plain(value: Any) -> Any:
    """A JSON-able, secret-free rendering of ``value``."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, QuerySet):
        return sorted(v.pk for v in value)
    if isinstance(value, Mapping):
        return {str(k): "***" if _is_secret(str(k)) else _plain(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_plain(v) for v in value]
    return str(value)


def snapshot(obj: Model, fields: Iterable[str]) -> dict[str, Any]:
    """The named fields of ``obj`` as a summary (many-to-many as sorted ids)."""
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            out[name] = sorted(obj.pk and getattr(obj, name).values_list("pk", flat=True) or [])
        elif field.is_relation:
            out[name] = getattr(obj, field.attname)
        else:
            out[name] = getattr(obj, name)
    return _plain(out)


def person_label(user: AbstractBaseUser | None) -> str:
    if user is None:
        return SYSTEM_LABEL
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    email = getattr(user, "email", "") or user.get_username()
    return f"{name} <{email}>" if name else email


def event(
    *,
    collectivite: Collectivite | int | None,
    actor: AbstractBaseUser | None,
    action: Action | str,
    obj: Model | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request_meta: RequestMeta | None = None,
    actor_label: str = "",
    object_type: str = "",
    object_id: str | int = "",
    object_label: str = "",
) -> AuditEvent:
    """One event of the trail, not yet saved: for ``record`` and ``record_many``."""
    action = Action(action)  # an unknown action is a programming error
    meta = request_meta or current()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk or ""
        object_label = object_label or str(obj)
    if actor is not None and not actor.is_authenticated:
        actor = None
    collectivite_id = collectivite.pk if isinstance(collectivite, Collectivite) else collectivite
    return AuditEvent(
        collectivite_id=collectivite_id,
        actor=actor,
        actor_label=(actor_label or person_label(actor))[:300],
        action=action.value,
        object_type=object_type[:100],
        object_id=str(object_id)[:64],
        object_label=object_label[:200],
        before=_plain(dict(before)) if before is not None else None,
        after=_plain(dict(after)) if after is not None else None,
        ip_address=meta.ip,
        user_agent=meta.user_agent[:300],
    )


def record(
    *,
    collectivite: Collectivite | int | None,
    actor: AbstractBaseUser | None,
    action: Action | str,
    obj: Model | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request_meta: RequestMeta | None = None,
    actor_label: str = "",
    object_type: str = "",
    object_id: str | int = "",
    object_label: str = "",
) -> AuditEvent:
    """Append one event to the trail (see the module's docstring)."""
    built = event(
        collectivite=collectivite,
        actor=actor,
        action=action,
        obj=obj,
        before=before,
        after=after,
        request_meta=request_meta,
        actor_label=actor_label,
        object_type=object_type,
        object_id=object_id,
        object_label=object_label,
    )
    built.save(force_insert=True)
    return built


def record_many(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Append several events built with ``event`` in one statement (the publishing
    worker records a batch's outcomes together)."""
    return AuditEvent.objects.bulk_create(list(events))


def retention() -> dt.timedelta:
    return dt.timedelta(days=settings.PARVIS_AUDIT_RETENTION_DAYS)


def purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete the events older than the retention period (the only way rows leave the
    trail), then record the purge itself. Cross-tenant maintenance (beat, daily)."""
    cutoff = (now or timezone.now()) - retention()
    with transaction.atomic():
        with purge_window():
            # A raw DELETE: the model's own delete() refuses, on purpose.
            deleted = (
                AuditEvent.objects.dangerously_unscoped()
                .filter(created_at__lt=cutoff)
                ._raw_delete(AuditEvent.objects.db)
            )
        if deleted:
            record(
                collectivite=None,
                actor=None,
                action=Action.AUDIT_PURGED,
                after={"deleted": deleted, "older_than": cutoff},
                actor_label=SYSTEM_LABEL,
                request_meta=RequestMeta(),
            )
    return deleted


# --- reading it out -------------------------------------------------------------------------

CSV_HEADERS = [
    "Date (UTC)",
    "Auteur·rice",
    "Action",
    "Code de l'action",
    "Type d'objet",
    "Identifiant",
    "Objet",
    "Avant",
    "Après",
    "Adresse IP",
    "Navigateur",
]


def journal_export(
    *, actor: AbstractBaseUser, collectivite: Collectivite, filters: Any = None
) -> Iterator[list[str]]:
    """The filtered trail as CSV rows (headers first). Exporting it is itself recorded: the
    trail holds names, e-mail addresses and IP addresses."""
    import json

    from audit.selectors import EventFilter, events
    from collectivites.permissions import Capability
    from collectivites.services import require

    require(actor, collectivite, Capability.AUDIT_VIEW)
    filters = filters or EventFilter()
    rows = events(collectivite=collectivite, filters=filters)
    record(
        collectivite=collectivite,
        actor=actor,
        action=Action.AUDIT_EXPORTED,
        after={"filters": {k: v for k, v in vars(filters).items() if v}, "rows": rows.count()},
    )

    def dump(value: Any) -> str:
        return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def lines() -> Iterator[list[str]]:
        yield CSV_HEADERS
        for e in rows.iterator(chunk_size=1000):
            yield [
                e.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                e.actor_label,
                e.action_label,
                e.action,
                e.object_type,
                e.object_id,
                e.object_label,
                dump(e.before),
                dump(e.after),
                e.ip_address or "",
                e.user_agent,
            ]

    return lines()
