"""Forms of the collectivité's settings. Choice fields only ever offer the collectivité's
own rows; the services check it again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from collectivites.models import (
    Audience,
    Collectivite,
    EditorialLine,
    ElectionPeriod,
    Membership,
    ModerationCharter,
    SocialAccount,
)
from collectivites.permissions import Role
from networks.registry import Network


class TenantFormMixin:
    """Takes the collectivité, scopes related choices and checks per-collectivité
    uniqueness so that a duplicate is a message on the form, not an error page."""

    unique_fields: tuple[tuple[str, ...], ...] = ()

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        self.collectivite = collectivite
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # type: ignore[misc]
        model = self._meta.model  # type: ignore[attr-defined]
        for fields in self.unique_fields:
            lookup = {f: cleaned.get(f) for f in fields}
            if any(v in (None, "") for v in lookup.values()):
                continue
            qs = model.objects.for_collectivite(self.collectivite).filter(**lookup)
            if self.instance.pk:  # type: ignore[attr-defined]
                qs = qs.exclude(pk=self.instance.pk)  # type: ignore[attr-defined]
            if qs.exists():
                self.add_error(
                    fields[-1], _("Cette valeur est déjà utilisée dans la collectivité.")
                )
        return cleaned


class CollectiviteForm(forms.ModelForm):
    website_url = forms.URLField(label=_("Site internet"), required=False, assume_scheme="https")

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = Collectivite.objects.filter(
            kind=Collectivite.Kind.INTERCOMMUNALITE
        ).exclude(pk=collectivite.pk)
        validators = get_user_model().objects.filter(
            pk__in=Membership.objects.for_collectivite(collectivite)
            .filter(role=Role.VALIDATEUR)
            .values_list("user_id", flat=True)
        )
        for name in ("first_step_validators", "second_step_validators"):
            self.fields[name].queryset = validators
            self.fields[name].help_text = _(
                "Aucune case cochée : n'importe quel·le validateur·rice."
            )

    class Meta:
        model = Collectivite
        fields = [
            "name",
            "kind",
            "official_code",
            "population",
            "time_zone",
            "parent",
            "website_url",
            "utm_enabled",
            "validation_steps",
            "first_step_validators",
            "second_step_validators",
        ]
        widgets = {
            "first_step_validators": forms.CheckboxSelectMultiple,
            "second_step_validators": forms.CheckboxSelectMultiple,
        }


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Adresse e-mail"))
    roles = forms.MultipleChoiceField(
        label=_("Rôles"), choices=Role.choices, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        kwargs.pop("instance", None)
        super().__init__(*args, **kwargs)


class MemberRolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label=_("Rôles"), choices=Role.choices, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        kwargs.pop("instance", None)
        super().__init__(*args, **kwargs)


class SocialAccountForm(TenantFormMixin, forms.ModelForm):
    unique_fields = (("network", "handle"),)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["audiences"].queryset = Audience.objects.for_collectivite(self.collectivite)

    class Meta:
        model = SocialAccount
        fields = ["network", "handle", "display_name", "external_id", "status", "audiences"]
        widgets = {"audiences": forms.CheckboxSelectMultiple}


class EditorialLineForm(TenantFormMixin, forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = SocialAccount.objects.for_collectivite(self.collectivite)
        if self.instance.pk:
            accounts = accounts.filter(pk=self.instance.account_id) | accounts.filter(
                editorial_line__isnull=True
            )
        else:
            accounts = accounts.filter(editorial_line__isnull=True)
        self.fields["account"].queryset = accounts
        self.fields["target_audiences"].queryset = Audience.objects.for_collectivite(
            self.collectivite
        )
        self.fields["hashtags"].help_text = _("Séparés par des virgules, en CamelCase : #MaVille")
        self.fields["words_to_avoid"].help_text = _("Séparés par des virgules.")

    class Meta:
        model = EditorialLine
        fields = [
            "account",
            "tone",
            "address_form",
            "target_audiences",
            "objectives",
            "cadence_per_week",
            "hashtags",
            "words_to_avoid",
            "signature",
            "notes",
        ]
        widgets = {
            "target_audiences": forms.CheckboxSelectMultiple,
            "objectives": forms.Textarea(attrs={"rows": 3}),
            "cadence_per_week": forms.NumberInput(attrs={"min": 0, "max": 100}),
            "hashtags": forms.Textarea(attrs={"rows": 2}),
            "words_to_avoid": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }


class AudienceForm(TenantFormMixin, forms.ModelForm):
    unique_fields = (("name",),)
    age_bands = forms.MultipleChoiceField(
        label=_("Tranches d'âge"),
        choices=Audience.AgeBand.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    networks = forms.MultipleChoiceField(
        label=_("Réseaux qui les touchent"),
        choices=Network.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Audience
        fields = ["name", "description", "age_bands", "interests", "networks"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "interests": forms.Textarea(attrs={"rows": 2}),
        }


class _MemberChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.email})" if name else obj.email


class ModerationCharterForm(TenantFormMixin, forms.ModelForm):
    """The charter's rules; a delay target per network (``target_<network>``, empty for
    the general one) gathered into ``response_targets``."""

    class Meta:
        model = ModerationCharter
        fields = [
            "public_text",
            "hide_insults",
            "hide_spam",
            "hide_personal_data",
            "hide_defamation",
            "hide_off_topic",
            "answer_questions",
            "answer_complaints",
            "response_target_hours",
            "business_hours_start",
            "business_hours_end",
            "escalation_keywords",
            "reply_approval_members",
        ]
        widgets = {
            "public_text": forms.Textarea(attrs={"rows": 8}),
            "business_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "business_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "escalation_keywords": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reply_approval_members"] = _MemberChoice(
            queryset=get_user_model()
            .objects.filter(
                pk__in=Membership.objects.for_collectivite(self.collectivite).values("user_id")
            )
            .order_by("last_name", "first_name", "email"),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            label=_("Membres dont les réponses passent par un validateur"),
            help_text=_(
                "Leurs réponses aux citoyens attendent qu'un validateur les accepte, "
                "éventuellement corrigées, avant de partir sur le réseau."
            ),
        )
        targets = self.instance.response_targets or {}
        for network, label in Network.choices:
            self.fields[f"target_{network}"] = forms.IntegerField(
                required=False,
                min_value=1,
                max_value=720,
                initial=targets.get(network),
                label=_("Délai visé sur %(network)s (heures ouvrées)") % {"network": label},
                help_text=_("Vide : le délai général."),
            )

    def target_fields(self) -> list[Any]:
        return [f for f in self if f.name.startswith("target_")]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["response_targets"] = {
            name.removeprefix("target_"): value
            for name, value in list(cleaned.items())
            if name.startswith("target_") and value
        }
        for name in [n for n in cleaned if n.startswith("target_")]:
            del cleaned[name]
        return cleaned


class ElectionPeriodForm(TenantFormMixin, forms.ModelForm):
    class Meta:
        model = ElectionPeriod
        fields = ["election", "label", "starts_on", "ends_on", "scope", "candidates", "notes"]
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "ends_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "candidates": forms.Textarea(attrs={"rows": 2}),
        }


class AcceptInvitationForm(forms.Form):
    """For a person who has no account yet: the invitation's e-mail becomes their login."""

    first_name = forms.CharField(label=_("Prénom"), max_length=150)
    last_name = forms.CharField(label=_("Nom"), max_length=150)
    password1 = forms.CharField(
        label=_("Mot de passe"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("Confirmation du mot de passe"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        self.email = email
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("Les deux mots de passe ne correspondent pas."))
        elif p1:
            user = get_user_model()(
                username=self.email,
                email=self.email,
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            try:
                validate_password(p1, user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    """Log in with the e-mail address (usernames are the lower-cased address)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "Adresse e-mail ou mot de passe incorrect. Les majuscules comptent dans le mot "
            "de passe."
        ),
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()
