"""The composer's check engine: what is wrong, or worth a second look, in one variant.

Pure functions over plain data: no model, no database, no network call. The composer
(htmx), the API and the services build a :class:`VariantDraft` (the text, media, link and
date of one variant for one account), the account's :class:`EditorialRules`, an
:class:`~publishing.election.ElectionContext`, and call :func:`check_variant`; they get
back a list of :class:`Finding`, errors first.

- ``error``: the variant cannot be submitted or published as is (the network would refuse
  it, or the law forbids it: accessibility of public bodies, paid advertising in a
  pre-election period).
- ``warning``: probably a mistake; the rédacteur may go on. Election warnings need a
  validateur's acknowledgement (:func:`publishing.election.needs_election_acknowledgement`).
- ``info``: a reminder.

Codes (``Finding.code``) are stable: the interface, the API and the tests rely on them;
messages are French sentences (gettext msgids) and may change. Every check, its level, its
reason and its heuristic's limits are listed in ``docs/composer-checks.md``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from networks.base import Limits, Media, MediaKind, PostContent
from publishing.utm import apply_utm_to_text, find_urls, host_of

if TYPE_CHECKING:
    from publishing.election import ElectionContext

__all__ = [
    "SHORTENER_HOSTS",
    "EditorialRules",
    "Field",
    "Finding",
    "Level",
    "MediaInfo",
    "VariantDraft",
    "check_address_form",
    "check_all_caps",
    "check_cadence",
    "check_editorial",
    "check_emojis",
    "check_fancy_letters",
    "check_hashtag_case",
    "check_hashtags_used",
    "check_limits",
    "check_links",
    "check_media_accessibility",
    "check_signature",
    "check_text_accessibility",
    "check_variant",
    "check_words_to_avoid",
    "count_by_level",
    "emoji_spans",
    "find_phrases",
    "fold",
    "has_errors",
    "hashtags_in",
    "is_fancy",
    "outgoing_text",
    "quote_list",
    "run_together",
    "search_folded",
    "text_image_reason",
    "whole_words",
]


# --- what goes in and what comes out ---------------------------------------------------------


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Field(StrEnum):
    """The part of the composer a finding points at."""

    TEXT = "text"
    MEDIA = "media"
    LINK = "link"
    SCHEDULE = "schedule"


_LEVEL_ORDER = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}


@dataclass(frozen=True)
class Finding:
    level: Level
    code: str  # stable, e.g. "limits.too_long", "a11y.alt_missing"
    message: str  # French (gettext), ready to show
    field: Field

    def as_dict(self) -> dict[str, str]:
        """For the API and the htmx partial."""
        return {
            "level": str(self.level),
            "code": self.code,
            "message": self.message,
            "field": str(self.field),
        }


@dataclass(frozen=True)
class MediaInfo:
    """What the checks need of one attached file (no bytes: ``size`` is its length)."""

    kind: MediaKind
    mime_type: str
    size: int = 0
    alt_text: str = ""
    filename: str = "media"
    width: int | None = None
    height: int | None = None
    has_subtitles: bool = False  # videos: burnt-in or a caption track

    @classmethod
    def from_asset(cls, asset: Any) -> MediaInfo:
        """From a ``publishing.models.MediaAsset`` (read by attribute only)."""
        name = getattr(asset.file, "name", "") or "media"
        return cls(
            kind=MediaKind(asset.kind),
            mime_type=asset.mime_type,
            size=asset.size or 0,
            alt_text=asset.alt_text,
            filename=name.rsplit("/", 1)[-1],
            width=asset.width,
            height=asset.height,
            has_subtitles=asset.has_subtitles,
        )


@dataclass(frozen=True)
class VariantDraft:
    """One variant as the composer holds it. ``scheduled_at`` is aware; None means
    "publish now". ``network`` is a ``networks.registry.Network`` value."""

    text: str
    network: str
    media: Sequence[MediaInfo] = ()
    link: str | None = None
    scheduled_at: dt.datetime | None = None


@dataclass(frozen=True)
class EditorialRules:
    """The account's editorial line, plus how many posts the account already has in the
    week of ``scheduled_at`` (published or scheduled, this variant excluded: the caller
    counts them). ``address_form``: "vouvoiement", "tutoiement", or "" for no rule.
    ``cadence_per_week`` None or 0: no objective, no cadence check."""

    address_form: str = "vouvoiement"
    hashtags: Sequence[str] = ()
    words_to_avoid: Sequence[str] = ()
    signature: str = ""
    cadence_per_week: int | None = None
    posts_already_this_week: int = 0

    @classmethod
    def from_line(cls, line: Any, *, posts_already_this_week: int = 0) -> EditorialRules:
        """From a ``collectivites.models.EditorialLine`` (read by attribute only)."""
        return cls(
            address_form=line.address_form,
            hashtags=tuple(line.hashtag_list),
            words_to_avoid=tuple(line.words_to_avoid_list),
            signature=line.signature,
            cadence_per_week=line.cadence_per_week,
            posts_already_this_week=posts_already_this_week,
        )


def _finding(level: Level, code: str, message: str, where: Field) -> Finding:
    return Finding(level=level, code=code, message=message, field=where)


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any finding blocks submission."""
    return any(f.level == Level.ERROR for f in findings)


# --- text helpers ------------------------------------------------------------------------------

_APOSTROPHES = "’‘ʼ´`′"
_EXPANSIONS = {"œ": "oe", "æ": "ae", "ß": "ss"}


def _fold_char(char: str) -> str:
    if char in _APOSTROPHES:
        return "'"
    if char in "\u00a0\u202f\u2007":
        return " "
    out = []
    for c in unicodedata.normalize("NFKC", char).casefold():  # 𝗚 → g, ﬁ → fi
        if c in _EXPANSIONS:
            out.append(_EXPANSIONS[c])
            continue
        base = unicodedata.normalize("NFD", c)
        out.append("".join(b for b in base if not unicodedata.combining(b)))
    return "".join(out)


