"""Instagram professional accounts through the Instagram API with Facebook Login (Graph API,
python-facebook-api), called with the Page access token of the Page the account is linked to.

References (official):
- publishing: https://developers.facebook.com/docs/instagram-platform/content-publishing and
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
- containers: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
- comments: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments,
  .../ig-comment and .../ig-comment/replies
- tags: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/tags
- insights: https://developers.facebook.com/docs/instagram-platform/api-reference/instagram-user/insights
  and https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights
- hashtags: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-hashtag-search
  and .../ig-hashtag/recent-media
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, ClassVar

from networks.adapters.meta import (
    GONE,
    GraphClient,
    InboxCursor,
    MetaConnector,
    check_content,
    container_error,
    epoch,
    parse_time,
    text_with_link,
    utcnow,
)
from networks.base import (
    Account,
    AccountMetrics,
    Adapter,
    AuthExpired,
    Author,
    InboxEntry,
    ItemKind,
    ItemRef,
    Limits,
    Media,
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

NETWORK = "instagram"

MEDIA_SCANNED = 25  # the account's most recent media whose comments each poll reads
COMMENT_PAGE_SIZE = 50
COMMENT_PAGES_PER_MEDIA = 4
REPLIES_PER_COMMENT = 50
TAGS_STREAM = "tags"
HASHTAG_STREAM = "hashtag"
_PERSON = "id,text,timestamp,username,from{id,username},hidden"
REPLY_FIELDS = f"{_PERSON},parent_id"
COMMENT_FIELDS = f"{_PERSON},replies.limit({REPLIES_PER_COMMENT}){{{REPLY_FIELDS}}}"
TAG_FIELDS = "id,caption,timestamp,username,permalink,media_type"
HASHTAG_MEDIA_FIELDS = "id,caption,media_type,permalink,timestamp"

# Current metrics only: impressions, plays and video_views are deprecated.
ACCOUNT_METRICS = ("reach", "views", "profile_views", "website_clicks")
MEDIA_METRICS = ("reach", "views", "likes", "comments", "shares", "saved")


class InstagramAdapter(Adapter):
    network: ClassVar[str] = NETWORK
    limits: ClassVar[Limits] = Limits(
        # IG User Media reference: caption of 2,200 characters at most (error 2207010).
        max_chars=2_200,
        # Carousels hold 2 to 10 media (error 2207028).
        max_images=10,
        # Reels are not implemented in this version (publish raises NotSupported).
        max_videos=0,
        # Content publishing image specifications: JPEG only, 8 MiB at most (error 2207004).
        image_formats=("image/jpeg",),
        max_image_bytes=8 * 1024 * 1024,
        # alt_text on image containers (added 2025-03-24); no documented maximum length.
        alt_text=True,
        link_preview=False,
        links_clickable=False,
    )

    # Containers are processed asynchronously: poll status_code, boundedly.
    container_poll_interval: float = 2.0
    container_max_polls: int = 15

    # --- publishing ---------------------------------------------------------------------------

    def publish(self, account: Account, content: PostContent) -> Published:
        check_content(self, content)
        images = list(content.media)
        if not images:
            raise Rejected(
                "Instagram exige au moins une image pour publier.", network=NETWORK, code="no_media"
            )
        unreachable = [m.filename for m in images if not m.public_url]
        if unreachable:
            raise Rejected(
                "Instagram télécharge les images depuis une adresse publique, et Parvis n'en a "
                f"pas pour : {', '.join(unreachable)}.",
                network=NETWORK,
                code="public_url",
            )
        graph = GraphClient.for_account(NETWORK, account.credentials)
        ig_id = account.external_id
        caption = text_with_link(content.text, content.link)
        if len(images) == 1:
            data = _image_data(images[0])
            data["caption"] = caption
            container = _id_of(graph.create(f"{ig_id}/media", data))
        else:
            children = []
            for image in images:
                data = _image_data(image)
                data["is_carousel_item"] = "true"
                children.append(_id_of(graph.create(f"{ig_id}/media", data)))
            container = _id_of(
                graph.create(
                    f"{ig_id}/media",
                    {"media_type": "CAROUSEL", "children": ",".join(children), "caption": caption},
                )
            )
        self._wait_until_ready(graph, container)
        media_id = _id_of(graph.create(f"{ig_id}/media_publish", {"creation_id": container}))
        return _published(graph, media_id)

    def _wait_until_ready(self, graph: GraphClient, container: str) -> None:
        for attempt in range(self.container_max_polls):
            state = graph.read(container, fields="status_code,status")
            status_code = state.get("status_code")
            if status_code == "FINISHED":
                return
            if status_code == "ERROR":
                raise container_error(str(state.get("status") or ""), network=NETWORK)
            if status_code not in (None, "IN_PROGRESS"):  # EXPIRED, PUBLISHED
                raise Transient(
                    f"{NETWORK}: container {container} is {status_code}",
                    network=NETWORK,
                    code=str(status_code),
                )
            if attempt + 1 < self.container_max_polls:
                time.sleep(self.container_poll_interval)
        raise Transient(
            f"{NETWORK}: container {container} still in progress after "
            f"{self.container_max_polls} checks",
            network=NETWORK,
            code="IN_PROGRESS",
        )

    def find_published(
        self, account: Account, content: PostContent, since: dt.datetime
    ) -> Published | None:
        graph = GraphClient.for_account(NETWORK, account.credentials)
        answer = graph.read(
            f"{account.external_id}/media",
            fields="id,caption,permalink,timestamp",
            since=epoch(since),
            limit=25,
        )
        for media in answer.get("data") or []:
            created = parse_time(media.get("timestamp"))
            if created is not None and created < since:
                continue
            if same_text(media.get("caption") or "", content.text):
                return Published(
                    external_id=str(media["id"]),
                    permalink=str(media.get("permalink") or ""),
                    published_at=created,
                )
        return None

    # --- inbox --------------------------------------------------------------------------------

    def fetch_inbox(self, account: Account, cursor: str | None) -> Page[InboxEntry]:
        graph = GraphClient.for_account(NETWORK, account.credentials)
        state = InboxCursor.decode(cursor)
        media_list = (
            graph.read(
                f"{account.external_id}/media",
                fields="id,permalink,timestamp",
                limit=MEDIA_SCANNED,
            ).get("data")
            or []
        )
        items: list[InboxEntry] = []
        listed: dict[str, frozenset[str]] = {}
        for media in media_list:
            try:
                self._read_comments(graph, account, media, state, items, listed)
            except Rejected as exc:
                logger.info(
                    "instagram: comments of %s not readable (%s)", media.get("id"), exc.code
                )
        self._read_tags(graph, account, state, items)
        state.keep_only([*(str(m["id"]) for m in media_list), TAGS_STREAM])
        items.sort(key=lambda entry: entry.created_at)
        return Page(items=items, next_cursor=state.encode(), listed=listed)

    def _read_comments(
        self,
        graph: GraphClient,
        account: Account,
        media: dict[str, Any],
        state: InboxCursor,
        items: list[InboxEntry],
        listed: dict[str, frozenset[str]],
    ) -> None:
        # The comments edge takes no `since` and documents no order: read a bounded number
        # of pages and keep what the cursor has not given yet (replies to old comments too).
        media_id = str(media["id"])
        params: dict[str, Any] = {"fields": COMMENT_FIELDS, "limit": COMMENT_PAGE_SIZE}
        found: list[tuple[dict[str, Any], str | None]] = []
        # the media's comments were all read (so one stored and not found was removed)
        # unless pages were left or a comment's replies had more behind them
        ended = replies_cut = False
        for _page in range(COMMENT_PAGES_PER_MEDIA):
            answer = graph.read(f"{media_id}/comments", **params)
            for comment in answer.get("data") or []:
                found.append((comment, None))
                replies = comment.get("replies") or {}
                for reply in replies.get("data") or []:
                    found.append((reply, str(comment["id"])))
                replies_cut = replies_cut or bool((replies.get("paging") or {}).get("next"))
            paging = answer.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                ended = True
                break
            params["after"] = after
        if ended and not replies_cut:
            listed[media_id] = frozenset(str(comment["id"]) for comment, _parent in found)
        for comment, parent in sorted(found, key=lambda pair: pair[0].get("timestamp") or ""):
            created = parse_time(comment.get("timestamp"))
            if created is None or not state.is_new(media_id, str(comment["id"]), created):
                continue
            state.see(media_id, str(comment["id"]), created)
            if _is_ours(comment, account):
                continue
            items.append(_comment_entry(comment, media, created, parent))

    def _read_tags(
        self, graph: GraphClient, account: Account, state: InboxCursor, items: list[InboxEntry]
    ) -> None:
        answer = graph.read(f"{account.external_id}/tags", fields=TAG_FIELDS, limit=50)
        for media in answer.get("data") or []:
            created = parse_time(media.get("timestamp"))
            if created is None or not state.is_new(TAGS_STREAM, str(media["id"]), created):
                continue
            state.see(TAGS_STREAM, str(media["id"]), created)
            items.append(_media_entry(media, created))

    # --- moderation ---------------------------------------------------------------------------

    def reply(self, account: Account, item: ItemRef, text: str) -> Published:
        _comments_only(item, "répondre")
        graph = GraphClient.for_account(NETWORK, account.credentials)
        # Only top-level comments take replies; a reply to a reply joins the top one anyway.
        target = item.root_id if item.kind == ItemKind.REPLY and item.root_id else item.external_id
        answer = graph.create(f"{target}/replies", {"message": text})
        return Published(external_id=_id_of(answer), permalink="", published_at=utcnow())

    def hide(self, account: Account, item: ItemRef) -> None:
        self._set_hidden(account, item, True)

    def unhide(self, account: Account, item: ItemRef) -> None:
        self._set_hidden(account, item, False)

    def _set_hidden(self, account: Account, item: ItemRef, hidden: bool) -> None:
        _comments_only(item, "masquer")
        graph = GraphClient.for_account(NETWORK, account.credentials)
        graph.check_success(graph.create(item.external_id, {"hide": "true" if hidden else "false"}))

    def delete(self, account: Account, item: ItemRef) -> None:
        _comments_only(item, "supprimer")
        graph = GraphClient.for_account(NETWORK, account.credentials)
        graph.check_success(graph.remove(item.external_id))

    # --- metrics ------------------------------------------------------------------------------

    def fetch_account_metrics(self, account: Account, day: dt.date) -> AccountMetrics:
        graph = GraphClient.for_account(NETWORK, account.credentials)
        answer = graph.read(
            f"{account.external_id}/insights",
            metric=",".join(ACCOUNT_METRICS),
            metric_type="total_value",
            period="day",
            since=epoch(day),
            until=epoch(day + dt.timedelta(days=1)),
        )
        values = {
            m.get("name"): (m.get("total_value") or {}).get("value")
            for m in answer.get("data") or []
        }
        # follower_count is a daily count of new followers, not the total: read the total.
        profile = graph.read(account.external_id, fields="followers_count")
        return AccountMetrics(
            day=day,
            followers=_int(profile.get("followers_count")),
            impressions=_int(values.get("views")),
            reach=_int(values.get("reach")),
            profile_visits=_int(values.get("profile_views")),
            link_clicks=_int(values.get("website_clicks")),
        )

    def fetch_post_metrics(self, account: Account, external_ids: list[str]) -> list[PostMetrics]:
        graph = GraphClient.for_account(NETWORK, account.credentials)
        results: list[PostMetrics] = []
        for media_id in external_ids:
            try:
                answer = graph.read(f"{media_id}/insights", metric=",".join(MEDIA_METRICS))
            except Rejected as exc:
                if exc.code == GONE:
                    continue  # deleted since it was published
                # e.g. too few viewers: this media has no figures, the others still do
                logger.info("instagram: no insights for %s (%s)", media_id, exc.code)
                results.append(PostMetrics(external_id=media_id))
                continue
            values = {m.get("name"): _first_value(m) for m in answer.get("data") or []}
            results.append(
                PostMetrics(
                    external_id=media_id,
                    impressions=_int(values.get("views")),
                    reach=_int(values.get("reach")),
                    reactions=_int(values.get("likes")),
                    comments=_int(values.get("comments")),
                    shares=_int(values.get("shares")),
                    saves=_int(values.get("saved")),
                    link_clicks=None,  # captions hold no clickable links
                    video_views=None,  # no video publishing; views are in impressions
                )
            )
        return results

    # --- search -------------------------------------------------------------------------------

    def search(self, account: Account, query: str, cursor: str | None) -> Page[InboxEntry]:
        """Recent media (last 24 hours) with one hashtag. Needs the Instagram Public Content
        Access feature; Meta allows 30 distinct hashtags per account per 7 days."""
        tag = query.strip().lstrip("#")
        if not tag or any(char.isspace() or char == "#" for char in tag):
            raise Rejected(
                "La recherche Instagram porte sur un seul mot-dièse, sans espace "
                "(par exemple #MaVille).",
                network=NETWORK,
                code="query",
            )
        graph = GraphClient.for_account(NETWORK, account.credentials)
        state = InboxCursor.decode(cursor)
        if state.extra.get("q") != tag.casefold():
            state = InboxCursor.decode(None)
            state.extra["q"] = tag.casefold()
        try:
            hashtag_id = state.extra.get("h")
            if not hashtag_id:
                found = graph.read("ig_hashtag_search", user_id=account.external_id, q=tag)
                if not found.get("data"):
                    return Page(items=[], next_cursor=state.encode())
                hashtag_id = str(found["data"][0]["id"])
                state.extra["h"] = hashtag_id
            answer = graph.read(
                f"{hashtag_id}/recent_media",
                user_id=account.external_id,
                fields=HASHTAG_MEDIA_FIELDS,
                limit=50,
            )
        except AuthExpired as exc:
            if exc.code.split("/")[0] in ("190", "102"):
                raise
            # a permission error here means the app lacks the hashtag feature, not a dead token
            raise NotSupported(
                f"{NETWORK}: hashtag search needs the Instagram Public Content Access feature",
                network=NETWORK,
                code=exc.code,
            ) from None
        items: list[InboxEntry] = []
        for media in answer.get("data") or []:
            created = parse_time(media.get("timestamp"))
            if created is None or not state.is_new(HASHTAG_STREAM, str(media["id"]), created):
                continue
            state.see(HASHTAG_STREAM, str(media["id"]), created)
            items.append(_media_entry(media, created))
        items.sort(key=lambda entry: entry.created_at)
        return Page(items=items, next_cursor=state.encode())


class InstagramConnector(MetaConnector):
    network: ClassVar[str] = NETWORK
    scopes: ClassVar[tuple[str, ...]] = (
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_comments",
        "instagram_manage_insights",
        "pages_show_list",
        "pages_read_engagement",
    )
    page_fields: ClassVar[str] = (
        "id,name,access_token,tasks,"
        "instagram_business_account{id,username,name,profile_picture_url}"
    )

    def accounts_from_pages(self, pages: list[dict[str, Any]]) -> list[ConnectableAccount]:
        accounts = []
        for page in pages:
            ig = page.get("instagram_business_account") or {}
            if not ig.get("id") or not page.get("access_token"):
                continue  # a Page without a linked professional account
            accounts.append(
                ConnectableAccount(
                    external_id=str(ig["id"]),
                    handle=str(ig.get("username") or ig["id"]),
                    display_name=str(ig.get("name") or ig.get("username") or ""),
                    credentials={"access_token": page["access_token"]},
                    settings={
                        "page_id": str(page["id"]),
                        "page_name": str(page.get("name") or ""),
                        "profile_picture_url": str(ig.get("profile_picture_url") or ""),
                    },
                    token_expires_at=None,  # the linked Page's token does not expire
                )
            )
        return accounts


# --- helpers ----------------------------------------------------------------------------------


def _image_data(image: Media) -> dict[str, Any]:
    data: dict[str, Any] = {"image_url": image.public_url}
    if image.alt_text:
        data["alt_text"] = image.alt_text
    return data


def _id_of(answer: dict[str, Any]) -> str:
    value = answer.get("id")
    if not value:
        raise Transient(f"{NETWORK}: Graph answer without an id", network=NETWORK)
    return str(value)


def _published(graph: GraphClient, media_id: str) -> Published:
    """The post is out: a failed look-up of its permalink must not turn that into an error."""
    try:
        media = graph.read(media_id, fields="permalink,timestamp")
    except NetworkError as exc:
        logger.warning("instagram: permalink of %s not read (%s)", media_id, exc.code)
        return Published(external_id=media_id, permalink="", published_at=utcnow())
    return Published(
        external_id=media_id,
        permalink=str(media.get("permalink") or ""),
        published_at=parse_time(media.get("timestamp")) or utcnow(),
    )


def _comments_only(item: ItemRef, action: str) -> None:
    if item.kind not in (ItemKind.COMMENT, ItemKind.REPLY):
        raise NotSupported(f"{NETWORK}: cannot {action} a {item.kind}", network=NETWORK)


def _is_ours(comment: dict[str, Any], account: Account) -> bool:
    author = comment.get("from") or {}
    if str(author.get("id") or "") == account.external_id:
        return True
    return bool(account.handle) and comment.get("username") == account.handle


def _comment_entry(
    comment: dict[str, Any], media: dict[str, Any], created: dt.datetime, parent: str | None
) -> InboxEntry:
    comment_id = str(comment["id"])
    parent = str(comment.get("parent_id") or parent or "") or None
    author = comment.get("from") or {}
    username = str(author.get("username") or comment.get("username") or "")
    return InboxEntry(
        kind=ItemKind.REPLY if parent else ItemKind.COMMENT,
        external_id=comment_id,
        author=Author(external_id=str(author.get("id") or ""), handle=username),
        text=str(comment.get("text") or ""),
        created_at=created,
        post_external_id=str(media["id"]),
        parent_id=parent,
        root_id=parent or comment_id,
        permalink=str(media.get("permalink") or ""),  # comments have no permalink of their own
        language=None,
        raw=comment,
    )


def _media_entry(media: dict[str, Any], created: dt.datetime) -> InboxEntry:
    """A media that tags us, or carries a searched hashtag: not on one of our posts."""
    return InboxEntry(
        kind=ItemKind.MENTION,
        external_id=str(media["id"]),
        # the tags edge gives the owner's username only; hashtag media not even that
        author=Author(external_id="", handle=str(media.get("username") or "")),
        text=str(media.get("caption") or ""),
        created_at=created,
        post_external_id=None,
        root_id=str(media["id"]),
        permalink=str(media.get("permalink") or ""),
        language=None,
        raw=media,
    )


def _first_value(metric: dict[str, Any]) -> Any:
    values = metric.get("values") or []
    return values[0].get("value") if values else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
