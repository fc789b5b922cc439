"""``/api/v1/c/<slug>/inbox/`` and ``saved-replies/``: the inbox through the API, with
the same services, capabilities and tenancy as the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from collectivites.api import SLUG_PARAMETER, TenantAPIMixin, tenant_crud_schema
from collectivites.permissions import Capability
from monitoring import selectors, services
from monitoring.models import (
    InboxItem,
    Reply,
    SavedReply,
    Service,
    ServiceRequest,
    Watch,
    WatchAlert,
)
from networks.registry import Network


class ScopedMemberField(serializers.PrimaryKeyRelatedField):
    """A user id that must be a member of the collectivité in the URL."""

    def get_queryset(self) -> QuerySet[Any]:
        from django.contrib.auth import get_user_model

        from collectivites.models import Membership

        collectivite = self.context.get("collectivite")
        users = get_user_model().objects
        if not collectivite:
            return users.none()
        return users.filter(
            pk__in=Membership.objects.for_collectivite(collectivite).values_list(
                "user_id", flat=True
            )
        )


class LabelSerializer(serializers.Serializer):
    code = serializers.CharField()
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """The reasons in the request's language (French unless asked otherwise)."""
        from django.utils.translation import gettext

        from monitoring.triage import translate_reason

        data = super().to_representation(instance)
        data["reasons"] = [translate_reason(r, gettext) for r in data["reasons"]]
        return data


class ReplySerializer(serializers.ModelSerializer):
    author = serializers.EmailField(source="author.email", read_only=True)

    class Meta:
        model = Reply
        fields = [
            "id",
            "text",
            "author",
            "state",
            "external_id",
            "permalink",
            "error",
            "created_at",
            "sent_at",
            "reviewed_by",
            "reviewed_at",
            "review_note",
            "original_text",
        ]
        read_only_fields = fields

    reviewed_by = serializers.EmailField(source="reviewed_by.email", read_only=True, default=None)


class InboxItemSerializer(serializers.ModelSerializer):
    citizen = serializers.CharField(source="citizen.__str__", read_only=True)
    citizen_handle = serializers.CharField(source="citizen.handle", read_only=True)
    labels = LabelSerializer(many=True, read_only=True)
    replies = ReplySerializer(many=True, read_only=True)
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = InboxItem
        fields = [
            "id",
            "account",
            "network",
            "kind",
            "external_id",
            "citizen",
            "citizen_handle",
            "text",
            "language",
            "created_at",
            "permalink",
            "labels",
            "place",
            "priority",
            "needs_answer",
            "status",
            "assignee",
            "first_response_at",
            "first_response_business_seconds",
            "due_at",
            "edited_at",
            "revisions",
            "removed_at",
            "tags",
            "replies",
        ]
        read_only_fields = fields


class TextSerializer(serializers.Serializer):
    text = serializers.CharField()


class BulkSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1)
    action = serializers.ChoiceField(choices=list(services.BULK_ACTIONS))
    tag = serializers.CharField(required=False, default="", allow_blank=True, max_length=60)


class BulkFailureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    error = serializers.CharField()


class BulkOutcomeSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    failed = BulkFailureSerializer(many=True)


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["nouveau", "en_attente", "clos"])


class RouteSerializer(serializers.Serializer):
    service = serializers.IntegerField()
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ServiceAnswerSerializer(serializers.Serializer):
    request = serializers.IntegerField()
    text = serializers.CharField()


class ServiceRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceRequest
        fields = ["id", "item", "service", "note", "sent_at", "answer", "answered_at"]
        read_only_fields = fields


