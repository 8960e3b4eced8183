"""Talk-mode speed: how long each slide of a cached talk takes to show, and export timings.

    .venv/bin/python benchmarks/bench_talk.py [--talk talks/example.toml] [--cache DIR] [--repeat 5]

Fills a cache (a temporary one unless --cache is given) with the talk's slides, then prints per
slide, as medians:
  load+chart: the slide's frame read from the result cache, its chart built and serialised (the
              server's work for a slide seen for the first time and not prefetched);
  forward:    in headless Chromium, from pressing → on the previous slide until this slide's title,
              counter and chart are drawn (each slide prefetches the next one's chart);
  back:       the same going backwards with ← (revisited slides);
  PNG, SVG:   exporting the chart with vl-convert (the app's download buttons, the report);
and the time to write the report from the cache. Target: every slide shows in under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def engine_timings(talk, repeat: int) -> dict[int, tuple[float, float, float]]:
    """slide number -> (load+chart, PNG, SVG) seconds, for slides with a chart."""
    from engine.present import figures, talk_check

    out = {}
    for slide in talk.slides:
        if slide.experiment is None or slide.number in talk.pending:
            continue
        load = median_seconds(lambda slide=slide: talk_check.slide_spec(slide), repeat)
        spec = talk_check.slide_spec(slide)
        # the renders themselves, not the per-spec cache that serves a repeated export
        png = median_seconds(
            lambda spec=spec: (figures._RENDERED.clear(), figures.chart_bytes(spec, "png")), 3
        )
        svg = median_seconds(
            lambda spec=spec: (figures._RENDERED.clear(), figures.chart_bytes(spec, "svg")), 3
        )
        out[slide.number] = (load, png, svg)
    return out


def shown(page, slide, total: int) -> None:
    """Wait until ``slide`` is drawn: its title, its counter and (if any) its chart's canvas."""
    page.get_by_role("heading", name=slide.title).wait_for(timeout=60_000)
    page.get_by_text(f"{slide.number} / {total} ·").wait_for(timeout=60_000)
    if slide.experiment is not None:
        page.locator(
            ".st-key-talk_chart .talk-svg svg, .vega-embed canvas, .vega-embed svg.marks"
        ).first.wait_for(timeout=60_000)


def browser_timings(talk, cache_dir: str, rounds: int) -> dict[int, tuple[list[float], list[float]]]:
    """slide number -> (forward seconds, back seconds) over ``rounds`` passes through the talk."""
    from app_server import chromium_page, running_app

    times = {s.number: ([], []) for s in talk.slides}
    total = len(talk.slides)
    name = Path(talk.path).stem
    with running_app(Path(cache_dir)) as url, chromium_page() as page:
        page.goto(f"{url}/talk?talk={name}&slide=1", wait_until="domcontentloaded")
        shown(page, talk.slides[0], total)
        for _ in range(rounds):
            for key, order, which in (
                ("ArrowRight", talk.slides[1:], 0),
                ("ArrowLeft", talk.slides[-2::-1], 1),
            ):
                for slide in order:
                    page.wait_for_timeout(300)  # let the previous run (and its prefetch) finish
                    start = time.perf_counter()
                    page.locator("body").press(key)
                    shown(page, slide, total)
                    times[slide.number][which].append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talk", default=str(ROOT / "talks" / "example.toml"))
    parser.add_argument("--cache", help="use (and fill) this cache instead of a temporary one")
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the engine timings")
    parser.add_argument("--rounds", type=int, default=3, help="passes through the talk in the browser")
    args = parser.parse_args()
    os.environ["PHENOMENA_CACHE"] = args.cache or tempfile.mkdtemp(prefix="bench-talk-")

    from engine.present import report, talk_check
    from engine.present import talk as talks

    talk = talks.load_talk(args.talk)
    start = time.perf_counter()
    failures = talk_check.precompute_talk(talk, sliders=False)
    print(
        f"filled the cache for {len(talk.slides)} slides in {time.perf_counter() - start:.1f} s "
        f"({len(failures)} failures) at {os.environ['PHENOMENA_CACHE']}"
    )
    server = engine_timings(talk, args.repeat)
    browser = browser_timings(talk, os.environ["PHENOMENA_CACHE"], args.rounds)
    print(
        f"{'slide':>5}  {'experiment':26s} {'load+chart':>10} {'forward':>8} {'back':>6} {'PNG':>6} {'SVG':>6}"
    )
    worst = 0.0
    for slide in talk.slides:
        forward, back = (statistics.median(t) if t else float("nan") for t in browser[slide.number])
        worst = max(worst, *(x for x in (forward, back) if x == x))
        load, png, svg = server.get(slide.number, (float("nan"),) * 3)
        what = slide.experiment or "(text)"
        print(f"{slide.number:5d}  {what:26s} {load:10.3f} {forward:8.3f} {back:6.3f} {png:6.2f} {svg:6.2f}")
    print(f"slowest slide in the browser (median of {args.rounds}): {worst:.3f} s (target < 0.5 s)")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = report.build_report(out, cached_only=True)
        print(f"report from the cache: {time.perf_counter() - start:.1f} s, {len(summary.figures)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
