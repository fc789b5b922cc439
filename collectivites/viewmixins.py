"""What every page under ``/c/<slug>/`` shares: the capability it needs, and plain
list / create / edit / delete views that call services.

Every app's pages build on these so that the tenancy and capability checks are
written once. ``capability`` is read by the isolation test that walks every URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, TemplateView

from collectivites.models import Collectivite
from collectivites.selectors import MemberContext


def requires(
    capability: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """For function views: 403 unless the member holds ``capability``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            member: MemberContext | None = getattr(request, "member", None)
            if member is None or not member.can(capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.capability = capability  # type: ignore[attr-defined]
        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorator


class TenantViewMixin:
    """A page of one collectivité that needs one capability."""

    capability: ClassVar[str]
    request: HttpRequest

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member: MemberContext | None = getattr(request, "member", None)
        if member is None or not member.can(self.capability):
            raise PermissionDenied
        self.before_dispatch()
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def before_dispatch(self) -> None:
        """Runs once tenancy and capability are checked (load the object here)."""

    @property
    def member(self) -> MemberContext:
        return self.request.member  # type: ignore[attr-defined]

    @property
    def collectivite(self) -> Collectivite:
        return self.member.collectivite

    def tenant_url(self, name: str, **kwargs: Any) -> str:
        return reverse(name, kwargs={"collectivite_slug": self.collectivite.slug, **kwargs})


class TenantPageView(TenantViewMixin, TemplateView):
    pass


class TenantFormView(TenantViewMixin, FormView):
    """A form whose valid data goes to a service. Subclasses set ``success_url_name`` and
    implement ``perform(data)``; a ``ValidationError`` from the service lands on the form,
    so nothing the user typed is lost."""

    template_name = "collectivites/form.html"
    success_url_name: ClassVar[str]
    success_message: ClassVar[str] = ""
    page_title: ClassVar[str] = ""
    object: Model | None = None

    def get_object(self) -> Model | None:
        return None

    def before_dispatch(self) -> None:
        self.object = self.get_object()

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["collectivite"] = self.collectivite
        if self.object is not None:
            kwargs["instance"] = self.object
        return kwargs

    def perform(self, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def form_valid(self, form: BaseForm) -> HttpResponse:
        try:
            self.perform(form.cleaned_data)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc)
            return self.form_invalid(form)
        if self.success_message:
            messages.success(self.request, self.success_message)
        return HttpResponseRedirect(self.get_success_url())

    def get_success_url(self) -> str:
        return self.tenant_url(self.success_url_name)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["page_title"] = self.page_title
        context["object"] = self.object
        context["cancel_url"] = self.get_success_url()
        return context


class TenantObjectMixin:
    """Loads ``pk`` from the collectivité's own rows only (another tenant's pk is a 404)."""

    model: ClassVar[type[Model]]
    kwargs: dict[str, Any]

    def get_queryset(self) -> QuerySet[Any]:
        return self.model.objects.for_collectivite(self.collectivite)  # type: ignore[attr-defined]

    def get_object(self) -> Model:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


class TenantDeleteView(TenantObjectMixin, TenantViewMixin, View):
    """GET asks for confirmation, POST calls the service."""

    template_name = "collectivites/confirm_delete.html"
    success_url_name: ClassVar[str]
    success_message: ClassVar[str] = ""

    def perform(self, obj: Model) -> None:
        raise NotImplementedError

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from django.shortcuts import render

        obj = self.get_object()
        return render(
            request,
            self.template_name,
            {"object": obj, "cancel_url": self.tenant_url(self.success_url_name)},
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        obj = self.get_object()
        self.perform(obj)
        messages.success(request, self.success_message or _("Supprimé."))
        return HttpResponseRedirect(self.tenant_url(self.success_url_name))


def run_service(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Call a service for a POST that redirects: its ``ValidationError`` becomes a French
    error message, success a success message. Returns whether it succeeded."""
    try:
        action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return False
    messages.success(request, success)
    return True
