"""benchmarks/gpu.py on the CPU: the extrapolation it relies on, a complete small run whose bundle
imports into a fresh cache, and a tiny budget that is kept without a crash.

The runs are subprocesses, as on a GPU machine; each pays Python's and the engine's start-up,
hence the slow marks (about 20 s and 10 s on an idle 2-core machine)."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu.py"
COLUMNS = ["phase", "experiment", "what", "device", "status", "seconds", "paper_estimate_s", "note"]


def load_script():
    if "gpu_script" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gpu_script", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_script"] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules["gpu_script"]


def run_script(out: Path, cache: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict], float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--out", str(out), "--cache", str(cache), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.monotonic() - start
    with open(out / "timings.csv") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        rows = list(reader)
    return proc, rows, seconds


def test_fit_recovers_fixed_and_unit_costs_of_an_affine_timing():
    gpu = load_script()
    # t = 2 s + 0.5 s/epoch: two probes give both parts; extrapolation to 4000 epochs is exact.
    fit = gpu.fit_costs([((1.0,), 2.5), ((2.0,), 3.0)])
    assert fit[0] == pytest.approx(2.0, abs=1e-9) and fit[1][0] == pytest.approx(0.5, abs=1e-9)
    assert gpu.predict(fit, (4000.0,)) == pytest.approx(2002.0, rel=1e-9)
    # two drivers, three probes: t = 1 + 3 u1 + 0.25 u2
    probes = [((u1, u2), 1 + 3 * u1 + 0.25 * u2) for u1, u2 in ((1, 1), (2, 1), (1, 2))]
    fixed, (c1, c2) = gpu.fit_costs(probes)
    assert (fixed, c1, c2) == pytest.approx((1.0, 3.0, 0.25), abs=1e-9)
    # as many probes as drivers: no fixed part, so the extrapolation errs on the long side
    fixed, (c,) = gpu.fit_costs([((10.0,), 7.0)])
    assert fixed == 0.0 and gpu.predict((fixed, (c,)), (100.0,)) >= 7.0 + 0.5 * 90
    assert gpu.fit_costs([((1.0, 1.0), 3.0)]) is None  # fewer probes than drivers: no estimate
    # a first probe slowed by warm-up (bigger probe faster): the last probe alone, no fixed part
    fixed, (c,) = gpu.fit_costs([((1.0,), 12.4), ((2.0,), 0.9)])
    assert fixed == 0.0 and c == pytest.approx(0.45)


def test_every_probe_overrides_fields_of_its_experiments_paper_config():
    gpu = load_script()
    import engine
    from engine.core.experiment import config_to_dict

    for name, probe in gpu.PROBES.items():
        if name not in engine.EXPERIMENTS:
            continue  # a phenomenon that does not load here is reported by its own tests
        paper = config_to_dict(engine.get_experiment(name).grid("paper")[0])
        for overrides in probe.runs:
            assert set(overrides) <= set(paper), (name, overrides)
            engine.resolve_config(name, overrides, preset="paper")  # valid: no ConfigError
            units = probe.units({**paper, **overrides})
            assert len(units) == len(probe.drivers) and all(u > 0 for u in units)
        if probe.borrow:  # the same unit of work as another experiment's probes, in its own units
            assert not probe.runs and len(gpu.PROBES[probe.borrow].drivers) == len(probe.drivers)
            continue
        # the paper run is more work than each probe along every driver
        assert all(p >= u for p, u in zip(probe.units(paper), probe.units({**paper, **probe.runs[0]})))


def test_estimates_extrapolate_a_fit_or_give_a_lower_bound_from_an_overrun():
    gpu = load_script()
    grid = [{"epochs": 4000}, {"epochs": 2000}]
    measured = {"double_descent.network": [((1.0,), 2.5), ((2.0,), 3.0)]}  # 2 s + 0.5 s per epoch
    seconds, status, _ = gpu.estimate("double_descent.network", grid, measured, {})
    assert status == "ok" and seconds == pytest.approx(2002.0 + 1002.0)
    # the one-epoch probe was stopped at 30 s: each config takes at least 30 s x its epochs
    seconds, status, _ = gpu.estimate(
        "double_descent.network", grid, {}, {"double_descent.network": ((1.0,), 30.0)}
    )
    assert status == "lower bound" and seconds == pytest.approx(30.0 * 6000)
    assert gpu.estimate("double_descent.network", grid, {}, {})[1] == "n/a"
    assert gpu.estimate("no.such_probe", grid, measured, {})[1] == "n/a"


@pytest.mark.slow
def test_small_run_writes_a_bundle_that_imports_and_a_complete_table(tmp_path, fresh_cache):
    out = tmp_path / "out"
    proc, rows, _ = run_script(
        out, tmp_path / "run-cache", "--budget-min", "3", "--only", "generalization.nk", "--preset", "quick"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    by_phase = {}
    for row in rows:
        by_phase.setdefault(row["phase"], []).append(row)
    assert set(by_phase) == {"setup", "check", "probe", "estimate", "fill"}
    assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"]
    (estimate,) = by_phase["estimate"]
    assert float(estimate["paper_estimate_s"]) > 0
    filled = by_phase["fill"]
    import engine
    from engine import bundle

    grid = engine.get_experiment("generalization.nk").grid("quick")
    assert len(filled) == len(grid)
    assert bundle.import_bundle(out / "bundle.zip") == len(grid)  # into the empty fresh_cache
    assert all(engine.is_cached("generalization.nk", config) for config in grid)
    assert (out / "timings.md").read_text().count("| fill |") == len(grid)


@pytest.mark.slow
def test_a_tiny_budget_is_kept_and_every_step_is_a_row(tmp_path):
    out = tmp_path / "out"
    proc, rows, seconds = run_script(
        out, tmp_path / "run-cache", "--budget-min", "0.25", "--only", "linear_ae", "--no-compare"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # 15 s of budget; Python's start-up and closing the workers are outside what the script can cut
    assert seconds < 15 + 45
    assert {r["status"] for r in rows} <= {"ok", "skipped", "timeout", "no data", "n/a", "lower bound"}
    assert any(r["status"] in ("skipped", "timeout") for r in rows)
    from engine import bundle

    assert bundle.manifest(out / "bundle.zip") == [] or all(
        e["experiment"].startswith("linear_ae.") for e in bundle.manifest(out / "bundle.zip")
    )
