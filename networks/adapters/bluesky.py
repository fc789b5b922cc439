"""Bluesky, over the AT Protocol, through the ``atproto`` SDK (exact pin, still 0.0.x).

What we use of the SDK: its typed XRPC namespaces and models (``client.com.atproto...``,
``client.app.bsky...``), its httpx transport and its exceptions. What we do not use: its
session machinery (``login``, ``export_session_string``, the silent refresh in ``_invoke``).
The adapter is stateless, so the session lives in ``Account.credentials``; we put the
access token on the client ourselves and refresh it explicitly, which lets us (1) update
the account's credentials whenever a refresh happens, (2) tell "the refresh was refused"
(``AuthExpired``) from "the network is down" (``Transient``).

References (official): https://docs.bsky.app/docs/api (HTTP reference), the lexicons in
github.com/bluesky-social/atproto/tree/main/lexicons, rich text facets
https://docs.bsky.app/docs/advanced-guides/post-richtext, rate limits
https://docs.bsky.app/docs/advanced-guides/rate-limits. See docs/networks/bluesky.md.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

import httpx
from atproto_client import Client, models
from atproto_client.request import Request
from atproto_core.did_doc import DidDocument, is_valid_did_doc
from atproto_core.exceptions import AtProtocolError
from pydantic import BaseModel

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
from networks.connect import ConnectableAccount, Connector, FormField
from networks.http import (
    CONNECT_TIMEOUT_SECONDS,
    TIMEOUT_SECONDS,
    USER_AGENT,
    error_for_status,
    retry_after_seconds,
)
from networks.http import client as http_client

logger = logging.getLogger(__name__)
T = TypeVar("T")

NETWORK = "bluesky"
# Bluesky's entryway: sessions for every account Bluesky hosts, and handle resolution.
ENTRYWAY = "https://bsky.social"
PLC_DIRECTORY = "https://plc.directory"
WEB_APP = "https://bsky.app"

POST = "app.bsky.feed.post"
THREADGATE = "app.bsky.feed.threadgate"
LANGS = ["fr"]

# Refresh the access token when it has less than this left (it lives about two hours).
REFRESH_MARGIN = dt.timedelta(minutes=15)
INBOX_REASONS = ["reply", "mention", "quote"]
INBOX_PAGE_SIZE = 50
# First collection for an account (no cursor yet): go back this far, no further.
INBOX_BACKFILL = dt.timedelta(days=7)
SEARCH_PAGE_SIZE = 25
GET_POSTS_BATCH = 25  # app.bsky.feed.getPosts: uris maxLength 25
GONE_CHECKED = 100  # messages whose presence one check looks at (four getPosts calls)
AUTHOR_FEED_PAGE_SIZE = 50
FIND_PUBLISHED_MAX_PAGES = 4
MAX_HIDDEN_REPLIES = 300  # app.bsky.feed.threadgate: hiddenReplies maxLength 300
TAG_MAX_CHARS = 64  # app.bsky.richtext.facet#tag: maxGraphemes 64, maxLength 640
TAG_MAX_BYTES = 640

# --- errors -----------------------------------------------------------------------------------

# XRPC error names that mean "this session is no good": the account must be reconnected.
# ExpiredToken is handled first by refreshing once (see _Session.call).
_AUTH_ERRORS = frozenset(
    {
        "ExpiredToken",
        "InvalidToken",
        "AuthenticationRequired",
        "AuthFactorTokenRequired",
        "AccountTakedown",
        "AccountDeactivated",
    }
)
_NOT_FOUND_ERRORS = frozenset({"RecordNotFound", "NotFound"})
_GONE = "Ce message n'existe plus sur Bluesky."
_REASON_TOO_LONG = "Le texte est trop long pour Bluesky (300 caractères au maximum)."
_REASON_BLOB = "Une image est trop lourde pour Bluesky (2 Mo au maximum)."
_REASON_FACETS = "Les liens, mentions ou mots-clés du texte n'ont pas pu être mis en forme."
_REASON_GENERIC = "Bluesky a refusé cette demande."
_REASON_BAD_LOGIN = "Identifiant ou mot de passe d'application incorrect."


def _xrpc_error(exc: BaseException) -> tuple[int | None, str, str, dict[str, str]]:
    """(HTTP status, XRPC error name, message, headers) of an SDK error; status None when
    no answer came (timeout, connection refused) or the answer could not be read."""
    response = getattr(exc, "response", None)
    if response is None:
        return None, "", "", {}
    content = response.content
    if isinstance(content, dict):
        name, detail = content.get("error"), content.get("message")
    else:  # XrpcError model, DotDict, or raw bytes
        name, detail = getattr(content, "error", None), getattr(content, "message", None)
    return (
        int(response.status_code),
        str(name or ""),
        str(detail or ""),
        {str(k): str(v) for k, v in (response.headers or {}).items()},
    )


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return text


def _reason_for(name: str, detail: str) -> str:
    """The French sentence shown to the user for a refusal."""
    lowered = detail.lower()
    if name == "BlobTooLarge" or "too large" in lowered:
        return _REASON_BLOB
    if name in _NOT_FOUND_ERRORS or "not found" in lowered or "could not locate" in lowered:
        return _GONE
    if "grapheme" in lowered or "too long" in lowered or "longer than" in lowered:
        return _REASON_TOO_LONG
    if "facet" in lowered:
        return _REASON_FACETS
    return _REASON_GENERIC


def _translate(exc: BaseException, *, secrets: Iterable[str] = (), what: str = "") -> NetworkError:
    """Map an SDK (or httpx) failure onto the closed set. Messages never carry a token."""
    if isinstance(exc, NetworkError):
        return exc
    status, name, detail, headers = _xrpc_error(exc)
    label = f"bluesky: {what}".rstrip()
    if status is None:
        kind = type(exc).__name__
        code = "timeout" if "Timeout" in kind else kind
        return Transient(
            _scrub(f"{label}: {kind} (no answer)", secrets), network=NETWORK, code=code
        )
    detail = _scrub(detail, secrets)[:200]  # scrub first: a cut token would slip through
    message = f"{label}: HTTP {status} {name} {detail}".rstrip()
    code = name or str(status)
    if name == "RateLimitExceeded" or status == 429:
        return RateLimited(
            message, retry_after=retry_after_seconds(headers), network=NETWORK, code=code
        )
    if name in _AUTH_ERRORS:
        return AuthExpired(message, network=NETWORK, code=code)
    if name == "InvalidSwap":  # someone changed the record meanwhile: read it again
        return Transient(message, network=NETWORK, code=code)
    if status == 413:  # the body limit in front of uploadBlob
        return Rejected(_REASON_BLOB, message, network=NETWORK, code=code)
    if status in (400, 404) or name == "BlobTooLarge":
        return Rejected(_reason_for(name, detail), message, network=NETWORK, code=code)
    if status >= 500:
        return Transient(message, network=NETWORK, code=code)
    return error_for_status(status, headers, network=NETWORK, detail=f"{name} {detail}")


# The SDK raises AtProtocolError subclasses; an httpx error it does not wrap
# (e.g. RemoteProtocolError) may still come through.
_CALL_ERRORS = (AtProtocolError, httpx.HTTPError)


def _xrpc(client: Client, call: Callable[[Client], T], *, secrets: Iterable[str], what: str) -> T:
    """Run one SDK call; a failure becomes one of the closed set, raised outside the
    ``except`` block so that it carries no chained SDK error (whose text quotes the
    server's answer verbatim): our message says it all, scrubbed."""
    try:
        return call(client)
    except _CALL_ERRORS as exc:
        error = _translate(exc, secrets=secrets, what=what)
    raise error


# --- small helpers ------------------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    """AT Protocol datetime: UTC, milliseconds, "Z"."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_FRACTION_RE = re.compile(r"\.(\d+)")


def _parse_time(value: str) -> dt.datetime:
    """RFC 3339 as the AT Protocol writes it ("Z" or an offset, 0 to 9 fraction digits)."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = _FRACTION_RE.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _split_at_uri(uri: str) -> tuple[str, str, str]:
    """at://<did>/<collection>/<rkey> -> (did, collection, rkey); blanks when not one."""
    if not uri or not uri.startswith("at://"):
        return "", "", ""
    parts = uri[len("at://") :].split("/")
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def _did_of(uri: str | None) -> str:
    return _split_at_uri(uri or "")[0]


def _permalink(actor: str, uri: str) -> str:
    return f"{WEB_APP}/profile/{actor}/post/{_split_at_uri(uri)[2]}"


def _as_dict(value: Any) -> dict[str, Any]:
    """A record or view (SDK model, DotDict or dict) as plain JSON-shaped data."""
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, dict):
        return value
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else {}


