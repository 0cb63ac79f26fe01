"""Latency percentiles, one definition for screens, analytics and the benchmarks."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(data: list[float], q: float) -> float:
    """The q-quantile of already sorted ``data`` (nearest rank; ``data`` must not be empty)."""
    return data[min(len(data) - 1, int(q * len(data)))]


def latency_summary(samples: Iterable[float], digits: int) -> dict[str, float | None]:
    """p50/p95/p99 of latency samples in ms (None each when there are none)."""
    data = sorted(samples)
    return {
        k: round(percentile(data, q), digits) if data else None
        for k, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }
