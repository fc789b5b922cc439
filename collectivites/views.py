"""Pages of a collectivité and its settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from access.decorators import RecentAuthMixin, requires_recent_auth
from collectivites import selectors, services
from collectivites.forms import (
    AcceptInvitationForm,
    AudienceForm,
    CollectiviteForm,
    EditorialLineForm,
    ElectionPeriodForm,
    InvitationForm,
    MemberRolesForm,
    ModerationCharterForm,
    SocialAccountForm,
)
from collectivites.models import Audience, EditorialLine, ElectionPeriod, SocialAccount
from collectivites.permissions import Capability, Role
from collectivites.viewmixins import (
    TenantDeleteView,
    TenantFormView,
    TenantObjectMixin,
    TenantPageView,
    requires,
)
from networks.registry import Network

# --- home and switcher -----------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Land on the last collectivité visited, the only one, or a choice."""
    mine = list(selectors.collectivites_of(user=request.user))
    last = request.session.get("last_collectivite")
    chosen = next((c for c in mine if c.slug == last), None)
    if chosen is None and len(mine) == 1:
        chosen = mine[0]
    if chosen is not None:
        roles = selectors.roles_of(user=request.user, collectivite=chosen)
        if roles == {Role.LECTEUR}:  # an élu who only reads lands on the dashboard
            return redirect("reporting_dashboard", collectivite_slug=chosen.slug)
        return redirect("collectivite_overview", collectivite_slug=chosen.slug)
    return render(request, "collectivites/choose.html", {"choices": mine})


class OverviewView(TenantPageView):
    capability = Capability.VIEW
    template_name = "collectivites/overview.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        c = self.collectivite
        accounts = list(selectors.social_accounts(collectivite=c))
        context.update(
            accounts=accounts,
            accounts_to_reconnect=[
                a for a in accounts if a.status == SocialAccount.Status.TO_RECONNECT
            ],
            lines=selectors.editorial_lines(collectivite=c),
            audiences=selectors.audiences(collectivite=c),
            active_elections=[
                p for p in selectors.election_periods(collectivite=c) if p.is_active()
            ],
            charter=selectors.charter(collectivite=c),
        )
        return context


class SettingsView(TenantFormView):
    capability = Capability.MEMBERS_MANAGE
    form_class = CollectiviteForm
    success_url_name = "collectivite_overview"
    success_message = gettext_lazy("Les informations de la collectivité sont enregistrées.")
    page_title = gettext_lazy("Informations de la collectivité")

    def get_object(self) -> Any:
        return self.collectivite

    def perform(self, data: dict[str, Any]) -> Any:
        return services.collectivite_update(
            actor=self.request.user, collectivite=self.collectivite, data=data
        )


# --- members -----------------------------------------------------------------------------------


class MemberListView(TenantPageView):
    capability = Capability.MEMBERS_VIEW
    template_name = "collectivites/members.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["members"] = selectors.members_of(collectivite=self.collectivite)
        context["invitations"] = selectors.pending_invitations(collectivite=self.collectivite)
        return context


class InviteView(TenantFormView):
    capability = Capability.MEMBERS_MANAGE
    form_class = InvitationForm
    success_url_name = "members"
    page_title = gettext_lazy("Inviter un membre")

    def perform(self, data: dict[str, Any]) -> Any:
        invitation = services.invitation_create(
            actor=self.request.user,
            collectivite=self.collectivite,
            email=data["email"],
            roles=data["roles"],
        )
        messages.success(
            self.request,
            _("Invitation envoyée à %(email)s. Le lien est valable %(days)s jours.")
            % {"email": invitation.email, "days": settings.INVITATION_VALIDITY.days},
        )
        return invitation


class MemberRolesView(RecentAuthMixin, TenantFormView):
    capability = Capability.MEMBERS_MANAGE
    form_class = MemberRolesForm
    success_url_name = "members"
    success_message = gettext_lazy("Les rôles sont enregistrés.")
    page_title = gettext_lazy("Rôles du membre")

    def before_dispatch(self) -> None:
        self.row = selectors.member_of(
            collectivite=self.collectivite, user_id=self.kwargs["user_id"]
        )
        if self.row is None:
            raise Http404

    def get_initial(self) -> dict[str, Any]:
        return {"roles": self.row.roles}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["page_title"] = _("Rôles de %(name)s") % {
            "name": self.row.user.get_full_name() or self.row.user.email
        }
        return context

    def perform(self, data: dict[str, Any]) -> Any:
        return services.member_set_roles(
            actor=self.request.user,
            collectivite=self.collectivite,
            user_id=self.row.user.pk,
            roles=data["roles"],
        )


