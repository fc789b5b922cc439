"""What Facebook Pages and Instagram professional accounts share: one Meta app, one pinned
Graph API version, one Graph client (python-facebook-api's ``GraphAPI``), one error mapping,
one inbox cursor and one OAuth flow (Facebook Login).

References (official):
- errors: https://developers.facebook.com/docs/graph-api/guides/error-handling
- Instagram publishing errors:
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes
- rate limits and usage headers: https://developers.facebook.com/docs/graph-api/overview/rate-limiting
- login: https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow and
  https://developers.facebook.com/docs/facebook-login/guides/advanced/oidc-token (PKCE)
- tokens: https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final
from urllib.parse import urlencode

import requests
from django.conf import settings
from pyfacebook import GraphAPI, LibraryError, RateLimit

from networks.base import (
    Adapter,
    AuthExpired,
    MediaKind,
    NetworkError,
    NotSupported,
    PostContent,
    RateLimited,
    Rejected,
    Transient,
)
from networks.connect import (
    AuthorizationStart,
    ConnectableAccount,
    Connector,
    pkce_pair,
)
from networks.http import (
    CONNECT_TIMEOUT_SECONDS,
    TIMEOUT_SECONDS,
    USER_AGENT,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)

# The one pinned version (released 2026-07-29). Bump it here, nowhere else.
GRAPH_API_VERSION: Final = "v26.0"
GRAPH_URL: Final = "https://graph.facebook.com/"
DIALOG_URL: Final = f"https://www.facebook.com/{GRAPH_API_VERSION}/dialog/oauth"
TOKEN_URL: Final = f"{GRAPH_URL}{GRAPH_API_VERSION}/oauth/access_token"

# Up to this many ids per multi-object read (GET /?ids=a,b,c).
IDS_PER_REQUEST: Final = 50


def app_settings(network: str) -> dict[str, str]:
    return dict(getattr(settings, "PARVIS_NETWORK_APPS", {}).get(network, {}))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_time(value: str | None) -> dt.datetime | None:
    """Graph timestamps look like ``2026-11-20T09:15:02+0000``."""
    if not value:
        return None
    try:
        parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def epoch(moment: dt.datetime | dt.date) -> int:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day, tzinfo=dt.UTC)
    return int(moment.timestamp())


# --- errors ---------------------------------------------------------------------------------

# Instagram publishing subcodes (error-codes reference), then the codes that carry them.
_TRANSIENT = "transient"
_REJECTED = "rejected"
_RATE = "rate"

_IG_SUBCODES: dict[int, tuple[str, str]] = {
    2207001: (_TRANSIENT, "Instagram server error"),
    2207003: (_TRANSIENT, "media download timed out"),
    2207006: (_TRANSIENT, "media not found, container to recreate"),
    2207008: (_TRANSIENT, "container temporarily unavailable or expired"),
    2207020: (_TRANSIENT, "media expired, container to recreate"),
    2207027: (_TRANSIENT, "media not ready for publishing"),
    2207032: (_TRANSIENT, "container creation failed"),
    2207053: (_TRANSIENT, "unknown upload error"),
    2207042: (_RATE, "daily publishing limit reached"),
    2207004: (_REJECTED, "L'image dépasse la taille acceptée par Instagram (8 Mo au plus)."),
    2207005: (_REJECTED, "Format d'image refusé par Instagram : utilisez une image JPEG."),
    2207009: (
        _REJECTED,
        "Instagram refuse les proportions de cette image (entre 4:5 et 1,91:1).",
    ),
    2207010: (
        _REJECTED,
        "La légende est trop longue pour Instagram "
        "(2 200 caractères, 30 mots-dièse et 20 mentions au plus).",
    ),
    2207023: (_REJECTED, "Instagram ne reconnaît pas ce type de média."),
    2207026: (_REJECTED, "Format de vidéo refusé par Instagram (MP4 ou MOV attendu)."),
    2207028: (_REJECTED, "Un carrousel Instagram compte de 2 à 10 médias."),
    2207035: (_REJECTED, "Instagram a refusé l'identification de produits."),
    2207036: (_REJECTED, "Instagram a refusé l'identification de produits."),
    2207037: (_REJECTED, "Instagram a refusé l'identification de produits."),
    2207040: (_REJECTED, "Trop de comptes identifiés ou mentionnés (20 au plus)."),
    2207050: (
        _REJECTED,
        "Le compte Instagram est restreint ou inactif : "
        "connectez-vous à l'application Instagram pour le régulariser.",
    ),
    2207051: (
        _REJECTED,
        "Instagram a restreint cette action pour protéger sa communauté (soupçon de spam).",
    ),
    2207052: (
        _REJECTED,
        "Instagram n'a pas pu télécharger le média depuis son adresse publique.",
    ),
    2207057: (_REJECTED, "Instagram a refusé le réglage de la vignette de la vidéo."),
}
_IG_CODES: dict[int, tuple[str, str]] = {
    -2: (_TRANSIENT, "media download failed"),
    -1: (_TRANSIENT, "Instagram server error"),
    24: (_TRANSIENT, "container not found or expired"),
    9007: (_TRANSIENT, "media not ready for publishing"),
    25: _IG_SUBCODES[2207050],
    352: _IG_SUBCODES[2207026],
    9004: _IG_SUBCODES[2207052],
    36000: _IG_SUBCODES[2207004],
    36001: _IG_SUBCODES[2207005],
    36003: _IG_SUBCODES[2207009],
    36004: _IG_SUBCODES[2207010],
}

_AUTH_CODES = frozenset({102, 190})
_RATE_CODES = frozenset({4, 17, 32, 341, 613, *range(80001, 80015)})
_GENERIC_REASON = "Meta a refusé cette demande."
GONE: Final = "100/33"  # the object does not exist (any more) or cannot be seen
_USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-page-usage")


def retry_after_from_usage(headers: Mapping[str, str]) -> float | None:
    """Seconds until access comes back: ``estimated_time_to_regain_access`` (minutes) in the
    usage headers, else the standard headers."""
    lower = {k.lower(): v for k, v in headers.items()}
    minutes: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "estimated_time_to_regain_access" and isinstance(value, int | float):
                    minutes.append(float(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in _USAGE_HEADERS:
        raw = lower.get(name)
        if not raw:
            continue
        try:
            walk(json.loads(raw))
        except ValueError:
            continue
    positive = [m for m in minutes if m > 0]
    if positive:
        return max(positive) * 60
    return retry_after_seconds(headers)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def graph_error(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    network: str,
    secrets: Iterable[str] = (),
) -> NetworkError:
    """Turn a failed Graph answer into one of the closed set of errors."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        detail = f"{network}: HTTP {status} without a Graph error body"
        if status == 429:
            return RateLimited(
                detail, retry_after=retry_after_from_usage(headers), network=network, code="429"
            )
        if status == 401:
            return AuthExpired(detail, network=network, code="401")
        if status >= 500 or status < 400:
            return Transient(detail, network=network, code=str(status))
        return Rejected(_GENERIC_REASON, detail, network=network, code=str(status))

    code = _as_int(error.get("code"))
    subcode = _as_int(error.get("error_subcode"))
    code_text = f"{code}/{subcode}" if subcode else str(code)
    text = str(error.get("message") or "")[:300]
    message = redact(
        f"{network}: Graph error {code_text} (HTTP {status}, {error.get('type', '')}): {text}",
        secrets,
    )
    kw: dict[str, Any] = {"network": network, "code": code_text}

    ig = _IG_SUBCODES.get(subcode or 0) or (_IG_CODES.get(code) if code is not None else None)
    if ig is not None:  # first: 4/2207051 is about content, 9/2207042 a quota
        kind, reason = ig
        if kind == _TRANSIENT:
            return Transient(message, **kw)
        if kind == _RATE:
            return RateLimited(message, retry_after=retry_after_from_usage(headers), **kw)
        return Rejected(reason, message, **kw)
    if code in _AUTH_CODES:
        return AuthExpired(message, **kw)
    if code in _RATE_CODES:
        return RateLimited(message, retry_after=retry_after_from_usage(headers), **kw)
    if code == 368:
        return Rejected(
            "Meta a temporairement bloqué cette action pour non-respect de ses règles.",
            message,
            **kw,
        )
    if code == 506:
        return Rejected(
            "Facebook refuse cette publication : elle est identique à une publication récente.",
            message,
            **kw,
        )
    if code == 1609005:
        return Rejected("Facebook n'a pas pu lire le lien joint à la publication.", message, **kw)
    if code in (1, 2) or error.get("is_transient") is True or status >= 500:
        return Transient(message, **kw)
    if code == 10 and "viewers" in text.lower():
        # Instagram media insights below the audience threshold: about the content, not auth.
        return Rejected(
            "Pas assez de vues pour que Meta fournisse des statistiques.", message, **kw
        )
    if code is not None and (code in (3, 10) or 200 <= code <= 299):
        return AuthExpired(message, **kw)  # permission not granted or withdrawn
    if code == 100:
        if subcode == 33:
            return Rejected("Cet élément n'existe plus ou n'est plus accessible.", message, **kw)
        return Rejected("Meta a refusé la demande : un paramètre n'est pas valide.", message, **kw)
    if status == 401:
        return AuthExpired(message, **kw)
    if status == 429:
        return RateLimited(message, retry_after=retry_after_from_usage(headers), **kw)
    return Rejected(_GENERIC_REASON, message, **kw)


