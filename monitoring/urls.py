"""The inbox, mounted under ``/c/<collectivite_slug>/boite/``."""

from django.urls import path

from monitoring import views

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("par-lot/", views.inbox_bulk, name="inbox_bulk"),
    path("nouveaux/", views.inbox_news, name="inbox_news"),
    path("reponses-types/", views.saved_replies, name="saved_replies"),
    path("a-valider/", views.replies_pending, name="replies_pending"),
    path("a-valider/<int:pk>/valider/", views.reply_approve, name="reply_approve"),
    path("a-valider/<int:pk>/refuser/", views.reply_refuse, name="reply_refuse"),
    path("<int:pk>/", views.item_detail, name="inbox_item"),
    path("<int:pk>/repondre/", views.item_reply, name="inbox_reply"),
    path("<int:pk>/etat/", views.item_status, name="inbox_status"),
    path("<int:pk>/masquer/", views.item_hide, name="inbox_hide"),
    path("<int:pk>/supprimer/", views.item_delete, name="inbox_delete"),
    path("<int:pk>/mots-cles/", views.item_tags, name="inbox_tags"),
    path("mots-cles/", views.tags, name="tags"),
    path("mots-cles/nouveau/", views.tag_create, name="tag_create"),
    path("mots-cles/<int:pk>/renommer/", views.tag_update, name="tag_update"),
    path("mots-cles/<int:pk>/supprimer/", views.tag_delete, name="tag_delete"),
    path("veille/", views.WatchListView.as_view(), name="watches"),
    path("veille/nouvelle/", views.WatchCreateView.as_view(), name="watch_create"),
    path("veille/<int:pk>/", views.WatchDetailView.as_view(), name="watch_detail"),
    path("veille/<int:pk>/modifier/", views.WatchUpdateView.as_view(), name="watch_update"),
    path("veille/<int:pk>/supprimer/", views.WatchDeleteView.as_view(), name="watch_delete"),
    path("<int:pk>/service/", views.item_route, name="inbox_route"),
    path("<int:pk>/service/reponse/", views.item_service_answer, name="inbox_service_answer"),
    path("services/", views.ServiceListView.as_view(), name="services"),
    path("services/nouveau/", views.ServiceCreateView.as_view(), name="service_create"),
    path("services/<int:pk>/modifier/", views.ServiceUpdateView.as_view(), name="service_update"),
    path("services/<int:pk>/supprimer/", views.ServiceDeleteView.as_view(), name="service_delete"),
    path("conservation/", views.PolicyView.as_view(), name="monitoring_policy"),
    path("citoyens/<int:pk>/", views.citizen_detail, name="citizen"),
    path("citoyens/<int:pk>/notes/", views.citizen_notes, name="citizen_notes"),
    path("citoyens/<int:pk>/export/", views.citizen_export, name="citizen_export"),
    path("citoyens/<int:pk>/effacer/", views.citizen_erase, name="citizen_erase"),
]
