from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from access.models import Scope, SecurityPolicy

CODE_HELP = _(
    "Les 6 chiffres affichés par votre application, ou l'un de vos codes de secours "
    "(xxxx-xxxx-xxxx-xxxx)."
)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code de vérification"),
        max_length=32,
        help_text=CODE_HELP,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class EnrolForm(forms.Form):
    code = forms.CharField(
        label=_("Code à 6 chiffres affiché par l'application"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class ReauthForm(forms.Form):
    password = forms.CharField(
        label=_("Mot de passe"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, *args: Any, with_code: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if with_code:
            self.fields["code"] = forms.CharField(
                label=_("Code de vérification"),
                max_length=32,
                help_text=CODE_HELP,
                widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
            )


class PolicyForm(forms.Form):
    two_factor = forms.ChoiceField(
        label=_("Double authentification"),
        choices=SecurityPolicy.TwoFactor.choices,
        widget=forms.RadioSelect,
        help_text=_(
            "Les rôles qui publient, modèrent ou administrent : rédaction, validation, "
            "modération et administration."
        ),
    )


def _days_field(required: bool) -> forms.IntegerField:
    return forms.IntegerField(
        label=_("Validité (jours)"),
        min_value=1,
        max_value=settings.PARVIS_API_TOKEN_MAX_DAYS,
        required=required,
        help_text=_("Au plus %(max)s jours.") % {"max": settings.PARVIS_API_TOKEN_MAX_DAYS},
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Nom de la clé"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=_("Portées"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    expires_in_days = _days_field(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires_in_days"].help_text = _(
            "Laissez vide pour une clé sans date d'expiration (révocable à tout moment)."
        )


class PersonalTokenForm(forms.Form):
    name = forms.CharField(label=_("Nom du jeton"), max_length=100)
    expires_in_days = _days_field(required=True)
