"""Collection into the inbox (nothing twice, nothing lost), and working through it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from collectivites.permissions import Role
from monitoring import services
from monitoring.models import CollectionState, InboxItem, Reply
from networks.adapters.sandbox import SandboxAdapter, inject_fault
from networks.base import Account, PostContent
from networks.models import SandboxItem
from tests import factories

pytestmark = pytest.mark.django_db


def publish_on_sandbox(account: Any, text: str = "La piscine rouvre lundi.") -> str:
    ref = Account(
        network="sandbox",
        external_id=account.external_id,
        handle=account.handle,
        credentials=account.credentials,
    )
    return SandboxAdapter().publish(ref, PostContent(text=text, idempotency_key=text)).external_id


def later(minutes: int) -> Any:
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_collection_stores_each_item_once_with_its_labels(
    world: Any, account: Any, freezer: Any
) -> None:
    post_id = publish_on_sandbox(account)
    variant = factories.VariantFactory(
        publication__collectivite=world.a, account=account, state="published", external_id=post_id
    )
    freezer.move_to(later(200))
    found = services.collect_account(account=account)
    expected = SandboxItem.objects.filter(
        account_external_id=account.external_id, by_page=False
    ).count()
    assert found == expected > 0
    assert services.collect_account(account=account) == 0  # nothing twice
    items = InboxItem.objects.for_collectivite(world.a)
    assert items.count() == expected
    comment = items.filter(kind="comment").first()
    assert comment.variant == variant and comment.citizen.display_name
    assert all(isinstance(i.labels, list) for i in items)
    state = CollectionState.objects.for_collectivite(world.a).get(account=account)
    assert state.cursor and state.last_count == 0 and state.next_run_at > timezone.now()


def test_a_failure_loses_nothing_and_the_cursor_stays(
    world: Any, account: Any, freezer: Any
) -> None:
    publish_on_sandbox(account)
    freezer.move_to(later(200))
    inject_fault(account.external_id, "transient", operation="fetch_inbox")
    assert services.collect_account(account=account) == 0
    state = CollectionState.objects.for_collectivite(world.a).get(account=account)
    assert state.cursor == "" and "Transient" in state.last_error
    assert services.collect_account(account=account) > 0


def test_collect_due_claims_each_account_once(world: Any, account: Any) -> None:
    claimed = services.collect_due()
    assert claimed == [(world.a.pk, account.pk)]
    assert services.collect_due() == []  # leased until the task runs


def test_reply_goes_to_the_network_and_counts_first_response(
    world: Any, account: Any, freezer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).filter(kind="comment").first()
    with django_capture_on_commit_callbacks(execute=True):
        services.reply_create(
            actor=world.members[Role.MODERATEUR], item=item, text="Bonjour, c'est noté."
        )
    reply = Reply.objects.for_collectivite(world.a).get()
    assert reply.state == Reply.State.SENT and reply.external_id
    item.refresh_from_db()
    assert item.status == InboxItem.Status.REPONDU and item.first_response_at
    assert SandboxItem.objects.filter(by_page=True, text="Bonjour, c'est noté.").exists()


def test_hide_on_the_network(world: Any, account: Any, freezer: Any) -> None:
    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).filter(kind="comment").first()
    services.item_hide(actor=world.members[Role.MODERATEUR], item=item)
    assert SandboxItem.objects.get(external_id=item.external_id).hidden
    item.refresh_from_db()
    assert item.status == InboxItem.Status.MASQUE


def test_inbox_pages(world: Any, account: Any, freezer: Any) -> None:
    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).first()
    moderator = world.client(world.members[Role.MODERATEUR])
    page = moderator.get(f"/c/{world.a.slug}/boite/").content.decode()
    assert item.citizen.display_name in page
    detail = moderator.get(f"/c/{world.a.slug}/boite/{item.pk}/").content.decode()
    assert "Pourquoi ces étiquettes" in detail
    assert (
        world.client(world.members[Role.LECTEUR]).get(f"/c/{world.a.slug}/boite/").status_code
        == 403
    )
    assert (
        world.client(world.outsider).get(f"/c/{world.a.slug}/boite/{item.pk}/").status_code == 404
    )


def test_saved_reply_fills_the_citizen_s_first_name(world: Any, account: Any, freezer: Any) -> None:
    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).first()
    saved = services.saved_reply_save(
        actor=world.members[Role.VALIDATEUR],
        collectivite=world.a,
        data={
            "title": "Horaires",
            "text": "Bonjour {prenom}, la piscine ouvre à 9 h.",
            "theme": "Sports",
        },
    )
    first = item.citizen.display_name.split()[0]
    assert services.fill_saved_reply(saved, item) == f"Bonjour {first}, la piscine ouvre à 9 h."
    page = world.client(world.members[Role.MODERATEUR]).get(
        f"/c/{world.a.slug}/boite/{item.pk}/?modele={saved.pk}"
    )
    assert f"Bonjour {first}, la piscine ouvre à 9 h." in page.content.decode()


def test_the_charter_hides_what_it_forbids(world: Any, account: Any, freezer: Any) -> None:
    factories.ModerationCharterFactory(collectivite=world.a, hide_insults=True, hide_spam=True)
    publish_on_sandbox(account)
    comments = SandboxItem.objects.filter(
        account_external_id=account.external_id, parent__isnull=True, post__isnull=False
    )
    first, second = comments[0], comments[1]
    first.text = "Bande d'incapables, vous vous foutez de nous."
    first.save()
    second.text = "Bonjour, la piscine ouvre à quelle heure samedi ?"
    second.save()
    freezer.move_to(later(200))
    services.collect_account(account=account)
    hidden = services.charter_apply(
        account=account, external_ids=[first.external_id, second.external_id]
    )
    assert hidden == 1
    assert SandboxItem.objects.get(pk=first.pk).hidden
    assert not SandboxItem.objects.get(pk=second.pk).hidden
    item = InboxItem.objects.for_collectivite(world.a).get(external_id=first.external_id)
    assert item.status == InboxItem.Status.MASQUE and "insulte" in item.label_codes


def test_delete_on_the_network_keeps_the_record(world: Any, account: Any, freezer: Any) -> None:
    from unittest import mock

    from audit.models import AuditEvent
    from networks.adapters.sandbox import SandboxAdapter
    from networks.base import NotSupported

    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).filter(kind="comment").first()
    original = item.text
    moderator = world.client(world.members[Role.MODERATEUR])
    url = f"/c/{world.a.slug}/boite/{item.pk}/supprimer/"

    # Without the confirmation nothing happens.
    page = moderator.post(url, follow=True).content.decode()
    assert "Cochez la confirmation" in page
    assert not SandboxItem.objects.get(external_id=item.external_id).deleted

    # A network that does not allow it: a French message, nothing changed.
    refusal = NotSupported("sandbox: deleting is not offered", network="sandbox")
    with mock.patch.object(SandboxAdapter, "delete", side_effect=refusal):
        page = moderator.post(url, {"confirmer": "oui"}, follow=True).content.decode()
    assert "ne permet pas de supprimer ce message" in page
    item.refresh_from_db()
    assert item.status != InboxItem.Status.SUPPRIME

    page = moderator.post(url, {"confirmer": "oui"}, follow=True).content.decode()
    assert "Message supprimé du réseau" in page
    assert SandboxItem.objects.get(external_id=item.external_id).deleted
    item.refresh_from_db()
    assert item.status == InboxItem.Status.SUPPRIME and item.text == original
    events = AuditEvent.objects.for_collectivite(world.a).filter(action="inbox.deleted")
    assert events.count() == 1 and events.get().actor == world.members[Role.MODERATEUR]
    assert original not in str(events.get().after)  # the trail does not copy the text

    # Twice is refused; the API says so in French too; a reader may not.
    api = world.client(world.members[Role.MODERATEUR])
    response = api.post(f"/api/v1/c/{world.a.slug}/inbox/{item.pk}/delete-on-network/")
    assert response.status_code == 400 and "déjà supprimé" in response.content.decode()
    assert (
        world.client(world.members[Role.LECTEUR]).post(url, {"confirmer": "oui"}).status_code == 403
    )


def test_an_edited_comment_is_triaged_again_and_keeps_its_first_text(
    world: Any, account: Any, freezer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from audit.models import Action, AuditEvent
    from networks.adapters.sandbox import citizen_edits

    factories.ModerationCharterFactory(collectivite=world.a, hide_insults=True)
    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).filter(kind="comment").first()
    first_text = item.text
    freezer.move_to(later(260))
    citizen_edits(item.external_id, "Bande d'incapables, vous vous foutez de nous depuis des mois.")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.collect_account(account=account) == 0  # nothing new, one edit
    item.refresh_from_db()
    assert item.text == "Bande d'incapables, vous vous foutez de nous depuis des mois."
    assert [r["text"] for r in item.revisions] == [first_text]
    assert item.edited_at is not None
    assert "insulte" in item.label_codes
    # the charter applies to the new text as to a new message
    assert item.status == InboxItem.Status.MASQUE
    assert SandboxItem.objects.get(external_id=item.external_id).hidden
    assert AuditEvent.objects.filter(
        collectivite=world.a, action=Action.ITEM_EDITED_BY_AUTHOR, object_id=str(item.pk)
    ).exists()
    # collected again: nothing changes twice
    assert services.collect_account(account=account) == 0
    item.refresh_from_db()
    assert len(item.revisions) == 1
    html = (
        world.client(world.members[Role.MODERATEUR])
        .get(f"/c/{world.a.slug}/boite/{item.pk}/")
        .content.decode()
    )
    assert "Modifié par son auteur" in html and "Version précédente" in html
    api = (
        world.client(world.members[Role.MODERATEUR])
        .get(f"/api/v1/c/{world.a.slug}/inbox/{item.pk}/")
        .json()
    )
    assert api["revisions"][0]["text"] == first_text and api["edited_at"]


def test_a_removed_comment_is_closed_and_kept_for_the_record(
    world: Any, account: Any, freezer: Any
) -> None:
    from networks.adapters.sandbox import citizen_removes

    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_account(account=account)
    open_item, answered = InboxItem.objects.for_collectivite(world.a).order_by("pk")[:2]
    InboxItem.objects.for_collectivite(world.a).filter(pk=answered.pk).update(
        status=InboxItem.Status.REPONDU
    )
    freezer.move_to(later(260))
    citizen_removes(open_item.external_id)
    citizen_removes(answered.external_id)
    services.collect_account(account=account)
    open_item.refresh_from_db()
    answered.refresh_from_db()
    assert open_item.removed_at and open_item.status == InboxItem.Status.CLOS
    assert open_item.text  # what was collected stays
    assert answered.removed_at and answered.status == InboxItem.Status.REPONDU
    page = world.client(world.members[Role.MODERATEUR]).get(
        f"/c/{world.a.slug}/boite/{open_item.pk}/"
    )
    html = page.content.decode()
    assert "Retiré du réseau par son auteur" in html
    assert 'id="reply-text"' not in html  # nothing left to answer
    with pytest.raises(ValidationError):
        services.reply_create(actor=world.members[Role.MODERATEUR], item=open_item, text="Bonjour")
    # a message never collected and already removed is not stored at all
    total = InboxItem.objects.for_collectivite(world.a).count()
    assert services.collect_account(account=account) == 0
    assert InboxItem.objects.for_collectivite(world.a).count() == total


def test_our_own_deletion_is_not_taken_for_the_author_s(
    world: Any, account: Any, freezer: Any
) -> None:
    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).filter(kind="comment").first()
    services.item_delete(actor=world.members[Role.MODERATEUR], item=item)
    services.collect_account(account=account)
    item.refresh_from_db()
    assert item.status == InboxItem.Status.SUPPRIME and item.removed_at is None


def test_a_quiet_account_is_collected_less_and_less_often(
    world: Any, account: Any, freezer: Any
) -> None:
    """2, 5, 10 then 15 minutes between runs while nothing comes, whatever the lease the
    scheduler's claim puts on the account meanwhile; at once again when something comes."""
    waits = []
    for _run in range(5):
        (claimed,) = services.collect_due()  # the claim leases the account for 5 minutes
        services.collect_account(account=account)
        state = CollectionState.objects.for_collectivite(world.a).get(account=account)
        waits.append(round((state.next_run_at - state.last_run_at).total_seconds() / 60))
        freezer.move_to(state.next_run_at + dt.timedelta(seconds=20))  # the next beat tick
    assert waits == [2, 5, 10, 15, 15]
    publish_on_sandbox(account)
    freezer.move_to(later(200))
    services.collect_due()
    assert services.collect_account(account=account) > 0
    state = CollectionState.objects.for_collectivite(world.a).get(account=account)
    assert state.next_run_at - state.last_run_at == services.ACTIVE_INTERVAL
