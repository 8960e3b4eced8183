"""The app shell and the linear-autoencoder page under Streamlit's AppTest (no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

TIMEOUT = 120
ROOT = Path(__file__).resolve().parent.parent
APP, LAE_PAGE = str(ROOT / "app.py"), str(ROOT / "pages" / "linear_ae.py")


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_home_lists_all_five_phenomena():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    no_errors(at)
    text = " ".join(m.value for m in at.markdown)
    for author in ("Negrea", "Heckel", "Arora", "Cohen", "Bao"):
        assert author in text
    assert at.sidebar.radio(key="lab_scale").value == "quick"


def test_lae_page_defaults_and_every_widget():
    at = AppTest.from_file(LAE_PAGE, default_timeout=TIMEOUT)
    at.query_params["lae_steps"] = "2000"
    at.run()
    no_errors(at)
    assert len(at.tabs) == 3
    at.slider(key="lae_k").set_value(2).run()
    no_errors(at)
    assert at.query_params["lae_k"] == ["2"] or at.query_params["lae_k"] == "2"
    at.radio(key="lae_opt").set_value("adam").run()
    no_errors(at)
    at.select_slider(key="lae_lam").set_value(4.0).run()
    at.select_slider(key="lae_at").set_value(200).run()
    no_errors(at)
    at.selectbox(key="lae_variant").set_value("uniform").run()
    no_errors(at)


def test_lae_page_reads_its_state_from_the_url_and_ignores_bad_values():
    at = AppTest.from_file(LAE_PAGE, default_timeout=TIMEOUT)
    at.query_params.update({"lae_k": "3", "lae_steps": "2000", "lae_lr": "banana", "lae_opt": "rmsprop"})
    at.run()
    no_errors(at)
    assert at.slider(key="lae_k").value == 3
    assert at.select_slider(key="lae_lr").value == 3e-3  # the default, not a crash
    assert at.radio(key="lae_opt").value == "sgd"


def test_lae_page_reports_divergence_as_a_message():
    at = AppTest.from_file(LAE_PAGE, default_timeout=TIMEOUT)
    at.query_params.update({"lae_lr": "0.03", "lae_steps": "2000", "lae_k": "8", "lae_lam": "4.0"})
    at.run()
    assert not at.exception
    assert any("diverged" in e.value for e in at.error)


def test_paper_scale_without_cache_says_which_command_fills_it():
    at = AppTest.from_file(LAE_PAGE, default_timeout=TIMEOUT)
    at.session_state["lab_scale"] = "paper"
    at.query_params["lae_steps"] = "2000"
    at.run()
    assert not at.exception
    infos = " ".join(i.value for i in at.info)
    assert "python -m engine precompute linear_ae.dynamics --preset paper" in infos


def test_a_phenomenon_that_fails_to_load_is_reported_not_fatal():
    from engine.core import registry

    with registry.failing("smoothing", "ImportError: no module named 'scipy'"):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        assert not at.exception
        assert any("failed to load: ImportError" in w.value for w in at.warning)
        assert "smoothing" not in {p.name for p in registry.available()}
    assert "smoothing" in {p.name for p in registry.available()}


def test_home_offers_the_shipped_paper_results_and_imports_them(fresh_cache):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.button(key="home_import_shipped").click().run()
    assert not at.exception
    assert any("Imported" in s.value for s in at.success)
    at.run()
    assert not [b for b in at.button if b.key == "home_import_shipped"]  # offered only until loaded
    from engine import bundle
    from engine.core import cache
    from ui.home import SHIPPED

    for path in SHIPPED:  # the paper-scale results and the quick presets' slider grids
        records = bundle.manifest(path)
        assert records and all(cache.is_cached(r["experiment"], r["version"], r["config"]) for r in records)
    assert f"Cache: {len(cache.index_records())} results" in " ".join(c.value for c in at.sidebar.caption)


ON_DEMAND = """
import streamlit as st
from ui import show
frames = show.run_on_demand("linear_ae.snapshot", [{"at_step": 200}, {"at_step": S}], key="both")
if frames:
    st.success(f"{len(frames)} frames: " + ", ".join(str(f.attrs["config"]["at_step"]) for f in frames))
