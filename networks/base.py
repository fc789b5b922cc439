"""The one interface every network adapter implements, and the closed set of errors.

``networks/`` knows nothing of the apps' models: callers hand an adapter an
``Account`` (plain data, credentials already decrypted) and get plain data back.
Adapters never log credentials; the error messages they raise never contain them.

Every method either returns or raises one of ``Transient``, ``RateLimited``,
``AuthExpired``, ``Rejected``, ``NotSupported``: callers handle five cases, whatever
the network.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

# --- errors ---------------------------------------------------------------------------------


class NetworkError(Exception):
    """Base of the closed set. ``message`` is for logs and admins: never a token."""

    def __init__(self, message: str = "", *, network: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.network = network
        self.code = code  # the network's own code, e.g. "190/463" or "429"


class Transient(NetworkError):
    """Try again later with backoff (5xx, timeouts, connection errors, unknown failures)."""


class RateLimited(NetworkError):
    """The network asked us to slow down; ``retry_after`` seconds when it said so."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class AuthExpired(NetworkError):
    """Token expired or revoked, or permission withdrawn: the account must be reconnected."""


class Rejected(NetworkError):
    """The network refused this content or action: never retried. ``reason`` is a French
    sentence shown to the user as is."""

    def __init__(self, reason: str, message: str = "", **kw: Any) -> None:
        super().__init__(message or reason, **kw)
        self.reason = reason


class NotSupported(NetworkError):
    """The network offers no way to do this (e.g. delete a citizen's post on Bluesky)."""


# --- what goes in ---------------------------------------------------------------------------


@dataclass
class Account:
    """What an adapter needs of a connected account.

    ``credentials`` holds tokens (decrypted); ``settings`` non-secret connection data
    (e.g. ``instance_url`` for Mastodon, ``pds_url`` for Bluesky). An adapter that
    refreshes a token calls ``update_credentials``; the caller then stores them again.
    """

    network: str
    external_id: str
    handle: str = ""
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    credentials_changed: bool = field(default=False, repr=False)

    def update_credentials(self, **values: Any) -> None:
        self.credentials.update(values)
        self.credentials_changed = True


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class Media:
    kind: MediaKind
    data: bytes = field(repr=False)
    mime_type: str  # "image/jpeg", "image/png", "video/mp4", ...
    alt_text: str = ""
    filename: str = "media"
    # Where the network can download it, for networks that only take URLs (Instagram):
    # set by the caller when Parvis serves the file publicly; "" otherwise.
    public_url: str = ""


@dataclass(frozen=True)
class PostContent:
    """One variant, ready for one network. ``idempotency_key`` is stable across retries of
    the same variant (adapters pass it where the network accepts one, e.g. Mastodon)."""

    text: str
    idempotency_key: str
    media: tuple[Media, ...] = ()
    link: str | None = None


@dataclass(frozen=True)
class Published:
    external_id: str
    permalink: str
    published_at: dt.datetime | None = None


class ItemKind(StrEnum):
    COMMENT = "comment"  # on one of our posts
    REPLY = "reply"  # to a comment (a thread)
    MENTION = "mention"  # names us elsewhere
    MESSAGE = "message"  # private message


@dataclass(frozen=True)
class Author:
    external_id: str
    handle: str = ""
    display_name: str = ""
    avatar_url: str = ""


@dataclass(frozen=True)
class InboxEntry:
    """One citizen's comment, reply, mention or message, normalised."""

    kind: ItemKind
    external_id: str
    author: Author
    text: str
    created_at: dt.datetime  # aware, UTC
    post_external_id: str | None = None  # our post it belongs to, when it is on one
    parent_id: str | None = None  # the item it answers
    root_id: str | None = None  # the top of its thread
    permalink: str = ""
    language: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    # The author changed the text after posting it: the entry carries the new text, and
    # ``edited_at`` when the network tells it.
    edited_at: dt.datetime | None = None
    # A tombstone: the author (or the network) removed it. Only ``external_id`` (and
    # ``kind``) need to be true; the stored item keeps what was collected for the record.
    removed: bool = False


