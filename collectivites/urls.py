"""Pages of one collectivité, mounted under ``/c/<collectivite_slug>/``."""

from django.urls import include, path

from collectivites import connection_views, views

urlpatterns = [
    path("", views.OverviewView.as_view(), name="collectivite_overview"),
    path("informations/", views.SettingsView.as_view(), name="collectivite_settings"),
    path("membres/", views.MemberListView.as_view(), name="members"),
    path("membres/inviter/", views.InviteView.as_view(), name="member_invite"),
    path("membres/<int:user_id>/roles/", views.MemberRolesView.as_view(), name="member_roles"),
    path("membres/<int:user_id>/retirer/", views.member_remove, name="member_remove"),
    path(
        "membres/invitations/<int:pk>/annuler/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("comptes/", views.AccountListView.as_view(), name="accounts"),
    path("comptes/ajouter/", views.AccountCreateView.as_view(), name="account_create"),
    path("comptes/connecter/", connection_views.ConnectView.as_view(), name="connect"),
    path(
        "comptes/connecter/choisir/<str:key>/",
        connection_views.connect_choose,
        name="connect_choose",
    ),
    path(
        "comptes/connecter/<str:network>/",
        connection_views.connect_network,
        name="connect_network",
    ),
    path("comptes/<int:pk>/verifier/", connection_views.account_verify, name="account_verify"),
    path(
        "comptes/<int:pk>/simuler-revocation/",
        connection_views.sandbox_revoke,
        name="sandbox_revoke",
    ),
    path("publications/", include("publishing.urls")),
    path("boite/", include("monitoring.urls")),
    path("journal/", include("audit.urls")),
    path("rapports/", include("reporting.urls")),
    path("notifications/", connection_views.NotificationsView.as_view(), name="notifications"),
    path("comptes/<int:pk>/modifier/", views.AccountUpdateView.as_view(), name="account_update"),
    path("comptes/<int:pk>/supprimer/", views.AccountDeleteView.as_view(), name="account_delete"),
    path("lignes-editoriales/", views.EditorialLineListView.as_view(), name="editorial_lines"),
    path(
        "lignes-editoriales/nouvelle/",
        views.EditorialLineCreateView.as_view(),
        name="editorial_line_create",
    ),
    path(
        "lignes-editoriales/<int:pk>/modifier/",
        views.EditorialLineUpdateView.as_view(),
        name="editorial_line_update",
    ),
    path(
        "lignes-editoriales/<int:pk>/supprimer/",
        views.EditorialLineDeleteView.as_view(),
        name="editorial_line_delete",
    ),
    path("publics/", views.AudienceListView.as_view(), name="audiences"),
    path("publics/nouveau/", views.AudienceCreateView.as_view(), name="audience_create"),
    path("publics/<int:pk>/modifier/", views.AudienceUpdateView.as_view(), name="audience_update"),
    path("publics/<int:pk>/supprimer/", views.AudienceDeleteView.as_view(), name="audience_delete"),
    path("charte/", views.CharterView.as_view(), name="charter"),
    path("charte/modifier/", views.CharterEditView.as_view(), name="charter_edit"),
    path("elections/", views.ElectionListView.as_view(), name="elections"),
    path("elections/nouvelle/", views.ElectionCreateView.as_view(), name="election_create"),
    path(
        "elections/<int:pk>/modifier/", views.ElectionUpdateView.as_view(), name="election_update"
    ),
    path(
        "elections/<int:pk>/supprimer/", views.ElectionDeleteView.as_view(), name="election_delete"
    ),
]