class InboxCursorPagination(BasePagination):
    """Keyset pagination over the inbox's total order (``selectors.INBOX_ORDER``, or the
    search's rank then id): the cursor carries the last row's sort values, so a page
    costs the same at any depth and rows arriving meanwhile shift nothing. ``cursor`` is
    opaque; ``next`` is null on the last page."""

    page_size = 50
    max_page_size = 200
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        size = request.query_params.get(self.page_size_query_param, "")
        self.size = min(int(size), self.max_page_size) if size.isdigit() and int(size) else 50
        try:
            self.page, self.next_cursor = selectors.keyset_page(
                queryset, request.query_params.get(self.cursor_query_param, ""), self.size
            )
        except ValueError as exc:
            raise ValidationError({"cursor": ["Curseur invalide."]}) from exc
        return self.page

    def get_paginated_response(self, data: Any) -> Response:
        from rest_framework.utils.urls import replace_query_param

        url = None
        if self.next_cursor:
            url = replace_query_param(
                self.request.build_absolute_uri(), self.cursor_query_param, self.next_cursor
            )
        return Response({"next": url, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Curseur de la page suivante (lien « next »).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": "Messages par page (50 par défaut, 200 au plus).",
                "schema": {"type": "integer"},
            },
        ]


@extend_schema_view(
    list=extend_schema(
        parameters=[
            SLUG_PARAMETER,
            OpenApiParameter(
                "status", OpenApiTypes.STR, description="« ouverts » (défaut), « tous » ou un état"
            ),
            OpenApiParameter("label", OpenApiTypes.STR, description="étiquette du tri"),
            OpenApiParameter("q", OpenApiTypes.STR, description="recherche plein texte"),
            OpenApiParameter("tag", OpenApiTypes.INT, description="id d'un mot-clé"),
            OpenApiParameter("account", OpenApiTypes.INT),
            OpenApiParameter("network", OpenApiTypes.STR),
            OpenApiParameter("overdue", OpenApiTypes.BOOL, description="en retard seulement"),
        ]
    ),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
    reply=extend_schema(
        parameters=[SLUG_PARAMETER], request=TextSerializer, responses=ReplySerializer
    ),
    set_status=extend_schema(parameters=[SLUG_PARAMETER], request=StatusSerializer),
    hide=extend_schema(parameters=[SLUG_PARAMETER], request=None),
    route=extend_schema(
        parameters=[SLUG_PARAMETER], request=RouteSerializer, responses=ServiceRequestSerializer
    ),
    service_answer=extend_schema(
        parameters=[SLUG_PARAMETER],
        request=ServiceAnswerSerializer,
        responses=ServiceRequestSerializer,
    ),
)
class InboxItemViewSet(
    TenantAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Citizens' messages, what needs an answer first."""

    model = InboxItem
    serializer_class = InboxItemSerializer
    pagination_class = InboxCursorPagination
    read_capability = Capability.INBOX_VIEW
    write_capability = Capability.INBOX_REPLY

    def required_capability(self, request: Request) -> str:
        if getattr(self, "action", None) == "hide":
            return Capability.INBOX_MODERATE
        return super().required_capability(request)

    def get_queryset(self) -> QuerySet[InboxItem]:
        if getattr(self, "swagger_fake_view", False):
            return InboxItem.objects.none()
        if self.action == "list":
            params = self.request.query_params
            tag, account = params.get("tag", ""), params.get("account", "")
            return selectors.inbox(
                collectivite=self.collectivite,
                status=params.get("status", ""),
                label=params.get("label", ""),
                q=params.get("q", ""),
                tag_id=int(tag) if tag.isdigit() else None,
                account_id=int(account) if account.isdigit() else None,
                network=params.get("network", ""),
                overdue=params.get("overdue", "") in ("1", "true", "oui"),
            ).prefetch_related("replies", "tags")
        return super().get_queryset().select_related("citizen", "account")

    @action(detail=True, methods=["post"])
    def reply(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = TextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = self.get_object()
        reply = self.call_service(_reply, item=item, text=body.validated_data["text"])
        return Response(ReplySerializer(reply).data, status=201)

    @extend_schema(request=BulkSerializer, responses=BulkOutcomeSerializer)
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One action on many messages (at most 200), each as if done one at a time; the
        ones that could not take it are listed with the reason."""
        body = BulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = self.call_service(_bulk, **body.validated_data)
        return Response(
            {
                "done": outcome.done,
                "failed": [{"id": pk, "error": reason} for pk, reason in outcome.failed],
            }
        )

    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = StatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = self.call_service(
            _status, item=self.get_object(), status=body.validated_data["status"]
        )
        return Response(self.get_serializer(item).data)

    @action(detail=True, methods=["post"])
    def hide(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self.call_service(_hide, item=self.get_object())
        return Response(self.get_serializer(item).data)

    @action(detail=True, methods=["post"], url_path="delete-on-network")
    def delete_on_network(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete the message on the network where it allows it; Parvis keeps the item."""
        item = self.call_service(_delete_on_network, item=self.get_object())
        return Response(self.get_serializer(item).data)

    @action(detail=True, methods=["post"])
    def route(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Send the message to a service; the item waits on its answer."""
        body = RouteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = self.get_object()
        service = (
            selectors.services_of(collectivite=self.collectivite)
            .filter(pk=body.validated_data["service"])
            .first()
        )
        if service is None:
            raise ValidationError({"service": ["Service inconnu."]})
        sent = self.call_service(
            _route, item=item, service=service, note=body.validated_data["note"]
        )
        return Response(ServiceRequestSerializer(sent).data, status=201)

    @action(detail=True, methods=["post"], url_path="service-answer")
    def service_answer(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Record a service's answer (it becomes the draft of the reply)."""
        body = ServiceAnswerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = self.get_object()
        found = (
            selectors.service_requests(item=item).filter(pk=body.validated_data["request"]).first()
        )
        if found is None:
            raise ValidationError({"request": ["Demande inconnue pour ce message."]})
        saved = self.call_service(_service_answer, found=found, text=body.validated_data["text"])
        return Response(ServiceRequestSerializer(saved).data)


def _reply(*, actor: Any, collectivite: Any, item: InboxItem, text: str) -> Reply:
    return services.reply_create(actor=actor, item=item, text=text)


def _bulk(*, actor: Any, collectivite: Any, items: list[int], action: str, tag: str) -> Any:
    return services.items_bulk(
        actor=actor, collectivite=collectivite, item_ids=items, action=action, tag=tag
    )


def _status(*, actor: Any, collectivite: Any, item: InboxItem, status: str) -> InboxItem:
    return services.item_set_status(actor=actor, item=item, status=status)


def _hide(*, actor: Any, collectivite: Any, item: InboxItem) -> InboxItem:
    return services.item_hide(actor=actor, item=item)


def _delete_on_network(*, actor: Any, collectivite: Any, item: InboxItem) -> InboxItem:
    return services.item_delete(actor=actor, item=item)


def _route(*, actor: Any, collectivite: Any, item: InboxItem, service: Any, note: str) -> Any:
    return services.item_route(actor=actor, item=item, service=service, note=note)


def _service_answer(*, actor: Any, collectivite: Any, found: Any, text: str) -> Any:
    return services.service_answer_record(request=found, text=text, actor=actor)


class ApproveSerializer(serializers.Serializer):
    text = serializers.CharField(
        required=False, help_text="The text to send, when the validateur corrects it."
    )


class RefuseSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, help_text="Why, for the reply's author.")


class PendingReplySerializer(ReplySerializer):
    item = serializers.IntegerField(source="item_id", read_only=True)

    class Meta(ReplySerializer.Meta):
        fields = [*ReplySerializer.Meta.fields, "item"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER]),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
    approve=extend_schema(
        parameters=[SLUG_PARAMETER], request=ApproveSerializer, responses=PendingReplySerializer
    ),
    refuse=extend_schema(
        parameters=[SLUG_PARAMETER], request=RefuseSerializer, responses=PendingReplySerializer
    ),
)
class PendingReplyViewSet(
    TenantAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Replies the charter sends through a validateur, waiting for one, oldest first."""

    model = Reply
    serializer_class = PendingReplySerializer
    read_capability = Capability.INBOX_APPROVE
    write_capability = Capability.INBOX_APPROVE

    def get_queryset(self) -> QuerySet[Reply]:
        if getattr(self, "swagger_fake_view", False):
            return Reply.objects.none()
        return selectors.pending_replies(collectivite=self.collectivite)

    @action(detail=True, methods=["post"])
    def approve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reply = self.call_service(
            _approve, reply=self.get_object(), text=body.validated_data.get("text")
        )
        return Response(PendingReplySerializer(reply).data)

    @action(detail=True, methods=["post"])
    def refuse(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = RefuseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reply = self.call_service(
            _refuse, reply=self.get_object(), note=body.validated_data["note"]
        )
        return Response(PendingReplySerializer(reply).data)


def _approve(*, actor: Any, collectivite: Any, reply: Reply, text: str | None) -> Reply:
    return services.reply_approve(actor=actor, reply=reply, text=text)


def _refuse(*, actor: Any, collectivite: Any, reply: Reply, note: str) -> Reply:
    return services.reply_refuse(actor=actor, reply=reply, note=note)


class SavedReplySerializer(serializers.ModelSerializer):
    class Meta:
        model = SavedReply
        fields = ["id", "title", "text", "theme", "validated_at"]
        read_only_fields = ["validated_at"]


@extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER]),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
    create=extend_schema(parameters=[SLUG_PARAMETER]),
)
class SavedReplyViewSet(
    TenantAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Vetted answers (written by validators)."""

    model = SavedReply
    serializer_class = SavedReplySerializer
    read_capability = Capability.INBOX_VIEW
    write_capability = Capability.PUBLISHING_APPROVE

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            services.saved_reply_save, data=serializer.validated_data
        )


