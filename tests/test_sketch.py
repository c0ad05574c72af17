"""The quantile sketch: every quantile within 1 % of the exact nearest-rank value, and
merging is exact, on data shaped like what openline measures."""

from __future__ import annotations

import math
import random

import pytest

from openline.domain.sketch import ALPHA, Distribution


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def within(estimate: float, exact: float) -> bool:
    return abs(estimate - exact) <= ALPHA * abs(exact) + 1e-12


DATASETS = {
    "latencies (log-normal, 10 ms to 10 s)": lambda r: [
        r.lognormvariate(-0.5, 1.2) for _ in range(20_000)
    ],
    "durations (exponential)": lambda r: [r.expovariate(1 / 90) for _ in range(5_000)],
    "metric values 1..100": lambda r: [float(v) for v in range(1, 101)],
    "signed, with zeros": lambda r: [r.choice((0.0, r.uniform(-50, 50))) for _ in range(3_000)],
    "one value": lambda r: [0.25],
}


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("q", [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0])
def test_quantiles_are_within_the_bound_of_the_exact_nearest_rank(name, q):
    values = DATASETS[name](random.Random(7))
    distribution = Distribution.of(values)
    exact = nearest_rank(values, q)
    estimate = distribution.quantile(q)
    assert within(estimate, exact), (estimate, exact)


def test_count_sum_min_max_and_mean_are_exact():
    values = [float(v) for v in range(1, 101)]
    distribution = Distribution.of(values)
    assert (distribution.count, distribution.sum) == (100, 5050.0)
    assert (distribution.min, distribution.max, distribution.mean) == (1.0, 100.0, 50.5)
    assert Distribution().quantile(0.5) is None and Distribution().mean is None


def test_merging_parts_equals_the_whole_in_any_order():
    rng = random.Random(3)
    values = [rng.lognormvariate(0, 2) - 1 for _ in range(10_000)]
    whole = Distribution.of(values)
    parts = [Distribution.of(values[i : i + 700]) for i in range(0, len(values), 700)]
    rng.shuffle(parts)
    merged = Distribution()
    for part in parts:
        merged.merge(Distribution.from_json(part.to_json()))  # through the stored form
    assert merged.to_json()["p"] == whole.to_json()["p"]
    assert merged.count == whole.count and merged.min == whole.min and merged.max == whole.max
    assert math.isclose(merged.sum, whole.sum)
    for q in (0.5, 0.95, 0.99):
        assert merged.quantile(q) == whole.quantile(q)


def exact_histogram(values: list[float], edges: list[float]) -> list[int]:
    return [sum(edges[j] <= v < edges[j + 1] for v in values) for j in range(len(edges) - 1)]


def test_histogram_counts_values_on_edges_in_the_bin_above():
    values = [1.0, 2.0, 2.0, 3.0, 4.0, 4.4]
    edges = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
    assert Distribution.of(values).histogram(edges) == [1, 0, 2, 0, 1, 0, 2]
    assert Distribution.of(values).histogram(edges) == exact_histogram(values, edges)


def test_histogram_of_signed_values_with_zeros_and_values_outside_the_edges():
    values = [-7.0, -2.0, -2.0, 0.0, 0.0, 0.3, 5.0, 12.0]
    edges = [-5.0, 0.0, 5.0, 10.0]
    assert Distribution.of(values).histogram(edges) == [2, 3, 1]  # -7 and 12 are outside
    assert Distribution().histogram(edges) == [0, 0, 0]


def test_histogram_matches_the_exact_counts_away_from_the_edges():
    rng = random.Random(5)
    values = [rng.lognormvariate(0, 1) for _ in range(5_000)]
    edges = [0.0, 0.5, 1.0, 2.0, 4.0, 100.0]
    near = [v for v in values if any(e * (1 - 2 * ALPHA) <= v < e for e in edges)]
    found = Distribution.of(values).histogram(edges)
    exact = exact_histogram(values, edges)
    assert sum(found) == sum(exact) == len(values)
    assert all(abs(a - b) <= len(near) for a, b in zip(found, exact, strict=True))
