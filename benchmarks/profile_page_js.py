"""Where a page view's time goes inside Chromium: the browser's own CPU profile (Chrome DevTools
Protocol, ``Profiler`` domain) over warm views of the given pages, grouped by script.

    .venv/bin/python benchmarks/profile_page_js.py [--pages double_descent,smoothing] [--views 3]

A fresh server (as ``bench_browser.py`` starts it, empty cache), the home page, each page once
(cold, untimed), then ``--views`` rounds of clicks through the pages with the profiler on. Prints
the milliseconds of the browser's main thread per script (Streamlit's bundles: ``embed`` is
Vega-Embed, ``vega-interpreter`` Vega's expression interpreter, ``StreamlitMarkdown`` the text,
``react-dom`` and ``emotion`` the element tree and its styles; ``(program)`` is the browser's native
work: style, layout, paint; ``(garbage collector)``) and the busiest functions. The server's share
of a view is in ``bench_browser.py``'s *server finished* column.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_browser as bb  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="double_descent,smoothing")
    parser.add_argument("--views", type=int, default=3, help="rounds of clicks through the pages, profiled")
    args = parser.parse_args()
    if not Path(bb.CHROMIUM).exists():
        print(f"no Chromium at {bb.CHROMIUM}: nothing measured")
        return 0
    from playwright.sync_api import sync_playwright

    pages = [p for p in args.pages.split(",") if p]
    with (
        tempfile.TemporaryDirectory() as tmp,
        bb.server(ROOT, Path(tmp) / "cache", Path(tmp) / "server.log") as (url, _, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=bb.CHROMIUM, args=bb.CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        finishes = bb.Finishes(page)
        page.goto(url, wait_until="commit")
        bb.wait_done(page, finishes, 0, time.perf_counter())
        for name in pages:
            bb.click_page(page, finishes, name)
        devtools = page.context.new_cdp_session(page)
        devtools.send("Profiler.enable")
        devtools.send("Profiler.setSamplingInterval", {"interval": 200})  # microseconds
        devtools.send("Profiler.start")
        seconds = [bb.click_page(page, finishes, n)[0] for _ in range(args.views) for n in pages]
        profile = devtools.send("Profiler.stop")["profile"]
        browser.close()
    nodes = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    by_script, by_function = collections.Counter(), collections.Counter()
    for node_id, micros in zip(profile["samples"], profile["timeDeltas"]):
        frame = nodes[node_id]
        script = frame["url"].rsplit("/", 1)[-1] or frame["functionName"]
        by_script[script] += micros
        by_function[f"{frame['functionName'] or '(anonymous)'} in {script}"] += micros
    print(
        f"{len(seconds)} warm views, {sum(seconds):.2f} s in all (median {sorted(seconds)[len(seconds) // 2]:.2f} s)"
    )
    print("\nmain-thread ms per script:")
    for script, micros in by_script.most_common(15):
        print(f"  {micros / 1000:8.1f}  {script}")
    print("\nbusiest functions (self time, ms):")
    for function, micros in by_function.most_common(15):
        print(f"  {micros / 1000:8.1f}  {function}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
