"""Publishing pages: the list, the composer, a publication with its variants and the
validation actions. Pages parse and authorise, services decide."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from access.decorators import requires_recent_auth
from collectivites.permissions import Capability
from collectivites.viewmixins import TenantFormView, TenantPageView, requires, run_service
from networks.registry import Network
from publishing import selectors, services
from publishing.delivery import outgoing
from publishing.findings import findings_for_variant
from publishing.forms import (
    AlertForm,
    ComposeForm,
    DecisionForm,
    MediaForm,
    PauseForm,
    SlotForm,
    VariantForm,
)
from publishing.models import Publication, Variant


class PublicationListView(TenantPageView):
    capability = Capability.PUBLISHING_VIEW
    template_name = "publishing/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        qs = selectors.publications(collectivite=self.collectivite)
        state = self.request.GET.get("etat", "")
        if state in Variant.State.values:
            qs = qs.filter(variants__state=state).distinct()
        context["publications"] = qs[:200]
        context["states"] = Variant.State.choices
        context["current_state"] = state
        return context


class ComposeView(TenantFormView):
    capability = Capability.PUBLISHING_DRAFT
    form_class = ComposeForm
    template_name = "publishing/compose.html"
    page_title = gettext_lazy("Nouvelle publication")
    success_url_name = "publications"

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        if self.request.GET.get("jour"):
            initial["day"] = self.request.GET["jour"]
        return initial

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs.pop("instance", None)
        return kwargs

    def perform(self, data: dict[str, Any]) -> Publication:
        return services.publication_create(
            actor=self.request.user,
            collectivite=self.collectivite,
            title=data["title"],
            text=data["text"],
            account_ids=[a.pk for a in data["accounts"]],
            scheduled_at=self._scheduled_at,
            campaign=data.get("campaign", ""),
            link=data.get("link", ""),
            notes=data.get("notes", ""),
            sponsored=bool(data.get("sponsored")),
        )

    def form_valid(self, form: Any) -> HttpResponse:
        self._scheduled_at = form.scheduled_at()
        try:
            publication = self.perform(form.cleaned_data)
        except ValidationError as exc:
            for field, errors in getattr(exc, "error_dict", {None: exc.error_list}).items():
                form.add_error(field if field in form.fields else None, errors)
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("Publication créée : adaptez chaque déclinaison puis soumettez-la."),
        )
        return redirect(
            "publication_detail", collectivite_slug=self.collectivite.slug, pk=publication.pk
        )


class PublicationDetailView(TenantPageView):
    capability = Capability.PUBLISHING_VIEW
    template_name = "publishing/detail.html"

    def before_dispatch(self) -> None:
        self.publication = selectors.publication(
            collectivite=self.collectivite, pk=self.kwargs["pk"]
        )
        if self.publication is None:
            raise Http404

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        tz = zoneinfo.ZoneInfo(self.collectivite.time_zone)
        cards = []
        for variant in self.publication.variants.all():
            local = variant.scheduled_at.astimezone(tz) if variant.scheduled_at else None
            form = VariantForm(
                collectivite=self.collectivite,
                prefix=f"v{variant.pk}",
                initial={
                    "text": variant.text,
                    "link": variant.link,
                    "day": local.date() if local else None,
                    "time": local.time() if local else None,
                },
            )
            preview_text, preview_link = outgoing(variant)
            if preview_link and preview_link not in preview_text:
                preview_text = f"{preview_text.rstrip()}\n\n{preview_link}"
            cards.append(
                {
                    "variant": variant,
                    "preview": preview_text,
                    "form": form,
                    "local": local,
                    "findings": findings_for_variant(variant),
                    "editable": variant.state in Variant.EDITABLE,
                }
            )
        states = {v.state for v in self.publication.variants.all()}
        from publishing.models import MediaAsset

        assets = (
            MediaAsset.objects.for_collectivite(self.collectivite)
            .filter(variantmedia__variant__publication=self.publication)
            .distinct()
        )
        context.update(
            publication=self.publication,
            assets=assets,
            media_form=MediaForm(),
            cards=cards,
            reviews=selectors.reviews(publication=self.publication),
            can_submit=Variant.State.DRAFT in states,
            can_decide=Variant.State.IN_REVIEW in states,
            decision_form=DecisionForm(),
            needs_election_ack=any(c["findings"].needs_election_ack for c in cards),
            media_editable=any(c["editable"] for c in cards),
            steps=self.collectivite.validation_steps,
        )
        return context


def _publication(request: HttpRequest, pk: int) -> Publication:
    found = selectors.publication(collectivite=request.member.collectivite, pk=pk)  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    return found


def _back(publication: Publication) -> HttpResponse:
    return redirect(
        "publication_detail", collectivite_slug=publication.collectivite.slug, pk=publication.pk
    )


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def variant_edit(
    request: HttpRequest, collectivite_slug: str, pk: int, variant_pk: int
) -> HttpResponse:
    publication = _publication(request, pk)
    variant = next((v for v in publication.variants.all() if v.pk == variant_pk), None)
    if variant is None:
        raise Http404
    form = VariantForm(request.POST, collectivite=publication.collectivite, prefix=f"v{variant.pk}")
    if not form.is_valid():
        messages.error(
            request,
            _("La déclinaison %(a)s n'est pas enregistrée : %(e)s")
            % {
                "a": variant.account,
                "e": " ".join(e for errs in form.errors.values() for e in errs),
            },
        )
        return _back(publication)
    data = {
        "text": form.cleaned_data["text"],
        "link": form.cleaned_data["link"],
        "scheduled_at": form.scheduled_at(),
    }
    run_service(
        request,
        lambda: services.variant_update(actor=request.user, variant=variant, data=data),
        _("Déclinaison %(a)s enregistrée.") % {"a": variant.account.display_name},
    )
    return _back(publication)


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def publication_submit(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    publication = _publication(request, pk)
    run_service(
        request,
        lambda: services.publication_submit(actor=request.user, publication=publication),
        _("Publication soumise."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_APPROVE)
@require_POST
def publication_approve(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    publication = _publication(request, pk)
    form = DecisionForm(request.POST)
    form.is_valid()
    run_service(
        request,
        lambda: services.publication_approve(
            actor=request.user,
            publication=publication,
            comment=form.cleaned_data.get("comment", ""),
        ),
        _("Validation enregistrée."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_APPROVE)
@require_POST
def publication_send_back(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    publication = _publication(request, pk)
    form = DecisionForm(request.POST)
    form.is_valid()
    run_service(
        request,
        lambda: services.publication_send_back(
            actor=request.user,
            publication=publication,
            comment=form.cleaned_data.get("comment", ""),
        ),
        _("Publication renvoyée à son auteur·rice."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def variant_cancel(
    request: HttpRequest, collectivite_slug: str, pk: int, variant_pk: int
) -> HttpResponse:
    publication = _publication(request, pk)
    variant = next((v for v in publication.variants.all() if v.pk == variant_pk), None)
    if variant is None:
        raise Http404
    run_service(
        request,
        lambda: services.variant_cancel(actor=request.user, variant=variant),
        _("Déclinaison annulée."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def check_text(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    """htmx: the live counter and findings for a text on one account, as the user types."""
    from collectivites.models import SocialAccount

    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    variant_id = request.POST.get("variant", "")
    if variant_id.isdigit():
        # A stored variant being edited: its media, date and publication count too.
        probe = (
            Variant.objects.for_collectivite(collectivite)
            .select_related("account", "publication")
            .filter(pk=variant_id)
            .first()
        )
        if probe is None:
            raise Http404
        prefix = f"v{probe.pk}-"
    else:
        account_id = request.POST.get("account", "")
        account = (
            SocialAccount.objects.for_collectivite(collectivite)
            .filter(pk=account_id if account_id.isdigit() else 0)
            .first()
        )
        if account is None:
            raise Http404
        probe = Variant(collectivite=collectivite, account=account)
        prefix = ""
    # never saved: the text as typed, checked as it would be
    probe.text = request.POST.get(f"{prefix}text", request.POST.get("text", ""))
    probe.link = request.POST.get(f"{prefix}link", request.POST.get("link", ""))
    return render(
        request,
        "publishing/_findings.html",
        {"findings": findings_for_variant(probe, saved=False), "variant": probe},
    )


# --- calendar ---------------------------------------------------------------------------------


def _filters(request: HttpRequest) -> Any:
    from publishing.calendar import Filters

    def number(name: str) -> int | None:
        value = request.GET.get(name, "")
        return int(value) if value.isdigit() else None

    return Filters(
        account=number("compte"),
        network=request.GET.get("reseau", "")
        if request.GET.get("reseau") in Network.values
        else "",
        campaign=request.GET.get("campagne", "")[:120],
        author=number("auteur"),
    )


class CalendarView(TenantPageView):
    """Month (default) or week view; ``?mois=2026-12`` or ``?semaine=2026-12-07``."""

    capability = Capability.PUBLISHING_VIEW
    template_name = "publishing/calendar.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from publishing import calendar

        context = super().get_context_data(**kwargs)
        tz = zoneinfo.ZoneInfo(self.collectivite.time_zone)
        today = dt.datetime.now(tz).date()
        filters = _filters(self.request)
        week_param = self.request.GET.get("semaine", "")
        try:
            week_day = dt.date.fromisoformat(week_param) if week_param else None
        except ValueError:
            week_day = None
        if week_day:
            monday = week_day - dt.timedelta(days=week_day.weekday())
            weeks = calendar.weeks_between(
                collectivite=self.collectivite,
                first=monday,
                last=monday + dt.timedelta(days=6),
                month=None,
                filters=filters,
            )
            context.update(
                mode="semaine",
                title=_("Semaine du %(d)s") % {"d": monday.strftime("%d/%m/%Y")},
                previous=f"?semaine={(monday - dt.timedelta(days=7)).isoformat()}",
                following=f"?semaine={(monday + dt.timedelta(days=7)).isoformat()}",
            )
        else:
            try:
                year, month = (int(x) for x in self.request.GET.get("mois", "").split("-"))
                dt.date(year, month, 1)
            except ValueError:
                year, month = today.year, today.month
            weeks = calendar.month_grid(
                collectivite=self.collectivite, year=year, month=month, filters=filters
            )
            first = dt.date(year, month, 1)
            prev_month = (first - dt.timedelta(days=1)).replace(day=1)
            next_month = (first + dt.timedelta(days=32)).replace(day=1)
            context.update(
                mode="mois",
                title=date_format(first, "F Y"),
                previous=f"?mois={prev_month:%Y-%m}",
                following=f"?mois={next_month:%Y-%m}",
            )
        from collectivites.models import SocialAccount
        from collectivites.selectors import members_of

        context.update(
            weeks=weeks,
            today=today,
            can_move=self.request.member.can(Capability.PUBLISHING_DRAFT),  # type: ignore[attr-defined]
            filters=filters,
            authors=[row.user for row in members_of(collectivite=self.collectivite)],
            accounts=SocialAccount.objects.for_collectivite(self.collectivite),
            networks=Network.choices,
            query=self.request.GET.urlencode(),
        )
        return context


@requires(Capability.PUBLISHING_VIEW)
def calendar_ics(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    """The next 90 days and the last 30, for staff calendars (Outlook, Thunderbird…)."""
    from publishing import calendar

    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    now = timezone.now()
    variants = _filters(request).apply(
        Variant.objects.for_collectivite(collectivite).filter(
            scheduled_at__gte=now - dt.timedelta(days=30),
            scheduled_at__lt=now + dt.timedelta(days=90),
        )
    )
    body = calendar.icalendar(
        collectivite=collectivite, variants=variants, domain=request.get_host().split(":")[0]
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="publications-{collectivite.slug}.ics"'
    return response


# --- media ------------------------------------------------------------------------------------


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def media_upload(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    publication = _publication(request, pk)
    form = MediaForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return _back(publication)
    run_service(
        request,
        lambda: services.media_add(
            actor=request.user,
            publication=publication,
            upload=form.cleaned_data["file"],
            alt_text=form.cleaned_data["alt_text"],
            credit=form.cleaned_data["credit"],
            has_subtitles=form.cleaned_data["has_subtitles"],
        ),
        _("Média ajouté aux déclinaisons."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def media_edit(
    request: HttpRequest, collectivite_slug: str, pk: int, asset_pk: int
) -> HttpResponse:
    publication = _publication(request, pk)
    run_service(
        request,
        lambda: services.media_update(
            actor=request.user,
            publication=publication,
            asset_id=asset_pk,
            alt_text=request.POST.get("alt_text", ""),
            credit=request.POST.get("credit", ""),
        ),
        _("Texte alternatif enregistré."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def media_delete(
    request: HttpRequest, collectivite_slug: str, pk: int, asset_pk: int
) -> HttpResponse:
    publication = _publication(request, pk)
    run_service(
        request,
        lambda: services.media_remove(
            actor=request.user, publication=publication, asset_id=asset_pk
        ),
        _("Média retiré."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_VIEW)
def media_file(request: HttpRequest, collectivite_slug: str, asset_pk: int) -> HttpResponse:
    """The file, for the collectivité's members only (previews in the composer)."""
    from publishing.models import MediaAsset

    asset = (
        MediaAsset.objects.for_collectivite(request.member.collectivite).filter(pk=asset_pk).first()
    )  # type: ignore[attr-defined]
    if asset is None:
        raise Http404
    return FileResponse(asset.file.open("rb"), content_type=asset.mime_type)


