"""A GPU run prepared to the minute: ``bash benchmarks/gpu.sh --budget-min 6 --out DIR``.

For a machine with CUDA and no internet. Within ``--budget-min`` minutes in all it does, in order:

1. check: runs every experiment's ``quick`` preset (synthetic, digits and MNIST-1D data) on the
   device, and again on the CPU where that is cheap, and reports the largest relative difference
   of the two result frames' numeric columns (float32 kernels and GPU reductions differ in the last
   digits; long SGD runs amplify that, so a difference is reported, not judged).
2. probe: times each paper preset's unit of work. The engine has no per-epoch hook, so a probe is
   a short run of the paper config with its driving fields cut down (epochs, steps, seeds, points,
   kernel size; see ``PROBES``), done at two sizes. A non-negative least-squares line
   ``t = fixed + sum(cost_i * units_i)`` through them (no fixed part with two drivers) is
   extrapolated to every config of the paper grid. Probes run experiment by experiment, those that
   need a GPU most first. Where the paper's CIFAR-10 / MNIST files are absent, probes run on random stand-in
   images of the real shapes and sizes (timing only, in a scratch cache that is deleted; never in
   the bundle).
3. fill: runs the paper grid's configs on the real data, cheapest first, each only if its
   extrapolated time fits in what is left (configs without a probe last, ordered by the
   experiment's own laptop estimate); those needing absent files become "no data" rows.
4. writes ``DIR/bundle.zip`` (the engine's export of what the fill computed; import it with
   ``python -m engine import DIR/bundle.zip``), ``DIR/timings.csv`` and ``DIR/timings.md``
   (one row per step, failures included), ``DIR/summary.json`` and ``DIR/gpu.log``.

Every run happens in a worker process; a step that crashes, raises or overruns its share of the
budget (the worker is then killed and restarted) becomes a row of the table, and the script goes on.
The split of the budget left once the worker is up: check until 20 %, probes until 60 %, fill until
the end minus a reserve; time a phase does not use passes to the next one.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from gpu_worker import Worker  # noqa: E402

COLUMNS = ("phase", "experiment", "what", "device", "status", "seconds", "paper_estimate_s", "note")
CHECK_END, PROBE_END = 0.20, 0.60  # phase ends, as fractions of the budget
PROBE_CAP_S, PROBE_SHARE = 30.0, 0.35  # one probe may take max(30 s, 35 % of the probe phase)
CHECK_CAP_S, COMPARE_CAP_S = 120.0, 60.0  # most seconds one quick run may take (device, CPU)
COMPARE_IF_UNDER_S = 10.0  # compare on the CPU only where the device run took less than this
CIFAR_TEST_SIZE = 10_000


@dataclass(frozen=True)
class Probe:
    """How to time one experiment's paper preset: ``runs`` override the paper config (smallest
    first); ``units(config) -> tuple`` counts the work the time is proportional to."""

    drivers: tuple[str, ...]
    units: Callable[[dict], tuple[float, ...]]
    runs: tuple[dict, ...]
    note: str = ""
    borrow: str = ""  # use this experiment's probes instead (the same unit of work, other units)


def _field(name: str) -> Callable[[dict], tuple[float, ...]]:
    return lambda c: (float(c[name]),)


def _seeds(*runs: int) -> tuple[dict, ...]:
    return tuple({"seeds": r} for r in runs)


def _certify_units(c: dict) -> tuple[float, float]:
    points = c["max_points"] or math.ceil(CIFAR_TEST_SIZE / c["skip"])  # 0 = the whole test set
    return float(c["epochs"] * len(c["sigmas"])), float(points * len(c["sigmas"]))


def _pairs(c: dict) -> tuple[float]:
    n = c["n_train"] + c["n_test"]  # one symmetric kernel over train + test images
    return (n * (n + 1) / 2,)


def _grid_units(c: dict) -> tuple[float, float]:
    points = c["max_points"] or math.ceil(CIFAR_TEST_SIZE / c["skip"])
    trained = len(c["train_sigmas"])
    return float(c["epochs"] * trained), float(points * trained * len(c["certify_sigmas"]))


def _two_points(**fixed) -> tuple[dict, dict]:
    """Two probes with 1 epoch and 1 or 2 test points: the point's cost is their difference; the
    epoch's cost takes the rest of the first (data loading and set-up included: errs long)."""
    return tuple({**fixed, "epochs": 1, key: v} for key, v in (("max_points", 1), ("max_points", 2)))


