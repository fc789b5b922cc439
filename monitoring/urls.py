"""The inbox, mounted under ``/c/<collectivite_slug>/boite/``."""

from django.urls import path

from monitoring import views

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("reponses-types/", views.saved_replies, name="saved_replies"),
    path("<int:pk>/", views.item_detail, name="inbox_item"),
    path("<int:pk>/repondre/", views.item_reply, name="inbox_reply"),
    path("<int:pk>/etat/", views.item_status, name="inbox_status"),
    path("<int:pk>/masquer/", views.item_hide, name="inbox_hide"),
]
