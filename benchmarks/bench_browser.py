"""Speed where the student sits: the app in a real browser (Debian's Chromium through Playwright),
on a freshly started server with an empty cache, the way ``make run`` starts it.

    .venv/bin/python benchmarks/bench_browser.py [--runs 3] [--pages ntk,smoothing] [--think 2]
        [--idle 30] [--root PATH] [--compare OTHER_CHECKOUT] [--out benchmarks/results]

Each run starts a new ``streamlit run app.py`` (the repository's own ``.streamlit/config.toml``:
only port, address and headless are set on the command line) with a new empty cache folder, opens
a new browser, and times, one after another:

1. **home, first visit**: from ``page.goto`` until the app's run has finished and every chart and
   the scoreboard are on screen;
2. after ``--think`` seconds (a student reading the home page), **each page's first view** by a
   click on its sidebar link (cold: a new process, an empty cache, so the quick preset's default
   is computed), then a second round of clicks (**warm**: the page seen before);
3. **"Load the shipped results"** on the home page: from the click until the rerun that shows
   "Imported N results" has finished;
4. **one slider move per page** (the first slider, one step): on a position the shipped quick
   bundle holds, so a cache hit; the table says whether the cache's result count stayed the same.

A click is timed from the mouse click itself: Playwright's checks before a click (the element
scrolled into view, stable, not covered) run first, untimed, as a hover. "Finished" is exact: the server's ``script_finished`` message (FINISHED_SUCCESSFULLY), read from
the websocket, after the action; then the page is polled every 20 ms until no element is stale,
nothing is running and every Vega chart has drawn (canvas or SVG marks): the browser's own work is
inside the figure. Medians over ``--runs``; the 1-minute load average is recorded before each
measurement (the machine is shared). With ``--idle S``, the last run also measures the server's
CPU use over S seconds with the tab open and idle, and over S seconds after the tab closed.

Writes ``browser-<date>.md`` and ``browser-<date>.json`` under ``--out``. Not part of the test
suite (no timed assertions anywhere in tests/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

# The browser the tests drive, with the same flags; the server is started here, not with the tests'
# running_app, because the bench must start it as `make run` does (the repository's own config).
from app_server import CHROMIUM, CHROMIUM_FLAGS, free_port, stop, wait_healthy  # noqa: E402

TIMEOUT_S = 120.0  # one measurement's limit: the run stops there (a screenshot is kept), the next goes on
TARGETS = {  # seconds (issue 19; warm: "< 0.5 s of work"); a slider move has none of its own
    "home, first visit": 3.0,
    "page, cold": 2.0,
    "page, warm": 0.5,
    "load the shipped results": 5.0,
}
# Every Vega chart drawn, nothing stale, nothing running (the status widget shows while a script runs).
QUIET = """() => {
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  const boxes = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return boxes.every((b) => b.querySelector('canvas, svg.marks'));
}"""
SLIDERS = {  # per page: URL state to start from (untimed), the slider moved, the key pressed
    "generalization": ("", "noise σ", "ArrowRight"),  # 1.0 -> 2.0
    "double_descent": ("dd_noise=1.4", "noise std σ", "ArrowRight"),  # 1.4 -> 1.5
    "ntk": ("", "Depth (hidden layers)", "ArrowRight"),  # 3 -> 4
    "smoothing": ("", "sigma (noise, input units)", "ArrowRight"),  # 0.25 -> 0.3
    "linear_ae": ("", "Regularization scale λ", "ArrowLeft"),  # 1.0 -> 0.5
}
PAGE_TITLES = {  # the sidebar label of each page and a text its finished view shows
    "generalization": "In defense of uniform convergence",
    "double_descent": "Early stopping: double descent",
    "ntk": "Neural tangent kernels",
    "smoothing": "Certified robustness by randomized smoothing",
    "linear_ae": "Linear autoencoders find the principal axes",
}


def load1() -> float:
    return round(os.getloadavg()[0], 2)


@contextlib.contextmanager
def server(root: Path, cache: Path, log: Path):
    """A fresh ``streamlit run app.py`` on a free port: yields (url, process, seconds to healthy)."""
    port = free_port()
    env = {**os.environ, "PHENOMENA_CACHE": str(cache), "PYTHONPATH": str(root)}
    env.pop("PHENOMENA_WARM", None)
    # As `make run`: the app's bytecode first (untimed; a no-op when current), then the server.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "app.py", "engine", "ui", "pages"], cwd=root, check=True
    )
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    with open(log, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc, log, timeout=120, poll=0.05)
            yield url, proc, time.perf_counter() - start
        finally:
            stop(proc)


class Finishes:
    """Counts the server's "finished successfully" messages (a whole run or a fragment's) on the
    page's websockets; a run ended early by ``st.rerun`` does not count."""

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.count = 0
        self.times: list[float] = []  # perf_counter() when each was seen
        self._msg = ForwardMsg
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        if not isinstance(payload, bytes):
            return
        try:
            msg = self._msg.FromString(payload)
        except Exception:  # noqa: BLE001 (not a ForwardMsg: ignore)
            return
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished in (0, 3):  # app, fragment
            self.count += 1
            self.times.append(time.perf_counter())


