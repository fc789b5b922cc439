"""Contract tests for the Facebook Pages adapter and connector (and the Graph plumbing they
share with Instagram), HTTP faked at the transport with ``responses``.

Payloads (tests/networks/payloads/facebook/) follow the official references, with our values:

- feed_created, posts_since, posts_recent: Page Feed, "Creating" and "Reading"
  https://developers.facebook.com/docs/graph-api/reference/page/feed and the Posts guide
  https://developers.facebook.com/docs/pages-api/posts
- photo_created, photo_unpublished_*: Page Photos "Creating" (``id`` and ``post_id``)
  https://developers.facebook.com/docs/graph-api/reference/page/photos
- post_permalink: Post fields https://developers.facebook.com/docs/graph-api/reference/post
- comments_*: Object Comments edge and Comment fields, cursor paging
  https://developers.facebook.com/docs/graph-api/reference/object/comments,
  https://developers.facebook.com/docs/graph-api/reference/comment,
  https://developers.facebook.com/docs/graph-api/results
- comment_created, success*: Comment "Creating", "Updating" (is_hidden) and "Deleting"
  https://developers.facebook.com/docs/graph-api/reference/comment
- page_insights_*, post_metrics_*: Insights https://developers.facebook.com/docs/graph-api/reference/insights
  (metrics current after https://developers.facebook.com/docs/pages-api/platforminsights/page/deprecated-metrics),
  reactions/comments summaries and ``shares`` of https://developers.facebook.com/docs/graph-api/reference/post
- error_*: https://developers.facebook.com/docs/graph-api/guides/error-handling and
  https://developers.facebook.com/docs/graph-api/overview/rate-limiting (codes, usage headers)
- oauth_*, me_permissions*, me_accounts_*: Manually Build a Login Flow, long-lived tokens and
  /me/accounts https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow,
  https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived,
  https://developers.facebook.com/docs/graph-api/reference/user/accounts,
  https://developers.facebook.com/docs/graph-api/reference/user/permissions
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from responses import matchers

from networks.adapters import meta
from networks.adapters.facebook import FacebookAdapter, FacebookConnector
from networks.adapters.meta import InboxCursor, graph_error, retry_after_from_usage
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

# --- shared fakes (test_instagram.py imports these) --------------------------------------------

GRAPH = "https://graph.facebook.com/v26.0"
APP_ID = "438296512345678"
APP_SECRET = "app-secret-do-not-leak-7f3e"
PAYLOADS = Path(__file__).parent / "payloads"
NOW = "2026-11-21T10:00:00+00:00"


def payload(network: str, name: str) -> Any:
    return json.loads((PAYLOADS / network / f"{name}.json").read_text(encoding="utf-8"))


def proof(token: str) -> str:
    return hmac.new(APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def meta_app(settings: Any) -> None:
    apps = dict(settings.PARVIS_NETWORK_APPS)
    for network in ("facebook", "instagram"):
        apps[network] = {"client_id": APP_ID, "client_secret": APP_SECRET}
    settings.PARVIS_NETWORK_APPS = apps


@pytest.fixture
def graph() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def query(call: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


def path_of(call: Any) -> str:
    return urlsplit(call.request.url).path


def form(call: Any) -> dict[str, str]:
    body = call.request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return dict(parse_qsl(body, keep_blank_values=True))


def multipart(call: Any) -> dict[str, Any]:
    """Fields of a multipart body: str for plain fields, (filename, bytes, type) for files."""
    content_type = call.request.headers["Content-Type"]
    message = BytesParser(policy=default_policy).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + call.request.body
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename():
            fields[name] = (part.get_filename(), data, part.get_content_type())
        else:
            fields[name] = data.decode()
    return fields


def sent(call: Any) -> dict[str, Any]:
    """The parameters of a call wherever they travel (query, form or multipart body)."""
    values: dict[str, Any] = query(call)
    content_type = call.request.headers.get("Content-Type", "")
    if content_type.startswith("multipart/"):
        values.update(multipart(call))
    elif call.request.body:
        values.update(form(call))
    return values


def assert_token_sent(call: Any, token: str) -> None:
    """Graph takes the token as the access_token parameter (query for GET and DELETE, body
    for POST) with its appsecret_proof; a POST never puts it in its URL."""
    if call.request.method == "POST":
        assert "access_token" not in query(call)
    values = sent(call)
    assert values["access_token"] == token
    assert values["appsecret_proof"] == proof(token)


def graph_error_body(network: str, name: str) -> dict[str, Any]:
    return payload(network, name)


# --- fixtures for this file ------------------------------------------------------------------

PAGE_ID = "546349135390552"
POST1 = f"{PAGE_ID}_1116692661689527"
POST2 = f"{PAGE_ID}_1116692661689999"
TOKEN = "EAAGpageTOKEN-secret-0123456789"
PERMALINK = f"https://www.facebook.com/{PAGE_ID}/posts/1116692661689527"


def fb(name: str) -> Any:
    return payload("facebook", name)


@pytest.fixture
def account() -> Account:
    return Account(
        network="facebook",
        external_id=PAGE_ID,
        handle="villededemo",
        credentials={"access_token": TOKEN},
    )


@pytest.fixture
def adapter(meta_app: None) -> FacebookAdapter:
    return FacebookAdapter()


def image(name: str = "affiche.jpg", alt: str = "", mime: str = "image/jpeg") -> Media:
    return Media(
        kind=MediaKind.IMAGE,
        data=b"\xff\xd8\xff-" + name.encode(),
        mime_type=mime,
        alt_text=alt,
        filename=name,
    )


def content(text: str = "Marché de Noël : ouverture samedi !", **kw: Any) -> PostContent:
    return PostContent(text=text, idempotency_key="variant-42", **kw)


def permalink_lookup(mock: responses.RequestsMock, post_id: str = POST1) -> None:
    mock.get(
        f"{GRAPH}/{post_id}",
        json=fb("post_permalink"),
        match=[
            matchers.query_param_matcher(
                {"fields": "permalink_url,created_time"}, strict_match=False
            )
        ],
    )


# --- publish ------------------------------------------------------------------------------------


def test_publish_text_with_link_posts_to_the_feed(adapter, account, graph):
    graph.post(f"{GRAPH}/{PAGE_ID}/feed", json=fb("feed_created"))
    permalink_lookup(graph)

    published = adapter.publish(
        account, content("Conseil municipal ce soir 🎉", link="https://ville-demo.fr/cm")
    )

    assert published.external_id == POST1
    assert published.permalink == PERMALINK
    assert published.published_at == dt.datetime(2026, 11, 21, 10, 0, 3, tzinfo=dt.UTC)
    create, lookup = graph.calls
    assert create.request.method == "POST"
    assert path_of(create) == f"/v26.0/{PAGE_ID}/feed"
    assert form(create)["message"] == "Conseil municipal ce soir 🎉"
    assert form(create)["link"] == "https://ville-demo.fr/cm"
    assert_token_sent(create, TOKEN)
    assert lookup.request.method == "GET"
    assert_token_sent(lookup, TOKEN)
    assert "Parvis/" in create.request.headers["User-Agent"]


def test_publish_one_photo_uploads_it_with_alt_text(adapter, account, graph):
    graph.post(f"{GRAPH}/{PAGE_ID}/photos", json=fb("photo_created"))
    permalink_lookup(graph)
    photo = image(alt="Chalets illuminés sur la place de la mairie")

    published = adapter.publish(account, content(media=(photo,), link="https://ville-demo.fr/noel"))

    assert published.external_id == POST1  # the post, not the photo
    fields = multipart(graph.calls[0])
    assert fields["source"] == ("affiche.jpg", photo.data, "image/jpeg")
    assert fields["alt_text_custom"] == "Chalets illuminés sur la place de la mairie"
    assert fields["published"] == "true"
    # a photo post takes no link parameter: the link goes at the end of the text
    assert fields["message"] == "Marché de Noël : ouverture samedi !\n\nhttps://ville-demo.fr/noel"
    assert "link" not in fields
    assert_token_sent(graph.calls[0], TOKEN)


def test_publish_several_photos_attaches_unpublished_uploads(adapter, account, graph):
    graph.post(f"{GRAPH}/{PAGE_ID}/photos", json=fb("photo_unpublished_1"))
    graph.post(f"{GRAPH}/{PAGE_ID}/photos", json=fb("photo_unpublished_2"))
    graph.post(f"{GRAPH}/{PAGE_ID}/feed", json=fb("feed_created"))
    permalink_lookup(graph)

    published = adapter.publish(
        account, content(media=(image("a.jpg", alt="Vue A"), image("b.png", mime="image/png")))
    )

    assert published.external_id == POST1
    first, second, feed, _lookup = graph.calls
    assert multipart(first)["published"] == "false"
    assert multipart(first)["alt_text_custom"] == "Vue A"
    assert multipart(second)["published"] == "false"
    assert "alt_text_custom" not in multipart(second)
    assert form(feed)["message"] == "Marché de Noël : ouverture samedi !"
    assert json.loads(form(feed)["attached_media[0]"]) == {"media_fbid": "1002088839996"}
    assert json.loads(form(feed)["attached_media[1]"]) == {"media_fbid": "1002088840149"}
    assert_token_sent(feed, TOKEN)


def test_publish_survives_a_failed_permalink_lookup(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    graph.post(f"{GRAPH}/{PAGE_ID}/feed", json=fb("feed_created"))
    graph.get(f"{GRAPH}/{POST1}", json=fb("error_2"), status=500)

    published = adapter.publish(account, content())

    assert published.external_id == POST1
    assert published.permalink == f"https://www.facebook.com/{POST1}"
    assert published.published_at == dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def test_publish_refuses_video_before_any_call(adapter, account, graph):
    video = Media(kind=MediaKind.VIDEO, data=b"mp4", mime_type="video/mp4", filename="clip.mp4")
    with pytest.raises(NotSupported) as caught:
        adapter.publish(account, content(media=(video,)))
    assert caught.value.network == "facebook"
    assert not graph.calls


def test_publish_refuses_what_the_limits_forbid(adapter, account, graph):
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, content("x" * 63_207))
    assert "63207 caractères" in caught.value.reason
    with pytest.raises(Rejected) as empty:
        adapter.publish(account, content("   "))
    assert empty.value.reason == "La publication est vide."
    assert not graph.calls


def test_publish_duplicate_is_rejected_in_french(adapter, account, graph):
    graph.post(f"{GRAPH}/{PAGE_ID}/feed", json=fb("error_506"), status=400)
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, content())
    assert caught.value.code == "506/1455006"
    assert "identique" in caught.value.reason


def test_publish_without_token_is_auth_expired(adapter, graph):
    bare = Account(network="facebook", external_id=PAGE_ID, credentials={})
    with pytest.raises(AuthExpired):
        adapter.publish(bare, content())
    assert not graph.calls


# --- find_published -----------------------------------------------------------------------------


def test_find_published_matches_recent_post_text(adapter, account, graph):
    since = dt.datetime(2026, 11, 21, 9, 55, tzinfo=dt.UTC)
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_since"))

    found = adapter.find_published(account, content("Marché de Noël :  ouverture SAMEDI !"), since)

    assert found is not None
    assert found.external_id == POST1
    assert found.permalink == PERMALINK
    assert found.published_at == dt.datetime(2026, 11, 21, 9, 58, tzinfo=dt.UTC)
    sent_query = query(graph.calls[0])
    assert sent_query["since"] == str(int(since.timestamp()))
    assert sent_query["fields"] == "id,message,created_time,permalink_url"
    assert_token_sent(graph.calls[0], TOKEN)


def test_find_published_ignores_urls_and_returns_none_when_absent(adapter, account, graph):
    since = dt.datetime(2026, 11, 21, 9, 55, tzinfo=dt.UTC)
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_since"))
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_since"))

    found = adapter.find_published(
        account, content("Conseil municipal ce soir à 19 h 🎉 https://lien.court/x"), since
    )
    assert found is not None and found.external_id == POST2
    assert adapter.find_published(account, content("Jamais publié"), since) is None


def test_find_published_skips_posts_older_than_since(adapter, account, graph):
    since = dt.datetime(2026, 11, 21, 9, 59, tzinfo=dt.UTC)
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_since"))
    assert adapter.find_published(account, content(), since) is None


# --- inbox --------------------------------------------------------------------------------------


def comments_url(post_id: str) -> str:
    return f"{GRAPH}/{post_id}/comments"


def first_poll(mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_recent"))
    mock.get(
        comments_url(POST2),
        json=fb("comments_page1"),
        match=[matchers.query_param_matcher({"filter": "stream"}, strict_match=False)],
    )
    mock.get(
        comments_url(POST2),
        json=fb("comments_page2"),
        match=[matchers.query_param_matcher({"after": "MgZDZD"}, strict_match=False)],
    )
    mock.get(comments_url(POST1), json=fb("comments_empty"))


def test_fetch_inbox_first_poll_normalises_comments_and_replies(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    first_poll(graph)

    page = adapter.fetch_inbox(account, None)

    assert [e.external_id.split("_")[1] for e in page.items] == [
        "1385641928587302",
        "1385641928587410",
        "1385641928587500",
    ]  # our own reply (from the Page) is left out, the rest is oldest first
    question, thanks, sticker = page.items
    assert question.kind == ItemKind.COMMENT
    assert question.text == "Bonjour, la piscine est-elle ouverte dimanche ? 🏊‍♀️"
    assert question.author.external_id == "7123456789012345"
    assert question.author.display_name == "Camille Martin"
    assert question.created_at == dt.datetime(2026, 11, 20, 9, 15, 2, tzinfo=dt.UTC)
    assert question.created_at.utcoffset() == dt.timedelta(0)
    assert question.post_external_id == POST2
    assert question.parent_id is None
    assert question.root_id == question.external_id
    assert question.permalink.endswith("comment_id=1385641928587302")
    assert question.language is None
    assert question.raw["is_hidden"] is False
    assert thanks.kind == ItemKind.REPLY
    assert thanks.text == "Merci 🙏 — et le week-end d’après ?"
    assert thanks.parent_id == question.external_id
    assert thanks.root_id == question.external_id
    # no `from` (the commenter's privacy settings) and no text (a sticker): still an item
    assert sticker.author.external_id == ""
    assert sticker.text == ""
    assert page.next_cursor and page.has_more is False

    posts_call, page1, page2, other = graph.calls
    assert query(posts_call)["limit"] == "25"
    floor = int((dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC) - dt.timedelta(days=30)).timestamp())
    assert query(page1)["since"] == str(floor)
    assert query(page1)["filter"] == "stream"
    assert query(page1)["order"] == "chronological"
    assert "parent{id}" in query(page1)["fields"]
    assert query(page2)["after"] == "MgZDZD"
    assert query(page2)["since"] == str(floor)
    for call in graph.calls:
        assert_token_sent(call, TOKEN)


def test_fetch_inbox_next_poll_gives_only_newer_items(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    first_poll(graph)
    cursor = adapter.fetch_inbox(account, None).next_cursor
    graph.reset()
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_recent"))
    graph.get(comments_url(POST2), json=fb("comments_later"))
    graph.get(comments_url(POST1), json=fb("comments_empty"))

    page = adapter.fetch_inbox(account, cursor)

    # the 10:02:11 comment comes back in the overlap window but is not given twice
    assert [e.text for e in page.items] == ["Et le parking, il est gratuit ? Ça change tout 😅"]
    newest = dt.datetime(2026, 11, 20, 10, 2, 11, tzinfo=dt.UTC)
    assert query(graph.calls[1])["since"] == str(int(newest.timestamp()) - 600)
    assert page.next_cursor != cursor


def test_fetch_inbox_with_nothing_new_keeps_the_cursor(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    first_poll(graph)
    cursor = adapter.fetch_inbox(account, None).next_cursor
    graph.reset()
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_recent"))
    graph.get(comments_url(POST2), json=fb("comments_page2"))
    graph.get(comments_url(POST1), json=fb("comments_empty"))

    page = adapter.fetch_inbox(account, cursor)

    assert page.items == []
    assert page.next_cursor == cursor


def test_fetch_inbox_empty_page_still_returns_a_cursor(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json={"data": []})
    page = adapter.fetch_inbox(account, None)
    assert page.items == [] and page.next_cursor and page.has_more is False


def test_fetch_inbox_long_thread_sets_has_more_and_resumes(
    adapter, account, graph, freezer, monkeypatch
):
    freezer.move_to(NOW)
    monkeypatch.setattr("networks.adapters.facebook.COMMENT_PAGES_PER_POST", 1)
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_recent"))
    graph.get(comments_url(POST2), json=fb("comments_page1"))
    graph.get(comments_url(POST1), json=fb("comments_empty"))

    first = adapter.fetch_inbox(account, None)

    assert first.has_more is True
    assert [e.external_id for e in first.items] == ["1116692661689999_1385641928587302"]
    graph.reset()
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_recent"))
    graph.get(comments_url(POST2), json=fb("comments_page2"))
    graph.get(comments_url(POST1), json=fb("comments_empty"))

    second = adapter.fetch_inbox(account, first.next_cursor)

    assert query(graph.calls[1])["after"] == "MgZDZD"  # the stored Graph cursor
    assert [e.text for e in second.items] == ["Merci 🙏 — et le week-end d’après ?", ""]
    assert second.has_more is False


def test_fetch_inbox_skips_a_post_deleted_meanwhile(adapter, account, graph, freezer, caplog):
    freezer.move_to(NOW)
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fb("posts_recent"))
    graph.get(comments_url(POST2), json=fb("error_100_33"), status=400)
    graph.get(comments_url(POST1), json=fb("comments_empty"))

    page = adapter.fetch_inbox(account, None)

    assert page.items == []
    assert "100/33" in caplog.text


def test_fetch_inbox_forgets_posts_that_left_the_window(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    first_poll(graph)
    cursor = adapter.fetch_inbox(account, None).next_cursor
    assert POST2 in InboxCursor.decode(cursor).marks
    graph.reset()
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json={"data": [{"id": POST1, "created_time": NOW}]})
    graph.get(comments_url(POST1), json=fb("comments_empty"))

    later = adapter.fetch_inbox(account, cursor)

    assert set(InboxCursor.decode(later.next_cursor).marks) == {POST1}


def test_unreadable_cursor_starts_again(adapter, account, graph, freezer, caplog):
    freezer.move_to(NOW)
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json={"data": []})
    page = adapter.fetch_inbox(account, "not-a-cursor!")
    assert page.items == []
    assert "unreadable inbox cursor" in caplog.text


# --- reply, hide, unhide, delete -----------------------------------------------------------------

COMMENT = ItemRef(
    external_id="1116692661689999_1385641928587302",
    kind=ItemKind.COMMENT,
    post_external_id=POST2,
    root_id="1116692661689999_1385641928587302",
)
REPLY = ItemRef(
    external_id="1116692661689999_1385641928587410",
    kind=ItemKind.REPLY,
    post_external_id=POST2,
    root_id=COMMENT.external_id,
    parent_id=COMMENT.external_id,
)


def test_reply_to_a_comment(adapter, account, graph):
    graph.post(f"{GRAPH}/{COMMENT.external_id}/comments", json=fb("comment_created"))

    published = adapter.reply(account, COMMENT, "Oui, de 9 h à 18 h 😊")

    assert published.external_id == "1116692661689999_1385641928588001"
    assert form(graph.calls[0])["message"] == "Oui, de 9 h à 18 h 😊"
    assert_token_sent(graph.calls[0], TOKEN)


def test_reply_to_a_reply_goes_to_the_top_of_the_thread(adapter, account, graph):
    graph.post(f"{GRAPH}/{COMMENT.external_id}/comments", json=fb("comment_created"))
    adapter.reply(account, REPLY, "Avec plaisir.")
    assert path_of(graph.calls[0]) == f"/v26.0/{COMMENT.external_id}/comments"


def test_reply_to_a_deleted_comment_is_rejected(adapter, account, graph):
    graph.post(f"{GRAPH}/{COMMENT.external_id}/comments", json=fb("error_100_33"), status=400)
    with pytest.raises(Rejected) as caught:
        adapter.reply(account, COMMENT, "Bonjour")
    assert caught.value.code == "100/33"
    assert caught.value.reason == "Cet élément n'existe plus ou n'est plus accessible."


@pytest.mark.parametrize(("method", "value"), [("hide", "true"), ("unhide", "false")])
def test_hide_and_unhide_set_is_hidden(adapter, account, graph, method, value):
    graph.post(f"{GRAPH}/{COMMENT.external_id}", json=fb("success"))
    getattr(adapter, method)(account, COMMENT)
    assert form(graph.calls[0])["is_hidden"] == value
    assert_token_sent(graph.calls[0], TOKEN)


def test_delete_comment(adapter, account, graph):
    graph.delete(f"{GRAPH}/{REPLY.external_id}", json=fb("success"))
    adapter.delete(account, REPLY)
    assert graph.calls[0].request.method == "DELETE"
    assert_token_sent(graph.calls[0], TOKEN)


def test_moderation_answered_success_false_is_transient(adapter, account, graph):
    graph.post(f"{GRAPH}/{COMMENT.external_id}", json=fb("success_false"))
    with pytest.raises(Transient):
        adapter.hide(account, COMMENT)


def test_messages_cannot_be_moderated(adapter, account, graph):
    message = ItemRef(external_id="m_1", kind=ItemKind.MESSAGE)
    for action in (adapter.hide, adapter.unhide, adapter.delete):
        with pytest.raises(NotSupported):
            action(account, message)
    with pytest.raises(NotSupported):
        adapter.reply(account, message, "Bonjour")
    assert not graph.calls


def test_search_is_not_offered(adapter, account):
    with pytest.raises(NotSupported):
        adapter.search(account, "ville de démo", None)


def test_refresh_credentials_has_nothing_to_do(adapter, account, graph):
    assert adapter.refresh_credentials(account) is False
    assert account.credentials_changed is False


# --- metrics ------------------------------------------------------------------------------------


def test_account_metrics_read_current_page_insights(adapter, account, graph):
    graph.get(f"{GRAPH}/{PAGE_ID}/insights", json=fb("page_insights_day"))

    metrics = adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))

    assert metrics.day == dt.date(2026, 11, 20)
    assert metrics.followers == 4210
    assert metrics.impressions == 15873
    assert metrics.reach == 6120
    assert metrics.profile_visits == 388
    assert metrics.link_clicks is None
    sent_query = query(graph.calls[0])
    assert sent_query["metric"] == (
        "page_follows,page_media_view,page_total_media_view_unique,page_views_total"
    )
    assert sent_query["period"] == "day"
    assert sent_query["since"] == str(int(dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp()))
    assert sent_query["until"] == str(int(dt.datetime(2026, 11, 21, tzinfo=dt.UTC).timestamp()))
    for deprecated in ("page_impressions", "page_fans", "page_impressions_unique"):
        assert deprecated not in sent_query["metric"].split(",")
    assert_token_sent(graph.calls[0], TOKEN)


def test_account_metrics_missing_values_are_none_not_zero(adapter, account, graph):
    graph.get(f"{GRAPH}/{PAGE_ID}/insights", json=fb("page_insights_partial"))
    metrics = adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))
    assert metrics.followers == 95
    assert metrics.impressions is None and metrics.reach is None
    assert metrics.profile_visits is None


def test_post_metrics_in_one_multi_id_read(adapter, account, graph):
    graph.get(GRAPH, json=fb("post_metrics_ids"))

    first, second = adapter.fetch_post_metrics(account, [POST1, POST2])

    assert (first.external_id, first.impressions, first.reach) == (POST1, 1830, 1204)
    assert (first.reactions, first.comments, first.shares) == (42, 9, 7)
    assert first.link_clicks == 31
    assert first.saves is None and first.video_views is None
    # nobody shared: Graph leaves `shares` out, which is a zero; no insights yet: None
    assert second.shares == 0
    assert second.impressions is None and second.reach is None and second.link_clicks is None
    sent_query = query(graph.calls[0])
    assert sent_query["ids"] == f"{POST1},{POST2}"
    assert "post_media_view" in sent_query["fields"]
    assert "post_impressions" not in sent_query["fields"]
    assert "reactions.limit(0).summary(true)" in sent_query["fields"]
    assert_token_sent(graph.calls[0], TOKEN)


def test_post_metrics_leave_out_a_deleted_post(adapter, account, graph):
    gone = f"{PAGE_ID}_999"
    graph.get(GRAPH, json=fb("error_100_aliases"), status=400)
    graph.get(f"{GRAPH}/{POST1}", json=fb("post_metrics_one"))
    graph.get(f"{GRAPH}/{gone}", json=fb("error_100_33"), status=400)

    metrics = adapter.fetch_post_metrics(account, [POST1, gone])

    assert [m.external_id for m in metrics] == [POST1]
    assert metrics[0].link_clicks == 0  # clicks by type given, none on links
    assert metrics[0].reactions == 5


def test_post_metrics_failures_other_than_a_gone_post_are_raised(adapter, account, graph):
    graph.get(GRAPH, json=fb("error_32"), status=403)
    with pytest.raises(RateLimited):
        adapter.fetch_post_metrics(account, [POST1, POST2])
    graph.reset()
    graph.get(GRAPH, json=fb("error_100_aliases"), status=400)
    graph.get(f"{GRAPH}/{POST1}", json=fb("error_100"), status=400)
    with pytest.raises(Rejected) as caught:
        adapter.fetch_post_metrics(account, [POST1, POST2])
    assert caught.value.code == "100"


def test_post_metrics_of_nothing_calls_nothing(adapter, account, graph):
    assert adapter.fetch_post_metrics(account, []) == []


# --- error mapping ------------------------------------------------------------------------------

BUC_HEADER = json.dumps(
    {
        PAGE_ID: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 12,
                "total_time": 30,
                "estimated_time_to_regain_access": 19,
            }
        ]
    }
)


@pytest.mark.parametrize(
    ("name", "status", "error", "code"),
    [
        ("error_190_463", 400, AuthExpired, "190/463"),
        ("error_190_458", 400, AuthExpired, "190/458"),
        ("error_190_459", 400, AuthExpired, "190/459"),
        ("error_190_460", 400, AuthExpired, "190/460"),
        ("error_190_464", 400, AuthExpired, "190/464"),
        ("error_190_467", 400, AuthExpired, "190/467"),
        ("error_190_492", 400, AuthExpired, "190/492"),
        ("error_190", 401, AuthExpired, "190"),
        ("error_102", 400, AuthExpired, "102"),
        ("error_10", 403, AuthExpired, "10"),
        ("error_200", 403, AuthExpired, "200"),
        ("error_283", 403, AuthExpired, "283"),
        ("error_4", 403, RateLimited, "4"),
        ("error_17", 403, RateLimited, "17/2446079"),
        ("error_32", 403, RateLimited, "32"),
        ("error_613", 403, RateLimited, "613"),
        ("error_80001", 400, RateLimited, "80001/2446079"),
        ("error_368", 400, Rejected, "368/1390008"),
        ("error_506", 400, Rejected, "506/1455006"),
        ("error_100", 400, Rejected, "100"),
        ("error_100_33", 400, Rejected, "100/33"),
        ("error_1609005", 400, Rejected, "1609005"),
        ("error_1", 500, Transient, "1/99"),
        ("error_2", 503, Transient, "2"),
        ("error_transient", 400, Transient, "9999"),
        ("error_unknown_code", 400, Rejected, "12"),
    ],
)
def test_graph_errors_map_to_the_closed_set(adapter, account, graph, name, status, error, code):
    graph.get(f"{GRAPH}/{PAGE_ID}/insights", json=fb(name), status=status)
    with pytest.raises(error) as caught:
        adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))
    assert caught.value.network == "facebook"
    assert caught.value.code == code
    if isinstance(caught.value, Rejected):
        assert caught.value.reason and caught.value.reason.endswith(".")
        assert " the " not in caught.value.reason  # French for the communications team


def test_rate_limit_waits_what_the_usage_header_says(adapter, account, graph):
    graph.get(
        f"{GRAPH}/{PAGE_ID}/insights",
        json=fb("error_80001"),
        status=400,
        headers={"X-Business-Use-Case-Usage": BUC_HEADER},
    )
    with pytest.raises(RateLimited) as caught:
        adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))
    assert caught.value.retry_after == 19 * 60


def test_rate_limit_without_usage_falls_back_to_retry_after(adapter, account, graph):
    graph.get(
        f"{GRAPH}/{PAGE_ID}/insights",
        json=fb("error_4"),
        status=403,
        headers={
            "X-App-Usage": '{"call_count":100,"total_cputime":10,"total_time":10}',
            "Retry-After": "120",
        },
    )
    with pytest.raises(RateLimited) as caught:
        adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))
    assert caught.value.retry_after == 120


def test_rate_limit_with_no_hint_has_no_retry_after(adapter, account, graph):
    graph.get(f"{GRAPH}/{PAGE_ID}/insights", json=fb("error_32"), status=403)
    with pytest.raises(RateLimited) as caught:
        adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))
    assert caught.value.retry_after is None


def test_unknown_keys_in_usage_headers_do_not_fail_a_success(adapter, account, graph):
    usage = json.dumps({PAGE_ID: [{"type": "pages", "call_count": 3, "new_key": 1}]})
    graph.get(
        f"{GRAPH}/{PAGE_ID}/insights",
        json=fb("page_insights_day"),
        headers={"X-Business-Use-Case-Usage": usage, "X-App-Usage": '{"novel": 2}'},
    )
    assert adapter.fetch_account_metrics(account, dt.date(2026, 11, 20)).followers == 4210


def test_usage_headers_parsing():
    assert retry_after_from_usage({"x-business-use-case-usage": BUC_HEADER}) == 1140
    assert retry_after_from_usage({"X-App-Usage": "not json", "Retry-After": "30"}) == 30
    zero = json.dumps({PAGE_ID: [{"type": "pages", "estimated_time_to_regain_access": 0}]})
    assert retry_after_from_usage({"X-Business-Use-Case-Usage": zero}) is None


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (502, "<html>Bad Gateway</html>", Transient),
        (500, "", Transient),
        (429, "", RateLimited),
        (401, "", AuthExpired),
        (404, "", Rejected),
        (200, "not json", Transient),
    ],
)
def test_answers_without_a_graph_error_body(adapter, account, graph, status, body, error):
    graph.get(f"{GRAPH}/{PAGE_ID}/insights", body=body, status=status, content_type="text/html")
    with pytest.raises(error) as caught:
        adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))
    assert caught.value.network == "facebook"


@pytest.mark.parametrize(
    ("exception", "code"),
    [
        (requests.ConnectTimeout, "timeout"),
        (requests.ReadTimeout, "timeout"),
        (requests.ConnectionError, "network"),
    ],
)
def test_transport_failures_are_transient(adapter, account, graph, exception, code):
    graph.get(
        f"{GRAPH}/{PAGE_ID}/insights",
        body=exception(f"HTTPSConnectionPool: /v26.0/x?access_token={TOKEN}"),
    )
    with pytest.raises(Transient) as caught:
        adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))
    assert caught.value.code == code
    assert TOKEN not in caught.value.message
    assert caught.value.__suppress_context__  # the transport's text never travels along


def test_no_token_or_secret_in_errors_or_logs(adapter, account, graph, caplog, freezer):
    """Even when Graph echoes the token, and whatever fails, nothing secret is shown."""
    freezer.move_to(NOW)
    caplog.set_level(logging.DEBUG)
    echo = {
        "error": {
            "message": f"Invalid token {TOKEN} (proof {APP_SECRET})",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": "A1",
        }
    }
    graph.get(f"{GRAPH}/{PAGE_ID}/insights", json=echo, status=400)
    graph.get(
        f"{GRAPH}/{PAGE_ID}/posts", body=requests.ConnectionError(f"url?access_token={TOKEN}")
    )
    graph.post(f"{GRAPH}/{PAGE_ID}/feed", json=fb("feed_created"))
    graph.get(f"{GRAPH}/{POST1}", json=echo, status=400)  # failed permalink look-up is logged
    graph.post(f"{GRAPH}/{COMMENT.external_id}", json=fb("error_368"), status=400)

    raised: list[NetworkError] = []
    for action in (
        lambda: adapter.fetch_account_metrics(account, dt.date(2026, 11, 20)),
        lambda: adapter.fetch_inbox(account, None),
        lambda: adapter.hide(account, COMMENT),
    ):
        with pytest.raises(NetworkError) as caught:
            action()
        raised.append(caught.value)
    adapter.publish(account, content())

    texts = [str(e) for e in raised] + [getattr(e, "reason", "") for e in raised]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    for text in texts:
        assert TOKEN not in text
        assert APP_SECRET not in text
    assert "***" in raised[0].message


def test_graph_error_without_secrets_keeps_the_message():
    error = graph_error(400, {}, fb("error_190_463"), network="facebook")
    assert isinstance(error, AuthExpired)
    assert "Session has expired" in error.message


# --- limits -------------------------------------------------------------------------------------


def test_limits_count_and_problems():
    limits = FacebookAdapter.limits
    # code points after NFC (a decomposed ê counts once), links in full, emoji as one
    assert limits.count("Fe\u0302te 🎉 https://ville-demo.fr/un/lien/tres/long") == 46
    assert limits.problems(content("é" * 63_206)) == []
    assert limits.problems(content("é" * 63_207)) == [
        "Le texte compte 63207 caractères pour une limite de 63206."
    ]
    many = tuple(image(f"{i}.jpg") for i in range(11))
    assert limits.problems(content(media=many)) == ["11 images pour un maximum de 10."]
    webp = image("photo.webp", mime="image/webp")
    assert limits.problems(content(media=(webp,))) == [
        "Format non accepté : image/webp (photo.webp)."
    ]
    heavy = Media(
        kind=MediaKind.IMAGE, data=b"0" * 10_000_001, mime_type="image/png", filename="lourde.png"
    )
    assert limits.problems(content(media=(heavy,))) == ["lourde.png dépasse 10 Mo."]
    video = Media(kind=MediaKind.VIDEO, data=b"v", mime_type="video/mp4", filename="v.mp4")
    assert limits.problems(content(media=(video,))) == ["1 vidéos pour un maximum de 0."]
    assert limits.alt_text and limits.link_preview and not limits.threads


# --- connector ----------------------------------------------------------------------------------

REDIRECT = "https://parvis.example/reseaux/facebook/retour/"


def test_connector_reports_missing_settings(settings):
    apps = dict(settings.PARVIS_NETWORK_APPS)
    apps["facebook"] = {"client_id": "", "client_secret": ""}
    settings.PARVIS_NETWORK_APPS = apps
    connector = FacebookConnector()
    assert connector.missing_settings() == ["META_APP_ID", "META_APP_SECRET"]
    assert not connector.is_configured()
    with pytest.raises(Rejected):
        connector.start(redirect_uri=REDIRECT, state="s", form={})


def test_connector_start_builds_the_login_dialog_url(meta_app):
    start = FacebookConnector().start(redirect_uri=REDIRECT, state="etat-123", form={})

    url = urlsplit(start.url)
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "www.facebook.com",
        "/v26.0/dialog/oauth",
    )
    params = dict(parse_qsl(url.query))
    assert params["client_id"] == APP_ID
    assert params["redirect_uri"] == REDIRECT
    assert params["state"] == "etat-123"
    assert params["response_type"] == "code"
    assert params["scope"].split(",") == [
        "pages_show_list",
        "pages_read_engagement",
        "pages_manage_posts",
        "pages_manage_engagement",
        "pages_read_user_content",
        "read_insights",
    ]
    assert params["code_challenge_method"] == "S256"
    verifier = start.flow_data["code_verifier"]
    expected = hashlib.sha256(verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    assert APP_SECRET not in start.url


def test_connector_without_pkce_sends_no_challenge_nor_verifier(meta_app, graph, monkeypatch):
    monkeypatch.setattr(FacebookConnector, "use_pkce", False)
    start = FacebookConnector().start(redirect_uri=REDIRECT, state="etat", form={})
    assert "code_challenge" not in start.url
    assert "code_verifier" not in start.flow_data
    graph.get(f"{GRAPH}/oauth/access_token", json=fb("error_100"), status=400)
    with pytest.raises(Rejected):
        FacebookConnector().finish(
            redirect_uri=REDIRECT, query={"code": "AQBcode"}, flow_data=start.flow_data
        )
    assert "code_verifier" not in query(graph.calls[0])


def login_exchange(mock: responses.RequestsMock, permissions: str = "me_permissions") -> None:
    mock.get(
        f"{GRAPH}/oauth/access_token",
        json=fb("oauth_code_exchange"),
        match=[matchers.query_param_matcher({"code": "AQBcode"}, strict_match=False)],
    )
    mock.get(
        f"{GRAPH}/oauth/access_token",
        json=fb("oauth_long_lived"),
        match=[
            matchers.query_param_matcher({"grant_type": "fb_exchange_token"}, strict_match=False)
        ],
    )
    mock.get(f"{GRAPH}/me/permissions", json=fb(permissions))


def test_connector_finish_lists_the_pages_with_their_tokens(meta_app, graph):
    login_exchange(graph)
    graph.get(f"{GRAPH}/me/accounts", json=fb("me_accounts_page1"))
    graph.get(
        f"{GRAPH}/me/accounts",
        json=fb("me_accounts_page2"),
        match=[matchers.query_param_matcher({"after": "MTA2OTM1"}, strict_match=False)],
    )
    start = FacebookConnector().start(redirect_uri=REDIRECT, state="etat", form={})

    accounts = FacebookConnector().finish(
        redirect_uri=REDIRECT,
        query={"code": "AQBcode", "state": "etat"},
        flow_data=start.flow_data,
    )

    ville, mediatheque = accounts
    assert ville.external_id == PAGE_ID
    assert ville.handle == "villededemo"
    assert ville.display_name == "Ville de Démo"
    assert ville.credentials == {"access_token": "EAApageTOKENville333"}
    assert ville.settings["tasks"] == [
        "ANALYZE",
        "ADVERTISE",
        "MODERATE",
        "CREATE_CONTENT",
        "MANAGE",
    ]
    assert ville.token_expires_at is None
    assert mediatheque.handle == "102938475610293"  # no username: the id
    code_call, long_call, permissions, accounts1, accounts2 = graph.calls
    assert query(code_call) == {
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "redirect_uri": REDIRECT,
        "code": "AQBcode",
        "code_verifier": start.flow_data["code_verifier"],
    }
    assert query(long_call)["fb_exchange_token"] == "EAAshortlivedUSERtoken111"
    assert_token_sent(permissions, "EAAlonglivedUSERtoken222")
    assert query(accounts1)["fields"] == "id,name,username,access_token,tasks"
    assert_token_sent(accounts2, "EAAlonglivedUSERtoken222")


def test_connector_finish_refuses_declined_permissions(meta_app, graph):
    login_exchange(graph, "me_permissions_declined")
    with pytest.raises(Rejected) as caught:
        FacebookConnector().finish(
            redirect_uri=REDIRECT, query={"code": "AQBcode"}, flow_data={"code_verifier": "v"}
        )
    assert "pages_manage_posts" in caught.value.reason
    assert "read_insights" in caught.value.reason


def test_connector_finish_when_the_admin_cancelled(meta_app, graph):
    with pytest.raises(Rejected) as caught:
        FacebookConnector().finish(
            redirect_uri=REDIRECT,
            query={"error": "access_denied", "error_reason": "user_denied"},
            flow_data={},
        )
    assert "annulée" in caught.value.reason
    with pytest.raises(Rejected):
        FacebookConnector().finish(redirect_uri=REDIRECT, query={}, flow_data={})
    assert not graph.calls


def test_connector_finish_bad_code_never_shows_the_secret(meta_app, graph, caplog):
    caplog.set_level(logging.DEBUG)
    graph.get(
        f"{GRAPH}/oauth/access_token",
        status=400,
        json={
            "error": {
                "message": "Invalid verification code format.",
                "type": "OAuthException",
                "code": 100,
                "error_subcode": 36007,
                "fbtrace_id": "B2",
            }
        },
    )
    with pytest.raises(Rejected) as caught:
        FacebookConnector().finish(
            redirect_uri=REDIRECT, query={"code": "AQBcode"}, flow_data={"code_verifier": "v"}
        )
    assert caught.value.code == "100/36007"
    assert APP_SECRET not in str(caught.value) and APP_SECRET not in caplog.text


def test_cursor_round_trip():
    cursor = InboxCursor(floor=100)
    moment = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    cursor.see("post", "c1", moment)
    again = InboxCursor.decode(cursor.encode())
    assert again.floor == 100
    assert not again.is_new("post", "c1", moment)
    assert again.is_new("post", "c2", moment)
    assert not again.is_new("post", "c0", moment - dt.timedelta(seconds=601))
    assert meta.GRAPH_API_VERSION == "v26.0"
