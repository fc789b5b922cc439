from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from collectivites import connection_views
from collectivites import views as collectivites_views
from config.health import healthz
from config.security import csp_report
from monitoring import views as monitoring_views
from networks import views as networks_views
from publishing import views as publishing_views

auth_patterns = [
    path("deconnexion/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "mot-de-passe/oubli/",
        auth_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "mot-de-passe/oubli/envoye/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "mot-de-passe/nouveau/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "mot-de-passe/nouveau/fait/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "mot-de-passe/changer/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "mot-de-passe/changer/fait/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("", collectivites_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("csp-report/", csp_report, name="csp_report"),
    path("langue/", set_language, name="set_language"),
    path(
        "invitation/<str:token>/", collectivites_views.invitation_accept, name="invitation_accept"
    ),
    path("comptes/connexion/retour/", connection_views.oauth_callback, name="oauth_callback"),
    path("medias/p/<str:token>/", publishing_views.media_public, name="media_public"),
    path("webhooks/meta/", monitoring_views.meta_webhook, name="webhook_meta"),
    path("service/reponse/<str:token>/", monitoring_views.service_answer, name="service_answer"),
    path("c/<slug:collectivite_slug>/parametres/", include("access.tenant_urls")),
    path("c/<slug:collectivite_slug>/", include("collectivites.urls")),
    path("bac-a-sable/<str:external_id>/", networks_views.sandbox_post, name="sandbox_post"),
    path("api/v1/", include("config.api_urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # the split view serves its start-up code as a script file: no inline script (CSP)
    path(
        "api/v1/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema"),
        name="api_docs",
    ),
    path("admin/", admin.site.urls),
    # login (password, then the 2FA code), re-authentication, one's own security
    path("", include("access.urls")),
    *auth_patterns,
]
