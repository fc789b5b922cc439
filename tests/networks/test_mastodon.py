"""Contract tests for the Mastodon adapter and connector, HTTP faked at the transport.

Payloads (tests/networks/payloads/mastodon/) follow the entity examples of the official
documentation, with our own values:

- Status: https://docs.joinmastodon.org/entities/Status/
- Account (and CredentialAccount): https://docs.joinmastodon.org/entities/Account/ and
  https://docs.joinmastodon.org/methods/accounts/#verify_credentials
- Notification: https://docs.joinmastodon.org/entities/Notification/
- MediaAttachment (and ProcessingMediaAttachment): https://docs.joinmastodon.org/entities/MediaAttachment/
- Context: https://docs.joinmastodon.org/entities/Context/
- Search: https://docs.joinmastodon.org/entities/Search/
- Application (CredentialApplication): https://docs.joinmastodon.org/methods/apps/#create
- Token: https://docs.joinmastodon.org/methods/oauth/#token
- Instance (v2): https://docs.joinmastodon.org/entities/Instance/
- Error: https://docs.joinmastodon.org/entities/Error/ (messages from the method pages)

Methods: https://docs.joinmastodon.org/methods/statuses/, /methods/media/,
/methods/notifications/, /methods/search/, /methods/accounts/#statuses, /methods/apps/,
/methods/oauth/, /api/rate-limits/.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from networks.adapters.mastodon import (
    GONE,
    NOT_ALLOWED,
    MastodonAdapter,
    MastodonConnector,
    countable_text,
    html_to_text,
    normalise_instance_url,
    snowflake_id,
)
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
from networks.connect import pkce_pair

PAYLOADS = Path(__file__).parent / "payloads" / "mastodon"
HOST = "https://mastodon.example"
TOKEN = "user-token-Zx81-very-secret"
OURS = "110000000000000001"
POST_ID = "113500000000000001"
COMMENT_ID = "113500000000000010"
KEY = "variant-42-attempt-key"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def error(name: str) -> dict[str, str]:
    return payload("errors.json")[name]


def form(request: Any) -> dict[str, list[str]]:
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return parse_qs(body, keep_blank_values=True)


def query(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


def path(request: Any) -> str:
    return urlsplit(request.url).path


def assert_authorized(request: Any) -> None:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.fixture
def http() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def adapter() -> MastodonAdapter:
    instance = MastodonAdapter()
    instance.media_poll_interval = 0
    return instance


@pytest.fixture
def account() -> Account:
    return Account(
        network="mastodon",
        external_id=OURS,
        handle="@villedemo@mastodon.example",
        credentials={"access_token": TOKEN},
        settings={"instance_url": HOST, "domain": "mastodon.example"},
    )


def text_post(**kw: Any) -> PostContent:
    return PostContent(
        text="Travaux rue de la Paix du 3 au 7 juin : circulation alternée.",
        idempotency_key=KEY,
        **kw,
    )


# --- publish -----------------------------------------------------------------------------------


def test_publish_text_and_link_with_idempotency_key(http, adapter, account):
    http.post(f"{HOST}/api/v1/statuses", json=payload("status_published.json"))

    published = adapter.publish(account, text_post(link="https://www.ville-demo.fr/travaux"))

    assert published.external_id == POST_ID
    assert published.permalink == f"{HOST}/@villedemo/{POST_ID}"
    assert published.published_at == dt.datetime(2025, 6, 2, 8, 0, tzinfo=dt.UTC)
    (call,) = http.calls
    assert call.request.method == "POST"
    assert path(call.request) == "/api/v1/statuses"
    assert_authorized(call.request)
    assert call.request.headers["Idempotency-Key"] == KEY
    body = form(call.request)
    assert body["status"] == [
        "Travaux rue de la Paix du 3 au 7 juin : circulation alternée.\n\n"
        "https://www.ville-demo.fr/travaux"
    ]
    assert "media_ids[]" not in body
    assert "visibility" not in body  # the account's default visibility applies


def test_publish_does_not_repeat_a_link_already_in_the_text(http, adapter, account):
    http.post(f"{HOST}/api/v1/statuses", json=payload("status_published.json"))
    content = PostContent(
        text="Le calendrier : https://www.ville-demo.fr/travaux",
        idempotency_key=KEY,
        link="https://www.ville-demo.fr/travaux",
    )

    adapter.publish(account, content)

    assert form(http.calls[0].request)["status"] == [content.text]


def test_publish_checks_the_instance_limits_before_any_request(http, adapter, account):
    account.settings["max_characters"] = 100
    image = Media(kind=MediaKind.IMAGE, data=b"png", mime_type="image/png")

    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="x" * 101, idempotency_key=KEY, media=(image,)))

    assert caught.value.reason == "Le texte compte 101 caractères pour une limite de 100."
    assert not http.calls  # nothing uploaded


def test_publish_counts_mentions_and_links_as_mastodon_does(http, adapter, account):
    http.post(f"{HOST}/api/v1/statuses", json=payload("status_published.json"))
    # as Mastodon counts: 460 + " @camille " (10) + one URL (23) = 493; naively 550
    text = (
        "x" * 460
        + " @camille@une-instance-au-nom-vraiment-tres-long.example "
        + "https://www.ville-demo.fr/une/tres/longue/adresse/de/page"
    )
    assert MastodonAdapter.limits.count(text) > 500
    assert MastodonAdapter.limits.count(countable_text(text)) <= 500

    adapter.publish(account, PostContent(text=text, idempotency_key=KEY))

    assert form(http.calls[0].request)["status"] == [text]


def test_publish_retry_sends_the_same_idempotency_key(http, adapter, account):
    http.post(f"{HOST}/api/v1/statuses", status=503, json=error("unavailable"))
    http.post(f"{HOST}/api/v1/statuses", json=payload("status_published.json"))

    with pytest.raises(Transient):
        adapter.publish(account, text_post())
    adapter.publish(account, text_post())

    assert [c.request.headers["Idempotency-Key"] for c in http.calls] == [KEY, KEY]


def test_publish_image_with_alt_text(http, adapter, account):
    http.post(f"{HOST}/api/v2/media", json=payload("media_image.json"))
    http.post(f"{HOST}/api/v1/statuses", json=payload("status_published.json"))
    image = Media(
        kind=MediaKind.IMAGE,
        data=b"\x89PNG fake image",
        mime_type="image/png",
        alt_text="Affiche du marché de Noël : sapin illuminé",
        filename="affiche.png",
    )

    adapter.publish(account, text_post(media=(image,)))

    upload, post = (c.request for c in http.calls)
    assert upload.method == "POST" and path(upload) == "/api/v2/media"
    assert_authorized(upload)
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    assert 'name="description"\r\n\r\nAffiche du marché de Noël'.encode() in upload.body
    assert b'filename="affiche.png"\r\nContent-Type: image/png' in upload.body
    assert b"\x89PNG fake image" in upload.body
    assert post.headers["Idempotency-Key"] == KEY
    assert form(post)["media_ids[]"] == ["22348641"]


def test_publish_video_polls_until_processed(http, adapter, account):
    http.post(f"{HOST}/api/v2/media", status=202, json=payload("media_video_processing.json"))
    http.get(
        f"{HOST}/api/v1/media/22546306", status=206, json=payload("media_video_processing.json")
    )
    http.get(f"{HOST}/api/v1/media/22546306", status=206, body=b"")
    http.get(f"{HOST}/api/v1/media/22546306", json=payload("media_video.json"))
    http.post(f"{HOST}/api/v1/statuses", json=payload("status_published.json"))
    clip = Media(kind=MediaKind.VIDEO, data=b"mp4", mime_type="video/mp4", filename="conseil.mp4")

    published = adapter.publish(account, text_post(media=(clip,)))

    assert published.external_id == POST_ID
    methods = [(c.request.method, path(c.request)) for c in http.calls]
    assert methods == [
        ("POST", "/api/v2/media"),
        ("GET", "/api/v1/media/22546306"),
        ("GET", "/api/v1/media/22546306"),
        ("GET", "/api/v1/media/22546306"),
        ("POST", "/api/v1/statuses"),
    ]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in http.calls)
    assert b'name="description"' not in http.calls[0].request.body  # no alt text given
    assert form(http.calls[-1].request)["media_ids[]"] == ["22546306"]


def test_publish_gives_up_when_media_never_finishes(http, adapter, account):
    adapter.media_poll_attempts = 2
    http.post(f"{HOST}/api/v2/media", status=202, json=payload("media_video_processing.json"))
    http.get(f"{HOST}/api/v1/media/22546306", status=206, body=b"")
    clip = Media(kind=MediaKind.VIDEO, data=b"mp4", mime_type="video/mp4")

    with pytest.raises(Transient, match="still processing"):
        adapter.publish(account, text_post(media=(clip,)))

    assert len(http.calls) == 3  # one upload, two checks, no status posted


# --- inbox -------------------------------------------------------------------------------------


def test_fetch_inbox_first_page(http, adapter, account):
    http.get(f"{HOST}/api/v1/notifications", json=payload("notifications_page_1.json"))
    http.get(f"{HOST}/api/v1/statuses/{COMMENT_ID}/context", json=payload("context_comment.json"))
    http.get(
        f"{HOST}/api/v1/statuses/113500000000000012/context", json=payload("context_thread.json")
    )

    page = adapter.fetch_inbox(account, None)

    first = http.calls[0].request
    assert first.method == "GET" and path(first) == "/api/v1/notifications"
    assert_authorized(first)
    assert query(first) == {"types[]": ["mention"], "limit": ["40"]}
    # one context call per distinct parent: the second comment on our post reuses the first
    assert [path(c.request) for c in http.calls[1:]] == [
        f"/api/v1/statuses/{COMMENT_ID}/context",
        "/api/v1/statuses/113500000000000012/context",
    ]
    assert page.next_cursor == "4006"
    # the deleted mention (4001) and the favourite (4000) are skipped; oldest first
    comment, comment_2, reply, mention, message = page.items
    assert [i.kind for i in page.items] == [
        ItemKind.COMMENT,
        ItemKind.COMMENT,
        ItemKind.REPLY,
        ItemKind.MENTION,
        ItemKind.MESSAGE,
    ]

    assert comment.external_id == COMMENT_ID
    assert comment.text == "@villedemo Et pour les livraisons, c'est par où ?"
    assert (comment.post_external_id, comment.parent_id, comment.root_id) == (
        POST_ID,
        POST_ID,
        POST_ID,
    )
    assert comment.author.external_id == "110000000000000101"
    assert comment.author.handle == "@camille@mastodon.example"
    assert comment.author.display_name == "Camille 🌻"
    assert comment.created_at == dt.datetime(2025, 6, 2, 10, 0, tzinfo=dt.UTC)
    assert comment.language == "fr"
    assert comment.permalink == f"{HOST}/@camille/{COMMENT_ID}"
    assert comment.raw["id"] == "4002"

    assert comment_2.text == "@villedemo Merci pour l'info\xa0!"

    assert reply.parent_id == COMMENT_ID
    assert (reply.post_external_id, reply.root_id) == (POST_ID, POST_ID)
    assert reply.author.handle == "@dominique@piaille.example"
    assert reply.author.display_name == "Dominique & co"

    assert (mention.post_external_id, mention.parent_id, mention.root_id) == (None, None, None)
    assert mention.text == (
        "Bravo @villedemo pour le marché de Noël 🎄 & les illuminations ✨\n"
        "À l'année prochaine\xa0! 👨\u200d👩\u200d👧\n\n"
        '<3 "Sacha"'
    )

    assert message.external_id == "113500000000000014"
    assert message.post_external_id is None
    assert message.text.startswith("@villedemo Bonjour, mon adresse")


def test_fetch_inbox_carries_the_cursor(http, adapter, account):
    http.get(f"{HOST}/api/v1/notifications", json=payload("notifications_page_2.json"))
    http.get(f"{HOST}/api/v1/notifications", json=[])

    page = adapter.fetch_inbox(account, "4006")
    assert [i.external_id for i in page.items] == ["113500000000000020"]
    assert page.items[0].kind == ItemKind.MENTION
    # the author edited it before we read it: the text is the current one, and says so
    assert page.items[0].edited_at == dt.datetime(2025, 6, 3, 7, 12, 30, tzinfo=dt.UTC)
    assert page.next_cursor == "4007"

    empty = adapter.fetch_inbox(account, page.next_cursor)
    assert empty.items == [] and empty.next_cursor is None

    assert query(http.calls[0].request)["min_id"] == ["4006"]
    assert query(http.calls[1].request)["min_id"] == ["4007"]


def test_fetch_inbox_hidden_thread_falls_back_to_our_parent(http, adapter, account):
    notification = payload("notifications_page_1.json")[4]  # the first comment on our post
    http.get(f"{HOST}/api/v1/notifications", json=[notification])
    http.get(f"{HOST}/api/v1/statuses/{COMMENT_ID}/context", status=404, json=error("not_found"))

    (item,) = adapter.fetch_inbox(account, None).items

    assert item.kind == ItemKind.COMMENT
    assert (item.post_external_id, item.parent_id, item.root_id) == (POST_ID, POST_ID, POST_ID)


def test_html_to_text():
    html = (
        '<p class="quote-inline">RE: <a href="https://x.example/1">x.example/1</a></p>'
        "<p>Ligne 1<br />Ligne 2 &amp; &lt;3</p><p>Deuxième paragraphe</p>"
    )
    assert html_to_text(html) == "Ligne 1\nLigne 2 & <3\n\nDeuxième paragraphe"
    assert html_to_text(None) == ""


# --- reply, hide, delete ------------------------------------------------------------------------


def test_reply_keeps_visibility_and_mentions_the_author(http, adapter, account):
    http.get(f"{HOST}/api/v1/statuses/{COMMENT_ID}", json=payload("status_comment.json"))
    http.post(f"{HOST}/api/v1/statuses", json=payload("status_published.json"))
    item = ItemRef(external_id=COMMENT_ID, kind=ItemKind.COMMENT, post_external_id=POST_ID)

    published = adapter.reply(account, item, "Par la rue Haute, à partir de 7 h.")

    assert published.external_id == POST_ID
    read, post = (c.request for c in http.calls)
    assert read.method == "GET"
    assert_authorized(read)
    assert post.method == "POST" and path(post) == "/api/v1/statuses"
    assert_authorized(post)
    assert post.headers["Idempotency-Key"]
    body = form(post)
    assert body["status"] == ["@camille Par la rue Haute, à partir de 7 h."]
    assert body["in_reply_to_id"] == [COMMENT_ID]
    assert body["visibility"] == ["unlisted"]


def test_reply_to_a_private_message_stays_direct(http, adapter, account):
    http.get(f"{HOST}/api/v1/statuses/113500000000000014", json=payload("status_direct.json"))
    http.post(f"{HOST}/api/v1/statuses", json=payload("status_published.json"))
    item = ItemRef(external_id="113500000000000014", kind=ItemKind.MESSAGE)

    adapter.reply(account, item, "@camille Nous vous rappelons demain matin.")

    body = form(http.calls[1].request)
    assert body["status"] == ["@camille Nous vous rappelons demain matin."]  # not doubled
    assert body["visibility"] == ["direct"]


def test_reply_to_a_deleted_status_is_rejected(http, adapter, account):
    http.get(f"{HOST}/api/v1/statuses/{COMMENT_ID}", status=404, json=error("not_found"))

    with pytest.raises(Rejected) as caught:
        adapter.reply(account, ItemRef(external_id=COMMENT_ID, kind=ItemKind.COMMENT), "Merci")

    assert caught.value.reason == GONE
    assert len(http.calls) == 1  # nothing posted


def test_hide_is_not_supported(http, adapter, account):
    with pytest.raises(NotSupported):
        adapter.hide(account, ItemRef(external_id=COMMENT_ID, kind=ItemKind.COMMENT))
    assert not http.calls


def test_delete_our_status(http, adapter, account):
    http.delete(f"{HOST}/api/v1/statuses/{POST_ID}", json=payload("status_published.json"))

    adapter.delete(account, ItemRef(external_id=POST_ID, kind=ItemKind.COMMENT, author_id=OURS))

    (call,) = http.calls
    assert call.request.method == "DELETE"
    assert path(call.request) == f"/api/v1/statuses/{POST_ID}"
    assert_authorized(call.request)


def test_delete_someone_elses_status_is_not_supported(http, adapter, account):
    item = ItemRef(external_id=COMMENT_ID, kind=ItemKind.COMMENT, author_id="110000000000000101")
    with pytest.raises(NotSupported):
        adapter.delete(account, item)
    assert not http.calls


def test_delete_an_already_deleted_status_is_done(http, adapter, account):
    http.delete(f"{HOST}/api/v1/statuses/{POST_ID}", status=404, json=error("not_found"))

    adapter.delete(account, ItemRef(external_id=POST_ID, kind=ItemKind.COMMENT))


# --- metrics -----------------------------------------------------------------------------------


def test_account_metrics(http, adapter, account):
    http.get(f"{HOST}/api/v1/accounts/verify_credentials", json=payload("account_credentials.json"))

    metrics = adapter.fetch_account_metrics(account, dt.date(2025, 6, 2))

    assert metrics.day == dt.date(2025, 6, 2)
    assert metrics.followers == 821
    assert (metrics.impressions, metrics.reach, metrics.profile_visits, metrics.link_clicks) == (
        None,
        None,
        None,
        None,
    )
    (call,) = http.calls
    assert (call.request.method, path(call.request)) == (
        "GET",
        "/api/v1/accounts/verify_credentials",
    )
    assert_authorized(call.request)


def test_post_metrics_skip_deleted_statuses(http, adapter, account):
    http.get(f"{HOST}/api/v1/statuses/{POST_ID}", json=payload("status_published.json"))
    http.get(f"{HOST}/api/v1/statuses/113500000000000099", status=404, json=error("not_found"))

    (metrics,) = adapter.fetch_post_metrics(account, [POST_ID, "113500000000000099"])

    assert metrics.external_id == POST_ID
    assert (metrics.reactions, metrics.shares, metrics.comments) == (11, 6, 5)
    assert (metrics.impressions, metrics.reach, metrics.link_clicks, metrics.saves) == (
        None,
        None,
        None,
        None,
    )
    assert [(c.request.method, path(c.request)) for c in http.calls] == [
        ("GET", f"/api/v1/statuses/{POST_ID}"),
        ("GET", "/api/v1/statuses/113500000000000099"),
    ]
    assert_authorized(http.calls[0].request)


# --- search and find_published -----------------------------------------------------------------


def test_search_pages_by_offset(http, adapter, account):
    adapter.search_page_size = 2
    http.get(f"{HOST}/api/v2/search", json=payload("search_page_1.json"))
    http.get(f"{HOST}/api/v2/search", json=payload("search_page_2.json"))

    page = adapter.search(account, "marché de Noël", None)
    last = adapter.search(account, "marché de Noël", page.next_cursor)

    first, second = (c.request for c in http.calls)
    assert_authorized(first)
    assert query(first) == {"q": ["marché de Noël"], "type": ["statuses"], "limit": ["2"]}
    assert query(second)["offset"] == ["2"]
    assert query(second).get("resolve", ["false"]) == ["false"]  # default: no WebFinger
    # our own status in the results is left out
    assert [i.external_id for i in page.items] == ["113500000000000013"]
    assert page.items[0].kind == ItemKind.MENTION
    assert page.items[0].author.handle == "@sacha@autre.example"
    assert page.next_cursor == "2"
    assert [i.external_id for i in last.items] == ["113500000000000020"]
    assert last.next_cursor is None


def test_search_without_results(http, adapter, account):
    http.get(f"{HOST}/api/v2/search", json={"accounts": [], "statuses": [], "hashtags": []})

    page = adapter.search(account, "zzz", None)

    assert page.items == [] and page.next_cursor is None


def test_find_published_compares_html_stripped_text(http, adapter, account):
    http.get(f"{HOST}/api/v1/accounts/{OURS}/statuses", json=payload("account_statuses.json"))
    since = dt.datetime(2025, 6, 2, 7, 59, 30, tzinfo=dt.UTC)
    image = Media(kind=MediaKind.IMAGE, data=b"png", mime_type="image/png", alt_text="Plan")

    found = adapter.find_published(
        account, text_post(media=(image,), link="https://www.ville-demo.fr/travaux"), since
    )

    assert found is not None and found.external_id == POST_ID
    request = http.calls[0].request
    assert_authorized(request)
    assert query(request) == {
        "exclude_reblogs": ["1"],
        "min_id": [snowflake_id(since - dt.timedelta(minutes=1))],
        "limit": ["40"],
    }


def test_find_published_returns_none_when_absent(http, adapter, account):
    http.get(f"{HOST}/api/v1/accounts/{OURS}/statuses", json=payload("account_statuses.json"))

    content = PostContent(text="Un autre message", idempotency_key=KEY)
    assert adapter.find_published(account, content, dt.datetime.now(dt.UTC)) is None


def test_snowflake_id():
    moment = dt.datetime(2025, 6, 2, 8, 0, tzinfo=dt.UTC)
    assert int(snowflake_id(moment)) >> 16 == int(moment.timestamp() * 1000)


def test_refresh_credentials_is_never_needed(http, adapter, account):
    assert adapter.refresh_credentials(account) is False
    assert not http.calls


# --- error mapping -----------------------------------------------------------------------------


def _reset_in(seconds: int) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        pytest.param(401, "token_invalid", AuthExpired, "401", id="401-token"),
        pytest.param(403, "outside_scopes", AuthExpired, "403", id="403-scope"),
        pytest.param(403, "login_disabled", AuthExpired, "403", id="403-suspended"),
        pytest.param(403, "not_allowed", Rejected, "403", id="403-not-allowed"),
        pytest.param(404, "not_found", Rejected, "404", id="404-gone"),
        pytest.param(422, "too_long", Rejected, "422", id="422-too-long"),
        pytest.param(422, "blank", Rejected, "422", id="422-blank"),
        pytest.param(422, "file_invalid", Rejected, "422", id="422-file"),
        pytest.param(422, "user_required", AuthExpired, "422", id="422-app-token"),
        pytest.param(422, "processing", Transient, "422", id="422-media-processing"),
        pytest.param(500, "server_error", Transient, "500", id="500"),
        pytest.param(502, None, Transient, "502", id="502"),
        pytest.param(503, "unavailable", Transient, "503", id="503"),
        pytest.param(504, None, Transient, "504", id="504"),
    ],
)
def test_http_errors_are_mapped(http, adapter, account, status, body, expected, code):
    kw: dict[str, Any] = {"json": error(body)} if body else {"body": "<html>Bad gateway</html>"}
    http.post(f"{HOST}/api/v1/statuses", status=status, **kw)

    with pytest.raises(expected) as caught:
        adapter.publish(account, text_post())

    exc = caught.value
    assert type(exc) is expected
    assert exc.network == "mastodon" and exc.code == code
    assert TOKEN not in exc.message and TOKEN not in str(exc)
    (call,) = http.calls
    assert (call.request.method, path(call.request)) == ("POST", "/api/v1/statuses")
    assert_authorized(call.request)
    assert call.request.headers["Idempotency-Key"] == KEY
    assert form(call.request)["status"] == [text_post().text]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("too_long", "Le texte dépasse la limite de 500 caractères de cette instance Mastodon."),
        ("blank", "Le message est vide : Mastodon demande un texte ou au moins un média."),
        ("not_allowed", NOT_ALLOWED),
        ("not_found", GONE),
    ],
)
def test_rejections_explain_in_french(http, adapter, account, body, reason):
    status = {"too_long": 422, "blank": 422, "not_allowed": 403, "not_found": 404}[body]
    http.post(f"{HOST}/api/v1/statuses", status=status, json=error(body))

    with pytest.raises(Rejected) as caught:
        adapter.publish(account, text_post())

    assert caught.value.reason == reason


def test_429_is_rate_limited_until_the_reset_time(http, adapter, account):
    http.get(
        f"{HOST}/api/v1/notifications",
        status=429,
        json=error("rate_limited"),
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": _reset_in(120),
        },
    )

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        adapter.fetch_inbox(account, None)

    assert time.monotonic() - started < 5  # Mastodon.py did not sleep ("throw")
    assert caught.value.code == "429"
    assert caught.value.retry_after is not None and 110 < caught.value.retry_after <= 120
    (call,) = http.calls  # no retry behind our back
    assert (call.request.method, path(call.request)) == ("GET", "/api/v1/notifications")
    assert_authorized(call.request)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(requests.exceptions.ReadTimeout("Read timed out."), id="timeout"),
        pytest.param(requests.exceptions.ConnectionError("Connection refused"), id="connection"),
    ],
)
def test_network_failures_are_transient(http, adapter, account, failure):
    http.post(f"{HOST}/api/v1/statuses", body=failure)

    with pytest.raises(Transient) as caught:
        adapter.publish(account, text_post())

    assert caught.value.network == "mastodon"
    assert TOKEN not in caught.value.message
    (call,) = http.calls
    assert (call.request.method, path(call.request)) == ("POST", "/api/v1/statuses")
    assert_authorized(call.request)
    assert call.request.headers["Idempotency-Key"] == KEY


def test_missing_credentials_need_reconnecting(http, adapter):
    bare = Account(network="mastodon", external_id=OURS, settings={"instance_url": HOST})
    with pytest.raises(AuthExpired):
        adapter.fetch_inbox(bare, None)
    assert not http.calls


def test_no_secret_in_errors_or_logs(http, adapter, account, caplog, settings):
    caplog.set_level(logging.DEBUG)
    settings.PARVIS_NETWORK_APPS = {"mastodon": {"client_name": "Parvis"}}
    http.post(f"{HOST}/api/v1/statuses", status=401, json=error("token_invalid"))
    http.get(f"{HOST}/api/v1/notifications", body=requests.exceptions.ReadTimeout("timed out"))
    http.post(f"{HOST}/oauth/token", status=400, json=error("invalid_grant"))
    secrets = [TOKEN, "the-client-secret", "the-auth-code", "the-verifier"]

    raised: list[NetworkError] = []
    for action in (
        lambda: adapter.publish(account, text_post()),
        lambda: adapter.fetch_inbox(account, None),
        lambda: MastodonConnector().finish(
            redirect_uri="https://parvis.example/retour/",
            query={"code": "the-auth-code", "state": "s"},
            flow_data={
                "instance_url": HOST,
                "client_id": "cid",
                "client_secret": "the-client-secret",
                "code_verifier": "the-verifier",
            },
        ),
    ):
        with pytest.raises(NetworkError) as caught:
            action()
        raised.append(caught.value)

    for exc in raised:
        for secret in secrets:
            assert secret not in exc.message
            assert secret not in str(exc)
            assert secret not in repr(exc)
    for secret in secrets:
        assert secret not in caplog.text
    assert TOKEN not in repr(account)


# --- limits ------------------------------------------------------------------------------------


def test_limits_count_every_url_as_23():
    limits = MastodonAdapter.limits
    url = "https://www.ville-demo.fr/actualites/2025/06/travaux-rue-de-la-paix-calendrier"
    assert limits.count(url) == 23
    assert limits.count("https://t.co") == 23
    assert limits.count(f"Travaux : {url} et {url}") == len("Travaux :  et ") + 46


def test_limits_count_graphemes():
    limits = MastodonAdapter.limits
    assert limits.count("👨\u200d👩\u200d👧") == 1  # one family emoji
    assert limits.count("e\u0301té") == 3  # NFC: "été"


def test_limits_defaults_and_problems():
    limits = MastodonAdapter.limits
    assert (limits.max_chars, limits.url_length) == (500, 23)
    assert (limits.max_images, limits.max_videos, limits.alt_text_max) == (4, 1, 1500)
    assert limits.threads and limits.link_preview and limits.alt_text
    png = Media(kind=MediaKind.IMAGE, data=b"x", mime_type="image/png")
    mp4 = Media(kind=MediaKind.VIDEO, data=b"x", mime_type="video/mp4")
    content = PostContent(text="x" * 501, idempotency_key=KEY, media=(png,) * 5 + (mp4,))
    problems = limits.problems(content)
    assert "Le texte compte 501 caractères pour une limite de 500." in problems
    assert "5 images pour un maximum de 4." in problems
    assert "Ce réseau ne mélange pas images et vidéos dans une publication." in problems


def test_limits_for_uses_the_instance_configuration(adapter, account):
    account.settings.update(max_characters=1000, description_limit=1500, max_media_attachments=6)
    limits = adapter.limits_for(account)
    assert (limits.max_chars, limits.max_images, limits.url_length) == (1000, 6, 23)
    assert adapter.limits_for(Account(network="mastodon", external_id="1")).max_chars == 500


# --- connector ---------------------------------------------------------------------------------


@pytest.fixture
def mastodon_settings(settings: Any) -> Any:
    settings.PARVIS_NETWORK_APPS = {"mastodon": {"client_name": "Parvis Ville de Démo"}}
    settings.PARVIS_BASE_URL = "https://parvis.example"
    return settings


def test_connector_needs_no_environment(mastodon_settings):
    connector = MastodonConnector()
    assert connector.is_configured() and connector.missing_settings() == []
    assert [f.name for f in connector.form_fields] == ["instance"]


@pytest.mark.django_db
def test_connector_start_registers_the_app_and_sends_pkce(http, mastodon_settings):
    http.post(f"{HOST}/api/v1/apps", json=payload("application.json"))
    redirect = "https://parvis.example/reseaux/mastodon/retour/"

    start = MastodonConnector().start(
        redirect_uri=redirect, state="state-123", form={"instance": "Mastodon.example"}
    )

    (call,) = http.calls
    assert call.request.method == "POST" and call.request.url == f"{HOST}/api/v1/apps"
    assert form(call.request) == {
        "client_name": ["Parvis Ville de Démo"],
        "redirect_uris": [redirect],
        "scopes": ["read write"],
        "website": ["https://parvis.example"],
    }
    url = urlsplit(start.url)
    assert (url.scheme, url.netloc, url.path) == ("https", "mastodon.example", "/oauth/authorize")
    params = parse_qs(url.query)
    assert params["response_type"] == ["code"]
    assert params["client_id"] == ["TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM"]
    assert params["redirect_uri"] == [redirect]
    assert params["scope"] == ["read write"]
    assert params["state"] == ["state-123"]
    assert params["code_challenge_method"] == ["S256"]
    flow = start.flow_data
    assert flow["instance_url"] == HOST
    assert flow["client_secret"] == "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw"
    # the challenge is the S256 of the verifier kept for finish()
    assert params["code_challenge"] == [_challenge(flow["code_verifier"])]
    assert "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw" not in start.url
    assert "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw" not in repr(start)


def _challenge(verifier: str) -> str:
    import base64
    import hashlib

    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_pkce_helper_matches_our_check():
    verifier, challenge = pkce_pair()
    assert _challenge(verifier) == challenge


@pytest.mark.parametrize(
    "value",
    ["piaille.fr", " https://Piaille.FR/ ", "@villedemo@piaille.fr", "villedemo@piaille.fr"],
)
def test_instance_addresses_are_normalised(value):
    assert normalise_instance_url(value) == "https://piaille.fr"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "http://piaille.fr",
        "https://piaille.fr/about",
        "https://piaille.fr/?x=1",
        "https://piaille.fr:8443",
        "https://user:pw@piaille.fr",
        "https://127.0.0.1",
        "https://[::1]",
        "localhost",
        "pi aille.fr",
    ],
)
def test_bad_instance_addresses_are_rejected_before_any_request(http, mastodon_settings, value):
    with pytest.raises(Rejected):
        MastodonConnector().start(
            redirect_uri="https://p.example/r/", state="s", form={"instance": value}
        )
    assert not http.calls


@pytest.mark.django_db
def test_connector_start_on_a_server_that_is_not_mastodon(http, mastodon_settings):
    http.post(f"{HOST}/api/v1/apps", status=404, body="<html>Not found</html>")

    with pytest.raises(Rejected) as caught:
        MastodonConnector().start(
            redirect_uri="https://p.example/r/", state="s", form={"instance": HOST}
        )

    assert caught.value.reason == "mastodon.example ne répond pas comme une instance Mastodon."


@pytest.mark.django_db
def test_connector_start_refused_registration(http, mastodon_settings):
    http.post(f"{HOST}/api/v1/apps", status=422, json=error("app_invalid"))

    with pytest.raises(Rejected) as caught:
        MastodonConnector().start(redirect_uri="not-a-uri", state="s", form={"instance": HOST})

    assert "Redirect URI must be an absolute URI" in caught.value.reason


@pytest.mark.django_db
def test_connector_start_unreachable_instance(http, mastodon_settings):
    http.post(
        f"{HOST}/api/v1/apps", body=requests.exceptions.ConnectionError("Name or service not known")
    )

    with pytest.raises(Rejected) as caught:
        MastodonConnector().start(
            redirect_uri="https://p.example/r/", state="s", form={"instance": HOST}
        )

    assert caught.value.reason.startswith("Impossible de joindre mastodon.example")


FLOW = {
    "instance_url": HOST,
    "client_id": "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM",
    "client_secret": "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw",
    "code_verifier": "verifier-0123456789",
}
ACCESS = "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0"


def test_connector_finish_exchanges_the_code(http, mastodon_settings):
    http.post(f"{HOST}/oauth/token", json=payload("token.json"))
    http.get(f"{HOST}/api/v1/accounts/verify_credentials", json=payload("account_credentials.json"))
    http.get(f"{HOST}/api/v2/instance/", json=payload("instance_v2.json"))
    redirect = "https://parvis.example/reseaux/mastodon/retour/"

    (connected,) = MastodonConnector().finish(
        redirect_uri=redirect, query={"code": "auth-code-1", "state": "s"}, flow_data=FLOW
    )

    token_call, me_call, instance_call = (c.request for c in http.calls)
    assert token_call.method == "POST" and token_call.url == f"{HOST}/oauth/token"
    assert form(token_call) == {
        "grant_type": ["authorization_code"],
        "code": ["auth-code-1"],
        "client_id": [FLOW["client_id"]],
        "client_secret": [FLOW["client_secret"]],
        "redirect_uri": [redirect],
        "code_verifier": ["verifier-0123456789"],
    }
    assert "Authorization" not in token_call.headers
    assert me_call.headers["Authorization"] == f"Bearer {ACCESS}"
    # Mastodon.py adds a trailing slash to GET /api/v2/instance; Rails routes ignore it
    assert path(instance_call).rstrip("/") == "/api/v2/instance"
    assert connected.external_id == OURS
    assert connected.handle == "@villedemo@mastodon.example"
    assert connected.display_name == "Ville de Démo"
    assert connected.credentials["access_token"] == ACCESS
    assert connected.token_expires_at is None
    assert connected.settings == {
        "instance_url": HOST,
        "domain": "mastodon.example",
        "max_characters": 1000,
        "characters_reserved_per_url": 23,
        "max_media_attachments": 4,
        "description_limit": 1500,
        "image_size_limit": 16777216,
        "video_size_limit": 103809024,
    }
    assert ACCESS not in repr(connected)
    limits = MastodonAdapter().limits_for(
        Account(network="mastodon", external_id=OURS, settings=connected.settings)
    )
    assert limits.max_chars == 1000


def test_connector_finish_without_instance_v2(http, mastodon_settings):
    http.post(f"{HOST}/oauth/token", json=payload("token.json"))
    http.get(f"{HOST}/api/v1/accounts/verify_credentials", json=payload("account_credentials.json"))
    http.get(f"{HOST}/api/v2/instance/", status=404, json=error("not_found"))

    (connected,) = MastodonConnector().finish(
        redirect_uri="https://p.example/r/", query={"code": "c"}, flow_data=FLOW
    )

    assert connected.settings == {"instance_url": HOST, "domain": "mastodon.example"}


def test_connector_finish_when_access_is_denied(http, mastodon_settings):
    with pytest.raises(Rejected) as caught:
        MastodonConnector().finish(
            redirect_uri="https://p.example/r/",
            query={"error": "access_denied", "state": "s"},
            flow_data=FLOW,
        )

    assert caught.value.reason == "L'autorisation a été refusée sur l'instance Mastodon."
    assert not http.calls


def test_connector_finish_with_an_expired_code(http, mastodon_settings):
    http.post(f"{HOST}/oauth/token", status=400, json=error("invalid_grant"))

    with pytest.raises(Rejected) as caught:
        MastodonConnector().finish(
            redirect_uri="https://p.example/r/", query={"code": "c0de"}, flow_data=FLOW
        )

    assert "recommencez la connexion" in caught.value.reason
    assert FLOW["client_secret"] not in caught.value.message


@pytest.mark.django_db
def test_connector_registers_once_per_instance_and_keeps_the_secret_encrypted(
    http, mastodon_settings
):
    from django.db import connection

    from networks.models import MastodonApp

    http.post(f"{HOST}/api/v1/apps", json=payload("application.json"))
    redirect = "https://parvis.example/reseaux/mastodon/retour/"
    connector = MastodonConnector()
    first = connector.start(
        redirect_uri=redirect, state="s1", form={"instance": "mastodon.example"}
    )
    # a second connection to the same instance (any spelling) reuses the registration:
    # ``http`` would fail on a second, unexpected POST /api/v1/apps
    second = connector.start(
        redirect_uri=redirect, state="s2", form={"instance": "https://Mastodon.example/"}
    )
    assert len(http.calls) == 1
    assert first.flow_data["client_id"] == second.flow_data["client_id"]
    assert second.flow_data["client_secret"] == "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw"
    assert first.flow_data["code_verifier"] != second.flow_data["code_verifier"]
    (app,) = MastodonApp.objects.all()
    assert app.instance_url == HOST and app.redirect_uri == redirect
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM networks_mastodonapp")
        (stored,) = cursor.fetchone()
    assert "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw" not in stored
    assert "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM" not in stored


@pytest.mark.django_db
def test_a_registration_the_instance_forgot_is_registered_again(http, mastodon_settings):
    from networks.models import MastodonApp

    redirect = "https://parvis.example/reseaux/mastodon/retour/"
    http.post(f"{HOST}/api/v1/apps", json=payload("application.json"))
    connector = MastodonConnector()
    start = connector.start(redirect_uri=redirect, state="s", form={"instance": "mastodon.example"})
    # the instance's admin deleted the app: the token exchange answers invalid_client
    http.post(
        f"{HOST}/oauth/token",
        status=401,
        json={"error": "invalid_client", "error_description": "Client authentication failed"},
    )
    with pytest.raises(Rejected):
        connector.finish(
            redirect_uri=redirect, query={"code": "code-1", "state": "s"}, flow_data=start.flow_data
        )
    assert not MastodonApp.objects.exists()
    http.post(f"{HOST}/api/v1/apps", json=payload("application.json"))
    connector.start(redirect_uri=redirect, state="t", form={"instance": "mastodon.example"})
    assert [c.request.url for c in http.calls].count(f"{HOST}/api/v1/apps") == 2
    assert MastodonApp.objects.count() == 1


def test_gone_is_a_status_answered_404_or_410(http, adapter, account):
    http.get(f"{HOST}/api/v1/statuses/{POST_ID}", json=payload("status_published.json"))
    http.get(f"{HOST}/api/v1/statuses/113500000000000098", status=410, json=error("not_found"))
    http.get(f"{HOST}/api/v1/statuses/113500000000000099", status=404, json=error("not_found"))

    gone = adapter.gone(account, [POST_ID, "113500000000000098", "113500000000000099"])

    assert gone == {"113500000000000098", "113500000000000099"}
    assert_authorized(http.calls[0].request)


def test_gone_looks_at_a_bounded_number_and_raises_other_failures(
    http, adapter, account, monkeypatch
):
    from networks.adapters import mastodon
    from networks.base import Transient

    monkeypatch.setattr(mastodon, "GONE_CHECKED", 1)
    http.get(f"{HOST}/api/v1/statuses/{POST_ID}", status=503, json=error("not_found"))
    with pytest.raises(Transient):
        adapter.gone(account, [POST_ID, "113500000000000099"])
    assert len(http.calls) >= 1
    assert all(path(c.request) == f"/api/v1/statuses/{POST_ID}" for c in http.calls)
