"""Pages outside a collectivité: login steps, re-authentication, one's own security."""

from django.urls import path

from access import views

urlpatterns = [
    path("connexion/", views.LoginView.as_view(), name="login"),
    path("connexion/code/", views.LoginCodeView.as_view(), name="login_code"),
    path("confirmer/", views.ReauthView.as_view(), name="reauth"),
    path("compte/securite/", views.account_security, name="account_security"),
    path(
        "compte/securite/double-authentification/",
        views.TwoFactorEnrolView.as_view(),
        name="two_factor_enrol",
    ),
    path(
        "compte/securite/double-authentification/desactiver/",
        views.two_factor_disable,
        name="two_factor_disable",
    ),
    path(
        "compte/securite/codes-de-secours/",
        views.recovery_codes_regenerate,
        name="recovery_codes_regenerate",
    ),
    path("compte/jetons/", views.personal_token_create, name="personal_token_create"),
    path(
        "compte/jetons/<int:pk>/revoquer/",
        views.personal_token_revoke,
        name="personal_token_revoke",
    ),
]
