"""The reporting pages, mounted under ``/c/<collectivite_slug>/rapports/``."""

from django.urls import path

from reporting import import_views, views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="reporting_dashboard"),
    path("detail/", views.DetailView.as_view(), name="reporting_detail"),
    path("rapport.pdf", views.ReportPdfView.as_view(), name="reporting_pdf"),
    path("csv/<slug:table>.csv", views.TableCsvView.as_view(), name="reporting_csv"),
    path("destinataires/", views.RecipientsView.as_view(), name="reporting_recipients"),
    path("import/", import_views.WebAnalyticsImportView.as_view(), name="reporting_import"),
]
