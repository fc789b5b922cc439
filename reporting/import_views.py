"""The page where an administrator imports the collectivité's web-analytics export (CSV):
visits to its site per day, page and UTM parameters, so the dashboards count the visits
the social networks bring."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collectivites.permissions import Capability
from collectivites.viewmixins import TenantFormView
from reporting import selectors, services


class WebAnalyticsImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Export CSV de la mesure d'audience du site"),
        help_text=gettext_lazy(
            "Une ligne par jour et par page (ou par campagne), avec les colonnes date, page, "
            "utm_source, utm_medium, utm_campaign et visites. Les exports de Matomo, "
            "Piwik PRO et AT Internet sont reconnus. 10 Mo au plus."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )

    def __init__(self, *args: Any, collectivite: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.collectivite = collectivite

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > services.MAX_IMPORT_BYTES:
            raise ValidationError(
                _("Le fichier dépasse %(mb)d Mo : exportez une période plus courte.")
                % {"mb": services.MAX_IMPORT_BYTES // (1024 * 1024)}
            )
        return upload


class WebAnalyticsImportView(TenantFormView):
    capability = Capability.REPORTING_IMPORT
    template_name = "reporting/import.html"
    form_class = WebAnalyticsImportForm
    success_url_name = "reporting_import"
    page_title = gettext_lazy("Importer les visites du site")

    def form_valid(self, form: forms.Form) -> HttpResponse:
        try:
            result = services.web_analytics_import(
                actor=self.request.user,
                collectivite=self.collectivite,
                data=form.cleaned_data["file"].read(),
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("file", message)
            return self.form_invalid(form)
        messages.success(self.request, result.message)
        if result.errors:
            # show the refused lines with the form, so the file can be fixed and sent again
            return self.render_to_response(
                self.get_context_data(form=self.form_class(), result=result)
            )
        return HttpResponseRedirect(self.get_success_url())

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["overview"] = selectors.web_analytics_overview(collectivite=self.collectivite)
        return context
