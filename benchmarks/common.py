"""Tiny timing helpers for the benchmarks: medians of repeated wall-clock runs, Markdown tables."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence


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


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; cells are written with ``str``."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line() -> str:
    """CPU count and load average, to print beside timings taken on a shared machine."""
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return f"{os.cpu_count()} CPUs, load average {load}"
