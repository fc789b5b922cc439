"""X (API v2): tweepy's ``Client`` for posts, replies, timelines and search; our own
``requests`` calls for what tweepy does not cover (the v2 media upload, OAuth 2.0 tokens).

Accounts connect with OAuth 2.0 Authorization Code + PKCE; ``credentials`` hold
``access_token`` (2 hours), ``refresh_token`` (rotated at every refresh), ``expires_at``
(ISO 8601, UTC) and ``scope``. ``Account.external_id`` is the X user id.

The inbox merges two streams, each polled with ``since_id`` as X's "polling" guide
describes (keep ``since_id`` while paging, then move it to the first page's
``newest_id``):

* mentions (``GET /2/users/:id/mentions``) -> ``MENTION``;
* replies in the conversations of our recent posts (``GET /2/tweets/search/recent``
  with ``conversation_id:`` queries) -> ``COMMENT`` (answers our post) or ``REPLY``
  (deeper in the thread). A reply that also mentions us comes through this stream only.

The cursor is compact JSON (opaque to callers); see ``_Cursor``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import html
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import requests
import tweepy

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
from networks.base import Media as MediaFile
from networks.connect import AuthorizationStart, ConnectableAccount, Connector, pkce_pair

logger = logging.getLogger(__name__)

NETWORK = "x"
# tweepy 4.x calls https://api.twitter.com (still served by X); our own calls use the host
# of the current API reference.
API = "https://api.x.com"
AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
TOKEN_URL = f"{API}/2/oauth2/token"
WEB = "https://x.com"
SCOPES = (
    "tweet.read",
    "tweet.write",
    "users.read",
    "offline.access",
    "tweet.moderate.write",
    "media.write",
)
# Access tokens live 2 hours; refresh when less than this is left.
REFRESH_WITHIN = dt.timedelta(minutes=10)

PAGE_SIZE = 100  # max_results ceiling of the timelines and recent search
QUERY_MAX = 512  # recent search query length outside Enterprise access
RECENT_SEARCH_WINDOW = dt.timedelta(days=7)
# Conversations searched for replies: our original posts of the last 8 days. Mentions in
# the conversations of the last 7 days are left to that stream (one day of overlap, so a
# post never leaves both streams at once).
CONVERSATION_DAYS = 8
MENTION_SKIP_DAYS = 7
# The recent search index trails real time by a few seconds; X's own default end_time is
# "now - 30 s", and an end_time closer than 10 s to the request is refused.
SEARCH_LAG = dt.timedelta(seconds=30)

CHUNK_BYTES = 4 * 1024 * 1024
PROCESSING_MAX_WAIT = 600.0  # seconds of video/GIF processing we wait for before giving up

TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "edit_history_tweet_ids",
    "in_reply_to_user_id",
    "lang",
    "note_tweet",
    "referenced_tweets",
]
USER_FIELDS = ["name", "profile_image_url", "username"]
EXPANSIONS = ["author_id"]

_TWITTER_EPOCH_MS = 1288834974657


# --- limits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _XLimits(Limits):
    """X's limits, plus its one rule the shared checks cannot express: an animated GIF
    goes alone ("up to 4 photos, 1 animated GIF or 1 video in a Post")."""

    def problems(self, content: PostContent) -> list[str]:
        issues = super().problems(content)
        if any(m.mime_type == "image/gif" for m in content.media) and len(content.media) > 1:
            issues.append("Sur X, un GIF animé doit être seul dans la publication.")
        return issues


LIMITS = _XLimits(
    # twitter-text config v3: maxWeightedTweetLength 280, transformedURLLength 23, weights
    # 100/200 per range (see networks/base.py) -- docs.x.com "Counting characters".
    max_chars=280,
    url_length=23,
    weighted=True,
    # docs.x.com media best practices: "up to 4 photos, 1 animated GIF or 1 video".
    max_images=4,
    max_videos=1,
    mix_images_and_videos=False,
    # Same page: JPG, PNG, GIF, WEBP images <= 5 MB (animated GIF <= 15 MB, but the shared
    # image cap applies to every image here); video MP4/MOV (initialize's media_type enum).
    image_formats=("image/jpeg", "image/png", "image/webp", "image/gif"),
    video_formats=("video/mp4", "video/quicktime"),
    max_image_bytes=5_000_000,
    # X takes up to 8 GB on a post today; 512 MB is the long-standing documented cap and
    # what we hold in memory (Media.data) at most.
    max_video_bytes=512_000_000,
    # POST /2/media/metadata: alt_text.text "must be <= 1000 chars".
    alt_text=True,
    alt_text_max=1000,
    threads=True,
    link_preview=True,
)


# --- keeping tokens out of logs and giving tweepy our timeouts ----------------------------------

_SECRET_RE = re.compile(r"((?:Bearer|Basic)\s+)[^\s'\",}]+")


class _RedactAuthorization(logging.Filter):
    """tweepy logs request headers (the bearer token) at DEBUG level: mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Bearer" in message or "Basic" in message:
            record.msg = _SECRET_RE.sub(r"\1[masqué]", message)
            record.args = ()
        return True


