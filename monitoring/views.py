"""The moderation inbox: what needs an answer first, each item with why it got its labels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
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
from monitoring.forms import PolicyForm, ServiceForm, WatchForm
from monitoring.models import Citizen, InboxItem, Reply, SavedReply, Service, Watch
from monitoring.triage import translate_reason

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


INBOX_PAGE = 50  # messages per page of the inbox; "Messages suivants" resumes after the last
LIST_TEXT_CHARS = 240  # the list shows the start of each message


def _label_rows(item: InboxItem) -> list[dict[str, Any]]:
    return [
        {
            "code": label["code"],
            "name": LABELS.get(label["code"], label["code"]),
            "reasons": [translate_reason(r, _) for r in label.get("reasons", [])],
        }
        for label in item.labels
    ]


# What the list shows of an item, read as plain values (no model instances for the item,
# its citizen and its account): these columns only, not the payload nor the account's
# encrypted tokens; the citizen and the account joined, the assignee (not shown) not.
LIST_FIELDS = (
    "id",
    "priority",
    "created_at",
    "kind",
    "status",
    "text",
    "labels",
    "place",
    "due_at",
    "first_response_at",
    "citizen__display_name",
    "citizen__handle",
    "citizen__external_id",
    "account__display_name",
)


def _short_date() -> Callable[[dt.datetime], str]:
    """``value|date:"j M H:i"`` in the current time zone and language (« 5 Jan 14:07 »),
    the month names translated once per page instead of once per date."""
    from django.utils import timezone
    from django.utils.dates import MONTHS_3

    months = {number: str(name).title() for number, name in MONTHS_3.items()}

    def short(value: dt.datetime) -> str:
        local = timezone.localtime(value)
        return f"{local.day} {months[local.month]} {local:%H:%M}"

    return short


def _item_tags(page: list[dict[str, Any]], tags: list[Any]) -> dict[int, list[Any]]:
    """The page's items' tags (by name), read from the link table only: the names come
    from the collectivité's tags the filter lists anyway, and a collectivité without tags
    costs no query."""
    if not tags or not page:
        return {}
    by_id = {tag.pk: tag for tag in tags}
    links = InboxItem.tags.through.objects.filter(inboxitem_id__in=[i["id"] for i in page])
    found: dict[int, list[Any]] = {}
    for item_id, tag_id in links.values_list("inboxitem_id", "tag_id"):
        if tag_id in by_id:
            found.setdefault(item_id, []).append(by_id[tag_id])
    return {
        item_id: sorted(item_tags, key=lambda t: t.name) for item_id, item_tags in found.items()
    }


def _list_rows(
    page: list[dict[str, Any]], *, slug: str, tags: dict[int, list[Any]]
) -> list[dict[str, Any]]:
    """What the inbox's list shows of each item, ready to print: the translated names,
    the dates, the link and the truncated text computed here once per page or per item
    rather than by template tags and filters per item (the list shows the labels; their
    reasons are on the item's page)."""
    import unicodedata

    from django.urls import reverse
    from django.utils import timezone
    from django.utils.text import Truncator

    names = {code: str(name) for code, name in LABELS.items()}
    kinds = {code: str(name) for code, name in InboxItem.Kind.choices}
    statuses = {code: str(name) for code, name in InboxItem.Status.choices}
    # the item's URL reversed once: ".../boite/0/" around the pk
    head, tail = reverse("inbox_item", kwargs={"collectivite_slug": slug, "pk": 0}).rsplit("/0/", 1)
    due = _("réponse attendue avant le %(d)s")
    short = _short_date()
    now = timezone.now()
    rows = []
    for i in page:
        text, due_at = i["text"], i["due_at"]
        waiting = due_at is not None and i["first_response_at"] is None
        rows.append(
            {
                "id": i["id"],
                "url": f"{head}/{i['id']}/{tail}",
                "citizen": Citizen.shown_name(
                    display_name=i["citizen__display_name"],
                    handle=i["citizen__handle"],
                    external_id=i["citizen__external_id"],
                ),
                "account": i["account__display_name"],
                "created": short(i["created_at"]),
                # truncatechars:240; most texts are shorter, and then it only normalises
                "text": (
                    unicodedata.normalize("NFC", text)
                    if len(text) <= LIST_TEXT_CHARS
                    else Truncator(text).chars(LIST_TEXT_CHARS)
                ),
                "labels": [
                    {"code": label["code"], "name": names.get(label["code"], label["code"])}
                    for label in i["labels"]
                ],
                "tags": tags.get(i["id"], ()),
                "place": i["place"],
                "kind": kinds.get(i["kind"], i["kind"]),
                "status": statuses.get(i["status"], i["status"]),
                "due": due % {"d": short(due_at)} if waiting else "",
                "overdue": waiting and i["status"] in selectors.OPEN and due_at < now,
            }
        )
    return rows


@requires(Capability.INBOX_VIEW)
def inbox(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    """The inbox, filtered in the database; ``q`` searches the messages' text (French
    full-text search on PostgreSQL)."""
    from networks.registry import Network

    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    get = request.GET
    account, tag = get.get("compte", ""), get.get("tag", "")
    network = get.get("reseau", "")
    q = get.get("q", "").strip()
    assignee = get.get("responsable", "")
    (received_from, received_before), date_error = _date_range(
        collectivite, get.get("du", ""), get.get("au", "")
    )
    items = selectors.inbox(
        collectivite=collectivite,
        status=get.get("etat", ""),
        label=get.get("etiquette", "") if get.get("etiquette") in LABELS else "",
        account_id=int(account) if account.isdigit() else None,
        network=network if network in Network.values else "",
        tag_id=int(tag) if tag.isdigit() else None,
        overdue=bool(get.get("retard")),
        mine_for=request.user.pk if get.get("moi") else None,
        q=q,
        assignee_id=int(assignee) if assignee.isdigit() else None,
        received_from=received_from,
        received_before=received_before,
    )
    # the cursor carries the order's values (the search's rank too): read them as well
    order = [str(f).lstrip("-") for f in items.query.order_by]
    items = items.values(*LIST_FIELDS, *[f for f in order if f not in LIST_FIELDS])
    try:
        page, next_cursor = selectors.keyset_page(items, get.get("apres", ""), INBOX_PAGE)
    except ValueError:
        page, next_cursor = selectors.keyset_page(items, "", INBOX_PAGE)
    tags = list(selectors.tags(collectivite=collectivite))
    rows = _list_rows(page, slug=collectivite.slug, tags=_item_tags(page, tags))
    first = get.copy()
    first.pop("apres", None)
    next_query = ""
    if next_cursor:
        query = first.copy()
        query["apres"] = next_cursor
        next_query = query.urlencode()
    return render(
        request,
        "monitoring/inbox.html",
        {
            "rows": rows,
            "statuses": InboxItem.Status.choices,
            "labels": LABELS,
            "accounts": SocialAccount.objects.for_collectivite(collectivite).only(
                "pk", "display_name"
            ),
            "networks": Network.choices,
            "tags": tags,
            "current": get,
            "q": q,
            "next_query": next_query,
            "first_query": first.urlencode() if get.get("apres") else "",
            "date_error": date_error,
            "assignees": selectors.members_who_reply(collectivite=collectivite),
            "bulk_actions": services.BULK_ACTIONS,
            "drawn_at": timezone.now().isoformat(),
            "poll_seconds": settings.PARVIS_INBOX_POLL_SECONDS,
            "query": get.urlencode(),
        },
    )


def _date_range(
    collectivite: Any, start: str, end: str
) -> tuple[tuple[dt.datetime | None, dt.datetime | None], str]:
    """The inbox's "du … au …" (days in the collectivité's time zone, both included) as
    bounds on when the citizen wrote; an unreadable date is said, and ignored."""
    if not start and not end:
        return (None, None), ""
    zone = services.zone_of(collectivite)
    bounds: list[dt.datetime | None] = []
    for value, shift in ((start, 0), (end, 1)):
        if not value:
            bounds.append(None)
            continue
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return (None, None), _("Date non reconnue : choisissez-la dans le calendrier du champ.")
        bounds.append(dt.datetime.combine(day + dt.timedelta(days=shift), dt.time(), tzinfo=zone))
    if bounds[0] and bounds[1] and bounds[0] >= bounds[1]:
        return (None, None), _("La date de fin doit suivre la date de début.")
    return (bounds[0], bounds[1]), ""


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
    if not draft:
        draft = services.service_draft(item)
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
            "services": selectors.services_of(collectivite=collectivite).filter(active=True),
            "default_service": services.default_service_for(item),
            "service_requests": selectors.service_requests(item=item),
            "item_tags": item.tags.all(),
            "all_tags": selectors.tags(collectivite=collectivite),
        },
    )