@dataclass(frozen=True)
class ItemRef:
    """What ``reply``, ``hide``, ``unhide`` and ``delete`` need of a stored item."""

    external_id: str
    kind: ItemKind
    post_external_id: str | None = None
    root_id: str | None = None
    parent_id: str | None = None
    author_handle: str = ""
    author_id: str = ""


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """``next_cursor`` is what the caller stores and gives back on the next call; ``None``
    means "nothing new: keep the cursor you have". ``has_more``: more items are ready now
    -- call again at once with ``next_cursor``. ``listed``: for each of our posts whose
    comments this call read to the end, the ids of the comments and replies it found
    under it, ours and hidden ones included, new or not; a comment stored from that post
    and missing there was removed (the way a network that only answers polls tells it)."""

    items: list[T]
    next_cursor: str | None
    has_more: bool = False
    listed: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountMetrics:
    """``None`` means "not provided by this network", never zero."""

    day: dt.date
    followers: int | None = None
    impressions: int | None = None
    reach: int | None = None
    profile_visits: int | None = None
    link_clicks: int | None = None


@dataclass(frozen=True)
class PostMetrics:
    """``None`` means "not provided by this network", never zero."""

    external_id: str
    impressions: int | None = None
    reach: int | None = None
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    link_clicks: int | None = None
    video_views: int | None = None


# --- limits ---------------------------------------------------------------------------------

_URL_RE = re.compile(r"https?://[^\s]+", re.IGNORECASE)

# X's weighted counting (twitter-text v3): these ranges weigh 1, everything else 2.
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


def _x_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(lo <= code <= hi for lo, hi in _X_LIGHT_RANGES) else 2


@dataclass(frozen=True)
class Limits:
    max_chars: int
    url_length: int | None = None  # every URL counts as this many characters (X: 23)
    weighted: bool = False  # X: CJK and emoji count double
    counts_graphemes: bool = False  # Bluesky: limit in graphemes (and 3000 bytes)
    max_bytes: int | None = None
    max_images: int = 0
    max_videos: int = 0
    mix_images_and_videos: bool = False
    image_formats: tuple[str, ...] = ("image/jpeg", "image/png")
    video_formats: tuple[str, ...] = ("video/mp4",)
    max_image_bytes: int | None = None
    max_video_bytes: int | None = None
    alt_text: bool = False
    alt_text_max: int | None = None
    threads: bool = False
    link_preview: bool = False
    links_clickable: bool = True  # Instagram: links in captions are not

    def count(self, text: str) -> int:
        """Length of ``text`` as the network counts it."""
        text = unicodedata.normalize("NFC", text)
        if self.url_length is not None:
            text = _URL_RE.sub("x" * self.url_length, text)
        if self.weighted:
            # A cluster (emoji with its modifiers, ZWJ sequence, flag) weighs what its
            # first character weighs: 2 for every emoji sequence, as twitter-text counts.
            return sum(_cluster_weight(cluster) for cluster in _clusters(text))
        if self.counts_graphemes:
            return len(_clusters(text))
        return len(text)

    def problems(self, content: PostContent) -> list[str]:
        """French sentences for what this network would refuse (checked before sending)."""
        issues: list[str] = []
        length = self.count(content.text)
        if length > self.max_chars:
            issues.append(
                f"Le texte compte {length} caractères pour une limite de {self.max_chars}."
            )
        if self.max_bytes is not None and len(content.text.encode()) > self.max_bytes:
            issues.append(f"Le texte dépasse {self.max_bytes} octets.")
        images = [m for m in content.media if m.kind == MediaKind.IMAGE]
        videos = [m for m in content.media if m.kind == MediaKind.VIDEO]
        if len(images) > self.max_images:
            issues.append(f"{len(images)} images pour un maximum de {self.max_images}.")
        if len(videos) > self.max_videos:
            issues.append(f"{len(videos)} vidéos pour un maximum de {self.max_videos}.")
        if images and videos and not self.mix_images_and_videos:
            issues.append("Ce réseau ne mélange pas images et vidéos dans une publication.")
        for m in content.media:
            allowed = self.image_formats if m.kind == MediaKind.IMAGE else self.video_formats
            if m.mime_type not in allowed:
                issues.append(f"Format non accepté : {m.mime_type} ({m.filename}).")
            cap = self.max_image_bytes if m.kind == MediaKind.IMAGE else self.max_video_bytes
            if cap is not None and len(m.data) > cap:
                issues.append(f"{m.filename} dépasse {cap // 1_000_000} Mo.")
            if m.alt_text and self.alt_text_max and len(m.alt_text) > self.alt_text_max:
                issues.append(
                    f"Le texte alternatif de {m.filename} dépasse {self.alt_text_max} caractères."
                )
        return issues


def _cluster_weight(cluster: str) -> int:
    if len(cluster) > 1 and any(
        not unicodedata.combining(c) and (ord(c) >= 0x1F000 or c in "\u200d\u20e3\ufe0f")
        for c in cluster[1:]
    ):
        return 2
    return _x_weight(cluster[0])


