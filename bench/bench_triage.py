"""What triage costs per comment.

Subject: ``monitoring.triage.triage(text)`` on the 432 comments of the labelled set
(tests/monitoring/data/labelled_comments.jsonl). Baseline: the cheapest classifier one
could write, the same texts folded (lower case, no accents) and searched with one
regular expression of 40 keywords, measured in the same run. Prints comments per second
for both and the ratio. No database, no network.
"""

from __future__ import annotations

import gc
import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

DATA = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "monitoring"
    / "data"
    / "labelled_comments.jsonl"
)
ROUNDS = 7


def _per_second(fn: Callable[[str], object], texts: list[str]) -> float:
    samples = []
    fn(texts[0])  # warm caches
    for _ in range(ROUNDS):
        gc.collect()
        start = time.perf_counter()
        for text in texts:
            fn(text)
        samples.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(samples)


def main() -> None:
    from monitoring.triage import fold, triage

    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    words = (
        "quand|comment|pourquoi|combien|panne|trou|poubelles|merci|bravo|super|decu|honte|"
        "nul|abruti|con|incapable|gagnez|promo|bitcoin|cliquez|vends|perdu|trouve|match|"
        "feu|fumee|incendie|inonde|accident|blesse|gaz|urgent|danger|tombe|effondre|"
        "signale|lampadaire|bruit|marre"
    )
    keywords = re.compile(rf"\b(?:{words})\b")

    def baseline(text: str) -> object:
        return keywords.findall(fold(text))

    subject = _per_second(triage, texts)
    base = _per_second(baseline, texts)
    print(f"triage:   {subject:,.0f} comments/s ({1e6 / subject:.0f} µs each)")
    print(f"baseline: {base:,.0f} comments/s (fold + one keyword regex)")
    print(f"ratio baseline/triage: {base / subject:.1f}")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(DATA.parents[3]))
    main()
