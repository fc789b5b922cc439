"""The reporting pages under ``/c/<slug>/rapports/``: the élus' dashboard, the team's
detail, the PDF report, the CSV of every table, and who receives the monthly report.

Every figure comes from ``reporting.kpis`` (through ``reporting.report`` and
``reporting.tables``, which only arrange and word them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _

from collectivites import selectors as collectivite_selectors
from collectivites.models import Collectivite, SocialAccount
from collectivites.permissions import Capability
from collectivites.viewmixins import TenantPageView, TenantViewMixin, run_service
from reporting import kpis, report, services, tables
from reporting.forms import (
    DetailFilterForm,
    RecipientsForm,
    default_period,
    parse_period,
    parse_range,
    period_choices,
    period_param,
)


class PeriodMixin(TenantViewMixin):
    """Reads ``?du=&au=`` (a range of days, from the picker's custom fields) or else
    ``?periode=``; a bad value is said in French and the default period shown."""

    def period(self) -> kpis.Period:
        today = tables.today_in(self.collectivite.time_zone)
        get = self.request.GET
        try:
            if get.get("du") or get.get("au"):
                return parse_range(get.get("du"), get.get("au"), today=today)
            return parse_period(get.get("periode"), today=today)
        except ValueError as exc:
            messages.error(self.request, str(exc))
            return default_period(today)

    def period_context(self, period: kpis.Period) -> dict[str, Any]:
        today = tables.today_in(self.collectivite.time_zone)
        choices = period_choices(today)
        param = period_param(period)
        if period.kind == "custom":  # the range shown stays chosen in the list
            choices = [(_("Période personnalisée"), [(param, period.label)]), *choices]
        return {
            "period": period,
            "period_param": param,
            "period_choices": choices,
            "custom_start": period.start if period.kind == "custom" else None,
            "custom_end": period.last_day if period.kind == "custom" else None,
        }


def _charts_context(specs: list[report.ChartSpec], tz: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"graphique-{spec.key}",
            "json_id": f"graphique-{spec.key}-donnees",
            "spec": spec,
            "data": spec.chartjs(),
            "table": spec.table(tz),
        }
        for spec in specs
    ]


class DashboardView(PeriodMixin, TenantPageView):
    """The élus' page: a few large figures, their trend and a sentence each; for an
    intercommunalité, the sum and each commune."""

    capability = Capability.REPORTING_VIEW
    template_name = "reporting/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        c = self.collectivite
        period = self.period()
        o = kpis.overview(c, period)
        context.update(
            self.period_context(period),
            figures=o.figures,
            communes=tables.communes_table(o, c.time_zone) if o.communes else None,
            charts=_charts_context(report.chart_specs(c, period), c.time_zone),
        )
        return context


class DetailView(PeriodMixin, TenantPageView):
    """The communications team's page: every table, filtered by account or network; for
    an intercommunalité, by commune too. An intercommunalité's page shows one row per
    commune; the tables per account (hundreds of rows) appear once a commune is chosen,
    and the CSV of the accounts of the whole intercommunalité stays available."""

    capability = Capability.REPORTING_VIEW
    template_name = "reporting/detail.html"

    def filters(self) -> tuple[DetailFilterForm, int | None, str | None, Collectivite | None]:
        """The form, the account, the network and, for an intercommunalité, the commune
        chosen (a collectivité of its scope; None: all of them)."""
        c = self.collectivite
        scope = kpis.scope_ids(c)
        data = self.request.GET.copy()
        communes = None
        owners = scope
        if len(scope) > 1:
            communes = list(  # the communes (the intercommunalité's own row is the total's)
                Collectivite.objects.filter(pk__in=scope[1:])
                .order_by("name")
                .values_list("pk", "name")
            )
            account = data.get("compte", "")
            if account.isdigit() and not data.get("commune"):  # a link to one account
                owner = (
                    SocialAccount.objects.dangerously_unscoped()
                    .filter(collectivite_id__in=scope, pk=int(account))
                    .values_list("collectivite_id", flat=True)
                    .first()
                )
                if owner is not None and owner != c.pk:
                    data["commune"] = str(owner)
            # the accounts offered: the commune's, or the intercommunalité's own
            chosen = data.get("commune", "")
            owners = [int(chosen)] if chosen.isdigit() and int(chosen) in scope[1:] else [c.pk]
        accounts = list(
            (
                SocialAccount.objects.for_collectivite(c)
                if len(scope) == 1
                else SocialAccount.objects.dangerously_unscoped().filter(collectivite_id__in=owners)
            )
            .select_related("collectivite")
            .order_by("collectivite__name", "network", "display_name")
        )
        networks = None
        if len(scope) > 1:
            networks = list(
                SocialAccount.objects.dangerously_unscoped()
                .filter(collectivite_id__in=scope)
                .order_by()
                .values_list("network", flat=True)
                .distinct()
            )
        kwargs = {"collectivite": c, "accounts": accounts, "communes": communes}
        form = DetailFilterForm(data or None, networks=networks, **kwargs)
        if form.is_bound and not form.is_valid():
            messages.error(self.request, _("Filtre inconnu : tous les comptes sont affichés."))
            if len(scope) > 1:
                kwargs["accounts"] = [a for a in accounts if a.collectivite_id == c.pk]
            return DetailFilterForm(networks=networks, **kwargs), None, None, None
        cleaned = form.cleaned_data if form.is_bound else {}
        commune_id = cleaned.get("commune")
        commune = Collectivite.objects.get(pk=commune_id) if commune_id else None
        return form, cleaned.get("compte"), cleaned.get("reseau") or None, commune

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        c = self.collectivite
        period = self.period()
        form, account_id, network, commune = self.filters()
        scope = commune or c
        d = kpis.detail(scope, period, account_id=account_id, network=network)
        query = {"periode": period_param(period)}
        if commune:
            query["commune"] = str(commune.pk)
        if account_id:
            query["compte"] = str(account_id)
        if network:
            query["reseau"] = network
        # an intercommunalité's hundreds of accounts: one row per commune until filtered
        per_account = not d.communes or bool(account_id or network)
        context.update(
            self.period_context(period),
            form=form,
            detail=d,
            commune=commune,
            per_account=per_account,
            tables=tables.detail_tables(d, c.time_zone, per_account=per_account),
            charts=_charts_context(
                report.chart_specs(
                    scope, period, account_id=account_id, network=network, networks=d.networks
                ),
                c.time_zone,
            ),
            query=query,
            query_string=urlencode(query),
            range_keep={
                "commune": commune.pk if commune else "",
                "compte": account_id or "",
                "reseau": network or "",
            },
            filtered=bool(account_id or network or commune),
        )
        return context


class ReportPdfView(PeriodMixin, TenantPageView):
    """The report of any past period as a PDF (what the élus receive each month)."""

    capability = Capability.REPORTING_VIEW

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        period = self.period()
        built = report.build_report(self.collectivite, period)
        response = HttpResponse(report.render_pdf(built), content_type="application/pdf")
        name = report.pdf_filename(self.collectivite, period_param(period))
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class TableCsvView(DetailView):
    """One table of the team's page as CSV (UTF-8 with BOM, ``;``, decimal comma)."""

    capability = Capability.REPORTING_EXPORT

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        c = self.collectivite
        period = self.period()
        _form, account_id, network, commune = self.filters()
        table = csv_table(
            commune or c, period, kwargs["table"], account_id=account_id, network=network
        )
        if table is None:
            raise Http404(_("Tableau inconnu."))
        response = HttpResponse(tables.csv_bytes(table), content_type="text/csv; charset=utf-8")
        name = f"{c.slug}-{table.key}-{period_param(period)}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def csv_table(
    collectivite: Any,
    period: kpis.Period,
    key: str,
    *,
    account_id: int | None = None,
    network: str | None = None,
) -> tables.Table | None:
    """The table ``key`` of the detail (every table, the accounts of a whole
    intercommunalité included), or a chart's data (``graphique-<key>``)."""
    tz = collectivite.time_zone
    if key.startswith("graphique-"):
        specs = report.chart_specs(collectivite, period, account_id=account_id, network=network)
        spec = next((s for s in specs if f"graphique-{s.key}" == key), None)
        return spec.table(tz) if spec else None
    d = kpis.detail(collectivite, period, account_id=account_id, network=network)
    return tables.find(tables.detail_tables(d, tz), key)


class RecipientsView(TenantPageView):
    """Admins choose who receives the monthly report by e-mail."""

    capability = Capability.MEMBERS_MANAGE
    template_name = "reporting/recipients.html"

    def form(self, data: Any = None) -> RecipientsForm:
        members = collectivite_selectors.members_of(collectivite=self.collectivite)
        choices = [
            (m.user.pk, f"{m.user.get_full_name() or m.user.email} ({m.user.email})")
            for m in members
        ]
        initial = {"users": services.report_recipient_ids(collectivite=self.collectivite)}
        return RecipientsForm(data, members=choices, initial=initial)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("form", self.form())
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = self.form(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        ok = run_service(
            request,
            lambda: services.report_recipients_set(
                actor=request.user,
                collectivite=self.collectivite,
                user_ids=form.cleaned_data["users"],
            ),
            _("Les destinataires du rapport mensuel sont enregistrés."),
        )
        if not ok:
            return self.render_to_response(self.get_context_data(form=form))
        return HttpResponseRedirect(self.tenant_url("reporting_recipients"))