def _jwt_expiry(token: str | None) -> dt.datetime | None:
    """``exp`` of a JWT, read without checking the signature (we only schedule a refresh:
    the PDS is the one that trusts or refuses the token)."""
    if not token:
        return None
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return dt.datetime.fromtimestamp(int(claims["exp"]), tz=dt.UTC)
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None


def _expires_soon(token: str | None) -> bool:
    if not token:
        return True
    expiry = _jwt_expiry(token)
    return expiry is not None and expiry - _utcnow() < REFRESH_MARGIN


def _pds_from_did_doc(did_doc: Any) -> str | None:
    doc = _as_dict(did_doc) if did_doc is not None else {}
    if not doc or not is_valid_did_doc(doc):
        return None
    endpoint = DidDocument.from_dict(doc).get_pds_endpoint()
    return endpoint.rstrip("/") if endpoint else None


def _pds_url(account: Account) -> str:
    # credentials win: a refresh may have told us the account moved to another PDS
    url = account.credentials.get("pds_url") or account.settings.get("pds_url") or ENTRYWAY
    return str(url).rstrip("/")


def _new_client(base_url: str) -> Client:
    """The SDK client on its own httpx client (``Request`` passes kwargs to httpx.Client),
    with our timeouts and user agent; tests fake it at the transport with respx."""
    request = Request(timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS))
    request.add_additional_header("User-Agent", USER_AGENT)
    return Client(base_url=base_url, request=request)


# --- rich text ----------------------------------------------------------------------------------

