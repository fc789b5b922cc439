"""Pages that connect social accounts and show what happened to them (the accounts page
itself is in ``views.py``). They call ``collectivites.connections``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from access.decorators import requires_recent_auth
from collectivites import connections, selectors, services
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability
from collectivites.viewmixins import TenantPageView, requires
from config.security import csp_relaxed
from networks.connect import ConnectableAccount, Connector
from networks.registry import Network, get_connector


def _redirect_uri() -> str:
    return settings.PARVIS_BASE_URL + reverse("oauth_callback")


def _connector_or_404(network: str) -> Connector:
    if network not in Network.values:
        raise Http404
    return get_connector(network)


class ConnectView(TenantPageView):
    capability = Capability.ACCOUNTS_MANAGE
    template_name = "collectivites/connect.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["networks"] = [
            {
                "code": code,
                "label": label,
                "configured": get_connector(code).is_configured(),
                "missing": get_connector(code).missing_settings(),
            }
            for code, label in Network.choices
        ]
        return context


def _connector_form(connector: Connector, data: Any = None) -> forms.Form:
    form = forms.Form(data)
    for f in connector.form_fields:
        form.fields[f.name] = forms.CharField(
            label=f.label,
            help_text=f.help_text,
            widget=forms.PasswordInput(render_value=False) if f.secret else forms.TextInput,
            max_length=500,
        )
    return form


def _after_candidates(
    request: HttpRequest, collectivite: Collectivite, network: str, found: list[ConnectableAccount]
) -> HttpResponse:
    if not found:
        messages.error(request, _("Aucun compte à connecter n'a été trouvé sur ce réseau."))
        return redirect("accounts", collectivite_slug=collectivite.slug)
    if len(found) == 1:
        saved = connections.connection_save(
            actor=request.user, collectivite=collectivite, network=network, candidates=found
        )
        messages.success(request, _("Compte connecté : %(a)s.") % {"a": saved[0].display_name})
        return redirect("accounts", collectivite_slug=collectivite.slug)
    key = connections.candidates_store(request.session, network, found)
    return redirect("connect_choose", collectivite_slug=collectivite.slug, key=key)


# The form posts here and, for OAuth networks, is answered with a redirection to the
# network's authorization page; browsers hold that redirection to the page's form-action.
# The host is the network's (for Mastodon, the instance typed in the form): any https
# origin, on this admin-only page alone.
@csp_relaxed(form_action=["'self'", "https:"])
@requires(Capability.ACCOUNTS_MANAGE)
@requires_recent_auth()
def connect_network(request: HttpRequest, collectivite_slug: str, network: str) -> HttpResponse:
    """The form a network needs before connecting (a Mastodon instance, a Bluesky handle
    and app password), then the redirection to the network or the connection itself."""
    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    connector = _connector_or_404(network)
    form = _connector_form(connector, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            if connector.uses_oauth:
                state, start = connections.connection_start(
                    actor=request.user,
                    collectivite=collectivite,
                    network=network,
                    form=form.cleaned_data,
                    redirect_uri=_redirect_uri(),
                )
                connections.flow_store(
                    request.session,
                    state=state,
                    collectivite=collectivite,
                    network=network,
                    flow_data=start.flow_data,
                )
                return redirect(start.url)
            found = connections.connection_with_form(
                actor=request.user,
                collectivite=collectivite,
                network=network,
                form=form.cleaned_data,
            )
            return _after_candidates(request, collectivite, network, found)
        except ValidationError as exc:
            form.add_error(None, exc)
    return render(
        request,
        "collectivites/connect_network.html",
        {
            "form": form,
            "network_label": Network(network).label,
            "connector": connector,
            "cancel_url": reverse("connect", kwargs={"collectivite_slug": collectivite.slug}),
        },
    )


@login_required
@require_GET
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """Where every network sends the admin back. ``state`` must name a flow this session
    started (it is consumed: a replay finds nothing); the flow names the collectivité."""
    flow = connections.flow_pop(request.session, request.GET.get("state", ""))
    if flow is None:
        messages.error(
            request,
            _(
                "Cette demande de connexion est inconnue ou expirée. "
                "Recommencez depuis la page des comptes."
            ),
        )
        return redirect("home")
    collectivite_id, network, flow_data = flow
    collectivite = get_object_or_404(Collectivite, pk=collectivite_id)
    member = selectors.member_context(user=request.user, slug=collectivite.slug)
    if member is None:
        raise Http404
    try:
        found = connections.connection_finish(
            actor=request.user,
            collectivite=collectivite,
            network=network,
            query=dict(request.GET.items()),
            redirect_uri=_redirect_uri(),
            flow_data=flow_data,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts", collectivite_slug=collectivite.slug)
    return _after_candidates(request, collectivite, network, found)


@requires(Capability.ACCOUNTS_MANAGE)
def connect_choose(request: HttpRequest, collectivite_slug: str, key: str) -> HttpResponse:
    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    loaded = connections.candidates_load(request.session, key)
    if loaded is None:
        messages.error(request, _("Ce choix a expiré. Recommencez la connexion."))
        return redirect("connect", collectivite_slug=collectivite_slug)
    network, candidates = loaded
    error = ""
    if request.method == "POST":
        chosen = [
            candidates[int(i)]
            for i in request.POST.getlist("accounts")
            if i.isdigit() and int(i) < len(candidates)
        ]
        if not chosen:
            error = _("Choisissez au moins un compte.")
        else:
            try:
                saved = connections.connection_save(
                    actor=request.user,
                    collectivite=collectivite,
                    network=network,
                    candidates=chosen,
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                connections.candidates_forget(request.session, key)
                messages.success(
                    request,
                    _("Comptes connectés : %(a)s.")
                    % {"a": ", ".join(a.display_name for a in saved)},
                )
                return redirect("accounts", collectivite_slug=collectivite_slug)
    return render(
        request,
        "collectivites/connect_choose.html",
        {
            "candidates": list(enumerate(candidates)),
            "network_label": Network(network).label,
            "error": error,
        },
    )


def _account(request: HttpRequest, pk: int) -> SocialAccount:
    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    return get_object_or_404(
        SocialAccount.objects.for_collectivite(collectivite).select_related("collectivite"), pk=pk
    )


@requires(Capability.ACCOUNTS_MANAGE)
@require_POST
def account_verify(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    account = _account(request, pk)
    messages.info(request, connections.social_account_verify(actor=request.user, account=account))
    return redirect("accounts", collectivite_slug=collectivite_slug)


@requires(Capability.ACCOUNTS_MANAGE)
@require_POST
def sandbox_revoke(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    """Demo and tests: the sandbox network revokes this account's token."""
    account = _account(request, pk)
    if account.network != Network.SANDBOX:
        raise Http404
    connections.sandbox_simulate_revocation(actor=request.user, account=account)
    messages.info(
        request,
        _(
            "Le bac à sable a révoqué l'accès de ce compte. "
            "Vérifiez la connexion pour le constater."
        ),
    )
    return redirect("accounts", collectivite_slug=collectivite_slug)


class NotificationsView(TenantPageView):
    capability = Capability.VIEW
    template_name = "collectivites/notifications.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["notifications"] = selectors.notifications_of(
            user=self.request.user, collectivite=self.collectivite
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        services.notifications_mark_read(user=request.user, collectivite=self.collectivite)
        messages.success(request, _("Notifications marquées comme lues."))
        return redirect("notifications", collectivite_slug=self.collectivite.slug)
