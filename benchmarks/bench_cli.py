"""Whole CLI commands as a user types them: ``python -m engine ...`` in a fresh process each time,
reading a cache that already holds the results (a student after ``import bundles/quick.zip``).

    .venv/bin/python benchmarks/bench_cli.py [--repeats 3] [--bundle bundles/quick.zip] [--out DIR]
        [--compare OTHER_CHECKOUT]

Fills a scratch cache from ``--bundle`` (untimed), then times, each ``--repeats`` times (median):
``figure NAME --cached-only`` (SVG) for the first experiment of each phenomenon, twice: its first
export (the layout fitted) and again (the size kept in the cache's ``figure-fits.json`` confirmed
with one layout), ``list``,
``status`` and ``report --only PHENOMENON --cached-only`` for one phenomenon. The 1-minute load
average is recorded beside each figure (a shared machine). Writes ``cli-<date>.md`` and ``.json``
under ``--out``. Targets (issue 19): a figure from the cache < 2 s, a one-phenomenon report < 30 s.

``--compare OTHER``: the same commands in a second checkout (say, before a change), in turns with
this one (this checkout's run, then the other's, per repeat), each with its own scratch cache filled
from its own ``bundles/quick.zip``; the table adds the other's medians and the median of the
pairs' ratios (a machine whose speed drifts compares better in pairs taken seconds apart).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"figure": 2.0, "report": 30.0}


def timed(args: list[str], env: dict[str, str], root: Path) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=root, env=env, capture_output=True)
    return time.perf_counter() - start, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bundle", default=None, help="default: each checkout's bundles/quick.zip")
    parser.add_argument("--report-only", default="linear_ae", help="the phenomenon of the report run")
    parser.add_argument("--compare", default=None, help="a second checkout, timed in turns with this one")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    roots = [ROOT] + ([Path(args.compare).resolve()] if args.compare else [])
    scratch = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    envs = {
        root: {**os.environ, "PHENOMENA_CACHE": str(scratch / f"cache-{i}"), "PYTHONPATH": str(root)}
        for i, root in enumerate(roots)
    }
    try:
        for root in roots:
            bundle = args.bundle or str(root / "bundles" / "quick.zip")
            seconds, code = timed(["import", bundle], envs[root], root)
            print(f"filled {root}'s scratch cache from {bundle} in {seconds:.1f} s (exit {code})", flush=True)
        sys.path.insert(0, str(ROOT))
        from engine.core.registry import available, load_experiments

        firsts = {}
        for name in sorted(load_experiments()):
            firsts.setdefault(name.split(".")[0], name)
        commands = [
            (f"figure {n}", ["figure", n, "--cached-only", "--out", str(scratch / "f.svg")])
            for n in firsts.values()
            if n.split(".")[0] in {p.name for p in available()}
        ]
        commands += [("list", ["list"]), ("status", ["status"])]
        commands += [
            (
                f"report --only {args.report_only}",
                ["report", "--only", args.report_only, "--cached-only", "--out", str(scratch / "report")],
            )
        ]
        rows = []
        for label, argv in commands:
            # A figure is timed twice per repeat: its first export (no size hint kept: the layout
            # is fitted) and the same export again (the kept hint is confirmed by one layout).
            kinds = ["first", "again"] if label.startswith("figure") else [""]
            times = {(root, kind): [] for root in roots for kind in kinds}
            loads = {kind: [] for kind in kinds}
            codes = set()
            for _ in range(args.repeats):
                for root in roots:
                    (Path(envs[root]["PHENOMENA_CACHE"]) / "figure-fits.json").unlink(missing_ok=True)
                    for kind in kinds:
                        if root == ROOT:
                            loads[kind].append(round(os.getloadavg()[0], 2))
                        seconds, code = timed(argv, envs[root], root)
                        times[root, kind].append(seconds)
                        codes.add(code)
            target = TARGETS.get(label.split()[0])
            for kind in kinds:
                mine = times[ROOT, kind]
                median = statistics.median(mine)
                shown = f"{label} ({kind})" if kind else label
                row = {
                    "command": shown,
                    "median_s": median,
                    "times": mine,
                    "load1": loads[kind],
                    "exit": sorted(codes),
                    "target_s": target,
                }
                if args.compare:
                    other = times[roots[1], kind]
                    row["before_median_s"] = statistics.median(other)
                    row["before_times"] = other
                    row["ratio"] = statistics.median(a / b for a, b in zip(mine, other))
                rows.append(row)
                extra = (
                    f"; before {row['before_median_s']:.2f} s, ratio {row['ratio']:.2f}"
                    if args.compare
                    else ""
                )
                print(
                    f"  {shown:48s} {median:6.2f} s  (runs {', '.join(f'{t:.2f}' for t in mine)}; "
                    f"load {loads[kind]}; exit {sorted(codes)}{extra})",
                    flush=True,
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    paired = f"; in turns with {args.compare} (*before*)" if args.compare else ""
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} ({os.cpu_count()} CPUs), each command a fresh process reading a "
        f"cache filled from its checkout's quick bundle; median of {args.repeats}{paired}.",
        "",
        "| command | median (s) | runs (s) | target (s) | met | load average (1 min) | exit |"
        + (" before (s) | ratio of pairs |" if args.compare else ""),
        "| --- | --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if args.compare else ""),
    ]
    for r in rows:
        met = "" if r["target_s"] is None else ("yes" if r["median_s"] < r["target_s"] else "**no**")
        target = "" if r["target_s"] is None else f"< {r['target_s']:g}"
        runs = ", ".join(f"{t:.2f}" for t in r["times"])
        loads = ", ".join(f"{x:.2f}" for x in r["load1"])
        line = (
            f"| `{r['command']}` | {r['median_s']:.2f} | {runs} | {target} | {met} | {loads} | {r['exit']} |"
        )
        if args.compare:
            line += f" {r['before_median_s']:.2f} | {r['ratio']:.2f} |"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"cli-{time.strftime('%Y-%m-%d-%H%M')}"
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    print("\n" + text + f"\nwrote {stem}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
