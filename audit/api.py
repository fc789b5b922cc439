"""``/api/v1/c/<slug>/audit-events/``: the collectivité's audit trail, read-only."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError

from audit import selectors
from audit.forms import EventFilterForm
from audit.models import Action, AuditEvent
from collectivites.api import SLUG_PARAMETER, TenantAPIMixin
from collectivites.permissions import Capability


class AuditEventSerializer(serializers.ModelSerializer):
    action = serializers.ChoiceField(choices=Action.choices)
    action_label = serializers.CharField()
    actor_id = serializers.IntegerField(allow_null=True)
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_id",
            "actor_label",
            "action",
            "action_label",
            "object_type",
            "object_id",
            "object_label",
            "before",
            "after",
            "ip_address",
            "user_agent",
        ]
        read_only_fields = fields


FILTERS = [
    SLUG_PARAMETER,
    OpenApiParameter("auteur", OpenApiTypes.INT, description="Identifiant de l'auteur·rice"),
    OpenApiParameter("action", OpenApiTypes.STR, enum=Action.values, description="Action"),
    OpenApiParameter(
        "objet", OpenApiTypes.STR, description="Type d'objet (ex. publishing.variant)"
    ),
    OpenApiParameter("du", OpenApiTypes.DATE, description="Depuis ce jour (inclus)"),
    OpenApiParameter("au", OpenApiTypes.DATE, description="Jusqu'à ce jour (inclus)"),
    OpenApiParameter("texte", OpenApiTypes.STR, description="Texte cherché (auteur, objet)"),
]


@extend_schema_view(
    list=extend_schema(parameters=FILTERS),
    retrieve=extend_schema(parameters=[SLUG_PARAMETER]),
)
class AuditEventViewSet(TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    """The collectivité's audit trail (administrators). Nobody can change or delete it."""

    model = AuditEvent
    serializer_class = AuditEventSerializer
    read_capability = Capability.AUDIT_VIEW
    write_capability = Capability.AUDIT_VIEW

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return super().get_queryset()
        form = EventFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        return selectors.events(collectivite=self.collectivite, filters=form.filters())
