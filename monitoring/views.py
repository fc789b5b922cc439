"""The moderation inbox: what needs an answer first, each item with why it got its labels."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from collectivites.models import SocialAccount
from collectivites.permissions import Capability
from collectivites.viewmixins import (
    TenantDeleteView,
    TenantFormView,
    TenantObjectMixin,
    TenantPageView,
    requires,
    run_service,
)
from monitoring import selectors, services
from monitoring.forms import WatchForm
from monitoring.models import InboxItem, SavedReply, Watch

LABELS = {
    "urgent": gettext_lazy("Urgent"),
    "insulte": gettext_lazy("Insulte"),
    "question": gettext_lazy("Question"),
    "reclamation": gettext_lazy("Réclamation"),
    "negatif": gettext_lazy("Négatif"),
    "positif": gettext_lazy("Positif"),
    "spam": gettext_lazy("Spam"),
    "hors_sujet": gettext_lazy("Hors sujet"),
}


def _label_rows(item: InboxItem) -> list[dict[str, Any]]:
    return [
        {
            "code": label["code"],
            "name": LABELS.get(label["code"], label["code"]),
            "reasons": label.get("reasons", []),
        }
        for label in item.labels
    ]


@requires(Capability.INBOX_VIEW)
def inbox(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    account = request.GET.get("compte", "")
    items = selectors.inbox(
        collectivite=collectivite,
        status=request.GET.get("etat", ""),
        label=request.GET.get("etiquette", "") if request.GET.get("etiquette") in LABELS else "",
        account_id=int(account) if account.isdigit() else None,
        mine_for=request.user.pk if request.GET.get("moi") else None,
    )[:200]
    rows = [{"item": i, "labels": _label_rows(i)} for i in items]
    return render(
        request,
        "monitoring/inbox.html",
        {
            "rows": rows,
            "statuses": InboxItem.Status.choices,
            "labels": LABELS,
            "accounts": SocialAccount.objects.for_collectivite(collectivite),
            "current": request.GET,
        },
    )


def _item(request: HttpRequest, pk: int) -> InboxItem:
    found = selectors.item(collectivite=request.member.collectivite, pk=pk)  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    return found


@requires(Capability.INBOX_VIEW)
def item_detail(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    item = _item(request, pk)
    collectivite = item.collectivite
    saved = selectors.saved_replies(collectivite=collectivite)
    draft = ""
    model_id = request.GET.get("modele", "")
    if model_id.isdigit():
        chosen = saved.filter(pk=int(model_id)).first()
        if chosen is not None:
            draft = services.fill_saved_reply(chosen, item)
    return render(
        request,
        "monitoring/item.html",
        {
            "item": item,
            "labels": _label_rows(item),
            "thread": selectors.thread(item=item),
            "history": selectors.citizen_history(item=item),
            "replies": selectors.replies(item=item),
            "saved_replies": saved,
            "draft": draft,
        },
    )


def _back(item: InboxItem) -> HttpResponse:
    return redirect("inbox_item", collectivite_slug=item.collectivite.slug, pk=item.pk)


@requires(Capability.INBOX_REPLY)
@require_POST
def item_reply(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    item = _item(request, pk)
    run_service(
        request,
        lambda: services.reply_create(
            actor=request.user, item=item, text=request.POST.get("text", "")
        ),
        _("Réponse envoyée au réseau."),
    )
    return _back(item)


@requires(Capability.INBOX_REPLY)
@require_POST
def item_status(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    item = _item(request, pk)
    action = request.POST.get("action", "")
    if action == "assign_me":
        run_service(
            request,
            lambda: services.item_assign(actor=request.user, item=item, assignee=request.user),
            _("Message pris en charge."),
        )
    else:
        run_service(
            request,
            lambda: services.item_set_status(actor=request.user, item=item, status=action),
            _("État mis à jour."),
        )
    return _back(item)


@requires(Capability.INBOX_MODERATE)
@require_POST
def item_hide(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    item = _item(request, pk)
    hidden = request.POST.get("action", "hide") == "hide"
    run_service(
        request,
        lambda: services.item_hide(actor=request.user, item=item, hidden=hidden),
        _("Message masqué sur le réseau.") if hidden else _("Message à nouveau visible."),
    )
    return _back(item)


@requires(Capability.INBOX_VIEW)
def saved_replies(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    error = ""
    if request.method == "POST":
        if not request.member.can(Capability.PUBLISHING_APPROVE):  # type: ignore[attr-defined]
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        try:
            services.saved_reply_save(
                actor=request.user,
                collectivite=collectivite,
                data={k: request.POST.get(k, "") for k in ("title", "text", "theme")},
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("Réponse type enregistrée."))
            return redirect("saved_replies", collectivite_slug=collectivite_slug)
    return render(
        request,
        "monitoring/saved_replies.html",
        {
            "saved": SavedReply.objects.for_collectivite(collectivite),
            "error": error,
            "posted": request.POST,
        },
    )


@csrf_exempt
def meta_webhook(request: HttpRequest) -> HttpResponse:
    """Meta's webhooks (Facebook Pages, Instagram): handshake, then signed events."""
    from monitoring import webhooks

    if request.method == "GET":
        challenge = webhooks.meta_verify(dict(request.GET.items()))
        if challenge is None:
            return HttpResponse(status=403)
        return HttpResponse(challenge, content_type="text/plain")
    if request.method != "POST":
        return HttpResponse(status=405)
    body = request.body
    if not webhooks.meta_signature_ok(body, request.headers.get("X-Hub-Signature-256", "")):
        return HttpResponse(status=403)
    webhooks.receive("meta", body)
    return HttpResponse("ok", content_type="text/plain")


