"""Pages: the login's second step, re-authentication, one's own security (2FA, recovery
codes, personal tokens), and a collectivité's security settings (policy, members' 2FA,
API keys)."""

from __future__ import annotations

import time
from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from access import gate, selectors, services
from access.decorators import RecentAuthMixin, requires_recent_auth
from access.forms import (
    ApiKeyForm,
    CodeForm,
    EnrolForm,
    PersonalTokenForm,
    PolicyForm,
    ReauthForm,
)
from access.qr import qr_svg
from collectivites.forms import EmailAuthenticationForm
from collectivites.permissions import Capability
from collectivites.viewmixins import TenantPageView, requires

PENDING_SESSION_KEY = "access_pending_login"
PENDING_MAX_AGE = 300  # seconds between the password and the code


def _safe_next(request: HttpRequest, default: str = "") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default or reverse(settings.LOGIN_REDIRECT_URL)


def two_factor_redirect(request: HttpRequest, state: str) -> HttpResponse:
    """Where the middleware sends a member the 2FA policy blocks."""
    messages.warning(request, gate.two_factor_message(state))
    name = "login_code" if state == "verify" else "two_factor_enrol"
    return HttpResponseRedirect(f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}")


def verify_code(user: Any, code: str) -> Any:
    """The device that accepts ``code`` (the app's TOTP, else a recovery code), or None."""
    code = (code or "").strip().replace(" ", "")
    if not code:
        return None
    if code.isdigit():
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        return device if device is not None and device.verify_token(code) else None
    recovery = services.recovery_device(user=user)
    return recovery if recovery is not None and recovery.verify_token(code) else None


# --- login, second step, re-authentication ---------------------------------------------------


class LoginView(auth_views.LoginView):
    """The password first; then, for someone who has enrolled, the code (``login_code``)
    before the session is opened."""

    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: Form) -> HttpResponse:
        user = form.get_user()  # type: ignore[attr-defined]
        if not gate.has_two_factor(user):
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING_SESSION_KEY] = {
            "user_id": user.pk,
            "backend": user.backend,
            "at": int(time.time()),
        }
        target = self.get_success_url()
        return HttpResponseRedirect(f"{reverse('login_code')}?{urlencode({'next': target})}")


