"""Contract tests for the X adapter and connector: the transport is faked with ``responses``
(tweepy and our own calls both use requests); every test checks what we parse and what we
send.

Payloads (tests/networks/payloads/x/) follow these official references:
- users_tweets_*.json: GET /2/users/{id}/tweets -- docs.x.com/x-api/users/get-posts and
  the Timelines integration guide (data / meta.newest_id, oldest_id, result_count);
  empty pages are ``{"meta": {"result_count": 0}}``.
- mentions_*.json: GET /2/users/{id}/mentions -- docs.x.com/x-api/posts/
  user-mention-timeline-by-user-id (data, includes.users, meta.next_token).
- search_*.json: GET /2/tweets/search/recent -- docs.x.com/x-api/posts/search-recent-posts,
  "Conversation ID" fundamentals (conversation_id, in_reply_to_user_id, referenced_tweets)
  and the recent search pagination guide (meta.next_token); partial ``errors`` items as
  in "Response codes and errors" (resource-not-found problems in a 200 answer).
- create_tweet.json, create_reply.json, delete_tweet.json: POST /2/tweets and
  DELETE /2/tweets/{id} -- manage Posts quickstart.
- hide_reply.json, unhide_reply.json: PUT /2/tweets/{id}/hidden -- hide replies reference.
- media_*.json: POST /2/media/upload, /2/media/upload/initialize, /{id}/append,
  /{id}/finalize, GET /2/media/upload?command=STATUS, POST /2/media/metadata --
  docs.x.com/x-api/media/* API reference and the chunked upload quickstart.
- users_me*.json: GET /2/users/me with user.fields=public_metrics -- get-users-me.
- tweets_lookup_metrics.json: GET /2/tweets?ids=... with public_metrics and media
  public_metrics -- get-posts-by-ids and the Metrics fundamentals.
- token*.json: POST /2/oauth2/token -- "OAuth 2.0 Making requests on behalf of users"
  (user-access-token) example response; error body as the token endpoint returns it.
- error_*.json: "Response codes and errors" (RFC 7807 problems: about:blank,
  invalid-request, client-forbidden/client-not-enrolled, resource-not-found,
  usage-capped); error_403_duplicate.json is X's duplicate-content answer;
  error_403_video_too_long.json is the example of the create-post reference.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from networks.adapters import x
from networks.base import (
    Account,
    AuthExpired,
    InboxEntry,
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

PAYLOADS = Path(__file__).parent / "payloads" / "x"
TW = "https://api.twitter.com/2"  # tweepy's host
XAPI = "https://api.x.com/2"  # ours (media, OAuth)
NOW = dt.datetime(2026, 3, 12, 10, 0, tzinfo=dt.UTC)

TOKEN = "ACCESS-dG9rZW4tdGhhdC1tdXN0LW5ldmVyLWxlYWs"
REFRESH = "REFRESH-cmVmcmVzaC10aGF0LW11c3QtbmV2ZXItbGVhaw"
CLIENT_ID = "M1M5R3BMVy13QmpScXkzTUt5OE46MTpjaQ"
CLIENT_SECRET = "SECRET-c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFr"

OUR = "1600000000000000042"
P1, P2, P3 = "2031641272120246279", "2029829332792246279", "2029315949982646279"
OLD = "2028032492958646279"
C1, R1, C2, D1, C0 = (
    "2031644312990646279",
    "2031651380392886279",
    "2031657126589366279",
    "2030221919646646279",
    "2030206820152246279",
)
M1, M3, OLDC, OTHER = (
    "2031675245982646279",
    "2031706703262646279",
    "2031716769592246279",
    "2031671471109046279",
)
M2B, M4, M5 = "2031731869086646279", "2031988560491446279", "2032003659985846279"
C2B, C3 = "2031822466053046279", "2032011209733046279"
S1, S2 = "2032018759480246279", "2032021276062646279"
PUB, PUB_OLDER, REPLYPUB = "2032033733145526279", "2032023792645046279", "2032033775088566279"
MEDIA, MEDIA2, VIDEO = "2032033607316406279", "2032033611510710279", "2032033355658166279"
DELETED = "2030614506501046279"
MARIE, GONE = "1357924680135792468", "1444555666777888999"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def query(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def form(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def tweet_id(when: dt.datetime) -> str:
    return str((int(when.timestamp() * 1000) - 1288834974657) << 22)


def cursor(mentions: dict[str, Any], replies: dict[str, Any]) -> str:
    return json.dumps({"m": mentions, "r": replies}, separators=(",", ":"))


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, dt.datetime]:
    now = {"value": NOW}
    monkeypatch.setattr(x, "_now", lambda: now["value"])
    return now


@pytest.fixture
def api() -> Any:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def x_app(settings: Any) -> None:
    settings.PARVIS_NETWORK_APPS = {"x": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}}


@pytest.fixture
def account() -> Account:
    return Account(
        network="x",
        external_id=OUR,
        handle="@VilleDeParvis",
        credentials={
            "access_token": TOKEN,
            "refresh_token": REFRESH,
            "expires_at": (NOW + dt.timedelta(hours=1)).isoformat(),
            "scope": " ".join(x.SCOPES),
        },
    )


@pytest.fixture
def adapter() -> x.XAdapter:
    return x.XAdapter()


def assert_bearer(call: Any) -> None:
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


# --- limits -----------------------------------------------------------------------------------


def test_limits_count_as_twitter_text_v3() -> None:
    limits = x.XAdapter.limits
    assert limits.count("a" * 280) == 280
    assert (
        limits.count("Infos : https://www.parvis.fr/actualites/2026/travaux-rue-victor-hugo") == 31
    )
    assert limits.count("東京") == 4  # CJK weigh 2
    assert limits.count("Bravo 🎉") == 8  # one emoji weighs 2
    assert limits.count("été") == 3  # Latin-1 accents weigh 1
    assert limits.count("e\u0301te\u0301") == 3  # NFC first, as X does
    assert limits.count("\u2014\u2019") == 2  # dashes and quotes: light ranges
    assert limits.count("\u2026") == 2  # the ellipsis is not


def test_limits_count_emoji_sequences_as_two() -> None:
    limits = x.XAdapter.limits
    assert limits.count("👨\u200d👩\u200d👧\u200d👦") == 2  # a ZWJ family
    assert limits.count("👍🏽") == 2  # with a skin tone
    assert limits.count("🇫🇷") == 2  # a flag: two regional indicators
    assert limits.count("❤️") == 2  # with a variation selector
    assert limits.count("1️⃣") == 2  # a keycap
    assert limits.count("🇫🇷🇫🇷") == 4


def test_limits_problems_in_french() -> None:
    limits = x.XAdapter.limits
    assert limits.problems(PostContent(text="a" * 280, idempotency_key="k")) == []
    assert limits.problems(PostContent(text="a" * 281, idempotency_key="k")) == [
        "Le texte compte 281 caractères pour une limite de 280."
    ]
    assert limits.problems(PostContent(text="東" * 141, idempotency_key="k")) == [
        "Le texte compte 282 caractères pour une limite de 280."
    ]
    png = Media(kind=MediaKind.IMAGE, data=b"x", mime_type="image/png", filename="a.png")
    gif = Media(kind=MediaKind.IMAGE, data=b"x", mime_type="image/gif", filename="b.gif")
    mp4 = Media(kind=MediaKind.VIDEO, data=b"x", mime_type="video/mp4", filename="c.mp4")
    five = PostContent(text="t", idempotency_key="k", media=(png,) * 5)
    assert limits.problems(five) == ["5 images pour un maximum de 4."]
    assert limits.problems(PostContent(text="t", idempotency_key="k", media=(png, mp4))) == [
        "Ce réseau ne mélange pas images et vidéos dans une publication."
    ]
    assert limits.problems(PostContent(text="t", idempotency_key="k", media=(gif, png))) == [
        "Sur X, un GIF animé doit être seul dans la publication."
    ]
    big = Media(kind=MediaKind.IMAGE, data=b"x" * 5_000_001, mime_type="image/jpeg")
    avi = Media(kind=MediaKind.VIDEO, data=b"x", mime_type="video/x-msvideo", filename="d.avi")
    alt = Media(kind=MediaKind.IMAGE, data=b"x", mime_type="image/png", alt_text="a" * 1001)
    assert limits.problems(PostContent(text="t", idempotency_key="k", media=(big,))) == [
        "media dépasse 5 Mo."
    ]
    assert limits.problems(PostContent(text="t", idempotency_key="k", media=(avi,))) == [
        "Format non accepté : video/x-msvideo (d.avi)."
    ]
    assert limits.problems(PostContent(text="t", idempotency_key="k", media=(alt,))) == [
        "Le texte alternatif de media dépasse 1000 caractères."
    ]


# --- publish ----------------------------------------------------------------------------------


def test_publish_text_with_link(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.post(f"{TW}/tweets", json=load("create_tweet"), status=201)
    published = adapter.publish(
        account,
        PostContent(
            text="Conseil municipal ce soir à 19 h & en direct sur notre site",
            idempotency_key="pub-1",
            link="https://www.parvis.fr/conseil",
        ),
    )
    assert published.external_id == PUB
    assert published.permalink == f"https://x.com/VilleDeParvis/status/{PUB}"
    assert published.published_at == dt.datetime(2026, 3, 12, 9, 59, 30, tzinfo=dt.UTC)
    call = api.calls[0]
    assert call.request.method == "POST"
    assert_bearer(call)
    assert call.request.req_kwargs["timeout"] == (5.0, 20.0)  # networks.http, through tweepy
    assert body(call) == {
        "text": "Conseil municipal ce soir à 19 h & en direct sur notre site\n\n"
        "https://www.parvis.fr/conseil"
    }


def test_publish_images_with_alt_text(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.post(f"{XAPI}/media/upload", json=load("media_upload"))
    api.post(f"{XAPI}/media/metadata", json=load("media_metadata"))
    api.post(f"{XAPI}/media/upload", json=load("media_upload_2"))
    api.post(f"{TW}/tweets", json=load("create_tweet"), status=201)
    plan = Media(
        kind=MediaKind.IMAGE,
        data=b"\x89PNG\r\n\x1a\nplan",
        mime_type="image/png",
        alt_text="Plan de la déviation rue Victor-Hugo",
        filename="plan.png",
    )
    photo = Media(kind=MediaKind.IMAGE, data=b"\xff\xd8\xffphoto", mime_type="image/jpeg")
    adapter.publish(
        account, PostContent(text="Déviation 🚧", idempotency_key="k", media=(plan, photo))
    )

    upload, metadata, upload2, create = api.calls
    assert upload.request.url == f"{XAPI}/media/upload"
    assert_bearer(upload)
    assert upload.request.req_kwargs["timeout"] == (5.0, 20.0)
    assert upload.request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="media_category"\r\n\r\ntweet_image' in upload.request.body
    assert b'name="media_type"\r\n\r\nimage/png' in upload.request.body
    assert b'filename="plan.png"' in upload.request.body
    assert b"\x89PNG\r\n\x1a\nplan" in upload.request.body
    assert_bearer(metadata)
    assert body(metadata) == {
        "id": MEDIA,
        "metadata": {"alt_text": {"text": "Plan de la déviation rue Victor-Hugo"}},
    }
    assert b"image/jpeg" in upload2.request.body
    assert body(create) == {"text": "Déviation 🚧", "media": {"media_ids": [MEDIA, MEDIA2]}}


def test_publish_media_without_text(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.post(f"{XAPI}/media/upload", json=load("media_upload"))
    api.post(f"{TW}/tweets", json=load("create_tweet"), status=201)
    photo = Media(kind=MediaKind.IMAGE, data=b"\xff\xd8\xffphoto", mime_type="image/jpeg")
    adapter.publish(account, PostContent(text="", idempotency_key="k", media=(photo,)))
    assert body(api.calls[1]) == {"media": {"media_ids": [MEDIA]}}  # no empty "text"


def test_publish_video_chunked_and_waits_for_processing(
    api: Any, adapter: x.XAdapter, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(x, "CHUNK_BYTES", 4)
    sleeps: list[float] = []
    adapter.sleep = sleeps.append  # type: ignore[assignment]
    api.post(f"{XAPI}/media/upload/initialize", json=load("media_initialize"))
    api.post(f"{XAPI}/media/upload/{VIDEO}/append", json=load("media_append"))
    api.post(f"{XAPI}/media/upload/{VIDEO}/finalize", json=load("media_finalize_pending"))
    api.get(f"{XAPI}/media/upload", json=load("media_status_in_progress"))
    api.get(f"{XAPI}/media/upload", json=load("media_status_succeeded"))
    api.post(f"{TW}/tweets", json=load("create_tweet"), status=201)
    video = Media(kind=MediaKind.VIDEO, data=b"0123456789", mime_type="video/mp4", alt_text="x")

    adapter.publish(
        account, PostContent(text="Le chantier en vidéo", idempotency_key="k", media=(video,))
    )

    calls = api.calls
    assert body(calls[0]) == {
        "media_type": "video/mp4",
        "total_bytes": 10,
        "media_category": "tweet_video",
    }
    appends = [c for c in calls if c.request.url.endswith("/append")]
    assert len(appends) == 3
    for index, (call, chunk) in enumerate(zip(appends, (b"0123", b"4567", b"89"), strict=True)):
        assert_bearer(call)
        assert f'name="segment_index"\r\n\r\n{index}'.encode() in call.request.body
        assert chunk in call.request.body
    status_calls = [c for c in calls if c.request.method == "GET"]
    assert [query(c) for c in status_calls] == [{"command": "STATUS", "media_id": VIDEO}] * 2
    assert sleeps == [1.0, 2.0]
    assert not any(c.request.url.endswith("/metadata") for c in calls)  # alt text: images only
    assert body(calls[-1]) == {"text": "Le chantier en vidéo", "media": {"media_ids": [VIDEO]}}


def test_publish_gif_uses_tweet_gif_category(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    api.post(f"{XAPI}/media/upload/initialize", json=load("media_initialize"))
    api.post(f"{XAPI}/media/upload/{VIDEO}/append", json=load("media_append"))
    api.post(f"{XAPI}/media/upload/{VIDEO}/finalize", json=load("media_status_succeeded"))
    api.post(f"{XAPI}/media/metadata", json=load("media_metadata"))
    api.post(f"{TW}/tweets", json=load("create_tweet"), status=201)
    gif = Media(kind=MediaKind.IMAGE, data=b"GIF89a", mime_type="image/gif", alt_text="Chat")
    adapter.publish(account, PostContent(text="🐈", idempotency_key="k", media=(gif,)))
    assert body(api.calls[0])["media_category"] == "tweet_gif"
    assert body(api.calls[3]) == {"id": VIDEO, "metadata": {"alt_text": {"text": "Chat"}}}


def test_publish_video_processing_failed_is_rejected(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    adapter.sleep = lambda seconds: None  # type: ignore[assignment]
    api.post(f"{XAPI}/media/upload/initialize", json=load("media_initialize"))
    api.post(f"{XAPI}/media/upload/{VIDEO}/append", json=load("media_append"))
    api.post(f"{XAPI}/media/upload/{VIDEO}/finalize", json=load("media_finalize_pending"))
    api.get(f"{XAPI}/media/upload", json=load("media_status_failed"))
    video = Media(kind=MediaKind.VIDEO, data=b"0123", mime_type="video/mp4")
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="t", idempotency_key="k", media=(video,)))
    assert caught.value.code == "media/failed"
    assert caught.value.reason.startswith("X a refusé le fichier joint")
    assert not any(c.request.url == f"{TW}/tweets" for c in api.calls)


def test_publish_checks_limits_before_any_request(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="é" * 281, idempotency_key="k"))
    assert caught.value.code == "limits"
    assert caught.value.network == "x"
    assert caught.value.reason == "Le texte compte 281 caractères pour une limite de 280."
    assert len(api.calls) == 0


def test_publish_without_token_is_auth_expired(api: Any, adapter: x.XAdapter) -> None:
    with pytest.raises(AuthExpired) as caught:
        adapter.publish(Account(network="x", external_id=OUR), PostContent("t", "k"))
    assert caught.value.code == "no_token"


# --- error mapping ----------------------------------------------------------------------------

ERRORS = [
    ("error_401", 401, AuthExpired, "401", None),
    (
        "error_403_duplicate",
        403,
        Rejected,
        "403/duplicate",
        "X refuse un message identique à un précédent.",
    ),
    (
        "error_403_client_not_enrolled",
        403,
        Rejected,
        "403/client-not-enrolled",
        "L'application X de Parvis n'a pas accès à cette fonction de l'API X ; "
        "prévenez l'administrateur de Parvis.",
    ),
    ("error_403_forbidden", 403, AuthExpired, "403", None),
    ("error_403_not_permitted", 403, Rejected, "403", "X a refusé la publication."),
    (
        "error_403_video_too_long",
        403,
        Rejected,
        "403/video-too-long",
        "La vidéo dépasse la durée que X autorise pour ce compte.",
    ),
    (
        "error_400_invalid_request",
        400,
        Rejected,
        "400/invalid-request",
        "X a refusé la publication.",
    ),
    ("error_404", 404, Rejected, "404", "Ce message ou ce compte n'existe plus sur X."),
    ("error_429_usage_capped", 429, RateLimited, "429/usage-capped", None),
    ("error_503", 503, Transient, "503", None),
]


@pytest.mark.parametrize(("payload", "status", "error", "code", "reason"), ERRORS)
def test_publish_error_mapping(
    api: Any,
    adapter: x.XAdapter,
    account: Account,
    payload: str,
    status: int,
    error: type[NetworkError],
    code: str,
    reason: str | None,
) -> None:
    api.post(f"{TW}/tweets", json=load(payload), status=status)
    with pytest.raises(error) as caught:
        adapter.publish(account, PostContent(text="Bonjour", idempotency_key="k"))
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.network == "x"
    assert caught.value.message.startswith(f"x: HTTP {status}")
    assert TOKEN not in caught.value.message
    if reason is not None:
        assert caught.value.reason == reason  # type: ignore[attr-defined]
    if error is RateLimited:
        assert caught.value.retry_after is None  # type: ignore[attr-defined]


def test_rate_limited_retry_after_from_reset_header(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    reset = int(time.time()) + 600
    api.post(
        f"{TW}/tweets",
        json=load("error_429"),
        status=429,
        headers={
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    with pytest.raises(RateLimited) as caught:
        adapter.publish(account, PostContent(text="Bonjour", idempotency_key="k"))
    assert caught.value.code == "429"
    assert 590 < caught.value.retry_after <= 600  # type: ignore[operator]


def test_rate_limited_waits_for_the_24_hour_cap(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    now = int(time.time())
    api.post(
        f"{TW}/tweets",
        json=load("error_429"),
        status=429,
        headers={
            "x-rate-limit-reset": str(now + 60),
            "x-user-limit-24hour-limit": "100",
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(now + 3600),
        },
    )
    with pytest.raises(RateLimited) as caught:
        adapter.publish(account, PostContent(text="Bonjour", idempotency_key="k"))
    assert 3590 < caught.value.retry_after <= 3600  # type: ignore[operator]


def test_credits_depleted_is_rate_limited(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.post(f"{TW}/tweets", status=402)  # pay-per-use without credits; no documented body
    with pytest.raises(RateLimited) as caught:
        adapter.publish(account, PostContent(text="Bonjour", idempotency_key="k"))
    assert (caught.value.code, caught.value.retry_after) == ("402", None)


@pytest.mark.parametrize(
    ("exception", "code"),
    [
        (requests.ConnectTimeout("connect timeout"), "timeout"),
        (requests.ConnectionError("reset"), "network"),
    ],
)
def test_network_failures_are_transient(
    api: Any, adapter: x.XAdapter, account: Account, exception: Exception, code: str
) -> None:
    api.post(f"{TW}/tweets", body=exception)
    with pytest.raises(Transient) as caught:
        adapter.publish(account, PostContent(text="Bonjour", idempotency_key="k"))
    assert caught.value.code == code
    assert caught.value.network == "x"


def test_media_upload_without_media_write_scope_asks_to_reconnect(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    api.post(f"{XAPI}/media/upload", json=load("error_403_forbidden"), status=403)
    image = Media(kind=MediaKind.IMAGE, data=b"img", mime_type="image/png")
    with pytest.raises(AuthExpired) as caught:
        adapter.publish(account, PostContent(text="t", idempotency_key="k", media=(image,)))
    assert caught.value.code == "403"


def test_media_upload_invalid_is_rejected(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.post(f"{XAPI}/media/upload", json=load("error_400_invalid_request"), status=400)
    image = Media(kind=MediaKind.IMAGE, data=b"img", mime_type="image/png")
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="t", idempotency_key="k", media=(image,)))
    assert (
        caught.value.reason == "X a refusé le fichier joint (format, taille ou durée non acceptés)."
    )


# --- inbox ------------------------------------------------------------------------------------


def inbox_responses(api: Any, *, recent: Any, search: Any, mentions: Any) -> None:
    api.get(f"{TW}/users/{OUR}/tweets", json=recent)
    api.get(f"{TW}/tweets/search/recent", json=search)
    api.get(f"{TW}/users/{OUR}/mentions", json=mentions)


def by_id(items: list[InboxEntry]) -> dict[str, InboxEntry]:
    return {i.external_id: i for i in items}


def test_fetch_inbox_first_call(api: Any, adapter: x.XAdapter, account: Account) -> None:
    inbox_responses(
        api,
        recent=load("users_tweets_recent"),
        search=load("search_conversations"),
        mentions=load("mentions_first"),
    )
    page = adapter.fetch_inbox(account, None)

    timeline, search, mentions = api.calls
    for call in api.calls:
        assert call.request.method == "GET"
        assert_bearer(call)
    assert query(timeline) == {
        "exclude": "replies,retweets",
        "start_time": "2026-03-04T10:00:00Z",
        "max_results": "100",
        "tweet.fields": "created_at",
    }
    assert query(search) == {
        "query": f"(conversation_id:{P3} OR conversation_id:{P2} OR conversation_id:{P1}) "
        f"-from:{OUR}",
        "end_time": "2026-03-12T09:59:30Z",
        "max_results": "100",
        "expansions": "author_id",
        "tweet.fields": ",".join(x.TWEET_FIELDS),
        "user.fields": "name,profile_image_url,username",
    }
    assert "since_id" not in query(mentions)
    assert query(mentions)["max_results"] == "100"

    # Sorted oldest first; C1 (a comment that also mentions us) appears once.
    assert [i.external_id for i in page.items] == [D1, C1, R1, C2, M1, M3, OLDC]
    items = by_id(page.items)
    c2 = items[C2]
    assert c2.kind == ItemKind.COMMENT
    assert (c2.post_external_id, c2.parent_id, c2.root_id) == (P1, P1, P1)
    assert c2.text == (
        "@VilleDeParvis Merci pour l'info ! 🎉 Et pour le marché & la navette, "
        "ça change quelque chose ?"
    )
    assert c2.author.handle == "@lea_martin"
    assert c2.author.display_name == "Léa Martin 🌻"
    assert c2.author.avatar_url == "https://pbs.twimg.com/profile_images/2/lea_normal.jpg"
    assert c2.created_at == dt.datetime(2026, 3, 11, 9, 3, tzinfo=dt.UTC)
    assert c2.created_at.utcoffset() == dt.timedelta(0)
    assert c2.language == "fr"
    assert c2.permalink == f"https://x.com/lea_martin/status/{C2}"
    assert c2.raw["conversation_id"] == P1

    r1 = items[R1]
    assert r1.kind == ItemKind.REPLY
    assert (r1.post_external_id, r1.parent_id, r1.root_id) == (P1, C1, P1)
    assert items[C1].kind == ItemKind.COMMENT

    # The author is suspended and the comment it answers deleted: still a clean entry.
    d1 = items[D1]
    assert d1.kind == ItemKind.REPLY
    assert (d1.post_external_id, d1.parent_id, d1.root_id) == (P2, C0, P2)
    assert d1.author.external_id == GONE
    assert d1.author.handle == ""
    assert d1.permalink == f"https://x.com/i/web/status/{D1}"

    m1 = items[M1]
    assert m1.kind == ItemKind.MENTION
    assert (m1.post_external_id, m1.parent_id, m1.root_id) == (None, OTHER, OTHER)
    m3 = items[M3]
    assert m3.kind == ItemKind.MENTION
    assert (m3.parent_id, m3.root_id) == (None, None)
    assert m3.text == "Bravo @VilleDeParvis pour le nouveau parc 🌳👏"

    # A direct answer to an older post (outside the searched conversations) is a comment.
    oldc = items[OLDC]
    assert oldc.kind == ItemKind.COMMENT
    assert (oldc.post_external_id, oldc.parent_id) == (OLD, OLD)
    assert oldc.text == "@VilleDeParvis 東京から応援しています！🗼"
    assert oldc.language == "ja"
    assert oldc.author.display_name == "佐藤健二"

    assert page.has_more is False
    assert json.loads(page.next_cursor) == {"m": {"since": OLDC}, "r": {"since": C2}}


def test_fetch_inbox_pages_carry_the_cursor(
    api: Any, adapter: x.XAdapter, account: Account, clock: dict[str, dt.datetime]
) -> None:
    start = cursor({"since": M3}, {"since": C2})
    inbox_responses(
        api,
        recent=load("users_tweets_recent"),
        search=load("search_page1"),
        mentions=load("mentions_page1"),
    )
    first = adapter.fetch_inbox(account, start)
    _timeline, search, mentions = api.calls
    assert query(search)["since_id"] == C2
    assert "next_token" not in query(search)
    assert query(mentions)["since_id"] == M3
    assert [i.external_id for i in first.items] == [M4, M5, C3]
    assert first.has_more is True
    state = json.loads(first.next_cursor)
    assert state["m"] == {
        "since": M3,
        "top": M5,
        "next": "7140dibdnow9c7btw3w29grvxfcgvpb9n6p6cx4rgbazv",
    }
    assert state["r"]["next"] == "b26v89c19zqg8o3fobd8v73egzbdt3qao235oql"
    assert (state["r"]["since"], state["r"]["top"]) == (C2, C3)

    clock["value"] = NOW + dt.timedelta(seconds=20)
    api.calls.reset()
    api.replace(responses.GET, f"{TW}/tweets/search/recent", json=load("search_page2"))
    api.replace(responses.GET, f"{TW}/users/{OUR}/mentions", json=load("mentions_page2"))
    second = adapter.fetch_inbox(account, first.next_cursor)
    _timeline, search, mentions = api.calls
    # Same round: same since_id and end_time, the page token carried over.
    assert query(search)["since_id"] == C2
    assert query(search)["next_token"] == "b26v89c19zqg8o3fobd8v73egzbdt3qao235oql"
    assert query(search)["end_time"] == "2026-03-12T09:59:30Z"
    assert query(mentions)["since_id"] == M3
    assert query(mentions)["pagination_token"] == "7140dibdnow9c7btw3w29grvxfcgvpb9n6p6cx4rgbazv"
    assert [i.external_id for i in second.items] == [M2B, C2B]
    assert second.has_more is False
    # Round over: both streams resume from the newest id of their first page.
    assert json.loads(second.next_cursor) == {"m": {"since": M5}, "r": {"since": C3}}


def test_fetch_inbox_searches_many_conversations_batch_by_batch(
    api: Any, adapter: x.XAdapter, account: Account, clock: dict[str, dt.datetime]
) -> None:
    template = load("users_tweets_recent")["data"][0]
    posts = []
    for hours in range(15):
        when = NOW - dt.timedelta(hours=6 * hours + 1)
        pid = tweet_id(when)
        posts.append(
            {
                **template,
                "id": pid,
                "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "edit_history_tweet_ids": [pid],
            }
        )
    timeline = {
        "data": posts,
        "meta": {"result_count": 15, "newest_id": posts[0]["id"], "oldest_id": posts[-1]["id"]},
    }
    one_page = load("search_page1")
    one_page["meta"] = {"newest_id": C3, "oldest_id": C3, "result_count": 1}
    inbox_responses(api, recent=timeline, search=one_page, mentions=load("mentions_empty"))
    start = cursor({"since": M3}, {"since": C2})
    first = adapter.fetch_inbox(account, start)
    first_query = query(api.calls[1])
    assert len(first_query["query"]) <= 512
    ids_sorted = sorted((p["id"] for p in posts), key=int)
    assert first_query["query"].startswith(f"(conversation_id:{ids_sorted[0]} OR ")
    assert first.has_more is True
    state = json.loads(first.next_cursor)
    assert state["r"]["batch"] == 1
    assert state["r"]["ids"] == ids_sorted

    clock["value"] = NOW + dt.timedelta(minutes=2)
    api.calls.reset()
    api.replace(responses.GET, f"{TW}/tweets/search/recent", json=load("search_empty"))
    second = adapter.fetch_inbox(account, first.next_cursor)
    second_query = query(api.calls[1])
    assert second_query["end_time"] == first_query["end_time"]  # the round's bound, not now
    assert second_query["query"].endswith(f"conversation_id:{ids_sorted[-1]}) -from:{OUR}")
    covered = (first_query["query"] + second_query["query"]).count("conversation_id:")
    assert covered == 15
    assert second.has_more is False
    assert json.loads(second.next_cursor) == {"m": {"since": M3}, "r": {"since": C3}}


def test_fetch_inbox_leaves_mentions_in_our_conversations_to_the_replies_stream(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    # C3 answers P1 and mentions us: the mentions timeline returns it, but P1's conversation
    # is searched in this round (C3 is older than its end_time), so only that stream may
    # return it -- here it does not, having returned it in an earlier round.
    mention = load("search_page1")
    mention["meta"] = {"newest_id": C3, "oldest_id": C3, "result_count": 1}
    inbox_responses(
        api, recent=load("users_tweets_recent"), search=load("search_empty"), mentions=mention
    )
    page = adapter.fetch_inbox(account, cursor({"since": M3}, {"since": C3}))
    assert page.items == []
    assert json.loads(page.next_cursor)["m"] == {"since": C3}


def test_fetch_inbox_empty_pages_keep_the_cursor(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    start = cursor({"since": M3}, {"since": C2})
    inbox_responses(
        api,
        recent=load("users_tweets_recent"),
        search=load("search_empty"),
        mentions=load("mentions_empty"),
    )
    page = adapter.fetch_inbox(account, start)
    assert page.items == []
    assert page.next_cursor == start
    assert page.has_more is False


def test_fetch_inbox_nothing_at_all_first_time(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    api.get(f"{TW}/users/{OUR}/tweets", json=load("users_tweets_empty"))
    api.get(f"{TW}/users/{OUR}/mentions", json=load("mentions_empty"))
    page = adapter.fetch_inbox(account, None)
    assert page.items == []
    assert page.next_cursor is None
    assert page.has_more is False
    assert len(api.calls) == 2  # no conversation to search


def test_fetch_inbox_since_older_than_recent_search_window(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    stale = tweet_id(NOW - dt.timedelta(days=9))
    inbox_responses(
        api,
        recent=load("users_tweets_recent"),
        search=load("search_empty"),
        mentions=load("mentions_empty"),
    )
    adapter.fetch_inbox(account, cursor({"since": stale}, {"since": stale}))
    search_params = query(api.calls[1])
    assert "since_id" not in search_params
    assert search_params["start_time"] == "2026-03-05T10:10:00Z"
    assert query(api.calls[2])["since_id"] == stale  # the mentions timeline has no such bound


def test_fetch_inbox_unreadable_cursor_starts_again(
    api: Any, adapter: x.XAdapter, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    inbox_responses(
        api,
        recent=load("users_tweets_recent"),
        search=load("search_empty"),
        mentions=load("mentions_empty"),
    )
    adapter.fetch_inbox(account, "not json")
    assert "since_id" not in query(api.calls[2])
    assert "unreadable inbox cursor" in caplog.text


def test_fetch_inbox_error_is_mapped(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.get(f"{TW}/users/{OUR}/tweets", json=load("error_401"), status=401)
    with pytest.raises(AuthExpired):
        adapter.fetch_inbox(account, None)


# --- reply, hide, delete ------------------------------------------------------------------------


def comment_ref(**kw: Any) -> ItemRef:
    values = {
        "external_id": C1,
        "kind": ItemKind.COMMENT,
        "post_external_id": P1,
        "root_id": P1,
        "parent_id": P1,
        "author_handle": "@mariedupont",
        "author_id": MARIE,
    }
    return ItemRef(**{**values, **kw})


def test_reply(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.post(f"{TW}/tweets", json=load("create_reply"), status=201)
    text = "@mariedupont Bonjour, oui : la rue est fermée aux vélos jusqu'à vendredi."
    published = adapter.reply(account, comment_ref(), text)
    assert published.external_id == REPLYPUB
    assert published.permalink == f"https://x.com/VilleDeParvis/status/{REPLYPUB}"
    assert published.published_at == dt.datetime(2026, 3, 12, 9, 59, 40, tzinfo=dt.UTC)
    assert_bearer(api.calls[0])
    assert body(api.calls[0]) == {"reply": {"in_reply_to_tweet_id": C1}, "text": text}


def test_reply_refused_by_x(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.post(f"{TW}/tweets", json=load("error_403_not_permitted"), status=403)
    with pytest.raises(Rejected) as caught:
        adapter.reply(account, comment_ref(), "Bonjour")
    assert caught.value.reason == "X a refusé la réponse."
    assert caught.value.code == "403"


def test_reply_checks_before_sending(api: Any, adapter: x.XAdapter, account: Account) -> None:
    with pytest.raises(NotSupported):
        adapter.reply(account, comment_ref(kind=ItemKind.MESSAGE), "Bonjour")
    with pytest.raises(Rejected) as empty:
        adapter.reply(account, comment_ref(), "   ")
    assert empty.value.code == "empty"
    with pytest.raises(Rejected) as long:
        adapter.reply(account, comment_ref(), "🙂" * 141)
    assert long.value.code == "limits"
    assert len(api.calls) == 0


def test_hide_and_unhide(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.put(f"{TW}/tweets/{C1}/hidden", json=load("hide_reply"))
    api.put(f"{TW}/tweets/{R1}/hidden", json=load("unhide_reply"))
    adapter.hide(account, comment_ref())
    adapter.unhide(account, comment_ref(external_id=R1, kind=ItemKind.REPLY, parent_id=C1))
    hide, unhide = api.calls
    assert hide.request.method == unhide.request.method == "PUT"
    assert_bearer(hide)
    assert body(hide) == {"hidden": True}
    assert body(unhide) == {"hidden": False}


def test_hide_a_mention_is_refused_locally(api: Any, adapter: x.XAdapter, account: Account) -> None:
    with pytest.raises(Rejected) as caught:
        adapter.hide(account, comment_ref(external_id=M3, kind=ItemKind.MENTION))
    assert caught.value.code == "not_in_conversation"
    assert len(api.calls) == 0


def test_hide_a_deleted_reply(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.put(f"{TW}/tweets/{DELETED}/hidden", json=load("error_404"), status=404)
    with pytest.raises(Rejected) as caught:
        adapter.hide(account, comment_ref(external_id=DELETED))
    assert caught.value.code == "404"
    assert caught.value.reason == "Ce message ou ce compte n'existe plus sur X."


def test_delete_our_reply(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.delete(f"{TW}/tweets/{REPLYPUB}", json=load("delete_tweet"))
    adapter.delete(account, comment_ref(external_id=REPLYPUB, kind=ItemKind.REPLY, author_id=OUR))
    assert api.calls[0].request.method == "DELETE"
    assert_bearer(api.calls[0])


def test_delete_already_deleted_is_done(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.delete(f"{TW}/tweets/{DELETED}", json=load("error_404"), status=404)
    adapter.delete(account, comment_ref(external_id=DELETED, author_id=OUR))


def test_delete_someone_elses_post_is_refused(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    with pytest.raises(Rejected) as caught:
        adapter.delete(account, comment_ref())
    assert caught.value.code == "not_ours"
    assert len(api.calls) == 0


# --- metrics ----------------------------------------------------------------------------------


def test_account_metrics(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.get(f"{TW}/users/me", json=load("users_me"))
    metrics = adapter.fetch_account_metrics(account, dt.date(2026, 3, 11))
    assert metrics.day == dt.date(2026, 3, 11)
    assert metrics.followers == 12843
    assert (metrics.impressions, metrics.reach, metrics.profile_visits, metrics.link_clicks) == (
        None,
        None,
        None,
        None,
    )
    assert query(api.calls[0]) == {"user.fields": "public_metrics"}
    assert_bearer(api.calls[0])


def test_post_metrics(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.get(f"{TW}/tweets", json=load("tweets_lookup_metrics"))
    metrics = adapter.fetch_post_metrics(account, [P1, P2, DELETED])
    assert query(api.calls[0]) == {
        "ids": f"{P1},{P2},{DELETED}",
        "tweet.fields": "public_metrics,attachments",
        "expansions": "attachments.media_keys",
        "media.fields": "public_metrics,type",
    }
    first, second = metrics  # the deleted post has none
    assert first.external_id == P1
    assert (first.impressions, first.reactions, first.comments, first.shares, first.saves) == (
        5210,
        48,
        5,
        14,
        3,
    )
    assert (first.reach, first.link_clicks, first.video_views) == (None, None, None)
    assert second.external_id == P2
    assert (second.impressions, second.reactions, second.shares) == (0, 0, 0)  # real zeros
    assert second.video_views == 3456


def test_post_metrics_of_nothing(api: Any, adapter: x.XAdapter, account: Account) -> None:
    assert adapter.fetch_post_metrics(account, []) == []
    assert len(api.calls) == 0


# --- search, find_published ---------------------------------------------------------------------


def test_search_first_page_then_newer_only(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.get(f"{TW}/tweets/search/recent", json=load("search_watch"))
    page = adapter.search(account, "piscine Parvis", None)
    params = query(api.calls[0])
    assert params["query"] == "piscine Parvis"
    assert "since_id" not in params
    assert [i.external_id for i in page.items] == [S1, S2]
    assert all(i.kind == ItemKind.MENTION and i.post_external_id is None for i in page.items)
    assert page.items[1].text == "La piscine de #Parvis est fermée jusqu'à lundi, dommage 😕"
    assert page.has_more is False  # a first search does not dig into the past
    assert json.loads(page.next_cursor) == {"q": "piscine Parvis", "since": S2}

    api.calls.reset()
    api.replace(responses.GET, f"{TW}/tweets/search/recent", json=load("search_empty"))
    again = adapter.search(account, "piscine Parvis", page.next_cursor)
    assert query(api.calls[0])["since_id"] == S2
    assert again.items == []
    assert again.next_cursor == page.next_cursor

    api.calls.reset()
    adapter.search(account, "marché", page.next_cursor)
    assert "since_id" not in query(api.calls[0])  # another query starts afresh


def test_search_pagination(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.get(f"{TW}/tweets/search/recent", json=load("search_watch"))
    start = json.dumps({"q": "piscine", "since": C2}, separators=(",", ":"))
    page = adapter.search(account, "piscine", start)
    assert page.has_more is True
    state = json.loads(page.next_cursor)
    assert state == {
        "q": "piscine",
        "since": C2,
        "top": S2,
        "next": "b26v89c19zqg8o3fobd8v73egzbg6qs3e7tsv0a",
    }
    api.calls.reset()
    api.replace(responses.GET, f"{TW}/tweets/search/recent", json=load("search_empty"))
    last = adapter.search(account, "piscine", page.next_cursor)
    params = query(api.calls[0])
    assert (params["since_id"], params["next_token"]) == (C2, state["next"])
    assert json.loads(last.next_cursor) == {"q": "piscine", "since": S2}


def test_find_published(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.get(f"{TW}/users/{OUR}/tweets", json=load("users_tweets_since"))
    content = PostContent(
        text="Conseil municipal ce soir à 19 h & en direct sur notre site",
        idempotency_key="pub-1",
        link="https://www.parvis.fr/conseil",
    )
    found = adapter.find_published(account, content, NOW - dt.timedelta(minutes=10))
    assert found is not None
    assert found.external_id == PUB
    assert found.permalink == f"https://x.com/VilleDeParvis/status/{PUB}"
    assert found.published_at == dt.datetime(2026, 3, 12, 9, 59, 30, tzinfo=dt.UTC)
    assert query(api.calls[0]) == {
        "exclude": "retweets",
        "start_time": "2026-03-12T09:50:00Z",
        "max_results": "100",
        "tweet.fields": "created_at,note_tweet",
    }


def test_find_published_nothing(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.get(f"{TW}/users/{OUR}/tweets", json=load("users_tweets_since"))
    missing = PostContent(text="Fermeture de la piscine lundi", idempotency_key="k")
    assert adapter.find_published(account, missing, NOW - dt.timedelta(hours=1)) is None


# --- tokens -----------------------------------------------------------------------------------


def basic() -> str:
    return "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def test_refresh_not_needed_yet(api: Any, adapter: x.XAdapter, account: Account) -> None:
    assert adapter.refresh_credentials(account) is False
    assert account.credentials_changed is False
    assert len(api.calls) == 0


def test_refresh_when_expiring(
    api: Any, adapter: x.XAdapter, account: Account, x_app: None
) -> None:
    account.credentials["expires_at"] = (NOW + dt.timedelta(minutes=5)).isoformat()
    api.post(f"{XAPI}/oauth2/token", json=load("token"))
    assert adapter.refresh_credentials(account) is True
    call = api.calls[0]
    assert call.request.headers["Authorization"] == basic()
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(call) == {"grant_type": "refresh_token", "refresh_token": REFRESH}
    assert account.credentials_changed is True
    assert account.credentials == {
        "access_token": load("token")["access_token"],
        "refresh_token": load("token")["refresh_token"],
        "expires_at": "2026-03-12T12:00:00+00:00",
        "scope": load("token")["scope"],
    }


def test_refresh_refused_asks_to_reconnect(
    api: Any, adapter: x.XAdapter, account: Account, x_app: None
) -> None:
    account.credentials["expires_at"] = (NOW - dt.timedelta(minutes=1)).isoformat()
    api.post(f"{XAPI}/oauth2/token", json=load("token_error_invalid_request"), status=400)
    with pytest.raises(AuthExpired) as caught:
        adapter.refresh_credentials(account)
    assert caught.value.code == "invalid_request"
    assert account.credentials_changed is False


def test_refresh_without_refresh_token(api: Any, adapter: x.XAdapter, account: Account) -> None:
    del account.credentials["refresh_token"]
    account.credentials["expires_at"] = (NOW - dt.timedelta(minutes=1)).isoformat()
    with pytest.raises(AuthExpired) as caught:
        adapter.refresh_credentials(account)
    assert caught.value.code == "no_refresh_token"


def test_refresh_server_error_is_transient(
    api: Any, adapter: x.XAdapter, account: Account, x_app: None
) -> None:
    account.credentials["expires_at"] = (NOW + dt.timedelta(minutes=1)).isoformat()
    api.post(f"{XAPI}/oauth2/token", json=load("error_503"), status=503)
    with pytest.raises(Transient):
        adapter.refresh_credentials(account)


# --- connector --------------------------------------------------------------------------------


def test_connector_reports_missing_settings(settings: Any) -> None:
    settings.PARVIS_NETWORK_APPS = {"x": {"client_id": "", "client_secret": ""}}
    assert x.XConnector().missing_settings() == ["X_CLIENT_ID", "X_CLIENT_SECRET"]
    settings.PARVIS_NETWORK_APPS = {"x": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}}
    assert x.XConnector().missing_settings() == []


def test_connector_start(x_app: None) -> None:
    start = x.XConnector().start(
        redirect_uri="https://parvis.example/connexions/x/retour/", state="st4te", form={}
    )
    assert start.url.startswith("https://x.com/i/oauth2/authorize?")
    assert "scope=tweet.read%20tweet.write%20users.read%20offline.access" in start.url
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.url).query).items()}
    verifier = start.flow_data["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert params == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "https://parvis.example/connexions/x/retour/",
        "scope": "tweet.read tweet.write users.read offline.access tweet.moderate.write "
        "media.write",
        "state": "st4te",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    assert 43 <= len(verifier) <= 128


def test_connector_start_not_configured(settings: Any) -> None:
    settings.PARVIS_NETWORK_APPS = {"x": {}}
    with pytest.raises(Rejected) as caught:
        x.XConnector().start(redirect_uri="https://p/", state="s", form={})
    assert caught.value.code == "not_configured"


def test_connector_finish(api: Any, x_app: None) -> None:
    api.post(f"{XAPI}/oauth2/token", json=load("token"))
    api.get(f"{TW}/users/me", json=load("users_me_connect"))
    accounts = x.XConnector().finish(
        redirect_uri="https://parvis.example/connexions/x/retour/",
        query={
            "code": "VGNibzFWSWREZm01bjN1N3dicWlNUG1oa2xRRVNNdmVHelJGY2hPWGxNd2dxOjE2",
            "state": "st4te",
        },
        flow_data={"code_verifier": "v" * 64},
    )
    token, me = api.calls
    assert token.request.headers["Authorization"] == basic()
    assert form(token) == {
        "grant_type": "authorization_code",
        "code": "VGNibzFWSWREZm01bjN1N3dicWlNUG1oa2xRRVNNdmVHelJGY2hPWGxNd2dxOjE2",
        "redirect_uri": "https://parvis.example/connexions/x/retour/",
        "code_verifier": "v" * 64,
    }
    assert me.request.headers["Authorization"] == f"Bearer {load('token')['access_token']}"
    [connected] = accounts
    assert (connected.external_id, connected.handle, connected.display_name) == (
        OUR,
        "@VilleDeParvis",
        "Ville de Parvis",
    )
    assert connected.credentials["refresh_token"] == load("token")["refresh_token"]
    assert connected.token_expires_at == NOW + dt.timedelta(hours=2)


def test_connector_finish_refused_code(api: Any, x_app: None) -> None:
    api.post(f"{XAPI}/oauth2/token", json=load("token_error_invalid_request"), status=400)
    with pytest.raises(Rejected) as caught:
        x.XConnector().finish(
            redirect_uri="https://p/", query={"code": "expired"}, flow_data={"code_verifier": "v"}
        )
    assert caught.value.code == "invalid_request"
    assert "recommencez la connexion" in caught.value.reason


def test_connector_finish_without_code(x_app: None) -> None:
    with pytest.raises(Rejected) as caught:
        x.XConnector().finish(redirect_uri="https://p/", query={"state": "s"}, flow_data={})
    assert caught.value.code == "no_code"


# --- secrets never leak -----------------------------------------------------------------------


def test_no_secret_in_errors_or_logs(
    api: Any, adapter: x.XAdapter, account: Account, x_app: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Production keeps tweepy at WARNING; here its request log must run, and be masked.
    caplog.set_level(logging.DEBUG, logger="tweepy")
    api.post(f"{TW}/tweets", json=load("error_401"), status=401)
    api.get(f"{TW}/users/{OUR}/tweets", json=load("error_503"), status=503)
    api.post(f"{XAPI}/media/upload", body=requests.ConnectionError(f"Bearer {TOKEN}"))
    api.post(f"{XAPI}/oauth2/token", json=load("token_error_invalid_request"), status=400)
    api.put(f"{TW}/tweets/{C1}/hidden", body=requests.ConnectTimeout())
    image = Media(kind=MediaKind.IMAGE, data=b"img", mime_type="image/png")
    expiring = Account(
        network="x",
        external_id=OUR,
        credentials={**account.credentials, "expires_at": NOW.isoformat()},
    )
    failures = [
        lambda: adapter.publish(account, PostContent(text="Bonjour", idempotency_key="k")),
        lambda: adapter.fetch_inbox(account, None),
        lambda: adapter.publish(account, PostContent("t", "k", media=(image,))),
        lambda: adapter.refresh_credentials(expiring),
        lambda: adapter.hide(account, comment_ref()),
    ]
    raised: list[NetworkError] = []
    for failure in failures:
        with pytest.raises(NetworkError) as caught:
            failure()
        raised.append(caught.value)
    assert [type(e) for e in raised] == [AuthExpired, Transient, Transient, AuthExpired, Transient]
    for secret in (TOKEN, REFRESH, CLIENT_SECRET):
        for error in raised:
            assert secret not in str(error)
            assert secret not in error.message
            assert secret not in getattr(error, "reason", "")
        assert secret not in caplog.text
    assert "Bearer [masqué]" in caplog.text  # tweepy's request log ran, masked


def test_fetch_inbox_an_edited_mention_keeps_its_first_id(
    api: Any, adapter: x.XAdapter, account: Account
) -> None:
    # X gives an edited post a new id; its edit history starts with the first version's
    # id (M5, collected earlier from mentions_page1), which the entry keeps.
    edited = load("mentions_edited")
    api.get(f"{TW}/users/{OUR}/tweets", json=load("users_tweets_empty"))
    api.get(f"{TW}/users/{OUR}/mentions", json=edited)
    page = adapter.fetch_inbox(account, cursor({"since": M5}, {}))
    (entry,) = page.items
    new_id = edited["data"][0]["id"]
    assert entry.external_id == M5
    assert entry.text.endswith("Le bassin nordique aussi ?")
    assert entry.edited_at == dt.datetime(2026, 3, 12, 8, 30, tzinfo=dt.UTC)
    assert entry.permalink.endswith(f"/status/{new_id}")
    assert "edit_history_tweet_ids" in query(api.calls[-1])["tweet.fields"]


def test_gone_tells_the_deleted_posts_only(api: Any, adapter: x.XAdapter, account: Account) -> None:
    api.get(f"{TW}/tweets", json=load("tweets_lookup_gone"))

    # P3 belongs to an account we may not see (protected since): not taken for removed
    assert adapter.gone(account, [P1, DELETED, P3]) == {DELETED}
    assert query(api.calls[0]) == {"ids": f"{P1},{DELETED},{P3}"}
    assert_bearer(api.calls[0])


def test_gone_of_nothing_asks_nothing(api: Any, adapter: x.XAdapter, account: Account) -> None:
    assert adapter.gone(account, []) == set()
    assert len(api.calls) == 0
