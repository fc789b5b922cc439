"""The charter's rules beyond hiding: words that always escalate, a delay target per
network, and the members whose replies go through a validateur first."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import Action, AuditEvent
from collectivites.models import ModerationCharter, Notification
from collectivites.permissions import Role
from monitoring import services
from monitoring.models import InboxItem, Reply
from networks.adapters.sandbox import SandboxAdapter
from networks.base import Account, PostContent
from networks.models import SandboxItem
from tests import factories

pytestmark = pytest.mark.django_db


def comments_saying(account: Any, *texts: str) -> list[Any]:
    """Publish on the sandbox, let its citizens comment, and put ``texts`` in their mouths;
    the comments are visible at once."""
    ref = Account(
        network="sandbox",
        external_id=account.external_id,
        handle=account.handle,
        credentials=account.credentials,
    )
    post = SandboxAdapter().publish(
        ref, PostContent(text="Travaux rue Haute.", idempotency_key=uuid.uuid4().hex)
    )
    comments = list(
        SandboxItem.objects.filter(
            account_external_id=account.external_id,
            parent__isnull=True,
            post__external_id=post.external_id,
        ).order_by("pk")
    )
    for n in range(len(comments), len(texts)):  # the simulation wrote fewer than asked
        comments.append(
            SandboxItem.objects.create(
                account_external_id=account.external_id,
                post=comments[0].post,
                kind=SandboxItem.Kind.COMMENT,
                author_id=f"habitant-{n}",
                author_handle=f"@habitant{n}",
                author_name=f"Habitant {n}",
                text="",
            )
        )
    visible = timezone.now() - dt.timedelta(minutes=1)
    for comment, text in zip(comments, texts, strict=False):
        comment.text = text
        comment.save()
    SandboxItem.objects.filter(post__external_id=post.external_id).update(
        created_at=visible, changed_at=visible
    )
    return comments[: len(texts)]


def test_a_charter_keyword_always_escalates(
    world: Any, account: Any, django_capture_on_commit_callbacks: Any
) -> None:
    factories.ModerationCharterFactory(
        collectivite=world.a, escalation_keywords="fuite de gaz\nÉcole Jean-Moulin\n"
    )
    hit, miss = comments_saying(
        account,
        "Ça sent la FUITE DE GAZ devant l'ecole jean-moulin, merci de regarder",
        "Merci pour les travaux, c'est plus joli",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.collect_account(account=account)
    items = InboxItem.objects.for_collectivite(world.a)
    escalated = items.get(external_id=hit.external_id)
    urgent = next(label for label in escalated.labels if label["code"] == "urgent")
    assert 'mot-clé de la charte : "fuite de gaz"' in urgent["reasons"]
    assert 'mot-clé de la charte : "École Jean-Moulin"' in urgent["reasons"]
    assert escalated.priority == max(i.priority for i in items) and escalated.needs_answer
    assert "urgent" not in items.get(external_id=miss.external_id).label_codes
    # the moderators are told, as for any urgent message
    moderator = world.members[Role.MODERATEUR]
    told = Notification.objects.for_collectivite(world.a).filter(user=moderator)
    assert any("FUITE DE GAZ" in n.message for n in told)
    assert not any("plus joli" in n.message for n in told)
    # the page shows why, in the reader's language
    page = world.client(moderator).get(f"/c/{world.a.slug}/boite/{escalated.pk}/")
    assert "mot-clé de la charte" in page.content.decode()


def test_a_word_inside_another_does_not_escalate(world: Any, account: Any) -> None:
    factories.ModerationCharterFactory(collectivite=world.a, escalation_keywords="gaz")
    (said,) = comments_saying(account, "Le gazon du parc est très beau")
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).get(external_id=said.external_id)
    assert "urgent" not in item.label_codes


def test_the_delay_target_of_the_network(world: Any, account: Any, freezer: Any) -> None:
    # Monday 10:00 in Paris: the general target (24 business hours) would fall days
    # later; the sandbox's own (2 hours) at 12:00 the same day.
    freezer.move_to("2026-11-23 09:00:00+00:00")
    factories.ModerationCharterFactory(
        collectivite=world.a, response_target_hours=24, response_targets={"sandbox": 2}
    )
    (said,) = comments_saying(account, "Bonjour, la piscine ouvre à quelle heure samedi ?")
    services.collect_account(account=account)
    item = InboxItem.objects.for_collectivite(world.a).get(external_id=said.external_id)
    assert item.needs_answer
    assert services.response_hours(world.a, "sandbox").target_hours == 2
    assert services.response_hours(world.a, "facebook").target_hours == 24
    assert item.due_at - item.created_at == dt.timedelta(hours=2)


@pytest.fixture
def collected(world: Any, account: Any) -> InboxItem:
    (said,) = comments_saying(account, "Bonjour, la piscine ouvre à quelle heure samedi ?")
    services.collect_account(account=account)
    return InboxItem.objects.for_collectivite(world.a).get(external_id=said.external_id)


def test_a_named_member_s_reply_waits_for_a_validateur(
    world: Any, collected: InboxItem, django_capture_on_commit_callbacks: Any
) -> None:
    moderator = world.members[Role.MODERATEUR]
    validateur = world.members[Role.VALIDATEUR]
    charter = factories.ModerationCharterFactory(collectivite=world.a)
    charter.reply_approval_members.add(moderator)

    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_create(actor=moderator, item=collected, text="Bonjour, à 9h.")
    reply.refresh_from_db()
    assert reply.state == Reply.State.PENDING
    assert not SandboxItem.objects.filter(by_page=True, parent__isnull=False).exists()
    assert Notification.objects.for_collectivite(world.a).filter(user=validateur).exists()

    # the validateur sees it, corrects it and lets it go
    listing = world.client(validateur).get(f"/c/{world.a.slug}/boite/a-valider/")
    assert listing.status_code == 200 and "Bonjour, à 9h." in listing.content.decode()
    assert world.client(moderator).get(f"/c/{world.a.slug}/boite/a-valider/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client(validateur).post(
            f"/c/{world.a.slug}/boite/a-valider/{reply.pk}/valider/",
            {"text": "Bonjour, la piscine ouvre à 9 h samedi."},
        )
    assert response.status_code == 302
    reply.refresh_from_db()
    assert reply.state == Reply.State.SENT
    assert reply.original_text == "Bonjour, à 9h."
    assert reply.reviewed_by == validateur
    assert SandboxItem.objects.filter(
        by_page=True, text="Bonjour, la piscine ouvre à 9 h samedi."
    ).exists()
    collected.refresh_from_db()
    assert collected.status == InboxItem.Status.REPONDU
    assert AuditEvent.objects.filter(
        collectivite=world.a, action=Action.REPLY_APPROVED, object_id=str(reply.pk)
    ).exists()
    # decided once
    with pytest.raises(ValidationError):
        services.reply_approve(actor=validateur, reply=reply)


def test_a_refused_reply_stays_unsent_and_its_author_knows_why(
    world: Any, collected: InboxItem
) -> None:
    moderator = world.members[Role.MODERATEUR]
    validateur = world.members[Role.VALIDATEUR]
    factories.ModerationCharterFactory(collectivite=world.a).reply_approval_members.add(moderator)
    reply = services.reply_create(actor=moderator, item=collected, text="Voyez ça avec la CAF.")
    with pytest.raises(ValidationError):
        services.reply_refuse(actor=validateur, reply=reply, note=" ")
    api = world.client(validateur)
    url = f"/api/v1/c/{world.a.slug}/pending-replies/"
    assert [r["id"] for r in api.get(url).json()["results"]] == [reply.pk]
    refused = api.post(
        f"{url}{reply.pk}/refuse/", {"note": "Ce n'est pas de notre compétence, orientez."}
    )
    assert refused.status_code == 200 and refused.json()["state"] == "refused"
    assert api.get(url).json()["results"] == []
    reply.refresh_from_db()
    assert reply.state == Reply.State.REFUSED
    told = Notification.objects.for_collectivite(world.a).get(user=moderator)
    assert "orientez" in told.message
    assert world.client(moderator).get(url).status_code == 403


def test_members_not_named_reply_directly(world: Any, collected: InboxItem) -> None:
    factories.ModerationCharterFactory(collectivite=world.a)
    reply = services.reply_create(
        actor=world.members[Role.MODERATEUR], item=collected, text="Bonjour, à 9 h."
    )
    assert reply.state == Reply.State.SENDING


def test_the_charter_form_sets_the_new_rules(world: Any) -> None:
    admin = world.members[Role.ADMIN]
    moderator = world.members[Role.MODERATEUR]
    page = world.client(admin)
    url = f"/c/{world.a.slug}/charte/modifier/"
    form = {
        "public_text": "Soyez courtois.",
        "hide_insults": "on",
        "hide_spam": "on",
        "answer_questions": "on",
        "response_target_hours": "24",
        "business_hours_start": "09:00",
        "business_hours_end": "17:30",
        "escalation_keywords": "inondation\nfuite de gaz",
        "reply_approval_members": [str(moderator.pk)],
        "target_facebook": "4",
        "target_x": "",
    }
    bad = page.post(url, {**form, "target_x": "0"})
    assert bad.status_code == 200
    assert "supérieure ou égale à 1" in bad.content.decode()
    outsider = page.post(url, {**form, "reply_approval_members": [str(world.outsider.pk)]})
    assert outsider.status_code == 200  # not a member of A: not among the choices
    assert not ModerationCharter.objects.for_collectivite(world.a).exists()

    assert page.post(url, form).status_code == 302
    charter = ModerationCharter.objects.for_collectivite(world.a).get()
    assert charter.response_targets == {"facebook": 4}
    assert charter.escalation_terms() == ["inondation", "fuite de gaz"]
    assert list(charter.reply_approval_members.all()) == [moderator]
    shown = world.client(world.members[Role.LECTEUR]).get(f"/c/{world.a.slug}/charte/")
    html = shown.content.decode()
    assert "fuite de gaz" in html and "4 heures ouvrées" in html


def test_the_charter_api_refuses_a_bad_target(world: Any) -> None:
    api = world.client(world.members[Role.ADMIN])
    url = f"/api/v1/c/{world.a.slug}/charter/"
    bad = api.patch(url, {"response_targets": {"myspace": 3}}, content_type="application/json")
    assert bad.status_code == 400
    assert "délai entier entre 1 et 720" in str(bad.json())
    ok = api.patch(
        url,
        {"response_targets": {"mastodon": 48}, "escalation_keywords": "crue"},
        content_type="application/json",
    )
    assert ok.status_code == 200 and ok.json()["response_targets"] == {"mastodon": 48}