# --- the watch ----------------------------------------------------------------------------------


class WatchSerializer(serializers.ModelSerializer):
    terms = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1)
    excluded_terms = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False
    )
    networks = serializers.ListField(
        child=serializers.ChoiceField(choices=Network.choices), required=False
    )
    recipients = ScopedMemberField(many=True, required=False)

    class Meta:
        model = Watch
        fields = [
            "id",
            "name",
            "terms",
            "excluded_terms",
            "networks",
            "active",
            "recipients",
            "spike_minimum",
            "spike_k",
            "last_run_at",
            "last_error",
            "created_at",
        ]
        read_only_fields = ["last_run_at", "last_error", "created_at"]
        validators: list[Any] = []


@tenant_crud_schema
class WatchViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    """Watches (veille): terms searched on the networks, alerts on spikes."""

    model = Watch
    serializer_class = WatchSerializer
    read_capability = Capability.INBOX_VIEW
    write_capability = Capability.WATCH_MANAGE

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(services.watch_save, data=serializer.validated_data)

    def perform_update(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            services.watch_save, data=serializer.validated_data, watch=serializer.instance
        )

    def perform_destroy(self, instance: Watch) -> None:
        self.call_service(services.watch_delete, watch=instance)


class WatchAlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = WatchAlert
        fields = [
            "id",
            "watch",
            "hour_start",
            "last_hour",
            "peak_count",
            "threshold",
            "median",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER, OpenApiParameter("watch", OpenApiTypes.INT)]),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
)
class WatchAlertViewSet(
    TenantAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Spikes the watches found (read only: raised by the periodic search)."""

    model = WatchAlert
    serializer_class = WatchAlertSerializer
    read_capability = Capability.INBOX_VIEW
    write_capability = Capability.WATCH_MANAGE

    def get_queryset(self) -> QuerySet[WatchAlert]:
        qs = super().get_queryset().order_by("-hour_start")
        watch = self.request.query_params.get("watch", "")
        if watch.isdigit():
            qs = qs.filter(watch_id=int(watch))
        return qs


# --- services -------------------------------------------------------------------------------------


class ServiceSerializer(serializers.ModelSerializer):
    categories = serializers.ListField(child=serializers.CharField(max_length=100), required=False)

    class Meta:
        model = Service
        fields = ["id", "name", "email", "categories", "default_reply", "active"]
        validators: list[Any] = []

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        collectivite = self.context.get("collectivite")
        fields["default_reply"].queryset = (
            SavedReply.objects.for_collectivite(collectivite)
            if collectivite
            else SavedReply.objects.none()
        )
        return fields


@tenant_crud_schema
class ServiceViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    """The collectivité's services, to which messages are sent (kept by admins)."""

    model = Service
    serializer_class = ServiceSerializer
    read_capability = Capability.INBOX_VIEW
    write_capability = Capability.CHARTER_MANAGE

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            services.service_save, data=serializer.validated_data
        )

    def perform_update(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            services.service_save, data=serializer.validated_data, service=serializer.instance
        )

    def perform_destroy(self, instance: Service) -> None:
        self.call_service(services.service_delete, service=instance)
