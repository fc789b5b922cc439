"""Composer forms. Times are typed in the collectivité's time zone and stored in UTC."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from collectivites.models import Collectivite, SocialAccount


def local_to_utc(day: dt.date, time: dt.time, tz_name: str) -> dt.datetime:
    """09:00 in Paris is 07:00 or 08:00 UTC depending on the date: let zoneinfo decide.
    A time that does not exist (the spring-forward hour) moves forward an hour, like the
    clocks; an ambiguous one (autumn) takes its first occurrence."""
    tz = zoneinfo.ZoneInfo(tz_name)
    local = dt.datetime.combine(day, time, tzinfo=tz)
    round_trip = local.astimezone(dt.UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
        local = dt.datetime.combine(day, time, tzinfo=tz) + dt.timedelta(hours=1)
    return local.astimezone(dt.UTC)


class ScheduleFields(forms.Form):
    day = forms.DateField(
        label=_("Jour de publication"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    time = forms.TimeField(
        label=_("Heure"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        self.collectivite = collectivite
        super().__init__(*args, **kwargs)

    def scheduled_at(self) -> dt.datetime | None:
        day, time = self.cleaned_data.get("day"), self.cleaned_data.get("time")
        if not day:
            return None
        return local_to_utc(day, time or dt.time(9, 0), self.collectivite.time_zone)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("time") and not cleaned.get("day"):
            self.add_error("day", _("Indiquez le jour de publication."))
        return cleaned


class ComposeForm(ScheduleFields):
    title = forms.CharField(label=_("Titre (interne)"), max_length=200)
    campaign = forms.CharField(label=_("Campagne ou thème"), max_length=120, required=False)
    text = forms.CharField(
        label=_("Texte"), widget=forms.Textarea(attrs={"rows": 6}), max_length=10000
    )
    accounts = forms.ModelMultipleChoiceField(
        label=_("Comptes"),
        queryset=SocialAccount.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    link = forms.URLField(
        label=_("Lien vers le site de la collectivité"),
        required=False,
        assume_scheme="https",
        max_length=2000,
    )
    notes = forms.CharField(
        label=_("Notes pour les validateurs"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    sponsored = forms.BooleanField(label=_("Publication sponsorisée (payante)"), required=False)

    field_order = [
        "title",
        "campaign",
        "text",
        "accounts",
        "day",
        "time",
        "link",
        "notes",
        "sponsored",
    ]

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        super().__init__(*args, collectivite=collectivite, **kwargs)
        self.fields["accounts"].queryset = SocialAccount.objects.for_collectivite(
            collectivite
        ).exclude(status=SocialAccount.Status.DISCONNECTED)


class VariantForm(ScheduleFields):
    text = forms.CharField(
        label=_("Texte"), widget=forms.Textarea(attrs={"rows": 6}), max_length=10000
    )
    link = forms.URLField(label=_("Lien"), required=False, assume_scheme="https", max_length=2000)


class DecisionForm(forms.Form):
    comment = forms.CharField(
        label=_("Commentaire"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    acknowledge_election = forms.BooleanField(required=False)


class MediaForm(forms.Form):
    file = forms.FileField(label=_("Image ou vidéo"))
    alt_text = forms.CharField(
        label=_("Texte alternatif"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Décrivez l'image pour les personnes qui ne la voient pas (obligatoire)."),
    )
    credit = forms.CharField(label=_("Crédit"), required=False, max_length=200)
    has_subtitles = forms.BooleanField(label=_("Vidéo sous-titrée"), required=False)


class AlertForm(forms.Form):
    kind = forms.ChoiceField(label=_("Modèle"))
    accounts = forms.ModelMultipleChoiceField(
        label=_("Comptes"),
        queryset=SocialAccount.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    lieu = forms.CharField(label=_("Où"), max_length=200, required=False)
    quand = forms.CharField(label=_("Quand"), max_length=200, required=False)
    consignes = forms.CharField(
        label=_("Précisions et consignes"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    text = forms.CharField(
        label=_("Message publié"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("Laissez vide pour utiliser le modèle ; « Prévisualiser » le remplit."),
    )

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        from publishing.alerts import TEMPLATES

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(t.code, t.label) for t in TEMPLATES.values()]
        self.fields["accounts"].queryset = SocialAccount.objects.for_collectivite(
            collectivite
        ).filter(status=SocialAccount.Status.CONNECTED)

    def message(self) -> str:
        from publishing.alerts import TEMPLATES, fill

        if self.cleaned_data.get("text", "").strip():
            return self.cleaned_data["text"].strip()
        return fill(
            TEMPLATES[self.cleaned_data["kind"]],
            lieu=self.cleaned_data.get("lieu", ""),
            quand=self.cleaned_data.get("quand", ""),
            consignes=self.cleaned_data.get("consignes", ""),
        )


class PauseForm(forms.Form):
    reason = forms.CharField(label=_("Motif"), max_length=300)
    accounts = forms.ModelMultipleChoiceField(
        label=_("Comptes concernés (tous si aucun n'est coché)"),
        queryset=SocialAccount.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["accounts"].queryset = SocialAccount.objects.for_collectivite(collectivite)


class SlotForm(forms.Form):
    account = forms.ModelChoiceField(label=_("Compte"), queryset=SocialAccount.objects.none())
    weekday = forms.TypedChoiceField(label=_("Jour"), coerce=int, choices=())
    time = forms.TimeField(label=_("Heure"), widget=forms.TimeInput(attrs={"type": "time"}))

    def __init__(self, *args: Any, collectivite: Collectivite, **kwargs: Any) -> None:
        from publishing.models import PostingSlot

        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = SocialAccount.objects.for_collectivite(collectivite)
        self.fields["weekday"].choices = PostingSlot.Weekday.choices