def _extends(char: str) -> bool:
    code = ord(char)
    return bool(
        unicodedata.combining(char)
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag sequences (subdivision flags)
        or code == 0x20E3  # keycap
    )


def _clusters(text: str) -> list[str]:
    """Extended grapheme clusters, approximated without a dependency: a base character
    with its combining marks, variation selectors, skin tones, keycaps and tags; ZWJ
    sequences; regional-indicator pairs (flags)."""
    clusters: list[str] = []
    join_next = False
    for char in text:
        code = ord(char)
        if not clusters:
            clusters.append(char)
            join_next = False
            continue
        last = clusters[-1]
        if char == "\u200d":
            clusters[-1] = last + char
            join_next = True
            continue
        regional = 0x1F1E6 <= code <= 0x1F1FF
        pairs_flag = regional and len(last) == 1 and 0x1F1E6 <= ord(last) <= 0x1F1FF
        if join_next or _extends(char) or pairs_flag:
            clusters[-1] = last + char
        else:
            clusters.append(char)
        join_next = False
    return clusters


# --- the adapter interface --------------------------------------------------------------------


class Adapter(ABC):
    """One network. Stateless: everything comes in through ``Account``."""

    network: ClassVar[str]
    limits: ClassVar[Limits]

    def limits_for(self, account: Account) -> Limits:
        """Effective limits for this account (a Mastodon instance may allow more)."""
        return self.limits

    @abstractmethod
    def publish(self, account: Account, content: PostContent) -> Published: ...

    @abstractmethod
    def fetch_inbox(self, account: Account, cursor: str | None) -> Page[InboxEntry]: ...

    @abstractmethod
    def reply(self, account: Account, item: ItemRef, text: str) -> Published: ...

    def hide(self, account: Account, item: ItemRef) -> None:
        raise NotSupported(f"{self.network}: hiding is not offered", network=self.network)

    def unhide(self, account: Account, item: ItemRef) -> None:
        raise NotSupported(f"{self.network}: unhiding is not offered", network=self.network)

    def delete(self, account: Account, item: ItemRef) -> None:
        raise NotSupported(f"{self.network}: deleting is not offered", network=self.network)

    @abstractmethod
    def fetch_account_metrics(self, account: Account, day: dt.date) -> AccountMetrics: ...

    @abstractmethod
    def fetch_post_metrics(
        self, account: Account, external_ids: list[str]
    ) -> list[PostMetrics]: ...

    def search(self, account: Account, query: str, cursor: str | None) -> Page[InboxEntry]:
        raise NotSupported(f"{self.network}: search is not offered", network=self.network)

    def gone(self, account: Account, external_ids: list[str]) -> set[str]:
        """Of these messages by others that we collected, those the network says are no
        longer there (removed by their author, or by the network), for networks that tell
        a poller nothing of a removal. It may look at the first ones only (its own bound
        on calls); what it did not look at is not in the answer."""
        raise NotSupported(f"{self.network}: cannot tell a removal", network=self.network)

    @abstractmethod
    def find_published(
        self, account: Account, content: PostContent, since: dt.datetime
    ) -> Published | None:
        """Did an earlier attempt post ``content`` after ``since``? Look at our recent posts
        and compare text (and idempotency key where the network keeps one)."""

    def refresh_credentials(self, account: Account) -> bool:
        """Refresh tokens that are about to expire; True if ``account`` was updated."""
        return False

    def check(self, account: Account) -> list[tuple[str, bool, str]]:
        """Read-only checks for ``manage.py network_check``: (what, ok, detail)."""
        results: list[tuple[str, bool, str]] = []
        try:
            page = self.fetch_inbox(account, None)
            results.append(("lecture des messages", True, f"{len(page.items)} élément(s)"))
        except NetworkError as exc:
            results.append(("lecture des messages", False, f"{type(exc).__name__}: {exc.message}"))
        try:
            metrics = self.fetch_account_metrics(account, dt.date.today() - dt.timedelta(days=1))
            results.append(("statistiques du compte", True, f"abonnés : {metrics.followers}"))
        except NetworkError as exc:
            results.append(
                ("statistiques du compte", False, f"{type(exc).__name__}: {exc.message}")
            )
        return results


def same_text(a: str, b: str) -> bool:
    """Compare a post we sent with one we read back (networks trim, normalise, shorten
    links): whitespace-insensitive, NFC, URLs ignored."""

    def norm(s: str) -> str:
        s = unicodedata.normalize("NFC", _URL_RE.sub("", s))
        return " ".join(s.split()).casefold()

    return norm(a) == norm(b)
