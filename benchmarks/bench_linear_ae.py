"""Linear-autoencoder speed: the quick view cold (4 variants, d=20, k=4, 20k steps) and cached.

Run: .venv/bin/python benchmarks/bench_linear_ae.py   (figures go into the README)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median_seconds, report, use_scratch_cache  # noqa: E402

use_scratch_cache()
import engine  # noqa: E402


def cold() -> None:
    engine.run("linear_ae.dynamics", device="cpu", use_cache=False)


def cached_view() -> None:
    frame = engine.run("linear_ae.dynamics", device="cpu")
    exp = engine.get_experiment("linear_ae.dynamics")
    for which in exp.charts:
        exp.chart(frame, which).to_dict()


def first_view_compute() -> None:
    """What the page's first view computes besides drawing: the dynamics run, the snapshot run
    (2000 steps) and the two charts it shows (the open tab and the heatmap)."""
    frame = engine.run("linear_ae.dynamics", device="cpu", use_cache=False)
    snapshot = engine.run("linear_ae.snapshot", device="cpu", use_cache=False)
    engine.get_experiment("linear_ae.dynamics").chart(frame, "alignment").to_dict()
    engine.get_experiment("linear_ae.snapshot").chart(snapshot).to_dict()


if __name__ == "__main__":
    engine.run("linear_ae.dynamics", device="cpu")  # warm imports and fill the cache
    report("linear_ae.dynamics quick, cold (4 variants x 20k steps)", median_seconds(cold, 5), 1.0)
    report("linear_ae.dynamics quick, cached load + 4 chart specs", median_seconds(cached_view, 10), 0.3)
    report(
        "linear_ae first view's compute, uncached (dynamics + snapshot + 2 chart specs)",
        median_seconds(first_view_compute, 5),
        1.0,
    )
