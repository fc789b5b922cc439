"""Facebook Pages through the Graph API (python-facebook-api).

References (official):
- publishing: https://developers.facebook.com/docs/pages-api/posts and
  https://developers.facebook.com/docs/graph-api/reference/page/feed
- photos: https://developers.facebook.com/docs/graph-api/reference/page/photos and
  https://developers.facebook.com/docs/graph-api/reference/photo/
- comments: https://developers.facebook.com/docs/graph-api/reference/object/comments and
  https://developers.facebook.com/docs/graph-api/reference/comment/
- insights: https://developers.facebook.com/docs/graph-api/reference/insights and
  https://developers.facebook.com/docs/pages-api/platforminsights/page/deprecated-metrics
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, ClassVar

from networks.adapters.meta import (
    GraphClient,
    InboxCursor,
    MetaConnector,
    check_content,
    epoch,
    parse_time,
    text_with_link,
    utcnow,
)
from networks.base import (
    Account,
    AccountMetrics,
    Adapter,
    Author,
    InboxEntry,
    ItemKind,
    ItemRef,
    Limits,
    Media,
    MediaKind,
    NetworkError,
    NotSupported,
    Page,
    PostContent,
    PostMetrics,
    Published,
    Rejected,
    Transient,
    same_text,
)
from networks.connect import ConnectableAccount

logger = logging.getLogger(__name__)

NETWORK = "facebook"

POSTS_SCANNED = 25  # the Page's most recent posts whose comments each poll reads
COMMENT_PAGE_SIZE = 100
COMMENT_PAGES_PER_POST = 3  # then has_more: the next call goes on where this one stopped
COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url,is_hidden"

# Current metrics only: page_impressions*, page_fans and post_impressions* are deprecated.
PAGE_METRICS = (
    "page_follows",
    "page_media_view",
    "page_total_media_view_unique",
    "page_views_total",
)
POST_METRIC_FIELDS = (
    "shares,"
    "reactions.limit(0).summary(true),"
    "comments.filter(stream).limit(0).summary(true),"
    "insights.metric(post_media_view,post_total_media_view_unique,post_clicks_by_type)"
)


class FacebookAdapter(Adapter):
    network: ClassVar[str] = NETWORK
    limits: ClassVar[Limits] = Limits(
        # Not in the Graph reference: the composer's limit, unchanged since 2011.
        max_chars=63_206,
        # Parvis policy: the Graph API documents no maximum for attached_media.
        max_images=10,
        # Video publishing is not implemented in this version (publish raises NotSupported).
        max_videos=0,
        # Photo reference: JPEG, BMP, PNG, GIF and TIFF, under 10 MB.
        image_formats=("image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"),
        max_image_bytes=10_000_000,
        # alt_text_custom on POST /{page-id}/photos; no documented maximum length.
        alt_text=True,
        # The feed's link parameter builds a preview card.
        link_preview=True,
    )

    # --- publishing ---------------------------------------------------------------------------

    def publish(self, account: Account, content: PostContent) -> Published:
        check_content(self, content)
        graph = GraphClient.for_account(NETWORK, account.credentials)
        page_id = account.external_id
        images = [m for m in content.media if m.kind == MediaKind.IMAGE]
        if len(images) == 0:
            data = {"message": content.text}
            if content.link:
                data["link"] = content.link
            post_id = _id_of(graph.create(f"{page_id}/feed", data))
        elif len(images) == 1:
            data = _photo_data(images[0], published=True)
            data["message"] = text_with_link(content.text, content.link)
            answer = graph.create(f"{page_id}/photos", data, files=_photo_file(images[0]))
            post_id = str(answer.get("post_id") or _id_of(answer))
        else:
            data = {"message": text_with_link(content.text, content.link)}
            for index, image in enumerate(images):
                photo = graph.create(
                    f"{page_id}/photos",
                    _photo_data(image, published=False),
                    files=_photo_file(image),
                )
                data[f"attached_media[{index}]"] = json.dumps({"media_fbid": _id_of(photo)})
            post_id = _id_of(graph.create(f"{page_id}/feed", data))
        return _published(graph, post_id)

    def find_published(
        self, account: Account, content: PostContent, since: dt.datetime
    ) -> Published | None:
        graph = GraphClient.for_account(NETWORK, account.credentials)
        answer = graph.read(
            f"{account.external_id}/posts",
            fields="id,message,created_time,permalink_url",
            since=epoch(since),
            limit=25,
        )
        for post in answer.get("data") or []:
            created = parse_time(post.get("created_time"))
            if created is not None and created < since:
                continue
            if same_text(post.get("message") or "", content.text):
                return Published(
                    external_id=str(post["id"]),
                    permalink=post.get("permalink_url") or _post_url(str(post["id"])),
                    published_at=created,
                )
        return None

    # --- inbox --------------------------------------------------------------------------------

    def fetch_inbox(self, account: Account, cursor: str | None) -> Page[InboxEntry]:
        graph = GraphClient.for_account(NETWORK, account.credentials)
        state = InboxCursor.decode(cursor)
        posts = (
            graph.read(
                f"{account.external_id}/posts",
                fields="id,permalink_url,created_time",
                limit=POSTS_SCANNED,
            ).get("data")
            or []
        )
        items: list[InboxEntry] = []
        has_more = False
        for post in posts:
            try:
                has_more |= self._read_comments(graph, account, post, state, items)
            except Rejected as exc:
                # deleted or no longer visible since the list was read: nothing to read
                logger.info("facebook: comments of %s not readable (%s)", post.get("id"), exc.code)
        state.keep_only(str(p["id"]) for p in posts)
        items.sort(key=lambda entry: entry.created_at)
        return Page(items=items, next_cursor=state.encode(), has_more=has_more)

    def _read_comments(
        self,
        graph: GraphClient,
        account: Account,
        post: dict[str, Any],
        state: InboxCursor,
        items: list[InboxEntry],
    ) -> bool:
        """Read a post's new comments and replies oldest first; True if more are waiting."""
        post_id = str(post["id"])
        mark = state.mark(post_id)
        params: dict[str, Any] = {
            "fields": COMMENT_FIELDS,
            "filter": "stream",
            "order": "chronological",
            "limit": COMMENT_PAGE_SIZE,
            "since": state.since(post_id),
        }
        if mark.resume:
            params.update(mark.resume)
        mark.resume = None
        for _page in range(COMMENT_PAGES_PER_POST):
            try:
                answer = graph.read(f"{post_id}/comments", **params)
            except Rejected:
                if "after" not in params:
                    raise
                # an old resume cursor Graph no longer accepts: read again from `since`
                params.pop("after")
                answer = graph.read(f"{post_id}/comments", **params)
            for comment in answer.get("data") or []:
                created = parse_time(comment.get("created_time"))
                if created is None or not state.is_new(post_id, str(comment["id"]), created):
                    continue
                state.see(post_id, str(comment["id"]), created)
                author = comment.get("from") or {}
                if str(author.get("id", "")) == account.external_id:
                    continue  # our own replies
                items.append(_entry(comment, post, created))
            paging = answer.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return False
            params["after"] = after
        state.mark(post_id).resume = {"since": params["since"], "after": params["after"]}
        return True

    # --- moderation ---------------------------------------------------------------------------

    def reply(self, account: Account, item: ItemRef, text: str) -> Published:
        _comments_only(item, "répondre")
        graph = GraphClient.for_account(NETWORK, account.credentials)
        # Facebook threads have one level: a reply to a reply goes to the thread's top.
        target = item.root_id if item.kind == ItemKind.REPLY and item.root_id else item.external_id
        answer = graph.create(f"{target}/comments", {"message": text})
        return Published(external_id=_id_of(answer), permalink="", published_at=utcnow())

    def hide(self, account: Account, item: ItemRef) -> None:
        self._set_hidden(account, item, True)

    def unhide(self, account: Account, item: ItemRef) -> None:
        self._set_hidden(account, item, False)

    def _set_hidden(self, account: Account, item: ItemRef, hidden: bool) -> None:
        _comments_only(item, "masquer")
        graph = GraphClient.for_account(NETWORK, account.credentials)
        graph.check_success(
            graph.create(item.external_id, {"is_hidden": "true" if hidden else "false"})
        )

    def delete(self, account: Account, item: ItemRef) -> None:
        _comments_only(item, "supprimer")
        graph = GraphClient.for_account(NETWORK, account.credentials)
        graph.check_success(graph.remove(item.external_id))

    # --- metrics ------------------------------------------------------------------------------

    def fetch_account_metrics(self, account: Account, day: dt.date) -> AccountMetrics:
        graph = GraphClient.for_account(NETWORK, account.credentials)
        answer = graph.read(
            f"{account.external_id}/insights",
            metric=",".join(PAGE_METRICS),
            period="day",
            since=epoch(day),
            until=epoch(day + dt.timedelta(days=1)),
        )
        values = {m.get("name"): _first_value(m) for m in answer.get("data") or []}
        return AccountMetrics(
            day=day,
            followers=_int(values.get("page_follows")),
            impressions=_int(values.get("page_media_view")),
            reach=_int(values.get("page_total_media_view_unique")),
            profile_visits=_int(values.get("page_views_total")),
            link_clicks=None,  # no current Page-level link-click metric
        )

    def fetch_post_metrics(self, account: Account, external_ids: list[str]) -> list[PostMetrics]:
        if not external_ids:
            return []
        graph = GraphClient.for_account(NETWORK, account.credentials)
        found = graph.read_many(external_ids, POST_METRIC_FIELDS)
        return [_post_metrics(i, found[i]) for i in external_ids if i in found]


