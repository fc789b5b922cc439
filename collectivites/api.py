"""``/api/v1/``: the collectivités and their settings.

``TenantAPIMixin`` is the API's one door: it resolves ``collectivite_slug`` as the
middleware does for pages (404 to a non-member), checks the capability of the
action (403), and scopes every queryset. Writes go through the services.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from collectivites import connections, selectors, services
from collectivites.models import (
    Audience,
    Collectivite,
    EditorialLine,
    ElectionPeriod,
    Invitation,
    ModerationCharter,
    Notification,
    SocialAccount,
)
from collectivites.permissions import Capability, Role
from collectivites.selectors import MemberContext
from networks.registry import Network, get_connector

SLUG_PARAMETER = OpenApiParameter(
    "collectivite_slug",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Identifiant d'adresse de la collectivité",
)

# The collectivité's slug on every action of a tenant model viewset (list to destroy).
tenant_crud_schema = extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER]),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
    create=extend_schema(parameters=[SLUG_PARAMETER]),
    update=extend_schema(parameters=[SLUG_PARAMETER]),
    partial_update=extend_schema(parameters=[SLUG_PARAMETER]),
    destroy=extend_schema(parameters=[SLUG_PARAMETER]),
)


class IsMemberWithCapability(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        from access.gate import request_verified, two_factor_message

        member = selectors.member_context(
            user=request.user,
            slug=view.kwargs["collectivite_slug"],
            verified=request_verified(request),
        )
        if member is None:
            raise NotFound
        if member.two_factor:
            raise PermissionDenied(two_factor_message(member.two_factor))
        view.member = member
        return member.can(view.required_capability(request))


def _service_errors(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError(
            {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        )
    return ValidationError({"non_field_errors": exc.messages})


class TenantAPIMixin:
    """Set ``model``, ``read_capability`` and ``write_capability``."""

    model: ClassVar[type[Model]]
    read_capability: ClassVar[str]
    write_capability: ClassVar[str]
    permission_classes = [IsAuthenticated, IsMemberWithCapability]
    lookup_value_regex = r"\d+"
    member: MemberContext
    request: Request

    def required_capability(self, request: Request) -> str:
        return self.read_capability if request.method in SAFE_METHODS else self.write_capability

    @property
    def collectivite(self) -> Collectivite:
        return self.member.collectivite

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()  # type: ignore[attr-defined]
        return self.model.objects.for_collectivite(self.collectivite)  # type: ignore[attr-defined]

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()  # type: ignore[misc]
        context["collectivite"] = getattr(self, "member", None) and self.collectivite
        return context

    def call_service(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(actor=self.request.user, collectivite=self.collectivite, **kwargs)
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id that must belong to the collectivité in the URL."""

    def get_queryset(self) -> QuerySet[Any]:
        collectivite = self.context.get("collectivite")
        model = self.queryset.model
        if not collectivite:
            return model.objects.none()
        return model.objects.for_collectivite(collectivite)


# --- collectivités ----------------------------------------------------------------------------


class CollectiviteSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = Collectivite
        fields = [
            "slug",
            "name",
            "kind",
            "official_code",
            "population",
            "time_zone",
            "website_url",
            "validation_steps",
            "roles",
        ]

    def get_roles(self, obj: Collectivite) -> list[str]:
        return sorted(selectors.roles_of(user=self.context["request"].user, collectivite=obj))


class CollectiviteViewSet(viewsets.ReadOnlyModelViewSet):
    """The collectivités the caller is a member of, with their roles."""

    serializer_class = CollectiviteSerializer
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Collectivite]:
        if getattr(self, "swagger_fake_view", False):
            return Collectivite.objects.none()
        return selectors.collectivites_of(user=self.request.user)


# --- social accounts ---------------------------------------------------------------------------


class SocialAccountSerializer(serializers.ModelSerializer):
    audiences = ScopedPrimaryKeyRelatedField(
        many=True, queryset=Audience.objects.none(), required=False
    )
    network = serializers.ChoiceField(choices=Network.choices)

    class Meta:
        model = SocialAccount
        fields = [
            "id",
            "network",
            "handle",
            "display_name",
            "external_id",
            "status",
            "token_expires_at",
            "status_changed_at",
            "audiences",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["token_expires_at", "status_changed_at", "created_at", "updated_at"]
        validators: list[Any] = []


class AccountCheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SocialAccount.Status.choices)
    message = serializers.CharField()


