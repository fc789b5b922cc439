"""Contract tests for the Bluesky adapter and connector, HTTP faked at the transport (respx):
for each call, what goes out (XRPC path, method, bearer token, JSON body or query) and what
comes back (parsed result, or one of the five errors).

The payloads in tests/networks/payloads/bluesky/ are shaped as the official lexicons and HTTP
reference show them (github.com/bluesky-social/atproto/tree/main/lexicons, and
https://docs.bsky.app/docs/api/<nsid-with-dashes>):

- com.atproto.server.createSession / refreshSession: lexicons/com/atproto/server/*.json
  (accessJwt, refreshJwt, handle, did, didDoc, active); the DID document as the PLC
  directory serves it (https://web.plc.directory/api/redoc, service #atproto_pds).
- com.atproto.identity.resolveHandle: {did}.
- com.atproto.repo.uploadBlob: {blob: {$type: blob, ref: {$link}, mimeType, size}}.
- com.atproto.repo.createRecord / putRecord: {uri, cid, commit: {cid, rev}, validationStatus};
  deleteRecord: {commit}; getRecord: {uri, cid, value}.
- app.bsky.notification.listNotifications: {notifications: [{uri, cid, author, reason,
  reasonSubject, record, isRead, indexedAt, labels}], cursor, priority, seenAt}.
- app.bsky.feed.getPosts / searchPosts / getAuthorFeed: app.bsky.feed.defs#postView
  (likeCount, repostCount, replyCount, quoteCount, bookmarkCount) and #feedViewPost
  (reason #reasonRepost); app.bsky.actor.getProfile: #profileViewDetailed (followersCount).
- app.bsky.feed.threadgate record: {post, allow, createdAt, hiddenReplies}; the rkey is the
  root post's (lexicons/app/bsky/feed/threadgate.json).
- errors.json: XRPC error bodies {error, message} (https://atproto.com/specs/xrpc), with
  the names the lexicons declare (ExpiredToken, InvalidToken, AuthFactorTokenRequired,
  AccountTakedown, BlobTooLarge, RecordNotFound, InvalidSwap, RateLimitExceeded...).
- Rich text: byteStart/byteEnd count UTF-8 bytes
  (https://docs.bsky.app/docs/advanced-guides/post-richtext).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from networks.adapters import bluesky
from networks.adapters.bluesky import BlueskyAdapter, BlueskyConnector, build_facets
from networks.base import (
    Account,
    AuthExpired,
    ItemKind,
    ItemRef,
    Media,
    MediaKind,
    NetworkError,
    NotSupported,
    PostContent,
    RateLimited,
    Rejected,
    Transient,
)

# atproto's uploadBlob hands raw bytes to httpx as ``data=``, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

PAYLOADS = Path(__file__).parent / "payloads" / "bluesky"
NOW = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)

ME = "did:plc:4fmvbqp5kzhw2y7xqjx3nd6a"
HANDLE = "mairie-exemple.bsky.social"
PDS = "https://morel.us-east.host.bsky.network"
P1 = f"at://{ME}/app.bsky.feed.post/3lkaz3p7yvs2c"
P1_CID = "bafyreif2wq3khzxuf4bmaexlgjvqgqoqbqjpoyd6kpnvtfoxygddc2aqqe"
P2 = f"at://{ME}/app.bsky.feed.post/3lk7yhrkfqc2c"
CAMILLE = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
N1 = f"at://{CAMILLE}/app.bsky.feed.post/3lkbpxqg7ts2o"
N1_CID = "bafyreia6mtvn4s4t5ttvtotzaeiuqs3ttu2iuytmfq6kfghfubc4w5zwpm"
N2 = "at://did:plc:k5nskatzhyxersjilvtnz4wn/app.bsky.feed.post/3lkbqfcyhgk2y"
N3 = "at://did:plc:q6gjnaw2blty4crticxkmujt/app.bsky.feed.post/3lkbm4d3ejc2q"
N4 = "at://did:plc:vpkhqolt662uhesyj6nxm7ys/app.bsky.feed.post/3lkbksg6uwk2s"
N5 = "at://did:plc:k5nskatzhyxersjilvtnz4wn/app.bsky.feed.post/3lk9wmyv3e22k"
N6 = "at://did:plc:vpkhqolt662uhesyj6nxm7ys/app.bsky.feed.post/3lk9p2bqzpc2e"
N7 = "at://did:plc:wnv4ifwlmmwjfhttyfgcwyzd/app.bsky.feed.post/3ljrdz6hzts2f"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


# --- helpers ------------------------------------------------------------------------------------


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def error(name: str) -> dict[str, str]:
    return payload("errors")[name]


def xrpc(nsid: str, host: str = PDS) -> str:
    return f"{host}/xrpc/{nsid}"


def make_jwt(exp: dt.datetime, *, kind: str = "at+jwt", marker: str = "") -> str:
    """An unsigned token shaped as the PDS's (only ``exp`` matters to the adapter)."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {"scope": "com.atproto.appPass", "sub": ME, "exp": int(exp.timestamp()), "m": marker}
    return f"{part({'typ': kind, 'alg': 'ES256K'})}.{part(claims)}.c2lnbmF0dXJl"


ACCESS = make_jwt(NOW + dt.timedelta(hours=2), marker="access-1")
REFRESH = make_jwt(NOW + dt.timedelta(days=60), kind="refresh+jwt", marker="refresh-1")
NEW_ACCESS = make_jwt(NOW + dt.timedelta(hours=4), marker="access-2")
NEW_REFRESH = make_jwt(NOW + dt.timedelta(days=90), kind="refresh+jwt", marker="refresh-2")


def make_account(access: str = ACCESS, refresh: str = REFRESH) -> Account:
    return Account(
        network="bluesky",
        external_id=ME,
        handle=HANDLE,
        credentials={
            "access_jwt": access,
            "refresh_jwt": refresh,
            "did": ME,
            "handle": HANDLE,
            "pds_url": PDS,
        },
        settings={"pds_url": PDS},
    )


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def bearer(route: respx.Route, index: int = -1) -> str:
    return route.calls[index].request.headers["Authorization"]


