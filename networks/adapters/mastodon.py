"""Mastodon: any instance, through Mastodon.py.

Mastodon.py builds the requests (``Authorization: Bearer``, ``Idempotency-Key``, multipart
uploads) and raises on errors; ``ratelimit_method="throw"`` keeps it from sleeping on a 429
so we map every failure ourselves. We read the documented JSON of each response (caught by a
``requests`` hook) rather than Mastodon.py's typed objects, which turn string ids into
integers and dates into local time: what we parse is what docs.joinmastodon.org shows.

Notes that shape the code:

- Each instance has its own limits (``/api/v2/instance`` ``configuration``); the connector
  stores them in ``Account.settings`` and ``MastodonAdapter.limits_for`` applies them.
- Mastodon counts grapheme clusters, every URL as 23 characters, and a mention
  ``@user@domain`` as ``@user`` (our count is therefore never lower than the server's).
- Tokens do not expire unless revoked: nothing to refresh.
- The app registers itself on each instance when an account is connected: no environment
  variable is needed (the display name comes from ``PARVIS_NETWORK_APPS["mastodon"]``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from mastodon import Mastodon
from mastodon.errors import (
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonVersionError,
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
from networks.connect import (
    AuthorizationStart,
    ConnectableAccount,
    Connector,
    FormField,
    pkce_pair,
)
from networks.http import (
    CONNECT_TIMEOUT_SECONDS,
    TIMEOUT_SECONDS,
    USER_AGENT,
    error_for_status,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)

NETWORK = "mastodon"
SCOPES = "read write"
# Mastodon.py picks endpoints by server version (e.g. /api/v2/media from 3.1.4). Telling it
# a version spares one request per call; every endpoint used here exists since 4.0.
ASSUMED_VERSION = "4.0.0"

# statuses whose presence one check looks at: one request each (300 per 5 minutes allowed)
GONE_CHECKED = 20

DEFAULT_LIMITS = Limits(
    max_chars=500,
    url_length=23,
    counts_graphemes=True,
    max_images=4,
    max_videos=1,
    mix_images_and_videos=False,
    image_formats=("image/jpeg", "image/png", "image/gif", "image/webp"),
    video_formats=("video/mp4", "video/webm", "video/quicktime"),
    max_image_bytes=10_485_760,  # 10 MiB before Mastodon 4.4 (16 MiB since)
    max_video_bytes=41_943_040,  # 40 MiB before Mastodon 4.4 (99 MiB since)
    alt_text=True,
    alt_text_max=1500,
    threads=True,
    link_preview=True,
)

# Account.settings keys written by the connector from /api/v2/instance -> Limits fields.
_INSTANCE_LIMITS = {
    "max_characters": "max_chars",
    "characters_reserved_per_url": "url_length",
    "max_media_attachments": "max_images",
    "description_limit": "alt_text_max",
    "image_size_limit": "max_image_bytes",
    "video_size_limit": "max_video_bytes",
}


# --- small helpers ----------------------------------------------------------------------------


def _id_key(value: str) -> tuple[int, str]:
    """Order Mastodon ids (strings "cast from an integer but not guaranteed to be a number")."""
    return (len(value), value)


def _parse_time(value: str | None) -> dt.datetime:
    if not value:
        return dt.datetime.now(dt.UTC)
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


def snowflake_id(moment: dt.datetime) -> str:
    """The smallest status id Mastodon could give at ``moment`` (ids are milliseconds << 16)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return str(int(moment.timestamp() * 1000) << 16)


def full_handle(acct: str, domain: str) -> str:
    """``@user@domain`` whether ``acct`` is local (``user``) or remote (``user@elsewhere``)."""
    acct = acct.lstrip("@")
    return f"@{acct}" if "@" in acct else f"@{acct}@{domain}"


