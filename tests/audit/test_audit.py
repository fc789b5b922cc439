"""The audit trail: each consequential action leaves exactly one event, written in the
service's transaction; the table refuses UPDATE, DELETE and TRUNCATE; the purge is the
only way out; admins read, filter and export it, nobody else."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import services as audit
from audit.context import RequestMeta, using
from audit.models import Action, AuditEvent
from collectivites import connections
from collectivites import services as cservices
from collectivites.models import SocialAccount
from collectivites.permissions import Role
from monitoring import services as mservices
from monitoring.models import InboxItem, Reply
from networks.adapters.sandbox import SandboxAdapter, SandboxConnector
from networks.base import Account, PostContent
from publishing import alerts, delivery
from publishing import services as pservices
from publishing.models import Variant
from tests import factories

pytestmark = pytest.mark.django_db
S = Variant.State


def events(collectivite: Any = None) -> list[AuditEvent]:
    qs = (
        AuditEvent.objects.for_collectivite(collectivite)
        if collectivite is not None
        else AuditEvent.objects.dangerously_unscoped().filter(collectivite__isnull=True)
    )
    return list(qs.order_by("pk"))


def only_new(before: int, collectivite: Any) -> list[AuditEvent]:
    return [e for e in events(collectivite) if e.pk > before]


def last_pk() -> int:
    last = AuditEvent.objects.dangerously_unscoped().order_by("-pk").first()
    return last.pk if last else 0


def exactly_one(world: Any, action: Action, do: Callable[[], Any]) -> AuditEvent:
    start = last_pk()
    do()
    new = only_new(start, world.a)
    assert [e.action for e in new] == [action], [e.action for e in new]
    return new[0]


# --- members and settings --------------------------------------------------------------------


def test_members_invited_accepted_roles_changed_removed(world: Any, invite: Any) -> None:
    admin = world.members[Role.ADMIN]
    start = last_pk()
    invitation, token = invite(admin, world.a, "nouvelle@a.example", [Role.LECTEUR])
    (invited,) = only_new(start, world.a)
    assert invited.action == Action.INVITATION_CREATED
    assert invited.after == {"email": "nouvelle@a.example", "roles": [Role.LECTEUR]}
    assert invited.actor_id == admin.pk and admin.email in invited.actor_label

    newcomer = factories.UserFactory(email="nouvelle@a.example")
    accepted = exactly_one(
        world,
        Action.INVITATION_ACCEPTED,
        lambda: cservices.invitation_accept(token=token, user=newcomer),
    )
    assert accepted.actor_id == newcomer.pk

    changed = exactly_one(
        world,
        Action.ROLES_CHANGED,
        lambda: cservices.member_set_roles(
            actor=admin, collectivite=world.a, user_id=newcomer.pk, roles=[Role.MODERATEUR]
        ),
    )
    assert changed.before == {"roles": [Role.LECTEUR]}
    assert changed.after == {"roles": [Role.MODERATEUR]}
    assert changed.object_id == str(newcomer.pk) and "nouvelle@a.example" in changed.object_label

    removed = exactly_one(
        world,
        Action.MEMBER_REMOVED,
        lambda: cservices.member_remove(actor=admin, collectivite=world.a, user_id=newcomer.pk),
    )
    assert removed.before == {"roles": [Role.MODERATEUR]}

    other = factories.InvitationFactory(collectivite=world.a, email="x@a.example")
    exactly_one(
        world,
        Action.INVITATION_REVOKED,
        lambda: cservices.invitation_revoke(
            actor=admin, collectivite=world.a, invitation_id=other.pk
        ),
    )


def test_a_refused_action_leaves_no_event(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    start = last_pk()
    with pytest.raises(ValidationError):  # the last admin cannot leave
        cservices.member_remove(actor=admin, collectivite=world.a, user_id=admin.pk)
    assert only_new(start, world.a) == []
    # unchanged roles: nothing happened, nothing recorded
    cservices.member_set_roles(
        actor=admin, collectivite=world.a, user_id=admin.pk, roles=[Role.ADMIN]
    )
    assert only_new(start, world.a) == []


def test_settings_changes_record_before_and_after(world: Any, account: SocialAccount) -> None:
    admin = world.members[Role.ADMIN]
    event = exactly_one(
        world,
        Action.COLLECTIVITE_UPDATED,
        lambda: cservices.collectivite_update(
            actor=admin, collectivite=world.a, data={"population": 9100, "name": "Ville A"}
        ),
    )
    assert event.before == {"population": 8000, "name": "Ville A"}
    assert event.after == {"population": 9100, "name": "Ville A"}

    charter = exactly_one(
        world,
        Action.CHARTER_UPDATED,
        lambda: cservices.charter_save(
            actor=admin, collectivite=world.a, data={"hide_insults": True}
        ),
    )
    assert charter.before is None and charter.after == {"hide_insults": True}
    exactly_one(
        world,
        Action.EDITORIAL_LINE_SAVED,
        lambda: cservices.editorial_line_save(
            actor=admin, collectivite=world.a, data={"account": account, "tone": "Sobre"}
        ),
    )
    audience = factories.AudienceFactory(collectivite=world.a)
    exactly_one(
        world,
        Action.AUDIENCE_DELETED,
        lambda: cservices.audience_delete(actor=admin, collectivite=world.a, audience=audience),
    )
    period = factories.ElectionPeriodFactory(collectivite=world.a)
    exactly_one(
        world,
        Action.ELECTION_PERIOD_DELETED,
        lambda: cservices.election_period_delete(actor=admin, collectivite=world.a, period=period),
    )
    deleted = exactly_one(
        world,
        Action.ACCOUNT_DELETED,
        lambda: cservices.social_account_delete(actor=admin, collectivite=world.a, account=account),
    )
    assert deleted.before["handle"] == "@villea"


# --- accounts and credentials ------------------------------------------------------------------


def test_connecting_and_losing_an_account(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    candidates = SandboxConnector().connect_with_form({"handle": "@villea"})
    event = exactly_one(
        world,
        Action.ACCOUNT_CONNECTED,
        lambda: connections.connection_save(
            actor=admin, collectivite=world.a, network="sandbox", candidates=candidates
        ),
    )
    assert event.after == {"network": "sandbox", "handle": "@villea", "reconnected": False}
    assert "credentials" not in str(event.before) + str(event.after)
    account = SocialAccount.objects.for_collectivite(world.a).get()
    lost = exactly_one(
        world,
        Action.ACCOUNT_TO_RECONNECT,
        lambda: connections.social_account_mark_to_reconnect(account=account, reason="revoked"),
    )
    assert lost.actor_id is None and lost.actor_label == audit.SYSTEM_LABEL
    start = last_pk()
    connections.social_account_mark_to_reconnect(account=account, reason="again")
    assert only_new(start, world.a) == []  # already waiting: nothing happened


def test_credential_rotation_is_one_platform_event(world: Any, account: SocialAccount) -> None:
    start = last_pk()
    call_command("rotate_credentials", stdout=io.StringIO())
    new = [e for e in events() if e.pk > start]
    assert [e.action for e in new] == [Action.CREDENTIALS_ROTATED]
    assert new[0].collectivite_id is None and new[0].after == {"accounts": 1}
    assert only_new(start, world.a) == []


# --- publishing -----------------------------------------------------------------------------------


def test_submit_approve_with_election_ack_then_published_by_the_worker(
    world: Any, account: SocialAccount
) -> None:
    redacteur, validateur = world.members[Role.REDACTEUR], world.members[Role.VALIDATEUR]
    publication = pservices.publication_create(
        actor=redacteur,
        collectivite=world.a,
        title="Fête de la musique",
        text="La fête de la musique, c'est samedi place de la mairie.",
        account_ids=[account.pk],
        scheduled_at=timezone.now() + dt.timedelta(minutes=5),
    )
    exactly_one(
        world,
        Action.PUBLICATION_SUBMITTED,
        lambda: pservices.publication_submit(actor=redacteur, publication=publication),
    )
    start = last_pk()
    pservices.publication_approve(
        actor=validateur, publication=publication, comment="OK", acknowledge_election=True
    )
    approvals = only_new(start, world.a)
    assert [e.action for e in approvals] in (
        [Action.PUBLICATION_APPROVED],
        [Action.ELECTION_ACKNOWLEDGED, Action.PUBLICATION_APPROVED],
    )
    assert approvals[-1].after == {"approvals": 1, "steps": 1, "comment": "OK"}

    variant = Variant.objects.for_collectivite(world.a).get(publication=publication)
    Variant.objects.for_collectivite(world.a).filter(pk=variant.pk).update(
        scheduled_at=timezone.now() - dt.timedelta(seconds=1)
    )
    start = last_pk()
    for claim in delivery.dispatch_due():
        delivery.publish(
            collectivite_id=claim.collectivite_id,
            variant_id=claim.variant_id,
            lease_token=claim.lease_token,
        )
    (published,) = only_new(start, world.a)
    assert published.action == Action.VARIANT_PUBLISHED
    assert published.actor_id is None and "publication programmée" in published.actor_label
    assert published.after["approved_by"] == [audit.person_label(validateur)]
    assert published.after["external_id"] and published.object_id == str(variant.pk)


def test_election_acknowledgement_is_its_own_event(world: Any, account: SocialAccount) -> None:
    factories.ElectionPeriodFactory(
        collectivite=world.a,
        starts_on=timezone.localdate() - dt.timedelta(days=10),
        ends_on=timezone.localdate() + dt.timedelta(days=60),
        candidates="Jean Dupont",
    )
    publication = factories.PublicationFactory(collectivite=world.a)
    factories.VariantFactory(
        publication=publication,
        account=account,
        state=S.IN_REVIEW,
        text="Grâce au maire Jean Dupont, la nouvelle piscine est la meilleure de la région !",
    )
    start = last_pk()
    pservices.publication_approve(
        actor=world.members[Role.VALIDATEUR], publication=publication, acknowledge_election=True
    )
    assert [e.action for e in only_new(start, world.a)] == [
        Action.ELECTION_ACKNOWLEDGED,
        Action.PUBLICATION_APPROVED,
    ]


def test_send_back_and_cancel(world: Any, account: SocialAccount) -> None:
    variant = factories.VariantFactory(
        publication__collectivite=world.a, account=account, state=S.IN_REVIEW
    )
    sent_back = exactly_one(
        world,
        Action.PUBLICATION_SENT_BACK,
        lambda: pservices.publication_send_back(
            actor=world.members[Role.VALIDATEUR],
            publication=variant.publication,
            comment="Trop long",
        ),
    )
    assert sent_back.after == {"state": "draft", "comment": "Trop long"}
    variant.refresh_from_db()
    cancelled = exactly_one(
        world,
        Action.VARIANT_CANCELLED,
        lambda: pservices.variant_cancel(actor=world.members[Role.REDACTEUR], variant=variant),
    )
    assert cancelled.before == {"state": "draft"} and cancelled.after == {"state": "cancelled"}


def test_urgent_alert_update_close_and_crisis_pause(world: Any, account: SocialAccount) -> None:
    validateur = world.members[Role.VALIDATEUR]
    state: dict[str, Any] = {}

    def publish() -> None:
        state["alert"] = alerts.alert_publish(
            actor=validateur,
            collectivite=world.a,
            kind="meteo",
            title="Orages",
            text="Alerte orages ce soir.",
            account_ids=[account.pk],
        )

    alert_event = exactly_one(world, Action.ALERT_PUBLISHED, publish)
    assert alert_event.after["validation"] is False and alert_event.after["kind"] == "meteo"
    exactly_one(
        world,
        Action.ALERT_UPDATED,
        lambda: alerts.alert_update(actor=validateur, publication=state["alert"], text="Suite."),
    )
    closed = exactly_one(
        world,
        Action.ALERT_CLOSED,
        lambda: alerts.alert_close(actor=validateur, publication=state["alert"], text="Fin."),
    )
    assert closed.object_id == str(state["alert"].pk)
    exactly_one(
        world,
        Action.CRISIS_PAUSED,
        lambda: alerts.crisis_pause(actor=validateur, collectivite=world.a, reason="Inondation"),
    )
    exactly_one(
        world,
        Action.CRISIS_RESUMED,
        lambda: alerts.crisis_resume(actor=validateur, collectivite=world.a),
    )


# --- moderation -------------------------------------------------------------------------------


def _collected_comment(world: Any, account: SocialAccount, freezer: Any) -> InboxItem:
    ref = Account(
        network="sandbox",
        external_id=account.external_id,
        handle=account.handle,
        credentials=account.credentials,
    )
    SandboxAdapter().publish(ref, PostContent(text="La piscine rouvre.", idempotency_key="p1"))
    freezer.move_to(timezone.now() + dt.timedelta(minutes=200))
    mservices.collect_account(account=account)
    return InboxItem.objects.for_collectivite(world.a).filter(kind="comment").first()


def test_reply_hide_unhide_and_status(
    world: Any,
    account: SocialAccount,
    freezer: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    item = _collected_comment(world, account, freezer)
    moderateur = world.members[Role.MODERATEUR]
    start = last_pk()
    with django_capture_on_commit_callbacks(execute=True):
        mservices.reply_create(actor=moderateur, item=item, text="Bonjour, c'est noté.")
    (sent,) = only_new(start, world.a)
    assert sent.action == Action.REPLY_SENT and sent.actor_id == moderateur.pk
    assert sent.object_type == "monitoring.reply"
    assert sent.object_id == str(Reply.objects.for_collectivite(world.a).get().pk)

    item.refresh_from_db()
    hidden = exactly_one(
        world, Action.ITEM_HIDDEN, lambda: mservices.item_hide(actor=moderateur, item=item)
    )
    assert hidden.after == {"status": "masque"}
    assert item.citizen.display_name not in hidden.object_label  # no citizen's name
    exactly_one(
        world,
        Action.ITEM_UNHIDDEN,
        lambda: mservices.item_hide(actor=moderateur, item=item, hidden=False),
    )
    closed = exactly_one(
        world,
        Action.ITEM_STATUS_CHANGED,
        lambda: mservices.item_set_status(actor=moderateur, item=item, status="clos"),
    )
    assert closed.before == {"status": "nouveau"} and closed.after == {"status": "clos"}
    exactly_one(
        world,
        Action.SAVED_REPLY_SAVED,
        lambda: mservices.saved_reply_save(
            actor=world.members[Role.VALIDATEUR],
            collectivite=world.a,
            data={"title": "Horaires", "text": "Bonjour {prenom}.", "theme": "Sports"},
        ),
    )


def test_the_charter_s_auto_hide_is_recorded_as_the_charter(
    world: Any, account: SocialAccount, freezer: Any
) -> None:
    factories.ModerationCharterFactory(collectivite=world.a, hide_insults=True)
    item = _collected_comment(world, account, freezer)
    InboxItem.objects.for_collectivite(world.a).filter(pk=item.pk).update(
        labels=[{"code": "insulte", "score": 1.0, "reasons": ["test"]}], status="nouveau"
    )
    event = exactly_one(
        world,
        Action.CHARTER_AUTO_HIDDEN,
        lambda: mservices.charter_apply(account=account, external_ids=[item.external_id]),
    )
    assert event.actor_id is None and "charte" in event.actor_label
    assert event.after == {"status": "masque", "labels": ["insulte"]}


# --- the record itself -----------------------------------------------------------------------


def test_ip_and_user_agent_come_from_the_request(world: Any) -> None:
    admin = world.client(world.members[Role.ADMIN])
    admin.post(
        f"/c/{world.a.slug}/membres/inviter/",
        {"email": "ip@a.example", "roles": [Role.LECTEUR]},
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="Firefox/140 (mairie)",
    )
    (event,) = events(world.a)
    assert event.action == Action.INVITATION_CREATED
    assert event.ip_address == "203.0.113.7" and event.user_agent == "Firefox/140 (mairie)"


def test_secrets_never_reach_the_trail(world: Any) -> None:
    event = audit.record(
        collectivite=world.a,
        actor=None,
        action=Action.ACCOUNT_SAVED,
        after={
            "handle": "@a",
            "credentials": {"access_token": "s3cr3t"},
            "nested": [{"password": "p"}],
        },
        request_meta=RequestMeta("198.51.100.1", "x"),
    )
    assert "s3cr3t" not in str(event.after) and '"p"' not in str(event.after)
    assert event.after["credentials"] == "***" and event.after["handle"] == "@a"
    with pytest.raises(ValueError):
        audit.record(collectivite=world.a, actor=None, action="publication.everything")


def test_a_deleted_person_s_events_stay_readable(world: Any) -> None:
    user = factories.UserFactory(email="parti@a.example", first_name="Anne", last_name="Part")
    factories.MembershipFactory(collectivite=world.a, user=user, role=Role.ADMIN)
    with using(RequestMeta("192.0.2.1", "")):
        audit.record(collectivite=world.a, actor=user, action=Action.CHARTER_UPDATED)
    user.delete()
    (event,) = events(world.a)
    assert event.actor_id is not None and event.actor_label == "Anne Part <parti@a.example>"
    assert event.ip_address == "192.0.2.1"


# --- append-only ----------------------------------------------------------------------------------


def test_the_model_refuses_to_change_or_delete(world: Any) -> None:
    event = audit.record(collectivite=world.a, actor=None, action=Action.CHARTER_UPDATED)
    event.actor_label = "quelqu'un d'autre"
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET actor_label = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_the_database_refuses_update_delete_truncate(world: Any, sql: str) -> None:
    if connection.vendor != "postgresql" and sql.startswith("TRUNCATE"):
        pytest.skip("SQLite has no TRUNCATE")
    audit.record(collectivite=world.a, actor=None, action=Action.CHARTER_UPDATED)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert len(events(world.a)) == 1


def test_querysets_cannot_update_or_delete_either(world: Any) -> None:
    audit.record(collectivite=world.a, actor=None, action=Action.CHARTER_UPDATED)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.for_collectivite(world.a).update(actor_label="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.for_collectivite(world.a).delete()
    assert len(events(world.a)) == 1


def test_the_purge_removes_only_expired_events_and_records_itself(
    world: Any, settings: Any, freezer: Any
) -> None:
    settings.PARVIS_AUDIT_RETENTION_DAYS = 365
    audit.record(collectivite=world.a, actor=None, action=Action.CHARTER_UPDATED)
    freezer.move_to(timezone.now() + dt.timedelta(days=200))
    kept = audit.record(collectivite=world.a, actor=None, action=Action.AUDIENCE_SAVED)
    freezer.move_to(timezone.now() + dt.timedelta(days=200))
    assert audit.purge_expired() == 1
    assert [e.pk for e in events(world.a)] == [kept.pk]
    (purge,) = events()
    assert purge.action == Action.AUDIT_PURGED and purge.after["deleted"] == 1
    assert audit.purge_expired() == 0
    # the window closed with the purge: the trail is append-only again
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")


# --- reading it ------------------------------------------------------------------------------


def _seed(world: Any) -> None:
    admin, moderateur = world.members[Role.ADMIN], world.members[Role.MODERATEUR]
    audit.record(collectivite=world.a, actor=admin, action=Action.CHARTER_UPDATED)
    audit.record(
        collectivite=world.a,
        actor=moderateur,
        action=Action.ITEM_HIDDEN,
        object_type="monitoring.inboxitem",
        object_id=42,
        object_label="Commentaire sandbox #42",
    )
    audit.record(
        collectivite=world.b,
        actor=world.outsider,
        action=Action.CHARTER_UPDATED,
        object_label="secret-de-b",
    )


def test_journal_page_filters_and_paginates(world: Any) -> None:
    _seed(world)
    admin = world.client(world.members[Role.ADMIN])
    page = admin.get(f"/c/{world.a.slug}/journal/").content.decode()
    assert "Commentaire sandbox #42" in page and "secret-de-b" not in page
    moderateur = world.members[Role.MODERATEUR]
    only_hidden = admin.get(
        f"/c/{world.a.slug}/journal/", {"action": "inbox.hidden", "auteur": moderateur.pk}
    ).content.decode()
    assert (
        "Commentaire sandbox #42" in only_hidden
        and "Charte de modération modifiée" not in (only_hidden.split("<tbody>")[1])
    )
    text = admin.get(f"/c/{world.a.slug}/journal/", {"texte": "#42"}).content.decode()
    assert "Commentaire sandbox #42" in text
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    empty = admin.get(f"/c/{world.a.slug}/journal/", {"du": tomorrow}).content.decode()
    assert "Aucun événement ne correspond." in empty
    for i in range(60):
        audit.record(collectivite=world.a, actor=None, action=Action.AUDIENCE_SAVED, object_id=i)
    second = admin.get(f"/c/{world.a.slug}/journal/", {"page": 2}).content.decode()
    assert "Page 2 sur 2" in second
    assert world.client(moderateur).get(f"/c/{world.a.slug}/journal/").status_code == 403


def test_csv_export_in_french_and_recorded(world: Any) -> None:
    _seed(world)
    admin = world.client(world.members[Role.ADMIN])
    response = admin.get(f"/c/{world.a.slug}/journal/export.csv", {"action": "inbox.hidden"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == audit.CSV_HEADERS
    assert (
        len(rows) == 2
        and rows[1][2] == "Message masqué"
        and rows[1][6] == ("Commentaire sandbox #42")
    )
    assert "secret-de-b" not in body
    exported = events(world.a)[-1]
    assert exported.action == Action.AUDIT_EXPORTED and exported.after["rows"] == 1


def test_api_lists_and_filters_the_collectivite_s_events_only(world: Any) -> None:
    _seed(world)
    admin = world.client(world.members[Role.ADMIN])
    data = admin.get(f"/api/v1/c/{world.a.slug}/audit-events/").json()
    assert data["count"] == 2 and "secret-de-b" not in str(data)
    filtered = admin.get(
        f"/api/v1/c/{world.a.slug}/audit-events/", {"action": "inbox.hidden"}
    ).json()
    assert [r["object_id"] for r in filtered["results"]] == ["42"]
    assert filtered["results"][0]["action_label"] == "Message masqué"
    bad = admin.get(f"/api/v1/c/{world.a.slug}/audit-events/", {"du": "demain"})
    assert bad.status_code == 400
    event_b = AuditEvent.objects.for_collectivite(world.b).get()
    assert admin.get(f"/api/v1/c/{world.a.slug}/audit-events/{event_b.pk}/").status_code == 404
    for method in ("post", "put", "patch", "delete"):
        response = getattr(admin, method)(f"/api/v1/c/{world.a.slug}/audit-events/")
        assert response.status_code == 405