# --- the watch (veille) ---------------------------------------------------------------------


class WatchListView(TenantPageView):
    capability = Capability.INBOX_VIEW
    template_name = "monitoring/watches.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["watches"] = selectors.watches(collectivite=self.collectivite)
        context["alerts"] = selectors.watch_alerts(collectivite=self.collectivite)[:20]
        return context


class WatchCreateView(TenantFormView):
    capability = Capability.WATCH_MANAGE
    form_class = WatchForm
    success_url_name = "watches"
    success_message = gettext_lazy("La veille est enregistrée.")
    page_title = gettext_lazy("Nouvelle veille")

    def perform(self, data: dict[str, Any]) -> Any:
        return services.watch_save(
            actor=self.request.user, collectivite=self.collectivite, data=data, watch=self.object
        )


class WatchUpdateView(TenantObjectMixin, WatchCreateView):
    model = Watch
    page_title = gettext_lazy("Modifier la veille")


class WatchDeleteView(TenantDeleteView):
    capability = Capability.WATCH_MANAGE
    model = Watch
    success_url_name = "watches"
    success_message = gettext_lazy("La veille est supprimée ; ses mentions restent dans la boîte.")

    def perform(self, obj: Any) -> None:
        services.watch_delete(actor=self.request.user, collectivite=self.collectivite, watch=obj)


class WatchDetailView(TenantObjectMixin, TenantPageView):
    """The watch's mentions, their volume per hour (chart drawn by static/js/watch.js from
    data in a json_script block) and its alerts."""

    capability = Capability.INBOX_VIEW
    model = Watch
    template_name = "monitoring/watch.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        watch = self.get_object()
        series = selectors.watch_hourly_series(watch=watch, hours=72)
        context.update(
            watch=watch,
            mentions=selectors.watch_mentions(watch=watch)[:100],
            alerts=selectors.watch_alerts(collectivite=self.collectivite, watch=watch)[:50],
            series=series,
            total_72h=sum(point["count"] for point in series),
            cursors=watch.cursors.select_related("account"),
        )
        return context
