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
    path("veille/", views.WatchListView.as_view(), name="watches"),
    path("veille/nouvelle/", views.WatchCreateView.as_view(), name="watch_create"),
    path("veille/<int:pk>/", views.WatchDetailView.as_view(), name="watch_detail"),
    path("veille/<int:pk>/modifier/", views.WatchUpdateView.as_view(), name="watch_update"),
    path("veille/<int:pk>/supprimer/", views.WatchDeleteView.as_view(), name="watch_delete"),
]
