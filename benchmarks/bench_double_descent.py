"""Speed figures for the double-descent page: ``python benchmarks/bench_double_descent.py``.

Prints medians (seconds).  Targets (issue 3): linear curves for 10^4 steps and 20 features < 50 ms;
the quick page view < 2 s cold on 2 cores and < 0.3 s cached.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PHENOMENA_CACHE"] = tempfile.mkdtemp(prefix="bench-dd-")

import numpy as np  # noqa: E402

import engine  # noqa: E402
from engine.core import cache  # noqa: E402
from engine.phenomena.double_descent import experiments as dd  # noqa: E402
from engine.phenomena.double_descent import science as sci  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from common import median_seconds  # noqa: E402


def main() -> None:
    t = np.arange(10_000, dtype=np.float64)
    s, theta = np.geomspace(1.0, 0.05, 20), np.ones(20)
    print(
        f"linear_risk, 10^4 steps x 20 features:      {median_seconds(lambda: sci.linear_risk(t, s, theta, 1.0, 100, 0.1), 21) * 1e3:7.1f} ms"
    )
    m = dd.LINEAR_QUICK.model()
    grid = sci.log_time_grid(10**5, 200)
    sim = lambda: sci.simulate_linear_gd(grid, m.feature_std, m.theta, 1.0, 100, m.lr(False), seeds=20)  # noqa: E731
    print(f"simulate_linear_gd, 20 seeds x 201 times:  {median_seconds(sim, 11) * 1e3:7.1f} ms")

    def cold():
        cache.clear("double_descent.linear")
        engine.run("double_descent.linear")

    print(f"linear experiment (quick view), cold:      {median_seconds(cold, 5):7.3f} s")
    print(
        f"linear experiment (quick view), cached:    {median_seconds(lambda: engine.run('double_descent.linear'), 11):7.3f} s"
    )
    from streamlit.testing.v1 import AppTest

    page = str(ROOT / "pages" / "double_descent.py")
    cache.clear("double_descent.linear")
    start = time.perf_counter()
    AppTest.from_file(page, default_timeout=120).run()
    print(f"page default view (AppTest), cold cache:   {time.perf_counter() - start:7.3f} s")
    warm = median_seconds(lambda: AppTest.from_file(page, default_timeout=120).run(), 5)
    print(f"page default view (AppTest), cached:       {warm:7.3f} s")
    for name, preset in (
        ("double_descent.two_layer", "quick"),
        (dd.NETWORK_NAME, "quick"),
        (dd.NETWORK_NAME, "quick-scaled"),
        ("double_descent.width", "quick"),
    ):
        start = time.perf_counter()
        engine.run(name, preset=preset, use_cache=False)
        print(f"{name} ({preset}), one cold run: {time.perf_counter() - start:7.2f} s")


if __name__ == "__main__":
    main()
