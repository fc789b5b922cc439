"""``/api/v1/``: a collectivité's API keys (admins: list, revoke) and one's own personal
tokens (list, revoke). Both are created in the pages only, where a fresh password (and
2FA code) is asked first and the secret is shown once."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from access import gate, services
from access.models import ApiKey, PersonalToken
from collectivites.api import SLUG_PARAMETER, TenantAPIMixin
from collectivites.permissions import Capability


def require_recent_auth(request: Request) -> None:
    """For sensitive API actions: a session must have re-entered its password recently; a
    personal token is accepted (it was created after a fresh password); an API key is
    refused (it never holds such capabilities anyway)."""
    if isinstance(getattr(request, "auth", None), ApiKey):
        raise PermissionDenied(str(gate.REAUTH_MESSAGE))
    by_session = isinstance(request.successful_authenticator, SessionAuthentication)
    if by_session and not gate.recently_authenticated(request):
        raise PermissionDenied(str(gate.REAUTH_MESSAGE))


class ApiKeySerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "status",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(parameters=[SLUG_PARAMETER]),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
    revoke=extend_schema(parameters=[SLUG_PARAMETER], request=None),
)
class ApiKeyViewSet(
    TenantAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The collectivité's API keys (never their secret). Creation is in the pages."""

    model = ApiKey
    serializer_class = ApiKeySerializer
    read_capability = Capability.MEMBERS_MANAGE
    write_capability = Capability.MEMBERS_MANAGE

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().order_by("-created_at")

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = self.get_object()
        key = self.call_service(services.api_key_revoke, key_id=key.pk)
        return Response(self.get_serializer(key).data)


class PersonalTokenSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = PersonalToken
        fields = [
            "id",
            "name",
            "prefix",
            "status",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        read_only_fields = fields


@extend_schema_view(revoke=extend_schema(request=None))
class PersonalTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The caller's own personal tokens. Creation is in the pages (profile)."""

    serializer_class = PersonalTokenSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[PersonalToken]:
        if getattr(self, "swagger_fake_view", False):
            return PersonalToken.objects.none()
        if isinstance(getattr(self.request, "auth", None), ApiKey):
            return PersonalToken.objects.none()
        return PersonalToken.objects.filter(user=self.request.user).order_by("-created_at")

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            credential = self.get_object()
        except Http404 as exc:
            raise NotFound from exc
        try:
            credential = services.personal_token_revoke(user=request.user, token_id=credential.pk)
        except DjangoValidationError as exc:
            raise NotFound from exc
        return Response(self.get_serializer(credential).data)