_LINK_RE = re.compile(r"https?://\S+", re.IGNORECASE)
# A mention or a tag starts the text or follows a space or an opening bracket/quote;
# "contact@mairie.fr", "C#" or "https://x.fr/#top" are neither.
_MENTION_RE = re.compile(r"(?<![^\s(\[«\"“'])@([A-Za-z0-9.-]+)")
_TAG_RE = re.compile(r"(?<![^\s(\[«\"“'])#(\w+)")
_HANDLE_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
_TRAILING = ".,;:!?…'\"»”’"
_CLOSING = {")": "(", "]": "["}


def _trim_url(url: str) -> str:
    """Drop the punctuation that ends a sentence, not the URL; keep balanced brackets."""
    while url:
        last = url[-1]
        unbalanced = last in _CLOSING and url.count(_CLOSING[last]) < url.count(last)
        if last not in _TRAILING and not unbalanced:
            break
        url = url[:-1]
    return url


def _byte_slice(text: str, start: int, end: int) -> models.AppBskyRichtextFacet.ByteSlice:
    """Facet indices count UTF-8 bytes, not characters (an "é" is 2, an emoji 4)."""
    byte_start = len(text[:start].encode("utf-8"))
    return models.AppBskyRichtextFacet.ByteSlice(
        byte_start=byte_start, byte_end=byte_start + len(text[start:end].encode("utf-8"))
    )


