"""Networks that only answer polls (Instagram, LinkedIn) tell a removal by leaving the comment
out of the post's listing: collection compares what it stored with ``Page.listed``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from audit.models import Action, AuditEvent
from monitoring import services
from monitoring.models import InboxItem
from networks.base import Author, InboxEntry, ItemKind, Page

pytestmark = pytest.mark.django_db
Status = InboxItem.Status


def comment(external_id: str, post: str, text: str, **kw: Any) -> InboxEntry:
    return InboxEntry(
        kind=kw.pop("kind", ItemKind.COMMENT),
        external_id=external_id,
        author=Author(external_id=f"author-{external_id}", handle=f"@{external_id}"),
        text=text,
        created_at=timezone.now() - dt.timedelta(hours=1),
        post_external_id=post,
        **kw,
    )


def collect(account: Any, page: Page[InboxEntry]) -> int:
    """One collection run whose network answers ``page`` (and the rest as the sandbox)."""
    from networks.adapters.sandbox import SandboxAdapter

    class Network(SandboxAdapter):
        def fetch_inbox(self, ref: Any, cursor: str | None) -> Page[InboxEntry]:
            return page

    with mock.patch(
        "monitoring.services.call_network",
        side_effect=lambda a, operation: operation(Network(), None),
    ):
        return services.collect_account(account=account)


def stored(world: Any) -> dict[str, InboxItem]:
    return {i.external_id: i for i in InboxItem.objects.for_collectivite(world.a)}


def test_a_comment_the_network_no_longer_lists_is_marked_removed(world: Any, account: Any) -> None:
    first = [
        comment("a", "post-1", "Quand rouvre la piscine ?"),
        comment("b", "post-1", "Bande d'incapables"),
        comment("c", "post-1", "Le parking est-il gratuit ?"),
        comment("r", "post-1", "Moi aussi je me pose la question", kind=ItemKind.REPLY),
        comment("d", "post-2", "Merci pour l'info"),
    ]
    listed = {"post-1": frozenset({"a", "b", "c", "r", "ours"}), "post-2": frozenset({"d"})}
    assert collect(account, Page(items=first, next_cursor="1", listed=listed)) == 5
    items = stored(world)
    InboxItem.objects.for_collectivite(world.a).filter(pk=items["b"].pk).update(
        status=Status.MASQUE
    )  # hidden by us
    InboxItem.objects.for_collectivite(world.a).filter(pk=items["c"].pk).update(
        status=Status.REPONDU
    )

    # post-1 listed again without b (we hid it: a network may leave it out), c nor r;
    # post-2 not listed this time (not read to the end): d is not judged
    again = Page(items=[], next_cursor="2", listed={"post-1": frozenset({"a", "ours"})})
    collect(account, again)

    items = stored(world)
    assert items["a"].removed_at is None and items["a"].status == Status.NOUVEAU
    assert items["b"].removed_at is None and items["b"].status == Status.MASQUE
    assert items["c"].removed_at is not None and items["c"].status == Status.REPONDU
    assert items["r"].removed_at is not None and items["r"].status == Status.CLOS
    assert items["d"].removed_at is None
    assert items["c"].text == "Le parking est-il gratuit ?"  # kept for the record
    removals = AuditEvent.objects.filter(collectivite=world.a, action=Action.ITEM_REMOVED_BY_AUTHOR)
    assert sorted(removals.values_list("object_id", flat=True)) == sorted(
        [str(items["c"].pk), str(items["r"].pk)]
    )

    # the same listing again changes nothing and records nothing twice
    collect(account, again)
    assert removals.count() == 2


def test_a_listing_with_a_new_comment_stores_it_and_removes_nothing_else(
    world: Any, account: Any
) -> None:
    collect(
        account,
        Page(
            items=[comment("a", "post-1", "Bonjour")],
            next_cursor="1",
            listed={"post-1": frozenset({"a"})},
        ),
    )
    page = Page(
        items=[comment("e", "post-1", "Et le dimanche ?")],
        next_cursor="2",
        listed={"post-1": frozenset({"a", "e"})},
    )
    assert collect(account, page) == 1
    assert all(item.removed_at is None for item in stored(world).values())


def test_another_account_s_comments_are_never_judged(world: Any, account: Any) -> None:
    from tests import factories

    other = factories.SocialAccountFactory(collectivite=world.a, network="sandbox")
    collect(other, Page(items=[comment("z", "post-1", "Bonjour")], next_cursor="1"))
    collect(account, Page(items=[], next_cursor="1", listed={"post-1": frozenset()}))
    assert stored(world)["z"].removed_at is None


# --- networks asked which messages are gone (X, Mastodon, Bluesky: ``Adapter.gone``) ---------


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The sandbox made to answer ``gone`` as X, Mastodon and Bluesky do."""
    from networks.adapters.sandbox import SandboxAdapter

    state: dict[str, Any] = {"gone": set(), "calls": [], "fail": None}

    def gone(self: Any, account: Any, external_ids: list[str]) -> set[str]:
        state["calls"].append(list(external_ids))
        if state["fail"]:
            raise state["fail"]
        return state["gone"] & set(external_ids)

    monkeypatch.setattr(SandboxAdapter, "gone", gone, raising=False)
    return state


