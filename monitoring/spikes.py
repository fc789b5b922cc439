"""The watch's spike rule, as plain arithmetic on hourly counts (docs/watch.md).

An hour is a spike when its count of mentions reaches the watch's minimum AND exceeds
``median + k × max(1.4826 × MAD, 1)`` of the same hour of the day over the previous days
(at most 28). Median and MAD (median absolute deviation) are robust: one earlier spike
in the history does not raise the bar, as a mean and standard deviation would. The
floor of 1 on the spread keeps a perfectly flat history (MAD = 0) from alerting on
one mention more than usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

MAD_TO_SIGMA = 1.4826  # MAD × 1.4826 estimates the standard deviation of a normal series
HISTORY_DAYS = 28


@dataclass(frozen=True)
class Verdict:
    count: int
    median: float
    threshold: float
    spike: bool


def threshold(history: Sequence[int], *, k: float, minimum: int) -> tuple[float, float]:
    """(median, threshold) for an hour whose earlier same-hour counts are ``history``."""
    if not history:  # a new watch: judged as if it had been quiet
        return 0.0, k
    centre = float(median(history))
    mad = float(median(abs(x - centre) for x in history))
    bar = centre + k * max(MAD_TO_SIGMA * mad, 1.0)
    return centre, bar


def judge(count: int, history: Sequence[int], *, k: float, minimum: int) -> Verdict:
    centre, bar = threshold(history, k=k, minimum=minimum)
    return Verdict(
        count=count,
        median=centre,
        threshold=max(bar, float(minimum)),
        spike=count >= minimum and count > bar,
    )
