"""Forms of the monitoring pages: they parse; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from collectivites.models import Collectivite, Membership
from monitoring.models import SavedReply
from networks.registry import Network


def _members(collectivite: Collectivite) -> Any:
    return (
        get_user_model()
        .objects.filter(
            pk__in=Membership.objects.for_collectivite(collectivite).values_list(
                "user_id", flat=True
            )
        )
        .order_by("last_name", "email")
    )


class MemberChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.email


class WatchForm(forms.Form):
    name = forms.CharField(label=_("Nom"), max_length=120)
    terms = forms.CharField(
        label=_("Termes recherchés"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "Un terme par ligne : le nom de la collectivité, ses lieux, ses élu·es, des sujets."
        ),
    )
    excluded_terms = forms.CharField(
        label=_("Termes exclus"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Une mention qui contient l'un de ces termes est ignorée."),
    )
    networks = forms.MultipleChoiceField(
        label=_("Réseaux"),
        choices=Network.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Aucun coché : tous les réseaux connectés qui permettent la recherche."),
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    recipients = MemberChoiceField(
        label=_("Alertes envoyées à"),
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Personne de coché : les membres qui configurent la veille."),
    )
    spike_minimum = forms.IntegerField(
        label=_("Volume minimal d'un pic (mentions par heure)"), min_value=1, initial=10
    )
    spike_k = forms.FloatField(
        label=_("Sensibilité (écarts robustes au-dessus de l'habitude)"),
        min_value=1,
        max_value=20,
        initial=4.0,
    )

    def __init__(
        self, *args: Any, collectivite: Collectivite, instance: Any = None, **kwargs: Any
    ) -> None:
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": instance.name,
                    "terms": "\n".join(instance.terms),
                    "excluded_terms": "\n".join(instance.excluded_terms),
                    "networks": instance.networks,
                    "active": instance.active,
                    "recipients": list(instance.recipients.values_list("pk", flat=True)),
                    "spike_minimum": instance.spike_minimum,
                    "spike_k": instance.spike_k,
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["recipients"].queryset = _members(collectivite)


class ServiceForm(forms.Form):
    name = forms.CharField(label=_("Nom du service"), max_length=120)
    email = forms.EmailField(label=_("Adresse de contact"))
    categories = forms.CharField(
        label=_("Catégories traitées par défaut"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Une par ligne : étiquettes du tri (reclamation, question, urgent…) ou mots-clés "
            "de la boîte (voirie, propreté…)."
        ),
    )
    default_reply = forms.ModelChoiceField(
        label=_("Réponse type par défaut"), queryset=SavedReply.objects.none(), required=False
    )
    active = forms.BooleanField(label=_("Actif"), required=False, initial=True)

    def __init__(
        self, *args: Any, collectivite: Collectivite, instance: Any = None, **kwargs: Any
    ) -> None:
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": instance.name,
                    "email": instance.email,
                    "categories": "\n".join(instance.categories),
                    "default_reply": instance.default_reply_id,
                    "active": instance.active,
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["default_reply"].queryset = SavedReply.objects.for_collectivite(collectivite)


class PolicyForm(forms.Form):
    retention_months = forms.IntegerField(
        label=_("Durée de conservation (mois après la dernière activité du citoyen)"),
        min_value=1,
        max_value=120,
    )

    def __init__(
        self, *args: Any, collectivite: Collectivite, instance: Any = None, **kwargs: Any
    ) -> None:
        if instance is not None:
            kwargs.setdefault("initial", {"retention_months": instance.retention_months})
        super().__init__(*args, **kwargs)
