"""First view of every page, cold and warm: ``python benchmarks/bench_pages.py [--repeats 3]``.

Per page of ``pages/`` (talk mode excepted: ``bench_talk.py``), with ``streamlit.testing``'s
``AppTest`` (the page's whole script, every section, no browser), each measurement in a FRESH
Python process whose result cache (``PHENOMENA_CACHE``) is a new EMPTY folder:

- cold, after the home page (the headline, issue 14's measure): the process first shows the home
  page (``app.py``, untimed), as a student does after ``streamlit run app.py``; then the page's
  first view is timed: its own imports not yet loaded by the home page, and all its computing.
- warm: right after, in that process, a new session of the page (a second visitor: modules
  loaded, results cached); the median of ``--warm`` views.
- cold, direct link: another fresh process opens the page first, without the home page: every
  import (torch, altair, the engine) is inside the timer. The worst case, a bookmarked page on a
  server nobody has visited yet.

Streamlit itself is imported before any clock starts (a running server has it loaded). Each
figure is the median of ``--repeats`` fresh processes; the cold range is printed too. Pages that
show an exception or an ``st.error`` are counted. The table is Markdown, for the README; the load
average is printed beside it, because on a shared machine the figures are only as good as its quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line, markdown_table  # noqa: E402

COLD_TARGET_S, WARM_TARGET_S = 2.0, 0.3
TIMEOUT_S = 600


def page_files(only: list[str] | None = None) -> list[Path]:
    """The pages to measure: every ``pages/*.py`` but talk mode, or those named in ``only``."""
    pages = sorted(p for p in (ROOT / "pages").glob("*.py") if p.stem != "talk")
    return [p for p in pages if not only or p.stem in only]


def child(page: str, warm: int, home_first: bool) -> dict:
    """Measure one page in this fresh process; seconds of the first and the warm views, problems."""
    from streamlit.testing.v1 import AppTest  # outside the timer: the server has it loaded

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)

    def view(script: str) -> tuple[float, int]:
        start = time.perf_counter()
        at = AppTest.from_file(script, default_timeout=TIMEOUT_S).run()
        return time.perf_counter() - start, len(at.exception) + len(at.error)

    if home_first:
        view(str(ROOT / "app.py"))
    first, problems = view(page)
    warm_times = []
    for _ in range(warm):
        seconds, more = view(page)
        warm_times.append(seconds)
        problems += more
    return {
        "first": first,
        "warm": statistics.median(warm_times) if warm_times else None,
        "problems": problems,
    }


def measure(page: Path, warm: int, home_first: bool) -> dict:
    """One measurement of ``page`` in a fresh process with an empty result cache."""
    with tempfile.TemporaryDirectory(prefix="phenomena-bench-pages-") as folder:
        env = {**os.environ, "PHENOMENA_CACHE": folder}
        command = [sys.executable, __file__, "--child", str(page), "--warm", str(warm)]
        proc = subprocess.run(
            command + (["--home-first"] if home_first else []),
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S * (warm + 3),
        )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"first": None, "warm": None, "problems": -1, "error": (proc.stderr or proc.stdout)[-400:]}


def _fmt(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f}"


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per page and protocol")
    parser.add_argument("--warm", type=int, default=3, help="warm views per process")
    parser.add_argument("--pages", help="comma-separated page names (default: all but talk)")
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--home-first", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.warm, args.home_first)), flush=True)
        return 0

    print(
        f"# page first views ({machine_line()}, {args.repeats} fresh processes per figure)", file=sys.stderr
    )
    raw, rows = {}, []
    for page in page_files(args.pages.split(",") if args.pages else None):
        runs = {"home": [], "direct": []}
        for i in range(args.repeats):
            for protocol in runs:
                result = measure(page, args.warm if protocol == "home" else 0, protocol == "home")
                runs[protocol].append(result)
                print(
                    f"{page.stem}: {protocol} {i + 1}: first view {_fmt(result['first'])} s, warm "
                    f"{_fmt(result['warm'])} s, problems {result['problems']} {result.get('error', '')}",
                    file=sys.stderr,
                    flush=True,
                )
        raw[page.stem] = runs
        firsts = [r["first"] for r in runs["home"] if r["first"] is not None]
        cold, warm = _median(firsts), _median([r["warm"] for r in runs["home"]])
        direct = _median([r["first"] for r in runs["direct"]])
        every = runs["home"] + runs["direct"]
        problems = "crashed" if any(r["problems"] < 0 for r in every) else sum(r["problems"] for r in every)
        ok = cold is not None and warm is not None and cold < COLD_TARGET_S and warm < WARM_TARGET_S
        rows.append(
            [
                page.stem,
                _fmt(cold),
                f"{_fmt(min(firsts, default=None))}-{_fmt(max(firsts, default=None))}",
                _fmt(warm),
                _fmt(direct),
                problems,
                "yes" if ok and problems == 0 else "no",
            ]
        )
    columns = [
        "page",
        "cold, after home (s)",
        "cold range (s)",
        "warm (s)",
        "cold, direct link (s)",
        "errors shown",
        f"cold < {COLD_TARGET_S:g} s, warm < {WARM_TARGET_S:g} s",
    ]
    print(markdown_table(columns, rows))
    print(
        f"\nMedians of {args.repeats} fresh processes each, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{machine_line()}; Python {sys.version.split()[0]}."
    )
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