def media_public(request: HttpRequest, token: str) -> HttpResponse:
    """For the networks that fetch media by URL (Instagram): a signed, day-long link."""
    from publishing.media import asset_id_from_token
    from publishing.models import MediaAsset

    asset_id = asset_id_from_token(token)
    # the signed token is the credential: deliberately not scoped to a collectivité
    asset = (
        MediaAsset.objects.dangerously_unscoped().filter(pk=asset_id).first() if asset_id else None
    )
    if asset is None:
        raise Http404
    return FileResponse(asset.file.open("rb"), content_type=asset.mime_type)


# --- urgent alerts and the crisis pause -------------------------------------------------------


@requires(Capability.PUBLISHING_URGENT)
@requires_recent_auth()
def alert_new(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    from publishing import alerts

    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    form = AlertForm(request.POST or None, collectivite=collectivite)
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            data = request.POST.copy()
            data["text"] = form.message()
            form = AlertForm(data, collectivite=collectivite)
            form.is_valid()
        else:
            try:
                publication = alerts.alert_publish(
                    actor=request.user,
                    collectivite=collectivite,
                    kind=form.cleaned_data["kind"],
                    title=str(alerts.TEMPLATES[form.cleaned_data["kind"]].label),
                    text=form.message(),
                    account_ids=[a.pk for a in form.cleaned_data["accounts"]],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _(
                        "Alerte publiée maintenant sur %(n)s compte(s). "
                        "Les autres validateurs sont prévenus."
                    )
                    % {"n": len(form.cleaned_data["accounts"])},
                )
                return redirect(
                    "publication_detail", collectivite_slug=collectivite_slug, pk=publication.pk
                )
    return render(request, "publishing/alert.html", {"form": form})


@requires(Capability.PUBLISHING_URGENT)
@require_POST
def alert_close(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    from publishing import alerts

    publication = _publication(request, pk)
    text = request.POST.get("text", "").strip()
    if request.POST.get("action") == "update":
        run_service(
            request,
            lambda: alerts.alert_update(actor=request.user, publication=publication, text=text),
            _("Mise à jour de l'alerte publiée."),
        )
        return _back(publication)
    text = text or _("Fin d'alerte : la situation est revenue à la normale.")
    run_service(
        request,
        lambda: alerts.alert_close(actor=request.user, publication=publication, text=text),
        _("Fin d'alerte publiée."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_URGENT)
def crisis(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    from publishing import alerts

    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    form = PauseForm(request.POST or None, collectivite=collectivite)
    if request.method == "POST":
        if request.POST.get("action") == "resume":
            try:
                released = alerts.crisis_resume(actor=request.user, collectivite=collectivite)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request, _("Reprise : %(n)s publication(s) libérée(s).") % {"n": released}
                )
            return redirect("crisis", collectivite_slug=collectivite_slug)
        if form.is_valid():
            try:
                alerts.crisis_pause(
                    actor=request.user,
                    collectivite=collectivite,
                    reason=form.cleaned_data["reason"],
                    account_ids=[a.pk for a in form.cleaned_data["accounts"]],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Pause de crise en place : plus rien ne part."))
                return redirect("crisis", collectivite_slug=collectivite_slug)
    now = timezone.now()
    held = list(alerts.held_variants(collectivite=collectivite))
    return render(
        request,
        "publishing/crisis.html",
        {
            "form": form,
            "pause": alerts.active_pause(collectivite=collectivite),
            "held": held,
            "overdue": [v for v in held if v.scheduled_at and v.scheduled_at <= now],
        },
    )


# --- posting slots and the queue ----------------------------------------------------------------


@requires(Capability.PUBLISHING_VIEW)
def slots(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    from publishing.models import PostingSlot

    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    form = SlotForm(request.POST or None, collectivite=collectivite)
    if request.method == "POST":
        if not request.member.can(Capability.EDITORIAL_MANAGE):  # type: ignore[attr-defined]
            raise PermissionDenied
        if request.POST.get("delete", "").isdigit():
            services.slot_delete(
                actor=request.user, collectivite=collectivite, slot_id=int(request.POST["delete"])
            )
            messages.success(request, _("Créneau supprimé."))
            return redirect("slots", collectivite_slug=collectivite_slug)
        if form.is_valid():
            try:
                services.slot_add(
                    actor=request.user,
                    collectivite=collectivite,
                    account_id=form.cleaned_data["account"].pk,
                    weekday=form.cleaned_data["weekday"],
                    time=form.cleaned_data["time"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Créneau ajouté."))
                return redirect("slots", collectivite_slug=collectivite_slug)
    return render(
        request,
        "publishing/slots.html",
        {
            "form": form,
            "slots": PostingSlot.objects.for_collectivite(collectivite).select_related("account"),
        },
    )


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def variant_queue(
    request: HttpRequest, collectivite_slug: str, pk: int, variant_pk: int
) -> HttpResponse:
    publication = _publication(request, pk)
    variant = next((v for v in publication.variants.all() if v.pk == variant_pk), None)
    if variant is None:
        raise Http404
    run_service(
        request,
        lambda: services.variant_queue(actor=request.user, variant=variant),
        _("Déclinaison placée sur le prochain créneau libre."),
    )
    return _back(publication)


@requires(Capability.PUBLISHING_DRAFT)
@require_POST
def variant_move(
    request: HttpRequest, collectivite_slug: str, pk: int, variant_pk: int
) -> HttpResponse:
    """Move a variant to another day (the calendar's drag and drop, or its "Déplacer" form),
    keeping its local time unless another is given; back to the calendar it came from."""
    publication = _publication(request, pk)
    variant = next((v for v in publication.variants.all() if v.pk == variant_pk), None)
    if variant is None:
        raise Http404
    back = request.POST.get("retour", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ) or not back.startswith(f"/c/{collectivite_slug}/"):
        back = ""
    try:
        day = dt.date.fromisoformat(request.POST.get("jour", ""))
    except ValueError:
        messages.error(request, _("Choisissez un jour valide (AAAA-MM-JJ)."))
        return redirect(back) if back else _back(publication)
    time_text = request.POST.get("heure", "")
    try:
        time = dt.time.fromisoformat(time_text) if time_text else None
    except ValueError:
        messages.error(request, _("Choisissez une heure valide (HH:MM)."))
        return redirect(back) if back else _back(publication)
    run_service(
        request,
        lambda: services.variant_move(actor=request.user, variant=variant, day=day, time=time),
        _("« %(t)s » (%(a)s) déplacée au %(d)s.")
        % {
            "t": publication.title,
            "a": variant.account.display_name,
            "d": date_format(day, "l j F Y"),
        },
    )
    return redirect(back) if back else _back(publication)
