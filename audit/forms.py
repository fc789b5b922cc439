"""The journal's filters (page, CSV export and API share them)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from audit.models import Action
from audit.selectors import EventFilter


class EventFilterForm(forms.Form):
    auteur = forms.IntegerField(label=_("Auteur·rice"), required=False, min_value=1)
    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=[("", _("Toutes")), *Action.choices]
    )
    objet = forms.CharField(label=_("Type d'objet"), required=False, max_length=100)
    du = forms.DateField(
        label=_("Du"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    au = forms.DateField(
        label=_("Au"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    texte = forms.CharField(label=_("Texte"), required=False, max_length=200)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("du") and data.get("au") and data["du"] > data["au"]:
            raise forms.ValidationError(_("La date de début doit précéder la date de fin."))
        return data

    def filters(self) -> EventFilter:
        """The valid filters (an invalid form filters nothing rather than failing)."""
        if not self.is_valid():
            return EventFilter()
        d = self.cleaned_data
        return EventFilter(
            actor_id=d.get("auteur"),
            action=d.get("action") or "",
            object_type=(d.get("objet") or "").strip(),
            since=d.get("du"),
            until=d.get("au"),
            text=(d.get("texte") or "").strip(),
        )