# In the order they run (depth-first), the paper runs that need a GPU most first: a budget that
# runs out leaves the cheap CPU-bound estimates out, not the CIFAR-10 ones.
PROBES: dict[str, Probe] = {
    "double_descent.network": Probe(("epochs",), _field("epochs"), ({"epochs": 1}, {"epochs": 2})),
    "ntk.classify": Probe(
        ("kernel pairs",),
        _pairs,
        ({"n_train": 32, "n_test": 32}, {"n_train": 64, "n_test": 64}),
        "pairs = N(N+1)/2, N = n_train + n_test; the n^3 solve is left out",
    ),
    "smoothing.certify": Probe(
        ("epochs x sigmas", "points x sigmas"),
        _certify_units,
        _two_points(sigmas=[0.25]),
        "one model trained per sigma; points = test set / skip",
    ),
    "smoothing.grid": Probe(
        ("epochs x trainings", "points x trainings x sigmas"),
        _grid_units,
        (),
        "per-epoch and per-point costs of smoothing.certify",
        borrow="smoothing.certify",
    ),
    "smoothing.attack": Probe(
        ("epochs", "num_points"),
        lambda c: (float(c["epochs"]), float(c["num_points"])),
        ({"epochs": 1, "num_points": 1}, {"epochs": 1, "num_points": 2}),
    ),
    "linear_ae.decoders": Probe(("steps",), _field("steps"), ({"steps": 300}, {"steps": 600})),
    "linear_ae.dynamics": Probe(("steps",), _field("steps"), ({"steps": 300}, {"steps": 600})),
    "linear_ae.snapshot": Probe(
        ("at_step",), _field("at_step"), ({"steps": 300, "at_step": 300}, {"steps": 600, "at_step": 600})
    ),
    "ntk.fix_ablation": Probe(
        ("kernel pairs",), _pairs, ({"n_train": 32, "n_test": 32}, {"n_train": 64, "n_test": 64})
    ),
    "ntk.cntk_convergence": Probe(("seeds",), _field("seeds"), _seeds(1, 2)),
    "ntk.convergence": Probe(("seeds",), _field("seeds"), _seeds(1, 2)),
    "ntk.curve": Probe(("steps",), _field("steps"), ({"steps": 100}, {"steps": 200})),
    "ntk.digits": Probe(("steps",), _field("steps"), ({"steps": 50}, {"steps": 100})),
    "linear_ae.scaling": Probe(
        ("max_steps",),
        _field("max_steps"),
        ({"max_steps": 1000}, {"max_steps": 2000}),
        "an upper bound: a run stops once every variant has aligned",
    ),
    "linear_ae.saddle": Probe(("steps",), _field("steps"), ({"steps": 4000}, {"steps": 8000})),
    "double_descent.width": Probe(
        ("network_epochs",), _field("network_epochs"), ({"network_epochs": 3}, {"network_epochs": 6})
    ),
    "double_descent.two_layer": Probe(("steps",), _field("steps"), ({"steps": 500}, {"steps": 1000})),
    "double_descent.linear": Probe(
        ("sim_seeds",), _field("sim_seeds"), ({"sim_seeds": 10}, {"sim_seeds": 20})
    ),
    "smoothing.toy": Probe(("num_points",), _field("num_points"), ({"num_points": 4}, {"num_points": 8})),
    "smoothing.linear": Probe(("num_points",), _field("num_points"), ({"num_points": 4}, {"num_points": 8})),
    "generalization.linear": Probe(("seeds",), _field("seeds"), _seeds(1, 2)),
    "generalization.nk": Probe(("seeds",), _field("seeds"), _seeds(1, 2)),
    "generalization.random_features": Probe(("seeds",), _field("seeds"), _seeds(1, 2)),
    "generalization.ridge": Probe(("seeds",), _field("seeds"), _seeds(1, 2)),
}

