"""The audit trail's pages, under ``/c/<collectivite_slug>/journal/``."""

from django.urls import path

from audit import views

urlpatterns = [
    path("", views.journal, name="audit_journal"),
    path("export.csv", views.journal_csv, name="audit_journal_csv"),
]
