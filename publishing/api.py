"""``/api/v1/c/<slug>/publications/``, ``variants/``, ``calendar/``: the same services,
capabilities and tenancy as the pages (``collectivites.api.TenantAPIMixin``)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from collectivites.api import SLUG_PARAMETER, ScopedPrimaryKeyRelatedField, TenantAPIMixin
from collectivites.models import SocialAccount
from collectivites.permissions import Capability
from publishing import selectors, services
from publishing.findings import VariantFindings, findings_for_variant
from publishing.models import MediaAsset, Publication, Review, Variant, VariantMedia


class FindingSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=["error", "warning", "info"])
    code = serializers.CharField()
    message = serializers.CharField()


def extend_schema_field_list(fn: Any) -> Any:
    from drf_spectacular.utils import extend_schema_field

    return extend_schema_field(FindingSerializer(many=True))(fn)


class VariantSerializer(serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(read_only=True)
    network = serializers.CharField(source="account.network", read_only=True)
    characters = serializers.SerializerMethodField()
    findings = serializers.SerializerMethodField()

    class Meta:
        model = Variant
        fields = [
            "id",
            "publication",
            "account",
            "network",
            "text",
            "link",
            "scheduled_at",
            "state",
            "held",
            "external_id",
            "permalink",
            "error_message",
            "attempts",
            "published_at",
            "characters",
            "findings",
        ]
        read_only_fields = [
            "publication",
            "state",
            "held",
            "external_id",
            "permalink",
            "error_message",
            "attempts",
            "published_at",
        ]

    def _findings(self, variant: Variant) -> VariantFindings:
        """The checks run once per variant and serve both fields (they cost queries)."""
        cache = self.context.setdefault("_findings", {})
        key = (variant.pk, variant.updated_at)
        if key not in cache:
            cache[key] = findings_for_variant(variant)
        return cache[key]

    def get_characters(self, variant: Variant) -> dict[str, int]:
        found = self._findings(variant)
        return {"count": found.count, "max": found.max_chars}

    @extend_schema_field_list
    def get_findings(self, variant: Variant) -> list[dict[str, str]]:
        return [
            {"level": f.level, "code": f.code, "message": f.message}
            for f in self._findings(variant).items
        ]


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.EmailField(source="reviewer.email", read_only=True)

    class Meta:
        model = Review
        fields = ["id", "step", "decision", "comment", "reviewer", "created_at"]


class PublicationSerializer(serializers.ModelSerializer):
    variants = VariantSerializer(many=True, read_only=True)
    reviews = ReviewSerializer(many=True, read_only=True)
    author = serializers.EmailField(source="author.email", read_only=True)
    # write-only, for creation: the text written once and the accounts to adapt it for
    text = serializers.CharField(write_only=True)
    accounts = ScopedPrimaryKeyRelatedField(
        many=True, write_only=True, queryset=SocialAccount.objects.none()
    )
    scheduled_at = serializers.DateTimeField(write_only=True, required=False, allow_null=True)

    class Meta:
        model = Publication
        fields = [
            "id",
            "title",
            "campaign",
            "notes",
            "link",
            "sponsored",
            "author",
            "approvals",
            "created_at",
            "variants",
            "reviews",
            "text",
            "accounts",
            "scheduled_at",
        ]
        read_only_fields = ["approvals", "created_at"]


class MediaAssetSerializer(serializers.ModelSerializer):
    class Meta:
        model = MediaAsset
        fields = [
            "id",
            "kind",
            "mime_type",
            "size",
            "width",
            "height",
            "alt_text",
            "credit",
            "has_subtitles",
            "created_at",
        ]
        read_only_fields = ["kind", "mime_type", "size", "width", "height", "created_at"]


class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    alt_text = serializers.CharField(required=False, allow_blank=True, default="")
    credit = serializers.CharField(required=False, allow_blank=True, default="")
    has_subtitles = serializers.BooleanField(required=False, default=False)


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    acknowledge_election = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Période pré-électorale : le validateur confirme un contenu neutre.",
    )


_SCHEMA = {
    a: extend_schema(parameters=[SLUG_PARAMETER])
    for a in ("list", "retrieve", "create", "update", "partial_update", "destroy")
}


@extend_schema_view(
    **{k: v for k, v in _SCHEMA.items() if k in ("list", "retrieve", "create")},
    submit=extend_schema(parameters=[SLUG_PARAMETER], request=None),
    approve=extend_schema(parameters=[SLUG_PARAMETER], request=DecisionSerializer),
    send_back=extend_schema(parameters=[SLUG_PARAMETER], request=DecisionSerializer),
    media=extend_schema(
        parameters=[SLUG_PARAMETER],
        request={"multipart/form-data": MediaUploadSerializer},
        responses=MediaAssetSerializer,
        description=(
            "Ajoute une image ou une vidéo aux déclinaisons modifiables (vérifiée par son contenu)."
        ),
    ),
)
class PublicationViewSet(
    TenantAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Publications with their variants and validation history. Create writes once for
    several accounts; submit, approve and send-back follow the collectivité's workflow."""

    model = Publication
    serializer_class = PublicationSerializer
    read_capability = Capability.PUBLISHING_VIEW
    write_capability = Capability.PUBLISHING_DRAFT

    def required_capability(self, request: Request) -> str:
        if getattr(self, "action", None) in ("approve", "send_back"):
            return Capability.PUBLISHING_APPROVE
        return super().required_capability(request)

    def get_queryset(self) -> QuerySet[Publication]:
        qs = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return qs
        return qs.select_related("author").prefetch_related(
            Prefetch(
                "variants",
                queryset=Variant.objects.for_collectivite(self.collectivite).select_related(
                    "account"
                ),
            ),
            Prefetch(
                "reviews",
                queryset=Review.objects.for_collectivite(self.collectivite).select_related(
                    "reviewer"
                ),
            ),
        )

    def perform_create(self, serializer: serializers.Serializer) -> None:
        data = serializer.validated_data
        serializer.instance = self.call_service(
            services.publication_create,
            title=data["title"],
            text=data["text"],
            account_ids=[a.pk for a in data["accounts"]],
            scheduled_at=data.get("scheduled_at"),
            campaign=data.get("campaign", ""),
            link=data.get("link", ""),
            notes=data.get("notes", ""),
            sponsored=data.get("sponsored", False),
        )

    def _decide(self, fn: Any, **kwargs: Any) -> Response:
        publication = self.get_object()
        try:
            fn(actor=self.request.user, publication=publication, **kwargs)
        except Exception as exc:  # noqa: BLE001 -- mapped below, re-raised otherwise
            from django.core.exceptions import PermissionDenied
            from django.core.exceptions import ValidationError as DjangoValidationError

            if isinstance(exc, DjangoValidationError):
                raise ValidationError({"non_field_errors": exc.messages}) from exc
            if isinstance(exc, PermissionDenied):
                from rest_framework.exceptions import PermissionDenied as Denied

                raise Denied(str(exc)) from exc
            raise
        return Response(self.get_serializer(self.get_queryset().get(pk=publication.pk)).data)

    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def media(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        publication = self.get_object()
        body = MediaUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        asset = self.call_service(
            _media_add,
            publication=publication,
            upload=body.validated_data["file"],
            alt_text=body.validated_data["alt_text"],
            credit=body.validated_data["credit"],
            has_subtitles=body.validated_data["has_subtitles"],
        )
        return Response(MediaAssetSerializer(asset).data, status=201)

    @action(detail=True, methods=["post"])
    def submit(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._decide(services.publication_submit)

    @action(detail=True, methods=["post"])
    def approve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(
            services.publication_approve,
            comment=body.validated_data["comment"],
            acknowledge_election=body.validated_data["acknowledge_election"],
        )

    @action(detail=True, methods=["post"], url_path="send-back")
    def send_back(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(services.publication_send_back, comment=body.validated_data["comment"])


@extend_schema_view(
    list=extend_schema(
        parameters=[
            SLUG_PARAMETER,
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="à partir de (inclus)"),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="jusqu'à (exclu)"),
            OpenApiParameter("state", OpenApiTypes.STR, enum=Variant.State.values),
        ]
    ),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
    partial_update=extend_schema(parameters=[SLUG_PARAMETER]),
    update=extend_schema(parameters=[SLUG_PARAMETER]),
    cancel=extend_schema(parameters=[SLUG_PARAMETER], request=None),
)
class VariantViewSet(
    TenantAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Variants, filterable by time window (the calendar) and state. Editing text, link or
    time goes through the workflow (an approved variant goes back to review)."""

    model = Variant
    serializer_class = VariantSerializer
    read_capability = Capability.PUBLISHING_VIEW
    write_capability = Capability.PUBLISHING_DRAFT

    def get_queryset(self) -> QuerySet[Variant]:
        qs = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return qs
        qs = qs.select_related("account", "publication")
        params = self.request.query_params
        for name, lookup in (("start", "scheduled_at__gte"), ("end", "scheduled_at__lt")):
            if params.get(name):
                try:
                    value = dt.datetime.fromisoformat(params[name])
                    # the database takes UTC offsets of under 16 h only: compare in UTC
                    if timezone.is_naive(value):
                        zone = zoneinfo.ZoneInfo(self.collectivite.time_zone)
                        value = timezone.make_aware(value, zone)
                    value = value.astimezone(dt.UTC)
                except (ValueError, OverflowError) as exc:
                    raise ValidationError({name: "Date ISO 8601 attendue."}) from exc
                qs = qs.filter(**{lookup: value})
        if params.get("state") in Variant.State.values:
            qs = qs.filter(state=params["state"])
        return qs

    def perform_update(self, serializer: serializers.Serializer) -> None:
        serializer.instance = self.call_service(
            _variant_update, variant=serializer.instance, data=dict(serializer.validated_data)
        )

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        variant = self.get_object()
        self.call_service(_variant_cancel, variant=variant)
        variant.refresh_from_db()
        return Response(self.get_serializer(variant).data)


def _media_add(*, actor: Any, collectivite: Any, publication: Publication, **kwargs: Any) -> Any:
    return services.media_add(actor=actor, publication=publication, **kwargs)


@extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER]),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
    partial_update=extend_schema(parameters=[SLUG_PARAMETER]),
)
class MediaAssetViewSet(
    TenantAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Images and videos. PATCH sets the alt text and credit (approved variants using the
    media go back to review)."""

    model = MediaAsset
    serializer_class = MediaAssetSerializer
    read_capability = Capability.PUBLISHING_VIEW
    write_capability = Capability.PUBLISHING_DRAFT
    http_method_names = ["get", "patch", "head", "options"]

    def perform_update(self, serializer: serializers.Serializer) -> None:
        asset = serializer.instance
        link = (
            VariantMedia.objects.for_collectivite(self.collectivite)
            .filter(asset=asset)
            .select_related("variant__publication")
            .first()
        )
        if link is None:
            raise ValidationError(
                {"non_field_errors": ["Ce média n'est rattaché à aucune publication."]}
            )
        serializer.instance = self.call_service(
            _media_update,
            publication=link.variant.publication,
            asset_id=asset.pk,
            alt_text=serializer.validated_data.get("alt_text", asset.alt_text),
            credit=serializer.validated_data.get("credit", asset.credit),
        )


def _media_update(*, actor: Any, collectivite: Any, **kwargs: Any) -> Any:
    return services.media_update(actor=actor, **kwargs)


def _variant_update(
    *, actor: Any, collectivite: Any, variant: Variant, data: dict[str, Any]
) -> Variant:
    return services.variant_update(actor=actor, variant=variant, data=data)


def _variant_cancel(*, actor: Any, collectivite: Any, variant: Variant) -> Variant:
    return services.variant_cancel(actor=actor, variant=variant)


__all__ = ["MediaAssetViewSet", "PublicationViewSet", "VariantViewSet", "selectors"]
