"""Contract tests for the LinkedIn adapter and connector, HTTP faked at the transport (respx).

Payloads (tests/networks/payloads/linkedin/) follow the shapes of LinkedIn's Marketing API
reference pages (learn.microsoft.com/linkedin/..., versioned API, LinkedIn-Version 202606):

- posts_by_author_*.json, post_mentioning.json: Posts API, "Find Posts by Authors" and
  "Retrieve Posts" (elements with id, author, commentary, lifecycleState, createdAt,
  lastModifiedAt, publishedAt, distribution, content; paging start/count/total/links);
  commentary in the "little" text format (escapes, {hashtag|\\#|...}, @[Name](urn)).
- images_initialize_upload.json: Images API, "Initialize Image Upload" (value.uploadUrl,
  value.image, value.uploadUrlExpiresAt). videos_initialize_upload.json: Videos API,
  "Initialize Video Upload" (value.video, value.uploadInstructions[firstByte,lastByte,
  uploadUrl], value.uploadToken).
- comments_*.json, comment_replies.json, comment_created.json: Comments API, "Get Comments
  on Shares" / "Get Comments on Comments" / "Create a Comment" (actor, commentUrn, $URN, id,
  created/lastModified audit stamps, message.text, object, parentComment, commentsSummary,
  likesSummary).
- notifications_*.json: Organization Social Action Notifications, pull finder
  (q=criteria: action, notificationId, lastModifiedAt, sourcePost, decoratedSourcePost,
  generatedActivity, decoratedGeneratedActivity.comment). The SHARE_MENTION decoration
  (decoratedGeneratedActivity.share) mirrors the documented comment decoration; the adapter
  also handles a mention without it by reading the post (notifications_page3.json).
- share_statistics_*.json: Organization Share Statistics (totalShareStatistics with
  impressionCount, uniqueImpressionsCount, clickCount, likeCount, commentCount, shareCount,
  engagement; time-bound elements carry timeRange, per-post ones share / ugcPost).
- follower_statistics_since.json: Organization Follower Statistics, time-bound
  (followerGains.organicFollowerGain / paidFollowerGain). network_size.json: Organization
  Follower count, networkSizes with edgeType=COMPANY_FOLLOWED_BY_MEMBER (firstDegreeSize).
- page_statistics_day.json: Organization Page Statistics, time-bound
  (totalPageStatistics.views.allPageViews.pageViews).
- organization_acls.json: Organization Access Control, q=roleAssignee (role, state,
  roleAssignee, organization). organizations_batch.json: Organization Lookup, batch get
  ids=List(...) (results, statuses, errors; localizedName, vanityName).
- access_token.json, refresh_token.json, oauth_invalid_grant.json: Authorization Code Flow
  and Programmatic Refresh Tokens (access_token, expires_in, refresh_token,
  refresh_token_expires_in, scope; OAuth error/error_description).
- error_*.json: API concepts, Error Handling (status, serviceErrorCode, code, message; 65600
  invalid / 65601 revoked token; 403 ACCESS_DENIED "Not enough permissions"), Rate Limits
  (429, daily, no Retry-After), and the Posts API duplicate answer (422, errorDetails.
  inputErrors[].code DUPLICATE_POST, as LinkedIn returns it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from networks.adapters import linkedin
from networks.adapters.linkedin import LinkedInAdapter, LinkedInConnector
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

PAYLOADS = Path(__file__).parent / "payloads" / "linkedin"
API = "https://api.linkedin.com"
TOKEN = "AQVtest-access-token-9f8e7d6c5b4a3210"
REFRESH = "AQWtest-refresh-token-0123456789abcdef"
SECRET = "test-client-secret-5e6f7a8b"
ORG = "urn:li:organization:2414183"
ORG_ENC = "urn%3Ali%3Aorganization%3A2414183"
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
POST_A = "urn:li:share:7207000000000000001"
POST_B = "urn:li:ugcPost:7207000000000000002"
C1 = "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000101)"
C1_ENC = (
    "urn%3Ali%3Acomment%3A%28urn%3Ali%3Aactivity%3A7207000000000000011%2C7207000000000000101%29"
)


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def ok(name: str, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=payload(name), headers=headers)


def assert_api_headers(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["LinkedIn-Version"] == "202606"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def by_start(*pages: str) -> Callable[[httpx.Request], httpx.Response]:
    """Serve one payload per page of a start/count collection (page size 2)."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["count"] == "2"
        return ok(pages[int(request.url.params["start"]) // 2])

    return handler


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, dt.datetime]:
    now = {"value": NOW}
    monkeypatch.setattr(linkedin, "utcnow", lambda: now["value"])
    return now


@pytest.fixture
def account() -> Account:
    return Account(
        network="linkedin",
        external_id=ORG,
        handle="ville-de-testville",
        credentials={
            "access_token": TOKEN,
            "token_expires_at": (NOW + dt.timedelta(days=40)).isoformat(),
            "refresh_token": REFRESH,
            "refresh_token_expires_at": (NOW + dt.timedelta(days=300)).isoformat(),
        },
    )


@pytest.fixture
def adapter(clock: dict[str, dt.datetime]) -> LinkedInAdapter:
    instance = LinkedInAdapter()
    instance.page_size = 2  # small pages, so the payloads exercise pagination
    return instance


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    # Any request without a route fails the test: nothing reaches a network.
    with respx.mock(assert_all_called=True) as router:
        yield router


@pytest.fixture
def app_settings(settings: Any) -> None:
    settings.PARVIS_NETWORK_APPS = {
        **settings.PARVIS_NETWORK_APPS,
        "linkedin": {"client_id": "86abcdef123456", "client_secret": SECRET},
    }


# --- limits ----------------------------------------------------------------------------------


def test_limits_are_linkedins_documented_numbers() -> None:
    limits = LinkedInAdapter.limits
    assert LinkedInAdapter.network == "linkedin"
    assert limits.max_chars == 3000
    assert limits.max_images == 20
    assert limits.max_videos == 1
    assert limits.mix_images_and_videos is False
    assert limits.image_formats == ("image/jpeg", "image/png", "image/gif")
    assert limits.video_formats == ("video/mp4",)
    assert limits.max_video_bytes == 500_000_000
    assert limits.alt_text is True and limits.alt_text_max == 4086
    assert limits.threads is False
    assert limits.url_length is None and limits.weighted is False
    assert limits.count("é" * 3000) == 3000  # characters, not bytes
    assert limits.count("🎉 https://www.example.fr/une/longue/adresse") == 43  # URLs in full


def test_limits_problems_are_french_sentences() -> None:
    image = Media(MediaKind.IMAGE, b"x", "image/jpeg", alt_text="a" * 4087, filename="a.jpg")
    video = Media(MediaKind.VIDEO, b"x", "video/quicktime", filename="b.mov")
    content = PostContent(text="x" * 3001, idempotency_key="k", media=(image,) * 21 + (video,))
    problems = LinkedInAdapter.limits.problems(content)
    assert "Le texte compte 3001 caractères pour une limite de 3000." in problems
    assert "21 images pour un maximum de 20." in problems
    assert "Ce réseau ne mélange pas images et vidéos dans une publication." in problems
    assert "Format non accepté : video/quicktime (b.mov)." in problems
    assert "Le texte alternatif de a.jpg dépasse 4086 caractères." in problems


# --- publish ---------------------------------------------------------------------------------


def test_publish_text_escapes_little_text_and_keeps_hashtags(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    route = mock.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            201, headers={"x-restli-id": "urn:li:share:7207000000000000900"}
        )
    )
    text = "Fête (21 juin) 🎶 #Musique avec @mairie [gratuit] <3 a_b *c* ~d~ {x} | \\ n°#1"
    published = adapter.publish(account, PostContent(text=text, idempotency_key="v1"))

    request = route.calls.last.request
    assert_api_headers(request)
    assert request.method == "POST"
    assert body(request) == {
        "author": ORG,
        "commentary": (
            "Fête \\(21 juin\\) 🎶 #Musique avec \\@mairie \\[gratuit\\] \\<3 a\\_b \\*c\\* "
            "\\~d\\~ \\{x\\} \\| \\\\ n°\\#1"
        ),
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    assert published.external_id == "urn:li:share:7207000000000000900"
    assert published.permalink == (
        "https://www.linkedin.com/feed/update/urn:li:share:7207000000000000900/"
    )
    assert published.published_at == NOW
    # what LinkedIn gives back reads as what we wrote
    assert linkedin.unescape_little(body(request)["commentary"]) == text


def test_publish_one_image_uploads_then_posts_it_with_alt_text(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    init = mock.post(f"{API}/rest/images", params={"action": "initializeUpload"}).mock(
        return_value=ok("images_initialize_upload")
    )
    upload_url = payload("images_initialize_upload")["value"]["uploadUrl"]
    upload = mock.put(upload_url).mock(return_value=httpx.Response(201))
    post = mock.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            201, headers={"x-restli-id": "urn:li:share:7207000000000000901"}
        )
    )
    image = Media(MediaKind.IMAGE, b"\x89PNG-bytes", "image/png", alt_text="Le parvis 🌳")
    adapter.publish(
        account, PostContent(text="Le parvis rénové", idempotency_key="v2", media=(image,))
    )

    assert str(init.calls.last.request.url) == f"{API}/rest/images?action=initializeUpload"
    assert_api_headers(init.calls.last.request)
    assert body(init.calls.last.request) == {"initializeUploadRequest": {"owner": ORG}}
    put = upload.calls.last.request
    assert put.method == "PUT" and put.content == b"\x89PNG-bytes"
    assert put.headers["Authorization"] == f"Bearer {TOKEN}"
    assert put.headers["Content-Type"] == "application/octet-stream"
    assert body(post.calls.last.request)["content"] == {
        "media": {"id": "urn:li:image:C4E10AQFoyyAjHPMQuQ", "altText": "Le parvis 🌳"}
    }
    assert body(post.calls.last.request)["commentary"] == "Le parvis rénové"