"""


def test_compute_on_demand_one_button_with_an_estimate_gone_once_used(fresh_cache):
    at = AppTest.from_string(ON_DEMAND.replace("S", "1000"), default_timeout=TIMEOUT).run()
    (button,) = at.button  # one button for both runs
    assert button.label.startswith("Compute linear_ae.snapshot (2 runs")
    button.click().run()
    no_errors(at)
    assert not at.button  # gone once used
    assert [s.value for s in at.success] == ["2 frames: 200, 1000"]
    # a new position: the label has a time from the cost model or the runs just measured
    at = AppTest.from_string(ON_DEMAND.replace("S", "5000"), default_timeout=TIMEOUT).run()
    (button,) = at.button
    assert "on one core" in button.label and "2 runs" in button.label


def test_paper_scale_says_which_settings_the_paper_result_used(fresh_cache):
    import pandas as pd

    import engine
    from engine.core import cache
    from engine.core.experiment import config_to_dict
    from engine.core.fingerprint import experiment_fingerprint

    exp = engine.get_experiment("linear_ae.snapshot")
    paper = config_to_dict(exp.presets["paper"])
    frame = pd.DataFrame({"variant": ["rotation"], "abs_cos": [0.5]})
    meta = {"seconds": 1.0, "source": experiment_fingerprint(exp.name)}  # as if computed by today's code
    cache.store(exp.name, exp.version, paper, cache.make_entry(frame, meta))
    other = 200 if paper["at_step"] != 200 else 1000
    at = AppTest.from_string(
        f"from ui import show\nshow.run('linear_ae.snapshot', {{'at_step': {other}}})\n",
        default_timeout=TIMEOUT,
    )
    at.session_state["lab_scale"] = "paper"
    at.run()
    no_errors(at)
    note = " ".join(i.value for i in at.info)
    assert "Paper scale" in note and f"at_step = {paper['at_step']} (controls: {other})" in note


HOME = """
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=120).run()
assert not at.exception, [e.value for e in at.exception]
"""
MEASURED = """
quick = [m.value for m in at.markdown if m.value.startswith("**quick scale**")][0]
assert not quick.startswith("**quick scale**: 0 reproduced · 0 differs"), quick
"""


def test_the_home_page_and_its_scoreboard_load_no_torch_nor_scipy(fresh_cache):
    """The first visit after ``make run`` draws the phenomena and the scoreboard, whose claims are
    measured on the cached results, with light modules only (torch alone took ~2 s of it)."""
    from module_probe import heavy, modules_after

    import engine

    for name in ("smoothing.toy", "smoothing.linear", "ntk.digits", "generalization.nk"):
        engine.run(name)  # claims of the torch and scipy phenomena now have numbers to measure
    loaded = modules_after(HOME + MEASURED, {"PHENOMENA_CACHE": str(fresh_cache)})
    assert heavy(loaded) == [], heavy(loaded)
    assert "engine.present.report" not in loaded  # its renderers load when the report is asked for
    assert "altair" not in loaded  # the charts modules load it when a chart is built (0.3 s)


def test_after_the_first_page_the_pages_imports_are_warmed_in_the_background(fresh_cache):
    """Once a page is served, one thread imports torch and every module the pages import, then
    freezes them out of the garbage collector's way; it starts once per process."""
    from module_probe import modules_after

    code = HOME + (
        "import gc\nfrom ui import warm\n"
        "warm._thread.join(300)\n"
        "assert not warm._thread.is_alive() and gc.get_freeze_count() > 0\n"
        "assert warm.start_once() is False  # once per process\n"
    )
    loaded = modules_after(code, {"PHENOMENA_CACHE": str(fresh_cache), "PHENOMENA_WARM": "1"})
    pages = {"engine.phenomena.smoothing.models", "engine.phenomena.ntk.science.cntk", "ui.show"}
    assert {"torch", "scipy", "altair"} <= loaded and pages <= loaded


