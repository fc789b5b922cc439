"""A collectivité's security settings, under ``/c/<collectivite_slug>/parametres/``."""

from django.urls import path

from access import views

urlpatterns = [
    path("securite/", views.SecuritySettingsView.as_view(), name="security_settings"),
    path(
        "securite/membres/<int:user_id>/reinitialiser-2fa/",
        views.member_two_factor_reset,
        name="member_two_factor_reset",
    ),
    path("cles-api/", views.ApiKeysView.as_view(), name="api_keys"),
    path("cles-api/<int:pk>/revoquer/", views.api_key_revoke, name="api_key_revoke"),
]