# Extra device checks beyond the quick presets: the MNIST-1D path of the double-descent networks.
EXTRA_CHECKS: tuple[tuple[str, dict], ...] = (
    ("double_descent.network", {"dataset": "mnist1d", "epochs": 20}),
)


# ----------------------------------------------------------------------------------------------
# The plan, run in the parent process.


def fit_costs(probes: list[tuple[tuple[float, ...], float]]) -> tuple[float, tuple[float, ...]] | None:
    """``(fixed, costs)`` with ``t = fixed + costs . units`` fitted to ``[(units, seconds)]``.

    Non-negative least squares; the fixed part is fitted only with more probes than drivers
    (with as many, it is taken as 0, which overestimates), and dropped again when the fit would
    make a driver free. None with fewer probes than drivers.
    """
    import numpy as np
    from scipy.optimize import nnls

    if not probes:
        return None
    k = len(probes[0][0])
    if len(probes) < k:
        return None
    A = np.array([u for u, _ in probes], dtype=float)
    t = np.array([s for _, s in probes], dtype=float)
    if len(probes) > k:
        x, _ = nnls(np.column_stack([np.ones(len(t)), A]), t)
        if all(v > 0 for v in x[1:]):
            return float(x[0]), tuple(float(v) for v in x[1:])
        # a driver that costs nothing means a bigger probe ran faster than a smaller one (a first
        # run's warm-up, a busy machine): fall back to the last probes, without a fixed part
        A, t = A[-k:], t[-k:]
    x, _ = nnls(A, t)
    return 0.0, tuple(float(v) for v in x)


def predict(fit: tuple[float, tuple[float, ...]], units: tuple[float, ...]) -> float:
    fixed, costs = fit
    return fixed + sum(c * u for c, u in zip(costs, units))