def test_warming_is_off_when_asked_and_lists_every_pages_modules(monkeypatch):
    from engine.core.registry import available
    from ui import warm

    monkeypatch.setenv(warm.ENV_VAR, "0")
    monkeypatch.setattr(warm, "_thread", None)
    assert warm.start_once() is False and warm._thread is None
    names = warm.modules_to_warm()
    assert "torch" in names and "ui.show" in names
    for p in available():
        assert f"engine.phenomena.{p.name}.experiments" in names
    assert "engine.phenomena.smoothing.science" in names and "engine.phenomena.ntk.science.nets" in names


def test_the_file_watcher_leaves_the_environment_and_the_data_alone():
    """`make run` watched .venv (about 161k folders) and cache/: inotify overflowed, the idle
    server used a quarter of a core. Off by default; never those folders when switched on."""
    import tomllib

    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["fileWatcherType"] == "none"
    assert {".venv", "cache", "data", "bundles"} <= set(server["folderWatchBlacklist"])


def test_the_warm_up_starts_no_import_while_a_page_runs():
    import threading
    import time

    from ui import warm

    done = threading.Event()
    with warm.foreground():
        waiter = threading.Thread(target=lambda: (warm._wait_for_quiet(), done.set()))
        waiter.start()
        time.sleep(0.2)
        assert not done.is_set()  # a page is running: the warm-up waits
    waiter.join(5)
    assert done.is_set()


def test_the_collector_is_paused_during_import_phases_and_back_on_after_the_last(monkeypatch):
    """ui.collector: off inside a phase, shared by nested and concurrent phases, on again (with what
    was loaded frozen) when the last one ends, also when it ends with an exception; the first run
    of the app pauses it, later runs do not."""
    import gc
    import threading

    from ui import collector

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    inner_started, inner_may_end = threading.Event(), threading.Event()

    def other_phase():
        with collector.paused():
            inner_started.set()
            inner_may_end.wait(10)

    try:
        with collector.paused():
            assert not gc.isenabled()
            thread = threading.Thread(target=other_phase)
            thread.start()
            inner_started.wait(10)
            kept = [[i] for i in range(1000)]  # objects that live on, as a module's would
        assert not gc.isenabled()  # the other thread's phase still runs
        inner_may_end.set()
        thread.join(10)
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(kept)
        with pytest.raises(RuntimeError), collector.paused():
            raise RuntimeError("an import failed")
        assert gc.isenabled()
        monkeypatch.setattr(collector, "_first_run_seen", False)
        with collector.paused_on_first_run():
            assert not gc.isenabled()
        with collector.paused_on_first_run():
            assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_warm_up_yields_to_a_page_inside_a_long_import_and_never_deadlocks(tmp_path, monkeypatch):
    """Inside one long import the warm-up waits before each submodule while a page runs; a page
    that needs the module being warmed waits for it, and the warm-up then goes on for it."""
    import sys
    import threading
    import time

    from ui import warm

    package = tmp_path / "slowpkg_warm"
    package.mkdir()
    subs = ["a", "b", "c", "d"]
    (package / "__init__.py").write_text(f"from . import {', '.join(subs)}\n")
    for sub in subs:
        (package / f"{sub}.py").write_text("import time\ntime.sleep(0.2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(warm, "modules_to_warm", lambda: ["slowpkg_warm"])
    thread = threading.Thread(target=warm.warm, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 10
        while "slowpkg_warm.a" not in sys.modules and time.monotonic() < deadline:
            time.sleep(0.01)
        with warm.foreground():  # a page starts while the warm-up is inside slowpkg_warm.a
            time.sleep(0.8)  # unpaused, b, c and d would be loaded by now
            assert "slowpkg_warm.c" not in sys.modules, "the warm-up did not yield to the page"
            start = time.monotonic()
            import slowpkg_warm  # the page needs it: the warm-up must finish it, not wait for the page

            assert time.monotonic() - start < 5 and slowpkg_warm.d is not None
        thread.join(10)
        assert not thread.is_alive()
    finally:
        for name in [m for m in sys.modules if m.startswith("slowpkg_warm")]:
            del sys.modules[name]