class _TextExtractor(HTMLParser):
    """Status HTML to plain text: paragraphs and ``<br>`` become line breaks, entities are
    decoded, links keep their full text (Mastodon hides part of it in ``span.invisible``),
    and the ``p.quote-inline`` fallback of quote posts is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p" and "quote-inline" in (dict(attrs).get("class") or ""):
            self._skipping = True
        elif self._skipping:
            return
        elif tag in ("br", "li"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._skipping:
            self._skipping = False
        elif not self._skipping and tag in ("p", "blockquote", "pre", "ul", "ol"):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(content: str | None) -> str:
    if not content:
        return ""
    parser = _TextExtractor()
    parser.feed(content)
    parser.close()
    text = "".join(parser.parts).replace("\r\n", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_MENTION_DOMAIN = re.compile(r"(?<![=/\w])@(\w+(?:[\w.-]*\w)?)@[\w.-]*\w")


def countable_text(text: str) -> str:
    """The text as Mastodon counts it, before ``Limits.count``: ``@user@domain`` is ``@user``
    (URLs, 23 characters each, are ``Limits.count``'s own rule)."""
    return _MENTION_DOMAIN.sub(r"@\1", text)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# --- errors -----------------------------------------------------------------------------------

_AUTH_403 = (
    "outside the authorized scopes",  # the token lacks a scope: reconnect with the right ones
    "your login is",  # disabled (suspended), unconfirmed e-mail, pending approval
    "two-factor",
)
_CHAR_LIMIT = re.compile(r"character limit of (\d+) exceeded", re.IGNORECASE)

GONE = "Ce message n'existe plus sur Mastodon (supprimé, ou invisible pour ce compte)."
NOT_ALLOWED = (
    "Mastodon n'autorise pas cette action pour ce compte (par exemple si l'auteur l'a bloqué)."
)


def _error_detail(response: requests.Response | None) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get(k)) for k in ("error", "error_description") if body.get(k)]
    return " ".join(parts)[:300]


def error_for_response(
    status: int, headers: Mapping[str, str], detail: str, *, action: str
) -> NetworkError:
    """The closed error set for one Mastodon HTTP error (see docs/networks/mastodon.md)."""
    message = f"{NETWORK}: {action}: HTTP {status} {detail}".strip()
    lowered = detail.lower()
    code = str(status)
    if status == 429:
        return RateLimited(
            message, retry_after=retry_after_seconds(headers), network=NETWORK, code=code
        )
    if status == 401:
        return AuthExpired(message, network=NETWORK, code=code)
    if status == 403:
        if any(marker in lowered for marker in _AUTH_403):
            return AuthExpired(message, network=NETWORK, code=code)
        return Rejected(NOT_ALLOWED, message, network=NETWORK, code=code)
    if status in (404, 410):
        return Rejected(GONE, message, network=NETWORK, code=code)
    if status == 413:
        reason = "Le fichier est trop volumineux pour cette instance Mastodon."
        return Rejected(reason, message, network=NETWORK, code=code)
    if status == 422:
        return _unprocessable(detail, message)
    if status >= 500:
        return Transient(message, network=NETWORK, code=code)
    return error_for_status(status, headers, network=NETWORK, detail=f"{action}: {detail}")


def _unprocessable(detail: str, message: str) -> NetworkError:
    lowered = detail.lower()
    if "requires an authenticated user" in lowered:  # a token without a user
        return AuthExpired(message, network=NETWORK, code="422")
    if "not finished processing" in lowered:  # media still being transcoded
        return Transient(message, network=NETWORK, code="422")
    if match := _CHAR_LIMIT.search(detail):
        reason = (
            f"Le texte dépasse la limite de {match.group(1)} caractères de cette instance Mastodon."
        )
    elif "can't be blank" in lowered:
        reason = "Le message est vide : Mastodon demande un texte ou au moins un média."
    elif "content type" in lowered or "file is invalid" in lowered:
        reason = "Ce format de fichier n'est pas accepté par cette instance Mastodon."
    else:
        reason = f"Mastodon a refusé le contenu (réponse de l'instance : « {detail} »)."
    return Rejected(reason, message, network=NETWORK, code="422")


# --- one client per call ------------------------------------------------------------------------


