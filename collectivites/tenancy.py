"""Row-level tenancy that fails closed.

Every tenant-owned model inherits ``TenantModel``: an indexed ``collectivite``
foreign key and a default manager whose querysets refuse to run until they are
scoped. A queryset is scoped by ``.for_collectivite(c)`` (or by filtering on
``collectivite=`` directly), and a related manager reached from a tenant row
(``account.audiences``) is scoped by that row. A deliberate exception -- the
Django admin, a cross-tenant maintenance task -- is spelled
``.dangerously_unscoped()`` so it shows in review.

Related-object access (``variant.publication``) and deletion cascades go
through Django's plain base manager and are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Self

from django.db import models

if TYPE_CHECKING:
    from collectivites.models import Collectivite

_SCOPING_KEYS = frozenset(
    {"collectivite", "collectivite_id", "collectivite__pk", "collectivite__id"}
)


class UnscopedQueryError(RuntimeError):
    """A tenant model was queried without naming the collectivité."""


# Set only around Django's own uniqueness checks, which must see every row (the database
# constraint is global anyway) and only answer "exists or not".
_uniqueness_check: ContextVar[bool] = ContextVar("parvis_uniqueness_check", default=False)


@contextmanager
def _during_uniqueness_check() -> Iterator[None]:
    token = _uniqueness_check.set(True)
    try:
        yield
    finally:
        _uniqueness_check.reset(token)


class TenantQuerySet(models.QuerySet):
    _scoped: bool = False

    # --- scoping ---------------------------------------------------------------------------

    def for_collectivite(self, collectivite: Collectivite | int) -> Self:
        if collectivite is None:
            raise UnscopedQueryError("for_collectivite() needs a collectivité, not None.")
        qs = super().filter(collectivite=collectivite)
        qs._scoped = True
        return qs

    def dangerously_unscoped(self) -> Self:
        """Cross-tenant on purpose (admin, maintenance). Never from a page, API view or task
        acting for one collectivité."""
        qs = self._chain()
        qs._scoped = True
        return qs

    def filter(self, *args: Any, **kwargs: Any) -> Self:
        qs = super().filter(*args, **kwargs)
        if _SCOPING_KEYS & kwargs.keys() and all(
            kwargs[k] is not None for k in _SCOPING_KEYS & kwargs.keys()
        ):
            qs._scoped = True
        return qs

    def _clone(self) -> Self:
        clone = super()._clone()
        clone._scoped = self._scoped
        return clone

    def _check_scoped(self) -> None:
        if not self._scoped and not _uniqueness_check.get():
            raise UnscopedQueryError(
                f"{self.model.__name__} is tenant-owned: call .for_collectivite(c) first "
                "(or .dangerously_unscoped() for a deliberate cross-tenant query)."
            )

    # --- every way a queryset reaches the database -----------------------------------------

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scoped()
        super()._fetch_all()

    def iterator(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        self._check_scoped()
        return super().iterator(*args, **kwargs)

    def count(self) -> int:
        if self._result_cache is None:
            self._check_scoped()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._check_scoped()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scoped()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scoped()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scoped()
        return super().delete()


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> TenantQuerySet:
        qs = super().get_queryset()
        # Django builds related managers (``account.audiences``, ``collectivite.x_set``) as
        # subclasses of this one with ``instance`` set: the rows reached from a tenant row,
        # or from the collectivité itself, are scoped by it.
        instance = getattr(self, "instance", None)
        if instance is not None and (
            isinstance(instance, TenantModel)
            or instance._meta.label == "collectivites.Collectivite"
        ):
            qs._scoped = True
        return qs


class TenantModel(models.Model):
    """Abstract base of every row that belongs to one collectivité."""

    collectivite = models.ForeignKey(
        "collectivites.Collectivite",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=True,
        verbose_name="collectivité",
    )

    objects = TenantManager()

    class Meta:
        abstract = True

    def _perform_unique_checks(self, unique_checks: Any) -> dict[str, Any]:
        with _during_uniqueness_check():
            return super()._perform_unique_checks(unique_checks)

    def validate_constraints(self, exclude: Any = None) -> None:
        with _during_uniqueness_check():
            super().validate_constraints(exclude=exclude)
