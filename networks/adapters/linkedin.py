"""LinkedIn organisation pages, through LinkedIn's versioned REST API (Community
Management API product), with a small client of our own on httpx.

Not the ``linkedin-api`` package: it logs in as a member with a password. Here every call
carries the page administrator's OAuth token (3-legged flow, ``LinkedInConnector``).

References (LinkedIn Marketing API documentation, version pinned below):

- Posts API (``/rest/posts``), Images API, Videos API, MultiImage API, "little" text format;
- Comments API (``/rest/socialActions/{urn}/comments``);
- Organization Social Action Notifications (``/rest/organizationalEntityNotifications``);
- Organization Share Statistics, Follower Statistics, Page Statistics, ``networkSizes``;
- Organization Access Control (``/rest/organizationAcls``), Organization Lookup;
- Authorization Code Flow (3-legged OAuth), Programmatic Refresh Tokens;
- API concepts: Error Handling, Rate Limits, Versioning, Rest.li protocol 2.0.

Rest.li 2.0 query strings are built by hand: structural characters of ``List(...)`` and
``(start:..,end:..)`` stay as they are, URNs inside them are percent-encoded. httpx keeps a
query string it is given as a string untouched (``params=`` would re-encode them).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import httpx

from networks import http
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
    MediaKind,
    NetworkError,
    NotSupported,
    Page,
    PostContent,
    PostMetrics,
    Published,
    RateLimited,
    Rejected,
    Transient,
    same_text,
)
from networks.connect import AuthorizationStart, ConnectableAccount, Connector

logger = logging.getLogger(__name__)

NETWORK = "linkedin"
API_BASE = "https://api.linkedin.com"
OAUTH_BASE = "https://www.linkedin.com/oauth/v2"
WEB_BASE = "https://www.linkedin.com"

# One pinned Marketing API version (YYYYMM). Monthly versions are supported for at least a
# year after release (LinkedIn "Versioning" page); 202606 (June 2026) is published in the
# reference (view li-lms-2026-06), so it runs to mid-2027. Bump it deliberately, after
# reading the "Recent changes" page, never automatically; a sunset version answers HTTP 426.
LINKEDIN_VERSION = "202606"
RESTLI_PROTOCOL_VERSION = "2.0.0"

# Scopes asked at consent. w_organization_social: post and comment as the page;
# r_organization_social: read the page's posts and comments; rw_organization_admin: list
# the pages a member administers, page statistics, social action notifications.
# Overridable with PARVIS_NETWORK_APPS["linkedin"]["scopes"] (space-separated), e.g. when
# LinkedIn grants the app the newer *_feed variants listed in the latest Comments API page.
DEFAULT_SCOPES = ("r_organization_social", "w_organization_social", "rw_organization_admin")

REFRESH_MARGIN = dt.timedelta(days=7)  # refresh the access token when it expires within
ACCESS_TOKEN_TTL = dt.timedelta(days=60)  # documented default when expires_in is absent

PAGE_SIZE = 50  # Rest.li finders page with start/count
MAX_PAGES = 40  # bound on any one pagination loop (2,000 elements at PAGE_SIZE)
STATS_BATCH = 20  # post URNs per share statistics request
INBOX_BOOTSTRAP = dt.timedelta(days=7)  # how far back the first fetch_inbox looks
# Items dated up to this long before the watermark are looked at again (and deduplicated
# with the ids kept in the cursor): LinkedIn's lists are eventually consistent.
INBOX_OVERLAP = dt.timedelta(hours=1)
# Notifications are kept 60 days: after a long stop, look back at most this far.
INBOX_MAX_LOOKBACK = dt.timedelta(days=30)
INBOX_SEEN_MAX = 2000  # ids kept in the cursor, newest first
FIND_PUBLISHED_PAGES = 5  # posts read back by find_published: 5 pages, newest first

# "little" text format (Posts API commentary): reserved characters, escaped with a backslash
# to be read as plain text. "#" is kept as is where it starts a hashtag (a hashtag element).
LITTLE_RESERVED = frozenset("|{}@[]()<>#\\*_~")
_HASHTAG_START = re.compile(r"(?<![\w\\])#(?=[^\W\d_])")  # "#" then a letter
_HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\?#\|([^}]*)\}")
_MENTION_TEMPLATE = re.compile(r"@\[((?:\\.|[^\]\\])*)\]\(urn:li:[^)]*\)")
_UNESCAPE = re.compile(r"\\([|{}@\[\]()<>#\\*_~])")
_COMMENT_URN = re.compile(r"^urn:li:comment:\((?P<object>.+),(?P<id>[^,()]+)\)$")


def utcnow() -> dt.datetime:
    """The clock (tests replace it)."""
    return dt.datetime.now(dt.UTC)


# --- small helpers ---------------------------------------------------------------------------


def enc(value: str) -> str:
    """Percent-encode a URN (or any value) for a path segment or a Rest.li query value."""
    return quote(value, safe="")


def restli_list(values: Sequence[str]) -> str:
    return "List(" + ",".join(enc(v) for v in values) + ")"


def to_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(value: Any) -> dt.datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)


def time_range(start: dt.datetime, end: dt.datetime) -> str:
    return f"(timeRange:(start:{to_ms(start)},end:{to_ms(end)}),timeGranularityType:DAY)"


def organization_urn(account: Account) -> str:
    value = account.external_id.strip()
    if value.startswith("urn:li:organization:"):
        return value
    if value.isdigit():
        return f"urn:li:organization:{value}"
    raise AuthExpired(
        "linkedin: the account is not an organisation page; reconnect it",
        network=NETWORK,
        code="account",
    )


def post_permalink(urn: str) -> str:
    return f"{WEB_BASE}/feed/update/{urn}/"


def comment_permalink(post_urn: str | None, comment_urn: str) -> str:
    parsed = parse_comment_urn(comment_urn)
    target = post_urn or (parsed[0] if parsed else "")
    if not target:
        return ""
    return f"{post_permalink(target)}?commentUrn={enc(comment_urn)}"


def parse_comment_urn(urn: str) -> tuple[str, str] | None:
    """``urn:li:comment:(urn:li:activity:1,2)`` -> ("urn:li:activity:1", "2")."""
    match = _COMMENT_URN.match(urn)
    if not match:
        return None
    target = match.group("object")
    if not target.startswith("urn:"):
        target = f"urn:li:{target}"  # some payloads shorten it to "activity:1"
    return target, match.group("id")


def escape_little(text: str) -> str:
    """Commentary for the Posts API: every reserved character escaped, except the "#" that
    opens a hashtag (escaping it would turn every hashtag into plain text)."""
    keep = {m.start() for m in _HASHTAG_START.finditer(text)}
    out = []
    for index, char in enumerate(text):
        if char in LITTLE_RESERVED and index not in keep:
            out.append("\\")
        out.append(char)
    return "".join(out)


def unescape_little(text: str) -> str:
    """Back to what a person reads: hashtag templates, mentions and escapes resolved."""
    text = _HASHTAG_TEMPLATE.sub(lambda m: "#" + m.group(1), text)
    text = _MENTION_TEMPLATE.sub(lambda m: m.group(1), text)
    return _UNESCAPE.sub(lambda m: m.group(1), text)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _parse_iso(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- errors ----------------------------------------------------------------------------------

# French sentences for the communications team (Rejected.reason).
REASON_DUPLICATE = (
    "LinkedIn refuse cette publication : un contenu identique a déjà été publié "
    "récemment sur cette page."
)
REASON_TOO_LONG = "LinkedIn refuse ce texte : il est trop long."
REASON_NOT_FOUND = "Cet élément n'existe plus sur LinkedIn (il a peut-être été supprimé)."
REASON_MEDIA = "LinkedIn refuse ce fichier : format ou taille non acceptés."
REASON_GENERIC = "LinkedIn a refusé cette demande (contenu ou format non accepté)."


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _error_detail(body: Any) -> tuple[str, str]:
    """(detail code, message) from a LinkedIn error body: ``inputErrors[].code``, then
    ``code``, then ``serviceErrorCode`` -- or an OAuth ``error``."""
    if not isinstance(body, Mapping):
        return "", ""
    message = str(body.get("message") or body.get("error_description") or "")
    inputs = _dig(body, "errorDetails", "inputErrors")
    if isinstance(inputs, list):
        for item in inputs:
            if isinstance(item, Mapping) and item.get("code"):
                return str(item["code"]), message
    for key in ("code", "serviceErrorCode", "error"):
        if body.get(key) not in (None, ""):
            return str(body[key]), message
    return "", message


def error_for_response(
    response: httpx.Response, operation: str, secrets: Sequence[str] = ()
) -> NetworkError:
    """Map a failed LinkedIn answer onto the closed set (see docs/networks/linkedin.md)."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    detail, text = _error_detail(body)
    code = f"{status}/{detail}" if detail else str(status)
    message = _redact(f"{NETWORK}: {operation}: HTTP {code} {text}".strip(), secrets)
    kw: dict[str, Any] = {"network": NETWORK, "code": code}
    if status == 429:
        # LinkedIn's limits are daily (reset at midnight UTC) and it rarely says when to
        # come back: retry_after only when a header gives it.
        return RateLimited(message, retry_after=http.retry_after_seconds(response.headers), **kw)
    if status == 401:
        # 65600 invalid, 65601 revoked, 65602 expired token: all need a new consent.
        return AuthExpired(message, **kw)
    if status == 403:
        # ACCESS_DENIED / "Not enough permissions": a scope was not granted or withdrawn, or
        # the member is no longer an ADMINISTRATOR of the page. Both need a reconnection.
        return AuthExpired(message, **kw)
    if status in (400, 422):
        upper = (detail + " " + text).upper()
        if "DUPLICATE" in upper:
            return Rejected(REASON_DUPLICATE, message, **kw)
        if "LENGTH" in upper or "TOO_LONG" in upper:
            return Rejected(REASON_TOO_LONG, message, **kw)
        return Rejected(REASON_GENERIC, message, **kw)
    if status in (404, 410):
        return Rejected(REASON_NOT_FOUND, message, **kw)
    if status in (413, 415):
        return Rejected(REASON_MEDIA, message, **kw)
    # 409 (concurrent write), 426 (version sunset: bump LINKEDIN_VERSION), 5xx, anything else
    return Transient(message, **kw)