def test_publish_several_images_is_a_multi_image_post(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    init = mock.post(f"{API}/rest/images", params={"action": "initializeUpload"}).mock(
        return_value=ok("images_initialize_upload")
    )
    upload = mock.put(payload("images_initialize_upload")["value"]["uploadUrl"]).mock(
        return_value=httpx.Response(201)
    )
    post = mock.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            201, headers={"x-restli-id": "urn:li:share:7207000000000000902"}
        )
    )
    media = (
        Media(MediaKind.IMAGE, b"one", "image/jpeg", alt_text="Avant"),
        Media(MediaKind.IMAGE, b"two", "image/jpeg"),
    )
    adapter.publish(account, PostContent(text="Avant / après", idempotency_key="v3", media=media))

    assert init.call_count == 2 and upload.call_count == 2
    assert [c.request.content for c in upload.calls] == [b"one", b"two"]
    assert body(post.calls.last.request)["content"] == {
        "multiImage": {
            "images": [
                {"id": "urn:li:image:C4E10AQFoyyAjHPMQuQ", "altText": "Avant"},
                {"id": "urn:li:image:C4E10AQFoyyAjHPMQuQ"},
            ]
        }
    }


def test_publish_link_is_an_article(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    post = mock.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            201, headers={"x-restli-id": "urn:li:share:7207000000000000903"}
        )
    )
    content = PostContent(
        text="Inscriptions ouvertes pour la rentrée scolaire\nTout est en ligne.",
        idempotency_key="v4",
        link="https://www.testville.fr/ecoles?x=1",
    )
    adapter.publish(account, content)
    sent = body(post.calls.last.request)
    assert sent["content"] == {
        "article": {
            "source": "https://www.testville.fr/ecoles?x=1",
            "title": "Inscriptions ouvertes pour la rentrée scolaire",
        }
    }
    assert (
        sent["commentary"] == "Inscriptions ouvertes pour la rentrée scolaire\nTout est en ligne."
    )


def test_publish_link_with_an_image_keeps_the_link_in_the_text(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.post(f"{API}/rest/images", params={"action": "initializeUpload"}).mock(
        return_value=ok("images_initialize_upload")
    )
    mock.put(payload("images_initialize_upload")["value"]["uploadUrl"]).mock(
        return_value=httpx.Response(201)
    )
    post = mock.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            201, headers={"x-restli-id": "urn:li:share:7207000000000000904"}
        )
    )
    image = Media(MediaKind.IMAGE, b"img", "image/jpeg")
    content = PostContent(
        text="Le programme", idempotency_key="v5", media=(image,), link="https://t.fr/p"
    )
    adapter.publish(account, content)
    sent = body(post.calls.last.request)
    assert sent["commentary"] == "Le programme\n\nhttps://t.fr/p"
    assert "article" not in sent["content"]