_tweepy_log = logging.getLogger("tweepy.client")
if not any(isinstance(f, _RedactAuthorization) for f in _tweepy_log.filters):
    _tweepy_log.addFilter(_RedactAuthorization())


class _Session(requests.Session):
    """A session with our timeouts: tweepy's ``Client`` passes none."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", (http.CONNECT_TIMEOUT_SECONDS, http.TIMEOUT_SECONDS))
        return super().request(method, url, *args, **kwargs)


# --- errors -----------------------------------------------------------------------------------

# What the communications team reads when X refuses an action without a more precise cause.
_REFUSED = {
    "publish": "X a refusé la publication.",
    "media": "X a refusé le fichier joint (format, taille ou durée non acceptés).",
    "reply": "X a refusé la réponse.",
    "hide": "X n'a pas permis de masquer ce message.",
    "unhide": "X n'a pas permis de réafficher ce message.",
    "delete": "X n'a pas permis de supprimer ce message.",
    "read": "X a refusé la lecture demandée.",
}


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(headers: Any) -> float | None:
    """``x-rate-limit-reset`` (epoch) as the API reference documents; when a 24-hour
    posting cap is exhausted (``x-user-limit-24hour-remaining: 0`` or the app's), X sends
    that window's reset too and the later one wins."""
    delays = [http.retry_after_seconds(headers)]
    now = time.time()
    for prefix in ("x-user-limit-24hour", "x-app-limit-24hour"):
        reset = str(headers.get(f"{prefix}-reset") or "")
        if str(headers.get(f"{prefix}-remaining")) == "0" and reset.isdigit():
            delays.append(max(0.0, float(reset) - now))
    known = [d for d in delays if d is not None]
    return max(known) if known else None


def _error(response: requests.Response, action: str) -> NetworkError:
    """One of the five errors for an X error response (RFC 7807 problem or ``errors``)."""
    status = response.status_code
    body = _body(response)
    problem_type = str(body.get("type") or "")
    detail = str(body.get("detail") or "")
    texts = [str(body.get("title") or ""), detail]
    for item in body.get("errors") or []:
        if isinstance(item, dict):
            texts.append(str(item.get("message") or item.get("detail") or ""))
    if isinstance(body.get("error_description"), str):  # OAuth token endpoint
        texts.append(body["error_description"])
    text = " ".join(t for t in texts if t)[:300]
    message = f"{NETWORK}: HTTP {status} {text}".strip()
    kw: dict[str, Any] = {"network": NETWORK}
    refused = _REFUSED.get(action, _REFUSED["read"])

    if status == 429:
        if problem_type.endswith("/usage-capped"):
            # The monthly cap of the app's plan: no reset time we could trust.
            return RateLimited(message, retry_after=None, code="429/usage-capped", **kw)
        return RateLimited(message, retry_after=_retry_after(response.headers), code="429", **kw)
    if status == 402:
        # Pay-per-use: the app's credits are used up. Like the monthly cap, it clears when
        # the operator tops up, at a time X cannot tell.
        return RateLimited(message, retry_after=None, code="402", **kw)
    if status == 401:
        return AuthExpired(message, code="401", **kw)
    if status == 403:
        lowered = text.lower()
        if "duplicate content" in lowered:
            return Rejected(
                "X refuse un message identique à un précédent.", message, code="403/duplicate", **kw
            )
        if "video longer than" in lowered:
            return Rejected(
                "La vidéo dépasse la durée que X autorise pour ce compte.",
                message,
                code="403/video-too-long",
                **kw,
            )
        if body.get("reason") == "client-not-enrolled" or problem_type.endswith(
            "/client-forbidden"
        ):
            # The Parvis app's project or access level: reconnecting would not help.
            return Rejected(
                "L'application X de Parvis n'a pas accès à cette fonction de l'API X ; "
                "prévenez l'administrateur de Parvis.",
                message,
                code=f"403/{body.get('reason') or 'client-forbidden'}",
                **kw,
            )
        if detail in ("", "Forbidden"):
            # A bare 403: the token lacks a scope this call needs (or the account is
            # restricted). Reconnecting grants the current scopes.
            return AuthExpired(message, code="403", **kw)
        return Rejected(refused, message, code="403", **kw)
    if status == 404:
        return Rejected("Ce message ou ce compte n'existe plus sur X.", message, code="404", **kw)
    if status in (400, 409, 413, 415, 422):
        code = "400/invalid-request" if problem_type.endswith("/invalid-request") else str(status)
        return Rejected(refused, message, code=code, **kw)
    return Transient(message, code=str(status), **kw)


@contextlib.contextmanager
def _guard(action: str) -> Iterator[None]:
    """Turn whatever tweepy or requests raise into one of the five errors. Messages carry
    X's own texts and the exception type, never a request (headers hold the token)."""
    try:
        yield
    except NetworkError:
        raise
    except tweepy.errors.HTTPException as exc:
        raise _error(exc.response, action) from None
    except requests.Timeout:
        raise Transient(f"{NETWORK}: timeout", network=NETWORK, code="timeout") from None
    except requests.RequestException as exc:
        raise Transient(
            f"{NETWORK}: connection failed ({type(exc).__name__})", network=NETWORK, code="network"
        ) from None
    except (tweepy.errors.TweepyException, ValueError, KeyError, TypeError) as exc:
        raise Transient(
            f"{NETWORK}: unexpected answer ({type(exc).__name__})",
            network=NETWORK,
            code="bad_response",
        ) from None


# --- small helpers ------------------------------------------------------------------------------


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def snowflake_time(tweet_id: str) -> dt.datetime:
    """When a post was created, read from its id (X ids embed a millisecond timestamp)."""
    ms = (int(tweet_id) >> 22) + _TWITTER_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _parse_time(value: Any, tweet_id: str) -> dt.datetime:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return _utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return snowflake_time(tweet_id)


def _newer(a: str | None, b: str | None) -> str | None:
    """The larger of two post ids (ids grow with time), None-tolerant."""
    if a is None or b is None:
        return a or b
    return a if int(a) >= int(b) else b


def permalink(username: str, tweet_id: str) -> str:
    if username:
        return f"{WEB}/{username.lstrip('@')}/status/{tweet_id}"
    return f"{WEB}/i/web/status/{tweet_id}"


def _text(tweet: dict[str, Any]) -> str:
    # The v2 text escapes &, < and >; long posts carry their full text in note_tweet.
    note = tweet.get("note_tweet")
    raw = note.get("text") if isinstance(note, dict) and note.get("text") else tweet.get("text")
    return html.unescape(str(raw or ""))


def _compose(content: PostContent) -> str:
    """The text as posted: the link goes at the end (X shows its card) unless already in."""
    if content.link and content.link not in content.text:
        return f"{content.text.rstrip()}\n\n{content.link}"
    return content.text


def _token(account: Account) -> str:
    token = account.credentials.get("access_token")
    if not token:
        raise AuthExpired(f"{NETWORK}: no access token stored", network=NETWORK, code="no_token")
    return str(token)


def _client(account: Account) -> tweepy.Client:
    client = tweepy.Client(bearer_token=_token(account), return_type=dict)
    client.session = _Session()
    client.user_agent = http.USER_AGENT
    return client


# --- the inbox cursor ---------------------------------------------------------------------------


@dataclass
class _Stream:
    """One ``since_id`` stream: ``since`` is where the current round starts, ``top`` the
    newest id seen in it, ``next`` the page token while a round pages back."""

    since: str | None = None
    top: str | None = None
    next: str | None = None

    def to_json(self) -> dict[str, Any]:
        fields = {"since": self.since, "top": self.top, "next": self.next}
        return {k: v for k, v in fields.items() if v}


@dataclass
class _Round(_Stream):
    """The replies stream also fixes, for one round, the conversations it searches (``ids``,
    searched batch by batch, ``batch`` the current one) and its ``until`` bound."""

    ids: list[str] = field(default_factory=list)
    batch: int = 0
    until: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.ids:
            data.update(ids=self.ids, batch=self.batch, until=self.until)
        return data


@dataclass
class _Cursor:
    mentions: _Stream
    replies: _Round

    @classmethod
    def load(cls, raw: str | None) -> _Cursor:
        if raw:
            try:
                data = json.loads(raw)
                return cls(_Stream(**data.get("m", {})), _Round(**data.get("r", {})))
            except (ValueError, TypeError, AttributeError):
                logger.warning("x: unreadable inbox cursor, starting again from the newest items")
        return cls(_Stream(), _Round())

    def dump(self) -> str | None:
        data = {"m": self.mentions.to_json(), "r": self.replies.to_json()}
        if not data["m"] and not data["r"]:
            return None
        return json.dumps({k: v for k, v in data.items() if v}, separators=(",", ":"))


def _batches(ids: list[str], our_id: str) -> list[str]:
    """Search queries (each within QUERY_MAX) covering the conversations of ``ids``,
    leaving out our own posts."""
    suffix = f") -from:{our_id}"
    queries: list[str] = []
    current: list[str] = []
    for post_id in ids:
        candidate = [*current, f"conversation_id:{post_id}"]
        if current and len("(" + " OR ".join(candidate) + suffix) > QUERY_MAX:
            queries.append("(" + " OR ".join(current) + suffix)
            candidate = [f"conversation_id:{post_id}"]
        current = candidate
    if current:
        queries.append("(" + " OR ".join(current) + suffix)
    return queries


# --- the adapter --------------------------------------------------------------------------------


class XAdapter(Adapter):
    network = NETWORK
    limits: ClassVar[Limits] = LIMITS
    # Replaced in tests: waiting for X to process a video.
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)

    # publishing --------------------------------------------------------------------------------

    def publish(self, account: Account, content: PostContent) -> Published:
        text = _compose(content)
        problems = self.limits.problems(replace(content, text=text))
        if problems:
            raise Rejected(" ".join(problems), network=NETWORK, code="limits")
        client = _client(account)
        media_ids = [self._upload(account, m) for m in content.media]
        with _guard("publish"):
            data = client.create_tweet(
                text=text or None, media_ids=media_ids or None, user_auth=False
            )
        return self._published(account, data["data"]["id"])

    def reply(self, account: Account, item: ItemRef, text: str) -> Published:
        if item.kind == ItemKind.MESSAGE:
            raise NotSupported(f"{NETWORK}: private messages are not handled", network=NETWORK)
        if not text.strip():
            raise Rejected("La réponse est vide.", network=NETWORK, code="empty")
        problems = self.limits.problems(PostContent(text=text, idempotency_key=""))
        if problems:
            raise Rejected(" ".join(problems), network=NETWORK, code="limits")
        client = _client(account)
        with _guard("reply"):
            data = client.create_tweet(
                text=text, in_reply_to_tweet_id=item.external_id, user_auth=False
            )
        return self._published(account, data["data"]["id"])

    def _published(self, account: Account, tweet_id: str) -> Published:
        return Published(
            external_id=str(tweet_id),
            permalink=permalink(account.handle, str(tweet_id)),
            published_at=snowflake_time(str(tweet_id)),
        )

    # media (POST /2/media/upload...: tweepy only has the retired v1.1 upload) -------------------

    def _media_call(
        self, account: Account, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {_token(account)}", "User-Agent": http.USER_AGENT}
        with _guard("media"), _Session() as session:
            response = session.request(method, API + path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise _error(response, "media")
        with _guard("media"):
            return response.json() if response.content else {}

    def _upload(self, account: Account, media: MediaFile) -> str:
        if media.kind == MediaKind.IMAGE and media.mime_type != "image/gif":
            # One request for images: POST /2/media/upload (multipart, raw bytes).
            answer = self._media_call(
                account,
                "POST",
                "/2/media/upload",
                data={"media_category": "tweet_image", "media_type": media.mime_type},
                files={"media": (media.filename, media.data, media.mime_type)},
            )
            media_id = str(answer["data"]["id"])
        else:
            media_id = self._upload_chunked(account, media)
        if media.alt_text and media.kind == MediaKind.IMAGE:
            self._media_call(
                account,
                "POST",
                "/2/media/metadata",
                json={"id": media_id, "metadata": {"alt_text": {"text": media.alt_text}}},
            )
        return media_id

    def _upload_chunked(self, account: Account, media: MediaFile) -> str:
        category = "tweet_gif" if media.mime_type == "image/gif" else "tweet_video"
        answer = self._media_call(
            account,
            "POST",
            "/2/media/upload/initialize",
            json={
                "media_type": media.mime_type,
                "total_bytes": len(media.data),
                "media_category": category,
            },
        )
        media_id = str(answer["data"]["id"])
        for index, start in enumerate(range(0, len(media.data), CHUNK_BYTES)):
            self._media_call(
                account,
                "POST",
                f"/2/media/upload/{media_id}/append",
                data={"segment_index": str(index)},
                files={
                    "media": ("chunk", media.data[start : start + CHUNK_BYTES], media.mime_type)
                },
            )
        answer = self._media_call(account, "POST", f"/2/media/upload/{media_id}/finalize")
        waited = 0.0
        info = answer.get("data", {}).get("processing_info")
        while info and info.get("state") in ("pending", "in_progress"):
            delay = float(info.get("check_after_secs") or 1)
            if waited + delay > PROCESSING_MAX_WAIT:
                raise Transient(
                    f"{NETWORK}: media {media_id} still processing after {waited:.0f} s",
                    network=NETWORK,
                    code="processing",
                )
            self.sleep(delay)
            waited += delay
            answer = self._media_call(
                account,
                "GET",
                "/2/media/upload",
                params={"command": "STATUS", "media_id": media_id},
            )
            info = answer.get("data", {}).get("processing_info")
        if info and info.get("state") == "failed":
            raise Rejected(
                _REFUSED["media"],
                f"{NETWORK}: media {media_id} processing failed",
                network=NETWORK,
                code="media/failed",
            )
        return media_id

    # the inbox ---------------------------------------------------------------------------------

    def fetch_inbox(self, account: Account, cursor: str | None) -> Page[InboxEntry]:
        state = _Cursor.load(cursor)
        client = _client(account)
        our_id = account.external_id
        now = _now()
        recent = self._recent_posts(client, our_id, now)
        replies, round_ids, until = self._replies_page(client, our_id, state.replies, recent, now)
        conversations = {pid for pid, _created in recent} | round_ids
        week = {
            pid for pid, created in recent if created >= now - dt.timedelta(days=MENTION_SKIP_DAYS)
        }

        def left_to_replies(tweet: dict[str, Any]) -> bool:
            """A mention inside one of our conversations that the replies stream returns:
            it searched (or is searching) that conversation up to ``until``, or will in its
            next round (posts of the last 7 days stay in the next round's 8)."""
            conversation = tweet.get("conversation_id")
            created = snowflake_time(str(tweet["id"]))
            if created <= until:
                return conversation in round_ids
            return conversation in week

        mentions = [
            _entry(tweet, users, our_id, conversations)
            for tweet, users in self._mentions_page(client, our_id, state.mentions)
            if tweet.get("author_id") != our_id and not left_to_replies(tweet)
        ]
        # One entry per post: an edited post comes under its first id, its latest
        # version kept when a page holds more than one.
        latest: dict[str, InboxEntry] = {}
        for entry in sorted(
            [*replies, *mentions],
            key=lambda e: (int(e.external_id), e.edited_at or e.created_at),
        ):
            latest[entry.external_id] = entry
        items = list(latest.values())
        has_more = bool(state.mentions.next or state.replies.ids)
        return Page(items=items, next_cursor=state.dump() or cursor, has_more=has_more)

    def _recent_posts(
        self, client: tweepy.Client, our_id: str, now: dt.datetime
    ) -> list[tuple[str, dt.datetime]]:
        """Our original posts (no replies, no reposts) of the last CONVERSATION_DAYS."""
        with _guard("read"):
            data = client.get_users_tweets(
                our_id,
                exclude=["replies", "retweets"],
                start_time=now - dt.timedelta(days=CONVERSATION_DAYS),
                max_results=PAGE_SIZE,
                tweet_fields=["created_at"],
                user_auth=False,
            )
        return [
            (str(t["id"]), _parse_time(t.get("created_at"), str(t["id"])))
            for t in data.get("data") or []
        ]

    def _mentions_page(
        self, client: tweepy.Client, our_id: str, stream: _Stream
    ) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        params: dict[str, Any] = {}
        if stream.since:
            params["since_id"] = stream.since
        if stream.next:
            params["pagination_token"] = stream.next
        with _guard("read"):
            data = client.get_users_mentions(
                our_id,
                max_results=PAGE_SIZE,
                expansions=EXPANSIONS,
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
                user_auth=False,
                **params,
            )
        _advance(stream, data.get("meta") or {})
        return _tweets(data)

    def _replies_page(
        self,
        client: tweepy.Client,
        our_id: str,
        stream: _Round,
        recent: list[tuple[str, dt.datetime]],
        now: dt.datetime,
    ) -> tuple[list[InboxEntry], set[str], dt.datetime]:
        """One page of the current replies round (a new round starts when none is open).
        Returns the entries, the round's conversations and its ``until`` bound."""
        if not stream.ids:
            stream.ids = sorted((pid for pid, _created in recent), key=int)
            stream.batch, stream.top, stream.next = 0, None, None
            stream.until = (now - SEARCH_LAG).isoformat()
        round_ids = set(stream.ids)
        until = _utc(dt.datetime.fromisoformat(str(stream.until)))
        queries = _batches(stream.ids, our_id)
        if not queries:
            stream.ids, stream.until = [], None
            return [], round_ids, until
        params = _since_params(stream, now)
        params["end_time"] = until
        with _guard("read"):
            data = client.search_recent_tweets(
                queries[stream.batch],
                max_results=PAGE_SIZE,
                expansions=EXPANSIONS,
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
                user_auth=False,
                **params,
            )
        meta = data.get("meta") or {}
        stream.top = _newer(stream.top, meta.get("newest_id"))
        if meta.get("next_token") and stream.since:
            stream.next = meta["next_token"]
        else:
            stream.next = None
            stream.batch += 1
            if stream.batch >= len(queries):
                stream.since = _newer(stream.since, stream.top)
                stream.top, stream.ids, stream.batch, stream.until = None, [], 0, None
        conversations = round_ids | {pid for pid, _created in recent}
        entries = [
            _entry(tweet, users, our_id, conversations)
            for tweet, users in _tweets(data)
            if tweet.get("author_id") != our_id
        ]
        return entries, round_ids, until

    # moderation --------------------------------------------------------------------------------

    def hide(self, account: Account, item: ItemRef) -> None:
        self._set_hidden(account, item, hidden=True)

    def unhide(self, account: Account, item: ItemRef) -> None:
        self._set_hidden(account, item, hidden=False)

    def _set_hidden(self, account: Account, item: ItemRef, *, hidden: bool) -> None:
        action = "hide" if hidden else "unhide"
        if item.kind not in (ItemKind.COMMENT, ItemKind.REPLY):
            raise Rejected(
                "X ne permet de masquer que les réponses aux publications du compte.",
                network=NETWORK,
                code="not_in_conversation",
            )
        client = _client(account)
        with _guard(action):
            if hidden:
                client.hide_reply(item.external_id, user_auth=False)
            else:
                client.unhide_reply(item.external_id, user_auth=False)

    def delete(self, account: Account, item: ItemRef) -> None:
        """Only the account's own posts (our replies): X deletes nobody else's."""
        if item.author_id and item.author_id != account.external_id:
            raise Rejected(
                "X ne permet de supprimer que les messages publiés par le compte.",
                network=NETWORK,
                code="not_ours",
            )
        client = _client(account)
        try:
            with _guard("delete"):
                data = client.delete_tweet(item.external_id, user_auth=False)
        except Rejected as exc:
            if exc.code == "404":
                return  # already gone: what we wanted
            raise
        if not (data.get("data") or {}).get("deleted", False):
            raise Rejected(
                _REFUSED["delete"], f"{NETWORK}: deleted=false", network=NETWORK, code="not_deleted"
            )

    # metrics -----------------------------------------------------------------------------------

    def fetch_account_metrics(self, account: Account, day: dt.date) -> AccountMetrics:
        """X gives the follower count as of now, whatever ``day``; nothing else per account."""
        client = _client(account)
        with _guard("read"):
            data = client.get_me(user_fields=["public_metrics"], user_auth=False)
        metrics = (data.get("data") or {}).get("public_metrics") or {}
        followers = metrics.get("followers_count")
        return AccountMetrics(day=day, followers=int(followers) if followers is not None else None)

    def fetch_post_metrics(self, account: Account, external_ids: list[str]) -> list[PostMetrics]:
        client = _client(account)
        results: list[PostMetrics] = []
        for start in range(0, len(external_ids), PAGE_SIZE):
            with _guard("read"):
                data = client.get_tweets(
                    external_ids[start : start + PAGE_SIZE],
                    tweet_fields=["public_metrics", "attachments"],
                    expansions=["attachments.media_keys"],
                    media_fields=["public_metrics", "type"],
                    user_auth=False,
                )
            media = {m.get("media_key"): m for m in (data.get("includes") or {}).get("media", [])}
            # Deleted posts are absent from data (listed in errors): no metrics for them.
            results.extend(_post_metrics(t, media) for t in data.get("data") or [])
        return results

    def gone(self, account: Account, external_ids: list[str]) -> set[str]:
        """Posts lookup (the first ``PAGE_SIZE``): a deleted post comes back in ``errors`` as
        a resource not found (one we may not see, a protected account's, is not taken for
        removed)."""
        if not external_ids:
            return set()
        with _guard("read"):
            data = _client(account).get_tweets(external_ids[:PAGE_SIZE], user_auth=False)
        return {
            str(error.get("resource_id") or error.get("value"))
            for error in data.get("errors") or []
            if str(error.get("type", "")).endswith("/resource-not-found")
        } & set(external_ids)

    # search and reconciliation -----------------------------------------------------------------

    def search(self, account: Account, query: str, cursor: str | None) -> Page[InboxEntry]:
        """Recent search (7 days). Results are MENTION entries; the cursor keeps the query
        and restarts from the newest results when the query changes."""
        state: dict[str, Any] = {}
        if cursor:
            with contextlib.suppress(ValueError, TypeError):
                state = json.loads(cursor)
        if not isinstance(state, dict) or state.get("q") != query:
            state = {}
        stream = _Stream(since=state.get("since"), top=state.get("top"), next=state.get("next"))
        params = _since_params(stream, _now())
        client = _client(account)
        with _guard("read"):
            data = client.search_recent_tweets(
                query,
                max_results=PAGE_SIZE,
                expansions=EXPANSIONS,
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
                user_auth=False,
                **params,
            )
        _advance(stream, data.get("meta") or {})
        items = [
            _entry(tweet, users, account.external_id, set(), kind=ItemKind.MENTION)
            for tweet, users in _tweets(data)
            if tweet.get("author_id") != account.external_id
        ]
        items.sort(key=lambda e: int(e.external_id))
        saved = {"q": query, **stream.to_json()}
        next_cursor = json.dumps(saved, separators=(",", ":")) if len(saved) > 1 else cursor
        return Page(items=items, next_cursor=next_cursor, has_more=bool(stream.next))

    def find_published(
        self, account: Account, content: PostContent, since: dt.datetime
    ) -> Published | None:
        """Our posts since ``since`` (one page, newest 100) compared by text: X keeps no
        idempotency key."""
        client = _client(account)
        with _guard("read"):
            data = client.get_users_tweets(
                account.external_id,
                exclude=["retweets"],
                start_time=_utc(since),
                max_results=PAGE_SIZE,
                tweet_fields=["created_at", "note_tweet"],
                user_auth=False,
            )
        expected = _compose(content)
        for tweet in reversed(data.get("data") or []):  # oldest first
            if same_text(_text(tweet), expected):
                tweet_id = str(tweet["id"])
                return Published(
                    external_id=tweet_id,
                    permalink=permalink(account.handle, tweet_id),
                    published_at=_parse_time(tweet.get("created_at"), tweet_id),
                )
        return None

    # tokens ------------------------------------------------------------------------------------

    def refresh_credentials(self, account: Account) -> bool:
        expires_at = _expiry(account.credentials.get("expires_at"))
        if expires_at is not None and expires_at - _now() > REFRESH_WITHIN:
            return False
        refresh_token = account.credentials.get("refresh_token")
        if not refresh_token:
            if expires_at is not None and expires_at <= _now():
                raise AuthExpired(
                    f"{NETWORK}: access token expired and no refresh token",
                    network=NETWORK,
                    code="no_refresh_token",
                )
            return False
        tokens = _token_request(
            {"grant_type": "refresh_token", "refresh_token": str(refresh_token)}, refreshing=True
        )
        account.update_credentials(**_credentials(tokens, previous=account.credentials))
        return True


def _advance(stream: _Stream, meta: dict[str, Any]) -> None:
    """Move a since_id stream after one page (X's polling pattern): keep ``since`` while
    paging back, then jump to the newest id of the round's first page. A first call
    (no ``since`` yet) takes the newest page only: no backfill."""
    if not stream.next:
        stream.top = meta.get("newest_id") or None
    if meta.get("next_token") and stream.since:
        stream.next = meta["next_token"]
        return
    stream.since = _newer(stream.since, stream.top)
    stream.top = stream.next = None


def _since_params(stream: _Stream, now: dt.datetime) -> dict[str, Any]:
    """Recent search parameters to resume ``stream``. Recent search refuses a since_id
    older than its 7 days; everything it can still return is newer than that anyway."""
    params: dict[str, Any] = {}
    oldest = now - RECENT_SEARCH_WINDOW + dt.timedelta(minutes=10)
    if stream.since and snowflake_time(stream.since) > oldest:
        params["since_id"] = stream.since
    elif stream.since:
        params["start_time"] = oldest
    if stream.next:
        params["next_token"] = stream.next
    return params


def _tweets(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    users = {u["id"]: u for u in (data.get("includes") or {}).get("users", []) if "id" in u}
    return [(t, users) for t in data.get("data") or []]


def _entry(
    tweet: dict[str, Any],
    users: dict[str, dict[str, Any]],
    our_id: str,
    our_posts: set[str],
    *,
    kind: ItemKind | None = None,
) -> InboxEntry:
    tweet_id = str(tweet["id"])
    # An edit is a new post whose history starts with the first version's id: the item
    # keeps that id, so the edit updates what was collected instead of adding a message.
    history = [str(i) for i in tweet.get("edit_history_tweet_ids") or []]
    first_id = history[0] if history else tweet_id
    conversation = str(tweet.get("conversation_id") or tweet_id)
    parent = next(
        (
            str(r["id"])
            for r in tweet.get("referenced_tweets") or []
            if r.get("type") == "replied_to"
        ),
        None,
    )
    # A direct answer to one of our posts is a comment even when the post is older than the
    # conversations we search (X mentions us in it: it came through the mentions stream).
    on_our_post = conversation in our_posts or (
        parent == conversation and tweet.get("in_reply_to_user_id") == our_id
    )
    if kind is None:
        if on_our_post and parent is not None:
            kind = ItemKind.COMMENT if parent == conversation else ItemKind.REPLY
        else:
            kind = ItemKind.MENTION
    author_id = str(tweet.get("author_id") or "")
    user = users.get(author_id, {})
    username = str(user.get("username") or "")
    lang = tweet.get("lang")
    created_at = _parse_time(tweet.get("created_at"), tweet_id)
    return InboxEntry(
        kind=kind,
        external_id=first_id,
        author=Author(
            external_id=author_id,
            handle=f"@{username}" if username else "",
            display_name=str(user.get("name") or ""),
            avatar_url=str(user.get("profile_image_url") or ""),
        ),
        text=_text(tweet),
        created_at=created_at,
        post_external_id=conversation if kind in (ItemKind.COMMENT, ItemKind.REPLY) else None,
        parent_id=parent,
        root_id=conversation if conversation != tweet_id else None,
        permalink=permalink(username, tweet_id),
        language=lang if isinstance(lang, str) and lang not in ("", "und", "zxx") else None,
        raw=tweet,
        edited_at=created_at if len(history) > 1 else None,
    )


def _post_metrics(tweet: dict[str, Any], media: dict[str, dict[str, Any]]) -> PostMetrics:
    public = tweet.get("public_metrics") or {}

    def count(name: str) -> int | None:
        value = public.get(name)
        return int(value) if value is not None else None

    shares = [v for v in (count("retweet_count"), count("quote_count")) if v is not None]
    views = [
        int(m["public_metrics"]["view_count"])
        for key in (tweet.get("attachments") or {}).get("media_keys", [])
        if (m := media.get(key))
        and m.get("type") == "video"
        and (m.get("public_metrics") or {}).get("view_count") is not None
    ]
    return PostMetrics(
        external_id=str(tweet["id"]),
        impressions=count("impression_count"),
        reactions=count("like_count"),
        comments=count("reply_count"),
        shares=sum(shares) if shares else None,
        saves=count("bookmark_count"),
        video_views=sum(views) if views else None,
    )


# --- OAuth 2.0 ----------------------------------------------------------------------------------


def _expiry(value: Any) -> dt.datetime | None:
    if isinstance(value, str) and value:
        with contextlib.suppress(ValueError):
            return _utc(dt.datetime.fromisoformat(value))
    return None


def _credentials(tokens: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    expires_in = tokens.get("expires_in")
    expires_at = _now() + dt.timedelta(seconds=int(expires_in)) if expires_in else None
    return {
        "access_token": tokens["access_token"],
        # X rotates refresh tokens; keep the old one only if none came back.
        "refresh_token": tokens.get("refresh_token") or (previous or {}).get("refresh_token"),
        "expires_at": expires_at.isoformat() if expires_at else None,
        "scope": tokens.get("scope") or (previous or {}).get("scope", ""),
    }


def _not_configured() -> Rejected:
    return Rejected(
        "X n'est pas configuré sur cette instance de Parvis (X_CLIENT_ID, X_CLIENT_SECRET).",
        network=NETWORK,
        code="not_configured",
    )


def _token_request(form: dict[str, str], *, refreshing: bool) -> dict[str, Any]:
    """POST /2/oauth2/token as a confidential client (Basic client_id:client_secret)."""
    app = XConnector().app_settings()
    if not app.get("client_id") or not app.get("client_secret"):
        raise _not_configured()
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    with _guard("read"), _Session() as session:
        response = session.post(
            TOKEN_URL,
            data=form,
            headers={"Authorization": f"Basic {basic}", "User-Agent": http.USER_AGENT},
        )
    if response.status_code in (400, 401) and refreshing:
        # invalid_request / invalid_grant: the refresh token was revoked or already used.
        error = str(_body(response).get("error") or response.status_code)
        raise AuthExpired(
            f"{NETWORK}: token refresh refused ({error})", network=NETWORK, code=error
        )
    if response.status_code in (400, 401):
        error = str(_body(response).get("error") or response.status_code)
        raise Rejected(
            "X a refusé la connexion (code expiré ou application mal configurée) ; "
            "recommencez la connexion.",
            f"{NETWORK}: code exchange refused ({error})",
            network=NETWORK,
            code=error,
        )
    if response.status_code >= 400:
        raise _error(response, "read")
    with _guard("read"):
        tokens = response.json()
        if not tokens.get("access_token"):
            raise ValueError("no access_token")
    return dict(tokens)


class XConnector(Connector):
    network = NETWORK
    required_app_settings = ("client_id", "client_secret")
    env_names = ("X_CLIENT_ID", "X_CLIENT_SECRET")

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> AuthorizationStart:
        client_id = self.app_settings().get("client_id")
        if not client_id:
            raise _not_configured()
        verifier, challenge = pkce_pair()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(SCOPES),
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            quote_via=quote,  # X wants %20 between scopes, not "+"
        )
        return AuthorizationStart(
            url=f"{AUTHORIZE_URL}?{query}", flow_data={"code_verifier": verifier}
        )

    def finish(
        self, *, redirect_uri: str, query: dict[str, str], flow_data: dict[str, Any]
    ) -> list[ConnectableAccount]:
        code = query.get("code")
        verifier = flow_data.get("code_verifier")
        if not code or not verifier:
            raise Rejected(
                "X n'a pas renvoyé d'autorisation ; recommencez la connexion.",
                network=NETWORK,
                code="no_code",
            )
        tokens = _token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": str(verifier),
            },
            refreshing=False,
        )
        credentials = _credentials(tokens)
        client = tweepy.Client(bearer_token=credentials["access_token"], return_type=dict)
        client.session = _Session()
        client.user_agent = http.USER_AGENT
        with _guard("read"):
            me = client.get_me(user_fields=["name", "username"], user_auth=False)["data"]
        return [
            ConnectableAccount(
                external_id=str(me["id"]),
                handle=f"@{me['username']}",
                display_name=str(me.get("name") or me["username"]),
                credentials=credentials,
                settings={},
                token_expires_at=_expiry(credentials["expires_at"]),
            )
        ]
