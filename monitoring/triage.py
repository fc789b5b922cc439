"""Triage of what residents write under the collectivité's posts, in French, explained.

One entry point, ``triage(text) -> Triage``: the labels an item gets, each with a score
and the reasons (in French) that the inbox shows beside it, the place named if any, a
priority to sort the inbox on, and whether the item needs an answer. Today it is rules
and a lexicon written for Parvis (``monitoring.lexicon``); a model can replace the
rules behind the same function (see docs/triage.md). Deterministic, no network, no
model, no Django: it can run anywhere, in a view, a task or a benchmark.

Labels (``CODES``): question, reclamation (réclamation / signalement), positif, negatif,
insulte (insult or harassment), spam (spam, scam, advertising), hors_sujet (off-topic:
lost pets, sales between residents, personal ads…) and urgent (danger now: fire,
flooding, accident, gas…). An item may carry several (a question that is also
negative). Spam carries no other label; hors_sujet carries none but urgent and insulte,
which the community manager must see anyway.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from monitoring import lexicon as lx
from monitoring.lexicon import gettext_noop

CLASSIFIER = "rules-1"  # stored beside the labels, so items can be triaged again later

CODES = (
    "urgent",
    "insulte",
    "question",
    "reclamation",
    "negatif",
    "positif",
    "spam",
    "hors_sujet",
)
LABEL_NAMES = lx.LABEL_NAMES

# Higher first in the inbox. An item's priority is that of its most pressing label;
# spam and off-topic items sink below items with no label at all.
PRIORITY = {
    "urgent": 5,
    "insulte": 4,
    "question": 3,
    "reclamation": 3,
    "negatif": 2,
    "positif": 1,
    "spam": 0,
    "hors_sujet": 0,
}
PRIORITY_NONE = 1
NEEDS_ANSWER = frozenset({"question", "reclamation", "urgent"})

THRESHOLD = 1.0  # a label is given when the weights of its cues add up to this

# The reasons the rules below write (French, with {placeholders}); the lexicon's groups
# carry theirs. Marked for the catalogue: ``translate_reason`` shows them translated.
REASONS = {
    "url_external": gettext_noop("lien externe : {url}"),
    "charter_keyword": gettext_noop('mot-clé de la charte : "{w}"'),
    "url_short": gettext_noop("lien raccourci : {url}"),
    "place": gettext_noop("lieu nommé : {place}"),
    "phone": gettext_noop("numéro de téléphone : {q}"),
    "danger_reported": gettext_noop("signalement d'un danger"),
    "complaint_tone": gettext_noop("ton de plainte"),
    "emoji_alert": gettext_noop("émoji d'alerte {shown}"),
    "emoji_bait": gettext_noop("émoji d'appât {shown}"),
    "emoji_mocking": gettext_noop("émoji moqueur {shown}"),
    "emoji_negative": gettext_noop("émoji négatif {shown}"),
    "emoji_positive": gettext_noop("émoji positif {shown}"),
    "starts_with": gettext_noop('commence par "{w}"'),
    "contains_and_ends": gettext_noop('contient "{w}" et se termine par "?"'),
    "contains_and_mark": gettext_noop('contient "{w}" et un "?"'),
    "has_mark": gettext_noop('contient un "?"'),
    "money": gettext_noop('gain promis : "{q}"'),
    "inversion": gettext_noop('inversion "{w}"'),
    "addressed": gettext_noop('message adressé à une personne : "{q}"'),
    "negation": gettext_noop('négation : "{q}"'),
    "rhetorical": gettext_noop('question rhétorique : "{q}"'),
    "discount": gettext_noop('remise : "{q}"'),
    "ends_with_mark": gettext_noop('se termine par "?"'),
    "alert_tone": gettext_noop('ton d\'alerte : "!"'),
}


@dataclass(frozen=True)
class Label:
    code: str
    score: float  # 0..1, grows with the evidence; 0.63 at the threshold
    reasons: tuple[str, ...]

    @property
    def name(self) -> str:
        return LABEL_NAMES[self.code]


@dataclass(frozen=True)
class Triage:
    labels: tuple[Label, ...]
    place: str | None = None
    priority: int = PRIORITY_NONE
    needs_answer: bool = False
    classifier: str = field(default=CLASSIFIER, compare=False)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(label.code for label in self.labels)

    def has(self, code: str) -> bool:
        return code in self.codes

    def get(self, code: str) -> Label | None:
        return next((label for label in self.labels if label.code == code), None)

    def explain(self) -> str:
        """One line per label, as the inbox shows it."""
        if not self.labels:
            return "Aucune étiquette."
        return "\n".join(
            f"{label.name} ({label.score:.2f}) : {' ; '.join(label.reasons)}"
            for label in self.labels
        )

    def as_dict(self) -> dict:
        """Plain data for a JSON field of the inbox item."""
        return {
            "labels": [
                {"code": label.code, "score": label.score, "reasons": list(label.reasons)}
                for label in self.labels
            ],
            "place": self.place,
            "priority": self.priority,
            "needs_answer": self.needs_answer,
            "classifier": self.classifier,
        }


def triage(text: str) -> Triage:
    """Label one comment, message or mention. The classifier lives behind this function."""
    return _triage_rules(text or "")


def priority_of(codes: Iterable[str]) -> int:
    codes = set(codes)
    if "spam" in codes and not codes & {"urgent", "insulte"}:
        return PRIORITY["spam"]
    return max((PRIORITY[c] for c in codes), default=PRIORITY_NONE)


def needs_answer_of(codes: Iterable[str]) -> bool:
    codes = set(codes)
    return bool(codes & NEEDS_ANSWER) and "spam" not in codes


# --- text ----------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
_APOSTROPHES = "'’‘`´ʼ"
_CLAUSE_BREAK = re.compile(r"[.!?;:…\n,()\"«»]")
_REPEAT = re.compile(r"([a-z])\1{2,}")
# fold's replacements before decomposition, as one table: none of them produces a
# character that another one replaces
_FOLD_FIRST = str.maketrans({"œ": "oe", "æ": "ae", **dict.fromkeys(_APOSTROPHES[1:], "'")})


class _NoCombining(dict):
    """A ``str.translate`` table that drops combining marks (``unicodedata.combining``),
    filled as characters are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_NO_COMBINING = _NoCombining()