def wait_done(page, finishes: Finishes, before: int, start: float, check=None) -> tuple[float, float]:
    """(seconds from ``start`` until a run finished after ``before``, ``check()`` holds (optional)
    and the page is quiet (every chart drawn); seconds until the server's last finished run);
    TimeoutError after TIMEOUT_S."""
    while time.perf_counter() - start < TIMEOUT_S:
        if finishes.count > before and (check is None or check()) and page.evaluate(QUIET):
            return time.perf_counter() - start, finishes.times[-1] - start
        page.wait_for_timeout(20)
    raise TimeoutError(f"nothing finished within {TIMEOUT_S:g} s (runs finished: {finishes.count})")


def cache_count(page) -> int | None:
    text = page.locator('[data-testid="stSidebar"]').get_by_text("Cache:").first.inner_text()
    try:
        return int(text.split("Cache:")[1].split()[0])
    except (IndexError, ValueError):
        return None


def click_at(page, locator) -> float:
    """Click ``locator``; return ``perf_counter()`` just before the click itself. Playwright's own
    checks before a click (scrolled into view, stable for two frames, not covered: 50-150 ms, a
    few round trips to the browser) run first, untimed, through a hover: they are not the app's work."""
    locator.hover()
    box = locator.bounding_box()
    start = time.perf_counter()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return start


def click_page(page, finishes: Finishes, name: str) -> tuple[float, float]:
    """Click the sidebar link of page ``name``; (seconds until its view is finished, until the
    server finished its run)."""
    nav = page.locator('[data-testid="stSidebarNav"]')
    link = nav.get_by_text("Home", exact=True) if name == "home" else nav.locator(f'a[href$="/{name}"]')
    title = page.get_by_text(PAGE_TITLES.get(name, "Claims scoreboard")).first
    before = finishes.count
    start = click_at(page, link.first)
    return wait_done(page, finishes, before, start, title.is_visible)


def open_page(page, finishes: Finishes, url: str) -> None:
    """Load ``url`` in the tab (a new session), untimed, until its view is finished."""
    before, start = finishes.count, time.perf_counter()
    page.goto(url, wait_until="commit")
    wait_done(page, finishes, before, start)


def move_slider(page, finishes: Finishes, name: str) -> tuple[tuple[float, float], bool | None, str]:
    """One step of the page's chosen slider (:data:`SLIDERS`; else its first one); (timings, was it
    a cache hit (the sidebar's result count unchanged), the slider's label)."""
    _, label, key = SLIDERS.get(name, ("", None, "ArrowRight"))
    main = page.locator('[data-testid="stMain"]')
    slider = (main.get_by_role("slider", name=label) if label else main.get_by_role("slider")).first
    slider.wait_for(state="visible", timeout=TIMEOUT_S * 1000)
    label = slider.get_attribute("aria-label") or "?"
    count = cache_count(page)
    before, start = finishes.count, time.perf_counter()
    slider.focus()
    page.keyboard.press(key)
    timings = wait_done(page, finishes, before, start)
    after = cache_count(page)
    return timings, (None if count is None or after is None else after == count), label


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children that were waited for (/proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float) -> float:
    """The process's CPU use over ``seconds`` of wall time, in % of one core."""
    before, start = cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.perf_counter() - start)