class LoginCodeView(View):
    """The code after the password; also for a signed-in session the 2FA policy asks to
    verify."""

    template_name = "access/login_code.html"

    def _user(self) -> tuple[Any, str | None]:
        if self.request.user.is_authenticated:
            return self.request.user, None
        pending = self.request.session.get(PENDING_SESSION_KEY) or {}
        if not pending or time.time() - pending.get("at", 0) > PENDING_MAX_AGE:
            return None, None
        user = get_user_model().objects.filter(pk=pending["user_id"], is_active=True).first()
        return user, pending.get("backend")

    def get(self, request: HttpRequest) -> HttpResponse:
        user, _backend = self._user()
        if user is None:
            messages.info(request, _("Reconnectez-vous : la connexion a expiré."))
            return redirect("login")
        return render(
            request, self.template_name, {"form": CodeForm(), "next": _safe_next(request)}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        user, backend = self._user()
        if user is None:
            messages.info(request, _("Reconnectez-vous : la connexion a expiré."))
            return redirect("login")
        form = CodeForm(request.POST)
        device = verify_code(user, form.data.get("code", "")) if form.is_valid() else None
        if device is None:
            form.add_error(
                "code",
                _(
                    "Code incorrect ou déjà utilisé. Après plusieurs erreurs, il faut attendre "
                    "un peu avant de réessayer."
                ),
            )
            return render(request, self.template_name, {"form": form, "next": _safe_next(request)})
        if not request.user.is_authenticated:
            request.session.pop(PENDING_SESSION_KEY, None)
            login(request, user, backend=backend)
        else:
            gate.mark_authenticated(request)
        otp_login(request, device)
        if device.__class__.__name__ == "RecoveryCodeDevice":
            messages.warning(
                request,
                _(
                    "Vous avez utilisé un code de secours ; il en reste %(n)s. Pensez à en "
                    "générer de nouveaux."
                )
                % {"n": device.remaining()},
            )
        return HttpResponseRedirect(_safe_next(request))


class ReauthView(View):
    """Confirm one's identity before a sensitive action, then go back to it."""

    template_name = "access/reauth.html"

    @method_decorator(login_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().dispatch(request, *args, **kwargs)

    def _form(self, data: Any = None) -> ReauthForm:
        return ReauthForm(data, with_code=gate.has_two_factor(self.request.user))

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request, self.template_name, {"form": self._form(), "next": _safe_next(request)}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request.POST)
        if form.is_valid():
            from django.contrib.auth import authenticate

            user = authenticate(
                request,
                username=request.user.get_username(),
                password=form.cleaned_data["password"],
            )
            if user is None or user.pk != request.user.pk:
                form.add_error("password", _("Mot de passe incorrect."))
            elif "code" in form.fields:
                device = verify_code(request.user, form.cleaned_data["code"])
                if device is None:
                    form.add_error("code", _("Code incorrect ou déjà utilisé."))
                else:
                    otp_login(request, device)
            if not form.errors:
                gate.mark_authenticated(request)
                return HttpResponseRedirect(_safe_next(request))
        return render(request, self.template_name, {"form": form, "next": _safe_next(request)})


# --- one's own account -----------------------------------------------------------------------


@login_required
def account_security(request: HttpRequest) -> HttpResponse:
    user = request.user
    recovery = services.recovery_device(user=user)
    return render(
        request,
        "access/account_security.html",
        {
            "enrolled": gate.has_two_factor(user),
            "recovery_left": recovery.remaining() if recovery else 0,
            "tokens": selectors.personal_tokens(user=user),
            "token_form": PersonalTokenForm(),
            "required_by": selectors.collectivites_requiring_two_factor(user=user),
        },
    )


class TwoFactorEnrolView(View):
    """Scan the QR code (or type the secret), confirm with a first code, keep the recovery
    codes shown once. Replacing an active device needs a fresh password first."""

    template_name = "access/enrol.html"

    @method_decorator(login_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if gate.api_key_of(request.user) is not None:
            raise PermissionDenied
        if gate.has_two_factor(request.user) and not gate.recently_authenticated(request):
            from access.decorators import reauth_redirect

            return reauth_redirect(request)
        return super().dispatch(request, *args, **kwargs)

    def _context(self, form: Form) -> dict[str, Any]:
        device = services.totp_pending_device(user=self.request.user)
        secret = b32encode(device.bin_key).decode()
        return {
            "form": form,
            "device": device,
            "secret": secret,
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr": qr_svg(device.config_url, label=_("QR code à scanner avec l'application")),
            "next": _safe_next(self.request),
            "already": gate.has_two_factor(self.request.user),
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, self._context(EnrolForm()))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = EnrolForm(request.POST)
        if form.is_valid():
            try:
                enrolment = services.totp_confirm(
                    user=request.user,
                    device_id=int(request.POST.get("device", "0") or 0),
                    code=form.cleaned_data["code"],
                )
            except ValidationError as exc:
                form.add_error("code", exc.message_dict.get("code", exc.messages))
            else:
                otp_login(request, enrolment.device)
                gate.mark_authenticated(request)
                return render(
                    request,
                    "access/recovery_codes.html",
                    {"codes": enrolment.recovery_codes, "next": _safe_next(request), "new": True},
                )
        return render(request, self.template_name, self._context(form))


@login_required
@requires_recent_auth()
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    services.two_factor_disable(user=request.user)
    messages.success(
        request,
        _(
            "La double authentification est désactivée. Si une collectivité l'exige, il "
            "faudra la réactiver pour y agir."
        ),
    )
    return redirect("account_security")


@login_required
@requires_recent_auth()
@require_POST
def recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    try:
        codes = services.recovery_codes_regenerate(user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("account_security")
    return render(
        request,
        "access/recovery_codes.html",
        {"codes": codes, "next": reverse("account_security"), "new": False},
    )


@login_required
@requires_recent_auth()
@require_POST
def personal_token_create(request: HttpRequest) -> HttpResponse:
    form = PersonalTokenForm(request.POST)
    if form.is_valid():
        try:
            issued = services.personal_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            return render(
                request,
                "access/token_shown.html",
                {
                    "token": issued.token,
                    "credential": issued.credential,
                    "back_url": reverse("account_security"),
                },
            )
    else:
        messages.error(request, _("Le jeton n'a pas été créé : vérifiez le nom et la validité."))
    return redirect("account_security")


@login_required
@require_POST
def personal_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.personal_token_revoke(user=request.user, token_id=pk)
    except ValidationError as exc:
        raise Http404 from exc
    messages.success(request, _("Le jeton est révoqué."))
    return redirect("account_security")


# --- a collectivité's settings ----------------------------------------------------------------


class SecuritySettingsView(TenantPageView):
    capability = Capability.MEMBERS_MANAGE
    template_name = "access/security_settings.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        policy = services.policy_of(collectivite=self.collectivite)
        context["form"] = kwargs.get("form") or PolicyForm(
            initial={"two_factor": policy.two_factor}
        )
        context["policy"] = policy
        context["rows"] = selectors.members_two_factor(collectivite=self.collectivite)
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = PolicyForm(request.POST)
        if form.is_valid():
            try:
                services.policy_set(
                    actor=request.user,
                    collectivite=self.collectivite,
                    two_factor=form.cleaned_data["two_factor"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("La règle de sécurité est enregistrée."))
                return redirect("security_settings", collectivite_slug=self.collectivite.slug)
        return self.render_to_response(self.get_context_data(form=form))


@requires(Capability.MEMBERS_MANAGE)
@requires_recent_auth()
@require_POST
def member_two_factor_reset(
    request: HttpRequest, collectivite_slug: str, user_id: int
) -> HttpResponse:
    member = request.member  # type: ignore[attr-defined]
    try:
        services.member_two_factor_reset(
            actor=request.user, collectivite=member.collectivite, user_id=user_id
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("La double authentification de ce membre est réinitialisée ; il la réactivera."),
        )
    return redirect("security_settings", collectivite_slug=collectivite_slug)


class ApiKeysView(RecentAuthMixin, TenantPageView):
    capability = Capability.MEMBERS_MANAGE
    template_name = "access/api_keys.html"
    page_title = gettext_lazy("Clés d'API")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or ApiKeyForm()
        context["keys"] = selectors.api_keys(collectivite=self.collectivite)
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not gate.recently_authenticated(request):
            from access.decorators import reauth_redirect

            return reauth_redirect(request)
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            try:
                issued = services.api_key_create(
                    actor=request.user,
                    collectivite=self.collectivite,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                return render(
                    request,
                    "access/token_shown.html",
                    {
                        "token": issued.token,
                        "credential": issued.credential,
                        "back_url": reverse(
                            "api_keys", kwargs={"collectivite_slug": self.collectivite.slug}
                        ),
                    },
                )
        return self.render_to_response(self.get_context_data(form=form))


@requires(Capability.MEMBERS_MANAGE)
@require_POST
def api_key_revoke(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    member = request.member  # type: ignore[attr-defined]
    try:
        services.api_key_revoke(actor=request.user, collectivite=member.collectivite, key_id=pk)
    except ValidationError as exc:
        raise Http404 from exc
    messages.success(request, _("La clé est révoquée : elle ne donne plus accès à l'API."))
    return redirect("api_keys", collectivite_slug=collectivite_slug)
