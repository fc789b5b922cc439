"""Publishing pages, mounted under ``/c/<collectivite_slug>/publications/``."""

from django.urls import path

from publishing import views

urlpatterns = [
    path("", views.PublicationListView.as_view(), name="publications"),
    path("nouvelle/", views.ComposeView.as_view(), name="publication_compose"),
    path("verifier/", views.check_text, name="publication_check_text"),
    path("calendrier/", views.CalendarView.as_view(), name="calendar"),
    path("alerte/", views.alert_new, name="alert_new"),
    path("creneaux/", views.slots, name="slots"),
    path("pause/", views.crisis, name="crisis"),
    path("<int:pk>/fin-d-alerte/", views.alert_close, name="alert_close"),
    path("calendrier.ics", views.calendar_ics, name="calendar_ics"),
    path("<int:pk>/", views.PublicationDetailView.as_view(), name="publication_detail"),
    path("<int:pk>/soumettre/", views.publication_submit, name="publication_submit"),
    path("<int:pk>/valider/", views.publication_approve, name="publication_approve"),
    path("<int:pk>/renvoyer/", views.publication_send_back, name="publication_send_back"),
    path("<int:pk>/medias/", views.media_upload, name="media_upload"),
    path("<int:pk>/medias/<int:asset_pk>/", views.media_edit, name="media_edit"),
    path("<int:pk>/medias/<int:asset_pk>/retirer/", views.media_delete, name="media_delete"),
    path("medias/<int:asset_pk>/fichier/", views.media_file, name="media_file"),
    path(
        "<int:pk>/declinaisons/<int:variant_pk>/",
        views.variant_edit,
        name="variant_edit",
    ),
    path(
        "<int:pk>/declinaisons/<int:variant_pk>/file/",
        views.variant_queue,
        name="variant_queue",
    ),
    path(
        "<int:pk>/declinaisons/<int:variant_pk>/deplacer/",
        views.variant_move,
        name="variant_move",
    ),
    path(
        "<int:pk>/declinaisons/<int:variant_pk>/annuler/",
        views.variant_cancel,
        name="variant_cancel",
    ),
]