def refreshed_session() -> dict[str, Any]:
    data = payload("com.atproto.server.refreshSession")
    data.update(accessJwt=NEW_ACCESS, refreshJwt=NEW_REFRESH)
    return data


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bluesky, "_utcnow", lambda: NOW)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """Every request must match a route: an unexpected one fails the test, none leaves."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def adapter() -> BlueskyAdapter:
    return BlueskyAdapter()


@pytest.fixture
def account() -> Account:
    return make_account()


# --- limits -------------------------------------------------------------------------------------


def test_limits_count_graphemes_and_bytes(adapter: BlueskyAdapter) -> None:
    limits = adapter.limits
    assert (limits.max_chars, limits.counts_graphemes, limits.max_bytes) == (300, True, 3000)
    assert limits.count("👍🏽") == 1  # emoji + skin tone modifier
    assert limits.count("👨‍👩‍👧") == 1  # ZWJ sequence
    assert limits.count("\u00e9") == limits.count("e\u0301") == 1  # é composed / decomposed
    assert limits.problems(PostContent(text="é" * 300, idempotency_key="k")) == []
    assert limits.problems(PostContent(text="e\u0301" * 300, idempotency_key="k")) == []
    too_long = limits.problems(PostContent(text="é" * 301, idempotency_key="k"))
    assert too_long == ["Le texte compte 301 caractères pour une limite de 300."]
    # 200 graphemes but 18 bytes each: over 3000 bytes
    heavy = limits.problems(PostContent(text="👨‍👩‍👧" * 200, idempotency_key="k"))
    assert heavy == ["Le texte dépasse 3000 octets."]


def test_limits_media(adapter: BlueskyAdapter) -> None:
    limits = adapter.limits
    assert (limits.max_images, limits.max_videos, limits.max_image_bytes) == (4, 0, 2_000_000)
    assert (limits.alt_text, limits.alt_text_max, limits.threads, limits.link_preview) == (
        True,
        2000,
        True,
        True,
    )
    image = Media(kind=MediaKind.IMAGE, data=b"x", mime_type="image/jpeg", filename="a.jpg")
    assert limits.problems(PostContent(text="", idempotency_key="k", media=(image,) * 4)) == []
    assert limits.problems(PostContent(text="", idempotency_key="k", media=(image,) * 5)) == [
        "5 images pour un maximum de 4."
    ]
    big = Media(kind=MediaKind.IMAGE, data=b"x" * 2_000_001, mime_type="image/png", filename="b")
    assert limits.problems(PostContent(text="", idempotency_key="k", media=(big,))) == [
        "b dépasse 2 Mo."
    ]


# --- rich text ----------------------------------------------------------------------------------


def test_facets_rules_without_network() -> None:
    text = (
        "Écrivez à contact@mairie-exemple.fr (https://www.mairie-exemple.fr/contact), "
        "C# ou #2025 ne sont pas des mots-clés, #Budget2025 oui ; "
        "voir https://fr.wikipedia.org/wiki/Exemple_(commune). Merci @hugo.lefevre.fr."
    )
    facets = build_facets(text, lambda handle: {"hugo.lefevre.fr": "did:plc:hugo"}.get(handle))
    raw = text.encode()
    found = [
        (raw[f.index.byte_start : f.index.byte_end].decode(), f.features[0].py_type) for f in facets
    ]
    assert found == [
        ("https://www.mairie-exemple.fr/contact", "app.bsky.richtext.facet#link"),
        ("#Budget2025", "app.bsky.richtext.facet#tag"),
        ("https://fr.wikipedia.org/wiki/Exemple_(commune)", "app.bsky.richtext.facet#link"),
        ("@hugo.lefevre.fr", "app.bsky.richtext.facet#mention"),
    ]
    assert facets[1].features[0].tag == "Budget2025"  # without the '#'
    assert facets[3].features[0].did == "did:plc:hugo"


# --- publish ------------------------------------------------------------------------------------

FRENCH_TEXT = (
    "Fête de l'été 🎉 : programme sur https://www.mairie-exemple.fr/fete-ete. "
    "Rendez-vous avec @camille-durand.bsky.social ! #FêteDeLÉté #2025"
)


def test_publish_facets_count_utf8_bytes_not_characters(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    resolve = api.get(xrpc("com.atproto.identity.resolveHandle")).respond(
        200, json={"did": CAMILLE}
    )
    create = api.post(xrpc("com.atproto.repo.createRecord")).respond(
        200, json=payload("com.atproto.repo.createRecord")
    )

    published = adapter.publish(account, PostContent(text=FRENCH_TEXT, idempotency_key="v1"))

    assert published.external_id == f"at://{ME}/app.bsky.feed.post/3lkbqw2nxd42c"
    assert published.permalink == f"https://bsky.app/profile/{HANDLE}/post/3lkbqw2nxd42c"
    assert published.published_at == NOW
    assert resolve.calls.last.request.url.params["handle"] == "camille-durand.bsky.social"
    request = create.calls.last.request
    assert request.method == "POST"
    assert request.url.path == "/xrpc/com.atproto.repo.createRecord"
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert request.headers["User-Agent"].startswith("Parvis/")
    body = sent_json(create)
    assert body["repo"] == ME
    assert body["collection"] == "app.bsky.feed.post"
    record = body["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == FRENCH_TEXT
    assert record["createdAt"] == "2025-03-14T12:00:00.000Z"
    assert record["langs"] == ["fr"]
    # "Fête" (+1 byte), "l'été" (+2), "🎉" (+3): the link starts at character 32, byte 38
    assert [(f["index"]["byteStart"], f["index"]["byteEnd"]) for f in record["facets"]] == [
        (38, 76),
        (95, 122),
        (125, 139),
    ]
    assert [f["features"][0] for f in record["facets"]] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://www.mairie-exemple.fr/fete-ete"},
        {"$type": "app.bsky.richtext.facet#mention", "did": CAMILLE},
        {"$type": "app.bsky.richtext.facet#tag", "tag": "FêteDeLÉté"},
    ]
    # a link and no image: a card, with the link as title (the page is not fetched)
    assert record["embed"]["$type"] == "app.bsky.embed.external"
    external = record["embed"]["external"]
    assert (external["uri"], external["title"], external["description"]) == (
        "https://www.mairie-exemple.fr/fete-ete",
        "https://www.mairie-exemple.fr/fete-ete",
        "",
    )


def test_publish_unresolvable_mention_stays_plain_text(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("com.atproto.identity.resolveHandle")).respond(
        400, json=error("InvalidRequest.handle")
    )
    create = api.post(xrpc("com.atproto.repo.createRecord")).respond(
        200, json=payload("com.atproto.repo.createRecord")
    )

    adapter.publish(account, PostContent(text="Merci @inconnu.example !", idempotency_key="v"))

    record = sent_json(create)["record"]
    assert record["text"] == "Merci @inconnu.example !"
    assert "facets" not in record
    assert "embed" not in record


def test_publish_images_upload_blobs_then_embed_with_alt(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    upload = api.post(xrpc("com.atproto.repo.uploadBlob")).respond(
        200, json=payload("com.atproto.repo.uploadBlob")
    )
    create = api.post(xrpc("com.atproto.repo.createRecord")).respond(
        200, json=payload("com.atproto.repo.createRecord")
    )
    photos = (
        Media(MediaKind.IMAGE, b"\xff\xd8jpeg-bytes", "image/jpeg", "Le kiosque rénové", "a.jpg"),
        Media(MediaKind.IMAGE, b"\x89PNG-bytes", "image/png", "Plan d'accès", "b.png"),
    )
    content = PostContent(
        text="Le kiosque est rénové !",
        idempotency_key="v",
        media=photos,
        link="https://www.mairie-exemple.fr/kiosque",
    )

    adapter.publish(account, content)

    assert [call.request.content for call in upload.calls] == [photos[0].data, photos[1].data]
    assert [call.request.headers["Content-Type"] for call in upload.calls] == [
        "image/jpeg",
        "image/png",
    ]
    assert all(c.request.headers["Authorization"] == f"Bearer {ACCESS}" for c in upload.calls)
    record = sent_json(create)["record"]
    # no card next to images: the link goes into the text, as a link facet
    assert record["text"] == "Le kiosque est rénové !\nhttps://www.mairie-exemple.fr/kiosque"
    assert record["facets"][0]["index"] == {  # 23 characters + "\n", two "é": byte 26
        "$type": "app.bsky.richtext.facet#byteSlice",
        "byteStart": 26,
        "byteEnd": 63,
    }
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    blob = payload("com.atproto.repo.uploadBlob")["blob"]
    assert [(i["alt"], i["image"]) for i in record["embed"]["images"]] == [
        ("Le kiosque rénové", blob),
        ("Plan d'accès", blob),
    ]


def test_publish_sends_nfc_text(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    create = api.post(xrpc("com.atproto.repo.createRecord")).respond(
        200, json=payload("com.atproto.repo.createRecord")
    )
    adapter.publish(
        account, PostContent(text="E\u0301te\u0301 #e\u0301te\u0301", idempotency_key="v")
    )
    record = sent_json(create)["record"]
    assert record["text"] == "Été #été"
    assert record["facets"][0]["index"]["byteStart"] == 6  # "Été " is 6 bytes once composed


def test_publish_video_is_not_supported(api: respx.MockRouter, adapter: BlueskyAdapter) -> None:
    video = Media(MediaKind.VIDEO, b"mp4", "video/mp4", "", "v.mp4")
    with pytest.raises(NotSupported):
        adapter.publish(make_account(), PostContent(text="x", idempotency_key="v", media=(video,)))
    assert not api.calls


def test_publish_too_long_is_rejected_before_sending(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="a" * 301, idempotency_key="v"))
    assert caught.value.reason == "Le texte compte 301 caractères pour une limite de 300."
    assert not api.calls


# --- inbox --------------------------------------------------------------------------------------


def test_fetch_inbox_pages_back_to_what_was_seen_then_only_newer(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    pages = {
        None: payload("app.bsky.notification.listNotifications.page1"),
        "2025-03-14T09:00:00.000Z": payload("app.bsky.notification.listNotifications.page2"),
    }
    route = api.get(xrpc("app.bsky.notification.listNotifications")).mock(
        side_effect=lambda request: httpx.Response(
            200, json=pages[request.url.params.get("cursor")]
        )
    )

    first = adapter.fetch_inbox(account, None)

    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.params.get_list("reasons") == ["reply", "mention", "quote"]
    assert request.url.params["limit"] == "50"
    assert "cursor" not in request.url.params
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert [(e.external_id, e.kind) for e in first.items] == [
        (N2, ItemKind.REPLY),  # answers Camille's comment, in our thread
        (N1, ItemKind.COMMENT),  # answers our post
        (N3, ItemKind.MENTION),
        (N4, ItemKind.MENTION),  # a quote of our post
    ]
    assert first.has_more is True
    n2, n1, n3, n4 = first.items
    assert n1.text == "Bonjour, la fête de l'été 🎉 est-elle maintenue s'il pleut ?"
    assert (n1.post_external_id, n1.parent_id, n1.root_id) == (P1, P1, P1)
    assert (n2.post_external_id, n2.parent_id, n2.root_id) == (P1, N1, P1)
    assert (n3.post_external_id, n3.parent_id, n3.root_id) == (None, None, None)
    assert n4.post_external_id == P1
    assert n1.author.external_id == CAMILLE
    assert n1.author.handle == "camille-durand.bsky.social"
    assert n1.author.display_name == "Camille Durand"
    assert n1.author.avatar_url.startswith("https://cdn.bsky.app/img/avatar/")
    assert n1.created_at == dt.datetime(2025, 3, 14, 10, 5, 0, 412000, tzinfo=dt.UTC)
    assert n1.permalink == "https://bsky.app/profile/camille-durand.bsky.social/post/3lkbpxqg7ts2o"
    assert n1.language == "fr"
    assert n1.raw["reason"] == "reply"
    assert n3.author.display_name == ""

    second = adapter.fetch_inbox(account, first.next_cursor)

    assert route.calls.last.request.url.params["cursor"] == "2025-03-14T09:00:00.000Z"
    # N6 came twice (quote and mention): once; N7 is older than the first collection's horizon
    assert [(e.external_id, e.kind) for e in second.items] == [
        (N5, ItemKind.COMMENT),
        (N6, ItemKind.MENTION),
    ]
    assert second.items[0].text == "Bravo pour les travaux de la rue Émile-Zola 👍🏽"
    assert second.items[0].post_external_id == P2
    assert second.has_more is False

    pages[None] = payload("app.bsky.notification.listNotifications.page1")  # nothing new
    third = adapter.fetch_inbox(account, second.next_cursor)

    assert "cursor" not in route.calls.last.request.url.params
    assert third.items == []
    assert third.has_more is False
    assert third.next_cursor == second.next_cursor


def test_fetch_inbox_returns_what_arrived_since(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    cursor = json.dumps({"v": 1, "since": "2025-03-14T10:05:00.412Z", "seen": [N1]})
    api.get(xrpc("app.bsky.notification.listNotifications")).respond(
        200, json=payload("app.bsky.notification.listNotifications.page1")
    )

    page = adapter.fetch_inbox(account, cursor)

    assert [e.external_id for e in page.items] == [N2]
    assert page.has_more is False
    assert json.loads(page.next_cursor or "")["since"] == "2025-03-14T10:20:00.118Z"


def test_fetch_inbox_empty_page(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("app.bsky.notification.listNotifications")).respond(
        200, json=payload("app.bsky.notification.listNotifications.empty")
    )

    first = adapter.fetch_inbox(account, None)
    again = adapter.fetch_inbox(account, first.next_cursor)

    assert first.items == [] and first.has_more is False
    assert first.next_cursor is not None
    assert again.next_cursor == first.next_cursor


# --- reply, hide, delete ------------------------------------------------------------------------


def test_reply_uses_strong_refs_fetched_with_get_posts(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    get_posts = api.get(xrpc("app.bsky.feed.getPosts")).respond(
        200, json=payload("app.bsky.feed.getPosts.reply")
    )
    create = api.post(xrpc("com.atproto.repo.createRecord")).respond(
        200, json=payload("com.atproto.repo.createRecord")
    )
    item = ItemRef(external_id=N1, kind=ItemKind.COMMENT, post_external_id=P1)

    published = adapter.reply(account, item, "Oui, repli sous la halle en cas de pluie ☔")

    assert get_posts.calls.last.request.url.params.get_list("uris") == [N1]
    assert bearer(get_posts) == f"Bearer {ACCESS}"
    record = sent_json(create)["record"]
    assert record["text"] == "Oui, repli sous la halle en cas de pluie ☔"
    assert record["langs"] == ["fr"]
    reply = record["reply"]
    assert (reply["parent"]["uri"], reply["parent"]["cid"]) == (N1, N1_CID)
    assert (reply["root"]["uri"], reply["root"]["cid"]) == (P1, P1_CID)
    assert published.permalink.startswith(f"https://bsky.app/profile/{HANDLE}/post/")


def test_reply_to_a_top_level_post_uses_it_as_root(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("app.bsky.feed.getPosts")).respond(
        200, json=payload("app.bsky.feed.getPosts.mention")
    )
    create = api.post(xrpc("com.atproto.repo.createRecord")).respond(
        200, json=payload("com.atproto.repo.createRecord")
    )

    adapter.reply(account, ItemRef(external_id=N3, kind=ItemKind.MENTION), "Merci à vous !")

    reply = sent_json(create)["record"]["reply"]
    assert reply["root"] == reply["parent"]
    assert reply["parent"]["uri"] == N3


def test_reply_to_a_deleted_post_is_rejected(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("app.bsky.feed.getPosts")).respond(200, json={"posts": []})
    create = api.post(xrpc("com.atproto.repo.createRecord"))

    with pytest.raises(Rejected) as caught:
        adapter.reply(account, ItemRef(external_id=N1, kind=ItemKind.COMMENT), "Bonjour")

    assert caught.value.reason == "Ce message n'existe plus sur Bluesky."
    assert not create.called


def test_hide_adds_to_the_threadgate_of_our_root_post_keeping_its_rules(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    existing = payload("com.atproto.repo.getRecord.threadgate")
    get_record = api.get(xrpc("com.atproto.repo.getRecord")).respond(200, json=existing)
    put_record = api.post(xrpc("com.atproto.repo.putRecord")).respond(
        200, json=payload("com.atproto.repo.putRecord")
    )
    item = ItemRef(external_id=N2, kind=ItemKind.REPLY, post_external_id=P1, root_id=P1)

    adapter.hide(account, item)

    params = get_record.calls.last.request.url.params
    assert (params["repo"], params["collection"], params["rkey"]) == (
        ME,
        "app.bsky.feed.threadgate",
        "3lkaz3p7yvs2c",
    )
    body = sent_json(put_record)
    assert (body["repo"], body["collection"], body["rkey"]) == (
        ME,
        "app.bsky.feed.threadgate",
        "3lkaz3p7yvs2c",
    )
    assert body["swapRecord"] == existing["cid"]
    assert body["record"] == {
        **existing["value"],
        "hiddenReplies": [*existing["value"]["hiddenReplies"], N2],
    }
    assert bearer(put_record) == f"Bearer {ACCESS}"


def test_hide_creates_a_threadgate_that_still_lets_anyone_reply(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("com.atproto.repo.getRecord")).respond(400, json=error("RecordNotFound"))
    put_record = api.post(xrpc("com.atproto.repo.putRecord")).respond(
        200, json=payload("com.atproto.repo.putRecord")
    )

    adapter.hide(account, ItemRef(external_id=N1, kind=ItemKind.COMMENT, root_id=P1))

    body = sent_json(put_record)
    assert "swapRecord" not in body
    assert body["record"] == {
        "$type": "app.bsky.feed.threadgate",
        "post": P1,
        "createdAt": "2025-03-14T12:00:00.000Z",
        "hiddenReplies": [N1],
    }  # no "allow": an empty list would close the thread to replies


def test_hide_finds_the_root_with_get_posts_when_not_given(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("app.bsky.feed.getPosts")).respond(
        200, json=payload("app.bsky.feed.getPosts.reply")
    )
    api.get(xrpc("com.atproto.repo.getRecord")).respond(400, json=error("RecordNotFound"))
    put_record = api.post(xrpc("com.atproto.repo.putRecord")).respond(
        200, json=payload("com.atproto.repo.putRecord")
    )

    adapter.hide(account, ItemRef(external_id=N1, kind=ItemKind.COMMENT))

    assert sent_json(put_record)["record"]["post"] == P1


def test_unhide_removes_from_hidden_replies(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    existing = payload("com.atproto.repo.getRecord.threadgate")
    hidden = existing["value"]["hiddenReplies"][0]
    api.get(xrpc("com.atproto.repo.getRecord")).respond(200, json=existing)
    put_record = api.post(xrpc("com.atproto.repo.putRecord")).respond(
        200, json=payload("com.atproto.repo.putRecord")
    )

    adapter.unhide(account, ItemRef(external_id=hidden, kind=ItemKind.COMMENT, root_id=P1))

    record = sent_json(put_record)["record"]
    assert record["hiddenReplies"] == []
    assert record["allow"] == existing["value"]["allow"]


def test_hide_outside_our_threads_is_not_supported(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    elsewhere = ItemRef(external_id=N2, kind=ItemKind.MENTION, root_id=N4)
    with pytest.raises(NotSupported):
        adapter.hide(account, elsewhere)
    with pytest.raises(NotSupported):  # a top-level post is not a reply to hide
        adapter.hide(account, ItemRef(external_id=N3, kind=ItemKind.MENTION, root_id=N3))
    assert not api.calls


def test_hide_lost_race_is_transient(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("com.atproto.repo.getRecord")).respond(
        200, json=payload("com.atproto.repo.getRecord.threadgate")
    )
    api.post(xrpc("com.atproto.repo.putRecord")).respond(400, json=error("InvalidSwap"))

    with pytest.raises(Transient) as caught:
        adapter.hide(account, ItemRef(external_id=N2, kind=ItemKind.REPLY, root_id=P1))
    assert caught.value.code == "InvalidSwap"


def test_delete_our_post(api: respx.MockRouter, adapter: BlueskyAdapter, account: Account) -> None:
    route = api.post(xrpc("com.atproto.repo.deleteRecord")).respond(
        200, json=payload("com.atproto.repo.deleteRecord")
    )

    adapter.delete(account, ItemRef(external_id=P2, kind=ItemKind.COMMENT))

    assert sent_json(route) == {
        "repo": ME,
        "collection": "app.bsky.feed.post",
        "rkey": "3lk7yhrkfqc2c",
    }
    assert bearer(route) == f"Bearer {ACCESS}"


def test_delete_a_citizens_post_is_not_supported(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    with pytest.raises(NotSupported):
        adapter.delete(account, ItemRef(external_id=N1, kind=ItemKind.COMMENT))
    assert not api.calls


# --- metrics, search, find_published ------------------------------------------------------------


def test_account_metrics_followers_only(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    route = api.get(xrpc("app.bsky.actor.getProfile")).respond(
        200, json=payload("app.bsky.actor.getProfile")
    )

    metrics = adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))

    assert route.calls.last.request.url.params["actor"] == ME
    assert bearer(route) == f"Bearer {ACCESS}"
    assert metrics.day == dt.date(2025, 3, 13)
    assert metrics.followers == 1523
    assert (metrics.impressions, metrics.reach, metrics.profile_visits, metrics.link_clicks) == (
        None,
        None,
        None,
        None,
    )


def get_posts_route(api: respx.MockRouter) -> respx.Route:
    """app.bsky.feed.getPosts answering, of the payload's posts, those asked for (the others
    left out, as a deleted post is)."""
    answer = payload("app.bsky.feed.getPosts")
    return api.get(xrpc("app.bsky.feed.getPosts")).mock(
        side_effect=lambda request: httpx.Response(
            200,
            json={
                "posts": [
                    p for p in answer["posts"] if p["uri"] in request.url.params.get_list("uris")
                ]
            },
        )
    )


def test_post_metrics_in_batches_of_25_deleted_left_out(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    deleted = [f"at://{ME}/app.bsky.feed.post/3lkdeleted{i:03d}" for i in range(28)]
    route = get_posts_route(api)

    metrics = adapter.fetch_post_metrics(account, [P1, *deleted, P2])

    assert [len(c.request.url.params.get_list("uris")) for c in route.calls] == [25, 5]
    assert [(m.external_id, m.reactions, m.comments, m.shares) for m in metrics] == [
        (P1, 42, 5, 9),  # shares: 7 reposts + 2 quotes
        (P2, 13, 1, 0),
    ]
    assert all(m.impressions is None and m.reach is None for m in metrics)


def test_search_posts_with_cursor(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    route = api.get(xrpc("app.bsky.feed.searchPosts")).mock(
        side_effect=lambda request: httpx.Response(
            200,
            json=payload(
                "app.bsky.feed.searchPosts.last"
                if request.url.params.get("cursor")
                else "app.bsky.feed.searchPosts"
            ),
        )
    )

    first = adapter.search(account, "marché Exemple", None)

    params = route.calls.last.request.url.params
    assert (params["q"], params["sort"], params["limit"]) == ("marché Exemple", "latest", "25")
    assert "cursor" not in params
    assert [e.kind for e in first.items] == [ItemKind.MENTION, ItemKind.MENTION]
    assert first.items[0].text == "Le marché d'Exemple ce matin, quel monde ! 🥕"
    assert first.items[0].author.display_name == ""
    assert first.items[1].post_external_id == P1  # a reply in one of our threads
    assert (first.next_cursor, first.has_more) == ("25", True)

    last = adapter.search(account, "marché Exemple", first.next_cursor)

    assert route.calls.last.request.url.params["cursor"] == "25"
    assert (last.items, last.next_cursor, last.has_more) == ([], None, False)


def test_find_published_matches_our_recent_post(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    route = api.get(xrpc("app.bsky.feed.getAuthorFeed")).respond(
        200, json=payload("app.bsky.feed.getAuthorFeed")
    )
    content = PostContent(
        text="Conseil municipal ce soir à 19 h, en direct sur https://www.mairie-exemple.fr/live",
        idempotency_key="v",
    )

    found = adapter.find_published(account, content, NOW - dt.timedelta(hours=2))

    params = route.calls.last.request.url.params
    assert (params["actor"], params["filter"]) == (ME, "posts_no_replies")
    assert found is not None
    assert found.external_id == f"at://{ME}/app.bsky.feed.post/3lkbsmwnfxk2c"
    assert found.permalink == f"https://bsky.app/profile/{HANDLE}/post/3lkbsmwnfxk2c"
    assert found.published_at == dt.datetime(2025, 3, 14, 11, 0, tzinfo=dt.UTC)


def test_find_published_pages_back_to_since_ignoring_reposts(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    pages = {
        None: payload("app.bsky.feed.getAuthorFeed"),
        "2025-03-12T08:30:01.204Z": payload("app.bsky.feed.getAuthorFeed.page2"),
    }
    route = api.get(xrpc("app.bsky.feed.getAuthorFeed")).mock(
        side_effect=lambda request: httpx.Response(
            200, json=pages[request.url.params.get("cursor")]
        )
    )
    # the reposted post has this text, but it is L'Écho du Bourg's, not ours
    reposted = PostContent(
        text="Ce soir, le conseil municipal en direct : https://www.mairie-exemple.fr/live",
        idempotency_key="v",
    )

    found = adapter.find_published(account, reposted, dt.datetime(2025, 3, 11, tzinfo=dt.UTC))

    assert found is None
    assert [c.request.url.params.get("cursor") for c in route.calls] == [
        None,
        "2025-03-12T08:30:01.204Z",
    ]


# --- sessions -----------------------------------------------------------------------------------


def test_refresh_credentials_not_needed_while_the_token_is_fresh(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    assert adapter.refresh_credentials(account) is False
    assert account.credentials_changed is False
    assert not api.calls


def test_refresh_credentials_when_the_access_token_is_about_to_expire(
    api: respx.MockRouter, adapter: BlueskyAdapter
) -> None:
    account = make_account(access=make_jwt(NOW + dt.timedelta(minutes=5)))
    route = api.post(xrpc("com.atproto.server.refreshSession")).respond(
        200, json=refreshed_session()
    )

    assert adapter.refresh_credentials(account) is True

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {REFRESH}"
    assert account.credentials_changed is True
    assert account.credentials == {
        "access_jwt": NEW_ACCESS,
        "refresh_jwt": NEW_REFRESH,
        "did": ME,
        "handle": HANDLE,
        "pds_url": PDS,
        "expires_at": (NOW + dt.timedelta(hours=4)).isoformat(),
    }


def test_operations_refresh_ahead_of_time(api: respx.MockRouter, adapter: BlueskyAdapter) -> None:
    account = make_account(access=make_jwt(NOW - dt.timedelta(minutes=1)))
    refresh = api.post(xrpc("com.atproto.server.refreshSession")).respond(
        200, json=refreshed_session()
    )
    profile = api.get(xrpc("app.bsky.actor.getProfile")).respond(
        200, json=payload("app.bsky.actor.getProfile")
    )

    adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))

    assert refresh.call_count == 1
    assert bearer(profile) == f"Bearer {NEW_ACCESS}"
    assert account.credentials["refresh_jwt"] == NEW_REFRESH


def test_client_has_our_timeouts() -> None:
    client = bluesky._new_client(PDS)
    try:
        timeout = client.request._client.timeout
        assert (timeout.read, timeout.connect) == (20.0, 5.0)
    finally:
        client.request.close()


# --- error mapping: one test per mapping --------------------------------------------------------


def test_expired_token_refreshes_once_then_retries(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    refresh = api.post(xrpc("com.atproto.server.refreshSession")).respond(
        200, json=refreshed_session()
    )
    profile = api.get(xrpc("app.bsky.actor.getProfile")).mock(
        side_effect=[
            httpx.Response(400, json=error("ExpiredToken")),
            httpx.Response(200, json=payload("app.bsky.actor.getProfile")),
        ]
    )

    metrics = adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))

    assert metrics.followers == 1523
    assert refresh.call_count == 1
    assert bearer(refresh) == f"Bearer {REFRESH}"
    assert [bearer(profile, i) for i in (0, 1)] == [f"Bearer {ACCESS}", f"Bearer {NEW_ACCESS}"]
    assert account.credentials_changed is True
    assert account.credentials["access_jwt"] == NEW_ACCESS


def test_expired_token_with_a_refused_refresh_is_auth_expired(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    refresh = api.post(xrpc("com.atproto.server.refreshSession")).respond(
        400, json=error("ExpiredToken")
    )
    api.get(xrpc("app.bsky.actor.getProfile")).respond(400, json=error("ExpiredToken"))

    with pytest.raises(AuthExpired):
        adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))
    assert refresh.call_count == 1


def test_expired_token_with_an_unreachable_refresh_is_transient(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.post(xrpc("com.atproto.server.refreshSession")).mock(
        side_effect=httpx.ConnectError("connection refused")
    )
    api.get(xrpc("app.bsky.actor.getProfile")).respond(400, json=error("ExpiredToken"))

    with pytest.raises(Transient):
        adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "InvalidToken"),
        (401, "AuthenticationRequired"),
        (401, "AuthFactorTokenRequired"),
        (400, "AccountTakedown"),
    ],
)
def test_auth_errors_are_auth_expired_without_refresh(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account, status: int, name: str
) -> None:
    refresh = api.post(xrpc("com.atproto.server.refreshSession"))
    api.get(xrpc("app.bsky.actor.getProfile")).respond(status, json=error(name))

    with pytest.raises(AuthExpired) as caught:
        adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))
    assert caught.value.code == name
    assert not refresh.called


def test_rate_limit_exceeded_waits_until_ratelimit_reset(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    reset = int(time.time()) + 120  # RateLimit-Reset: epoch seconds
    api.post(xrpc("com.atproto.repo.createRecord")).respond(
        429,
        json=error("RateLimitExceeded"),
        headers={
            "RateLimit-Limit": "5000",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
        },
    )

    with pytest.raises(RateLimited) as caught:
        adapter.publish(account, PostContent(text="Bonjour", idempotency_key="v"))
    assert caught.value.retry_after is not None
    assert 100 <= caught.value.retry_after <= 120


def test_http_429_without_a_body_is_rate_limited(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("app.bsky.actor.getProfile")).respond(429, text="Too Many Requests")

    with pytest.raises(RateLimited) as caught:
        adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))
    assert caught.value.retry_after is None


def test_invalid_request_text_too_long_is_rejected_in_french(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.post(xrpc("com.atproto.repo.createRecord")).respond(400, json=error("InvalidRequest.text"))

    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="Bonjour", idempotency_key="v"))
    assert caught.value.reason == "Le texte est trop long pour Bluesky (300 caractères au maximum)."
    assert caught.value.code == "InvalidRequest"


def test_invalid_request_facets_is_rejected_in_french(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.post(xrpc("com.atproto.repo.createRecord")).respond(
        400, json=error("InvalidRequest.facets")
    )

    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="Bonjour #Exemple", idempotency_key="v"))
    assert caught.value.reason.startswith("Les liens, mentions ou mots-clés")


def test_blob_too_large_is_rejected(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.post(xrpc("com.atproto.repo.uploadBlob")).respond(400, json=error("BlobTooLarge"))
    photo = Media(MediaKind.IMAGE, b"jpeg", "image/jpeg", "Affiche", "affiche.jpg")

    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="", idempotency_key="v", media=(photo,)))
    assert caught.value.reason == "Une image est trop lourde pour Bluesky (2 Mo au maximum)."
    assert caught.value.code == "BlobTooLarge"


def test_http_413_is_rejected(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.post(xrpc("com.atproto.repo.uploadBlob")).respond(413, text="request entity too large")
    photo = Media(MediaKind.IMAGE, b"jpeg", "image/jpeg", "Affiche", "affiche.jpg")

    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="", idempotency_key="v", media=(photo,)))
    assert caught.value.reason == "Une image est trop lourde pour Bluesky (2 Mo au maximum)."


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, error("InternalServerError")),
        (502, error("UpstreamFailure")),
        (503, None),
    ],
)
def test_server_errors_are_transient(
    api: respx.MockRouter,
    adapter: BlueskyAdapter,
    account: Account,
    status: int,
    body: dict[str, str] | None,
) -> None:
    route = api.get(xrpc("app.bsky.notification.listNotifications"))
    if body is None:
        route.respond(status, text="Service Unavailable")
    else:
        route.respond(status, json=body)

    with pytest.raises(Transient) as caught:
        adapter.fetch_inbox(account, None)
    assert caught.value.code == (body["error"] if body else str(status))


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.ConnectTimeout("timed out")],
)
def test_timeouts_are_transient(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account, failure: Exception
) -> None:
    api.get(xrpc("app.bsky.actor.getProfile")).mock(side_effect=failure)

    with pytest.raises(Transient) as caught:
        adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))
    assert caught.value.code == "timeout"


def test_network_errors_are_transient(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.get(xrpc("app.bsky.actor.getProfile")).mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(Transient):
        adapter.fetch_account_metrics(account, dt.date(2025, 3, 13))


def test_record_not_found_is_rejected(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    api.post(xrpc("com.atproto.repo.deleteRecord")).respond(400, json=error("RecordNotFound"))

    with pytest.raises(Rejected) as caught:
        adapter.delete(account, ItemRef(external_id=P2, kind=ItemKind.COMMENT))
    assert caught.value.reason == "Ce message n'existe plus sur Bluesky."


# --- no secret in errors or logs ----------------------------------------------------------------


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception and what a traceback would print with it."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def test_no_token_or_password_in_errors_or_logs(
    api: respx.MockRouter, adapter: BlueskyAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [ACCESS, REFRESH, NEW_ACCESS, NEW_REFRESH, APP_PASSWORD]
    raised: list[NetworkError] = []

    # a refused refresh
    api.post(xrpc("com.atproto.server.refreshSession")).respond(400, json=error("ExpiredToken"))
    api.get(xrpc("app.bsky.actor.getProfile")).respond(400, json=error("ExpiredToken"))
    with pytest.raises(AuthExpired) as auth:
        adapter.fetch_account_metrics(make_account(), dt.date(2025, 3, 13))
    raised.append(auth.value)

    # a server echoing the token back in its message
    api.get(xrpc("app.bsky.notification.listNotifications")).respond(
        500, json={"error": "InternalServerError", "message": f"bad token {ACCESS}"}
    )
    with pytest.raises(Transient) as server:
        adapter.fetch_inbox(make_account(), None)
    raised.append(server.value)

    # a successful refresh logs, but no token
    api.routes.clear()
    api.post(xrpc("com.atproto.server.refreshSession")).respond(200, json=refreshed_session())
    adapter.refresh_credentials(make_account(access=make_jwt(NOW)))

    # a wrong app password
    api.get(xrpc("com.atproto.identity.resolveHandle", host="https://bsky.social")).respond(
        200, json=payload("com.atproto.identity.resolveHandle")
    )
    api.get(f"https://plc.directory/{ME}").respond(200, json=payload("plc.did_document"))
    api.post(xrpc("com.atproto.server.createSession")).respond(
        401, json=error("AuthenticationRequired")
    )
    with pytest.raises(Rejected) as login:
        BlueskyConnector().connect_with_form({"handle": HANDLE, "app_password": APP_PASSWORD})
    raised.append(login.value)

    # a token cut short still starts as the token does: look for its first 60 characters
    needles = [secret[:60] for secret in secrets]
    for exc in raised:
        for link in _chain(exc):
            shown = f"{link} {link!r} {getattr(link, 'message', '')} {getattr(link, 'reason', '')}"
            assert not any(needle in shown for needle in needles), type(link).__name__
    assert "bluesky: session refreshed" in caplog.text
    assert not any(needle in caplog.text for needle in needles)
    assert "[secret]" in server.value.message


# --- connecting ---------------------------------------------------------------------------------


def test_connector_asks_for_handle_and_app_password() -> None:
    connector = BlueskyConnector()
    assert connector.uses_oauth is False
    assert connector.is_configured()
    handle, password = connector.form_fields
    assert (handle.name, handle.secret) == ("handle", False)
    assert "mairie.bsky.social" in handle.help_text
    assert (password.name, password.secret) == ("app_password", True)
    assert "Mots de passe d'application" in password.help_text
    assert "jamais le mot de passe principal" in password.help_text


def test_connect_with_form_finds_the_pds_and_opens_a_session(api: respx.MockRouter) -> None:
    resolve = api.get(xrpc("com.atproto.identity.resolveHandle", host="https://bsky.social"))
    resolve.respond(200, json=payload("com.atproto.identity.resolveHandle"))
    did_doc = api.get(f"https://plc.directory/{ME}").respond(200, json=payload("plc.did_document"))
    session = payload("com.atproto.server.createSession")
    create = api.post(xrpc("com.atproto.server.createSession")).respond(200, json=session)
    profile = api.get(xrpc("app.bsky.actor.getProfile")).respond(
        200, json=payload("app.bsky.actor.getProfile")
    )

    (connected,) = BlueskyConnector().connect_with_form(
        {"handle": " @Mairie-Exemple.bsky.social ", "app_password": "ABCD-efgh-ijkl-mnop"}
    )

    assert resolve.calls.last.request.url.params["handle"] == HANDLE
    assert "Authorization" not in resolve.calls.last.request.headers
    assert did_doc.called
    assert create.calls.last.request.url.path == "/xrpc/com.atproto.server.createSession"
    assert sent_json(create) == {"identifier": HANDLE, "password": APP_PASSWORD}
    assert "Authorization" not in create.calls.last.request.headers
    assert bearer(profile) == f"Bearer {session['accessJwt']}"
    assert (connected.external_id, connected.handle, connected.display_name) == (
        ME,
        HANDLE,
        "Mairie d'Exemple",
    )
    assert connected.credentials == {
        "access_jwt": session["accessJwt"],
        "refresh_jwt": session["refreshJwt"],
        "did": ME,
        "handle": HANDLE,
        "pds_url": PDS,
        "expires_at": "2100-01-01T00:00:00+00:00",
    }
    assert APP_PASSWORD not in json.dumps(connected.credentials)  # never kept
    assert connected.settings == {"pds_url": PDS}
    assert connected.token_expires_at == dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def test_connect_with_a_wrong_password_is_rejected(api: respx.MockRouter) -> None:
    api.get(xrpc("com.atproto.identity.resolveHandle", host="https://bsky.social")).respond(
        200, json=payload("com.atproto.identity.resolveHandle")
    )
    api.get(f"https://plc.directory/{ME}").respond(200, json=payload("plc.did_document"))
    api.post(xrpc("com.atproto.server.createSession")).respond(
        401, json=error("AuthenticationRequired")
    )

    with pytest.raises(Rejected) as caught:
        BlueskyConnector().connect_with_form({"handle": HANDLE, "app_password": APP_PASSWORD})
    assert caught.value.reason == "Identifiant ou mot de passe d'application incorrect."


def test_connect_with_the_main_password_asking_for_a_code_is_rejected(
    api: respx.MockRouter,
) -> None:
    api.get(xrpc("com.atproto.identity.resolveHandle", host="https://bsky.social")).respond(
        200, json=payload("com.atproto.identity.resolveHandle")
    )
    api.get(f"https://plc.directory/{ME}").respond(200, json=payload("plc.did_document"))
    api.post(xrpc("com.atproto.server.createSession")).respond(
        401, json=error("AuthFactorTokenRequired")
    )

    with pytest.raises(Rejected) as caught:
        BlueskyConnector().connect_with_form({"handle": HANDLE, "app_password": APP_PASSWORD})
    assert "mot de passe d'application" in caught.value.reason


@pytest.mark.parametrize(
    "form",
    [
        {"handle": HANDLE, "app_password": "MonMotDePassePrincipal2025"},
        {"handle": "communication@mairie-exemple.fr", "app_password": APP_PASSWORD},
        {"handle": "", "app_password": APP_PASSWORD},
    ],
)
def test_connect_refuses_a_main_password_or_an_email_before_any_request(
    api: respx.MockRouter, form: dict[str, str]
) -> None:
    with pytest.raises(Rejected):
        BlueskyConnector().connect_with_form(form)
    assert not api.calls


def test_connect_with_an_unknown_handle_is_rejected(api: respx.MockRouter) -> None:
    api.get(xrpc("com.atproto.identity.resolveHandle", host="https://bsky.social")).respond(
        400, json=error("InvalidRequest.handle")
    )

    with pytest.raises(Rejected) as caught:
        BlueskyConnector().connect_with_form(
            {"handle": "inconnu.example.fr", "app_password": APP_PASSWORD}
        )
    assert caught.value.reason.startswith("Ce compte Bluesky est introuvable")


def test_registry_points_at_these_classes() -> None:
    from networks.registry import get_adapter, get_connector

    assert isinstance(get_adapter("bluesky"), BlueskyAdapter)
    assert isinstance(get_connector("bluesky"), BlueskyConnector)


def test_gone_is_what_get_posts_leaves_out(
    api: respx.MockRouter, adapter: BlueskyAdapter, account: Account
) -> None:
    deleted = [f"at://{ME}/app.bsky.feed.post/3lkdeleted{i:03d}" for i in range(27)]
    route = get_posts_route(api)

    assert adapter.gone(account, [P1, *deleted, P2]) == set(deleted)
    assert [len(c.request.url.params.get_list("uris")) for c in route.calls] == [25, 4]