def fold(text: str) -> str:
    """Lower case, no accents, typographic apostrophes made plain."""
    text = unicodedata.normalize("NFKD", text.lower().translate(_FOLD_FIRST))
    return text if text.isascii() else text.translate(_NO_COMBINING)


_FOLDED: dict[str, str] = {}  # word as written -> folded, bounded (cleared when full)
_FOLDED_MAX = 65536


def _fold_word(word: str) -> str:
    folded = _FOLDED.get(word)
    if folded is None:
        if len(_FOLDED) >= _FOLDED_MAX:
            _FOLDED.clear()
        folded = _FOLDED[word] = _REPEAT.sub(r"\1", fold(word))
    return folded


class _Tok(NamedTuple):
    norm: str
    start: int
    end: int
    clause: int
    raw: str


_RESHAPED = frozenset(lx.ELISIONS) | frozenset(lx.SMS)  # words whose neighbours matter
_TU = frozenset({"te", "t"})
_ES = frozenset({"es", "etais", "as", "avais"})


_new_tok = tuple.__new__


def _tokens(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    append = toks.append
    folded = _FOLDED
    # where the clauses break, in order; a break before the first word counts for nothing
    breaks = [m.start() for m in _CLAUSE_BREAK.finditer(text)]
    breaks.append(len(text))
    b = 0
    clause = 0
    for m in _WORD.finditer(text):
        start, end = m.span()
        if breaks[b] < start:
            if toks:
                clause += 1
            b += 1
            while breaks[b] < start:
                b += 1
        raw = m.group()
        f = folded.get(raw)
        if f is None:
            f = _fold_word(raw)
        words: tuple[str, ...] | None = None
        if f in _RESHAPED:
            after = text[end : end + 1]
            if after and after in _APOSTROPHES and f in lx.ELISIONS:
                words = (lx.ELISIONS[f],)
            elif f in lx.SMS and after != "-" and (not start or text[start - 1] != "-"):
                words = lx.SMS[f]
        if f == "mais":
            clause += 1
        if words is None:
            if f in _ES and toks and toks[-1].norm in _TU:  # "t'es", "t es" -> "tu es"
                t = toks[-1]
                toks[-1] = _Tok("tu", t.start, t.end, t.clause, t.raw)
            append(_new_tok(_Tok, (f, start, end, clause, raw)))
        else:
            for w in words:
                if w in _ES and toks and toks[-1].norm in _TU:
                    t = toks[-1]
                    toks[-1] = _Tok("tu", t.start, t.end, t.clause, t.raw)
                append(_Tok(w, start, end, clause, raw))
    return toks


# --- patterns ------------------------------------------------------------------------

# The parts of a pattern after its first word, compiled: (kind, text).
_EXACT, _PREFIX, _ANY, _END, _SKIP = range(5)


def _compile_parts(parts: Iterable[str]) -> tuple[tuple[int, str], ...]:
    compiled = []
    for part in parts:
        if part == "_":
            compiled.append((_ANY, ""))
        elif part == "$":
            compiled.append((_END, ""))
        elif part == "~":
            compiled.append((_SKIP, ""))
        elif part.endswith("*"):
            compiled.append((_PREFIX, part[:-1]))
        else:
            compiled.append((_EXACT, part))
    return tuple(compiled)


@dataclass(frozen=True)
class _Pattern:
    parts: tuple[str, ...]
    weight: float
    group: lx.Group
    text: str
    rest: tuple[tuple[int, str], ...] = ()  # parts[1:] compiled


class _Match(NamedTuple):
    pattern: _Pattern
    start: int  # token index
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


def _match_rest(
    norms: list[str],
    clauses: list[int],
    i: int,
    rest: tuple[tuple[int, str], ...],
    k: int,
    clause: int,
) -> int:
    """Index just past a match of ``rest[k:]`` starting at token ``i``, or -1: ``~`` is
    tried with the fewest words skipped first, ``$`` ends the match where it stands."""
    n = len(norms)
    while k < len(rest):
        kind, text = rest[k]
        if kind == _END:
            return i if i >= n or clauses[i] != clause else -1
        if kind == _SKIP:
            for skip in range(4):
                end = _match_rest(norms, clauses, i + skip, rest, k + 1, clause)
                if end >= 0:
                    return end
                if i + skip >= n or clauses[i + skip] != clause:
                    break
            return -1
        if i >= n or clauses[i] != clause:
            return -1
        if kind == _EXACT:
            if norms[i] != text:
                return -1
        elif kind == _PREFIX and not norms[i].startswith(text):
            return -1
        i += 1
        k += 1
    return i


class _Matcher:
    """All the lexicon's patterns, indexed by their first word, matched in one pass.

    Patterns belong to families ("sentiment", "insulte", ...). Where two matches of a
    family overlap the longer is kept: within one group of cues, or across the whole
    family for sentiment, so that "pas top" wins over "top" and "merci pour rien" over
    "merci pour".
    """

    def __init__(self, families: dict[str, Iterable[lx.Group]], across: frozenset[str]):
        self.across = across
        self.exact: dict[str, list[tuple[str, _Pattern]]] = {}
        self.prefix: dict[str, list[tuple[str, _Pattern]]] = {}  # by the first two letters
        for family, groups in families.items():
            for group in groups:
                for text, weight in group.entries:
                    parts = tuple(text.split())
                    pattern = _Pattern(parts, weight, group, text, _compile_parts(parts[1:]))
                    first = pattern.parts[0]
                    if first.endswith("*"):
                        self.prefix.setdefault(first[:2], []).append((family, pattern))
                    else:
                        self.exact.setdefault(first, []).append((family, pattern))
        # the patterns a word can start, in the order above, each with the word that
        # must follow when the pattern's second part is a plain word; bounded, cleared
        # when full
        self._starting: dict[str, tuple[tuple[str, _Pattern, str | None], ...]] = {}

    def starting(self, word: str) -> tuple[tuple[str, _Pattern, str | None], ...]:
        found = self._starting.get(word)
        if found is None:
            candidates = self.exact.get(word, [])
            prefixed = self.prefix.get(word[:2])
            if prefixed:
                candidates = candidates + [
                    fp for fp in prefixed if word.startswith(fp[1].parts[0][:-1])
                ]
            if len(self._starting) >= _FOLDED_MAX:
                self._starting.clear()
            found = self._starting[word] = tuple(
                (family, p, p.rest[0][1] if p.rest and p.rest[0][0] == _EXACT else None)
                for family, p in candidates
            )
        return found

    def find(self, toks: list[_Tok]) -> dict[str, list[_Match]]:
        found: dict[str, list[_Match]] = {}
        norms = [t.norm for t in toks]
        clauses = [t.clause for t in toks]
        starting = self._starting
        n = len(norms)
        for i, word in enumerate(norms):
            candidates = starting.get(word)
            if candidates is None:
                candidates = self.starting(word)
            for family, pattern, second in candidates:
                # the first word matches by construction (same word, or its prefix)
                rest = pattern.rest
                if not rest:
                    end = i + 1
                elif second is not None:  # most patterns fail here: checked inline
                    j = i + 1
                    if j >= n or norms[j] != second or clauses[j] != clauses[i]:
                        continue
                    end = _match_rest(norms, clauses, j + 1, rest, 1, clauses[i])
                else:
                    end = _match_rest(norms, clauses, i + 1, rest, 0, clauses[i])
                if end > i:
                    matches = found.get(family)
                    if matches is None:
                        matches = found[family] = []
                    matches.append(_Match(pattern, i, end))
        return {family: self._resolve(family, ms) for family, ms in found.items()}

    def _resolve(self, family: str, found: list[_Match]) -> list[_Match]:
        if len(found) == 1:
            return found
        found.sort(key=lambda m: (m.start - m.end, -m.pattern.weight, m.start))
        kept: list[_Match] = []
        taken: dict[int, int] = {}  # bucket -> token indices taken, as bits
        across = family in self.across
        for m in found:
            span = ((1 << (m.end - m.start)) - 1) << m.start
            bucket = 0 if across else id(m.pattern.group)
            already = taken.get(bucket, 0)
            if span & already:
                continue
            kept.append(m)
            taken[bucket] = already | span
        kept.sort(key=lambda m: m.start)
        return kept


@lru_cache(maxsize=1)
def _matcher() -> _Matcher:
    not_urgent = lx.Group("urgent", "", tuple((p, 0.0) for p in lx.NOT_URGENT))
    return _Matcher(
        {
            "question": [lx.QUESTION_FORMULAS],
            "rhetorical": [lx.RHETORICAL],
            "reclamation": lx.RECLAMATION,
            "sentiment": [*lx.POSITIVE, lx.NEGATED_NEUTRAL, lx.POLITE, *lx.NEGATIVE],
            "insulte": lx.INSULT,
            "spam": lx.SPAM,
            "hors_sujet": lx.OFF_TOPIC,
            "urgent": lx.URGENT,
            "not_urgent": [not_urgent],
        },
        across=frozenset({"sentiment"}),
    )


# --- evidence ------------------------------------------------------------------------


class _Evidence:
    """Weights and reasons per label; a cue counts once however often it is repeated."""

    def __init__(self) -> None:
        self.points: dict[str, float] = dict.fromkeys(CODES, 0.0)
        self.reasons: dict[str, list[str]] = {c: [] for c in CODES}
        self._seen: set[tuple[str, str]] = set()
        self.where: dict[str, list[int]] = {"positif": [], "negatif": []}  # token indices

    def add(self, code: str, weight: float, reason: str, key: str | None = None) -> None:
        key = key or reason
        if (code, key) in self._seen or weight == 0:
            return
        self._seen.add((code, key))
        self.points[code] += weight
        if weight > 0:
            self.reasons[code].append(reason)

    def has(self, code: str) -> bool:
        return self.points[code] >= THRESHOLD

    def drop(self, code: str) -> None:
        self.points[code] = 0.0
        self.reasons[code] = []


def _quote(text: str, toks: list[_Tok], start: int, end: int) -> str:
    """The words as the resident wrote them ("bande d'", not "bande de")."""
    stop = toks[end - 1].end
    if text[stop : stop + 1] in _APOSTROPHES and text[stop : stop + 1]:
        stop += 1
    return text[toks[start].start : stop]


def _add_matches(ev: _Evidence, text: str, toks: list[_Tok], matches: list[_Match]) -> None:
    for m in matches:
        q = _quote(text, toks, m.start, m.end)
        ev.add(
            m.pattern.group.label,
            m.pattern.weight,
            m.pattern.group.reason.format(q=q),
            key=m.pattern.text,
        )


_NEGATORS = frozenset({"pas", "jamais", "aucun", "aucune", "rien", "guere", "sans", "ni"})


def _negator_before(toks: list[_Tok], i: int) -> int:
    """Index of a negation within four words before token ``i`` in its clause, or -1."""
    clause = toks[i].clause
    window = [j for j in range(max(0, i - 4), i) if toks[j].clause == clause]
    has_ne = any(toks[j].norm == "ne" for j in window)
    for j in reversed(window):
        if toks[j].norm in _NEGATORS or (toks[j].norm == "plus" and has_ne):
            return j
    return -1


_INTENSIFIERS = frozenset(
    {"tres", "vraiment", "trop", "si", "hyper", "tellement", "vachement", "franchement", "super"}
)


def _sentiment(
    ev: _Evidence, text: str, chars: frozenset[str], toks: list[_Tok], found: list[_Match]
) -> None:
    for m in found:
        group = m.pattern.group
        weight = m.pattern.weight
        start = m.start
        if weight and start and toks[start - 1].norm in _INTENSIFIERS:
            start -= 1
            weight += 0.3  # "vraiment réussies", "trop bête"
        q = _quote(text, toks, start, m.end)
        if group.negatable:
            j = _negator_before(toks, m.start)
            if j >= 0:
                q = _quote(text, toks, j, m.end)
                ev.add("negatif", 1.0, REASONS["negation"].format(q=q), m.pattern.text)
                ev.where["negatif"].append(m.start)
                continue
        ev.add(group.label, weight, group.reason.format(q=q), m.pattern.text)
        if weight and group.label in ev.where:
            ev.where[group.label].append(m.start)
    _emojis(ev, text, chars, lx.POSITIVE_EMOJIS, "positif", REASONS["emoji_positive"])
    _emojis(ev, text, chars, lx.NEGATIVE_EMOJIS, "negatif", REASONS["emoji_negative"])


def _emojis(
    ev: _Evidence, text: str, chars: frozenset[str], emojis: frozenset[str], code: str, what: str
) -> None:
    """``chars``: the text's characters, to skip the text at once when it has none."""
    if chars.isdisjoint(emojis):
        return
    found = [c for c in text if c in emojis]
    if found:
        shown = "".join(dict.fromkeys(found))
        alone = not _WORD.search(text)
        weight = 1.0 if alone else min(1.0, 0.5 * len(found))
        ev.add(code, weight, what.format(shown=shown), key=f"emoji:{what}")


def _resolve_sentiment(ev: _Evidence, toks: list[_Tok]) -> None:
    """Positive and negative both present: keep one (irony, "pas parfait mais mieux")."""
    if not (ev.has("positif") and ev.has("negatif")):
        return
    buts = [i for i, t in enumerate(toks) if t.norm == "mais"]
    if buts:  # "c'est pas parfait mais c'est mieux, merci": what follows "mais" wins
        after = {c for c in ("positif", "negatif") if any(i > buts[-1] for i in ev.where[c])}
        if len(after) == 1:
            ev.drop("negatif" if "positif" in after else "positif")
            return
    pos, neg = ev.points["positif"], ev.points["negatif"]
    # A close call goes to the complaint: it is the one to read.
    ev.drop("negatif" if pos - neg >= 0.5 else "positif")


# The characters that fold to a hyphen (test_triage checks the list against fold).
_HYPHENS = frozenset("-\ufe63\uff0d")
_INVERSION = re.compile(
    r"\b([a-z]+)-(?:t-)?(vous|il|elle|on|ils|elles|je|tu|nous)\b(?!-)",
)
_LEADING = frozenset(
    {"bonjour", "bonsoir", "salut", "coucou", "svp", "dites", "et", "mais", "alors", "donc"}
)
# The words an interrogative can be once folded: "où" is "ou", told apart by its spelling.
_INTERROGATIVE_NORMS = frozenset(
    {*lx.INTERROGATIVES, "ou", *lx.SMS.get("ou", ()), lx.ELISIONS.get("ou", "ou")}
)
_STRONG_INTERROGATIVES = frozenset({"quand", "comment", "pourquoi", "combien", "où"})


def _rhetoric(ev: _Evidence, text: str, toks: list[_Tok], found: list[_Match]) -> None:
    """Questions that expect no answer: they say exasperation."""
    for m in found:
        q = _quote(text, toks, m.start, m.end)
        ev.add(
            "negatif",
            m.pattern.weight,
            REASONS["rhetorical"].format(q=q),
            key=m.pattern.text,
        )


def _question(
    ev: _Evidence,
    text: str,
    toks: list[_Tok],
    folded: str,
    rhetoric: list[_Match],
    formulas: list[_Match],
) -> None:
    in_rhetoric = {i for m in rhetoric for i in range(m.start, m.end)}
    has_mark = "?" in text
    syntax = 0.0  # evidence other than the question mark

    interrogative = None
    for i, tok in enumerate(toks):
        if tok.norm not in _INTERROGATIVE_NORMS or i in in_rhetoric:
            continue
        word = "où" if tok.raw.lower() == "où" else tok.norm
        if word == "ou" or word not in lx.INTERROGATIVES:
            continue
        at_start = i == 0 or toks[i - 1].clause != tok.clause or toks[i - 1].norm in _LEADING
        if word in {"qui", "quoi"} and not has_mark:
            continue
        if has_mark:
            interrogative = (tok.raw, 0.5)
        elif at_start and word in _STRONG_INTERROGATIVES:
            interrogative = (tok.raw, 1.0)
        elif at_start:
            interrogative = (tok.raw, 0.5)
        else:
            continue
        break

    inversion = None
    for m in _INVERSION.finditer(folded):
        if m.group(1) in lx.INVERSION_VERBS:
            inversion = m.group(0)
            break

    formulas = [
        m
        for m in formulas
        if m.start not in in_rhetoric
        and not (inversion and inversion.startswith(m.pattern.parts[0] + "-"))
    ]
    tail = text.rstrip()
    while tail and not (tail[-1].isalnum() or tail[-1] in "?!.…"):
        tail = tail[:-1].rstrip()
    ends = tail.endswith("?")

    if interrogative and has_mark:
        how = REASONS["contains_and_ends"] if ends else REASONS["contains_and_mark"]
        ev.add("question", interrogative[1], how.format(w=interrogative[0]))
        syntax += interrogative[1]
    elif interrogative:
        ev.add(
            "question",
            interrogative[1],
            REASONS["starts_with"].format(w=interrogative[0]),
        )
        syntax += interrogative[1]
    if inversion:
        ev.add("question", 1.0, REASONS["inversion"].format(w=inversion))
        syntax += 1.0
    for m in formulas:
        ev.add(
            "question",
            m.pattern.weight,
            m.pattern.group.reason.format(q=_quote(text, toks, m.start, m.end)),
            key=m.pattern.text,
        )
        syntax += m.pattern.weight

    if has_mark:
        mark_weight = 1.0
        if not syntax and (rhetoric or ev.has("negatif") or ev.has("insulte")):
            mark_weight = 0.3  # "Sérieux ? Encore une augmentation ?"
        if syntax and rhetoric:
            mark_weight = 0.6
        if not interrogative:
            ev.add(
                "question",
                mark_weight,
                REASONS["ends_with_mark"] if ends else REASONS["has_mark"],
            )
        else:
            ev.points["question"] += mark_weight
    rhetoric_points = sum(m.pattern.weight for m in rhetoric)
    if rhetoric_points >= THRESHOLD:
        ev.points["question"] = max(0.0, ev.points["question"] - rhetoric_points)


# --- spam helpers ----------------------------------------------------------------------

_URL = re.compile(
    r"(?:https?://\S+|www\.\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:ly|at|gl|gd|cc|co|com|fr|net"
    r"|org|biz|info|io|me|xyz|shop|store|site|online|example)(?:/\S*)?)",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?:\+33\s?|\b0)[1-9](?:[\s.-]?\d{2}){4}\b")
_EASY_MONEY = re.compile(
    r"\d[\d\s.]*(?:k\s?)?(?:€|euros?)\s*(?:/|par\s+)(?:jour|mois|semaine|heure)",
    re.IGNORECASE,
)
_DISCOUNT = re.compile(r"-\s?\d{1,2}\s?%")


# Every link _URL finds has "://" or a dot followed by something other than a space:
# a text without either is not searched.
_URL_HINT = re.compile(r"://|\.\S")


def _spam_signals(ev: _Evidence, text: str, chars: frozenset[str]) -> None:
    for m in _URL.finditer(text) if _URL_HINT.search(text) else ():
        url = m.group(0).rstrip(".,;!?)")
        host = re.sub(r"^(?:https?://)?(?:www\.)?", "", url.lower()).split("/")[0]
        if host in lx.SHORTENERS:
            ev.add("spam", 1.2, REASONS["url_short"].format(url=url), key="url-short")
        else:
            ev.add("spam", 0.6, REASONS["url_external"].format(url=url), key="url")
    phone = _PHONE.search(text) if "0" in chars or "+" in chars else None
    if phone:
        ev.add(
            "spam",
            0.5,
            REASONS["phone"].format(q=phone.group(0)),
            key="phone",
        )
    money = _EASY_MONEY.search(text)
    if money:
        ev.add("spam", 1.0, REASONS["money"].format(q=money.group(0)), key="money")
    discount = _DISCOUNT.search(text)
    if discount:
        ev.add("spam", 0.8, REASONS["discount"].format(q=discount.group(0)), key="discount")
    found = [] if chars.isdisjoint(lx.SPAM_EMOJIS) else [c for c in text if c in lx.SPAM_EMOJIS]
    if found:
        ev.add(
            "spam",
            min(0.8, 0.4 * len(found)),
            REASONS["emoji_bait"].format(shown=found[0]),
            key="emoji",
        )


# --- places --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _compounds_by_first() -> dict[str, list[tuple[tuple[str, ...], bool]]]:
    """``lx.PLACE_COMPOUND`` by first word, in the lexicon's order (the first that matches
    wins, as when the whole table was tried at every word)."""
    by_first: dict[str, list[tuple[tuple[str, ...], bool]]] = {}
    for compound, ok in lx.PLACE_COMPOUND.items():
        by_first.setdefault(compound[0], []).append((compound, ok))
    return by_first


@lru_cache(maxsize=1)
def _place_starts() -> frozenset[str]:
    """The words a place can start with; the others are skipped at once."""
    return frozenset(_compounds_by_first()) | lx.PLACE_NEEDS_NAME | lx.PLACE_ALONE


def _place(text: str, toks: list[_Tok]) -> str | None:
    """The first place named: a kind of place and its name ("rue de la République")."""
    n = len(toks)
    compounds = _compounds_by_first()
    starts = _place_starts()
    i = 0
    while i < n:
        if toks[i].norm not in starts:
            i += 1
            continue
        kind_end = -1
        alone_ok = False
        for compound, ok in compounds.get(toks[i].norm, ()):
            k = len(compound)
            if tuple(t.norm for t in toks[i : i + k]) == compound:
                kind_end, alone_ok = i + k, ok
                break
        if kind_end < 0:
            word = toks[i].norm
            if word in lx.PLACE_NEEDS_NAME:
                kind_end, alone_ok = i + 1, False
            elif word in lx.PLACE_ALONE:
                kind_end, alone_ok = i + 1, True
        if kind_end < 0:
            i += 1
            continue
        end = _place_name_end(text, toks, kind_end)
        if end > kind_end or alone_ok:
            return text[toks[i].start : toks[end - 1].end]
        i = kind_end
    return None


def _joined(text: str, a: _Tok, b: _Tok) -> bool:
    """Two words of one name: separated by spaces, a hyphen or an apostrophe only."""
    between = text[a.end : b.start]
    return a.clause == b.clause and all(c.isspace() or c in "-" + _APOSTROPHES for c in between)


def _place_name_end(text: str, toks: list[_Tok], j: int) -> int:
    n = len(toks)
    if j >= n or not _joined(text, toks[j - 1], toks[j]):
        return j
    if toks[j].norm in lx.PLACE_QUALIFIERS:
        return j + 1
    k = j
    # connectors: "de", "de la", "du", "des", "de l'", "les"
    while k < n and toks[k].norm in lx.PLACE_CONNECTORS and k - j < 2:
        if k > j and not _joined(text, toks[k - 1], toks[k]):
            return j
        k += 1
    if k >= n or (k > j and not _joined(text, toks[k - 1], toks[k])):
        return j
    first = toks[k]
    if first.raw[:1].isupper() or first.raw[:1].isdigit():
        end = k + 1
        while end < n and toks[end].raw[:1].isupper() and _joined(text, toks[end - 1], toks[end]):
            end += 1
        # hyphenated names: "Jules-Ferry", "Saint-Roch", "Léo-Lagrange"
        while end < n and text[toks[end - 1].end : toks[end].start] == "-":
            end += 1
        return end
    if (
        k > j
        and toks[k - 1].norm in lx.PLACE_DE | {"la", "le"}
        and toks[j].norm in lx.PLACE_DE
        and first.norm not in lx.PLACE_STOPWORDS
        and first.raw.isalpha()
    ):
        end = k + 1
        while end < n and text[toks[end - 1].end : toks[end].start] == "-":
            end += 1
        return end
    return j


# --- the rules -----------------------------------------------------------------------

_matcher_families = (
    "question",
    "rhetorical",
    "reclamation",
    "sentiment",
    "insulte",
    "spam",
    "hors_sujet",
    "urgent",
    "not_urgent",
)


def _triage_rules(text: str) -> Triage:
    toks = _tokens(text)
    chars = frozenset(text)
    # the folded text serves the inversions ("pouvez-vous") only: no hyphen, no inversion
    folded = fold(text) if not chars.isdisjoint(_HYPHENS) else ""
    ev = _Evidence()
    found = _matcher().find(toks)
    norms = {t.norm for t in toks}
    m = {family: found.get(family, []) for family in _matcher_families}

    _sentiment(ev, text, chars, toks, m["sentiment"])
    _add_matches(ev, text, toks, m["insulte"])
    _emojis(ev, text, chars, lx.INSULT_EMOJIS, "insulte", REASONS["emoji_mocking"])
    _add_matches(ev, text, toks, m["spam"])
    _spam_signals(ev, text, chars)
    _add_matches(ev, text, toks, m["hors_sujet"])
    for a, b in zip(toks, toks[1:], strict=False) if "coucou" in norms else ():
        if a.norm == "coucou" and b.raw[:1].isupper():
            reason = REASONS["addressed"].format(q=f"{a.raw} {b.raw}")
            ev.add("hors_sujet", 0.7, reason)

    not_urgent = {i for x in m["not_urgent"] for i in range(x.start, x.end)}
    urgent = [x for x in m["urgent"] if not set(range(x.start, x.end)) & not_urgent]
    _add_matches(ev, text, toks, urgent)
    _emojis(ev, text, chars, lx.URGENT_EMOJIS, "urgent", REASONS["emoji_alert"])
    if ev.points["urgent"] and "!" in text:
        ev.add("urgent", 0.2, REASONS["alert_tone"], key="bang")

    _add_matches(ev, text, toks, m["reclamation"])
    place = _place(text, toks)
    if place and ev.points["reclamation"]:
        ev.add(
            "reclamation",
            0.4,
            REASONS["place"].format(place=place),
            key="place",
        )

    _rhetoric(ev, text, toks, m["rhetorical"])
    _resolve_sentiment(ev, toks)
    _question(ev, text, toks, folded, m["rhetorical"], m["question"])

    if ev.points["reclamation"] and (ev.has("negatif") or ev.has("insulte")):
        ev.add("reclamation", 0.4, REASONS["complaint_tone"], key="tone")
    if ev.has("positif") and not ev.has("negatif") and ev.points["reclamation"] < 2.0:
        ev.drop("reclamation")  # thanks for a problem fixed is not a complaint

    # Dominance: an insult is more than negative; spam and off-topic are nothing else.
    if ev.has("insulte"):
        ev.drop("negatif")
    if ev.has("spam") and ev.points["spam"] >= ev.points["hors_sujet"]:
        for code in CODES:
            if code != "spam":
                ev.drop(code)
    elif ev.has("hors_sujet"):
        for code in ("question", "reclamation", "positif", "negatif", "spam"):
            ev.drop(code)
    if ev.has("urgent") and not ev.has("reclamation") and not ev.has("question"):
        # A danger reported is a signalement; a question about one is a question.
        ev.points["reclamation"] = max(ev.points["reclamation"], THRESHOLD)
        ev.reasons["reclamation"].append(REASONS["danger_reported"])

    labels = []
    for code in CODES:
        points = ev.points[code]
        if points >= THRESHOLD:
            score = round(1 - math.exp(-points), 2)
            labels.append(Label(code, score, tuple(ev.reasons[code])))
    labels.sort(key=lambda label: (-PRIORITY[label.code], -label.score, CODES.index(label.code)))
    codes = [label.code for label in labels]
    if "spam" in codes:
        place = None
    where = REASONS["place"].format(place=place)
    for k, label in enumerate(labels):
        if place and label.code in {"reclamation", "urgent"} and where not in label.reasons:
            labels[k] = Label(label.code, label.score, (*label.reasons, where))
    return Triage(
        labels=tuple(labels),
        place=place,
        priority=priority_of(codes),
        needs_answer=needs_answer_of(codes),
    )


# --- reasons in the reader's language --------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=1)
def _reason_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Every reason template (the lexicon's and ``REASONS``) as a pattern that recognises
    a reason stored with an item; the longest literal text first ("contient "x" et un
    "?"" before "contient un "?"")."""
    patterns = []
    for template in dict.fromkeys([*lx.REASONS, *REASONS.values()]):
        parts = _PLACEHOLDER.split(template)
        regex = "".join(
            re.escape(part) if k % 2 == 0 else f"(?P<{part}>.+)" for k, part in enumerate(parts)
        )
        patterns.append((template, re.compile(regex + r"\Z", re.DOTALL)))
    patterns.sort(key=lambda p: -len(_PLACEHOLDER.sub("", p[0])))
    return tuple(patterns)


def translate_reason(reason: str, translate: Callable[[str], str]) -> str:
    """A stored reason (French, as ``triage`` wrote it) in the reader's language:
    ``translate`` is ``gettext``; the quoted words stay as the citizen wrote them."""
    for template, pattern in _reason_patterns():
        match = pattern.match(reason)
        if match is not None:
            return translate(template).format(**match.groupdict())
    return reason