def test_publish_video_uploads_each_part_then_finalizes(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    init = mock.post(f"{API}/rest/videos", params={"action": "initializeUpload"}).mock(
        return_value=ok("videos_initialize_upload")
    )
    parts = payload("videos_initialize_upload")["value"]["uploadInstructions"]
    first = mock.put(parts[0]["uploadUrl"]).mock(
        return_value=httpx.Response(200, headers={"ETag": '"etag-part-1"'})
    )
    second = mock.put(parts[1]["uploadUrl"]).mock(
        return_value=httpx.Response(200, headers={"ETag": '"etag-part-2"'})
    )
    finalize = mock.post(f"{API}/rest/videos", params={"action": "finalizeUpload"}).mock(
        return_value=httpx.Response(200)
    )
    post = mock.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            201, headers={"x-restli-id": "urn:li:ugcPost:7207000000000000905"}
        )
    )
    data = bytes(range(256)) * 16384 + b"z" * 100  # 4,194,404 bytes: two parts
    video = Media(MediaKind.VIDEO, data, "video/mp4", filename="clip.mp4")
    published = adapter.publish(
        account, PostContent(text="En vidéo", idempotency_key="v6", media=(video,))
    )

    assert body(init.calls.last.request) == {
        "initializeUploadRequest": {
            "owner": ORG,
            "fileSizeBytes": 4194404,
            "uploadCaptions": False,
            "uploadThumbnail": False,
        }
    }
    assert first.calls.last.request.content == data[:4194304]
    assert second.calls.last.request.content == data[4194304:]
    assert body(finalize.calls.last.request) == {
        "finalizeUploadRequest": {
            "video": "urn:li:video:C5505AQH-oV1qvnFtKA",
            "uploadToken": "",
            "uploadedPartIds": ['"etag-part-1"', '"etag-part-2"'],
        }
    }
    assert_api_headers(finalize.calls.last.request)
    assert body(post.calls.last.request)["content"] == {
        "media": {"id": "urn:li:video:C5505AQH-oV1qvnFtKA"}
    }
    assert published.external_id == "urn:li:ugcPost:7207000000000000905"


def test_publish_refuses_what_the_limits_forbid_without_calling_linkedin(
    adapter: LinkedInAdapter, account: Account
) -> None:
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(Rejected) as caught:
            adapter.publish(account, PostContent(text="x" * 3001, idempotency_key="v7"))
        assert not router.calls
    assert caught.value.code == "limits" and caught.value.network == "linkedin"
    assert caught.value.reason == "Le texte compte 3001 caractères pour une limite de 3000."


def test_publish_duplicate_is_rejected_with_a_french_reason(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.post(f"{API}/rest/posts").mock(return_value=ok("error_422_duplicate_post", 422))
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, PostContent(text="Bonjour", idempotency_key="v8"))
    assert caught.value.code == "422/DUPLICATE_POST"
    assert caught.value.network == "linkedin"
    assert caught.value.reason == (
        "LinkedIn refuse cette publication : un contenu identique a déjà été publié "
        "récemment sur cette page."
    )
    assert "urn:li:share:7141138937766391808" in caught.value.message


