"""Contract tests for the Instagram adapter and connector (Instagram API with Facebook Login),
HTTP faked at the transport with ``responses``. The Graph plumbing shared with Facebook (token
placement, usage headers, transport failures) is covered in test_facebook.py.

Payloads (tests/networks/payloads/instagram/) follow the official references, with our values:

- container_created, child_container_*, carousel_container, media_published: IG User Media
  and Media Publish "Creating"
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media,
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish
- container_*, carousel_finished: IG Container fields ``status_code`` and ``status``
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
- media_permalink, media_since, media_recent: IG Media fields and IG User Media "Reading"
  https://developers.facebook.com/docs/instagram-platform/reference/instagram-media
- comments_*: IG Media Comments and IG Comment fields (with ``replies``)
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments,
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment
- reply_created, success: IG Comment Replies "Creating", IG Comment "Updating" and "Deleting"
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies
- tags*: IG User Tags
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/tags
- account_insights_day, account_followers: Instagram Account Insights (``total_value``) and IG
  User ``followers_count``
  https://developers.facebook.com/docs/instagram-platform/api-reference/instagram-user/insights
- media_insights*: Instagram Media Insights
  https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights
- hashtag_*: IG Hashtag Search and IG Hashtag Recent Media
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-hashtag-search,
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-hashtag/recent-media
- error_*: Instagram error codes reference
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes
  and https://developers.facebook.com/docs/graph-api/guides/error-handling
- me_permissions, me_accounts: /me/permissions and /me/accounts with instagram_business_account
  https://developers.facebook.com/docs/instagram-platform/instagram-api-with-facebook-login/get-started
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from responses import matchers

from networks.adapters.instagram import InstagramAdapter, InstagramConnector
from networks.adapters.meta import InboxCursor
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
from tests.networks.test_facebook import (
    APP_ID,
    APP_SECRET,
    GRAPH,
    NOW,
    assert_token_sent,
    form,
    path_of,
    payload,
    query,
)

IG_ID = "17841405822304914"
PAGE_ID = "546349135390552"
TOKEN = "EAAGpageTOKEN-for-instagram-987654"
MEDIA1 = "17918920912340654"
MEDIA2 = "17895695668004550"
CONTAINER = "17889615691921648"
PUBLISHED = "17920238422030506"


def ig(name: str) -> Any:
    return payload("instagram", name)


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


@pytest.fixture
def account() -> Account:
    return Account(
        network="instagram",
        external_id=IG_ID,
        handle="villededemo",
        credentials={"access_token": TOKEN},
        settings={"page_id": PAGE_ID},
    )


@pytest.fixture
def adapter(meta_app: None) -> InstagramAdapter:
    instance = InstagramAdapter()
    instance.container_poll_interval = 0
    return instance


def photo(name: str = "noel.jpg", alt: str = "", url: str | None = None, **kw: Any) -> Media:
    return Media(
        kind=MediaKind.IMAGE,
        data=b"\xff\xd8\xff-" + name.encode(),
        mime_type=kw.pop("mime", "image/jpeg"),
        alt_text=alt,
        filename=name,
        public_url=f"https://media.ville-demo.fr/{name}" if url is None else url,
    )


def content(text: str = "Marché de Noël : ouverture samedi !", **kw: Any) -> PostContent:
    return PostContent(text=text, idempotency_key="variant-43", **kw)


def publish_tail(mock: responses.RequestsMock, container: str = CONTAINER) -> None:
    mock.post(f"{GRAPH}/{IG_ID}/media_publish", json=ig("media_published"))
    mock.get(f"{GRAPH}/{PUBLISHED}", json=ig("media_permalink"))


# --- publish ------------------------------------------------------------------------------------


def test_publish_single_image_creates_waits_and_publishes(adapter, account, graph):
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("container_created"))
    graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_in_progress"))
    graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_finished"))
    publish_tail(graph)

    published = adapter.publish(
        account,
        content(
            "Les illuminations sont allumées ✨ #VilleDeDemo",
            media=(photo(alt="La place illuminée, vue du beffroi"),),
            link="https://ville-demo.fr/noel",
        ),
    )

    assert published.external_id == PUBLISHED
    assert published.permalink == "https://www.instagram.com/p/DCdemo123ab/"
    assert published.published_at == dt.datetime(2026, 11, 21, 10, 0, 7, tzinfo=dt.UTC)
    create, poll1, poll2, publish, lookup = graph.calls
    assert path_of(create) == f"/v26.0/{IG_ID}/media"
    assert form(create)["image_url"] == "https://media.ville-demo.fr/noel.jpg"
    assert form(create)["alt_text"] == "La place illuminée, vue du beffroi"
    # links are not clickable in captions: the link is written out at the end
    assert form(create)["caption"] == (
        "Les illuminations sont allumées ✨ #VilleDeDemo\n\nhttps://ville-demo.fr/noel"
    )
    assert "is_carousel_item" not in form(create)
    assert query(poll1)["fields"] == "status_code,status"
    assert form(publish)["creation_id"] == CONTAINER
    assert query(lookup)["fields"] == "permalink,timestamp"
    for call in graph.calls:
        assert_token_sent(call, TOKEN)


def test_publish_carousel_creates_children_then_the_album(adapter, account, graph):
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("child_container_1"))
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("child_container_2"))
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("carousel_container"))
    graph.get(f"{GRAPH}/18002611232413937", json=ig("carousel_finished"))
    publish_tail(graph)

    adapter.publish(account, content(media=(photo("a.jpg", alt="Vue A"), photo("b.jpg"))))

    child1, child2, album, _poll, publish, _lookup = graph.calls
    assert form(child1)["is_carousel_item"] == "true"
    assert form(child1)["alt_text"] == "Vue A"
    assert "caption" not in form(child1)
    assert form(child2)["image_url"] == "https://media.ville-demo.fr/b.jpg"
    assert "alt_text" not in form(child2)
    assert form(album)["media_type"] == "CAROUSEL"
    assert form(album)["children"] == "17899506308402767,18023438020123486"
    assert form(album)["caption"] == "Marché de Noël : ouverture samedi !"
    assert form(publish)["creation_id"] == "18002611232413937"


def test_publish_needs_a_public_url_for_each_image(adapter, account, graph):
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, content(media=(photo("a.jpg"), photo("sans-url.jpg", url=""))))
    assert caught.value.code == "public_url"
    assert "sans-url.jpg" in caught.value.reason
    assert "a.jpg" not in caught.value.reason
    assert not graph.calls


def test_publish_needs_an_image(adapter, account, graph):
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, content())
    assert caught.value.reason == "Instagram exige au moins une image pour publier."
    assert not graph.calls


def test_publish_refuses_png_and_video_before_any_call(adapter, account, graph):
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, content(media=(photo("carte.png", mime="image/png"),)))
    assert caught.value.reason == "Format non accepté : image/png (carte.png)."
    video = Media(kind=MediaKind.VIDEO, data=b"v", mime_type="video/mp4", filename="v.mp4")
    with pytest.raises(NotSupported):
        adapter.publish(account, content(media=(video,)))
    assert not graph.calls


def test_container_error_maps_its_subcode(adapter, account, graph):
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("container_created"))
    graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_error_aspect"))

    with pytest.raises(Rejected) as caught:
        adapter.publish(account, content(media=(photo(),)))

    assert caught.value.code == "ERROR/2207009"
    assert caught.value.reason == (
        "Instagram refuse les proportions de cette image (entre 4:5 et 1,91:1)."
    )


def test_container_error_without_subcode_is_rejected(adapter, account, graph):
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("container_created"))
    graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_error_unknown"))
    with pytest.raises(Rejected) as caught:
        adapter.publish(account, content(media=(photo(),)))
    assert caught.value.reason == "Instagram n'a pas pu traiter ce média."


def test_container_still_in_progress_after_bounded_polls_is_transient(adapter, account, graph):
    adapter.container_max_polls = 3
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("container_created"))
    for _ in range(3):
        graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_in_progress"))
    with pytest.raises(Transient) as caught:
        adapter.publish(account, content(media=(photo(),)))
    assert caught.value.code == "IN_PROGRESS"
    assert len(graph.calls) == 4  # create + 3 polls, never media_publish


def test_expired_container_is_transient(adapter, account, graph):
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("container_created"))
    graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_expired"))
    with pytest.raises(Transient) as caught:
        adapter.publish(account, content(media=(photo(),)))
    assert caught.value.code == "EXPIRED"


def test_publish_not_ready_is_transient(adapter, account, graph):
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("container_created"))
    graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_finished"))
    graph.post(f"{GRAPH}/{IG_ID}/media_publish", json=ig("error_9007_2207027"), status=400)
    with pytest.raises(Transient) as caught:
        adapter.publish(account, content(media=(photo(),)))
    assert caught.value.code == "9007/2207027"


def test_publish_survives_a_failed_permalink_lookup(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("container_created"))
    graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_finished"))
    graph.post(f"{GRAPH}/{IG_ID}/media_publish", json=ig("media_published"))
    graph.get(f"{GRAPH}/{PUBLISHED}", json=ig("error_-1_2207001"), status=500)

    published = adapter.publish(account, content(media=(photo(),)))

    assert published.external_id == PUBLISHED
    assert published.permalink == ""


# --- find_published -----------------------------------------------------------------------------


def test_find_published_matches_recent_caption(adapter, account, graph):
    since = dt.datetime(2026, 11, 21, 9, 55, tzinfo=dt.UTC)
    graph.get(f"{GRAPH}/{IG_ID}/media", json=ig("media_since"))
    graph.get(f"{GRAPH}/{IG_ID}/media", json=ig("media_since"))

    found = adapter.find_published(account, content("marché de noël : ouverture samedi !"), since)
    missing = adapter.find_published(account, content("Autre chose"), since)

    assert found is not None
    assert found.external_id == PUBLISHED
    assert found.permalink == "https://www.instagram.com/p/DCdemo123ab/"
    assert missing is None
    assert query(graph.calls[0])["since"] == str(int(since.timestamp()))
    assert query(graph.calls[0])["fields"] == "id,caption,permalink,timestamp"


# --- inbox --------------------------------------------------------------------------------------


def first_poll(mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/{IG_ID}/media", json=ig("media_recent"))
    mock.get(f"{GRAPH}/{MEDIA1}/comments", json=ig("comments_page1"))
    mock.get(
        f"{GRAPH}/{MEDIA1}/comments",
        json=ig("comments_page2"),
        match=[matchers.query_param_matcher({"after": "QVFIUmY5"}, strict_match=False)],
    )
    mock.get(f"{GRAPH}/{MEDIA2}/comments", json=ig("comments_empty"))
    mock.get(f"{GRAPH}/{IG_ID}/tags", json=ig("tags"))


def test_fetch_inbox_first_poll_gives_comments_replies_and_tags(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    first_poll(graph)

    page = adapter.fetch_inbox(account, None)

    assert [e.external_id for e in page.items] == [
        "17870913679156914",
        "17873440459141099",
        "17870913679157000",
        "18038234516033421",
    ]  # our own reply is left out; oldest first
    question, thanks, hidden, tag = page.items
    assert question.kind == ItemKind.COMMENT
    assert question.text == "Super initiative 👏👏 Est-ce accessible en fauteuil ?"
    assert question.author.external_id == "17841400001111111"
    assert question.author.handle == "camille.martin"
    assert question.created_at == dt.datetime(2026, 11, 20, 9, 10, tzinfo=dt.UTC)
    assert question.post_external_id == MEDIA1
    assert question.root_id == question.external_id and question.parent_id is None
    assert question.permalink == "https://www.instagram.com/p/DCdemoAAA11/"
    assert thanks.kind == ItemKind.REPLY
    assert thanks.parent_id == thanks.root_id == question.external_id
    assert hidden.raw["hidden"] is True
    assert tag.kind == ItemKind.MENTION
    assert tag.author.handle == "randonneurs_demo"
    assert tag.text == "Belle balade au parc de @villededemo 🌳"
    assert tag.post_external_id is None
    assert tag.permalink == "https://www.instagram.com/p/DCtagged01/"
    assert page.next_cursor and page.has_more is False

    media_call, comments1, comments2, _other, tags = graph.calls
    assert query(media_call)["limit"] == "25"
    assert query(comments1)["fields"].startswith("id,text,timestamp,username,from{id,username}")
    assert "replies.limit(50){" in query(comments1)["fields"]
    assert query(comments2)["after"] == "QVFIUmY5"
    assert query(tags)["fields"] == "id,caption,timestamp,username,permalink,media_type"
    for call in graph.calls:
        assert_token_sent(call, TOKEN)


def test_fetch_inbox_next_poll_gives_only_new_comments_and_replies(
    adapter, account, graph, freezer
):
    freezer.move_to(NOW)
    first_poll(graph)
    cursor = adapter.fetch_inbox(account, None).next_cursor
    graph.reset()
    graph.get(f"{GRAPH}/{IG_ID}/media", json=ig("media_recent"))
    graph.get(f"{GRAPH}/{MEDIA1}/comments", json=ig("comments_later"))
    graph.get(f"{GRAPH}/{MEDIA2}/comments", json=ig("comments_empty"))
    graph.get(f"{GRAPH}/{IG_ID}/tags", json=ig("tags"))

    page = adapter.fetch_inbox(account, cursor)

    # a new comment, and a new reply under a comment already given; nothing twice
    assert [(e.kind, e.text) for e in page.items] == [
        (ItemKind.COMMENT, "Et les horaires du dimanche ?"),
        (ItemKind.REPLY, "Et pour les poussettes ?"),
    ]
    assert page.items[1].parent_id == "17870913679156914"


def test_fetch_inbox_with_nothing_new_keeps_the_cursor(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    first_poll(graph)
    cursor = adapter.fetch_inbox(account, None).next_cursor
    graph.reset()
    graph.get(f"{GRAPH}/{IG_ID}/media", json=ig("media_recent"))
    graph.get(f"{GRAPH}/{MEDIA1}/comments", json=ig("comments_page2"))
    graph.get(f"{GRAPH}/{MEDIA2}/comments", json=ig("comments_empty"))
    graph.get(f"{GRAPH}/{IG_ID}/tags", json=ig("tags_empty"))

    page = adapter.fetch_inbox(account, cursor)

    assert page.items == []
    assert page.next_cursor == cursor


def test_fetch_inbox_skips_media_deleted_meanwhile(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    graph.get(f"{GRAPH}/{IG_ID}/media", json=ig("media_recent"))
    graph.get(f"{GRAPH}/{MEDIA1}/comments", json=ig("error_100_33"), status=400)
    graph.get(f"{GRAPH}/{MEDIA2}/comments", json=ig("comments_empty"))
    graph.get(f"{GRAPH}/{IG_ID}/tags", json=ig("tags_empty"))

    page = adapter.fetch_inbox(account, None)

    assert page.items == []
    assert set(InboxCursor.decode(page.next_cursor).marks) <= {MEDIA1, MEDIA2, "tags"}


def test_fetch_inbox_auth_failure_is_raised(adapter, account, graph):
    graph.get(f"{GRAPH}/{IG_ID}/media", json=ig("error_190_460"), status=400)
    with pytest.raises(AuthExpired) as caught:
        adapter.fetch_inbox(account, None)
    assert caught.value.code == "190/460"


# --- reply, hide, unhide, delete -----------------------------------------------------------------

COMMENT = ItemRef(
    external_id="17870913679156914",
    kind=ItemKind.COMMENT,
    post_external_id=MEDIA1,
    root_id="17870913679156914",
)
REPLY = ItemRef(
    external_id="17873440459141099",
    kind=ItemKind.REPLY,
    post_external_id=MEDIA1,
    root_id=COMMENT.external_id,
    parent_id=COMMENT.external_id,
)
TAG = ItemRef(external_id="18038234516033421", kind=ItemKind.MENTION)


def test_reply_to_a_comment_and_to_a_reply(adapter, account, graph):
    graph.post(f"{GRAPH}/{COMMENT.external_id}/replies", json=ig("reply_created"))
    graph.post(f"{GRAPH}/{COMMENT.external_id}/replies", json=ig("reply_created"))

    published = adapter.reply(account, COMMENT, "Oui, tout le parcours est accessible ♿")
    adapter.reply(account, REPLY, "Avec plaisir !")

    assert published.external_id == "17873440459141777"
    assert form(graph.calls[0])["message"] == "Oui, tout le parcours est accessible ♿"
    assert path_of(graph.calls[1]) == f"/v26.0/{COMMENT.external_id}/replies"
    assert_token_sent(graph.calls[0], TOKEN)


@pytest.mark.parametrize(("method", "value"), [("hide", "true"), ("unhide", "false")])
def test_hide_and_unhide(adapter, account, graph, method, value):
    graph.post(f"{GRAPH}/{REPLY.external_id}", json=ig("success"))
    getattr(adapter, method)(account, REPLY)
    assert form(graph.calls[0])["hide"] == value
    assert_token_sent(graph.calls[0], TOKEN)


def test_delete_comment(adapter, account, graph):
    graph.delete(f"{GRAPH}/{COMMENT.external_id}", json=ig("success"))
    adapter.delete(account, COMMENT)
    assert graph.calls[0].request.method == "DELETE"
    assert_token_sent(graph.calls[0], TOKEN)


def test_mentions_cannot_be_answered_or_moderated(adapter, account, graph):
    for action in (adapter.hide, adapter.unhide, adapter.delete):
        with pytest.raises(NotSupported):
            action(account, TAG)
    with pytest.raises(NotSupported):
        adapter.reply(account, TAG, "Merci !")
    assert not graph.calls


def test_refresh_credentials_has_nothing_to_do(adapter, account):
    assert adapter.refresh_credentials(account) is False


# --- metrics ------------------------------------------------------------------------------------


def test_account_metrics(adapter, account, graph):
    graph.get(f"{GRAPH}/{IG_ID}/insights", json=ig("account_insights_day"))
    graph.get(f"{GRAPH}/{IG_ID}", json=ig("account_followers"))

    metrics = adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))

    assert metrics.followers == 8231
    assert metrics.impressions == 5412
    assert metrics.reach == 2270
    assert metrics.profile_visits == 134
    assert metrics.link_clicks == 17
    insights, profile = graph.calls
    assert query(insights)["metric"] == "reach,views,profile_views,website_clicks"
    assert query(insights)["metric_type"] == "total_value"
    assert query(insights)["period"] == "day"
    assert query(insights)["since"] == str(
        int(dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp())
    )
    assert query(insights)["until"] == str(
        int(dt.datetime(2026, 11, 21, tzinfo=dt.UTC).timestamp())
    )
    assert "impressions" not in query(insights)["metric"].split(",")
    assert query(profile)["fields"] == "followers_count"


def test_account_metrics_absent_values_are_none(adapter, account, graph):
    graph.get(f"{GRAPH}/{IG_ID}/insights", json={"data": []})
    graph.get(f"{GRAPH}/{IG_ID}", json={"id": IG_ID})
    metrics = adapter.fetch_account_metrics(account, dt.date(2026, 11, 20))
    assert (metrics.followers, metrics.impressions, metrics.reach) == (None, None, None)
    assert (metrics.profile_visits, metrics.link_clicks) == (None, None)


def test_post_metrics(adapter, account, graph):
    gone, quiet, fresh = "17800000000000001", "17800000000000002", "17800000000000003"
    graph.get(f"{GRAPH}/{MEDIA1}/insights", json=ig("media_insights"))
    graph.get(f"{GRAPH}/{gone}/insights", json=ig("error_100_33"), status=400)
    graph.get(f"{GRAPH}/{quiet}/insights", json=ig("error_10_insights"), status=400)
    graph.get(f"{GRAPH}/{fresh}/insights", json=ig("media_insights_empty"))

    metrics = adapter.fetch_post_metrics(account, [MEDIA1, gone, quiet, fresh])

    assert [m.external_id for m in metrics] == [MEDIA1, quiet, fresh]  # deleted: left out
    full, too_few_viewers, empty = metrics
    assert (full.impressions, full.reach, full.reactions) == (3120, 1843, 212)
    assert (full.comments, full.shares, full.saves) == (18, 9, 27)
    assert full.link_clicks is None and full.video_views is None
    for none_only in (too_few_viewers, empty):
        assert none_only.impressions is None and none_only.reactions is None
    assert query(graph.calls[0])["metric"] == "reach,views,likes,comments,shares,saved"
    assert_token_sent(graph.calls[0], TOKEN)


# --- search -------------------------------------------------------------------------------------


def test_search_by_hashtag_then_reuses_the_hashtag_id(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    graph.get(f"{GRAPH}/ig_hashtag_search", json=ig("hashtag_search"))
    graph.get(f"{GRAPH}/17843853986012965/recent_media", json=ig("hashtag_recent_media"))

    page = adapter.search(account, "#VilleDeDemo", None)

    assert [e.external_id for e in page.items] == ["18062917561012345", "18062917561099999"]
    first = page.items[0]
    assert first.kind == ItemKind.MENTION
    assert first.text == "Nuit des musées à #VilleDeDemo ce samedi 🖼️"
    assert first.author.handle == "" and first.author.external_id == ""
    assert first.created_at == dt.datetime(2026, 11, 21, 7, 12, tzinfo=dt.UTC)
    search_call, media_call = graph.calls
    assert query(search_call)["q"] == "VilleDeDemo"
    assert query(search_call)["user_id"] == IG_ID
    assert query(media_call)["user_id"] == IG_ID
    assert query(media_call)["fields"] == "id,caption,media_type,permalink,timestamp"
    assert_token_sent(media_call, TOKEN)

    graph.reset()
    graph.get(f"{GRAPH}/17843853986012965/recent_media", json=ig("hashtag_recent_media"))
    again = adapter.search(account, "villededemo", page.next_cursor)
    assert again.items == []  # same hashtag (case aside): no new search, nothing twice


def test_search_unknown_hashtag_is_empty(adapter, account, graph, freezer):
    freezer.move_to(NOW)
    graph.get(f"{GRAPH}/ig_hashtag_search", json=ig("hashtag_search_empty"))
    page = adapter.search(account, "introuvable", None)
    assert page.items == [] and page.next_cursor


@pytest.mark.parametrize("query_text", ["ville de démo", "", "#a#b", "   "])
def test_search_takes_one_hashtag(adapter, account, graph, query_text):
    with pytest.raises(Rejected) as caught:
        adapter.search(account, query_text, None)
    assert "mot-dièse" in caught.value.reason
    assert not graph.calls


def test_search_without_the_public_content_feature_is_not_supported(adapter, account, graph):
    graph.get(f"{GRAPH}/ig_hashtag_search", json=ig("error_10_permission"), status=403)
    with pytest.raises(NotSupported) as caught:
        adapter.search(account, "VilleDeDemo", None)
    assert caught.value.code == "10"


def test_search_with_a_dead_token_is_auth_expired(adapter, account, graph):
    graph.get(f"{GRAPH}/ig_hashtag_search", json=ig("error_190_460"), status=400)
    with pytest.raises(AuthExpired):
        adapter.search(account, "VilleDeDemo", None)


# --- Instagram error mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error", "code", "reason"),
    [
        ("error_36003_2207009", Rejected, "36003/2207009", "proportions"),
        ("error_36000_2207004", Rejected, "36000/2207004", "8 Mo"),
        ("error_36001_2207005", Rejected, "36001/2207005", "JPEG"),
        ("error_36004_2207010", Rejected, "36004/2207010", "2 200 caractères"),
        ("error_9004_2207052", Rejected, "9004/2207052", "adresse publique"),
        ("error_352_2207026", Rejected, "352/2207026", "MP4 ou MOV"),
        ("error_100_2207028", Rejected, "100/2207028", "de 2 à 10"),
        ("error_4_2207051", Rejected, "4/2207051", "spam"),
        ("error_25_2207050", Rejected, "25/2207050", "restreint ou inactif"),
        ("error_9007_2207027", Transient, "9007/2207027", None),
        ("error_-1_2207001", Transient, "-1/2207001", None),
        ("error_-2_2207003", Transient, "-2/2207003", None),
        ("error_24_2207008", Transient, "24/2207008", None),
        ("error_9_2207042", RateLimited, "9/2207042", None),
        ("error_190_460", AuthExpired, "190/460", None),
    ],
)
def test_publishing_errors_map_to_the_closed_set(
    adapter, account, graph, name, error, code, reason
):
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig(name), status=400)
    with pytest.raises(error) as caught:
        adapter.publish(account, content(media=(photo(),)))
    assert caught.value.network == "instagram"
    assert caught.value.code == code
    if reason:
        assert reason in caught.value.reason


def test_no_token_or_secret_in_errors_or_logs(adapter, account, graph, caplog, freezer):
    freezer.move_to(NOW)
    caplog.set_level(logging.DEBUG)
    echo = {
        "error": {
            "message": f"Malformed access token {TOKEN}",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": "A1",
        }
    }
    graph.post(f"{GRAPH}/{IG_ID}/media", json=ig("container_created"))
    graph.get(f"{GRAPH}/{CONTAINER}", json=ig("container_finished"))
    graph.post(f"{GRAPH}/{IG_ID}/media_publish", json=ig("media_published"))
    graph.get(f"{GRAPH}/{PUBLISHED}", json=echo, status=400)
    graph.get(f"{GRAPH}/{IG_ID}/media", json=echo, status=400)
    graph.get(f"{GRAPH}/{MEDIA1}/insights", json=echo, status=400)

    adapter.publish(account, content(media=(photo(),)))
    raised: list[NetworkError] = []
    for action in (
        lambda: adapter.fetch_inbox(account, None),
        lambda: adapter.fetch_post_metrics(account, [MEDIA1]),
    ):
        with pytest.raises(NetworkError) as caught:
            action()
        raised.append(caught.value)

    texts = [str(e) for e in raised] + [caplog.text]
    for text in texts:
        assert TOKEN not in text and APP_SECRET not in text


# --- limits -------------------------------------------------------------------------------------


def test_limits_count_and_problems():
    limits = InstagramAdapter.limits
    assert limits.count("Noël ✨ #VilleDeDemo") == 19
    assert limits.problems(content("a" * 2_200, media=(photo(),))) == []
    assert limits.problems(content("a" * 2_201)) == [
        "Le texte compte 2201 caractères pour une limite de 2200."
    ]
    eleven = tuple(photo(f"{i}.jpg") for i in range(11))
    assert limits.problems(content(media=eleven)) == ["11 images pour un maximum de 10."]
    big = Media(
        kind=MediaKind.IMAGE,
        data=b"0" * (8 * 1024 * 1024 + 1),
        mime_type="image/jpeg",
        filename="grande.jpg",
    )
    assert limits.problems(content(media=(big,))) == ["grande.jpg dépasse 8 Mo."]
    assert limits.alt_text and not limits.links_clickable and not limits.link_preview


# --- connector ----------------------------------------------------------------------------------

REDIRECT = "https://parvis.example/reseaux/instagram/retour/"


def test_connector_start_asks_for_the_instagram_scopes(meta_app):
    start = InstagramConnector().start(redirect_uri=REDIRECT, state="etat-ig", form={})
    params = dict(parse_qsl(urlsplit(start.url).query))
    assert params["scope"].split(",") == [
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_comments",
        "instagram_manage_insights",
        "pages_show_list",
        "pages_read_engagement",
    ]
    assert params["state"] == "etat-ig"
    assert params["code_challenge_method"] == "S256"
    assert start.flow_data["code_verifier"]


def test_connector_finish_lists_linked_professional_accounts(meta_app, graph):
    graph.get(
        f"{GRAPH}/oauth/access_token",
        json=payload("facebook", "oauth_code_exchange"),
        match=[matchers.query_param_matcher({"code": "AQBig"}, strict_match=False)],
    )
    graph.get(f"{GRAPH}/oauth/access_token", json=payload("facebook", "oauth_long_lived"))
    graph.get(f"{GRAPH}/me/permissions", json=ig("me_permissions"))
    graph.get(f"{GRAPH}/me/accounts", json=ig("me_accounts"))

    accounts = InstagramConnector().finish(
        redirect_uri=REDIRECT, query={"code": "AQBig"}, flow_data={"code_verifier": "v" * 43}
    )

    assert len(accounts) == 1  # the library's Page has no Instagram account linked
    linked = accounts[0]
    assert linked.external_id == IG_ID
    assert linked.handle == "villededemo"
    assert linked.display_name == "Ville de Démo"
    assert linked.credentials == {"access_token": "EAApageTOKENville333"}
    assert linked.settings["page_id"] == PAGE_ID
    assert linked.token_expires_at is None
    assert (
        "instagram_business_account{id,username,name,profile_picture_url}"
        in query(graph.calls[3])["fields"]
    )


def test_fetch_inbox_lists_each_media_whose_comments_were_read_to_the_end(
    adapter, account, graph, freezer
):
    freezer.move_to(NOW)
    first_poll(graph)

    page = adapter.fetch_inbox(account, None)

    # every comment and reply found, ours and hidden ones included, new or not: collection
    # takes one it stored from the media and no longer listed for removed
    assert page.listed == {
        MEDIA1: frozenset(
            {"17870913679156914", "17873440459141021", "17873440459141099", "17870913679157000"}
        ),
        MEDIA2: frozenset(),
    }


def test_fetch_inbox_does_not_list_media_whose_comments_were_cut_short(
    adapter, account, graph, freezer, monkeypatch
):
    from networks.adapters import instagram

    freezer.move_to(NOW)
    graph.get(f"{GRAPH}/{IG_ID}/media", json=ig("media_recent"))
    # a comment whose replies go on past the nested page
    graph.get(f"{GRAPH}/{MEDIA1}/comments", json=ig("comments_replies_cut"))
    graph.get(f"{GRAPH}/{MEDIA2}/comments", json=ig("comments_page1"))  # pages left
    graph.get(f"{GRAPH}/{IG_ID}/tags", json=ig("tags_empty"))
    monkeypatch.setattr(instagram, "COMMENT_PAGES_PER_MEDIA", 1)

    page = adapter.fetch_inbox(account, None)

    assert page.items and page.listed == {}