def container_error(status: str, *, network: str) -> NetworkError:
    """An Instagram container that ended in ERROR: its ``status`` text names the subcode."""
    match = re.search(r"\b(2207\d{3})\b", status or "")
    subcode = int(match.group(1)) if match else None
    known = _IG_SUBCODES.get(subcode or 0)
    message = f"{network}: container ended in ERROR ({str(status)[:200]})"
    code = f"ERROR/{subcode}" if subcode else "ERROR"
    if known is None:
        return Rejected(
            "Instagram n'a pas pu traiter ce média.", message, network=network, code=code
        )
    kind, reason = known
    if kind == _REJECTED:
        return Rejected(reason, message, network=network, code=code)
    if kind == _RATE:
        return RateLimited(message, network=network, code=code)
    return Transient(message, network=network, code=code)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- the Graph client -----------------------------------------------------------------------


class _UsageNotTracked(RateLimit):
    """Usage headers are read where they matter, on rate-limit errors. pyfacebook's own
    tracking raises on keys it does not know, which would turn a success into a failure."""

    def set_limit(self, headers: Any) -> None:
        return None


class GraphClient(GraphAPI):
    """pyfacebook's ``GraphAPI`` pinned to ``GRAPH_API_VERSION``, with our timeouts, no
    sleeping on usage headers, and every failure raised as one of the closed set of errors
    (no message ever carries the token or the app secret; the transport's own exceptions,
    whose text can hold a URL with the token, are never chained)."""

    def __init__(
        self,
        network: str,
        access_token: str = "",
        *,
        app_id: str = "",
        app_secret: str = "",
    ) -> None:
        self.network = network
        self._secrets = tuple(s for s in (access_token, app_secret) if s)
        try:
            super().__init__(
                app_id=app_id or None,
                app_secret=app_secret or None,
                access_token=access_token or None,
                oauth_flow=not access_token,
                version=GRAPH_API_VERSION,
                sleep_on_rate_limit=False,
                base_url=GRAPH_URL,
                timeout=(CONNECT_TIMEOUT_SECONDS, TIMEOUT_SECONDS),
            )
        except LibraryError:
            raise AuthExpired(f"{network}: no access token", network=network) from None
        self.session.headers["User-Agent"] = USER_AGENT
        self.rate_limit = _UsageNotTracked()

    @classmethod
    def for_account(cls, network: str, credentials: Mapping[str, Any]) -> GraphClient:
        token = str(credentials.get("access_token") or "")
        if not token:
            raise AuthExpired(f"{network}: no access token stored", network=network)
        app = app_settings(network)
        # appsecret_proof is added to every call when the secret is configured
        return cls(network, token, app_secret=app.get("client_secret", ""))

    def _request(
        self,
        url: str,
        args: dict[str, Any] | None = None,
        post_args: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        verb: str = "GET",
        auth_need: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        try:
            return super()._request(url, args, post_args, files, verb, auth_need, **kwargs)
        except requests.Timeout:
            raise Transient(
                f"{self.network}: Graph request timed out", network=self.network, code="timeout"
            ) from None
        except (requests.RequestException, LibraryError) as exc:
            raise Transient(
                f"{self.network}: Graph request failed ({type(exc).__name__})",
                network=self.network,
                code="network",
            ) from None

    def _parse_response(self, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if status < 400 and isinstance(body, dict) and "error" not in body:
            return body
        if status < 400 and body is True:
            return {"success": True}
        if status < 400 and body is None:
            raise Transient(
                f"{self.network}: Graph answered HTTP {status} without JSON",
                network=self.network,
                code=str(status),
            )
        raise graph_error(
            status, response.headers, body, network=self.network, secrets=self._secrets
        )

    # Thin names over the SDK's own calls, for readability in the adapters.

    def read(self, path: str, **params: Any) -> dict[str, Any]:
        return self.get(path, params)

    def create(
        self, path: str, data: dict[str, Any], files: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        object_id, _sep, connection = path.partition("/")
        return self.post_object(object_id, connection or None, data=data, files=files)

    def remove(self, object_id: str) -> dict[str, Any]:
        return self.delete_object(object_id)

    def read_many(self, ids: list[str], fields: str) -> dict[str, dict[str, Any]]:
        """Several objects at once (GET /?ids=...). Graph refuses the whole call when one id
        no longer exists: that batch is then read one id at a time, leaving the gone out."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), IDS_PER_REQUEST):
            batch = ids[start : start + IDS_PER_REQUEST]
            try:
                found.update(self.get_objects(ids=",".join(batch), fields=fields))
            except Rejected as exc:
                if exc.code.split("/")[0] != "100":
                    raise
                for object_id in batch:
                    try:
                        found[object_id] = self.get_object(object_id, fields=fields)
                    except Rejected as gone:
                        if gone.code != GONE:
                            raise
                        logger.info("%s: %s no longer exists", self.network, object_id)
        return found

    def token(self, params: dict[str, str]) -> str:
        """GET /oauth/access_token (code exchange or fb_exchange_token): the new token."""
        answer = self._parse_response(self._request(url=TOKEN_URL, args=params, auth_need=False))
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise Transient(f"{self.network}: no access token in the answer", network=self.network)
        return token

    def check_success(self, answer: Mapping[str, Any]) -> None:
        if answer.get("success") is False:
            raise Transient(f"{self.network}: Graph answered success=false", network=self.network)


# --- the inbox cursor -----------------------------------------------------------------------

# Comments can become visible a little after their timestamp; each stream re-reads this
# much before its newest item and skips the ids it already gave.
OVERLAP_SECONDS: Final = 600
FIRST_POLL_LOOKBACK: Final = dt.timedelta(days=30)


@dataclass
class StreamMark:
    newest: int = 0  # epoch seconds of the newest item given
    seen: dict[str, int] = field(default_factory=dict)  # id -> epoch, within the overlap
    resume: dict[str, Any] | None = None  # where an interrupted read goes on


@dataclass
class InboxCursor:
    """Opaque to callers: base64 of a small JSON. One mark per stream (a post's comments,
    the tags edge, a hashtag...), so a stream read in pages never loses another's items."""

    floor: int
    marks: dict[str, StreamMark] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    VERSION: ClassVar[int] = 1

    @classmethod
    def decode(cls, value: str | None) -> InboxCursor:
        fresh = cls(floor=epoch(utcnow() - FIRST_POLL_LOOKBACK))
        if not value:
            return fresh
        try:
            data = json.loads(base64.urlsafe_b64decode(value.encode()))
            if data.get("v") != cls.VERSION:
                raise ValueError("version")
            marks = {
                str(key): StreamMark(
                    int(m["n"]), {str(i): int(t) for i, t in m["s"].items()}, m.get("r")
                )
                for key, m in data["m"].items()
            }
            return cls(floor=int(data["f"]), marks=marks, extra=dict(data.get("x") or {}))
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            logger.warning("meta: unreadable inbox cursor, starting again")
            return fresh

    def encode(self) -> str:
        marks: dict[str, Any] = {}
        for key, mark in self.marks.items():
            marks[key] = {"n": mark.newest, "s": mark.seen}
            if mark.resume:
                marks[key]["r"] = mark.resume
        data: dict[str, Any] = {"v": self.VERSION, "f": self.floor, "m": marks}
        if self.extra:
            data["x"] = self.extra
        raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode()

    def mark(self, stream: str) -> StreamMark:
        return self.marks.setdefault(stream, StreamMark())

    def since(self, stream: str) -> int:
        """Lower bound (epoch) to ask the network for on this stream."""
        mark = self.marks.get(stream)
        if mark is None or not mark.newest:
            return self.floor
        return max(self.floor, mark.newest - OVERLAP_SECONDS)

    def is_new(self, stream: str, item_id: str, created: dt.datetime) -> bool:
        moment = epoch(created)
        if moment < self.since(stream):
            return False
        mark = self.marks.get(stream)
        return mark is None or item_id not in mark.seen

    def see(self, stream: str, item_id: str, created: dt.datetime) -> None:
        mark = self.mark(stream)
        mark.newest = max(mark.newest, epoch(created))
        mark.seen[item_id] = epoch(created)
        # older ids can no longer pass is_new: forget them so the cursor stays small
        limit = mark.newest - OVERLAP_SECONDS
        mark.seen = {i: t for i, t in mark.seen.items() if t >= limit}

    def keep_only(self, streams: Iterable[str]) -> None:
        wanted = set(streams)
        self.marks = {k: v for k, v in self.marks.items() if k in wanted}


# --- connecting (Facebook Login) --------------------------------------------------------------


class MetaConnector(Connector):
    """Facebook Login with the code flow, PKCE S256 (Meta documents it for manually built
    flows; the app secret is sent as well), a long-lived user token, then the Pages the admin
    chose with their Page tokens (which do not expire when obtained from a long-lived user
    token)."""

    required_app_settings: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")
    env_names: ClassVar[tuple[str, ...]] = ("META_APP_ID", "META_APP_SECRET")
    scopes: ClassVar[tuple[str, ...]] = ()
    page_fields: ClassVar[str] = "id,name,username,access_token,tasks"
    # Meta still marks its PKCE support "in testing": one switch turns it off if need be.
    use_pkce: ClassVar[bool] = True

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> AuthorizationStart:
        app = self._app()
        params = {
            "client_id": app["client_id"],
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": ",".join(self.scopes),
        }
        flow_data = {"redirect_uri": redirect_uri}
        if self.use_pkce:
            verifier, challenge = pkce_pair()
            params.update(code_challenge=challenge, code_challenge_method="S256")
            flow_data["code_verifier"] = verifier
        return AuthorizationStart(url=f"{DIALOG_URL}?{urlencode(params)}", flow_data=flow_data)

    def finish(
        self, *, redirect_uri: str, query: dict[str, str], flow_data: dict[str, Any]
    ) -> list[ConnectableAccount]:
        if query.get("error"):
            raise Rejected(
                "Connexion annulée : l'autorisation n'a pas été donnée sur Facebook.",
                f"{self.network}: authorisation refused ({query.get('error_reason', '')})",
                network=self.network,
                code=str(query.get("error")),
            )
        code = query.get("code")
        if not code:
            raise Rejected(
                "Facebook n'a pas renvoyé de code d'autorisation : recommencez la connexion.",
                network=self.network,
            )
        app = self._app()
        anonymous = GraphClient(
            self.network, app_id=app["client_id"], app_secret=app["client_secret"]
        )
        exchange = {
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "redirect_uri": flow_data.get("redirect_uri") or redirect_uri,
            "code": code,
        }
        if flow_data.get("code_verifier"):
            exchange["code_verifier"] = flow_data["code_verifier"]
        short = anonymous.token(exchange)
        long_lived = anonymous.token(
            {
                "grant_type": "fb_exchange_token",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "fb_exchange_token": short,
            },
        )
        user = GraphClient(self.network, long_lived, app_secret=app["client_secret"])
        self._check_permissions(user)
        pages: list[dict[str, Any]] = []
        params: dict[str, Any] = {"fields": self.page_fields, "limit": 100}
        while True:
            answer = user.read("me/accounts", **params)
            pages.extend(answer.get("data") or [])
            after = ((answer.get("paging") or {}).get("cursors") or {}).get("after")
            if not after or not (answer.get("paging") or {}).get("next"):
                break
            params["after"] = after
        return self.accounts_from_pages(pages)

    def accounts_from_pages(self, pages: list[dict[str, Any]]) -> list[ConnectableAccount]:
        raise NotImplementedError

    def _app(self) -> dict[str, str]:
        app = self.app_settings()
        if self.missing_settings():
            raise Rejected(
                "La connexion à Meta n'est pas configurée sur ce serveur "
                "(META_APP_ID, META_APP_SECRET).",
                network=self.network,
            )
        return app

    def _check_permissions(self, user: GraphClient) -> None:
        answer = user.read("me/permissions")
        granted = {
            p.get("permission") for p in answer.get("data") or [] if p.get("status") == "granted"
        }
        missing = [s for s in self.scopes if s not in granted]
        if missing:
            raise Rejected(
                "Autorisations refusées sur Facebook : " + ", ".join(missing) + ". "
                "Recommencez la connexion en les acceptant toutes.",
                f"{self.network}: permissions not granted: {', '.join(missing)}",
                network=self.network,
                code="permissions",
            )


def check_content(adapter: Adapter, content: PostContent) -> None:
    """What this version refuses before calling Meta (the caller checks limits too)."""
    if any(m.kind == MediaKind.VIDEO for m in content.media):
        raise NotSupported(
            f"{adapter.network}: video publishing is not implemented", network=adapter.network
        )
    if not content.text.strip() and not content.media and not content.link:
        raise Rejected("La publication est vide.", network=adapter.network, code="empty")
    problems = adapter.limits.problems(content)
    if problems:
        raise Rejected(" ".join(problems), network=adapter.network, code="limits")


def text_with_link(text: str, link: str | None) -> str:
    """Where the network takes no separate link, the link goes at the end of the text."""
    if link and link not in text:
        return f"{text}\n\n{link}".strip()
    return text
