"""Django admin for platform staff (superusers), cross-tenant by design: every tenant
queryset here is spelled ``dangerously_unscoped``. Credentials are never shown."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from collectivites.models import (
    Audience,
    Collectivite,
    EditorialLine,
    ElectionPeriod,
    Invitation,
    Membership,
    ModerationCharter,
    SocialAccount,
)


class TenantAdmin(admin.ModelAdmin):
    list_filter = ["collectivite"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.model.objects.dangerously_unscoped()


@admin.register(Collectivite)
class CollectiviteAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "official_code", "population", "parent"]
    list_filter = ["kind"]
    search_fields = ["name", "official_code", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(TenantAdmin):
    list_display = ["user", "collectivite", "role"]
    list_filter = ["collectivite", "role"]
    search_fields = ["user__email", "user__username"]
    autocomplete_fields = ["user"]


@admin.register(Invitation)
class InvitationAdmin(TenantAdmin):
    list_display = ["email", "collectivite", "created_at", "expires_at", "accepted_at"]
    readonly_fields = ["token_hash", "accepted_by", "accepted_at"]


@admin.register(SocialAccount)
class SocialAccountAdmin(TenantAdmin):
    list_display = ["display_name", "network", "handle", "collectivite", "status"]
    list_filter = ["collectivite", "network", "status"]
    exclude = ["credentials"]


@admin.register(EditorialLine)
class EditorialLineAdmin(TenantAdmin):
    list_display = ["account", "collectivite", "address_form", "cadence_per_week"]


@admin.register(Audience)
class AudienceAdmin(TenantAdmin):
    list_display = ["name", "collectivite"]


@admin.register(ModerationCharter)
class ModerationCharterAdmin(TenantAdmin):
    list_display = ["collectivite", "response_target_hours"]


@admin.register(ElectionPeriod)
class ElectionPeriodAdmin(TenantAdmin):
    list_display = ["label", "collectivite", "election", "starts_on", "ends_on"]