def _fold_with_index(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each of its characters, its index in ``text``."""
    chars: list[str] = []
    index: list[int] = []
    for i, char in enumerate(text):
        for c in _fold_char(char):
            chars.append(c)
            index.append(i)
    return "".join(chars), index


def fold(text: str) -> str:
    """Lower case, no accents, one apostrophe, ordinary spaces, decorative letters read
    plainly: "L’Été" → "l'ete", "𝗚𝗥𝗔𝗧𝗨𝗜𝗧" → "gratuit"."""
    return _fold_with_index(text)[0]


def _phrase_pattern(phrase: str) -> str:
    """A regex for ``phrase`` (folded), whitespace flexible, as whole words."""
    words = fold(phrase).split()
    return r"\s+".join(re.escape(w) for w in words)


def whole_words(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)(?:{pattern})(?!\w)")


def search_folded(text: str, regex: re.Pattern[str]) -> list[tuple[int, int, str]]:
    """Matches of ``regex`` (written for folded text) in ``text``: ``(start, end, original
    substring)``, positions in ``text``."""
    folded, index = _fold_with_index(text)
    found = []
    for match in regex.finditer(folded):
        if match.end() == match.start():
            continue
        start, end = index[match.start()], index[match.end() - 1] + 1
        found.append((start, end, text[start:end]))
    return found


def find_phrases(text: str, phrases: Iterable[str]) -> list[tuple[str, str]]:
    """``(phrase, as written in text)`` for each phrase found in ``text`` as whole words,
    case-, accent- and whitespace-insensitive ("Évènement" finds "evenement")."""
    found = []
    for phrase in phrases:
        pattern = _phrase_pattern(phrase)
        if not pattern:
            continue
        hits = search_folded(text, whole_words(pattern))
        if hits:
            found.append((phrase, hits[0][2]))
    return found


def quote_list(items: Iterable[str], limit: int = 3) -> str:
    unique: list[str] = []
    for item in items:
        if item not in unique:
            unique.append(item)
    shown = ", ".join(f"« {item} »" for item in unique[:limit])
    if len(unique) > limit:
        shown += "…"
    return shown


def _network_label(network: str) -> str:
    from networks.registry import Network

    try:
        return str(Network(network).label)
    except ValueError:
        return network


def _megabytes(size: int) -> str:
    return number_format(size / 1_000_000, decimal_pos=1 if size % 1_000_000 else 0)


def _format_name(mime_type: str) -> str:
    names = {"image/jpeg": "JPEG", "video/quicktime": "MOV", "image/svg+xml": "SVG"}
    return names.get(mime_type, mime_type.rpartition("/")[2].upper() or mime_type)


# --- 1. network limits ---------------------------------------------------------------------------


def outgoing_text(draft: VariantDraft) -> str:
    """The text as the adapters send it: the link is added at the end when the text does
    not already contain it (X, Mastodon, Facebook always; others when there is media).
    Counting this text errs on the safe side."""
    if draft.link and draft.link not in draft.text:
        return f"{draft.text.rstrip()}\n\n{draft.link}".strip()
    return draft.text


def _post_content(draft: VariantDraft) -> PostContent:
    media = tuple(
        Media(
            kind=m.kind,
            data=b"",  # sizes are checked from MediaInfo.size, not from bytes
            mime_type=m.mime_type,
            alt_text=m.alt_text,
            filename=m.filename,
        )
        for m in draft.media
    )
    return PostContent(
        text=outgoing_text(draft), idempotency_key="check", media=media, link=draft.link
    )


def check_limits(draft: VariantDraft, limits: Limits) -> list[Finding]:
    """What the network would refuse: length as it counts it (``Limits.count``), bytes,
    number and mix of media, formats, file sizes, alt text length; plus any rule of the
    adapter's own ``Limits.problems`` (e.g. X: an animated GIF goes alone) as
    ``limits.network_rule``. All errors."""
    findings: list[Finding] = []
    net = _network_label(draft.network)
    text = outgoing_text(draft)

    if not text.strip() and not draft.media:
        findings.append(
            _finding(
                Level.ERROR,
                "limits.empty",
                _("La publication est vide : ajoutez un texte, une image ou un lien."),
                Field.TEXT,
            )
        )

    length = limits.count(text)
    if length > limits.max_chars:
        findings.append(
            _finding(
                Level.ERROR,
                "limits.too_long",
                _(
                    "Le texte compte %(length)d caractères pour une limite de %(max)d sur "
                    "%(network)s : retirez-en %(excess)d."
                )
                % {
                    "length": length,
                    "max": limits.max_chars,
                    "network": net,
                    "excess": length - limits.max_chars,
                },
                Field.TEXT,
            )
        )
    if limits.max_bytes is not None:
        size = len(unicodedata.normalize("NFC", text).encode())
        if size > limits.max_bytes:
            findings.append(
                _finding(
                    Level.ERROR,
                    "limits.too_many_bytes",
                    _(
                        "Le texte pèse %(size)d octets pour une limite de %(max)d sur "
                        "%(network)s (les émojis et les lettres accentuées en comptent "
                        "plusieurs)."
                    )
                    % {"size": size, "max": limits.max_bytes, "network": net},
                    Field.TEXT,
                )
            )

    images = [m for m in draft.media if m.kind == MediaKind.IMAGE]
    videos = [m for m in draft.media if m.kind == MediaKind.VIDEO]
    if len(images) > limits.max_images:
        if limits.max_images == 0:
            message = _("%(network)s n'accepte pas d'image dans une publication.") % {
                "network": net
            }
        else:
            message = _("%(count)d images pour un maximum de %(max)d sur %(network)s.") % {
                "count": len(images),
                "max": limits.max_images,
                "network": net,
            }
        findings.append(_finding(Level.ERROR, "limits.too_many_images", message, Field.MEDIA))
    if len(videos) > limits.max_videos:
        if limits.max_videos == 0:
            message = _("Parvis ne publie pas de vidéo sur %(network)s.") % {"network": net}
        else:
            message = _("%(count)d vidéos pour un maximum de %(max)d sur %(network)s.") % {
                "count": len(videos),
                "max": limits.max_videos,
                "network": net,
            }
        findings.append(_finding(Level.ERROR, "limits.too_many_videos", message, Field.MEDIA))
    if images and videos and not limits.mix_images_and_videos:
        findings.append(
            _finding(
                Level.ERROR,
                "limits.media_mixed",
                _(
                    "%(network)s ne mélange pas images et vidéos dans une publication : "
                    "gardez les unes ou les autres."
                )
                % {"network": net},
                Field.MEDIA,
            )
        )

    for m in draft.media:
        allowed = limits.image_formats if m.kind == MediaKind.IMAGE else limits.video_formats
        if m.mime_type not in allowed:
            findings.append(
                _finding(
                    Level.ERROR,
                    "limits.format_not_accepted",
                    _(
                        "Format non accepté sur %(network)s : %(format)s (%(file)s). "
                        "Formats acceptés : %(allowed)s."
                    )
                    % {
                        "network": net,
                        "format": _format_name(m.mime_type),
                        "file": m.filename,
                        "allowed": ", ".join(_format_name(a) for a in allowed) or "—",
                    },
                    Field.MEDIA,
                )
            )
        cap = limits.max_image_bytes if m.kind == MediaKind.IMAGE else limits.max_video_bytes
        if cap is not None and m.size > cap:
            findings.append(
                _finding(
                    Level.ERROR,
                    "limits.file_too_large",
                    _("%(file)s pèse %(size)s Mo pour un maximum de %(max)s Mo sur %(network)s.")
                    % {
                        "file": m.filename,
                        "size": _megabytes(m.size),
                        "max": _megabytes(cap),
                        "network": net,
                    },
                    Field.MEDIA,
                )
            )
        if m.alt_text and limits.alt_text_max and len(m.alt_text) > limits.alt_text_max:
            findings.append(
                _finding(
                    Level.ERROR,
                    "limits.alt_too_long",
                    _(
                        "Le texte alternatif de %(file)s compte %(length)d caractères pour "
                        "un maximum de %(max)d sur %(network)s."
                    )
                    % {
                        "file": m.filename,
                        "length": len(m.alt_text),
                        "max": limits.alt_text_max,
                        "network": net,
                    },
                    Field.MEDIA,
                )
            )

    # Rules an adapter adds in its own Limits subclass: what it reports beyond the shared
    # checks above (which Limits.problems also makes, worded without codes).
    content = _post_content(draft)
    shared = set(Limits.problems(limits, content))
    for problem in limits.problems(content):
        if problem not in shared:
            where = Field.MEDIA if draft.media else Field.TEXT
            findings.append(_finding(Level.ERROR, "limits.network_rule", problem, where))

    if not limits.links_clickable:
        has_link = bool(draft.link) or bool(find_urls(draft.text))
        if has_link:
            findings.append(
                _finding(
                    Level.WARNING,
                    "limits.link_not_clickable",
                    _(
                        "Les liens ne sont pas cliquables dans une publication %(network)s : "
                        "renvoyez au lien du profil ou donnez une adresse lisible à recopier."
                    )
                    % {"network": net},
                    Field.LINK if draft.link else Field.TEXT,
                )
            )
    return findings


# --- 3a. accessibility of media and links -----------------------------------------------------

# An alt text that says nothing (RGAA 1.3: the alternative must be relevant).
_EMPTY_ALTS = {
    "image",
    "photo",
    "img",
    "picture",
    "visuel",
    "illustration",
    "media",
    "capture",
    "photo 1",
    "image 1",
}
# Words that say an image is made of text (a poster, a flyer, a programme…).
_TEXT_IMAGE_RE = re.compile(
    r"(?:affiche|flyer|visuel|programme|infographie|tract|brochure|plaquette|depliant"
    r"|invitation|carton|menu|horaires)s?"
)
_POSTER_RATIO = 1.4  # height / width of A-format posters (√2 ≈ 1.414) and stories
_BANNER_RATIO = 2.5  # width / height of banners and covers

SHORTENER_HOSTS = frozenset(
    {
        "bit.ly",
        "bitly.com",
        "bitly.is",
        "tinyurl.com",
        "goo.gl",
        "ow.ly",
        "buff.ly",
        "is.gd",
        "v.gd",
        "t.ly",
        "cutt.ly",
        "rebrand.ly",
        "tiny.cc",
        "shorturl.at",
        "rb.gy",
        "lnkd.in",
        "urlz.fr",
        "short.gy",
        "s.id",
        "tr.im",
        "x.co",
        "bl.ink",
        "shorturl.me",
    }
)


def _stem(filename: str) -> str:
    return fold(filename.rpartition(".")[0] or filename)


def check_media_accessibility(draft: VariantDraft, limits: Limits) -> list[Finding]:
    """Images need a relevant text alternative (RGAA criteria 1.1 to 1.3), text in images
    must be available as text (RGAA 1.8), videos need captions (RGAA 4.3)."""
    findings: list[Finding] = []
    net = _network_label(draft.network)
    images = [m for m in draft.media if m.kind == MediaKind.IMAGE]
    for m in images:
        alt = m.alt_text.strip()
        if limits.alt_text and not alt:
            findings.append(
                _finding(
                    Level.ERROR,
                    "a11y.alt_missing",
                    _(
                        "%(file)s n'a pas de texte alternatif : décrivez ce que montre "
                        "l'image (obligatoire pour un service public, RGAA)."
                    )
                    % {"file": m.filename},
                    Field.MEDIA,
                )
            )
        elif alt and (
            fold(alt) in _EMPTY_ALTS or fold(alt) in {_stem(m.filename), fold(m.filename)}
        ):
            findings.append(
                _finding(
                    Level.WARNING,
                    "a11y.alt_meaningless",
                    _(
                        "Le texte alternatif de %(file)s (« %(alt)s ») ne décrit pas "
                        "l'image : dites ce qu'elle montre ou apporte."
                    )
                    % {"file": m.filename, "alt": alt},
                    Field.MEDIA,
                )
            )
        reason = text_image_reason(m)
        if reason:
            findings.append(
                _finding(
                    Level.INFO,
                    "a11y.image_text",
                    _(
                        "%(file)s semble contenir du texte (%(reason)s) : reprenez ce texte "
                        "dans la publication ou dans le texte alternatif, les lecteurs "
                        "d'écran ne lisent pas une image."
                    )
                    % {"file": m.filename, "reason": reason},
                    Field.MEDIA,
                )
            )
    if images and not limits.alt_text:
        findings.append(
            _finding(
                Level.INFO,
                "a11y.alt_unsupported",
                _(
                    "%(network)s ne permet pas de texte alternatif : décrivez l'image dans "
                    "le texte de la publication."
                )
                % {"network": net},
                Field.MEDIA,
            )
        )
    for m in draft.media:
        if m.kind == MediaKind.VIDEO and not m.has_subtitles:
            findings.append(
                _finding(
                    Level.WARNING,
                    "a11y.video_no_subtitles",
                    _(
                        "La vidéo %(file)s n'a pas de sous-titres : ajoutez-en (incrustés ou "
                        "en fichier) pour les personnes sourdes et celles qui regardent sans "
                        "le son."
                    )
                    % {"file": m.filename},
                    Field.MEDIA,
                )
            )
    return findings


def text_image_reason(media: MediaInfo) -> str:
    """Why ``media`` (an image) seems to carry text, or "": a word such as "affiche",
    "flyer", "programme" in its file name or alt text, or a poster or banner shape."""
    if media.kind != MediaKind.IMAGE:
        return ""
    for source in (media.filename, media.alt_text):
        spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", source)  # "AfficheFete" → 2 words
        for word in re.split(r"[^a-z0-9]+", fold(spaced)):
            if _TEXT_IMAGE_RE.fullmatch(word):
                return _("« %(word)s » dans son nom ou sa description") % {"word": word}
    if media.width and media.height:
        if media.height / media.width >= _POSTER_RATIO:
            return _("format affiche")
        if media.width / media.height >= _BANNER_RATIO:
            return _("format bannière")
    return ""


def check_links(draft: VariantDraft) -> list[Finding]:
    """Shortened links (bit.ly…) hide where they lead: citizens cannot tell an official
    page from a scam, and screen-reader users hear a meaningless address."""
    findings: list[Finding] = []
    candidates: list[tuple[str, Field]] = [
        (url, Field.TEXT) for _s, _e, url in find_urls(draft.text)
    ]
    if draft.link:
        candidates.append((draft.link, Field.LINK))
    seen: set[str] = set()
    for url, where in candidates:
        host = host_of(url)
        if not host or url in seen:
            continue
        seen.add(url)
        bare = host[4:] if host.startswith("www.") else host
        if bare in SHORTENER_HOSTS:
            findings.append(
                _finding(
                    Level.WARNING,
                    "a11y.link_shortened",
                    _(
                        "Le lien %(url)s est raccourci : on ne voit pas où il mène. Donnez "
                        "l'adresse complète de la page."
                    )
                    % {"url": url},
                    where,
                )
            )
    return findings


# --- 2. editorial line ------------------------------------------------------------------------

_TU_WORDS = ("tu", "te", "toi", "ton", "ta", "tes", "tien", "tienne", "tiens", "tiennes")
_TU_RE = re.compile(r"(?<!\w)(?:" + "|".join(_TU_WORDS) + r")(?!\w)|(?<![\w'-])t'(?=\w)")
_VOUS_RE = re.compile(r"(?<!\w)(?:vous|votre|vos|votres)(?!\w)")
# "ton" is also a noun ("changer de ton" is ambiguous; "le ton", "un ton" are not).
_TON_NOUN_BEFORE = re.compile(r"(?:^|\W)(?:le|un|du|au|ce|cet|quel|meme|bon|sur)\s+$")
_VOUS_COMPOUNDS = ("rendez-", "garde-a-")


def check_words_to_avoid(text: str, words: Iterable[str]) -> list[Finding]:
    """One warning per word of the editorial line's list found as a whole word."""
    return [
        _finding(
            Level.WARNING,
            "editorial.word_to_avoid",
            _("« %(found)s » fait partie des mots à éviter de la ligne éditoriale de ce compte.")
            % {"found": found},
            Field.TEXT,
        )
        for _word, found in find_phrases(text, words)
    ]


def _address_hits(text: str, form: str) -> list[str]:
    folded, index = _fold_with_index(_without_urls_same_length(text))
    hits: list[str] = []
    regex = _TU_RE if form == "tutoiement" else _VOUS_RE
    for match in regex.finditer(folded):
        before = folded[max(0, match.start() - 20) : match.start()]
        word = match.group()
        if word == "ton" and _TON_NOUN_BEFORE.search(before):
            continue
        if form == "vouvoiement" and any(before.endswith(c) for c in _VOUS_COMPOUNDS):
            continue
        hits.append(text[index[match.start()] : index[match.end() - 1] + 1])
    return hits


def check_address_form(text: str, address_form: str) -> list[Finding]:
    """Tutoiement in a vouvoiement line (tu, te, t', toi, ton, ta, tes, tien…) or
    vouvoiement in a tutoiement line (vous, votre, vos), whole words. "rendez-vous" is not
    vouvoiement; "le ton", "un ton" are the noun. Quoted speech is not told apart."""
    if address_form == "vouvoiement":
        hits = _address_hits(text, "tutoiement")
        if hits:
            return [
                _finding(
                    Level.WARNING,
                    "editorial.tutoiement",
                    _(
                        "Le texte tutoie (%(words)s) alors que la ligne éditoriale de ce "
                        "compte vouvoie le public."
                    )
                    % {"words": quote_list(hits)},
                    Field.TEXT,
                )
            ]
    elif address_form == "tutoiement":
        hits = _address_hits(text, "vouvoiement")
        if hits:
            return [
                _finding(
                    Level.WARNING,
                    "editorial.vouvoiement",
                    _(
                        "Le texte vouvoie (%(words)s) alors que la ligne éditoriale de ce "
                        "compte tutoie le public."
                    )
                    % {"words": quote_list(hits)},
                    Field.TEXT,
                )
            ]
    return []


_HASHTAG_RE = re.compile(r"(?<![\w&/#])#(\w+)")


def _without_urls(text: str) -> str:
    pieces, cursor = [], 0
    for start, end, _url in find_urls(text):
        pieces.append(text[cursor:start])
        pieces.append(" ")
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def hashtags_in(text: str) -> list[str]:
    """The hashtags of ``text`` without "#", in order (URL fragments are not hashtags)."""
    return _HASHTAG_RE.findall(_without_urls(text))


def check_hashtags_used(text: str, hashtags: Sequence[str]) -> list[Finding]:
    """Info when none of the editorial line's hashtags is in the text (compared without
    case or accents)."""
    wanted = [h.strip().lstrip("#") for h in hashtags if h.strip().lstrip("#")]
    if not wanted:
        return []
    used = {fold(h) for h in hashtags_in(text)}
    if any(fold(h) in used for h in wanted):
        return []
    return [
        _finding(
            Level.INFO,
            "editorial.hashtags_unused",
            _("Aucun mot-dièse de la ligne éditoriale : pensez à %(tags)s.")
            % {"tags": ", ".join(f"#{h}" for h in wanted[:5])},
            Field.TEXT,
        )
    ]


def check_signature(text: str, signature: str) -> list[Finding]:
    """Info when the line's signature is not in the text (dashes and spaces around it,
    case and accents do not matter)."""
    core = re.sub(r"^\W+|\W+$", "", fold(signature))
    if not core:
        return []
    if " ".join(core.split()) in " ".join(fold(text).split()):
        return []
    return [
        _finding(
            Level.INFO,
            "editorial.signature_missing",
            _("La signature de ce compte n'apparaît pas : terminez par « %(signature)s ».")
            % {"signature": signature.strip()},
            Field.TEXT,
        )
    ]


def check_cadence(rules: EditorialRules) -> list[Finding]:
    """Warning when the account already has its weekly objective of posts."""
    target = rules.cadence_per_week
    done = rules.posts_already_this_week
    if not target or done < target:
        return []
    return [
        _finding(
            Level.WARNING,
            "editorial.cadence_exceeded",
            ngettext(
                "%(count)d publication déjà cette semaine sur ce compte pour un objectif "
                "de %(target)d.",
                "%(count)d publications déjà cette semaine sur ce compte pour un objectif "
                "de %(target)d.",
                done,
            )
            % {"count": done, "target": target},
            Field.SCHEDULE,
        )
    ]


def check_editorial(text: str, rules: EditorialRules) -> list[Finding]:
    return [
        *check_words_to_avoid(text, rules.words_to_avoid),
        *check_address_form(text, rules.address_form),
        *check_hashtags_used(text, rules.hashtags),
        *check_signature(text, rules.signature),
        *check_cadence(rules),
    ]


# --- 3b. accessibility of the text ------------------------------------------------------------


# Common French words, folded, for telling "#vivreensemble" (two words run together) from
# "#environnement" (one long word). Function words are in _SMALL_WORDS: a tag needs two
# words outside it to count as several words ("#parcours" is not "par" + "cours").
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SMALL_WORDS = _words(
    "a au aux d de des du en et l la le les ma mon mes nos notre par pour sa son ses sur "
    "ta ton tes un une vos votre y il elle on nous vous ils qui que ou avec sans chez dans "
    "plus moins tout tous toute toutes ce cet cette ces c j n s t"
)
_LEXICON = _words(
    """
    vivre ensemble ville villes mairie maire conseil municipal municipale municipaux
    commune communes communal communale quartier quartiers fete fetes musique musiques
    culture culturel culturelle sport sports sportif sportive ecole ecoles jeunesse jeune
    jeunes enfant enfants famille familles senior seniors solidarite solidaire sante
    environnement nature planete climat ecologie energie eau dechets tri proprete
    recyclage velo velos mobilite transport transports bus tram route routes rue rues
    travaux chantier chantiers parc parcs jardin jardins marche marches noel ete hiver
    printemps automne rentree vacances piscine bibliotheque mediatheque musee theatre
    cinema concert concerts festival spectacle expo exposition patrimoine histoire
    memoire journee journees semaine nuit soir matin jour jours mois annee europeenne
    europe france region departement metropole agglo agglomeration intercommunalite
    territoire territoires emploi emplois economie commerce commerces commercant
    commercants artisan artisans entreprise entreprises logement logements habitat
    urbanisme securite prevention police pompiers secours alerte meteo canicule
    inondation risque risques citoyen citoyens citoyenne citoyennete democratie
    participative participatif budget vote elections election inscription inscriptions
    recrutement handicap accessibilite inclusion egalite femmes hommes droits
    numerique internet service services public publique accueil info infos information
    informations actu actus agenda sortie sorties loisirs tourisme visite visites
    decouverte decouvrir balade balades randonnee foret mer montagne lac riviere
    plage port centre coeur vieux grand grande petit petite beau belle bel bon bonne
    nouveau nouvelle nouvel neuf ouvert ouverte ouvertes ouverts porte portes journal
    magazine lettre newsletter reunion reunions debat debats consultation concertation
    projet projets avenir futur durable developpement transition sobriete
    biodiversite arbre arbres fleur fleurs ville fleurie propre sante bien etre
    bienvenue bonjour bravo merci felicitations joyeux heureux heureuse happy
    olympique olympiques jeux paralympiques flamme relais course courses
    commemoration ceremonie armistice memorial victoire liberation anniversaire
    inauguration rassemblement manifestation championnat exceptionnel exceptionnelle
    administration communication participation transformation renouvellement
    apprentissage stationnement assainissement determination intergenerationnel
    internationale international reconnaissance restauration collectivite collectivites
    territoriale territoriales amenagement ecologique environnemental
    environnementale responsable responsables associatif associative associations
    association benevole benevoles volontaire volontaires solidaires
    saint sainte st ste mer bains val mont
    responsabilite professionnel professionnelle bienveillance entrepreneuriat
    accompagnement investissement financement renovation rehabilitation modernisation
    revitalisation vegetalisation vaccination sensibilisation harcelement
    discrimination consommation alimentation agriculture gastronomie intercommunal
    intercommunale metropolitain metropolitaine departemental departementale regional
    regionale municipales legislatives presidentielle europeennes independance
    extraordinaire incontournable inoubliable remerciements felicitations animation
    animations illumination illuminations photographie programmation fonctionnement
    gouvernement generation generations intergenerationnelle numerisation
    dematerialisation simplification cybersecurite infrastructure requalification
    reamenagement embellissement fleurissement deneigement debroussaillage
    lyon paris marseille toulouse nice nantes strasbourg montpellier bordeaux lille
    rennes reims toulon grenoble dijon angers nimes brest tours limoges amiens metz
    besancon perpignan orleans rouen caen nancy argenteuil montreuil roubaix tourcoing
    avignon poitiers pau calais dunkerque bretagne normandie occitanie provence alsace
    lorraine bourgogne auvergne corse savoie vendee
    vide grenier greniers brocante repas bal feu feux artifice carnaval salon foire forum
    trail soiree blanche blanc verte vert rose bleu rouge octobre novembre decembre
    janvier fevrier mars avril mai juin juillet aout septembre lundi mardi mercredi jeudi
    vendredi samedi dimanche
    """
)
_LONG_SINGLE_WORD = 12  # letters; few French words are longer (they are in _LEXICON)


def _known(word: str) -> bool:
    if word in _LEXICON or word in _SMALL_WORDS:
        return True
    for suffix in ("s", "x", "e", "es"):
        if word.endswith(suffix) and word[: -len(suffix)] in _LEXICON:
            return True
    return False


def _segment(word: str) -> list[str] | None:
    """A split of ``word`` into known words, preferring the fewest pieces; None if none."""
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 20), end):
            prefix = best[start]
            if prefix is None:
                continue
            piece = word[start:end]
            if _known(piece):
                candidate = [*prefix, piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[len(word)]


def run_together(chunk: str) -> bool:
    """Whether ``chunk`` (letters of one case run, folded) reads as several words glued
    together: it splits into at least two known content words, or it is longer than 12
    letters and is not one known word."""
    if len(chunk) < 2 or _known(chunk):
        return False
    pieces = _segment(chunk)
    if pieces and sum(1 for p in pieces if p not in _SMALL_WORDS) >= 2:
        return True
    return len(chunk) > _LONG_SINGLE_WORD


def _camel_chunks(tag: str) -> list[str]:
    """Runs of letters as a reader sees words in a tag: "VivreÀLyon2025" → Vivre, À, Lyon;
    "JOParis" → JO, Paris; an all-capital tag is one run ("VIVREENSEMBLE")."""
    chunks: list[str] = []
    for run in re.findall(r"[^\W\d_]+", tag):
        if run.isupper():
            chunks.append(run)
            continue
        current = ""
        for i, char in enumerate(run):
            following = run[i + 1 : i + 2]
            if current and char.isupper() and (not current[-1].isupper() or following.islower()):
                chunks.append(current)
                current = ""
            current += char
        chunks.append(current)
    return chunks


def check_hashtag_case(text: str) -> list[Finding]:
    """Hashtags of several words must show each word with a capital (#VivreEnsemble, not
    #vivreensemble): screen readers then read the words instead of spelling a jumble.

    Heuristic: each run of the tag between capitals is folded and flagged when it splits
    into at least two known French words of a civic lexicon (function words such as
    "de", "la", "par" do not count as words on their own) or when it has more than 12
    letters and is not a known single word. Words outside the lexicon glued to each
    other ("#marchedenoel" is caught, "#brocantedimanche" is not) can be missed."""
    bad = []
    for tag in hashtags_in(text):
        if any(run_together(fold(chunk)) for chunk in _camel_chunks(tag)):
            bad.append(f"#{tag}")
    if not bad:
        return []
    return [
        _finding(
            Level.WARNING,
            "a11y.hashtag_case",
            _(
                "Mettez une majuscule à chaque mot des mots-dièse (%(tags)s, par exemple "
                "#VivreEnsemble) : les lecteurs d'écran pourront les lire."
            )
            % {"tags": quote_list(bad)},
            Field.TEXT,
        )
    ]


# Emoji: pictographic blocks, plus the few symbols that have an emoji form.
_EMOJI_RANGES = (
    (0x1F004, 0x1F004),
    (0x1F0CF, 0x1F0CF),
    (0x1F18E, 0x1F18E),
    (0x1F191, 0x1F19A),
    (0x1F200, 0x1F2FF),
    (0x1F300, 0x1FAFF),
    (0x2600, 0x27BF),
    (0x231A, 0x231B),
    (0x23E9, 0x23F3),
    (0x23F8, 0x23FA),
    (0x2B05, 0x2B07),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
)
_REGIONAL = (0x1F1E6, 0x1F1FF)


def _is_emoji_base(char: str, following: str = "") -> bool:
    code = ord(char)
    if any(lo <= code <= hi for lo, hi in _EMOJI_RANGES):
        return True
    # Any symbol followed by the emoji presentation selector (©️, ↔️, ‼️).
    return following == "\ufe0f" and unicodedata.category(char).startswith("S")


def _emoji_extends(char: str) -> bool:
    code = ord(char)
    return (
        code in (0xFE0F, 0xFE0E, 0x20E3)
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tags (subdivision flags)
    )


def emoji_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each emoji as a reader sees it: skin tones, ZWJ sequences
    (👨‍👩‍👧), flags (🇫🇷) and keycaps (1️⃣) are one emoji each."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        char, start = text[i], i
        code = ord(char)
        following = text[i + 1] if i + 1 < n else ""
        if _REGIONAL[0] <= code <= _REGIONAL[1]:
            i += 2 if following and _REGIONAL[0] <= ord(following) <= _REGIONAL[1] else 1
            spans.append((start, i))
            continue
        if char in "0123456789#*":
            j = i + 1
            if j < n and text[j] == "\ufe0f":
                j += 1
            if j < n and text[j] == "\u20e3":
                spans.append((start, j + 1))
                i = j + 1
            else:
                i += 1
            continue
        if _is_emoji_base(char, following):
            i += 1
            while i < n:
                if _emoji_extends(text[i]):
                    i += 1
                elif text[i] == "\u200d" and i + 1 < n:
                    i += 2  # the joined emoji, its own extenders follow
                else:
                    break
            spans.append((start, i))
            continue
        i += 1
    return spans


_MAX_EMOJIS = 3


def check_emojis(text: str) -> list[Finding]:
    """Screen readers read every emoji's name aloud ("visage souriant avec des yeux
    rieurs, peau claire"). Warnings: emojis as bullets at the start of lines, inside a
    word, in the middle of a sentence (followed by words on the same line), or more than
    three in all. Put a few at the end of sentences."""
    spans = emoji_spans(text)
    if not spans:
        return []
    findings: list[Finding] = []
    bullets, inside, middle = [], [], []
    for start, end in spans:
        emoji = text[start:end]
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end == -1 else line_end
        before, after = text[line_start:start], text[end:line_end]
        if not before.strip():
            bullets.append(emoji)
        elif before[-1:].isalpha() and after[:1].isalpha():
            inside.append(emoji)
        elif any(c.isalnum() for c in _HASHTAG_RE.sub("", _strip_emojis(after))):
            middle.append(emoji)
    if bullets:
        findings.append(
            _finding(
                Level.WARNING,
                "a11y.emoji_bullets",
                ngettext(
                    "%(count)d ligne commence par un émoji (%(emojis)s) : le lecteur d'écran "
                    "lit son nom avant le texte ; préférez un tiret.",
                    "%(count)d lignes commencent par un émoji (%(emojis)s) : le lecteur "
                    "d'écran lit leur nom avant chaque ligne ; préférez des tirets.",
                    len(bullets),
                )
                % {"count": len(bullets), "emojis": " ".join(dict.fromkeys(bullets))},
                Field.TEXT,
            )
        )
    if inside:
        findings.append(
            _finding(
                Level.WARNING,
                "a11y.emoji_in_word",
                _(
                    "Émoji au milieu d'un mot (%(emojis)s) : le mot devient illisible pour "
                    "un lecteur d'écran."
                )
                % {"emojis": " ".join(dict.fromkeys(inside))},
                Field.TEXT,
            )
        )
    if middle:
        findings.append(
            _finding(
                Level.WARNING,
                "a11y.emoji_mid_sentence",
                _(
                    "Émoji au milieu d'une phrase (%(emojis)s) : son nom coupe la lecture ; "
                    "placez les émojis en fin de phrase et ne remplacez pas de mots par "
                    "des émojis."
                )
                % {"emojis": " ".join(dict.fromkeys(middle))},
                Field.TEXT,
            )
        )
    if len(spans) > _MAX_EMOJIS:
        findings.append(
            _finding(
                Level.WARNING,
                "a11y.emoji_too_many",
                _(
                    "%(count)d émojis pour un maximum conseillé de %(max)d : chacun est lu "
                    "à voix haute par les lecteurs d'écran."
                )
                % {"count": len(spans), "max": _MAX_EMOJIS},
                Field.TEXT,
            )
        )
    return findings


def _strip_emojis(text: str) -> str:
    spans = emoji_spans(text)
    if not spans:
        return text
    out, cursor = [], 0
    for start, end in spans:
        out.append(text[cursor:start])
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


_STRIKE_MARKS = {"\u0332", "\u0333", "\u0335", "\u0336", "\u0337", "\u0338", "\u0305"}


def is_fancy(char: str) -> bool:
    """Letters and digits drawn from symbol blocks to look bold, italic, script, circled,
    small capitals, struck through… Screen readers spell them out or skip them, search
    does not find them."""
    code = ord(char)
    if 0x1D400 <= code <= 0x1D7FF:  # Mathematical Alphanumeric Symbols
        return True
    if 0xFF10 <= code <= 0xFF19 or 0xFF21 <= code <= 0xFF3A or 0xFF41 <= code <= 0xFF5A:
        return True  # fullwidth digits and letters
    if 0x2460 <= code <= 0x24FF or 0x1F100 <= code <= 0x1F18D:
        return True  # enclosed alphanumerics (①, Ⓐ, 🅐, 🄰…)
    if char in _STRIKE_MARKS:
        return True
    if 0x2100 <= code <= 0x214F:  # letterlike: ℂ ℍ ℊ ℬ… (not №, ™, ℃)
        plain = unicodedata.normalize("NFKC", char)
        return len(plain) == 1 and plain.isascii() and plain.isalpha()
    return unicodedata.name(char, "").startswith("LATIN LETTER SMALL CAPITAL")


def _plain(text: str) -> str:
    out = []
    for char in text:
        if char in _STRIKE_MARKS:
            continue
        name = unicodedata.name(char, "")
        if name.startswith("LATIN LETTER SMALL CAPITAL") and len(name.split()[-1]) == 1:
            out.append(name.split()[-1].lower())
            continue
        out.append(unicodedata.normalize("NFKC", char))
    return unicodedata.normalize("NFC", "".join(out))


def check_fancy_letters(text: str) -> list[Finding]:
    """Error: "fancy" Unicode letters (𝗴𝗿𝗮𝘀, 𝘪𝘵𝘢𝘭𝘪𝘲𝘶𝘦, ｌａｒｇｅ, Ⓒⓔⓡⓒⓛⓔ, ᴘᴇᴛɪᴛᴇꜱ
    ᴄᴀᴘɪᴛᴀʟᴇꜱ, b̶a̶r̶r̶é̶). The message quotes the first sample and its plain reading."""
    marks = "".join("F" if is_fancy(c) else (" " if c.isspace() else "o") for c in text)
    runs = [m.span() for m in re.finditer(r"F(?:[ o]{0,2}F)*", marks)]
    if not runs:
        return []
    start, end = runs[0]
    if text[start] in _STRIKE_MARKS and start > 0:
        start -= 1  # the struck letter comes before its combining stroke
    while end < len(text) and unicodedata.combining(text[end]):
        end += 1  # an accent on the last fancy letter (𝘦́)
    sample = text[start:end]
    if len(sample) > 40:
        sample = sample[:40] + "…"
    return [
        _finding(
            Level.ERROR,
            "a11y.fancy_letters",
            ngettext(
                "Caractères décoratifs illisibles par les lecteurs d'écran : « %(sample)s ». "
                "Écrivez « %(plain)s » en caractères normaux.",
                "Caractères décoratifs illisibles par les lecteurs d'écran (%(count)d "
                "passages), dont « %(sample)s ». Écrivez « %(plain)s » en caractères "
                "normaux.",
                len(runs),
            )
            % {"sample": sample, "plain": _plain(sample), "count": len(runs)},
            Field.TEXT,
        )
    ]


_WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_MENTION_RE = re.compile(r"(?<!\w)[@#][\w.]+")
_ACRONYM_MAX = 5


def _caps_runs(text: str) -> list[tuple[int, int, list[str]]]:
    cleaned = _MENTION_RE.sub(lambda m: " " * len(m.group()), _without_urls_same_length(text))
    runs: list[tuple[int, int, list[str]]] = []
    current: list[str] = []
    start = end = 0
    for match in _WORD_RE.finditer(cleaned):
        word = match.group()
        letters = [c for c in word if c.isalpha()]
        if len(letters) < 2:
            continue  # "À", "A", "B": neither breaks nor makes a run
        if word.isupper():
            if not current:
                start = match.start()
            current.append(word)
            end = match.end()
            continue
        if current:
            runs.append((start, end, current))
        current = []
    if current:
        runs.append((start, end, current))
    return runs


def _without_urls_same_length(text: str) -> str:
    out = list(text)
    for start, end, _url in find_urls(text):
        out[start:end] = " " * (end - start)
    return "".join(out)


def check_all_caps(text: str) -> list[Finding]:
    """Warning: text in capitals is harder to read (dyslexia, low vision) and some screen
    readers spell it letter by letter. Flagged: three or more consecutive words in
    capitals, or two when one has more than five letters. Lone words and pairs of short
    words (SNCF, CCAS, "RER B") pass as acronyms; a list of three acronyms is flagged."""
    samples = []
    for start, end, words in _caps_runs(text):
        if len(words) >= 3 or (
            len(words) >= 2 and any(sum(c.isalpha() for c in w) > _ACRONYM_MAX for w in words)
        ):
            samples.append(text[start:end])
    if not samples:
        return []
    return [
        _finding(
            Level.WARNING,
            "a11y.all_caps",
            _(
                "Texte en majuscules (%(samples)s) : il est plus difficile à lire et certains "
                "lecteurs d'écran l'épellent. Écrivez en minuscules, sans majuscules "
                "d'insistance."
            )
            % {"samples": quote_list(samples)},
            Field.TEXT,
        )
    ]


def check_text_accessibility(text: str) -> list[Finding]:
    return [
        *check_fancy_letters(text),
        *check_hashtag_case(text),
        *check_emojis(text),
        *check_all_caps(text),
    ]


# --- the entry point ---------------------------------------------------------------------------


def check_variant(
    draft: VariantDraft,
    *,
    limits: Limits,
    rules: EditorialRules | None = None,
    election: ElectionContext | None = None,
    site_url: str = "",
    utm_campaign: str | None = None,
    now: dt.datetime | None = None,
) -> list[Finding]:
    """Every check on one variant, errors first, then warnings, then info.

    ``limits``: the target account's (``get_adapter(network).limits``, or
    ``MastodonAdapter.limits_for(account)``). ``site_url``: the collectivité's
    ``website_url``; with ``utm_campaign`` (even ""), links to the site get their UTM
    parameters before counting, so the length checked is the length published.
    ``now`` stands for ``scheduled_at`` when the draft has none (publish now)."""
    if site_url and utm_campaign is not None:
        utm = {"site_url": site_url, "network": draft.network, "campaign": utm_campaign}
        draft = replace(
            draft,
            text=apply_utm_to_text(draft.text, **utm),
            link=apply_utm_to_text(draft.link, **utm) if draft.link else draft.link,
        )
    findings = [
        *check_limits(draft, limits),
        *check_media_accessibility(draft, limits),
        *check_text_accessibility(draft.text),
        *check_links(draft),
    ]
    if rules is not None:
        findings.extend(check_editorial(draft.text, rules))
    if election is not None:
        from publishing.election import check_election

        findings.extend(check_election(draft, election, now=now))
    return sorted(findings, key=lambda f: _LEVEL_ORDER[f.level])


def count_by_level(findings: Iterable[Finding]) -> Mapping[str, int]:
    """``{"error": n, "warning": n, "info": n}`` for the composer's badges."""
    counts = {str(level): 0 for level in Level}
    for f in findings:
        counts[str(f.level)] += 1
    return counts
