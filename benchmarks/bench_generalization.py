"""Speed of the generalization experiments (quick presets, cold: no cache). Prints medians.

Run: .venv/bin/python benchmarks/bench_generalization.py [repeats]
Wall time depends on the machine's load; process CPU time (summed over threads) is printed beside it.
The last line times the page's first view (AppTest, empty cache: the linear and NK quick runs, four charts).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine  # noqa: E402
from engine.phenomena.generalization.experiments import N_GRIDS, LinearConfig  # noqa: E402

CASES = [
    ("linear, default page (n 50..3200, p up to 181,023, 3 seeds)", "generalization.linear", None),
    ("linear, n 50..1600", "generalization.linear", LinearConfig(n_values=N_GRIDS[1600])),
    ("linear, paper preset (n 100..6400, 20 seeds)", "generalization.linear", "paper"),
    ("nk, default page (m 32..2048, D = 500 m, 3 seeds)", "generalization.nk", None),
    ("ridge, default (n 400, 10 ridges, 3 seeds)", "generalization.ridge", None),
    ("random features, default (n 50..800, N 2000, 2 seeds)", "generalization.random_features", None),
]


def time_case(name: str, config, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of a cold run (cache bypassed)."""
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        if config == "paper":
            engine.run(name, preset="paper", use_cache=False, device="cpu")
        else:
            engine.run(name, config, use_cache=False, device="cpu")
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def time_page() -> tuple[float, float]:
    """Wall and CPU seconds of the page's first view with an empty cache (AppTest, no browser)."""
    from streamlit.testing.v1 import AppTest

    from engine.core import cache

    os.environ["PHENOMENA_CACHE"] = tempfile.mkdtemp(prefix="bench-generalization-")
    cache.clear_memo()
    page = Path(__file__).resolve().parent.parent / "pages" / "generalization.py"
    w0, c0 = time.perf_counter(), time.process_time()
    at = AppTest.from_file(str(page), default_timeout=300).run()
    if at.exception or at.error:
        raise RuntimeError("the page failed")
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    engine.get_experiment("generalization.linear")  # import outside the timings
    print(f"{'case':62s} {'wall s':>8s} {'cpu s':>8s}")
    for label, name, config in CASES:
        wall, cpu = time_case(name, config, 1 if config == "paper" else repeats)
        print(f"{label:62s} {wall:8.2f} {cpu:8.2f}", flush=True)
    wall, cpu = time_page()
    print(f"{'page first view, empty cache (AppTest)':62s} {wall:8.2f} {cpu:8.2f}", flush=True)


if __name__ == "__main__":
    main()
