"""``/api/v1/``. Tenant routes live under ``c/<collectivite_slug>/``."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from access import api as access_api
from audit import api as audit_api
from collectivites import api as collectivites_api
from monitoring import api as monitoring_api
from publishing import api as publishing_api
from reporting import api as reporting_api
from reporting import export_api as reporting_export_api

root = SimpleRouter(trailing_slash=True)
root.register("collectivites", collectivites_api.CollectiviteViewSet, basename="collectivite")
root.register("tokens", access_api.PersonalTokenViewSet, basename="personal-token")

tenant = SimpleRouter(trailing_slash=True)
tenant.register("accounts", collectivites_api.SocialAccountViewSet, basename="account")
tenant.register(
    "editorial-lines", collectivites_api.EditorialLineViewSet, basename="editorial-line"
)
tenant.register("audiences", collectivites_api.AudienceViewSet, basename="audience")
tenant.register(
    "election-periods", collectivites_api.ElectionPeriodViewSet, basename="election-period"
)
tenant.register("members", collectivites_api.MemberViewSet, basename="member")
tenant.register("invitations", collectivites_api.InvitationViewSet, basename="invitation")
tenant.register("notifications", collectivites_api.NotificationViewSet, basename="notification")
tenant.register("networks", collectivites_api.NetworkViewSet, basename="network")
tenant.register("publications", publishing_api.PublicationViewSet, basename="publication")
tenant.register("variants", publishing_api.VariantViewSet, basename="variant")
tenant.register("media", publishing_api.MediaAssetViewSet, basename="media")
tenant.register("inbox", monitoring_api.InboxItemViewSet, basename="inbox-item")
tenant.register("saved-replies", monitoring_api.SavedReplyViewSet, basename="saved-reply")
tenant.register("pending-replies", monitoring_api.PendingReplyViewSet, basename="pending-reply")
tenant.register("api-keys", access_api.ApiKeyViewSet, basename="api-key")
tenant.register("audit-events", audit_api.AuditEventViewSet, basename="audit-event")
tenant.register("watches", monitoring_api.WatchViewSet, basename="watch")
tenant.register("watch-alerts", monitoring_api.WatchAlertViewSet, basename="watch-alert")
tenant.register("services", monitoring_api.ServiceViewSet, basename="service")
tenant.register("reporting", reporting_api.ReportingViewSet, basename="reporting")

charter = collectivites_api.ModerationCharterViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update"}
)

app_name = "api"
urlpatterns = [
    *root.urls,
    path("c/<slug:collectivite_slug>/charter/", charter, name="charter"),
    path(
        "c/<slug:collectivite_slug>/reports/pdf/",
        reporting_export_api.ReportPdfView.as_view(),
        name="report-pdf",
    ),
    path(
        "c/<slug:collectivite_slug>/reports/csv/<slug:table>/",
        reporting_export_api.ReportCsvView.as_view(),
        name="report-csv",
    ),
    path("c/<slug:collectivite_slug>/", include(tenant.urls)),
]