@requires(Capability.MEMBERS_MANAGE)
@requires_recent_auth()
@require_POST
def member_remove(request: HttpRequest, collectivite_slug: str, user_id: int) -> HttpResponse:
    member = request.member  # type: ignore[attr-defined]
    if selectors.member_of(collectivite=member.collectivite, user_id=user_id) is None:
        raise Http404
    try:
        services.member_remove(
            actor=request.user, collectivite=member.collectivite, user_id=user_id
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Le membre a été retiré de la collectivité."))
    return redirect("members", collectivite_slug=collectivite_slug)


@requires(Capability.MEMBERS_MANAGE)
@require_POST
def invitation_revoke(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    member = request.member  # type: ignore[attr-defined]
    services.invitation_revoke(
        actor=request.user, collectivite=member.collectivite, invitation_id=pk
    )
    messages.success(request, _("L'invitation est annulée."))
    return redirect("members", collectivite_slug=collectivite_slug)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The one-time link from the e-mail. A signed-in person joins at once (after a
    confirmation); a newcomer creates their account with the invited address."""
    invitation = services.invitation_find(token=token)
    if invitation is None:
        return render(request, "collectivites/invitation_invalid.html", status=410)
    User = get_user_model()
    if request.user.is_authenticated:
        if request.method == "POST":
            collectivite = services.invitation_accept(token=token, user=request.user)
            messages.success(request, _("Bienvenue dans %(c)s.") % {"c": collectivite.name})
            return redirect("collectivite_overview", collectivite_slug=collectivite.slug)
        return render(request, "collectivites/invitation_accept.html", {"invitation": invitation})
    if User.objects.filter(username__iexact=invitation.email).exists():
        messages.info(request, _("Vous avez déjà un compte : connectez-vous pour accepter."))
        return HttpResponseRedirect(f"{reverse('login')}?next={request.path}")
    form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = User.objects.create_user(
                username=invitation.email,
                email=invitation.email,
                password=form.cleaned_data["password1"],
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
            )
            collectivite = services.invitation_accept(token=token, user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Bienvenue dans %(c)s.") % {"c": collectivite.name})
        return redirect("collectivite_overview", collectivite_slug=collectivite.slug)
    return render(
        request, "collectivites/invitation_signup.html", {"invitation": invitation, "form": form}
    )


# --- social accounts --------------------------------------------------------------------------


class AccountListView(TenantPageView):
    capability = Capability.ACCOUNTS_VIEW
    template_name = "collectivites/accounts.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["accounts"] = selectors.social_accounts(collectivite=self.collectivite)
        return context


class AccountCreateView(TenantFormView):
    capability = Capability.ACCOUNTS_MANAGE
    form_class = SocialAccountForm
    success_url_name = "accounts"
    success_message = gettext_lazy("Le compte est ajouté.")
    page_title = gettext_lazy("Ajouter un compte")

    def perform(self, data: dict[str, Any]) -> Any:
        return services.social_account_save(
            actor=self.request.user, collectivite=self.collectivite, data=data
        )


class AccountUpdateView(TenantObjectMixin, AccountCreateView):
    model = SocialAccount
    success_message = gettext_lazy("Le compte est enregistré.")
    page_title = gettext_lazy("Modifier le compte")

    def perform(self, data: dict[str, Any]) -> Any:
        return services.social_account_save(
            actor=self.request.user, collectivite=self.collectivite, data=data, account=self.object
        )


class AccountDeleteView(TenantDeleteView):
    capability = Capability.ACCOUNTS_MANAGE
    model = SocialAccount
    success_url_name = "accounts"
    success_message = gettext_lazy("Le compte est supprimé.")

    def perform(self, obj: Any) -> None:
        services.social_account_delete(
            actor=self.request.user, collectivite=self.collectivite, account=obj
        )


# --- editorial lines --------------------------------------------------------------------------


class EditorialLineListView(TenantPageView):
    capability = Capability.EDITORIAL_VIEW
    template_name = "collectivites/editorial_lines.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["lines"] = selectors.editorial_lines(collectivite=self.collectivite)
        context["accounts_without_line"] = selectors.accounts_without_line(
            collectivite=self.collectivite
        )
        return context


class EditorialLineCreateView(TenantFormView):
    capability = Capability.EDITORIAL_MANAGE
    form_class = EditorialLineForm
    success_url_name = "editorial_lines"
    success_message = gettext_lazy("La ligne éditoriale est enregistrée.")
    page_title = gettext_lazy("Nouvelle ligne éditoriale")

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        if self.object is None and self.request.GET.get("account", "").isdigit():
            initial["account"] = int(self.request.GET["account"])
        return initial

    def perform(self, data: dict[str, Any]) -> Any:
        return services.editorial_line_save(
            actor=self.request.user, collectivite=self.collectivite, data=data, line=self.object
        )


class EditorialLineUpdateView(TenantObjectMixin, EditorialLineCreateView):
    model = EditorialLine
    page_title = gettext_lazy("Modifier la ligne éditoriale")


class EditorialLineDeleteView(TenantDeleteView):
    capability = Capability.EDITORIAL_MANAGE
    model = EditorialLine
    success_url_name = "editorial_lines"
    success_message = gettext_lazy("La ligne éditoriale est supprimée.")

    def perform(self, obj: Any) -> None:
        services.editorial_line_delete(
            actor=self.request.user, collectivite=self.collectivite, line=obj
        )


# --- audiences --------------------------------------------------------------------------------


class AudienceListView(TenantPageView):
    capability = Capability.EDITORIAL_VIEW
    template_name = "collectivites/audiences.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["audiences"] = selectors.audiences(collectivite=self.collectivite)
        return context


class AudienceCreateView(TenantFormView):
    capability = Capability.EDITORIAL_MANAGE
    form_class = AudienceForm
    success_url_name = "audiences"
    success_message = gettext_lazy("Le public est enregistré.")
    page_title = gettext_lazy("Nouveau public")

    def perform(self, data: dict[str, Any]) -> Any:
        return services.audience_save(
            actor=self.request.user, collectivite=self.collectivite, data=data, audience=self.object
        )


class AudienceUpdateView(TenantObjectMixin, AudienceCreateView):
    model = Audience
    page_title = gettext_lazy("Modifier le public")


class AudienceDeleteView(TenantDeleteView):
    capability = Capability.EDITORIAL_MANAGE
    model = Audience
    success_url_name = "audiences"
    success_message = gettext_lazy("Le public est supprimé.")

    def perform(self, obj: Any) -> None:
        services.audience_delete(
            actor=self.request.user, collectivite=self.collectivite, audience=obj
        )


# --- moderation charter -----------------------------------------------------------------------


class CharterView(TenantPageView):
    capability = Capability.CHARTER_VIEW
    template_name = "collectivites/charter.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        charter = selectors.charter(collectivite=self.collectivite)
        context["charter"] = charter
        if charter is not None:
            names = dict(Network.choices)
            context["targets"] = [
                (names.get(network, network), hours)
                for network, hours in sorted((charter.response_targets or {}).items())
            ]
            context["approval_members"] = charter.reply_approval_members.order_by("email")
        return context


class CharterEditView(TenantFormView):
    capability = Capability.CHARTER_MANAGE
    form_class = ModerationCharterForm
    success_url_name = "charter"
    success_message = gettext_lazy("La charte de modération est enregistrée.")
    page_title = gettext_lazy("Charte de modération")

    def get_object(self) -> Any:
        return selectors.charter(collectivite=self.collectivite)

    def perform(self, data: dict[str, Any]) -> Any:
        return services.charter_save(
            actor=self.request.user, collectivite=self.collectivite, data=data
        )


# --- election periods -------------------------------------------------------------------------


class ElectionListView(TenantPageView):
    capability = Capability.ELECTIONS_VIEW
    template_name = "collectivites/elections.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["periods"] = selectors.election_periods(collectivite=self.collectivite)
        return context


class ElectionCreateView(TenantFormView):
    capability = Capability.ELECTIONS_MANAGE
    form_class = ElectionPeriodForm
    success_url_name = "elections"
    success_message = gettext_lazy("La période électorale est enregistrée.")
    page_title = gettext_lazy("Nouvelle période électorale")

    def perform(self, data: dict[str, Any]) -> Any:
        return services.election_period_save(
            actor=self.request.user, collectivite=self.collectivite, data=data, period=self.object
        )


class ElectionUpdateView(TenantObjectMixin, ElectionCreateView):
    model = ElectionPeriod
    page_title = gettext_lazy("Modifier la période électorale")


class ElectionDeleteView(TenantDeleteView):
    capability = Capability.ELECTIONS_MANAGE
    model = ElectionPeriod
    success_url_name = "elections"
    success_message = gettext_lazy("La période électorale est supprimée.")

    def perform(self, obj: Any) -> None:
        services.election_period_delete(
            actor=self.request.user, collectivite=self.collectivite, period=obj
        )