@tenant_crud_schema
class SocialAccountViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    """The collectivité's social accounts. Credentials never appear here."""

    model = SocialAccount
    serializer_class = SocialAccountSerializer
    read_capability = Capability.ACCOUNTS_VIEW
    write_capability = Capability.ACCOUNTS_MANAGE

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            services.social_account_save, data=serializer.validated_data
        )

    def perform_update(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            services.social_account_save,
            data=serializer.validated_data,
            account=serializer.instance,
        )

    def perform_destroy(self, instance: SocialAccount) -> None:
        self.call_service(services.social_account_delete, account=instance)

    @extend_schema(
        parameters=[SLUG_PARAMETER],
        request=None,
        responses=AccountCheckSerializer,
        description="Appel en lecture seule au réseau : l'accès fonctionne-t-il toujours ?",
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        try:
            message = connections.social_account_verify(actor=request.user, account=account)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        account.refresh_from_db()
        return Response({"status": account.status, "message": message})


# --- editorial lines and audiences -------------------------------------------------------------


class EditorialLineSerializer(serializers.ModelSerializer):
    account = ScopedPrimaryKeyRelatedField(queryset=SocialAccount.objects.none())
    target_audiences = ScopedPrimaryKeyRelatedField(
        many=True, queryset=Audience.objects.none(), required=False
    )

    class Meta:
        model = EditorialLine
        fields = [
            "id",
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
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        validators: list[Any] = []


class _TenantCrudViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    save_service: ClassVar[Any]
    delete_service: ClassVar[Any]
    instance_kwarg: ClassVar[str]

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            type(self).save_service, data=serializer.validated_data
        )

    def perform_update(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            type(self).save_service,
            data=serializer.validated_data,
            **{self.instance_kwarg: serializer.instance},
        )

    def perform_destroy(self, instance: Model) -> None:
        self.call_service(type(self).delete_service, **{self.instance_kwarg: instance})


_CRUD_SCHEMA = {
    action: extend_schema(parameters=[SLUG_PARAMETER])
    for action in ("list", "retrieve", "create", "update", "partial_update", "destroy")
}


@extend_schema_view(**_CRUD_SCHEMA)
class EditorialLineViewSet(_TenantCrudViewSet):
    model = EditorialLine
    serializer_class = EditorialLineSerializer
    read_capability = Capability.EDITORIAL_VIEW
    write_capability = Capability.EDITORIAL_MANAGE
    save_service = services.editorial_line_save
    delete_service = services.editorial_line_delete
    instance_kwarg = "line"


class AudienceSerializer(serializers.ModelSerializer):
    age_bands = serializers.ListField(
        child=serializers.ChoiceField(choices=Audience.AgeBand.choices), required=False
    )
    networks = serializers.ListField(
        child=serializers.ChoiceField(choices=Network.choices), required=False
    )

    class Meta:
        model = Audience
        fields = ["id", "name", "description", "age_bands", "interests", "networks"]
        validators: list[Any] = []


@extend_schema_view(**_CRUD_SCHEMA)
class AudienceViewSet(_TenantCrudViewSet):
    model = Audience
    serializer_class = AudienceSerializer
    read_capability = Capability.EDITORIAL_VIEW
    write_capability = Capability.EDITORIAL_MANAGE
    save_service = services.audience_save
    delete_service = services.audience_delete
    instance_kwarg = "audience"


class ElectionPeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = ElectionPeriod
        fields = ["id", "election", "label", "starts_on", "ends_on", "scope", "candidates", "notes"]


@extend_schema_view(**_CRUD_SCHEMA)
class ElectionPeriodViewSet(_TenantCrudViewSet):
    model = ElectionPeriod
    serializer_class = ElectionPeriodSerializer
    read_capability = Capability.ELECTIONS_VIEW
    write_capability = Capability.ELECTIONS_MANAGE
    save_service = services.election_period_save
    delete_service = services.election_period_delete
    instance_kwarg = "period"


# --- charter ----------------------------------------------------------------------------------


class ModerationCharterSerializer(serializers.ModelSerializer):
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
            "response_targets",
            "business_hours_start",
            "business_hours_end",
            "escalation_keywords",
            "reply_approval_members",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        validators: list[Any] = []


@extend_schema(parameters=[SLUG_PARAMETER])
class ModerationCharterViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    """The collectivité's moderation charter (one per collectivité)."""

    model = ModerationCharter
    serializer_class = ModerationCharterSerializer
    read_capability = Capability.CHARTER_VIEW
    write_capability = Capability.CHARTER_MANAGE

    def get_object(self) -> ModerationCharter:
        """The one charter (the URL has no id): DRF's OPTIONS metadata asks for it too."""
        return selectors.charter(collectivite=self.collectivite) or ModerationCharter(
            collectivite=self.collectivite
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        charter = selectors.charter(collectivite=self.collectivite) or ModerationCharter(
            collectivite=self.collectivite
        )
        return Response(self.get_serializer(charter).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        current = selectors.charter(collectivite=self.collectivite)
        serializer = self.get_serializer(
            current, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        charter = self.call_service(services.charter_save, data=serializer.validated_data)
        return Response(self.get_serializer(charter).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)


# --- members and invitations ------------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))

    def to_representation(self, row: selectors.MemberRow) -> dict[str, Any]:
        return {
            "id": row.user.pk,
            "email": row.user.email,
            "first_name": row.user.first_name,
            "last_name": row.user.last_name,
            "roles": row.roles,
        }


@extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER]),
    update=extend_schema(parameters=[SLUG_PARAMETER]),
    destroy=extend_schema(parameters=[SLUG_PARAMETER]),
)
class MemberViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    """Members and their roles. ``id`` is the person's user id."""

    model = Invitation  # only for the schema; members are read through selectors
    serializer_class = MemberSerializer
    pagination_class = None
    read_capability = Capability.MEMBERS_VIEW
    write_capability = Capability.MEMBERS_MANAGE

    def _row(self) -> selectors.MemberRow:
        row = selectors.member_of(collectivite=self.collectivite, user_id=int(self.kwargs["pk"]))
        if row is None:
            raise NotFound
        return row

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows = selectors.members_of(collectivite=self.collectivite)
        return Response(self.get_serializer(rows, many=True).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from access.api import require_recent_auth

        require_recent_auth(request)
        row = self._row()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.call_service(
            services.member_set_roles, user_id=row.user.pk, roles=serializer.validated_data["roles"]
        )
        return Response(self.get_serializer(self._row()).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from access.api import require_recent_auth

        require_recent_auth(request)
        row = self._row()
        self.call_service(services.member_remove, user_id=row.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationSerializer(serializers.ModelSerializer):
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))

    class Meta:
        model = Invitation
        fields = ["id", "email", "roles", "created_at", "expires_at", "accepted_at"]
        read_only_fields = ["created_at", "expires_at", "accepted_at"]


@extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER]),
    create=extend_schema(parameters=[SLUG_PARAMETER]),
    destroy=extend_schema(parameters=[SLUG_PARAMETER]),
)
class InvitationViewSet(
    TenantAPIMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Pending invitations. The link itself is only ever sent by e-mail."""

    model = Invitation
    serializer_class = InvitationSerializer
    read_capability = Capability.MEMBERS_MANAGE
    write_capability = Capability.MEMBERS_MANAGE

    def get_queryset(self) -> QuerySet[Invitation]:
        return super().get_queryset().filter(accepted_at__isnull=True)

    def perform_create(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            services.invitation_create,
            email=serializer.validated_data["email"],
            roles=serializer.validated_data["roles"],
        )

    def perform_destroy(self, instance: Invitation) -> None:
        self.call_service(services.invitation_revoke, invitation_id=instance.pk)


# --- notifications and networks -----------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "message", "link", "created_at", "read_at"]


@extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER]),
    mark_read=extend_schema(parameters=[SLUG_PARAMETER], request=None, responses={204: None}),
)
class NotificationViewSet(TenantAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The caller's own notifications in this collectivité."""

    model = Notification
    serializer_class = NotificationSerializer
    read_capability = Capability.VIEW
    write_capability = Capability.VIEW

    def get_queryset(self) -> QuerySet[Notification]:
        return super().get_queryset().filter(user=self.request.user)

    @action(detail=False, methods=["post"], url_path="mark-read")
    def mark_read(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.notifications_mark_read(user=request.user, collectivite=self.collectivite)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LimitsSerializer(serializers.Serializer):
    max_chars = serializers.IntegerField()
    url_length = serializers.IntegerField(allow_null=True)
    max_images = serializers.IntegerField()
    max_videos = serializers.IntegerField()
    image_formats = serializers.ListField(child=serializers.CharField())
    video_formats = serializers.ListField(child=serializers.CharField())
    alt_text = serializers.BooleanField()
    alt_text_max = serializers.IntegerField(allow_null=True)
    threads = serializers.BooleanField()
    link_preview = serializers.BooleanField()


class NetworkSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    configured = serializers.BooleanField()
    missing_settings = serializers.ListField(child=serializers.CharField())
    uses_oauth = serializers.BooleanField()
    limits = LimitsSerializer()


@extend_schema_view(list=extend_schema(parameters=[SLUG_PARAMETER]))
class NetworkViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    """The networks Parvis can connect here, whether each is configured, and its limits."""

    model = SocialAccount  # unused: networks are not rows
    serializer_class = NetworkSerializer
    pagination_class = None
    read_capability = Capability.ACCOUNTS_VIEW
    write_capability = Capability.ACCOUNTS_MANAGE

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from networks.registry import get_adapter

        rows = []
        for code, label in Network.choices:
            connector = get_connector(code)
            limits = get_adapter(code).limits
            rows.append(
                {
                    "code": code,
                    "label": str(label),
                    "configured": connector.is_configured(),
                    "missing_settings": connector.missing_settings(),
                    "uses_oauth": connector.uses_oauth,
                    "limits": {f: getattr(limits, f) for f in LimitsSerializer().fields},
                }
            )
        return Response(self.get_serializer(rows, many=True).data)
