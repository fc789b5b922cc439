"""UTM parameters on links to the collectivité's own site, and finding links in a text.

Reporting counts "clicks to the collectivité's site" per network and campaign: the site's
analytics (Matomo, Piwik PRO, Eulerian…) read ``utm_source``, ``utm_medium`` and
``utm_campaign``. Only the collectivité's own links get them: tagging a partner's or a
newspaper's link would leak our campaign names to them and can break their pages.

Rules of :func:`add_utm`:

- the link's host is the site's host or one of its subdomains (``www.`` of the site
  address is ignored, so ``https://www.ville.fr`` covers ``ville.fr``,
  ``agenda.ville.fr`` and ``www.ville.fr``); any other host is left untouched;
- ``utm_source=<network>``, ``utm_medium=social``, ``utm_campaign=<slug of the
  campaign>`` (accents removed: "Fête de la musique" → ``fete-de-la-musique``);
- the existing query string is kept byte for byte (nothing re-encoded) and the fragment
  stays last; a UTM parameter already present (in any case) is never overwritten.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from django.utils.text import slugify

__all__ = [
    "UTM_MEDIUM",
    "add_utm",
    "apply_utm_to_text",
    "find_urls",
    "host_of",
    "is_own_site",
]

UTM_MEDIUM = "social"

# A URL in a post: stops at whitespace, angle brackets, double quotes and French quotes.
_URL_RE = re.compile(r"https?://[^\s<>\"«»“”]+", re.IGNORECASE)
# Punctuation that ends a sentence rather than a URL ("Voir https://ville.fr/agenda.").
_TRAILING = ".,;:!?'’…)]}"
_CLOSING = {")": "(", "]": "[", "}": "{"}


def find_urls(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, url)`` of every http(s) link in ``text``, without the punctuation
    that ends the sentence. A closing bracket stays when the URL opened it
    (``https://fr.wikipedia.org/wiki/Parvis_(architecture)``)."""
    found: list[tuple[int, int, str]] = []
    for match in _URL_RE.finditer(text):
        url = match.group()
        while url and url[-1] in _TRAILING:
            last = url[-1]
            if last in _CLOSING and url.count(_CLOSING[last]) >= url.count(last):
                break
            url = url[:-1]
        if len(url) > len("https://"):
            found.append((match.start(), match.start() + len(url), url))
    return found


def host_of(url: str) -> str | None:
    """The lower-case ASCII (IDNA) host of ``url``; None when it has none or is invalid.
    A bare domain (``ville.fr``) is read as ``https://ville.fr``."""
    if "://" not in url:
        url = f"https://{url}"
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _site_host(site_url: str) -> str | None:
    host = host_of(site_url) if site_url else None
    if host and host.startswith("www."):
        host = host[4:]
    return host or None


def is_own_site(url: str, site_url: str) -> bool:
    """Whether ``url`` leads to the collectivité's site (``site_url``) or a subdomain."""
    site = _site_host(site_url)
    host = host_of(url) if url.lower().startswith(("http://", "https://")) else None
    if not site or not host:
        return False
    return host == site or host.endswith(f".{site}")


def add_utm(url: str, *, site_url: str, network: str, campaign: str = "") -> str:
    """``url`` with ``utm_source``, ``utm_medium`` and ``utm_campaign`` added when it leads
    to the collectivité's own site; unchanged otherwise (see the module's rules). An empty
    campaign (or one with no letter or digit) adds no ``utm_campaign``."""
    if not site_url or not is_own_site(url, site_url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    present = {key.lower() for key, _value in parse_qsl(parts.query, keep_blank_values=True)}
    wanted = (
        ("utm_source", slugify(network)),
        ("utm_medium", UTM_MEDIUM),
        ("utm_campaign", slugify(campaign)),
    )
    additions = [
        f"{key}={quote(value, safe='')}" for key, value in wanted if value and key not in present
    ]
    if not additions:
        return url
    query = parts.query
    separator = "&" if query and not query.endswith("&") else ""
    return urlunsplit(parts._replace(query=f"{query}{separator}{'&'.join(additions)}"))


def apply_utm_to_text(text: str, *, site_url: str, network: str, campaign: str = "") -> str:
    """``text`` with :func:`add_utm` applied to every link it contains; the rest of the text
    (punctuation after a link included) is unchanged."""
    if not site_url:
        return text
    pieces: list[str] = []
    cursor = 0
    for start, end, url in find_urls(text):
        pieces.append(text[cursor:start])
        pieces.append(add_utm(url, site_url=site_url, network=network, campaign=campaign))
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