class FacebookConnector(MetaConnector):
    network: ClassVar[str] = NETWORK
    scopes: ClassVar[tuple[str, ...]] = (
        "pages_show_list",
        "pages_read_engagement",
        "pages_manage_posts",
        "pages_manage_engagement",
        "pages_read_user_content",
        "read_insights",
    )
    page_fields: ClassVar[str] = "id,name,username,access_token,tasks"

    def accounts_from_pages(self, pages: list[dict[str, Any]]) -> list[ConnectableAccount]:
        return [
            ConnectableAccount(
                external_id=str(page["id"]),
                handle=str(page.get("username") or page["id"]),
                display_name=str(page.get("name") or ""),
                credentials={"access_token": page["access_token"]},
                settings={"tasks": list(page.get("tasks") or [])},
                token_expires_at=None,  # Page tokens from a long-lived user token do not expire
            )
            for page in pages
            if page.get("access_token")
        ]


# --- helpers ----------------------------------------------------------------------------------


def _photo_data(image: Media, *, published: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"published": "true" if published else "false"}
    if image.alt_text:
        data["alt_text_custom"] = image.alt_text
    return data


def _photo_file(image: Media) -> dict[str, Any]:
    return {"source": (image.filename, image.data, image.mime_type)}


def _id_of(answer: dict[str, Any]) -> str:
    value = answer.get("id")
    if not value:
        raise Transient(f"{NETWORK}: Graph answer without an id", network=NETWORK)
    return str(value)