def _back(item: InboxItem) -> HttpResponse:
    return redirect("inbox_item", collectivite_slug=item.collectivite.slug, pk=item.pk)


@requires(Capability.INBOX_REPLY)
@require_POST
def item_reply(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    item = _item(request, pk)
    try:
        reply = services.reply_create(
            actor=request.user, item=item, text=request.POST.get("text", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Réponse transmise pour validation avant envoi.")
            if reply.state == Reply.State.PENDING
            else _("Réponse envoyée au réseau."),
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


@requires(Capability.INBOX_MODERATE)
@require_POST
def item_delete(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    item = _item(request, pk)
    if request.POST.get("confirmer") != "oui":
        messages.error(request, _("Cochez la confirmation pour supprimer ce message du réseau."))
        return _back(item)
    run_service(
        request,
        lambda: services.item_delete(actor=request.user, item=item),
        _("Message supprimé du réseau (Parvis en garde la trace)."),
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


# --- routing to services ------------------------------------------------------------------------


class ServiceListView(TenantPageView):
    capability = Capability.INBOX_VIEW
    template_name = "monitoring/services.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["services"] = selectors.services_of(collectivite=self.collectivite)
        context["policy"] = selectors.policy(collectivite=self.collectivite)
        return context


class ServiceCreateView(TenantFormView):
    capability = Capability.CHARTER_MANAGE
    form_class = ServiceForm
    success_url_name = "services"
    success_message = gettext_lazy("Le service est enregistré.")
    page_title = gettext_lazy("Nouveau service")

    def perform(self, data: dict[str, Any]) -> Any:
        return services.service_save(
            actor=self.request.user, collectivite=self.collectivite, data=data, service=self.object
        )


class ServiceUpdateView(TenantObjectMixin, ServiceCreateView):
    model = Service
    page_title = gettext_lazy("Modifier le service")


class ServiceDeleteView(TenantDeleteView):
    capability = Capability.CHARTER_MANAGE
    model = Service
    success_url_name = "services"
    success_message = gettext_lazy(
        "Le service est supprimé (ou désactivé s'il a déjà reçu des messages)."
    )

    def perform(self, obj: Any) -> None:
        services.service_delete(
            actor=self.request.user, collectivite=self.collectivite, service=obj
        )


class PolicyView(TenantFormView):
    capability = Capability.CHARTER_MANAGE
    form_class = PolicyForm
    success_url_name = "services"
    success_message = gettext_lazy("La durée de conservation est enregistrée.")
    page_title = gettext_lazy("Conservation des messages des citoyens")

    def get_object(self) -> Any:
        return selectors.policy(collectivite=self.collectivite)

    def perform(self, data: dict[str, Any]) -> Any:
        return services.policy_save(
            actor=self.request.user,
            collectivite=self.collectivite,
            retention_months=data["retention_months"],
        )


@requires(Capability.INBOX_REPLY)
@require_POST
def item_route(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    item = _item(request, pk)
    service_id = request.POST.get("service", "")
    service = (
        selectors.services_of(collectivite=item.collectivite).filter(pk=int(service_id)).first()
        if service_id.isdigit()
        else None
    )
    if service is None:
        messages.error(request, _("Choisissez un service."))
        return _back(item)
    run_service(
        request,
        lambda: services.item_route(
            actor=request.user, item=item, service=service, note=request.POST.get("note", "")
        ),
        _("Message transmis au service ; il attend sa réponse."),
    )
    return _back(item)


@requires(Capability.INBOX_REPLY)
@require_POST
def item_service_answer(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    item = _item(request, pk)
    req_id = request.POST.get("request", "")
    found = (
        selectors.service_requests(item=item).filter(pk=int(req_id)).first()
        if req_id.isdigit()
        else None
    )
    if found is None:
        raise Http404
    run_service(
        request,
        lambda: services.service_answer_record(
            request=found, text=request.POST.get("text", ""), actor=request.user
        ),
        _("Réponse du service enregistrée : elle est reprise dans le brouillon de réponse."),
    )
    return _back(item)


def service_answer(request: HttpRequest, token: str) -> HttpResponse:
    """A service answers through the signed link of its e-mail (no account needed: the
    signed, dated token is the credential)."""
    found = services.service_request_from_token(token)
    if found is None:
        return render(request, "monitoring/service_answer.html", {"invalid": True}, status=404)
    error = ""
    done = found.answered_at is not None
    if request.method == "POST" and not done:
        try:
            services.service_answer_record(request=found, text=request.POST.get("text", ""))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            done = True
    return render(
        request,
        "monitoring/service_answer.html",
        {"req": found, "done": done, "error": error, "posted": request.POST.get("text", "")},
    )


# --- citizens and their personal data ------------------------------------------------------------


def _citizen(request: HttpRequest, pk: int) -> Citizen:
    found = selectors.citizen(collectivite=request.member.collectivite, pk=pk)  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    return found


@requires(Capability.INBOX_VIEW)
def citizen_detail(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    citizen = _citizen(request, pk)
    return render(
        request,
        "monitoring/citizen.html",
        {
            "citizen": citizen,
            "items": selectors.citizen_items(citizen=citizen)[:200],
            "policy": selectors.policy(collectivite=citizen.collectivite),
        },
    )


@requires(Capability.INBOX_REPLY)
@require_POST
def citizen_notes(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    citizen = _citizen(request, pk)
    run_service(
        request,
        lambda: services.citizen_notes_save(
            actor=request.user, citizen=citizen, notes=request.POST.get("notes", "")
        ),
        _("Notes internes enregistrées."),
    )
    return redirect("citizen", collectivite_slug=collectivite_slug, pk=pk)


@requires(Capability.PERSONAL_DATA_MANAGE)
def citizen_export(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    import csv
    import io
    import json

    citizen = _citizen(request, pk)
    data = services.citizen_export(actor=request.user, citizen=citizen)
    name = f"citoyen-{citizen.pk}"
    if request.GET.get("format") == "csv":
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["date", "réseau", "compte", "type", "texte", "lien", "lieu", "réponses"])
        for m in data["messages"]:
            writer.writerow(
                [
                    m["created_at"],
                    m["network"],
                    m["account"],
                    m["kind"],
                    m["text"],
                    m["permalink"],
                    m["place"],
                    " | ".join(r["text"] for r in m["replies"]),
                ]
            )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return response


@requires(Capability.PERSONAL_DATA_MANAGE)
@require_POST
def citizen_erase(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    citizen = _citizen(request, pk)
    if request.POST.get("confirm") != "oui":
        messages.error(request, _("Cochez la confirmation pour effacer ces données."))
    else:
        count = services.citizen_erase(actor=request.user, citizen=citizen)
        messages.success(
            request,
            _("Données effacées : %(n)s message(s) anonymisé(s), les comptages restent.")
            % {"n": count},
        )
    return redirect("citizen", collectivite_slug=collectivite_slug, pk=pk)


# --- tags -------------------------------------------------------------------------------------


@requires(Capability.INBOX_REPLY)
@require_POST
def item_tags(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    """Add a tag (by name; a new name creates it) or remove one (``remove``: its id). With
    htmx, answers the item's tag block only."""
    item = _item(request, pk)
    error = ""
    remove = request.POST.get("remove", "")
    try:
        if remove:
            tag = (
                selectors.tags(collectivite=item.collectivite).filter(pk=int(remove)).first()
                if remove.isdigit()
                else None
            )
            if tag is None:
                raise Http404
            services.item_tag_remove(actor=request.user, item=item, tag=tag)
        else:
            services.item_tag_add(actor=request.user, item=item, name=request.POST.get("name", ""))
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if request.headers.get("HX-Request"):
        return render(
            request,
            "monitoring/_item_tags.html",
            {
                "item": item,
                "item_tags": item.tags.all(),
                "all_tags": selectors.tags(collectivite=item.collectivite),
                "tag_error": error,
                "tag_status": "" if error else _("Mots-clés mis à jour."),
            },
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Mots-clés mis à jour."))
    return _back(item)


@requires(Capability.INBOX_VIEW)
def tags(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    from django.db.models import Count

    collectivite = request.member.collectivite  # type: ignore[attr-defined]
    return render(
        request,
        "monitoring/tags.html",
        {"tags": selectors.tags(collectivite=collectivite).annotate(n=Count("items"))},
    )


def _tag_page(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    return redirect("tags", collectivite_slug=collectivite_slug)


@requires(Capability.INBOX_MODERATE)
@require_POST
def tag_create(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    run_service(
        request,
        lambda: services.tag_save(
            actor=request.user,
            collectivite=request.member.collectivite,  # type: ignore[attr-defined]
            name=request.POST.get("name", ""),
        ),
        _("Mot-clé créé."),
    )
    return _tag_page(request, collectivite_slug)


def _tag(request: HttpRequest, pk: int) -> Any:
    found = selectors.tags(collectivite=request.member.collectivite).filter(pk=pk).first()  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    return found


@requires(Capability.INBOX_MODERATE)
@require_POST
def tag_update(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    tag = _tag(request, pk)
    run_service(
        request,
        lambda: services.tag_save(
            actor=request.user,
            collectivite=tag.collectivite,
            name=request.POST.get("name", ""),
            tag=tag,
        ),
        _("Mot-clé renommé."),
    )
    return _tag_page(request, collectivite_slug)


@requires(Capability.INBOX_MODERATE)
@require_POST
def tag_delete(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    tag = _tag(request, pk)
    run_service(
        request,
        lambda: services.tag_delete(actor=request.user, collectivite=tag.collectivite, tag=tag),
        _("Mot-clé supprimé (et retiré des messages qui le portaient)."),
    )
    return _tag_page(request, collectivite_slug)


# --- replies the charter sends through a validateur ------------------------------------------


@requires(Capability.INBOX_APPROVE)
def replies_pending(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    return render(
        request,
        "monitoring/replies_pending.html",
        {"pending": selectors.pending_replies(collectivite=request.member.collectivite)},  # type: ignore[attr-defined]
    )


def _pending(request: HttpRequest, pk: int) -> Reply:
    found = (
        selectors.pending_replies(collectivite=request.member.collectivite)  # type: ignore[attr-defined]
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404
    return found


def _after_review(request: HttpRequest, reply: Reply) -> HttpResponse:
    if request.POST.get("next") == "item":
        return _back(reply.item)
    return redirect("replies_pending", collectivite_slug=reply.item.collectivite.slug)


@requires(Capability.INBOX_APPROVE)
@require_POST
def reply_approve(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    reply = _pending(request, pk)
    run_service(
        request,
        lambda: services.reply_approve(
            actor=request.user, reply=reply, text=request.POST.get("text")
        ),
        _("Réponse validée : elle part sur le réseau."),
    )
    return _after_review(request, reply)


@requires(Capability.INBOX_APPROVE)
@require_POST
def reply_refuse(request: HttpRequest, collectivite_slug: str, pk: int) -> HttpResponse:
    reply = _pending(request, pk)
    run_service(
        request,
        lambda: services.reply_refuse(
            actor=request.user, reply=reply, note=request.POST.get("note", "")
        ),
        _("Réponse refusée ; son auteur est prévenu."),
    )
    return _after_review(request, reply)


# --- bulk actions and new messages ------------------------------------------------------------


@requires(Capability.INBOX_REPLY)
@require_POST
def inbox_bulk(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    """The action chosen for the messages ticked in the list; back to the same list."""
    ids = [int(i) for i in request.POST.getlist("items") if i.isdigit()]
    try:
        outcome = services.items_bulk(
            actor=request.user,
            collectivite=request.member.collectivite,  # type: ignore[attr-defined]
            item_ids=ids,
            action=request.POST.get("action", ""),
            tag=request.POST.get("tag", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if outcome.done:
            messages.success(
                request,
                ngettext("%(n)s message traité.", "%(n)s messages traités.", outcome.done)
                % {"n": outcome.done},
            )
        for pk, reason in outcome.failed:
            messages.error(
                request, _("Message n° %(pk)s : %(reason)s") % {"pk": pk, "reason": reason}
            )
    back = request.POST.get("retour", "")
    query = back if back and not back.startswith(("/", "http")) and "\n" not in back else ""
    url = redirect("inbox", collectivite_slug=collectivite_slug).url
    return redirect(f"{url}?{query}" if query else url)


@requires(Capability.INBOX_VIEW)
def inbox_news(request: HttpRequest, collectivite_slug: str) -> HttpResponse:
    """Polled by the inbox page (htmx, every 30 s): how many messages came since the page
    was drawn (``depuis``, its time), as a status line with a link that shows them; empty
    when none or when ``depuis`` is not a time."""
    try:
        since = dt.datetime.fromisoformat(request.GET.get("depuis", ""))
    except ValueError:
        since = None
    count = (
        selectors.arrived_since(
            collectivite=request.member.collectivite,  # type: ignore[attr-defined]
            since=since if timezone.is_aware(since) else timezone.make_aware(since),
        )
        if since is not None
        else 0
    )
    return render(request, "monitoring/_inbox_news.html", {"count": count})