def human(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


class Table:
    """The timing table, rewritten as CSV and Markdown after every row (a killed run keeps its rows)."""

    def __init__(self, out: Path, clock: Callable[[], float], header: list[str]):
        self.out, self.clock, self.header, self.rows = out, clock, header, []
        self.log = out / "gpu.log"

    def say(self, text: str) -> None:
        line = f"[{self.clock():7.1f} s] {text}"
        print(line, flush=True)
        with open(self.log, "a") as fh:
            fh.write(line + "\n")

    def add(
        self,
        phase: str,
        experiment: str,
        what: str,
        device: str,
        status: str,
        seconds: float | None = None,
        estimate: float | None = None,
        note: str = "",
    ) -> None:
        row = {
            "phase": phase,
            "experiment": experiment,
            "what": what,
            "device": device,
            "status": status,
            "seconds": "" if seconds is None else f"{seconds:.3f}",
            "paper_estimate_s": "" if estimate is None else f"{estimate:.1f}",
            "note": note,
        }
        self.rows.append(row)
        extra = f" -> paper {human(estimate)}" if estimate is not None else ""
        self.say(
            f"{phase:8s} {experiment:32s} {what:38s} {status:9s} "
            f"{row['seconds'] or '-':>9s}{extra}  {note[:100]}"
        )
        self.write()

    def write(self) -> None:
        with open(self.out / "timings.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
        lines = list(self.header) + ["", "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
        for row in self.rows:
            cells = [str(row[c]).replace("|", "/").replace("\n", " ") for c in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
        (self.out / "timings.md").write_text("\n".join(lines) + "\n")


def estimate(name: str, grid: list[dict], measured: dict, overran: dict) -> tuple[float | None, str, str]:
    """``(seconds for the whole grid, status, note)``: "ok" from a fit of the probes, "lower bound"
    when the smallest probe overran its limit, else "n/a"."""
    probe = PROBES.get(name)
    if probe is None:
        return None, "n/a", "no probe: measured by the fill"
    fit = fit_costs(measured.get(probe.borrow or name, []))
    if fit is not None:
        total = sum(predict(fit, probe.units(c)) for c in grid)
        terms = " + ".join(f"{c:.3g} s x {d}" for c, d in zip(fit[1], probe.drivers))
        source = f" (probes of {probe.borrow})" if probe.borrow else ""
        return (
            total,
            "ok",
            f"t = {fit[0]:.2f} s + {terms}{source}" + (f"; {probe.note}" if probe.note else ""),
        )
    if (probe.borrow or name) in overran:  # paper run >= probe time x the smallest ratio of units
        units, seconds = overran[probe.borrow or name]
        ratio = sum(min(U / u for U, u in zip(probe.units(c), units)) for c in grid)
        return (
            seconds * ratio,
            "lower bound",
            (f"the smallest probe ran over {seconds:.0f} s; bound assumes its time was work, not set-up"),
        )
    return None, "n/a", "too few probes finished"


def laptop_seconds(name: str, config: dict) -> float:
    """The experiment's own cost model (seconds on one laptop core), to order runs without a probe."""
    import engine

    try:
        exp = engine.get_experiment(name)
        return float(exp.estimate(engine.resolve_config(name, config, preset="paper")).seconds)
    except Exception:  # no estimate declared, or it failed
        return math.inf


def selected(only: str | None) -> list[str]:
    import engine

    names = sorted(engine.EXPERIMENTS)
    if not only:
        return names
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    return [n for n in names if n in wanted or n.split(".", 1)[0] in wanted]


def run_plan(args, out: Path, cache_dir: str, scratch: str) -> dict:
    import engine
    from engine.core.experiment import config_to_dict

    start = time.monotonic()
    total = args.budget_min * 60.0
    reserve = min(15.0, 0.05 * total)  # export and tables
    elapsed = lambda: time.monotonic() - start  # noqa: E731
    base = [0.0]  # when the workers were up: the phases share what is left after that
    left = lambda end: base[0] + end * (total - base[0]) - elapsed()  # noqa: E731
    header = [
        f"# GPU run: {time.strftime('%Y-%m-%d %H:%M')}, budget {args.budget_min:g} min, device {args.device}"
    ]
    table = Table(out, elapsed, header)
    names = selected(args.only)
    table.say(f"budget {total:.0f} s for {len(names)} experiments; cache {cache_dir}")
    summary = {"budget_s": total, "experiments": names, "estimates": {}}

    # Worker A (scratch cache, stand-in data) checks and probes; worker B (real cache) fills. Both
    # start now, so that B's start-up overlaps A's work.
    start_timeout = lambda: max(total - elapsed(), 5.0)  # noqa: E731
    probe_worker = Worker(scratch, True, args.device, start_timeout)
    fill_worker = Worker(cache_dir, False, args.device, start_timeout)
    probe_worker.start()
    if "fill" in args.phases:
        fill_worker.start()
    info = probe_worker.ready()
    if info["status"] != "ok":
        table.add(
            "setup", "-", f"device {args.device}", args.device, info["status"], note=info.get("note", "")
        )
        probe_worker.close()
        fill_worker.close()
        return summary
    device = info["device"]
    base[0] = elapsed()
    header.append(f"Device: {info['note']}. Python {sys.version.split()[0]}.")
    summary.update(device=device, gpu=info.get("gpu"), torch=info.get("torch"))
    table.add("setup", "-", "worker started, device initialised", device, "ok", elapsed(), note=info["note"])

    def run(worker, phase, name, what, preset, overrides, end, cap, **extra) -> dict:
        allowance = min(left(end), cap)
        if allowance < 1.0:
            table.add(
                phase, name, what, extra.get("on", device), "skipped", note="no budget left for this phase"
            )
            return {"status": "skipped"}
        task = {
            "kind": "run",
            "name": name,
            "preset": preset,
            "overrides": overrides,
            "device": extra.get("on", device),
            "use_cache": extra.get("use_cache", False),
            "keep": extra.get("keep"),
            "compare": extra.get("compare"),
        }
        result = {**worker.call(task, allowance), "allowance": allowance}
        table.add(
            phase,
            name,
            what,
            task["device"],
            result["status"],
            result.get("seconds"),
            extra.get("estimate"),
            result.get("note", ""),
        )
        return result

    order = [n for n in PROBES if n in names] + [n for n in names if n not in PROBES]  # GPU-heavy first

    # 1. check: every quick preset on the device; then, where cheap, on the CPU for a comparison.
    if "check" in args.phases:
        checks = [(n, {}) for n in order] + [(n, o) for n, o in EXTRA_CHECKS if n in names]
        compare = []
        for i, (name, overrides) in enumerate(checks):
            what = "quick" + "".join(f", {k}={v}" for k, v in overrides.items())
            fair = left(CHECK_END) / (len(checks) - i)  # one slow check cannot starve the rest
            result = run(
                probe_worker,
                "check",
                name,
                what,
                "quick",
                overrides,
                CHECK_END,
                min(CHECK_CAP_S, max(15.0, 3 * fair)),
                keep=f"check{i}",
            )
            if device != "cpu" and result["status"] == "ok" and result["seconds"] < COMPARE_IF_UNDER_S:
                compare.append((i, name, what, overrides))
        for i, name, what, overrides in compare if args.compare else ():
            run(
                probe_worker,
                "check",
                name,
                what + " on cpu, compared",
                "quick",
                overrides,
                CHECK_END,
                COMPARE_CAP_S,
                on="cpu",
                compare=f"check{i}",
            )

    # 2. probe: the unit of work of each paper preset, experiment by experiment.
    measured: dict[str, list[tuple[tuple[float, ...], float]]] = {n: [] for n in names}
    overran: dict[str, tuple[tuple[float, ...], float]] = {}  # a first probe stopped at its limit
    paper_grid = {}
    for name in order:
        try:
            paper_grid[name] = [config_to_dict(c) for c in engine.get_experiment(name).grid(args.preset)]
        except Exception as err:  # no such preset
            table.add(
                "probe", name, f"{args.preset} grid", device, "failed", note=f"{type(err).__name__}: {err}"
            )
    if "probe" in args.phases:
        phase_s = left(PROBE_END)
        for name in paper_grid:
            probe = PROBES.get(name)
            for overrides in probe.runs if probe else ():
                what = f"{args.preset}, " + ", ".join(f"{k}={v}" for k, v in overrides.items())
                cap = max(PROBE_CAP_S, PROBE_SHARE * phase_s)  # one slow probe cannot starve the rest
                result = run(probe_worker, "probe", name, what, args.preset, overrides, PROBE_END, cap)
                config = {**paper_grid[name][0], **overrides}
                if result["status"] == "timeout" and not measured[name]:
                    overran[name] = (probe.units(config), result["allowance"])
                if result["status"] != "ok":
                    break  # a failed or skipped probe: the bigger one would not do better
                measured[name].append((probe.units(config), result["seconds"]))
    probe_worker.close()
    shutil.rmtree(scratch, ignore_errors=True)

    # estimates: each paper config's extrapolated time.
    predicted: dict[tuple[str, int], float | None] = {}
    at_least: dict[tuple[str, int], float] = {}  # lower bounds where the smallest probe overran
    for name, grid in paper_grid.items():
        try:
            total_s, status, note = estimate(name, grid, measured, overran)
            per = [estimate(name, [c], measured, overran)[0] for c in grid]
        except Exception as err:  # a probe table that does not fit the config: a row, not a crash
            total_s, status, note, per = (
                None,
                "failed",
                f"gpu.py: {type(err).__name__}: {err}",
                [None] * len(grid),
            )
        for i, seconds in enumerate(per):
            predicted[(name, i)] = seconds if status == "ok" else None
            if status == "lower bound":
                at_least[(name, i)] = seconds
        summary["estimates"][name] = {"configs": len(grid), "seconds": total_s, "status": status, "fit": note}
        table.add(
            "estimate",
            name,
            f"{args.preset} grid, {len(grid)} config(s)",
            device,
            status,
            None,
            total_s,
            note,
        )

    # 3. fill: cheapest paper configs first, each only if its estimate fits.
    if "fill" in args.phases:
        fill_end = 1.0 - reserve / total
        laptop = {k: laptop_seconds(k[0], paper_grid[k[0]][k[1]]) for k in predicted if predicted[k] is None}
        order = sorted(
            predicted, key=lambda k: (predicted[k] is None, predicted[k] or laptop.get(k, math.inf))
        )
        no_data: set[str] = set()
        for name, i in order:
            guess = predicted[(name, i)]
            config = paper_grid[name][i]
            what = f"{args.preset} config {i + 1}/{len(paper_grid[name])}"
            if name in no_data:
                table.add("fill", name, what, device, "no data", note="files absent (see above)")
                continue
            if guess is not None and 1.2 * guess + 2.0 > left(fill_end):
                table.add(
                    "fill",
                    name,
                    what,
                    device,
                    "skipped",
                    estimate=guess,
                    note=f"needs about {human(guess)}, {human(max(left(fill_end), 0))} left",
                )
                continue
            if (name, i) in at_least and at_least[(name, i)] > left(fill_end):
                table.add(
                    "fill",
                    name,
                    what,
                    device,
                    "skipped",
                    estimate=at_least[(name, i)],
                    note=f"needs at least {human(at_least[(name, i)])}, {human(max(left(fill_end), 0))} left",
                )
                continue
            cap = left(fill_end) if guess is None else max(3.0 * guess + 10.0, 20.0)
            result = run(
                fill_worker,
                "fill",
                name,
                what,
                args.preset,
                config,
                fill_end,
                cap,
                use_cache=True,
                estimate=guess,
            )
            if result["status"] == "no data":
                no_data.add(name)
            if result["status"] == "ok":
                export(out, table)
    fill_worker.close()
    summary["seconds"] = elapsed()
    return summary


def export(out: Path, table: Table | None = None) -> int:
    """Write the bundle of everything in this run's cache; return its entry count."""
    from engine import bundle

    count = bundle.export_bundle(out / "bundle.zip")
    if table is not None:
        table.say(f"bundle: {count} result(s) in {out / 'bundle.zip'}")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-min", type=float, default=6.0, help="minutes for the whole run")
    parser.add_argument("--out", required=True, help="folder for bundle.zip, timings.csv/.md, summary.json")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--only", help="comma-separated experiments or phenomena (default: all)")
    parser.add_argument("--phases", default="check,probe,fill", help="any of check,probe,fill")
    parser.add_argument("--preset", default="paper", help="the preset probed and filled (default: paper)")
    parser.add_argument("--no-compare", dest="compare", action="store_false", help="skip the CPU comparison")
    parser.add_argument("--cache", help="result cache to fill (default: a new temporary folder)")
    args = parser.parse_args(argv)
    args.phases = {p.strip() for p in args.phases.split(",")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = args.cache or tempfile.mkdtemp(prefix="phenomena-gpu-cache-")
    scratch = tempfile.mkdtemp(prefix="phenomena-gpu-scratch-")
    os.environ["PHENOMENA_CACHE"] = cache_dir  # before the engine is imported
    summary: dict = {}
    try:
        summary = run_plan(args, out, cache_dir, scratch)
    except BaseException as err:  # never crash: say what happened, keep what was done
        summary["error"] = f"{type(err).__name__}: {err}"
        print(f"gpu.py stopped early: {summary['error']}\n{traceback.format_exc()}", file=sys.stderr)
    finally:
        try:
            summary["bundle_entries"] = export(out)
        except Exception as err:
            summary["bundle_error"] = f"{type(err).__name__}: {err}"
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        shutil.rmtree(scratch, ignore_errors=True)
        if not args.cache:  # a temporary cache: everything in it is in the bundle now
            shutil.rmtree(cache_dir, ignore_errors=True)
    print(
        f"wrote {out}/bundle.zip ({summary.get('bundle_entries', 0)} results), timings.csv, timings.md, "
        f"summary.json",
        flush=True,
    )
    return 0 if "error" not in summary else 1


if __name__ == "__main__":
    sys.exit(main())