def _post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"


def _published(graph: GraphClient, post_id: str) -> Published:
    """The post is out: a failed look-up of its permalink must not turn that into an error."""
    try:
        post = graph.read(post_id, fields="permalink_url,created_time")
    except NetworkError as exc:
        logger.warning("facebook: permalink of %s not read (%s)", post_id, exc.code)
        return Published(external_id=post_id, permalink=_post_url(post_id), published_at=utcnow())
    return Published(
        external_id=post_id,
        permalink=post.get("permalink_url") or _post_url(post_id),
        published_at=parse_time(post.get("created_time")) or utcnow(),
    )


def _comments_only(item: ItemRef, action: str) -> None:
    if item.kind not in (ItemKind.COMMENT, ItemKind.REPLY):
        raise NotSupported(f"{NETWORK}: cannot {action} a {item.kind}", network=NETWORK)


def _entry(comment: dict[str, Any], post: dict[str, Any], created: dt.datetime) -> InboxEntry:
    parent = (comment.get("parent") or {}).get("id")
    author = comment.get("from") or {}
    comment_id = str(comment["id"])
    return InboxEntry(
        kind=ItemKind.REPLY if parent else ItemKind.COMMENT,
        external_id=comment_id,
        author=Author(
            external_id=str(author.get("id") or ""),
            display_name=str(author.get("name") or ""),
        ),
        text=str(comment.get("message") or ""),
        created_at=created,
        post_external_id=str(post["id"]),
        parent_id=str(parent) if parent else None,
        root_id=str(parent) if parent else comment_id,
        permalink=str(comment.get("permalink_url") or post.get("permalink_url") or ""),
        language=None,  # Graph gives no language for comments
        raw=comment,
    )


def _first_value(metric: dict[str, Any]) -> Any:
    # "When using since and until, the since date data will be included in the first value"
    values = metric.get("values") or []
    return values[0].get("value") if values else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _post_metrics(post_id: str, post: dict[str, Any]) -> PostMetrics:
    insights = {
        m.get("name"): _first_value(m) for m in (post.get("insights") or {}).get("data", [])
    }
    clicks = insights.get("post_clicks_by_type")
    reactions = ((post.get("reactions") or {}).get("summary") or {}).get("total_count")
    comments = ((post.get("comments") or {}).get("summary") or {}).get("total_count")
    return PostMetrics(
        external_id=post_id,
        impressions=_int(insights.get("post_media_view")),
        reach=_int(insights.get("post_total_media_view_unique")),
        reactions=_int(reactions),
        comments=_int(comments),
        # Graph leaves `shares` out of a post nobody shared: that is a zero, not a gap.
        shares=_int((post.get("shares") or {}).get("count", 0)),
        saves=None,
        link_clicks=_int(clicks.get("link clicks", 0)) if isinstance(clicks, dict) else None,
        video_views=None,
    )