# --- the HTTP client -------------------------------------------------------------------------


class LinkedInApi:
    """Versioned REST calls with one member token. Use as a context manager."""

    def __init__(self, token: str) -> None:
        if not token:
            raise AuthExpired("linkedin: no access token stored", network=NETWORK, code="token")
        self._secrets = (token,)
        self._http = http.client(
            API_BASE,
            headers={
                "Authorization": f"Bearer {token}",
                "LinkedIn-Version": LINKEDIN_VERSION,
                "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
            },
        )

    def __enter__(self) -> LinkedInApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method, url, json=json_body, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise Transient(
                f"{NETWORK}: {operation}: timeout", network=NETWORK, code="timeout"
            ) from exc
        except httpx.HTTPError as exc:
            raise Transient(
                f"{NETWORK}: {operation}: {type(exc).__name__}", network=NETWORK, code="network"
            ) from exc
        logger.debug("linkedin %s %s -> %s", method, operation, response.status_code)
        if response.status_code >= 400:
            error = error_for_response(response, operation, self._secrets)
            logger.info("linkedin %s failed: %s", operation, error.code)
            raise error
        return response

    def get_json(self, url: str, *, operation: str) -> dict[str, Any]:
        return self.read_json(self.request("GET", url, operation=operation), operation)

    @staticmethod
    def read_json(response: httpx.Response, operation: str) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise Transient(
                f"{NETWORK}: {operation}: answer is not JSON", network=NETWORK, code="json"
            ) from exc
        if not isinstance(data, dict):
            raise Transient(
                f"{NETWORK}: {operation}: unexpected answer", network=NETWORK, code="json"
            )
        return data

    def post_json(self, url: str, body: Any, *, operation: str) -> httpx.Response:
        return self.request("POST", url, operation=operation, json_body=body)

    def paged(
        self, url: str, *, operation: str, page_size: int = PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Elements of a Rest.li collection, following ``start``/``count``."""
        start = 0
        for _ in range(MAX_PAGES):
            sep = "&" if "?" in url else "?"
            data = self.get_json(f"{url}{sep}start={start}&count={page_size}", operation=operation)
            elements = [e for e in data.get("elements") or [] if isinstance(e, dict)]
            yield from elements
            total = _int(_dig(data, "paging", "total"))
            start += len(elements)
            if len(elements) < page_size or (total is not None and start >= total):
                return

    def upload(self, upload_url: str, data: bytes, *, operation: str) -> httpx.Response:
        """PUT bytes to an upload URL LinkedIn gave us -- only ever to a LinkedIn host,
        since the request carries the member's token."""
        parts = urlsplit(upload_url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not (
            host == "linkedin.com" or host.endswith(".linkedin.com")
        ):
            raise Transient(
                f"{NETWORK}: {operation}: unexpected upload host",
                network=NETWORK,
                code="upload_url",
            )
        return self.request(
            "PUT",
            upload_url,
            operation=operation,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )


# --- the inbox cursor ------------------------------------------------------------------------


@dataclass
class InboxCursor:
    """Opaque to callers: a watermark (ms) and the ids already returned near it."""

    since_ms: int
    seen: dict[str, int] = field(default_factory=dict)  # external id -> created (ms)

    def encode(self) -> str:
        raw = json.dumps({"v": 1, "since": self.since_ms, "seen": self.seen}, sort_keys=True)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str | None) -> InboxCursor | None:
        if not cursor:
            return None
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            seen = {str(k): int(v) for k, v in dict(data.get("seen") or {}).items()}
            return cls(since_ms=int(data["since"]), seen=seen)
        except (ValueError, KeyError, TypeError, binascii.Error):
            logger.warning("linkedin: unreadable inbox cursor, starting again")
            return None


# --- the adapter -----------------------------------------------------------------------------


class LinkedInAdapter(Adapter):
    network: ClassVar[str] = NETWORK
    limits: ClassVar[Limits] = Limits(
        # Posts API / Share API: commentary up to 3,000 characters.
        max_chars=3000,
        # MultiImage API: a multi-image post holds 2 to 20 images (one image: content.media).
        max_images=20,
        # Posts API: content.media holds one video; Videos API: MP4, 75 KB to 500 MB
        # (3 s to 30 min) for organic posts.
        max_videos=1,
        # Posts API: content is one of media, multiImage, article... never two of them.
        mix_images_and_videos=False,
        # Images API: JPG, GIF (up to 250 frames) and PNG.
        image_formats=("image/jpeg", "image/png", "image/gif"),
        video_formats=("video/mp4",),
        # Images API: a limit in pixels (36,152,320), none in bytes.
        max_image_bytes=None,
        max_video_bytes=500_000_000,
        # Posts API: media.altText / multiImage.images[].altText, up to 4,086 characters.
        alt_text=True,
        alt_text_max=4086,
        # No thread of posts on LinkedIn.
        threads=False,
        # A link becomes an article card (content.article with source and title); LinkedIn
        # does not scrape the page through the API, so there is no image in the card.
        link_preview=True,
        links_clickable=True,
    )

    page_size: int = PAGE_SIZE

    # --- plumbing

    @contextmanager
    def _api(self, account: Account) -> Iterator[LinkedInApi]:
        with LinkedInApi(str(account.credentials.get("access_token") or "")) as api:
            yield api

    # --- publishing

    def publish(self, account: Account, content: PostContent) -> Published:
        problems = self.limits.problems(content)
        if problems:
            raise Rejected(" ".join(problems), network=NETWORK, code="limits")
        author = organization_urn(account)
        images = [m for m in content.media if m.kind == MediaKind.IMAGE]
        videos = [m for m in content.media if m.kind == MediaKind.VIDEO]
        text = content.text
        with self._api(account) as api:
            post_content: dict[str, Any] | None = None
            if videos:
                urn = self._upload_video(api, author, videos[0])
                post_content = {"media": {"id": urn}}
            elif len(images) == 1:
                post_content = {"media": self._image_entry(api, author, images[0])}
            elif images:
                entries = [self._image_entry(api, author, m) for m in images]
                post_content = {"multiImage": {"images": entries}}
            elif content.link:
                post_content = {
                    "article": {"source": content.link, "title": _article_title(content)}
                }
            if content.link and (images or videos) and content.link not in text:
                text = f"{text.rstrip()}\n\n{content.link}"
            body: dict[str, Any] = {
                "author": author,
                "commentary": escape_little(text),
                "visibility": "PUBLIC",
                "distribution": {
                    "feedDistribution": "MAIN_FEED",
                    "targetEntities": [],
                    "thirdPartyDistributionChannels": [],
                },
                "lifecycleState": "PUBLISHED",
                "isReshareDisabledByAuthor": False,
            }
            if post_content:
                body["content"] = post_content
            response = api.post_json("/rest/posts", body, operation="create post")
        urn = response.headers.get("x-restli-id", "").strip()
        if not urn:
            # Created (201) but no id: let the caller resolve it with find_published.
            raise Transient(
                f"{NETWORK}: create post: no x-restli-id in the answer",
                network=NETWORK,
                code="no_id",
            )
        logger.info("linkedin: published %s", urn)
        return Published(external_id=urn, permalink=post_permalink(urn), published_at=utcnow())

    def _image_entry(self, api: LinkedInApi, owner: str, media: Media) -> dict[str, Any]:
        response = api.post_json(
            "/rest/images?action=initializeUpload",
            {"initializeUploadRequest": {"owner": owner}},
            operation="initialize image upload",
        )
        value = LinkedInApi.read_json(response, "initialize image upload").get("value") or {}
        upload_url, urn = value.get("uploadUrl"), value.get("image")
        if not isinstance(upload_url, str) or not isinstance(urn, str):
            raise Transient(
                f"{NETWORK}: initialize image upload: no uploadUrl/image",
                network=NETWORK,
                code="upload",
            )
        api.upload(upload_url, media.data, operation="upload image")
        entry: dict[str, Any] = {"id": urn}
        if media.alt_text:
            entry["altText"] = media.alt_text
        return entry

    def _upload_video(self, api: LinkedInApi, owner: str, media: Media) -> str:
        response = api.post_json(
            "/rest/videos?action=initializeUpload",
            {
                "initializeUploadRequest": {
                    "owner": owner,
                    "fileSizeBytes": len(media.data),
                    "uploadCaptions": False,
                    "uploadThumbnail": False,
                }
            },
            operation="initialize video upload",
        )
        value = LinkedInApi.read_json(response, "initialize video upload").get("value") or {}
        urn = value.get("video")
        instructions = value.get("uploadInstructions") or []
        if not isinstance(urn, str) or not instructions:
            raise Transient(
                f"{NETWORK}: initialize video upload: no video/uploadInstructions",
                network=NETWORK,
                code="upload",
            )
        etags: list[str] = []
        for part in instructions:
            first, last = _int(part.get("firstByte")), _int(part.get("lastByte"))
            if first is None or last is None:
                raise Transient(
                    f"{NETWORK}: video upload: bad byte range", network=NETWORK, code="upload"
                )
            uploaded = api.upload(
                str(part.get("uploadUrl") or ""),
                media.data[first : last + 1],
                operation="upload video part",
            )
            etags.append(uploaded.headers.get("etag", ""))
        api.post_json(
            "/rest/videos?action=finalizeUpload",
            {
                "finalizeUploadRequest": {
                    "video": urn,
                    "uploadToken": str(value.get("uploadToken") or ""),
                    "uploadedPartIds": etags,
                }
            },
            operation="finalize video upload",
        )
        return urn

    # --- monitoring

    def fetch_inbox(self, account: Account, cursor: str | None) -> Page[InboxEntry]:
        org = organization_urn(account)
        now = utcnow()
        state = InboxCursor.decode(cursor) or InboxCursor(since_ms=to_ms(now - INBOX_BOOTSTRAP))
        overlap_ms = int(INBOX_OVERLAP.total_seconds() * 1000)
        window_ms = max(state.since_ms - overlap_ms, to_ms(now - INBOX_MAX_LOOKBACK))
        entries: list[InboxEntry] = []
        with self._api(account) as api:
            notifications = list(
                api.paged(
                    "/rest/organizationalEntityNotifications?q=criteria"
                    "&actions=List(COMMENT,SHARE_MENTION)"
                    f"&organizationalEntity={enc(org)}"
                    f"&timeRange=(start:{window_ms},end:{to_ms(now)})",
                    operation="notifications",
                    page_size=self.page_size,
                )
            )
            posts: list[str] = []
            for note in notifications:
                action = note.get("action")
                if action == "COMMENT":
                    post = _dig(note, "decoratedSourcePost", "entity") or note.get("sourcePost")
                    if isinstance(post, str) and post not in posts:
                        posts.append(post)
                elif action == "SHARE_MENTION":
                    mention = self._mention(api, note)
                    if mention is not None:
                        entries.append(mention)
            listed: dict[str, frozenset[str]] = {}
            for post in posts:
                comments, present = self._comments_of(api, post)
                entries.extend(comments)
                if present is not None:
                    listed[post] = present
        fresh: dict[str, InboxEntry] = {}
        for entry in entries:
            created = to_ms(entry.created_at)
            if entry.author.external_id == org or created < window_ms:
                continue  # our own answers, or already behind the watermark
            if entry.external_id in state.seen or entry.external_id in fresh:
                continue
            fresh[entry.external_id] = entry
        items = sorted(fresh.values(), key=lambda e: (e.created_at, e.external_id))
        # The watermark: the newest item returned, and at least "now - overlap" (what is
        # older than that is visible by now), so the next window stays short.
        since = max(
            [state.since_ms, to_ms(now) - overlap_ms, *(to_ms(e.created_at) for e in items)]
        )
        keep_from = since - overlap_ms
        seen = {k: v for k, v in state.seen.items() if v >= keep_from}
        seen.update({e.external_id: to_ms(e.created_at) for e in items})
        if len(seen) > INBOX_SEEN_MAX:
            seen = dict(sorted(seen.items(), key=lambda kv: kv[1])[-INBOX_SEEN_MAX:])
        next_cursor = InboxCursor(since_ms=since, seen=seen).encode()
        return Page(items=items, next_cursor=next_cursor, has_more=False, listed=listed)

    def _comments_of(
        self, api: LinkedInApi, post: str
    ) -> tuple[list[InboxEntry], frozenset[str] | None]:
        """Comments on one of our posts, and the replies under them (two levels); and the
        ids of all the comments present on the post, or ``None`` when a listing stopped at
        the bound on pages (then some may be missing only from what was read)."""
        entries: list[InboxEntry] = []
        bound = MAX_PAGES * self.page_size
        try:
            top = list(
                api.paged(
                    f"/rest/socialActions/{enc(post)}/comments",
                    operation="comments",
                    page_size=self.page_size,
                )
            )
        except Rejected as exc:
            if exc.code.startswith(("404", "410")):
                logger.info("linkedin: post %s is gone, its comments are skipped", post)
                return [], None
            raise
        complete = len(top) < bound
        present = {_comment_urn(comment) for comment in top}
        for comment in top:
            entry = _comment_entry(comment, post)
            if entry is None:
                continue
            entries.append(entry)
            summary = comment.get("commentsSummary") or {}
            replies = _int(summary.get("aggregatedTotalComments")) or _int(
                summary.get("totalFirstLevelComments")
            )
            if not replies:
                continue
            try:
                nested = list(
                    api.paged(
                        f"/rest/socialActions/{enc(entry.external_id)}/comments",
                        operation="replies",
                        page_size=self.page_size,
                    )
                )
            except Rejected as exc:
                if exc.code.startswith(("404", "410")):
                    continue  # the comment was deleted meanwhile, its replies with it
                raise
            complete = complete and len(nested) < bound
            present.update(_comment_urn(reply) for reply in nested)
            for reply in nested:
                reply_entry = _comment_entry(reply, post, parent=entry.external_id)
                if reply_entry is not None:
                    entries.append(reply_entry)
        return entries, frozenset(present - {""}) if complete else None

    def _mention(self, api: LinkedInApi, note: Mapping[str, Any]) -> InboxEntry | None:
        share = _dig(note, "decoratedGeneratedActivity", "share") or {}
        urn = share.get("entity") or note.get("generatedActivity") or note.get("sourcePost")
        if not isinstance(urn, str):
            return None
        author, text = share.get("owner"), share.get("text")
        created = from_ms(note.get("lastModifiedAt"))
        raw: dict[str, Any] = {"notification": dict(note)}
        if not isinstance(text, str) or not isinstance(author, str):
            try:
                post = api.get_json(f"/rest/posts/{enc(urn)}", operation="mentioning post")
            except (Rejected, AuthExpired):
                # A member's post we may not read (403), or deleted since (404): keep the
                # mention with what the notification says.
                post = {}
            raw["post"] = post
            author = author if isinstance(author, str) else post.get("author")
            text = text if isinstance(text, str) else post.get("commentary")
            created = created or from_ms(post.get("createdAt"))
        if created is None:
            return None
        return InboxEntry(
            kind=ItemKind.MENTION,
            external_id=urn,
            author=Author(external_id=str(author or "")),
            text=unescape_little(str(text or "")),
            created_at=created,
            post_external_id=None,
            permalink=post_permalink(urn),
            raw=raw,
        )

    def reply(self, account: Account, item: ItemRef, text: str) -> Published:
        org = organization_urn(account)
        if not text.strip():
            raise Rejected("La réponse est vide.", network=NETWORK, code="empty")
        if item.kind == ItemKind.MESSAGE:
            raise NotSupported(
                f"{NETWORK}: pages cannot read or send private messages through the API",
                network=NETWORK,
                code="messages",
            )
        body: dict[str, Any] = {"actor": org, "message": {"text": text}}
        if item.kind == ItemKind.MENTION:
            # Answer a mention with a comment on the post that mentions us.
            target = item.external_id
            body["object"] = target
            post = target
        else:
            # LinkedIn threads have two levels: a reply to a reply goes under its root.
            if item.kind == ItemKind.COMMENT:
                root = item.external_id
            else:
                root = item.root_id or item.parent_id or item.external_id
            parsed = parse_comment_urn(root)
            if parsed is None:
                raise Rejected(
                    REASON_NOT_FOUND, f"{NETWORK}: not a comment URN", network=NETWORK, code="urn"
                )
            target = root
            body["object"] = parsed[0]
            body["parentComment"] = root
            post = item.post_external_id or parsed[0]
        with self._api(account) as api:
            response = api.post_json(
                f"/rest/socialActions/{enc(target)}/comments", body, operation="reply"
            )
            data = LinkedInApi.read_json(response, "reply")
        urn = data.get("commentUrn") or data.get("$URN")
        if not isinstance(urn, str):
            comment_id = data.get("id") or response.headers.get("x-restli-id", "")
            urn = f"urn:li:comment:({body['object']},{comment_id})" if comment_id else ""
        if not urn:
            raise Transient(f"{NETWORK}: reply: no comment id", network=NETWORK, code="no_id")
        created = from_ms(_dig(data, "created", "time")) or utcnow()
        return Published(
            external_id=urn, permalink=comment_permalink(post, urn), published_at=created
        )

    def hide(self, account: Account, item: ItemRef) -> None:
        raise NotSupported(
            f"{NETWORK}: the Community Management API has no way to hide a comment "
            "(a page can only delete its own comments)",
            network=NETWORK,
            code="hide",
        )

    def unhide(self, account: Account, item: ItemRef) -> None:
        raise NotSupported(
            f"{NETWORK}: the Community Management API has no way to hide a comment",
            network=NETWORK,
            code="hide",
        )

    def delete(self, account: Account, item: ItemRef) -> None:
        org = organization_urn(account)
        if item.author_id and item.author_id != org:
            raise NotSupported(
                f"{NETWORK}: a page can delete the comments it wrote, not a member's",
                network=NETWORK,
                code="delete",
            )
        parsed = parse_comment_urn(item.external_id)
        if item.kind not in (ItemKind.COMMENT, ItemKind.REPLY) or parsed is None:
            raise NotSupported(
                f"{NETWORK}: only comments can be deleted here", network=NETWORK, code="delete"
            )
        target, comment_id = parsed
        if item.kind == ItemKind.REPLY and item.parent_id:
            target = item.parent_id  # a nested comment lives under its parent comment
        with self._api(account) as api:
            api.request(
                "DELETE",
                f"/rest/socialActions/{enc(target)}/comments/{enc(comment_id)}?actor={enc(org)}",
                operation="delete comment",
            )

    def search(self, account: Account, query: str, cursor: str | None) -> Page[InboxEntry]:
        raise NotSupported(
            f"{NETWORK}: LinkedIn offers no search of public posts to applications",
            network=NETWORK,
            code="search",
        )

    # --- reporting

    def fetch_account_metrics(self, account: Account, day: dt.date) -> AccountMetrics:
        org = organization_urn(account)
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        now = utcnow()
        with self._api(account) as api:
            shares = api.get_json(
                "/rest/organizationalEntityShareStatistics?q=organizationalEntity"
                f"&organizationalEntity={enc(org)}&timeIntervals={time_range(start, end)}",
                operation="share statistics",
            )
            pages = api.get_json(
                f"/rest/organizationPageStatistics?q=organization&organization={enc(org)}"
                f"&timeIntervals={time_range(start, end)}",
                operation="page statistics",
            )
            followers = self._followers_at(api, org, end, now)
        share_stats = _sum_stats(shares.get("elements") or [], "totalShareStatistics")
        views = [
            _int(_dig(e, "totalPageStatistics", "views", "allPageViews", "pageViews"))
            for e in pages.get("elements") or []
        ]
        known_views = [v for v in views if v is not None]
        return AccountMetrics(
            day=day,
            followers=followers,
            impressions=share_stats.get("impressionCount"),
            reach=share_stats.get("uniqueImpressionsCount"),
            profile_visits=sum(known_views) if known_views else None,
            # clickCount: clicks on the posts, the page name or logo (LinkedIn's only click
            # figure; it is broader than clicks on links).
            link_clicks=share_stats.get("clickCount"),
        )

    def _followers_at(
        self, api: LinkedInApi, org: str, end: dt.datetime, now: dt.datetime
    ) -> int | None:
        """Followers at the end of a day: today's total (networkSizes) less the gains
        since (follower statistics, kept for a rolling 12 months)."""
        if end < now - dt.timedelta(days=365):
            return None
        size = api.get_json(
            f"/rest/networkSizes/{enc(org)}?edgeType=COMPANY_FOLLOWED_BY_MEMBER",
            operation="followers",
        )
        total = _int(size.get("firstDegreeSize"))
        if total is None or end >= now:
            return total
        gains = api.get_json(
            "/rest/organizationalEntityFollowerStatistics?q=organizationalEntity"
            f"&organizationalEntity={enc(org)}&timeIntervals={time_range(end, now)}",
            operation="follower statistics",
        )
        since = 0
        for element in gains.get("elements") or []:
            for key in ("organicFollowerGain", "paidFollowerGain"):
                since += _int(_dig(element, "followerGains", key)) or 0
        return total - since

    def fetch_post_metrics(self, account: Account, external_ids: list[str]) -> list[PostMetrics]:
        org = organization_urn(account)
        found: dict[str, dict[str, int | None]] = {}
        shares = [i for i in external_ids if i.startswith("urn:li:share:")]
        ugc = [i for i in external_ids if i.startswith("urn:li:ugcPost:")]
        with self._api(account) as api:
            for kind, urns in (("shares", shares), ("ugcPosts", ugc)):
                for index in range(0, len(urns), STATS_BATCH):
                    batch = urns[index : index + STATS_BATCH]
                    data = api.get_json(
                        "/rest/organizationalEntityShareStatistics?q=organizationalEntity"
                        f"&organizationalEntity={enc(org)}&{kind}={restli_list(batch)}",
                        operation="post statistics",
                    )
                    for element in data.get("elements") or []:
                        urn = element.get("share") or element.get("ugcPost")
                        if isinstance(urn, str):
                            found[urn] = _sum_stats([element], "totalShareStatistics")
        results = []
        for external_id in external_ids:
            stats = found.get(external_id, {})
            results.append(
                PostMetrics(
                    external_id=external_id,
                    impressions=stats.get("impressionCount"),
                    reach=stats.get("uniqueImpressionsCount"),
                    reactions=stats.get("likeCount"),
                    comments=stats.get("commentCount"),
                    shares=stats.get("shareCount"),
                    saves=None,  # not provided
                    link_clicks=stats.get("clickCount"),
                    video_views=None,  # a separate Video Analytics API, not used here
                )
            )
        return results

    def find_published(
        self, account: Account, content: PostContent, since: dt.datetime
    ) -> Published | None:
        org = organization_urn(account)
        since_ms = to_ms(since)
        url = f"/rest/posts?author={enc(org)}&q=author&sortBy=LAST_MODIFIED"
        with self._api(account) as api:
            for count, post in enumerate(
                api.paged(url, operation="find published", page_size=self.page_size)
            ):
                if count >= FIND_PUBLISHED_PAGES * self.page_size:
                    break
                modified = _int(post.get("lastModifiedAt")) or _int(post.get("createdAt")) or 0
                if modified < since_ms:
                    break  # newest first: everything after this is older
                created = _int(post.get("createdAt")) or modified
                if created < since_ms:
                    continue
                if post.get("lifecycleState") not in ("PUBLISHED", "PUBLISH_REQUESTED"):
                    continue
                commentary = unescape_little(str(post.get("commentary") or ""))
                urn = post.get("id")
                if isinstance(urn, str) and same_text(commentary, content.text):
                    published = from_ms(post.get("publishedAt")) or from_ms(created)
                    return Published(
                        external_id=urn, permalink=post_permalink(urn), published_at=published
                    )
        return None

    # --- tokens

    def refresh_credentials(self, account: Account) -> bool:
        credentials = account.credentials
        expires = _parse_iso(credentials.get("token_expires_at"))
        now = utcnow()
        if expires is None or expires - now > REFRESH_MARGIN:
            return False
        refresh_token = str(credentials.get("refresh_token") or "")
        if not refresh_token:
            return False  # no refresh token (LinkedIn grants them to approved apps only)
        refresh_expires = _parse_iso(credentials.get("refresh_token_expires_at"))
        if refresh_expires is not None and refresh_expires <= now:
            raise AuthExpired(
                f"{NETWORK}: the refresh token has expired; the page must be reconnected",
                network=NETWORK,
                code="refresh_expired",
            )
        connector = LinkedInConnector()
        app = connector.app_settings()
        if connector.missing_settings():
            logger.warning("linkedin: cannot refresh a token, the app is not configured")
            return False
        data = token_request(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
            operation="refresh token",
            secrets=(refresh_token, app["client_secret"], str(credentials.get("access_token"))),
        )
        account.update_credentials(**_token_credentials(data, now, previous=credentials))
        logger.info("linkedin: access token refreshed for %s", account.external_id)
        return True


def _article_title(content: PostContent) -> str:
    for line in content.text.splitlines():
        cleaned = " ".join(_strip_urls(line).split())
        if cleaned:
            return cleaned[:200]
    return urlsplit(content.link or "").hostname or (content.link or "")


def _strip_urls(text: str) -> str:
    return re.sub(r"https?://\S+", "", text)


def _sum_stats(elements: Sequence[Any], key: str) -> dict[str, int | None]:
    """Add up the counts of statistics elements (one per day, or one per post). A count
    absent from every element stays None: not provided is not zero."""
    totals: dict[str, int | None] = {}
    for element in elements:
        stats = _dig(element, key)
        if not isinstance(stats, Mapping):
            continue
        for name, value in stats.items():
            number = _int(value)
            if number is None or isinstance(value, float):
                continue  # engagement is a rate, not a count
            totals[name] = (totals.get(name) or 0) + number
    return totals


def _comment_urn(comment: Mapping[str, Any]) -> str:
    urn = comment.get("commentUrn") or comment.get("$URN")
    return urn if isinstance(urn, str) else ""


def _comment_entry(
    comment: Mapping[str, Any], post: str, *, parent: str | None = None
) -> InboxEntry | None:
    urn = _comment_urn(comment)
    created = from_ms(_dig(comment, "created", "time"))
    if not urn or created is None:
        return None
    parent = comment.get("parentComment") or parent
    actor = comment.get("actor") or _dig(comment, "created", "actor") or ""
    return InboxEntry(
        kind=ItemKind.REPLY if parent else ItemKind.COMMENT,
        external_id=urn,
        author=Author(external_id=str(actor)),
        text=str(_dig(comment, "message", "text") or ""),
        created_at=created,
        post_external_id=post,
        parent_id=parent if isinstance(parent, str) else None,
        root_id=parent if isinstance(parent, str) else None,  # LinkedIn nests two levels
        permalink=comment_permalink(post, urn),
        language=None,  # LinkedIn gives no language for comments
        raw=dict(comment),
    )


# --- OAuth -----------------------------------------------------------------------------------


def token_request(
    form: Mapping[str, str], *, operation: str, secrets: Sequence[str]
) -> dict[str, Any]:
    """POST to LinkedIn's token endpoint (x-www-form-urlencoded)."""
    secrets = tuple(s for s in secrets if s)
    try:
        with http.client() as session:
            response = session.post(
                f"{OAUTH_BASE}/accessToken",
                content=urlencode(dict(form)).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
    except httpx.TimeoutException as exc:
        raise Transient(
            f"{NETWORK}: {operation}: timeout", network=NETWORK, code="timeout"
        ) from exc
    except httpx.HTTPError as exc:
        raise Transient(
            f"{NETWORK}: {operation}: {type(exc).__name__}", network=NETWORK, code="network"
        ) from exc
    if response.status_code in (400, 401):
        # invalid_grant (code or refresh token expired, revoked, already used) or
        # invalid_client: a new consent is needed.
        try:
            body = response.json()
        except ValueError:
            body = None
        detail, text = _error_detail(body)
        code = f"{response.status_code}/{detail}" if detail else str(response.status_code)
        message = _redact(f"{NETWORK}: {operation}: HTTP {code} {text}".strip(), secrets)
        raise AuthExpired(message, network=NETWORK, code=code)
    if response.status_code >= 400:
        raise error_for_response(response, operation, secrets)
    data = LinkedInApi.read_json(response, operation)
    if not isinstance(data.get("access_token"), str):
        raise Transient(f"{NETWORK}: {operation}: no access_token", network=NETWORK, code="json")
    return data


def _token_credentials(
    data: Mapping[str, Any], now: dt.datetime, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    previous = previous or {}
    expires_in = _int(data.get("expires_in"))
    ttl = dt.timedelta(seconds=expires_in) if expires_in else ACCESS_TOKEN_TTL
    values: dict[str, Any] = {
        "access_token": data["access_token"],
        "token_expires_at": _iso(now + ttl),
    }
    if isinstance(data.get("scope"), str):
        values["scope"] = data["scope"]
    if isinstance(data.get("refresh_token"), str):
        values["refresh_token"] = data["refresh_token"]
        refresh_in = _int(data.get("refresh_token_expires_in"))
        if refresh_in:
            # A refreshed access token does not extend the refresh token's life: LinkedIn
            # returns the remaining seconds, so this stays the original date.
            values["refresh_token_expires_at"] = _iso(now + dt.timedelta(seconds=refresh_in))
    elif previous.get("refresh_token"):
        values["refresh_token"] = previous["refresh_token"]
    return values


class LinkedInConnector(Connector):
    """3-legged OAuth for a page administrator, then one account per page administered.

    No PKCE: LinkedIn enables PKCE only for native apps (loopback redirect, on request to
    LinkedIn); a web app like Parvis uses the confidential client flow with its secret.
    ``state`` is checked by the caller.
    """

    network: ClassVar[str] = NETWORK
    required_app_settings: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")
    env_names: ClassVar[tuple[str, ...]] = ("LINKEDIN_CLIENT_ID", "LINKEDIN_CLIENT_SECRET")
    uses_oauth: ClassVar[bool] = True

    def scopes(self) -> tuple[str, ...]:
        configured = str(self.app_settings().get("scopes") or "").split()
        return tuple(configured) or DEFAULT_SCOPES

    def _require_configured(self) -> dict[str, str]:
        if self.missing_settings():
            raise Rejected(
                "LinkedIn n'est pas configuré sur ce serveur (identifiants d'application "
                "manquants) : contactez l'administrateur de Parvis.",
                f"{NETWORK}: missing {', '.join(self.env_names)}",
                network=NETWORK,
                code="not_configured",
            )
        return self.app_settings()

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> AuthorizationStart:
        app = self._require_configured()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": app["client_id"],
                "redirect_uri": redirect_uri,
                "state": state,
                "scope": " ".join(self.scopes()),
            },
            quote_via=quote,
        )
        return AuthorizationStart(
            url=f"{OAUTH_BASE}/authorization?{query}", flow_data={"redirect_uri": redirect_uri}
        )

    def finish(
        self, *, redirect_uri: str, query: dict[str, str], flow_data: dict[str, Any]
    ) -> list[ConnectableAccount]:
        app = self._require_configured()
        if query.get("error"):
            cancelled = query["error"] in ("user_cancelled_login", "user_cancelled_authorize")
            raise Rejected(
                "La connexion à LinkedIn a été annulée."
                if cancelled
                else "LinkedIn a refusé l'autorisation demandée.",
                f"{NETWORK}: authorization error {query['error']}",
                network=NETWORK,
                code=str(query["error"])[:60],
            )
        code = query.get("code") or ""
        if not code:
            raise Rejected(
                "LinkedIn n'a pas renvoyé d'autorisation : recommencez la connexion.",
                network=NETWORK,
                code="no_code",
            )
        now = utcnow()
        data = token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": flow_data.get("redirect_uri") or redirect_uri,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
            operation="exchange code",
            secrets=(code, app["client_secret"]),
        )
        credentials = _token_credentials(data, now)
        expires_at = _parse_iso(credentials["token_expires_at"])
        try:
            organizations, details = self._pages(credentials["access_token"])
        except AuthExpired as exc:
            raise Rejected(
                "LinkedIn ne donne pas accès aux pages de ce compte : l'application Parvis "
                "doit avoir le produit Community Management API et l'autorisation de gérer "
                "les pages (rw_organization_admin).",
                exc.message,
                network=NETWORK,
                code=exc.code,
            ) from exc
        if not organizations:
            raise Rejected(
                "Ce compte LinkedIn n'administre aucune page d'organisation : seul un "
                "administrateur de la page peut la connecter.",
                network=NETWORK,
                code="no_page",
            )
        accounts = []
        for urn in organizations:
            org_id = urn.rsplit(":", 1)[1]
            info = details.get(org_id) or {}
            name = str(info.get("localizedName") or f"Page LinkedIn {org_id}")
            vanity = str(info.get("vanityName") or "")
            accounts.append(
                ConnectableAccount(
                    external_id=urn,
                    handle=vanity or org_id,
                    display_name=name,
                    credentials=dict(credentials),
                    settings={
                        "organization_urn": urn,
                        "vanity_name": vanity,
                        "page_url": f"{WEB_BASE}/company/{vanity or org_id}/",
                    },
                    token_expires_at=expires_at,
                )
            )
        return accounts

    @staticmethod
    def _pages(token: str) -> tuple[list[str], dict[str, Any]]:
        """The organisations the member administers (ADMINISTRATOR, APPROVED), and their
        lookup details keyed by numeric id."""
        organizations: list[str] = []
        details: dict[str, Any] = {}
        with LinkedInApi(token) as api:
            for acl in api.paged(
                "/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED",
                operation="organization access",
                page_size=100,
            ):
                urn = acl.get("organization") or acl.get("organizationTarget")
                if (
                    acl.get("role") == "ADMINISTRATOR"
                    and acl.get("state") == "APPROVED"
                    and isinstance(urn, str)
                    and urn.startswith("urn:li:organization:")
                    and urn not in organizations
                ):
                    organizations.append(urn)
            ids = [urn.rsplit(":", 1)[1] for urn in organizations]
            for index in range(0, len(ids), 50):
                data = api.get_json(
                    f"/rest/organizations?ids=List({','.join(ids[index : index + 50])})",
                    operation="organizations",
                )
                details.update(data.get("results") or {})
        return organizations, details