class _Api:
    """Mastodon.py for one instance and token, remembering the last HTTP response so that
    errors are mapped from the real status, headers and body."""

    def __init__(self, base_url: str, token: str | None, secrets: Iterable[str] = ()) -> None:
        self.last: requests.Response | None = None
        self.secrets = [s for s in (token, *secrets) if s]
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        self.mastodon = Mastodon(
            api_base_url=base_url,
            access_token=token,
            ratelimit_method="throw",
            request_timeout=(CONNECT_TIMEOUT_SECONDS, TIMEOUT_SECONDS),
            mastodon_version=ASSUMED_VERSION,
            version_check_mode="created",
            session=session,
            user_agent=USER_AGENT,
        )

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last = response

    def __call__(self, action: str, method: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run one Mastodon.py method and return the response's JSON (``{}`` when empty)."""
        self.last = None
        try:
            method(*args, **kw)
        except MastodonError as exc:
            response = self.last
            if response is not None and response.ok:
                # Mastodon.py raises on some successful answers (an empty 206 while media is
                # processing, a reset header it cannot parse): the request itself succeeded.
                return self._json(response)
            raise self._error(exc, action) from exc
        return self._json(self.last)

    @staticmethod
    def _json(response: requests.Response | None) -> Any:
        if response is None or not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            return {}

    def _error(self, exc: MastodonError, action: str) -> NetworkError:
        response = self.last
        if isinstance(exc, MastodonNetworkError) or response is None:
            if isinstance(exc, MastodonVersionError):
                return NotSupported(f"{NETWORK}: {action}: {exc}", network=NETWORK)
            if isinstance(exc, MastodonIllegalArgumentError):
                reason = "Parvis n'a pas pu préparer cette demande pour Mastodon."
                message = _scrub(f"{NETWORK}: {action}: {exc}", self.secrets)
                return Rejected(reason, message, network=NETWORK)
            detail = _scrub(f"{type(exc).__name__}: {exc}", self.secrets)[:300]
            return Transient(f"{NETWORK}: {action}: {detail}", network=NETWORK)
        detail = _scrub(_error_detail(response), self.secrets)
        return error_for_response(response.status_code, response.headers, detail, action=action)


# --- the adapter --------------------------------------------------------------------------------


class MastodonAdapter(Adapter):
    network: ClassVar[str] = NETWORK
    limits: ClassVar[Limits] = DEFAULT_LIMITS

    page_size = 40  # notifications: default 40, max 80; account statuses: max 40
    search_page_size = 40  # per type, max 40
    find_published_pages = 5  # at most 200 of our statuses looked at after an ambiguous failure
    find_published_margin = dt.timedelta(minutes=1)  # clock skew between us and the instance
    media_poll_attempts = 20
    media_poll_interval = 3.0  # seconds: a video gets about a minute to be processed

    # --- plumbing ---

    def _api(self, account: Account) -> _Api:
        token = account.credentials.get("access_token")
        base_url = account.settings.get("instance_url")
        if not token or not base_url:
            raise AuthExpired(
                f"{NETWORK}: account {account.external_id} has no token or instance_url",
                network=NETWORK,
            )
        return _Api(base_url, token)

    @staticmethod
    def _domain(account: Account) -> str:
        return account.settings.get("domain") or (
            urlsplit(account.settings.get("instance_url", "")).hostname or ""
        )

    def limits_for(self, account: Account) -> Limits:
        """The limits of this account's instance (stored by the connector), else defaults."""
        changes: dict[str, int] = {}
        for key, field_name in _INSTANCE_LIMITS.items():
            value = account.settings.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                changes[field_name] = value
        return replace(self.limits, **changes)

    # --- publishing ---

    def publish(self, account: Account, content: PostContent) -> Published:
        api = self._api(account)
        text = content.text
        if content.link and content.link not in text:
            text = f"{text}\n\n{content.link}".strip()
        problems = self.limits_for(account).problems(replace(content, text=countable_text(text)))
        if problems:  # refused before uploading anything
            raise Rejected(" ".join(problems), network=NETWORK, code="limits")
        media_ids = [self._upload(api, media) for media in content.media]
        params: dict[str, Any] = {"media_ids": media_ids or None}
        if visibility := account.settings.get("visibility"):
            params["visibility"] = visibility
        status = api(
            "publish",
            api.mastodon.status_post,
            text,
            idempotency_key=content.idempotency_key,
            **params,
        )
        return self._published(status, "publish")

    def _upload(self, api: _Api, media: Media) -> str:
        attachment = api(
            "upload media",
            api.mastodon.media_post,
            media.data,
            mime_type=media.mime_type,
            description=media.alt_text or None,
            file_name=media.filename,
        )
        media_id = str(attachment.get("id") or "")
        if not media_id:
            raise Transient(f"{NETWORK}: upload media: no id in the answer", network=NETWORK)
        # 200: processed; 202: processing, poll GET /api/v1/media/:id (206 until done).
        attempts = 0
        while not attachment.get("url"):
            if attempts >= self.media_poll_attempts:
                raise Transient(
                    f"{NETWORK}: media {media_id} still processing after {attempts} checks",
                    network=NETWORK,
                )
            attempts += 1
            time.sleep(self.media_poll_interval)
            attachment = api("check media", api.mastodon.media, media_id)
        if media.kind == MediaKind.VIDEO:
            logger.info("mastodon: video %s processed after %d check(s)", media_id, attempts)
        return media_id

    @staticmethod
    def _published(status: Any, action: str) -> Published:
        if not isinstance(status, dict) or not status.get("id"):
            raise Transient(f"{NETWORK}: {action}: no status in the answer", network=NETWORK)
        return Published(
            external_id=str(status["id"]),
            permalink=status.get("url") or status.get("uri") or "",
            published_at=_parse_time(status.get("created_at")),
        )

    # --- inbox ---

    def fetch_inbox(self, account: Account, cursor: str | None) -> Page[InboxEntry]:
        """Mentions from ``/api/v1/notifications``, oldest first.

        The cursor is the newest notification id seen; the next call asks ``min_id`` (the
        page just after it, so nothing is skipped when more than a page arrived; ``since_id``
        would return the newest page and leave a gap). Without a cursor: the newest page.
        An empty page returns ``next_cursor=None``: keep the cursor you have.

        To tell a comment from a reply, a reply's thread root is read from
        ``/api/v1/statuses/:id/context`` (``ancestors[0]``): one call per distinct parent in
        a page, none for plain mentions."""
        api = self._api(account)
        params: dict[str, Any] = {"types": ["mention"], "limit": self.page_size}
        if cursor:
            params["min_id"] = cursor
        notifications = api("read notifications", api.mastodon.notifications, **params)
        if not isinstance(notifications, list) or not notifications:
            return Page(items=[], next_cursor=None)
        newest = max((str(n["id"]) for n in notifications), key=_id_key)
        roots: dict[str, dict[str, Any] | None] = {}
        items: list[InboxEntry] = []
        for notification in sorted(notifications, key=lambda n: _id_key(str(n["id"]))):
            status = notification.get("status")
            if notification.get("type") != "mention":
                continue  # servers before 3.5 ignore types[]
            if not isinstance(status, dict) or not status.get("id"):
                logger.info("mastodon: notification %s has no status (deleted)", notification["id"])
                continue
            items.append(self._entry(api, account, status, roots, raw=notification))
        return Page(items=items, next_cursor=newest)

    def _thread_root(
        self, api: _Api, status: dict[str, Any], roots: dict[str, dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        parent = str(status["in_reply_to_id"])
        if parent not in roots:
            try:
                context = api("read thread", api.mastodon.status_context, str(status["id"]))
            except Rejected:  # the status or its thread is gone or hidden from us
                context = {}
            ancestors = (context.get("ancestors") or []) if isinstance(context, dict) else []
            roots[parent] = ancestors[0] if ancestors else None
        return roots[parent]

    def _entry(
        self,
        api: _Api,
        account: Account,
        status: dict[str, Any],
        roots: dict[str, dict[str, Any] | None],
        *,
        raw: dict[str, Any],
    ) -> InboxEntry:
        ours = account.external_id
        parent = str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None
        to_us = str(status.get("in_reply_to_account_id") or "") == ours
        kind, post, root_id = ItemKind.MENTION, None, None
        if parent:
            root = self._thread_root(api, status, roots)
            root_id = str(root["id"]) if root else None
            if root and str(root.get("account", {}).get("id")) == ours:
                kind = ItemKind.COMMENT if parent == root_id else ItemKind.REPLY
                post = root_id
            elif root is None and to_us:  # thread hidden: our status is the best guess
                kind, post, root_id = ItemKind.COMMENT, parent, parent
            elif to_us:  # answers us inside someone else's thread
                kind = ItemKind.REPLY
        if status.get("visibility") == "direct":
            kind, post = ItemKind.MESSAGE, None
        return InboxEntry(
            kind=kind,
            external_id=str(status["id"]),
            author=self._author(status.get("account") or {}, self._domain(account)),
            text=html_to_text(status.get("content")),
            created_at=_parse_time(status.get("created_at")),
            post_external_id=post,
            parent_id=parent,
            root_id=root_id,
            permalink=status.get("url") or status.get("uri") or "",
            language=status.get("language") or None,
            raw=raw,
            edited_at=_parse_time(status["edited_at"]) if status.get("edited_at") else None,
        )

    @staticmethod
    def _author(data: dict[str, Any], domain: str) -> Author:
        acct = str(data.get("acct") or data.get("username") or "")
        return Author(
            external_id=str(data.get("id") or ""),
            handle=full_handle(acct, domain) if acct else "",
            display_name=data.get("display_name") or data.get("username") or "",
            avatar_url=data.get("avatar") or "",
        )

    # --- moderation ---

    def reply(self, account: Account, item: ItemRef, text: str) -> Published:
        """Answer a status with the same visibility (a private message stays private), its
        author's ``@acct`` first. The answered status is read first (visibility, author,
        and a clear refusal if it was deleted). The Idempotency-Key is derived from the
        status and the text, so a retried reply is not posted twice."""
        api = self._api(account)
        target = api("read status", api.mastodon.status, item.external_id)
        acct = str((target.get("account") or {}).get("acct") or item.author_handle or "")
        mention = "@" + acct.lstrip("@") if acct else ""
        body = text.strip()
        if mention and mention.casefold() not in body.casefold():
            body = f"{mention} {body}"
        visibility = target.get("visibility") or (
            "direct" if item.kind == ItemKind.MESSAGE else None
        )
        key = hashlib.sha256(f"{account.external_id}:{item.external_id}:{body}".encode())
        status = api(
            "reply",
            api.mastodon.status_post,
            body,
            in_reply_to_id=item.external_id,
            visibility=visibility,
            idempotency_key=key.hexdigest()[:48],
        )
        return self._published(status, "reply")

    def hide(self, account: Account, item: ItemRef) -> None:
        raise NotSupported(
            f"{NETWORK}: no API hides someone else's reply (mute, block or report instead)",
            network=NETWORK,
        )

    def delete(self, account: Account, item: ItemRef) -> None:
        """Delete one of our own statuses. Someone else's: NotSupported (only their author or
        the instance's moderators can). Already deleted (404): done, nothing to do."""
        if item.author_id and item.author_id != account.external_id:
            raise NotSupported(
                f"{NETWORK}: only our own statuses can be deleted (author {item.author_id})",
                network=NETWORK,
            )
        api = self._api(account)
        try:
            api("delete", api.mastodon.status_delete, item.external_id)
        except Rejected as exc:
            if exc.code != "404":
                raise
            logger.info("mastodon: status %s already deleted", item.external_id)

    # --- metrics ---

    def fetch_account_metrics(self, account: Account, day: dt.date) -> AccountMetrics:
        """Followers now (Mastodon keeps no history and no reach or impressions)."""
        api = self._api(account)
        me = api("read account", api.mastodon.account_verify_credentials)
        followers = me.get("followers_count") if isinstance(me, dict) else None
        return AccountMetrics(day=day, followers=followers if isinstance(followers, int) else None)

    def fetch_post_metrics(self, account: Account, external_ids: list[str]) -> list[PostMetrics]:
        """Favourites, boosts and replies as this instance knows them; a deleted status is
        left out. One request per status (``GET /api/v1/statuses?id[]=`` needs 4.3)."""
        api = self._api(account)
        metrics: list[PostMetrics] = []
        for external_id in external_ids:
            status = _status_or_none(api, external_id)
            if status is None:
                logger.info("mastodon: status %s gone, no metrics", external_id)
                continue
            metrics.append(
                PostMetrics(
                    external_id=str(status.get("id") or external_id),
                    reactions=status.get("favourites_count"),
                    shares=status.get("reblogs_count"),
                    comments=status.get("replies_count"),
                )
            )
        return metrics

    def gone(self, account: Account, external_ids: list[str]) -> set[str]:
        """One request per status (the first ``GONE_CHECKED``: ``GET /api/v1/statuses?id[]=``
        needs 4.3): 404 or 410 is a status deleted, or no longer visible to us."""
        api = self._api(account)
        return {
            external_id
            for external_id in external_ids[:GONE_CHECKED]
            if _status_or_none(api, external_id) is None
        }

    # --- search and recovery ---

    def search(self, account: Account, query: str, cursor: str | None) -> Page[InboxEntry]:
        """Statuses matching ``query`` (``/api/v2/search``, type=statuses, no WebFinger
        resolution). The cursor is the offset of the next page. Full-text search only covers
        what the instance indexed (posts of opted-in accounts and those we interacted with).
        Hits are MENTION entries; our own statuses are left out; thread roots are not
        resolved (no extra calls)."""
        api = self._api(account)
        offset = int(cursor) if cursor and cursor.isdigit() else 0
        result = api(
            "search",
            api.mastodon.search_v2,
            query,
            resolve=False,
            result_type="statuses",
            offset=offset or None,
            limit=self.search_page_size,
            exclude_unreviewed=False,
        )
        statuses = (result.get("statuses") or []) if isinstance(result, dict) else []
        items: list[InboxEntry] = []
        for status in statuses:
            author = status.get("account") or {}
            if not status.get("id") or str(author.get("id")) == account.external_id:
                continue
            items.append(
                InboxEntry(
                    kind=ItemKind.MENTION,
                    external_id=str(status["id"]),
                    author=self._author(author, self._domain(account)),
                    text=html_to_text(status.get("content")),
                    created_at=_parse_time(status.get("created_at")),
                    parent_id=str(status["in_reply_to_id"])
                    if status.get("in_reply_to_id")
                    else None,
                    permalink=status.get("url") or status.get("uri") or "",
                    language=status.get("language") or None,
                    raw=status,
                )
            )
        more = len(statuses) >= self.search_page_size
        return Page(items=items, next_cursor=str(offset + len(statuses)) if more else None)

    def find_published(
        self, account: Account, content: PostContent, since: dt.datetime
    ) -> Published | None:
        """Our statuses created after ``since`` (minus a minute of clock skew), oldest first
        through ``min_id`` pages, compared by text (HTML stripped, ``same_text``) and media
        count. Mastodon does not expose the Idempotency-Key of a status."""
        api = self._api(account)
        cursor = snowflake_id(since - self.find_published_margin)
        for _ in range(self.find_published_pages):
            statuses = api(
                "read our statuses",
                api.mastodon.account_statuses,
                account.external_id,
                exclude_reblogs=True,
                min_id=cursor,
                limit=self.page_size,
            )
            if not isinstance(statuses, list) or not statuses:
                return None
            for status in sorted(statuses, key=lambda s: _id_key(str(s["id"]))):
                if self._same_post(status, content):
                    return self._published(status, "find published")
            if len(statuses) < self.page_size:
                return None
            cursor = max((str(s["id"]) for s in statuses), key=_id_key)
        return None

    @staticmethod
    def _same_post(status: dict[str, Any], content: PostContent) -> bool:
        if len(status.get("media_attachments") or []) != len(content.media):
            return False
        return same_text(html_to_text(status.get("content")), content.text)

    def refresh_credentials(self, account: Account) -> bool:
        """Mastodon access tokens do not expire (they are revoked or not): nothing to do."""
        return False


# --- connecting an account ----------------------------------------------------------------------

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_instance_url(value: str) -> str:
    """``piaille.fr``, ``https://piaille.fr/`` or ``@nom@piaille.fr`` -> ``https://piaille.fr``.

    https only, no path, no port other than 443, a domain name (not an IP address)."""
    raw = (value or "").strip()
    if "://" not in raw and "@" in raw:  # a handle: keep its domain
        raw = raw.rsplit("@", 1)[1]
    if "://" not in raw:
        raw = f"https://{raw}"
    bad = Rejected(
        "Indiquez le domaine de l'instance Mastodon, par exemple piaille.fr.",
        f"{NETWORK}: invalid instance address",
        network=NETWORK,
    )
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise bad from None
    if parts.scheme.lower() != "https":
        raise Rejected(
            "L'instance Mastodon doit être jointe en https.",
            f"{NETWORK}: instance address is not https",
            network=NETWORK,
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise bad
    if parts.path not in ("", "/") or port not in (None, 443) or not parts.hostname:
        raise bad
    host = parts.hostname.rstrip(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise bad
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise bad from None
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise bad
    return f"https://{host}"


class MastodonConnector(Connector):
    """Any instance: the admin gives its domain; Parvis registers itself there
    (``POST /api/v1/apps``) once per instance and callback -- the registration is kept,
    encrypted, in ``networks.models.MastodonApp`` and reused -- then runs OAuth with state
    and PKCE (S256, Mastodon 4.3+; older servers ignore it). A registration the instance
    no longer knows (``invalid_client``) is forgotten, so the next attempt registers anew."""

    network: ClassVar[str] = NETWORK
    required_app_settings: ClassVar[tuple[str, ...]] = ()
    env_names: ClassVar[tuple[str, ...]] = ()
    uses_oauth: ClassVar[bool] = True
    form_fields: ClassVar[tuple[FormField, ...]] = (
        FormField(
            name="instance",
            label="Instance Mastodon",
            help_text="Le domaine de l'instance du compte, par exemple piaille.fr.",
        ),
    )

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> AuthorizationStart:
        instance_url = normalise_instance_url(form.get("instance", ""))
        client_id, client_secret = self._app(instance_url, redirect_uri)
        verifier, challenge = pkce_pair()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPES,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "force_login": "true",  # not whoever is logged in on this browser
                "lang": "fr",
            }
        )
        return AuthorizationStart(
            url=f"{instance_url}/oauth/authorize?{query}",
            flow_data={
                "instance_url": instance_url,
                "client_id": client_id,
                "client_secret": client_secret,
                "code_verifier": verifier,
            },
        )

    def _app(self, instance_url: str, redirect_uri: str) -> tuple[str, str]:
        """(client_id, client_secret) of Parvis's app on the instance: the stored
        registration, or a new one registered and stored."""
        from django.db import IntegrityError, transaction

        from networks.models import MastodonApp

        key = {"instance_url": instance_url, "redirect_uri": redirect_uri, "scopes": SCOPES}
        known = MastodonApp.objects.filter(**key).first()
        if known is not None and known.credentials.get("client_id"):
            return known.credentials["client_id"], known.credentials.get("client_secret", "")
        app = _post_form(
            f"{instance_url}/api/v1/apps",
            {
                "client_name": self.app_settings().get("client_name") or "Parvis",
                "redirect_uris": redirect_uri,
                "scopes": SCOPES,
                "website": settings.PARVIS_BASE_URL,
            },
            action="register app",
        )
        client_id, client_secret = app.get("client_id"), app.get("client_secret")
        if not client_id or not client_secret:
            raise _not_mastodon(instance_url)
        credentials = {"client_id": client_id, "client_secret": client_secret}
        try:
            with transaction.atomic():
                MastodonApp.objects.update_or_create(**key, defaults={"credentials": credentials})
        except IntegrityError:  # registered at the same moment by another connection
            pass
        return client_id, client_secret

    @staticmethod
    def forget_app(instance_url: str, client_id: str) -> None:
        from networks.models import MastodonApp

        for app in MastodonApp.objects.filter(instance_url=instance_url):
            if app.credentials.get("client_id") == client_id:
                app.delete()

    def finish(
        self, *, redirect_uri: str, query: dict[str, str], flow_data: dict[str, Any]
    ) -> list[ConnectableAccount]:
        if query.get("error") == "invalid_client":
            self.forget_app(flow_data.get("instance_url", ""), flow_data.get("client_id", ""))
        if query.get("error"):
            raise Rejected(
                "L'autorisation a été refusée sur l'instance Mastodon.",
                f"{NETWORK}: authorization error {query['error']}",
                network=NETWORK,
            )
        code = query.get("code")
        instance_url = flow_data.get("instance_url", "")
        secrets = [code, flow_data.get("client_secret"), flow_data.get("code_verifier")]
        if not code or not instance_url:
            raise Rejected(
                "La réponse de l'instance Mastodon est incomplète : recommencez la connexion.",
                f"{NETWORK}: no code or instance in the callback",
                network=NETWORK,
            )
        try:
            token = _post_form(
                f"{instance_url}/oauth/token",
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": flow_data.get("client_id", ""),
                    "client_secret": flow_data.get("client_secret", ""),
                    "redirect_uri": redirect_uri,
                    "code_verifier": flow_data.get("code_verifier", ""),
                },
                action="obtain token",
                secrets=secrets,
            )
        except Rejected as exc:
            if "invalid_client" in exc.message:
                self.forget_app(instance_url, flow_data.get("client_id", ""))
            raise
        access_token = token.get("access_token")
        if not access_token:
            raise _not_mastodon(instance_url)
        api = _Api(instance_url, access_token, secrets=[s for s in secrets if s])
        me = api("read account", api.mastodon.account_verify_credentials)
        account_settings = {"instance_url": instance_url, **_instance_settings(api)}
        domain = account_settings.get("domain") or urlsplit(instance_url).hostname or ""
        account_settings["domain"] = domain
        expires_in = token.get("expires_in")
        return [
            ConnectableAccount(
                external_id=str(me["id"]),
                handle=full_handle(str(me.get("acct") or me.get("username")), domain),
                display_name=me.get("display_name") or me.get("username") or "",
                credentials={
                    "access_token": access_token,
                    # kept to revoke the token when the account is disconnected
                    "client_id": flow_data.get("client_id", ""),
                    "client_secret": flow_data.get("client_secret", ""),
                },
                settings=account_settings,
                token_expires_at=(
                    dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(expires_in))
                    if isinstance(expires_in, int)
                    else None
                ),
            )
        ]


def _status_or_none(api: _Api, external_id: str) -> dict[str, Any] | None:
    """The status, or ``None`` when the instance answers 404 or 410 (deleted, or no longer
    visible to this account); other failures are raised."""
    try:
        return api("read status", api.mastodon.status, external_id)
    except Rejected as exc:
        if exc.code not in ("404", "410"):
            raise
        return None


def _instance_settings(api: _Api) -> dict[str, Any]:
    """Limits from ``/api/v2/instance`` (Mastodon 4.0+); nothing when unavailable."""
    try:
        instance = api("read instance", api.mastodon.instance_v2)
    except NetworkError as exc:
        logger.info("mastodon: instance limits unavailable (%s)", type(exc).__name__)
        return {}
    if not isinstance(instance, dict):
        return {}
    configuration = instance.get("configuration") or {}
    statuses = configuration.get("statuses") or {}
    media = configuration.get("media_attachments") or {}
    found = {
        "domain": instance.get("domain"),
        "max_characters": statuses.get("max_characters"),
        "characters_reserved_per_url": statuses.get("characters_reserved_per_url"),
        "max_media_attachments": statuses.get("max_media_attachments"),
        "description_limit": media.get("description_limit"),
        "image_size_limit": media.get("image_size_limit"),
        "video_size_limit": media.get("video_size_limit"),
    }
    return {key: value for key, value in found.items() if value is not None}


def _not_mastodon(instance_url: str) -> Rejected:
    return Rejected(
        f"{urlsplit(instance_url).hostname} ne répond pas comme une instance Mastodon.",
        f"{NETWORK}: unexpected answer from {instance_url}",
        network=NETWORK,
    )


def _post_form(
    url: str, data: dict[str, str], *, action: str, secrets: Iterable[str | None] = ()
) -> dict[str, Any]:
    """POST a form to an instance during the connection (Mastodon.py cannot send PKCE).

    Interactive: an unreachable instance or a non-Mastodon answer is Rejected with a
    French reason (most likely a mistyped address); timeouts and 5xx are Transient."""
    hidden = [s for s in secrets if s]
    try:
        response = requests.post(
            url,
            data=data,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=(CONNECT_TIMEOUT_SECONDS, TIMEOUT_SECONDS),
            allow_redirects=False,
        )
    except requests.ConnectionError as exc:
        raise Rejected(
            f"Impossible de joindre {urlsplit(url).hostname} : vérifiez l'adresse de "
            "l'instance, ou réessayez plus tard.",
            _scrub(f"{NETWORK}: {action}: {type(exc).__name__}", hidden),
            network=NETWORK,
        ) from None
    except requests.RequestException as exc:
        raise Transient(f"{NETWORK}: {action}: {type(exc).__name__}", network=NETWORK) from None
    detail = _scrub(_error_detail(response), hidden)
    if response.status_code in (400, 401):  # invalid_grant, invalid_client, invalid_scope
        raise Rejected(
            "L'instance Mastodon a refusé la connexion (autorisation expirée ou déjà "
            "utilisée) : recommencez la connexion.",
            f"{NETWORK}: {action}: HTTP {response.status_code} {detail}",
            network=NETWORK,
            code=str(response.status_code),
        )
    if response.status_code == 404 or 300 <= response.status_code < 400:
        raise _not_mastodon(url)
    if not response.ok:
        raise error_for_response(response.status_code, response.headers, detail, action=action)
    try:
        body = response.json()
    except ValueError:
        raise _not_mastodon(url) from None
    if not isinstance(body, dict):
        raise _not_mastodon(url)
    return body
