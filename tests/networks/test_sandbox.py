"""The sandbox network: every adapter method, time passing, and each injected fault."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from networks.adapters.sandbox import (
    SandboxAdapter,
    SandboxConnector,
    clear_faults,
    inject_fault,
    revoke,
)
from networks.base import (
    Account,
    AuthExpired,
    ItemKind,
    ItemRef,
    Media,
    MediaKind,
    PostContent,
    RateLimited,
    Rejected,
    Transient,
)
from networks.models import SandboxItem, SandboxPost

pytestmark = pytest.mark.django_db

adapter = SandboxAdapter()


@pytest.fixture
def account() -> Account:
    (connectable,) = SandboxConnector().connect_with_form(
        {"handle": "@saintaubin", "display_name": "Ville"}
    )
    return Account(
        network="sandbox",
        external_id=connectable.external_id,
        handle=connectable.handle,
        credentials=dict(connectable.credentials),
    )


def content(text: str = "La piscine rouvre lundi 🏊", key: str = "var-1") -> PostContent:
    return PostContent(text=text, idempotency_key=key)


def later(minutes: int) -> Any:
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_publish_gives_a_permalink_inside_parvis(account: Account, client: Any) -> None:
    published = adapter.publish(account, content())
    assert published.external_id.startswith("sbp_")
    assert "/bac-a-sable/" in published.permalink
    page = client.get(published.permalink.split("127.0.0.1:8000", 1)[-1])
    assert "La piscine rouvre lundi" in page.content.decode()


def test_citizens_answer_over_the_following_minutes(account: Account, freezer: Any) -> None:
    adapter.publish(account, content())
    assert adapter.fetch_inbox(account, None).items == []
    freezer.move_to(later(50))
    page = adapter.fetch_inbox(account, None)
    assert page.items, "comments appear once their time has come"
    comments = [i for i in page.items if i.kind == ItemKind.COMMENT]
    assert all(c.post_external_id for c in comments)
    assert all(c.language == "fr" and c.created_at.tzinfo for c in page.items)
    replies = [i for i in page.items if i.kind == ItemKind.REPLY]
    for reply in replies:
        assert reply.parent_id and reply.root_id == reply.parent_id


def test_the_cursor_returns_nothing_twice_and_misses_nothing(
    account: Account, freezer: Any
) -> None:
    adapter.publish(account, content())
    seen: list[str] = []
    cursor = None
    for minutes in (5, 15, 30, 60, 200):
        freezer.move_to(later(minutes))
        page = adapter.fetch_inbox(account, cursor)
        seen += [i.external_id for i in page.items]
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    expected = SandboxItem.objects.filter(account_external_id=account.external_id, by_page=False)
    assert set(seen) == set(expected.values_list("external_id", flat=True))
    assert adapter.fetch_inbox(account, cursor).next_cursor == cursor


def test_reply_hide_unhide_delete(account: Account, freezer: Any) -> None:
    adapter.publish(account, content())
    freezer.move_to(later(60))
    item = next(i for i in adapter.fetch_inbox(account, None).items if i.kind == ItemKind.COMMENT)
    ref = ItemRef(external_id=item.external_id, kind=item.kind)
    answer = adapter.reply(account, ref, "Bonjour, réouverture lundi à 9 h.")
    assert answer.permalink.endswith(f"#{answer.external_id}")
    stored = SandboxItem.objects.get(external_id=answer.external_id)
    assert stored.by_page and stored.parent.external_id == item.external_id
    adapter.hide(account, ref)
    assert SandboxItem.objects.get(external_id=item.external_id).hidden
    adapter.unhide(account, ref)
    assert not SandboxItem.objects.get(external_id=item.external_id).hidden
    adapter.delete(account, ref)
    with pytest.raises(Rejected) as exc:
        adapter.reply(account, ref, "trop tard")
    assert "n'existe plus" in exc.value.reason


def test_our_own_replies_are_not_inbox_items(account: Account, freezer: Any) -> None:
    adapter.publish(account, content())
    freezer.move_to(later(60))
    page = adapter.fetch_inbox(account, None)
    first = page.items[0]
    adapter.reply(account, ItemRef(external_id=first.external_id, kind=first.kind), "Merci !")
    again = adapter.fetch_inbox(account, page.next_cursor)
    assert all(i.author.external_id != account.external_id for i in again.items)


def test_metrics_grow_with_age_and_say_what_is_not_provided(account: Account, freezer: Any) -> None:
    published = adapter.publish(account, content())
    freezer.move_to(later(60))
    early = adapter.fetch_post_metrics(account, [published.external_id])[0]
    freezer.move_to(later(60 * 30))
    late = adapter.fetch_post_metrics(account, [published.external_id])[0]
    assert late.impressions >= early.impressions
    assert late.saves is None and late.video_views is None
    assert (
        late.comments
        == SandboxItem.objects.filter(
            post__external_id=published.external_id, by_page=False
        ).count()
    )
    metrics = adapter.fetch_account_metrics(account, dt.date(2026, 11, 22))
    assert metrics.followers and metrics.followers > 0


def test_search_finds_what_citizens_said(account: Account, freezer: Any) -> None:
    for n in range(3):
        adapter.publish(account, content(f"Post {n}", key=f"k{n}"))
    freezer.move_to(later(300))
    page = adapter.search(account, "merci", None)
    assert all("merci" in i.text.lower() for i in page.items)


def test_limits_are_enforced_with_a_french_reason(account: Account) -> None:
    with pytest.raises(Rejected) as exc:
        adapter.publish(account, content("x" * 5001))
    assert "5001 caractères" in exc.value.reason
    image = Media(kind=MediaKind.IMAGE, data=b"x", mime_type="image/tiff", filename="plan.tif")
    with pytest.raises(Rejected) as exc:
        adapter.publish(account, PostContent(text="Plan", idempotency_key="k", media=(image,)))
    assert "image/tiff" in exc.value.reason


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        ("transient", Transient),
        ("rate_limited", RateLimited),
        ("auth_expired", AuthExpired),
        ("rejected", Rejected),
        ("timeout", Transient),
    ],
)
def test_injected_fault_on_the_next_call(account: Account, error: str, raised: type) -> None:
    inject_fault(account.external_id, error, operation="publish")
    with pytest.raises(raised):
        adapter.publish(account, content())
    assert SandboxPost.objects.count() == 0
    adapter.publish(account, content())  # the fault was for one call only
    assert SandboxPost.objects.count() == 1


def test_rate_limited_says_when_to_come_back(account: Account) -> None:
    inject_fault(account.external_id, "rate_limited")
    with pytest.raises(RateLimited) as exc:
        adapter.fetch_inbox(account, None)
    assert exc.value.retry_after == 30.0


def test_lost_answer_then_find_published_avoids_a_second_post(account: Account) -> None:
    inject_fault(account.external_id, "transient", operation="publish", lost_answer=True)
    since = timezone.now() - dt.timedelta(seconds=1)
    with pytest.raises(Transient):
        adapter.publish(account, content(key="var-42"))
    found = adapter.find_published(account, content(key="var-42"), since)
    assert found is not None and SandboxPost.objects.count() == 1
    assert adapter.find_published(account, content("Autre texte", key="other"), since) is None


def test_probability_one_fails_every_time_until_cleared(account: Account) -> None:
    inject_fault(account.external_id, "transient", probability=1.0)
    for _ in range(3):
        with pytest.raises(Transient):
            adapter.fetch_inbox(account, None)
    clear_faults(account.external_id)
    adapter.fetch_inbox(account, None)


def test_revoked_token_until_reconnected(account: Account) -> None:
    revoke(account.external_id)
    with pytest.raises(AuthExpired):
        adapter.fetch_account_metrics(account, dt.date(2026, 11, 1))
    SandboxConnector().connect_with_form({"handle": account.handle, "display_name": "Ville"})
    adapter.fetch_account_metrics(account, dt.date(2026, 11, 1))


def test_no_token_no_access() -> None:
    with pytest.raises(AuthExpired):
        adapter.fetch_inbox(Account(network="sandbox", external_id="sba_x"), None)


def test_connector_refuses_a_short_handle() -> None:
    with pytest.raises(Rejected):
        SandboxConnector().connect_with_form({"handle": "@", "display_name": ""})