def test_publish_never_sends_the_token_to_a_foreign_upload_host(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    answer = payload("images_initialize_upload")
    answer["value"]["uploadUrl"] = "https://uploads.example.net/put-here"
    mock.post(f"{API}/rest/images").mock(return_value=httpx.Response(200, json=answer))
    image = Media(MediaKind.IMAGE, b"img", "image/jpeg")
    with pytest.raises(Transient) as caught:
        adapter.publish(account, PostContent(text="x", idempotency_key="v9", media=(image,)))
    assert caught.value.code == "upload_url"
    assert [c.request.url.host for c in mock.calls] == ["api.linkedin.com"]


def test_publish_without_an_id_in_the_answer_is_transient(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.post(f"{API}/rest/posts").mock(return_value=httpx.Response(201))
    with pytest.raises(Transient) as caught:
        adapter.publish(account, PostContent(text="x", idempotency_key="v10"))
    assert caught.value.code == "no_id"


# --- fetch_inbox -----------------------------------------------------------------------------


def inbox_routes(
    mock: respx.MockRouter, notifications: tuple[str, ...], comments: tuple[str, ...]
) -> dict[str, respx.Route]:
    return {
        "notifications": mock.get(f"{API}/rest/organizationalEntityNotifications").mock(
            side_effect=by_start(*notifications)
        ),
        "comments_a": mock.get(path=f"/rest/socialActions/{POST_A}/comments").mock(
            side_effect=by_start(*comments)
        ),
        "comments_b": mock.get(path=f"/rest/socialActions/{POST_B}/comments").mock(
            return_value=ok("error_404_not_found", 404)
        ),
        "replies": mock.get(path=f"/rest/socialActions/{C1}/comments").mock(
            return_value=ok("comment_replies")
        ),
        "mentioning_post": mock.get(path="/rest/posts/urn:li:share:7207000000000000302").mock(
            return_value=ok("post_mentioning")
        ),
    }


def test_fetch_inbox_first_call(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    routes = inbox_routes(
        mock,
        ("notifications_page1", "notifications_page2", "notifications_page3"),
        ("comments_page1", "comments_page2"),
    )
    page = adapter.fetch_inbox(account, None)

    # notifications: three pages, from 7 days (plus the overlap hour) back to now
    start = ms(NOW - dt.timedelta(days=7, hours=1))
    urls = [str(c.request.url) for c in routes["notifications"].calls]
    assert urls == [
        f"{API}/rest/organizationalEntityNotifications?q=criteria"
        f"&actions=List(COMMENT,SHARE_MENTION)&organizationalEntity={ORG_ENC}"
        f"&timeRange=(start:{start},end:{ms(NOW)})&start={s}&count=2"
        for s in (0, 2, 4)
    ]
    for route in routes.values():
        for call in route.calls:
            assert_api_headers(call.request)
            assert call.request.method == "GET"
    # comments of the post named twice are read once, on two pages; the deleted post's 404
    # is skipped; replies are read under the comment that has some
    assert [str(c.request.url) for c in routes["comments_a"].calls] == [
        f"{API}/rest/socialActions/urn%3Ali%3Ashare%3A7207000000000000001/comments"
        f"?start={s}&count=2"
        for s in (0, 2)
    ]
    assert routes["comments_b"].call_count == 1
    assert str(routes["replies"].calls.last.request.url) == (
        f"{API}/rest/socialActions/{C1_ENC}/comments?start=0&count=2"
    )

    items = page.items
    assert [(i.kind, i.external_id) for i in items] == [
        (ItemKind.COMMENT, C1),
        (
            ItemKind.COMMENT,
            "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000102)",
        ),
        (
            ItemKind.REPLY,
            "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000202)",
        ),
        (ItemKind.MENTION, "urn:li:share:7207000000000000301"),
        (ItemKind.MENTION, "urn:li:share:7207000000000000302"),
    ]  # the page's own reply and the 10-day-old comment are left out
    first, second, reply, mention, mention2 = items
    assert first.author.external_id == "urn:li:person:Ab1Cd2Ef3"
    assert first.text == "Bonjour, la déchetterie est-elle ouverte le dimanche ? 🙏"
    assert first.created_at == NOW - dt.timedelta(hours=3)
    assert first.created_at.tzinfo == dt.UTC
    assert first.post_external_id == POST_A
    assert first.parent_id is None and first.root_id is None
    assert first.permalink == (
        f"https://www.linkedin.com/feed/update/{POST_A}/?commentUrn={C1_ENC}"
    )
    assert first.language is None
    assert first.raw["commentUrn"] == C1
    assert second.text == "Très bonne initiative 👏🏽 — bravo à l'équipe ! (enfin)"
    assert reply.parent_id == C1 and reply.root_id == C1
    assert reply.post_external_id == POST_A
    assert reply.text == "Merci ! 👍 Et les jours fériés ?"
    assert mention.author.external_id == "urn:li:person:Zx9Yw8Vu7"
    assert mention.text == "Merci Ville de Testville pour le marché de Noël #noel 🎄"
    assert mention.created_at == NOW - dt.timedelta(hours=1)
    assert mention.post_external_id is None
    assert mention.permalink == (
        "https://www.linkedin.com/feed/update/urn:li:share:7207000000000000301/"
    )
    assert mention.raw["notification"]["notificationId"] == 5603453324
    assert mention2.author.external_id == "urn:li:person:Qr5St6Uv7"
    assert mention2.text == (
        "Réunion publique ce soir avec #Testville et Ville de Testville (salle des fêtes)"
    )
    assert page.next_cursor and page.has_more is False


def test_fetch_inbox_again_returns_nothing_twice_and_what_is_new(
    adapter: LinkedInAdapter,
    account: Account,
    mock: respx.MockRouter,
    clock: dict[str, dt.datetime],
) -> None:
    routes = inbox_routes(
        mock,
        ("notifications_page1", "notifications_page2", "notifications_page3"),
        ("comments_page1", "comments_page2"),
    )
    first = adapter.fetch_inbox(account, None)
    assert len(first.items) == 5

    # the same answers again: nothing is returned twice, the cursor stays usable
    again = adapter.fetch_inbox(account, first.next_cursor)
    assert again.items == [] and again.next_cursor
    newest = NOW - dt.timedelta(minutes=30)  # the last item seen
    window = ms(newest - dt.timedelta(hours=1))
    assert f"&timeRange=(start:{window},end:{ms(NOW)})" in str(
        routes["notifications"].calls.last.request.url
    )

    # later: one new comment, and one dated before the watermark that LinkedIn listed late
    clock["value"] = NOW + dt.timedelta(minutes=20)
    routes["comments_a"].side_effect = by_start("comments_later")
    later = adapter.fetch_inbox(account, again.next_cursor)
    assert [(i.external_id, i.created_at) for i in later.items] == [
        (
            "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000105)",
            NOW - dt.timedelta(minutes=45),
        ),
        (
            "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000104)",
            NOW + dt.timedelta(minutes=10),
        ),
    ]
    # and once more: nothing new
    assert adapter.fetch_inbox(account, later.next_cursor).items == []


def test_fetch_inbox_with_no_notification_returns_no_item_and_a_cursor(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{API}/rest/organizationalEntityNotifications").mock(
        return_value=ok("notifications_empty")
    )
    page = adapter.fetch_inbox(account, "not-a-cursor")  # unreadable: starts again
    assert page.items == [] and page.next_cursor
    assert f"timeRange=(start:{ms(NOW - dt.timedelta(days=7, hours=1))}," in str(
        route.calls.last.request.url
    )
    # a quiet page: the watermark still moves on (to "now - 1 hour"), the window stays short
    assert adapter.fetch_inbox(account, page.next_cursor).items == []
    assert f"timeRange=(start:{ms(NOW - dt.timedelta(hours=2))},end:{ms(NOW)})" in str(
        route.calls.last.request.url
    )
    # after a long stop, no further back than 30 days (LinkedIn keeps notifications 60 days)
    old = linkedin.InboxCursor(since_ms=ms(NOW - dt.timedelta(days=90))).encode()
    assert adapter.fetch_inbox(account, old).items == []
    assert f"timeRange=(start:{ms(NOW - dt.timedelta(days=30))}," in str(
        route.calls.last.request.url
    )


def test_fetch_inbox_empty_comment_page(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.get(f"{API}/rest/organizationalEntityNotifications").mock(
        side_effect=by_start("notifications_page1", "notifications_empty")
    )
    mock.get(path=f"/rest/socialActions/{POST_A}/comments").mock(return_value=ok("comments_empty"))
    page = adapter.fetch_inbox(account, None)
    assert page.items == []


# --- reply, delete, hide ---------------------------------------------------------------------


def test_reply_to_a_comment(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    route = mock.post(path=f"/rest/socialActions/{C1}/comments").mock(
        return_value=ok("comment_created", 201, **{"x-restli-id": "7207000000000000501"})
    )
    item = ItemRef(external_id=C1, kind=ItemKind.COMMENT, post_external_id=POST_A)
    published = adapter.reply(account, item, "Bonjour, oui, le dimanche matin de 9 h à 12 h. 🙂")

    request = route.calls.last.request
    assert str(request.url) == f"{API}/rest/socialActions/{C1_ENC}/comments"
    assert_api_headers(request)
    assert body(request) == {
        "actor": ORG,
        "object": "urn:li:activity:7207000000000000011",
        "message": {"text": "Bonjour, oui, le dimanche matin de 9 h à 12 h. 🙂"},
        "parentComment": C1,
    }
    created = "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000501)"
    assert published.external_id == created
    assert published.permalink == (
        f"https://www.linkedin.com/feed/update/{POST_A}/?commentUrn={linkedin.enc(created)}"
    )
    assert published.published_at == NOW


def test_reply_to_a_reply_goes_under_its_root(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    route = mock.post(path=f"/rest/socialActions/{C1}/comments").mock(
        return_value=ok("comment_created", 201)
    )
    reply = "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000202)"
    item = ItemRef(
        external_id=reply, kind=ItemKind.REPLY, post_external_id=POST_A, root_id=C1, parent_id=C1
    )
    adapter.reply(account, item, "Fermée les jours fériés.")
    assert body(route.calls.last.request)["parentComment"] == C1


def test_reply_to_a_mention_comments_on_the_post(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    share = "urn:li:share:7207000000000000301"
    answer = payload("comment_created")
    del answer["parentComment"]
    route = mock.post(path=f"/rest/socialActions/{share}/comments").mock(
        return_value=httpx.Response(201, json=answer)
    )
    adapter.reply(account, ItemRef(external_id=share, kind=ItemKind.MENTION), "Merci !")
    request = route.calls.last.request
    assert (
        str(request.url)
        == f"{API}/rest/socialActions/urn%3Ali%3Ashare%3A7207000000000000301/comments"
    )
    assert body(request) == {"actor": ORG, "object": share, "message": {"text": "Merci !"}}


def test_reply_to_a_message_or_with_no_text_is_refused(
    adapter: LinkedInAdapter, account: Account
) -> None:
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(NotSupported) as caught:
            adapter.reply(account, ItemRef(external_id="m1", kind=ItemKind.MESSAGE), "Bonjour")
        assert caught.value.code == "messages" and caught.value.network == "linkedin"
        with pytest.raises(Rejected) as empty:
            adapter.reply(account, ItemRef(external_id=C1, kind=ItemKind.COMMENT), "  ")
        assert empty.value.reason == "La réponse est vide."
        assert not router.calls


def test_delete_our_own_comment(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    ours = "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000501)"
    route = mock.delete(
        path="/rest/socialActions/urn:li:activity:7207000000000000011/comments/7207000000000000501"
    ).mock(return_value=httpx.Response(204))
    adapter.delete(account, ItemRef(external_id=ours, kind=ItemKind.COMMENT, author_id=ORG))
    request = route.calls.last.request
    assert str(request.url) == (
        f"{API}/rest/socialActions/urn%3Ali%3Aactivity%3A7207000000000000011"
        f"/comments/7207000000000000501?actor={ORG_ENC}"
    )
    assert_api_headers(request)


def test_delete_our_own_reply_addresses_it_under_its_parent(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    ours = "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000501)"
    route = mock.delete(path=f"/rest/socialActions/{C1}/comments/7207000000000000501").mock(
        return_value=httpx.Response(204)
    )
    item = ItemRef(external_id=ours, kind=ItemKind.REPLY, parent_id=C1, root_id=C1, author_id=ORG)
    adapter.delete(account, item)
    assert str(route.calls.last.request.url).startswith(
        f"{API}/rest/socialActions/{C1_ENC}/comments/7207000000000000501?actor="
    )


def test_delete_an_already_deleted_comment_is_rejected(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.delete(url__startswith=f"{API}/rest/socialActions/").mock(
        return_value=ok("error_404_not_found", 404)
    )
    with pytest.raises(Rejected) as caught:
        adapter.delete(account, ItemRef(external_id=C1, kind=ItemKind.COMMENT))
    assert caught.value.code == "404/NOT_FOUND"
    assert caught.value.reason == (
        "Cet élément n'existe plus sur LinkedIn (il a peut-être été supprimé)."
    )


def test_a_members_comment_cannot_be_deleted_hidden_and_there_is_no_search(
    adapter: LinkedInAdapter, account: Account
) -> None:
    item = ItemRef(external_id=C1, kind=ItemKind.COMMENT, author_id="urn:li:person:Ab1Cd2Ef3")
    with respx.mock(assert_all_called=False) as router:
        for call in (
            lambda: adapter.delete(account, item),
            lambda: adapter.hide(account, item),
            lambda: adapter.unhide(account, item),
            lambda: adapter.search(account, "déchetterie", None),
        ):
            with pytest.raises(NotSupported) as caught:
                call()
            assert caught.value.network == "linkedin" and caught.value.code
        assert not router.calls


# --- metrics ---------------------------------------------------------------------------------

DAY = dt.date(2026, 6, 14)
DAY_START = ms(dt.datetime(2026, 6, 14, tzinfo=dt.UTC))
DAY_END = ms(dt.datetime(2026, 6, 15, tzinfo=dt.UTC))


def metrics_routes(mock: respx.MockRouter) -> dict[str, respx.Route]:
    return {
        "shares": mock.get(f"{API}/rest/organizationalEntityShareStatistics").mock(
            return_value=ok("share_statistics_day")
        ),
        "pages": mock.get(f"{API}/rest/organizationPageStatistics").mock(
            return_value=ok("page_statistics_day")
        ),
        "size": mock.get(path=f"/rest/networkSizes/{ORG}").mock(return_value=ok("network_size")),
        "gains": mock.get(f"{API}/rest/organizationalEntityFollowerStatistics").mock(
            return_value=ok("follower_statistics_since")
        ),
    }


def test_account_metrics_of_a_day(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    routes = metrics_routes(mock)
    metrics = adapter.fetch_account_metrics(account, DAY)

    interval = f"(timeRange:(start:{DAY_START},end:{DAY_END}),timeGranularityType:DAY)"
    assert str(routes["shares"].calls.last.request.url) == (
        f"{API}/rest/organizationalEntityShareStatistics?q=organizationalEntity"
        f"&organizationalEntity={ORG_ENC}&timeIntervals={interval}"
    )
    assert str(routes["pages"].calls.last.request.url) == (
        f"{API}/rest/organizationPageStatistics?q=organization&organization={ORG_ENC}"
        f"&timeIntervals={interval}"
    )
    assert str(routes["size"].calls.last.request.url) == (
        f"{API}/rest/networkSizes/{ORG_ENC}?edgeType=COMPANY_FOLLOWED_BY_MEMBER"
    )
    since = f"(timeRange:(start:{DAY_END},end:{ms(NOW)}),timeGranularityType:DAY)"
    assert str(routes["gains"].calls.last.request.url) == (
        f"{API}/rest/organizationalEntityFollowerStatistics?q=organizationalEntity"
        f"&organizationalEntity={ORG_ENC}&timeIntervals={since}"
    )
    for route in routes.values():
        assert_api_headers(route.calls.last.request)
    assert metrics.day == DAY
    assert metrics.followers == 4821 - 4  # today's total less the gains since that day
    assert metrics.impressions == 1530
    assert metrics.reach == 812
    assert metrics.link_clicks == 57
    assert metrics.profile_visits == 96


def test_account_metrics_not_provided_are_none_never_zero(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    shares = payload("share_statistics_day")
    del shares["elements"][0]["totalShareStatistics"]["uniqueImpressionsCount"]
    mock.get(f"{API}/rest/organizationalEntityShareStatistics").mock(
        return_value=httpx.Response(200, json=shares)
    )
    mock.get(f"{API}/rest/organizationPageStatistics").mock(
        return_value=httpx.Response(200, json={"paging": {"start": 0, "count": 10}, "elements": []})
    )
    # today: the follower count is today's total, no gains to take away
    size = mock.get(path=f"/rest/networkSizes/{ORG}").mock(return_value=ok("network_size"))
    today = adapter.fetch_account_metrics(account, NOW.date())
    assert today.followers == 4821 and size.call_count == 1
    assert today.reach is None and today.profile_visits is None
    assert today.impressions == 1530


def test_account_metrics_older_than_a_year_have_no_follower_count(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.get(f"{API}/rest/organizationalEntityShareStatistics").mock(
        return_value=httpx.Response(200, json={"elements": []})
    )
    mock.get(f"{API}/rest/organizationPageStatistics").mock(
        return_value=httpx.Response(200, json={"elements": []})
    )
    metrics = adapter.fetch_account_metrics(account, dt.date(2025, 1, 2))
    assert metrics.followers is None and metrics.impressions is None
    assert metrics.reach is None and metrics.link_clicks is None


def test_post_metrics_for_shares_and_ugc_posts(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    def stats(request: httpx.Request) -> httpx.Response:
        query = str(request.url).split("?", 1)[1]
        return ok("share_statistics_posts" if "&shares=" in query else "share_statistics_ugcposts")

    route = mock.get(f"{API}/rest/organizationalEntityShareStatistics").mock(side_effect=stats)
    unknown = "urn:li:share:7207000000000000999"
    results = adapter.fetch_post_metrics(account, [POST_A, POST_B, unknown])

    urls = [str(c.request.url) for c in route.calls]
    assert urls == [
        f"{API}/rest/organizationalEntityShareStatistics?q=organizationalEntity"
        f"&organizationalEntity={ORG_ENC}&shares=List(urn%3Ali%3Ashare%3A7207000000000000001,"
        "urn%3Ali%3Ashare%3A7207000000000000999)",
        f"{API}/rest/organizationalEntityShareStatistics?q=organizationalEntity"
        f"&organizationalEntity={ORG_ENC}&ugcPosts=List(urn%3Ali%3AugcPost%3A7207000000000000002)",
    ]
    assert_api_headers(route.calls.last.request)
    a, b, missing = results
    assert (a.external_id, a.impressions, a.reach, a.reactions, a.comments, a.shares) == (
        POST_A,
        930,
        610,
        18,
        5,
        2,
    )
    assert a.link_clicks == 41 and a.saves is None and a.video_views is None
    assert (b.external_id, b.impressions, b.reactions) == (POST_B, 120, 0)  # a real zero
    assert missing.external_id == unknown and missing.impressions is None


# --- find_published --------------------------------------------------------------------------


def test_find_published_reads_recent_posts_and_compares_text(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{API}/rest/posts").mock(
        side_effect=by_start("posts_by_author_page1", "posts_by_author_page2")
    )
    content = PostContent(
        text="Conseil municipal ce soir à 19 h (salle du conseil) #Testville 🏛️ https://t.fr/cm",
        idempotency_key="v11",
    )
    found = adapter.find_published(account, content, NOW - dt.timedelta(hours=1))

    assert [str(c.request.url) for c in route.calls] == [
        f"{API}/rest/posts?author={ORG_ENC}&q=author&sortBy=LAST_MODIFIED&start={s}&count=2"
        for s in (0, 2)
    ]
    assert_api_headers(route.calls.last.request)
    assert found is not None
    assert found.external_id == "urn:li:ugcPost:7207000000000000403"
    assert found.permalink == (
        "https://www.linkedin.com/feed/update/urn:li:ugcPost:7207000000000000403/"
    )
    assert found.published_at == NOW - dt.timedelta(minutes=30)


def test_find_published_ignores_drafts_and_older_posts(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.get(f"{API}/rest/posts").mock(
        side_effect=by_start("posts_by_author_page1", "posts_by_author_page2")
    )
    draft = PostContent(text="Brouillon (non publié)", idempotency_key="v12")
    assert adapter.find_published(account, draft, NOW - dt.timedelta(hours=1)) is None
    # the post from five hours ago is before "since"
    older = PostContent(
        text="Conseil municipal ce soir à 19 h (salle du conseil) #Testville 🏛️",
        idempotency_key="v13",
    )
    assert adapter.find_published(account, older, NOW - dt.timedelta(minutes=25)) is None


def test_find_published_with_no_post(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.get(f"{API}/rest/posts").mock(return_value=ok("posts_by_author_empty"))
    content = PostContent(text="Bonjour", idempotency_key="v14")
    assert adapter.find_published(account, content, NOW - dt.timedelta(hours=1)) is None


# --- refresh_credentials ---------------------------------------------------------------------


def test_refresh_is_not_needed_while_the_token_lives_long(
    adapter: LinkedInAdapter, account: Account, app_settings: None
) -> None:
    with respx.mock(assert_all_called=False) as router:
        assert adapter.refresh_credentials(account) is False
        assert not router.calls
    assert account.credentials_changed is False


def test_refresh_when_the_token_expires_within_seven_days(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter, app_settings: None
) -> None:
    account.credentials["token_expires_at"] = (NOW + dt.timedelta(days=6)).isoformat()
    route = mock.post("https://www.linkedin.com/oauth/v2/accessToken").mock(
        return_value=ok("refresh_token")
    )
    assert adapter.refresh_credentials(account) is True

    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in request.headers
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH],
        "client_id": ["86abcdef123456"],
        "client_secret": [SECRET],
    }
    refreshed = payload("refresh_token")
    assert account.credentials_changed is True
    assert account.credentials["access_token"] == refreshed["access_token"]
    assert account.credentials["refresh_token"] == refreshed["refresh_token"]
    assert account.credentials["token_expires_at"] == (NOW + dt.timedelta(days=60)).isoformat()
    assert (
        account.credentials["refresh_token_expires_at"]
        == (NOW + dt.timedelta(seconds=26265600)).isoformat()
    )


def test_refresh_refused_means_reconnecting(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter, app_settings: None
) -> None:
    account.credentials["token_expires_at"] = (NOW + dt.timedelta(days=1)).isoformat()
    mock.post("https://www.linkedin.com/oauth/v2/accessToken").mock(
        return_value=ok("oauth_invalid_grant", 400)
    )
    with pytest.raises(AuthExpired) as caught:
        adapter.refresh_credentials(account)
    assert caught.value.code == "400/invalid_grant" and caught.value.network == "linkedin"
    assert REFRESH not in str(caught.value) and SECRET not in str(caught.value)
    assert account.credentials_changed is False


def test_refresh_without_a_refresh_token_or_after_its_end(
    adapter: LinkedInAdapter, account: Account, app_settings: None
) -> None:
    account.credentials["token_expires_at"] = (NOW + dt.timedelta(days=1)).isoformat()
    with respx.mock(assert_all_called=False) as router:
        account.credentials["refresh_token_expires_at"] = (NOW - dt.timedelta(days=1)).isoformat()
        with pytest.raises(AuthExpired) as caught:
            adapter.refresh_credentials(account)
        assert caught.value.code == "refresh_expired"
        del account.credentials["refresh_token"]
        assert adapter.refresh_credentials(account) is False
        assert not router.calls


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name", "headers", "error", "code", "retry_after", "reason"),
    [
        (401, "error_401_invalid_token", {}, AuthExpired, "401/INVALID_ACCESS_TOKEN", None, None),
        (401, "error_401_revoked_token", {}, AuthExpired, "401/REVOKED_ACCESS_TOKEN", None, None),
        (403, "error_403_access_denied", {}, AuthExpired, "403/ACCESS_DENIED", None, None),
        (429, "error_429_throttled", {}, RateLimited, "429/TOO_MANY_REQUESTS", None, None),
        (
            429,
            "error_429_throttled",
            {"Retry-After": "120"},
            RateLimited,
            "429/TOO_MANY_REQUESTS",
            120.0,
            None,
        ),
        (
            400,
            "error_400_field_length",
            {},
            Rejected,
            "400/FIELD_LENGTH_TOO_LONG",
            None,
            "LinkedIn refuse ce texte : il est trop long.",
        ),
        (
            400,
            "error_400_bad_request",
            {},
            Rejected,
            "400/ILLEGAL_ARGUMENT",
            None,
            "LinkedIn a refusé cette demande (contenu ou format non accepté).",
        ),
        (
            422,
            "error_422_duplicate_post",
            {},
            Rejected,
            "422/DUPLICATE_POST",
            None,
            "LinkedIn refuse cette publication : un contenu identique a déjà été publié "
            "récemment sur cette page.",
        ),
        (
            404,
            "error_404_not_found",
            {},
            Rejected,
            "404/NOT_FOUND",
            None,
            "Cet élément n'existe plus sur LinkedIn (il a peut-être été supprimé).",
        ),
        (500, "error_500_internal", {}, Transient, "500/INTERNAL_SERVER_ERROR", None, None),
        (503, None, {}, Transient, "503", None, None),
        (426, "error_426_version", {}, Transient, "426/VERSION_DEPRECATED", None, None),
    ],
)
def test_error_mapping(
    adapter: LinkedInAdapter,
    account: Account,
    mock: respx.MockRouter,
    status: int,
    name: str | None,
    headers: dict[str, str],
    error: type[NetworkError],
    code: str,
    retry_after: float | None,
    reason: str | None,
) -> None:
    answer = (
        httpx.Response(status, json=payload(name), headers=headers)
        if name
        else httpx.Response(status, text="<html>Service Unavailable</html>")
    )
    route = mock.get(f"{API}/rest/organizationalEntityShareStatistics").mock(return_value=answer)
    with pytest.raises(error) as caught:
        adapter.fetch_post_metrics(account, [POST_A])
    assert_api_headers(route.calls.last.request)
    assert type(caught.value) is error
    assert caught.value.network == "linkedin"
    assert caught.value.code == code
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == retry_after
    if reason is not None:
        assert isinstance(caught.value, Rejected) and caught.value.reason == reason


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.ConnectError("connection refused"), "network"),
        (httpx.RemoteProtocolError("server disconnected"), "network"),
    ],
)
def test_network_failures_are_transient(
    adapter: LinkedInAdapter,
    account: Account,
    mock: respx.MockRouter,
    failure: Exception,
    code: str,
) -> None:
    mock.post(f"{API}/rest/posts").mock(side_effect=failure)
    with pytest.raises(Transient) as caught:
        adapter.publish(account, PostContent(text="x", idempotency_key="v15"))
    assert caught.value.code == code and caught.value.network == "linkedin"


def test_an_answer_that_is_not_json_is_transient(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    mock.get(f"{API}/rest/posts").mock(return_value=httpx.Response(200, text="<html>"))
    with pytest.raises(Transient) as caught:
        adapter.find_published(account, PostContent(text="x", idempotency_key="k"), NOW)
    assert caught.value.code == "json"


def test_no_token_or_secret_in_errors_or_logs(
    adapter: LinkedInAdapter,
    account: Account,
    mock: respx.MockRouter,
    app_settings: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # answers that echo the token back, as a misbehaving proxy could
    echo = {"status": 401, "serviceErrorCode": 65600, "message": f"Invalid token {TOKEN}"}
    mock.get(f"{API}/rest/organizationalEntityNotifications").mock(
        return_value=httpx.Response(401, json=echo)
    )
    mock.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(403, json={**echo, "status": 403, "code": "ACCESS_DENIED"})
    )
    mock.get(f"{API}/rest/organizationalEntityShareStatistics").mock(
        side_effect=httpx.ConnectError(f"cannot reach with {TOKEN}")
    )
    mock.post("https://www.linkedin.com/oauth/v2/accessToken").mock(
        return_value=httpx.Response(
            400,
            json={"error": "invalid_grant", "error_description": f"bad {REFRESH} for {SECRET}"},
        )
    )
    account.credentials["token_expires_at"] = (NOW + dt.timedelta(days=1)).isoformat()
    raised: list[NetworkError] = []
    for call in (
        lambda: adapter.fetch_inbox(account, None),
        lambda: adapter.publish(account, PostContent(text="x", idempotency_key="k")),
        lambda: adapter.fetch_post_metrics(account, [POST_A]),
        lambda: adapter.refresh_credentials(account),
    ):
        with pytest.raises(NetworkError) as caught:
            call()
        raised.append(caught.value)
    assert [type(e) for e in raised] == [AuthExpired, AuthExpired, Transient, AuthExpired]
    texts = [str(e) for e in raised] + [e.message for e in raised] + [caplog.text]
    texts += [repr(account)]
    for secret in (TOKEN, REFRESH, SECRET):
        assert not any(secret in text for text in texts), secret


# --- connector -------------------------------------------------------------------------------


def test_connector_start_builds_the_authorization_url(app_settings: None) -> None:
    connector = LinkedInConnector()
    assert connector.is_configured()
    start = connector.start(
        redirect_uri="https://parvis.example/comptes/linkedin/retour", state="st4te-xyz", form={}
    )
    url = httpx.URL(start.url)
    assert (url.scheme, url.host, url.path) == (
        "https",
        "www.linkedin.com",
        "/oauth/v2/authorization",
    )
    assert dict(url.params) == {
        "response_type": "code",
        "client_id": "86abcdef123456",
        "redirect_uri": "https://parvis.example/comptes/linkedin/retour",
        "state": "st4te-xyz",
        "scope": "r_organization_social w_organization_social rw_organization_admin",
    }
    assert "code_challenge" not in start.url  # no PKCE for web apps on LinkedIn
    assert "%20" in start.url and SECRET not in start.url
    assert start.flow_data == {"redirect_uri": "https://parvis.example/comptes/linkedin/retour"}


def test_connector_without_app_credentials(settings: Any) -> None:
    settings.PARVIS_NETWORK_APPS = {"linkedin": {"client_id": "", "client_secret": ""}}
    connector = LinkedInConnector()
    assert connector.missing_settings() == ["LINKEDIN_CLIENT_ID", "LINKEDIN_CLIENT_SECRET"]
    with pytest.raises(Rejected) as caught:
        connector.start(redirect_uri="https://parvis.example/r", state="s", form={})
    assert caught.value.code == "not_configured"


def test_connector_finish_lists_the_pages_the_member_administers(
    app_settings: None, clock: dict[str, dt.datetime], mock: respx.MockRouter
) -> None:
    tokens = payload("access_token")
    exchange = mock.post("https://www.linkedin.com/oauth/v2/accessToken").mock(
        return_value=ok("access_token")
    )
    acls = mock.get(f"{API}/rest/organizationAcls").mock(return_value=ok("organization_acls"))
    orgs = mock.get(f"{API}/rest/organizations").mock(return_value=ok("organizations_batch"))
    accounts = LinkedInConnector().finish(
        redirect_uri="https://parvis.example/r",
        query={"code": "AQTauthorizationcode123", "state": "s"},
        flow_data={"redirect_uri": "https://parvis.example/r"},
    )

    assert parse_qs(exchange.calls.last.request.content.decode()) == {
        "grant_type": ["authorization_code"],
        "code": ["AQTauthorizationcode123"],
        "redirect_uri": ["https://parvis.example/r"],
        "client_id": ["86abcdef123456"],
        "client_secret": [SECRET],
    }
    acl_request = acls.calls.last.request
    assert str(acl_request.url) == (
        f"{API}/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED"
        "&start=0&count=100"
    )
    assert acl_request.headers["Authorization"] == f"Bearer {tokens['access_token']}"
    assert acl_request.headers["LinkedIn-Version"] == "202606"
    assert acl_request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert str(orgs.calls.last.request.url) == f"{API}/rest/organizations?ids=List(2414183,5515715)"

    assert [(a.external_id, a.handle, a.display_name) for a in accounts] == [
        (ORG, "ville-de-testville", "Ville de Testville"),
        (
            "urn:li:organization:5515715",
            "office-de-tourisme-testville",
            "Office de tourisme de Testville — Côte d'Émeraude",
        ),
    ]  # the page where the member is only an ANALYST is not offered
    first = accounts[0]
    assert first.token_expires_at == NOW + dt.timedelta(days=60)
    assert first.credentials == {
        "access_token": tokens["access_token"],
        "token_expires_at": (NOW + dt.timedelta(days=60)).isoformat(),
        "refresh_token": tokens["refresh_token"],
        "refresh_token_expires_at": (NOW + dt.timedelta(days=365)).isoformat(),
        "scope": "r_organization_social,rw_organization_admin,w_organization_social",
    }
    assert first.settings["page_url"] == "https://www.linkedin.com/company/ville-de-testville/"
    assert tokens["access_token"] not in repr(first)


def test_connector_finish_when_the_admin_cancels_or_administers_no_page(
    app_settings: None, mock: respx.MockRouter
) -> None:
    connector = LinkedInConnector()
    with pytest.raises(Rejected) as cancelled:
        connector.finish(
            redirect_uri="https://parvis.example/r",
            query={"error": "user_cancelled_authorize", "error_description": "The user cancelled"},
            flow_data={},
        )
    assert cancelled.value.reason == "La connexion à LinkedIn a été annulée."
    assert cancelled.value.code == "user_cancelled_authorize"

    mock.post("https://www.linkedin.com/oauth/v2/accessToken").mock(return_value=ok("access_token"))
    mock.get(f"{API}/rest/organizationAcls").mock(
        return_value=httpx.Response(
            200, json={"paging": {"start": 0, "count": 100}, "elements": []}
        )
    )
    with pytest.raises(Rejected) as no_page:
        connector.finish(
            redirect_uri="https://parvis.example/r", query={"code": "c0de"}, flow_data={}
        )
    assert no_page.value.code == "no_page"
    assert "administrateur" in no_page.value.reason


def test_connector_when_linkedin_refuses_to_list_the_pages(
    app_settings: None, mock: respx.MockRouter
) -> None:
    mock.post("https://www.linkedin.com/oauth/v2/accessToken").mock(return_value=ok("access_token"))
    mock.get(f"{API}/rest/organizationAcls").mock(return_value=ok("error_403_access_denied", 403))
    with pytest.raises(Rejected) as caught:
        LinkedInConnector().finish(
            redirect_uri="https://parvis.example/r", query={"code": "c0de"}, flow_data={}
        )
    assert caught.value.code == "403/ACCESS_DENIED"
    assert "Community Management API" in caught.value.reason
    assert payload("access_token")["access_token"] not in caught.value.message


def test_connector_code_exchange_refused(app_settings: None, mock: respx.MockRouter) -> None:
    mock.post("https://www.linkedin.com/oauth/v2/accessToken").mock(
        return_value=ok("oauth_invalid_grant", 400)
    )
    with pytest.raises(AuthExpired) as caught:
        LinkedInConnector().finish(
            redirect_uri="https://parvis.example/r",
            query={"code": "AQTexpiredcode999"},
            flow_data={},
        )
    assert caught.value.code == "400/invalid_grant"
    assert SECRET not in caught.value.message and "AQTexpiredcode999" not in caught.value.message


def test_fetch_inbox_lists_each_post_read_to_the_end(
    adapter: LinkedInAdapter, account: Account, mock: respx.MockRouter
) -> None:
    inbox_routes(
        mock,
        ("notifications_page1", "notifications_page2", "notifications_page3"),
        ("comments_page1", "comments_page2"),
    )
    page = adapter.fetch_inbox(account, None)

    # every comment and reply found under the post, ours and old ones included: collection
    # takes one it stored and that is no longer there for removed; the deleted post (404)
    # is not listed
    activity = "urn:li:comment:(urn:li:activity:7207000000000000011,7207000000000000{})"
    assert page.listed == {POST_A: frozenset(activity.format(n) for n in (101, 102, 103, 201, 202))}


def test_fetch_inbox_does_not_list_a_post_whose_comments_were_cut_short(
    adapter: LinkedInAdapter,
    account: Account,
    mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from networks.adapters import linkedin

    inbox_routes(
        mock,
        ("notifications_page1", "notifications_page2", "notifications_page3"),
        ("comments_page1", "comments_page2"),
    )
    # the bound on pages reached: the post's second page of comments is not read (nor,
    # here, the notifications' later pages)
    monkeypatch.setattr(linkedin, "MAX_PAGES", 1)
    mock._assert_all_called = False

    page = adapter.fetch_inbox(account, None)

    assert page.items and page.listed == {}