def test_a_message_the_network_says_is_gone_is_marked_removed(
    world: Any, account: Any, asked: dict[str, Any], freezer: Any
) -> None:
    from monitoring.models import CollectionState

    items = [
        dataclasses.replace(
            comment(name, "post-1", f"Question {name} ?"),
            created_at=timezone.now() - dt.timedelta(minutes=30 - k),
        )
        for k, name in enumerate(("a", "b", "c"))
    ]
    collect(account, Page(items=items, next_cursor="1"))
    assert asked["calls"] == [["c", "b", "a"]]  # newest first
    hidden = stored(world)["b"]
    InboxItem.objects.for_collectivite(world.a).filter(pk=hidden.pk).update(status=Status.MASQUE)

    asked["gone"] = {"a", "b"}
    collect(account, Page(items=[], next_cursor="2"))
    assert len(asked["calls"]) == 1  # not again within the hour
    freezer.tick(dt.timedelta(hours=1, minutes=1))
    collect(account, Page(items=[], next_cursor="2"))

    assert asked["calls"][-1] == ["c", "a"]  # what we hid is not asked about
    items = stored(world)
    assert items["a"].removed_at is not None and items["a"].status == Status.CLOS
    assert items["b"].removed_at is None and items["c"].removed_at is None
    assert AuditEvent.objects.filter(
        collectivite=world.a, action=Action.ITEM_REMOVED_BY_AUTHOR, object_id=str(items["a"].pk)
    ).exists()
    state = CollectionState.objects.for_collectivite(world.a).get(account=account)
    assert state.gone_checked_at is not None and state.last_error == ""


def test_a_failed_check_fails_nothing_and_is_tried_again(
    world: Any, account: Any, asked: dict[str, Any]
) -> None:
    from monitoring.models import CollectionState
    from networks.base import Transient

    asked["fail"] = Transient("Réseau indisponible", network="sandbox")
    assert collect(account, Page(items=[comment("a", "post-1", "Bonjour")], next_cursor="1")) == 1
    state = CollectionState.objects.for_collectivite(world.a).get(account=account)
    assert state.last_error == "" and state.gone_checked_at is None
    asked["fail"] = None
    collect(account, Page(items=[], next_cursor="1"))
    assert len(asked["calls"]) == 2


def test_a_network_that_cannot_tell_is_not_asked(world: Any, account: Any) -> None:
    from monitoring.models import CollectionState

    with mock.patch("monitoring.services.call_network") as network:
        network.return_value = Page(items=[comment("a", "post-1", "Bonjour")], next_cursor="1")
        services.collect_account(account=account)
    assert network.call_count == 1  # the page only
    state = CollectionState.objects.for_collectivite(world.a).get(account=account)
    assert state.gone_checked_at is None