def one_run(root: Path, pages: list[str], think: float, idle: float, log_dir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {"rows": [], "notes": []}
    cache = Path(tempfile.mkdtemp(prefix="bench-browser-cache-"))

    def row(what: str, timings: tuple[float, float], load: float, **extra) -> None:
        seconds, script = timings
        out["rows"].append({"what": what, "seconds": seconds, "script_s": script, "load1": load, **extra})
        print(
            f"  {what:34s} {seconds:7.2f} s (server {script:6.2f} s, load {load:.2f}) {extra or ''}",
            flush=True,
        )

    try:
        with server(root, cache, log_dir / f"server-{time.strftime('%H%M%S')}.log") as (url, proc, up):
            row("server start (process to healthy)", (up, up), load1())
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                finishes = Finishes(page)
                try:
                    board = page.get_by_text("quick scale").first
                    load, start = load1(), time.perf_counter()
                    page.goto(url, wait_until="commit")
                    row("home, first visit", wait_done(page, finishes, 0, start, board.is_visible), load)
                    page.wait_for_timeout(think * 1000)
                    for name in pages:
                        row("page, cold", click_page(page, finishes, name), load1(), page=name)
                    for name in pages:
                        row("page, warm", click_page(page, finishes, name), load1(), page=name)
                    click_page(page, finishes, "home")
                    button = page.get_by_role("button", name="Load the shipped results")
                    if button.count():
                        done = page.get_by_text("Imported").first
                        load, before = load1(), finishes.count
                        start = click_at(page, button)
                        row(
                            "load the shipped results",
                            wait_done(page, finishes, before, start, done.is_visible),
                            load,
                        )
                    else:
                        out["notes"].append("no 'Load the shipped results' button (nothing new to import)")
                    for name in pages:
                        open_page(page, finishes, f"{url}/{name}?{SLIDERS.get(name, ('',))[0]}")
                        load = load1()
                        timings, hit, label = move_slider(page, finishes, name)
                        row("slider move", timings, load, page=name, slider=label, hit=hit)
                except Exception as err:  # a run that breaks is reported, and the next run goes on
                    shot = log_dir / f"failed-{time.strftime('%H%M%S')}.png"
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(shot), full_page=True)
                    out["notes"].append(
                        f"a run stopped early: {type(err).__name__}: {str(err).splitlines()[0]} (see {shot})"
                    )
                    print(f"  run stopped: {type(err).__name__} (screenshot {shot})", flush=True)
                    idle = 0.0
                if idle > 0:
                    out["idle_open"] = idle_cpu(proc.pid, idle)
                    print(f"  idle server CPU, tab open:    {out['idle_open']:.2f} % of a core", flush=True)
                browser.close()
            if idle > 0:
                time.sleep(2)  # the session closes
                out["idle_closed"] = idle_cpu(proc.pid, idle)
                print(f"  idle server CPU, tab closed:  {out['idle_closed']:.2f} % of a core", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


def summarise(runs: list[dict]) -> list[dict]:
    """Median, range and load per (what, page) over the runs, in the order first seen."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        for r in run["rows"]:
            groups.setdefault((r["what"], r.get("page", "")), []).append(r)
    table = []
    for (what, page), rows in groups.items():
        values = [r["seconds"] for r in rows if r["seconds"] == r["seconds"]]
        scripts = [r["script_s"] for r in rows if r["script_s"] == r["script_s"]]
        median = statistics.median(values) if values else float("nan")
        target = TARGETS.get(what)
        hits = [r.get("hit") for r in rows if "hit" in r]
        table.append(
            {
                "what": what,
                "page": page,
                "median_s": median,
                "server_median_s": statistics.median(scripts) if scripts else float("nan"),
                "min_s": min(values) if values else float("nan"),
                "max_s": max(values) if values else float("nan"),
                "timeouts": len(rows) - len(values),
                "load1": [r["load1"] for r in rows],
                "target_s": target,
                "met": None if target is None or not values else median < target,
                "hit": None if not hits else all(bool(h) for h in hits),
            }
        )
    return table


def markdown(table: list[dict], runs: list[dict], args) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {socket.gethostname()} ({os.cpu_count()} CPUs), "
        f"{len(runs)} runs (each a fresh server and an empty cache), think {args.think:g} s, "
        "Chromium headless at 1400x1000.",
        "",
        "| what | page | median (s) | range (s) | server finished (s) | target (s) | met | load average (1 min) per run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        target = "" if r["target_s"] is None else f"< {r['target_s']:g}"
        if r["hit"] is False:
            met += " (computed, not a shipped position)"
        loads = ", ".join(f"{x:.2f}" for x in r["load1"])
        timeouts = f" ({r['timeouts']} timed out)" if r["timeouts"] else ""
        lines.append(
            f"| {r['what']} | {r['page']} | {r['median_s']:.2f}{timeouts} | {r['min_s']:.2f}-{r['max_s']:.2f} "
            f"| {r['server_median_s']:.2f} "
            f"| {target} | {met} | {loads} |"
        )
    idle = [(r.get("idle_open"), r.get("idle_closed")) for r in runs if "idle_open" in r]
    if idle:
        lines += [
            "",
            f"Idle server after the session ({args.idle:g} s each): tab open {idle[-1][0]:.2f} % of "
            f"one core, tab closed {idle[-1][1]:.2f} %.",
        ]
    notes = sorted({n for r in runs for n in r["notes"]})
    lines += [f"Note: {n}." for n in notes]
    return "\n".join(lines) + "\n"


def paired(runs: list[dict], others: list[dict]) -> str:
    """Per measurement: the median over runs of (this run's seconds / the other checkout's run of
    the same turn), and both medians."""
    lines = [
        "| what | page | this (median s) | other (median s) | median ratio of pairs |",
        "| --- | --- | --- | --- | --- |",
    ]
    keyed = [{(r["what"], r.get("page", "")): r["seconds"] for r in run["rows"]} for run in runs]
    other_keyed = [{(r["what"], r.get("page", "")): r["seconds"] for r in run["rows"]} for run in others]
    for key in keyed[0] if keyed else []:
        pairs = [(a[key], b[key]) for a, b in zip(keyed, other_keyed) if key in a and key in b]
        pairs = [(x, y) for x, y in pairs if x == x and y == y and y > 0]
        if not pairs:
            continue
        ratio = statistics.median(x / y for x, y in pairs)
        lines.append(
            f"| {key[0]} | {key[1]} | {statistics.median(x for x, _ in pairs):.2f} "
            f"| {statistics.median(y for _, y in pairs):.2f} | {ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh servers to measure (medians over them)")
    parser.add_argument("--pages", default="", help="comma-separated page names (default: all built)")
    parser.add_argument(
        "--think", type=float, default=2.0, help="seconds on the home page before the first click"
    )
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle-CPU measurement (0: none)")
    parser.add_argument("--root", default=str(ROOT), help="the checkout to serve (default: this one)")
    parser.add_argument(
        "--compare",
        default="",
        help="a second checkout (say, before a change), measured in turns with --root: run 1 of each, "
        "then run 2 of each, ...; a paired table follows (on a machine whose speed drifts, pairs taken "
        "a minute apart compare better than two separate sessions)",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the tables")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():  # `make bench` goes on with the other benchmarks
        print(f"skipped: {CHROMIUM} is not installed (apt-get install chromium)", file=sys.stderr)
        return 0
    root = Path(args.root).resolve()
    sys.path.insert(0, str(root))
    from engine.core.registry import available

    pages = [p for p in args.pages.split(",") if p] or [p.name for p in available()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-browser-logs-"))
    runs, other_runs = [], []
    other = Path(args.compare).resolve() if args.compare else None
    for number in range(1, args.runs + 1):
        for checkout, into in ((root, runs), (other, other_runs)):
            if checkout is None:
                continue
            print(
                f"run {number}/{args.runs} (load average {os.getloadavg()[0]:.2f}), root {checkout}",
                flush=True,
            )
            idle = args.idle if number == args.runs else 0.0
            into.append(one_run(checkout, pages, args.think, idle, log_dir))
    table = summarise(runs)
    stem = out / f"browser-{time.strftime('%Y-%m-%d-%H%M')}"
    text = markdown(table, runs, args)
    if other is not None:
        text += f"\n### {other} (the same runs' turns)\n\n" + markdown(
            summarise(other_runs), other_runs, args
        )
        text += f"\n### Paired: {root.name} against {other.name}\n\n" + paired(runs, other_runs)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(
        json.dumps({"args": vars(args), "table": table, "runs": runs, "compare_runs": other_runs}, indent=1)
    )
    print("\n" + text + f"\nwrote {stem}.md and .json; server logs in {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
