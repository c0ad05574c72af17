"""A mergeable distribution of numbers whose quantiles are within 1 % of the exact ones.

Values are counted in logarithmic buckets: bucket ``i`` holds the values in
(gamma^(i-1), gamma^i] with gamma = (1 + ALPHA) / (1 - ALPHA), and answers with
2 gamma^i / (gamma + 1), which is within ALPHA of anything in the bucket. This is the
DDSketch mapping (Masson, Rim and Lee, VLDB 2019). Two reasons for it over t-digest or
KLL: its error bound is relative and holds for every quantile whatever the data
(latencies span 10 ms to 10 s), and two sketches merge by adding bucket counts, exactly
and in any order, so a day's rollup is the same whether merged from calls, minutes or
hours, and a rollup can be rebuilt from its parts. Count, sum, min and max are kept
exactly beside the buckets.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

ALPHA = 0.01
"""The relative error bound of every quantile (the analytics aim allows 2 %)."""

_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
_TINY = 1e-9  # magnitudes below this count as zero (a nanosecond, a billionth)


class Distribution:
    __slots__ = ("count", "max", "min", "negative", "positive", "sum", "zeros")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}  # keyed by the bucket of the magnitude
        self.zeros = 0

    @classmethod
    def of(cls, values: Any) -> Distribution:
        distribution = cls()
        for value in values:
            distribution.add(value)
        return distribution

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if abs(value) < _TINY:
            self.zeros += 1
        else:
            buckets = self.positive if value > 0 else self.negative
            index = math.ceil(math.log(abs(value)) / _LOG_GAMMA)
            buckets[index] = buckets.get(index, 0) + 1

    def merge(self, other: Distribution) -> None:
        if not other.count:
            return
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.zeros += other.zeros
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for index, count in theirs.items():
                mine[index] = mine.get(index, 0) + count

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile (the ⌈q·n⌉-th smallest value), to within ALPHA."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        if rank == 1:
            return self.min
        if rank == self.count:
            return self.max
        for sign, index, count in self._ascending():
            rank -= count
            if rank <= 0:
                estimate = sign * 2 * _GAMMA**index / (_GAMMA + 1) if sign else 0.0
                return min(max(estimate, self.min), self.max)
        return self.max

    def histogram(self, edges: list[float]) -> list[int]:
        """How many values fall in each ``[edges[j], edges[j + 1])`` (ascending edges).

        A log bucket counts where its upper end falls (clamped to the exact min and max),
        so a value on an edge counts in the bin above it, as the half-open bins say; only
        a value within ALPHA below an edge may be counted in the bin above it."""
        counts = [0] * max(0, len(edges) - 1)
        for sign, index, count in self._ascending():
            top = _GAMMA**index if sign > 0 else -(_GAMMA ** (index - 1)) if sign else 0.0
            at = bisect.bisect_right(edges, min(max(top, self.min), self.max)) - 1
            if 0 <= at < len(counts):
                counts[at] += count
        return counts

    def _ascending(self):
        """(sign, bucket, count) from the smallest values to the largest."""
        for index in sorted(self.negative, reverse=True):
            yield -1, index, self.negative[index]
        if self.zeros:
            yield 0, 0, self.zeros
        for index in sorted(self.positive):
            yield 1, index, self.positive[index]

    def to_json(self) -> dict[str, Any]:
        if not self.count:
            return {"n": 0}
        shape: dict[str, Any] = {"n": self.count, "s": self.sum, "lo": self.min, "hi": self.max}
        if self.positive:
            shape["p"] = {str(index): count for index, count in self.positive.items()}
        if self.negative:
            shape["m"] = {str(index): count for index, count in self.negative.items()}
        if self.zeros:
            shape["z"] = self.zeros
        return shape

    @classmethod
    def from_json(cls, shape: dict[str, Any]) -> Distribution:
        distribution = cls()
        if not shape.get("n"):
            return distribution
        distribution.count = shape["n"]
        distribution.sum = shape["s"]
        distribution.min = shape["lo"]
        distribution.max = shape["hi"]
        distribution.positive = {int(index): count for index, count in shape.get("p", {}).items()}
        distribution.negative = {int(index): count for index, count in shape.get("m", {}).items()}
        distribution.zeros = shape.get("z", 0)
        return distribution