def find_links(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of every http(s) link, in character indices."""
    found = []
    for match in _LINK_RE.finditer(text):
        url = _trim_url(match.group(0))
        if len(url) > len("https://"):
            found.append((match.start(), match.start() + len(url), url))
    return found


def build_facets(
    text: str, resolve_handle: Callable[[str], str | None]
) -> list[models.AppBskyRichtextFacet.Main]:
    """Links, mentions (``@handle`` resolved to a DID; unresolved ones stay plain text) and
    hashtags (not inside a word, not only digits), sorted by position."""
    facets: list[tuple[int, models.AppBskyRichtextFacet.Main]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, feature: Any) -> None:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            return
        taken.append((start, end))
        facet = models.AppBskyRichtextFacet.Main(
            index=_byte_slice(text, start, end), features=[feature]
        )
        facets.append((start, facet))

    for start, end, url in find_links(text):
        add(start, end, models.AppBskyRichtextFacet.Link(uri=url))

    dids: dict[str, str | None] = {}
    for match in _MENTION_RE.finditer(text):
        handle = match.group(1).rstrip(".-").lower()
        if not _HANDLE_RE.match(handle):
            continue
        if handle not in dids:
            dids[handle] = resolve_handle(handle)
        did = dids[handle]
        if did:
            start = match.start()
            add(start, start + 1 + len(handle), models.AppBskyRichtextFacet.Mention(did=did))

    for match in _TAG_RE.finditer(text):
        tag = match.group(1)
        if tag.isdigit() or len(tag) > TAG_MAX_CHARS or len(tag.encode()) > TAG_MAX_BYTES:
            continue
        add(match.start(), match.end(), models.AppBskyRichtextFacet.Tag(tag=tag))

    return [facet for _start, facet in sorted(facets, key=lambda pair: pair[0])]


# --- the inbox cursor ---------------------------------------------------------------------------


@dataclass
class _InboxCursor:
    """Bluesky lists notifications newest first and its cursor only goes to OLDER ones.
    Ours remembers the newest ``indexedAt`` already delivered (``since``, with the URIs seen
    at exactly that instant) and, while catching up, the Bluesky cursor of the next older
    page (``page``) and the newest instant of this catch-up (``top``), which becomes
    ``since`` once the pages reach ``since``."""

    since: str
    seen: list[str] = field(default_factory=list)
    page: str | None = None
    top: str | None = None
    top_seen: list[str] = field(default_factory=list)

    def encode(self) -> str:
        data: dict[str, Any] = {"v": 1, "since": self.since, "seen": sorted(self.seen)}
        if self.page:
            data.update(page=self.page, top=self.top, top_seen=sorted(self.top_seen))
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, cursor: str | None) -> _InboxCursor:
        if cursor:
            try:
                data = json.loads(cursor)
                _parse_time(data["since"])
                return cls(
                    since=data["since"],
                    seen=list(data.get("seen") or []),
                    page=data.get("page"),
                    top=data.get("top"),
                    top_seen=list(data.get("top_seen") or []),
                )
            except (ValueError, KeyError, TypeError):
                logger.warning("bluesky: unreadable inbox cursor, starting again")
        return cls(since=_iso(_utcnow() - INBOX_BACKFILL))


def _newest(current: tuple[str | None, list[str]], when: str, uri: str) -> tuple[str, list[str]]:
    top, seen = current
    if top is None or _parse_time(when) > _parse_time(top):
        return when, [uri]
    if _parse_time(when) == _parse_time(top) and uri not in seen:
        return top, [*seen, uri]
    return top, seen


# --- one account's session ----------------------------------------------------------------------


class _Session:
    """One operation's calls for one account: one httpx pool, the access token on every
    call, and at most one refresh (ahead of time, or when the PDS says ExpiredToken)."""

    def __init__(self, account: Account) -> None:
        self.account = account
        credentials = account.credentials
        self.did = str(credentials.get("did") or account.external_id)
        self.handle = str(credentials.get("handle") or account.handle or self.did)
        self.client = _new_client(_pds_url(account))
        self._refreshed = False
        self._authorize(credentials.get("access_jwt"))

    def __enter__(self) -> _Session:
        try:
            if _expires_soon(self.account.credentials.get("access_jwt")):
                self.refresh()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.request.close()

    def secrets(self) -> list[str]:
        c = self.account.credentials
        return [str(c.get(k) or "") for k in ("access_jwt", "refresh_jwt", "app_password")]

    def _authorize(self, access_jwt: str | None) -> None:
        if access_jwt:
            self.client.request.add_additional_header("Authorization", f"Bearer {access_jwt}")

    def call(self, what: str, call: Callable[[Client], T]) -> T:
        try:
            return call(self.client)
        except _CALL_ERRORS as exc:
            expired = _xrpc_error(exc)[1] == "ExpiredToken" and not self._refreshed
            error = None if expired else _translate(exc, secrets=self.secrets(), what=what)
        if error is not None:
            raise error
        self.refresh()
        return _xrpc(self.client, call, secrets=self.secrets(), what=what)

    def refresh(self) -> None:
        """com.atproto.server.refreshSession with the refresh token; the account's
        credentials are updated (the refresh token rotates: the caller must store them)."""
        self._refreshed = True
        token = self.account.credentials.get("refresh_jwt")
        if not token:
            raise AuthExpired(
                "bluesky: no refresh token stored; reconnect the account",
                network=NETWORK,
                code="no_session",
            )
        try:
            answer = _xrpc(
                self.client,
                lambda c: c.com.atproto.server.refresh_session(
                    headers={"Authorization": f"Bearer {token}"}
                ),
                secrets=self.secrets(),
                what="refreshSession",
            )
        except (Transient, RateLimited):
            raise
        except NetworkError as exc:
            raise AuthExpired(
                f"bluesky: the session could not be refreshed ({exc.code}); reconnect the account",
                network=NETWORK,
                code=exc.code or "refresh_refused",
            ) from exc
        pds_url = _pds_from_did_doc(answer.did_doc) or _pds_url(self.account)
        expiry = _jwt_expiry(answer.access_jwt)
        self.account.update_credentials(
            access_jwt=answer.access_jwt,
            refresh_jwt=answer.refresh_jwt,
            did=answer.did,
            handle=answer.handle,
            pds_url=pds_url,
            expires_at=expiry.isoformat() if expiry else None,
        )
        self.did, self.handle = answer.did, answer.handle
        self.client.update_base_url(pds_url)
        self._authorize(answer.access_jwt)
        logger.info("bluesky: session refreshed for %s", answer.did)

    # -- calls used by several operations

    def resolve_handle(self, handle: str) -> str | None:
        """The DID behind ``handle``, None when it does not resolve (400)."""
        try:
            answer = self.call(
                "resolveHandle",
                lambda c: c.com.atproto.identity.resolve_handle(
                    models.ComAtprotoIdentityResolveHandle.Params(handle=handle)
                ),
            )
        except Rejected:
            return None
        return answer.did

    def get_posts(self, uris: list[str]) -> list[models.AppBskyFeedDefs.PostView]:
        """Hydrated views, by batches of 25; deleted posts are simply absent."""
        posts: list[models.AppBskyFeedDefs.PostView] = []
        for i in range(0, len(uris), GET_POSTS_BATCH):
            batch = uris[i : i + GET_POSTS_BATCH]
            answer = self.call(
                "getPosts",
                lambda c, batch=batch: c.app.bsky.feed.get_posts(
                    models.AppBskyFeedGetPosts.Params(uris=batch)
                ),
            )
            posts.extend(answer.posts)
        return posts

    def create_post(self, record: models.AppBskyFeedPost.Record) -> Published:
        answer = self.call(
            "createRecord",
            lambda c: c.com.atproto.repo.create_record(
                models.ComAtprotoRepoCreateRecord.Data(
                    repo=self.did, collection=POST, record=record
                )
            ),
        )
        return Published(
            external_id=answer.uri,
            permalink=_permalink(self.handle, answer.uri),
            published_at=_parse_time(record.created_at),
        )


# --- the adapter --------------------------------------------------------------------------------


def _strong_ref(uri: str, cid: str) -> models.ComAtprotoRepoStrongRef.Main:
    return models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=cid)


class BlueskyAdapter(Adapter):
    network: ClassVar[str] = NETWORK
    # app.bsky.feed.post text: maxGraphemes 300, maxLength 3000 (bytes);
    # app.bsky.embed.images: 4 images, blob maxSize 2000000 ("May be up to 2 MB, formerly
    # limited to 1 MB"), alt required but unbounded (the Bluesky app stops at 2000).
    limits: ClassVar[Limits] = Limits(
        max_chars=300,
        counts_graphemes=True,
        max_bytes=3000,
        max_images=4,
        max_videos=0,
        image_formats=("image/jpeg", "image/png", "image/webp"),
        max_image_bytes=2_000_000,
        alt_text=True,
        alt_text_max=2000,
        threads=True,
        link_preview=True,
    )

    # -- publishing

    def publish(self, account: Account, content: PostContent) -> Published:
        if any(m.kind == MediaKind.VIDEO for m in content.media):
            raise NotSupported(
                "bluesky: video is not supported in this version", network=NETWORK, code="video"
            )
        text = unicodedata.normalize("NFC", content.text)
        images = list(content.media)
        if content.link and images and content.link not in text:
            # no card next to images: the link goes in the text, or it would be lost
            text = f"{text}\n{content.link}" if text.strip() else content.link
        self._check(replace(content, text=text))
        with _Session(account) as session:
            facets = build_facets(text, session.resolve_handle)
            embed: Any = None
            if images:
                embed = models.AppBskyEmbedImages.Main(
                    images=[self._upload(session, image) for image in images]
                )
            else:
                links = find_links(text)
                card_link = content.link or (links[0][2] if links else None)
                if card_link:
                    embed = models.AppBskyEmbedExternal.Main(
                        external=models.AppBskyEmbedExternal.External(
                            uri=card_link, title=card_link, description=""
                        )
                    )
            record = models.AppBskyFeedPost.Record(
                text=text,
                created_at=_iso(_utcnow()),
                langs=LANGS,
                facets=facets or None,
                embed=embed,
            )
            return session.create_post(record)

    def _check(self, content: PostContent) -> None:
        problems = self.limits.problems(content)
        if problems:
            raise Rejected(" ".join(problems), network=NETWORK, code="limits")

    def _upload(self, session: _Session, media: Media) -> models.AppBskyEmbedImages.Image:
        """com.atproto.repo.uploadBlob: the raw bytes with their own Content-Type."""
        answer = session.call(
            "uploadBlob",
            lambda c: c.com.atproto.repo.upload_blob(
                media.data, headers={"Content-Type": media.mime_type}
            ),
        )
        return models.AppBskyEmbedImages.Image(alt=media.alt_text, image=answer.blob)

    def reply(self, account: Account, item: ItemRef, text: str) -> Published:
        text = unicodedata.normalize("NFC", text)
        if not text.strip():
            raise Rejected("La réponse est vide.", network=NETWORK, code="empty")
        self._check(PostContent(text=text, idempotency_key="reply"))
        with _Session(account) as session:
            found = session.get_posts([item.external_id])
            if not found:
                raise Rejected(
                    _GONE,
                    f"bluesky: {item.external_id} not found",
                    network=NETWORK,
                    code="not_found",
                )
            parent = found[0]
            parent_ref = _strong_ref(parent.uri, parent.cid)
            root = (_as_dict(parent.record).get("reply") or {}).get("root") or {}
            root_ref = _strong_ref(root["uri"], root["cid"]) if root.get("cid") else parent_ref
            record = models.AppBskyFeedPost.Record(
                text=text,
                created_at=_iso(_utcnow()),
                langs=LANGS,
                facets=build_facets(text, session.resolve_handle) or None,
                reply=models.AppBskyFeedPost.ReplyRef(parent=parent_ref, root=root_ref),
            )
            return session.create_post(record)

    def delete(self, account: Account, item: ItemRef) -> None:
        """com.atproto.repo.deleteRecord, only for a post in our own repository."""
        with _Session(account) as session:
            did, collection, rkey = _split_at_uri(item.external_id)
            if did != session.did or collection != POST or not rkey:
                raise NotSupported(
                    "bluesky: only the account's own posts can be deleted; "
                    "a reply in one of its threads can be hidden",
                    network=NETWORK,
                    code="not_ours",
                )
            session.call(
                "deleteRecord",
                lambda c: c.com.atproto.repo.delete_record(
                    models.ComAtprotoRepoDeleteRecord.Data(repo=did, collection=POST, rkey=rkey)
                ),
            )

    # -- hiding: the threadgate's hiddenReplies on our own root post

    def hide(self, account: Account, item: ItemRef) -> None:
        self._set_hidden(account, item, hidden=True)

    def unhide(self, account: Account, item: ItemRef) -> None:
        self._set_hidden(account, item, hidden=False)

    def _set_hidden(self, account: Account, item: ItemRef, *, hidden: bool) -> None:
        """Read-modify-write of app.bsky.feed.threadgate/<rkey of our root post>: only
        ``hiddenReplies`` changes (``allow`` and anything else are kept as they are; an
        absent ``allow`` means "anyone can reply" and must stay absent). The write is a
        compare-and-swap on the record's CID (``InvalidSwap`` -> ``Transient``)."""
        with _Session(account) as session:
            root = item.root_id or item.post_external_id
            if not root:
                found = session.get_posts([item.external_id])
                if not found:
                    raise Rejected(_GONE, network=NETWORK, code="not_found")
                root = (_as_dict(found[0].record).get("reply") or {}).get("root", {}).get("uri")
            root_did, root_collection, rkey = _split_at_uri(root or "")
            if not root or root == item.external_id or root_did != session.did:
                raise NotSupported(
                    "bluesky: only replies in the account's own threads can be hidden",
                    network=NETWORK,
                    code="not_our_thread",
                )
            if root_collection != POST:
                raise NotSupported("bluesky: not a post thread", network=NETWORK, code="not_post")

            current: dict[str, Any] = {}
            swap: str | None = None
            try:
                existing = session.call(
                    "getRecord",
                    lambda c: c.com.atproto.repo.get_record(
                        models.ComAtprotoRepoGetRecord.Params(
                            repo=session.did, collection=THREADGATE, rkey=rkey
                        )
                    ),
                )
                current, swap = _as_dict(existing.value), existing.cid
            except Rejected as exc:
                if exc.code not in _NOT_FOUND_ERRORS:
                    raise
            hidden_uris: list[str] = list(current.get("hiddenReplies") or [])
            if (item.external_id in hidden_uris) == hidden:
                return  # already so
            if hidden:
                hidden_uris.append(item.external_id)
            else:
                hidden_uris.remove(item.external_id)
            if len(hidden_uris) > MAX_HIDDEN_REPLIES:
                raise Rejected(
                    f"Bluesky ne permet pas de masquer plus de {MAX_HIDDEN_REPLIES} réponses "
                    "dans un même fil.",
                    network=NETWORK,
                    code="too_many_hidden",
                )
            record = {
                **current,
                "$type": THREADGATE,
                "post": root,
                "createdAt": current.get("createdAt") or _iso(_utcnow()),
                "hiddenReplies": hidden_uris,
            }
            session.call(
                "putRecord",
                lambda c: c.com.atproto.repo.put_record(
                    models.ComAtprotoRepoPutRecord.Data(
                        repo=session.did,
                        collection=THREADGATE,
                        rkey=rkey,
                        record=record,
                        swap_record=swap,
                    )
                ),
            )

    # -- reading

    def fetch_inbox(self, account: Account, cursor: str | None) -> Page[InboxEntry]:
        """app.bsky.notification.listNotifications, reasons reply, mention and quote, with
        the cursor described in ``_InboxCursor``: only what is newer than the last call,
        paging back (``has_more``) until it meets what was already delivered."""
        state = _InboxCursor.decode(cursor)
        since = _parse_time(state.since)
        with _Session(account) as session:
            answer = session.call(
                "listNotifications",
                lambda c: c.app.bsky.notification.list_notifications(
                    models.AppBskyNotificationListNotifications.Params(
                        reasons=INBOX_REASONS, limit=INBOX_PAGE_SIZE, cursor=state.page
                    )
                ),
            )
            items: list[InboxEntry] = []
            delivered: set[str] = set()
            reached_known = False
            top: tuple[str | None, list[str]] = (state.top, list(state.top_seen))
            for notification in answer.notifications:
                when = _parse_time(notification.indexed_at)
                if when < since or (when == since and notification.uri in state.seen):
                    reached_known = True
                    continue
                if notification.uri in delivered:
                    continue
                delivered.add(notification.uri)
                top = _newest(top, notification.indexed_at, notification.uri)
                entry = self._notification_entry(notification, session.did)
                if entry is not None:
                    items.append(entry)
        done = reached_known or not answer.cursor or not answer.notifications
        if done:
            newest, newest_seen = top
            if newest is None:
                next_state = _InboxCursor(since=state.since, seen=state.seen)
            elif _parse_time(newest) == since:
                next_state = _InboxCursor(since=state.since, seen=[*state.seen, *newest_seen])
            else:
                next_state = _InboxCursor(since=newest, seen=newest_seen)
        else:
            next_state = _InboxCursor(
                since=state.since, seen=state.seen, page=answer.cursor, top=top[0], top_seen=top[1]
            )
        return Page(items=items, next_cursor=next_state.encode(), has_more=not done)

    def _notification_entry(
        self, notification: models.AppBskyNotificationListNotifications.Notification, did: str
    ) -> InboxEntry | None:
        record = _as_dict(notification.record)
        reply = record.get("reply") or {}
        parent = (reply.get("parent") or {}).get("uri")
        root = (reply.get("root") or {}).get("uri")
        ours = root if _did_of(root) == did else None
        if notification.reason == "reply":
            parent = parent or notification.reason_subject
            kind = ItemKind.COMMENT if _did_of(parent) == did else ItemKind.REPLY
        elif notification.reason in ("mention", "quote"):
            kind = ItemKind.MENTION
            if notification.reason == "quote" and ours is None:
                subject = notification.reason_subject
                ours = subject if _did_of(subject) == did else None
        else:
            return None
        return self._entry(
            kind=kind,
            uri=notification.uri,
            author=notification.author,
            record=record,
            indexed_at=notification.indexed_at,
            post_external_id=ours,
            parent=parent,
            root=root,
            raw=_as_dict(notification),
        )

    def _entry(
        self,
        *,
        kind: ItemKind,
        uri: str,
        author: Any,
        record: dict[str, Any],
        indexed_at: str,
        post_external_id: str | None,
        parent: str | None,
        root: str | None,
        raw: dict[str, Any],
    ) -> InboxEntry:
        handle = author.handle if author.handle != "handle.invalid" else ""
        langs = record.get("langs") or []
        return InboxEntry(
            kind=kind,
            external_id=uri,
            author=Author(
                external_id=author.did,
                handle=handle,
                display_name=author.display_name or "",
                avatar_url=author.avatar or "",
            ),
            text=str(record.get("text") or ""),
            # indexedAt, the time Bluesky saw it: createdAt is declared by the client
            created_at=_parse_time(indexed_at),
            post_external_id=post_external_id,
            parent_id=parent,
            root_id=root,
            permalink=_permalink(handle or author.did, uri),
            language=langs[0] if langs else None,
            raw=raw,
        )

    def search(self, account: Account, query: str, cursor: str | None) -> Page[InboxEntry]:
        """app.bsky.feed.searchPosts, newest first; ``next_cursor`` goes to older results
        and is None at the end."""
        with _Session(account) as session:
            answer = session.call(
                "searchPosts",
                lambda c: c.app.bsky.feed.search_posts(
                    models.AppBskyFeedSearchPosts.Params(
                        q=query, cursor=cursor, limit=SEARCH_PAGE_SIZE, sort="latest"
                    )
                ),
            )
            did = session.did
        items = []
        for post in answer.posts:
            record = _as_dict(post.record)
            reply = record.get("reply") or {}
            root = (reply.get("root") or {}).get("uri")
            items.append(
                self._entry(
                    kind=ItemKind.MENTION,
                    uri=post.uri,
                    author=post.author,
                    record=record,
                    indexed_at=post.indexed_at,
                    post_external_id=root if _did_of(root) == did else None,
                    parent=(reply.get("parent") or {}).get("uri"),
                    root=root,
                    raw=_as_dict(post),
                )
            )
        more = bool(answer.cursor and answer.posts)
        return Page(items=items, next_cursor=answer.cursor if more else None, has_more=more)

    def fetch_account_metrics(self, account: Account, day: dt.date) -> AccountMetrics:
        """app.bsky.actor.getProfile: followers today (Bluesky keeps no history, no reach)."""
        with _Session(account) as session:
            profile = session.call(
                "getProfile",
                lambda c: c.app.bsky.actor.get_profile(
                    models.AppBskyActorGetProfile.Params(actor=session.did)
                ),
            )
        return AccountMetrics(day=day, followers=profile.followers_count)

    def fetch_post_metrics(self, account: Account, external_ids: list[str]) -> list[PostMetrics]:
        """app.bsky.feed.getPosts counts; a deleted post is left out of the answer."""
        if not external_ids:
            return []
        with _Session(account) as session:
            posts = {post.uri: post for post in session.get_posts(list(external_ids))}
        metrics = []
        for uri in external_ids:
            post = posts.get(uri)
            if post is None:
                continue
            shares = None
            if post.repost_count is not None or post.quote_count is not None:
                shares = (post.repost_count or 0) + (post.quote_count or 0)
            metrics.append(
                PostMetrics(
                    external_id=uri,
                    reactions=post.like_count,
                    comments=post.reply_count,
                    shares=shares,
                )
            )
        return metrics

    def gone(self, account: Account, external_ids: list[str]) -> set[str]:
        """app.bsky.feed.getPosts (the first ``GONE_CHECKED``, in batches of 25): a post
        deleted by its author, or whose author left or was taken down, is left out."""
        asked = list(external_ids[:GONE_CHECKED])
        if not asked:
            return set()
        with _Session(account) as session:
            found = {post.uri for post in session.get_posts(asked)}
        return set(asked) - found

    def find_published(
        self, account: Account, content: PostContent, since: dt.datetime
    ) -> Published | None:
        """app.bsky.feed.getAuthorFeed (our posts, no replies, no reposts) back to ``since``;
        a post whose text is ``same_text`` as ``content`` is the earlier attempt."""
        cursor: str | None = None
        with _Session(account) as session:
            for _page in range(FIND_PUBLISHED_MAX_PAGES):
                answer = session.call(
                    "getAuthorFeed",
                    lambda c, cursor=cursor: c.app.bsky.feed.get_author_feed(
                        models.AppBskyFeedGetAuthorFeed.Params(
                            actor=session.did,
                            filter="posts_no_replies",
                            limit=AUTHOR_FEED_PAGE_SIZE,
                            cursor=cursor,
                        )
                    ),
                )
                for item in answer.feed:
                    post = item.post
                    if item.reason is not None or post.author.did != session.did:
                        continue  # a repost, or a pinned post shown again
                    record = _as_dict(post.record)
                    # createdAt is ours here: we wrote it, with the clock ``since`` came from
                    created = _parse_time(str(record.get("createdAt") or post.indexed_at))
                    if created < since:
                        return None
                    if same_text(str(record.get("text") or ""), content.text):
                        return Published(
                            external_id=post.uri,
                            permalink=_permalink(session.handle, post.uri),
                            published_at=created,
                        )
                cursor = answer.cursor
                if not cursor or not answer.feed:
                    break
        return None

    def refresh_credentials(self, account: Account) -> bool:
        """Refresh when the access token has less than ``REFRESH_MARGIN`` left (its ``exp``
        read from the JWT); the refresh token rotates, so ``account`` is updated."""
        if not _expires_soon(account.credentials.get("access_jwt")):
            return False
        session = _Session(account)
        try:
            session.refresh()
        finally:
            session.close()
        return True


# --- connecting -------------------------------------------------------------------------------

_APP_PASSWORD_RE = re.compile(r"^[a-z0-9]{4}(-[a-z0-9]{4}){3}$")


class BlueskyConnector(Connector):
    """An app password, never the account's main password, and never stored: it opens a
    session (com.atproto.server.createSession) whose tokens are what Parvis keeps."""

    network: ClassVar[str] = NETWORK
    uses_oauth: ClassVar[bool] = False
    form_fields: ClassVar[tuple[FormField, ...]] = (
        FormField(
            "handle",
            "Identifiant Bluesky",
            help_text=(
                "Par exemple mairie.bsky.social, ou le nom de domaine de la collectivité "
                "s'il sert d'identifiant (mairie-exemple.fr)."
            ),
        ),
        FormField(
            "app_password",
            "Mot de passe d'application",
            secret=True,
            help_text=(
                "Créez-le dans Bluesky : Paramètres › Confidentialité et sécurité › "
                "Mots de passe d'application (il a la forme xxxx-xxxx-xxxx-xxxx). "
                "Ne saisissez jamais le mot de passe principal du compte. Parvis ne conserve "
                "pas ce mot de passe, et vous pourrez le révoquer à tout moment dans Bluesky."
            ),
        ),
    )

    def connect_with_form(self, form: dict[str, str]) -> list[ConnectableAccount]:
        handle = (form.get("handle") or "").strip().lstrip("@").lower()
        password = (form.get("app_password") or "").strip().lower()
        if not handle or "@" in handle or not _HANDLE_RE.match(handle):
            raise Rejected(
                "Indiquez l'identifiant Bluesky du compte, par exemple mairie.bsky.social.",
                network=NETWORK,
                code="handle",
            )
        if not _APP_PASSWORD_RE.match(password):
            raise Rejected(
                "Ce n'est pas un mot de passe d'application Bluesky (forme xxxx-xxxx-xxxx-xxxx). "
                "Créez-en un dans Paramètres › Confidentialité et sécurité › "
                "Mots de passe d'application.",
                network=NETWORK,
                code="app_password_format",
            )
        secrets = [password]
        pds_url = self._find_pds(handle)
        client = _new_client(pds_url)
        try:
            try:
                session = _xrpc(
                    client,
                    lambda c: c.com.atproto.server.create_session(
                        models.ComAtprotoServerCreateSession.Data(
                            identifier=handle, password=password
                        )
                    ),
                    secrets=secrets,
                    what="createSession",
                )
            except AuthExpired as exc:
                raise Rejected(self._login_refusal(exc.code), exc.message, network=NETWORK) from exc
            pds_url = _pds_from_did_doc(session.did_doc) or pds_url
            secrets += [session.access_jwt, session.refresh_jwt]
            client.update_base_url(pds_url)
            client.request.add_additional_header("Authorization", f"Bearer {session.access_jwt}")
            profile = _xrpc(
                client,
                lambda c: c.app.bsky.actor.get_profile(
                    models.AppBskyActorGetProfile.Params(actor=session.did)
                ),
                secrets=secrets,
                what="getProfile",
            )
        finally:
            client.request.close()
        expiry = _jwt_expiry(session.access_jwt)
        return [
            ConnectableAccount(
                external_id=session.did,
                handle=session.handle,
                display_name=profile.display_name or session.handle,
                credentials={
                    "access_jwt": session.access_jwt,
                    "refresh_jwt": session.refresh_jwt,
                    "did": session.did,
                    "handle": session.handle,
                    "pds_url": pds_url,
                    "expires_at": expiry.isoformat() if expiry else None,
                },
                settings={"pds_url": pds_url},
                token_expires_at=expiry,
            )
        ]

    @staticmethod
    def _login_refusal(code: str) -> str:
        if code == "AuthFactorTokenRequired":
            return (
                "Bluesky demande un code reçu par e-mail : c'est le mot de passe principal "
                "qui a été saisi. Utilisez un mot de passe d'application."
            )
        if code in ("AccountTakedown", "AccountDeactivated"):
            return "Ce compte Bluesky est suspendu ou désactivé."
        return _REASON_BAD_LOGIN

    def _find_pds(self, handle: str) -> str:
        """The account's PDS, from its DID document (handle -> DID by the entryway's
        resolveHandle, DID document from the PLC directory or did:web). The app password
        then goes to that server only, not to Bluesky's if the account lives elsewhere."""
        client = _new_client(ENTRYWAY)
        try:
            try:
                did = _xrpc(
                    client,
                    lambda c: c.com.atproto.identity.resolve_handle(
                        models.ComAtprotoIdentityResolveHandle.Params(handle=handle)
                    ),
                    secrets=(),
                    what="resolveHandle",
                ).did
            except Rejected as exc:
                raise Rejected(
                    "Ce compte Bluesky est introuvable : vérifiez l'identifiant "
                    "(par exemple mairie.bsky.social).",
                    exc.message,
                    network=NETWORK,
                    code="unknown_handle",
                ) from exc
        finally:
            client.request.close()
        if did.startswith("did:plc:"):
            url = f"{PLC_DIRECTORY}/{did}"
        elif did.startswith("did:web:"):
            url = f"https://{did[len('did:web:') :]}/.well-known/did.json"
        else:
            raise Rejected(_REASON_GENERIC, f"bluesky: unknown DID method {did}", network=NETWORK)
        try:
            with http_client() as web:
                answer = web.get(url)
        except httpx.HTTPError as exc:
            raise Transient(
                f"bluesky: DID document {did}: {type(exc).__name__}", network=NETWORK
            ) from exc
        if answer.status_code != 200:
            raise error_for_status(
                answer.status_code, answer.headers, network=NETWORK, detail=f"DID document {did}"
            )
        try:
            pds_url = _pds_from_did_doc(answer.json())
        except ValueError:
            pds_url = None
        if not pds_url:
            raise Transient(f"bluesky: no PDS in the DID document of {did}", network=NETWORK)
        return pds_url
