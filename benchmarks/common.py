"""Tiny timing helpers for the benchmarks: medians of repeated wall-clock runs."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Callable


def median_seconds(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def use_scratch_cache() -> str:
    """Point the engine at an empty cache folder so that 'cold' means cold."""
    folder = tempfile.mkdtemp(prefix="phenomena-bench-")
    os.environ["PHENOMENA_CACHE"] = folder
    return folder


def report(label: str, seconds: float, target: float | None = None) -> None:
    verdict = "" if target is None else ("  ok" if seconds <= target else f"  OVER target {target:g} s")
    print(f"{label:60s} {seconds * 1000:9.1f} ms{verdict}")
