"""Does the triage of the working tree give exactly what it gave at a git revision?

For work on the triage's speed: ``python bench/triage_diff.py [REV]`` (default ``HEAD``)
loads ``monitoring/triage.py`` and ``monitoring/lexicon.py`` as they were at ``REV`` and
runs both on the same texts: the labelled set (tests/monitoring/data), the strings of the
triage tests, and variations of them made with a fixed seed (bench_inbox's numbered
texts, upper and lower case, accents removed, typographic apostrophes, pairs joined, words
shuffled, cut short, emojis, links, telephone numbers, repeated letters and punctuation
added). Compares every label, score and reason, the place, the priority and whether an
answer is needed; prints the first differences and exits 1 if there is any. No database.
Not picked up by ``make bench`` (its name does not start with ``bench_``).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "monitoring" / "data" / "labelled_comments.jsonl"
TESTS = sorted((ROOT / "tests" / "monitoring").glob("test_triage*.py"))
NOISE = [
    " !!!",
    " ???",
    " ?!",
    " 😡",
    " 👍👍",
    " 🤡",
    " 🚨",
    " 💰💰",
    " https://bit.ly/x2 ",
    " www.promo-shop.fr",
    " 06 12 34 56 78",
    " 500€/jour",
    " -50%",
    "...",
    " mdr",
    " svp",
    ", merci",
    " mais bon",
    " (rue Jean-Jaurès)",
    " place de la Mairie",
    "\n",
    " pk ?",
    " t'es nul",
    " c'est pas top",
    " vraiment super",
]


def _load(rev: str) -> ModuleType:
    """``monitoring.triage`` as it was at ``rev``, with its lexicon, as a separate module."""
    folder = Path(tempfile.mkdtemp(prefix="triage_ref_"))
    package = folder / "triage_ref"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("triage", "lexicon"):
        source = subprocess.run(  # noqa: S603 -- git, a revision given by the developer
            ["git", "show", f"{rev}:monitoring/{name}.py"],  # noqa: S607
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        source = source.replace("from monitoring import lexicon", "from triage_ref import lexicon")
        source = source.replace("from monitoring.lexicon import", "from triage_ref.lexicon import")
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    spec = importlib.util.find_spec("triage_ref.triage")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["triage_ref.triage"] = module
    spec.loader.exec_module(module)
    return module


def _test_strings() -> list[str]:
    found: list[str] = []
    for path in TESTS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return found


def corpus(seed: int = 5, extra: int = 4000) -> list[str]:
    labelled = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    base = labelled + _test_strings()
    rng = random.Random(seed)  # noqa: S311 -- test data
    texts = list(base)
    texts += [f"{t} ({k})" for t in labelled for k in range(0, 97, 8)]  # bench_inbox's texts
    texts += [t.upper() for t in base] + [t.lower() for t in base]
    texts += [
        "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
        for t in base
    ]
    texts += [t.replace("'", "’") for t in base]
    for _ in range(extra):
        a, b = rng.choice(base), rng.choice(base)
        words = a.split()
        roll = rng.random()
        if roll < 0.2:
            texts.append(f"{a} {b}")
        elif roll < 0.35:
            rng.shuffle(words)
            texts.append(" ".join(words))
        elif roll < 0.5:
            texts.append(a[: rng.randrange(len(a) + 1)])
        elif roll < 0.7:
            k = rng.randrange(len(words) + 1)
            texts.append(" ".join([*words[:k], rng.choice(NOISE).strip(), *words[k:]]))
        elif roll < 0.85:
            texts.append(a + rng.choice(NOISE) + rng.choice(NOISE))
        else:
            texts.append("".join(c * 3 if c.isalpha() and rng.random() < 0.05 else c for c in a))
    texts += ["", " ", "?", "!", "👍", "😡😡", "🤡", "...", "-", "'", "t'", "rue", "Rue X"]
    return texts


def _plain(result: Any) -> dict[str, Any]:
    return {
        "labels": [(label.code, label.score, label.reasons) for label in result.labels],
        "place": result.place,
        "priority": result.priority,
        "needs_answer": result.needs_answer,
        "classifier": result.classifier,
    }


def main(rev: str = "HEAD") -> int:
    sys.path.insert(0, str(ROOT))
    from monitoring import triage as current

    reference = _load(rev)
    texts = corpus()
    differ = 0
    times = {"reference": 0.0, "current": 0.0}
    for text in texts:
        t0 = time.perf_counter()
        old = _plain(reference.triage(text))
        t1 = time.perf_counter()
        new = _plain(current.triage(text))
        t2 = time.perf_counter()
        times["reference"] += t1 - t0
        times["current"] += t2 - t1
        if old != new:
            differ += 1
            if differ <= 10:
                print(f"DIFFERS {text!r}\n  {rev}: {old}\n  now: {new}")
    print(
        f"{len(texts)} texts, {differ} differ from {rev}; "
        f"{rev} {times['reference'] / len(texts) * 1e6:.0f} µs each, "
        f"now {times['current'] / len(texts) * 1e6:.0f} µs each (one pass, caches cold)"
    )
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
