"""``python -m engine``: every bad path, argument or environment is one ``error:`` line (exit 2, or 1
for a run that failed inside), checked before any compute, quoting at most ~80 characters of input.

Uses ``labtest.toy`` (tests/conftest.py), run in-process through :func:`engine.cli.main`.
"""

from __future__ import annotations

import os
import time

import pytest

from engine import bundle
from engine.cli import main
from engine.core import cache, runner

NAME = "labtest.toy"


def _error(capsys, argv: list[str], code: int = 2) -> str:
    """Run the CLI, expect exit ``code`` and exactly one ``error:`` line; return that line."""
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_output_paths_are_checked_before_any_compute(toy, tmp_path, capsys):
    folder = tmp_path / "existing"
    folder.mkdir()
    assert "is a folder" in _error(capsys, ["run", NAME, "--out", str(folder)])
    assert "does not exist" in _error(capsys, ["run", NAME, "--out", str(tmp_path / "no" / "f.csv")])
    assert "is a folder" in _error(capsys, ["figure", NAME, "--out", str(folder)])
    assert toy.compute.calls == []
    assert "is a folder" in _error(capsys, ["export", str(folder)])
    assert "does not exist" in _error(capsys, ["export", str(tmp_path / "no" / "b.zip")])
    assert main(["run", NAME, "--out", str(tmp_path / "f.csv")]) == 0
    assert (tmp_path / "f.csv").read_text().startswith("step,k,value")


def test_overrides_are_checked_and_quoted_short(toy, capsys):
    assert "--set 'k' is given twice" in _error(capsys, ["run", NAME, "--set", "k=2", "--set", "k=5"])
    line = _error(capsys, ["run", NAME, "--set", "k=" + "9" * 10_000])
    assert "The 'k' parameter of ToyConfig must be an int in [1, 1000]" in line and len(line) < 200
    line = _error(capsys, ["run", NAME, "--set", "x" * 10_000 + "=1"])
    assert "has no parameter 'xxx" in line and len(line) < 250
    line = _error(capsys, ["run", "y" * 10_000])
    assert "Unknown experiment 'yyy" in line and len(line) < 200
    assert "FIELD=VALUE" in _error(capsys, ["run", NAME, "--set", "k"])
    assert toy.compute.calls == []


def test_jobs_are_capped_at_the_core_count_with_a_note(toy, capsys):
    assert main(["precompute", NAME, "--jobs", "100000", "--backend", "sequential"]) == 0
    err = capsys.readouterr().err
    assert f"--jobs 100000 capped at this machine's {os.cpu_count()} cores" in err
    assert "The 'jobs' parameter must be an int in [1," in _error(capsys, ["precompute", NAME, "--jobs", "0"])


def test_an_unreachable_dask_scheduler_is_one_line_within_seconds(toy, capsys):
    pytest.importorskip("distributed")
    start = time.perf_counter()
    line = _error(capsys, ["precompute", NAME, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert "could not reach the Dask scheduler at 'tcp://127.0.0.1:9' within 5 s" in line
    assert time.perf_counter() - start < 15


def test_list_shows_each_fields_allowed_values(toy, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "labtest.toy  (version 3, presets: quick, paper)" in out
    assert "    k = 2  (an int in [1, 1000])" in out
    assert "    mode = 'ok'  (one of 'ok', 'oom', 'runtime')" in out


def test_list_one_experiment_shows_its_presets_charts_and_fields(toy, capsys):
    assert main(["list", NAME]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "labtest.toy  (version 3, presets: quick, paper)  toy"
    assert "  preset quick: the field values below; precompute fills 1 config" in out
    assert "  preset paper: n=50; precompute fills 1 config" in out  # what paper sets apart from quick
    assert "  charts: rows  (python -m engine figure labtest.toy --chart NAME --out fig.png)" in out
    assert "    n = 10  (an int in [1, 10000000000000])" in out
    assert not [line for line in out if line.startswith(("linear_ae", "smoothing"))]  # only the one asked


def test_list_a_phenomenon_shows_its_paper_and_only_its_experiments(capsys):
    from engine.core.registry import experiments

    assert main(["list", "smoothing"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("smoothing: Randomized smoothing. Cohen, Rosenfeld, Kolter")
    listed = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")][1:]
    ours = sorted(n for n in experiments() if n.startswith("smoothing."))
    assert listed == ours
    for name in ours:  # every chart name, as `figure --chart` takes it, and each grid's size
        exp = experiments()[name]
        assert f"  charts: {', '.join(exp.charts)}  (python -m engine figure {name} --chart NAME" in out
        count = len(exp.grid("quick"))
        assert f"preset quick: the field values below; precompute fills {count} config" in out


def test_list_of_an_unknown_name_is_one_line(capsys):
    assert "Unknown experiment 'nope'" in _error(capsys, ["list", "nope"])
    assert "Unknown experiment 'smoothing.nope'" in _error(capsys, ["list", "smoothing.nope"])


def test_failures_inside_a_run_are_one_line(toy, capsys, monkeypatch):
    line = _error(capsys, ["run", NAME, "--set", "mode=oom"], code=1)
    assert "labtest.toy ran out of memory (n=10)" in line
    monkeypatch.setattr(runner, "available_memory", lambda: 2**30)
    line = _error(capsys, ["run", NAME, "--set", "n=1000000000000"])
    assert "needs about 7450.6 GiB of memory, but 1.0 GiB is available; lower n" in line
    assert toy.compute.calls == [{"k": 2, "lam": 1.0, "n": 10}]


def test_clear_refuses_an_unmarked_cache_root(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    monkeypatch.setenv(cache.ENV_VAR, str(home))
    assert "refusing to clear" in _error(capsys, ["clear"])
    assert (home / "photos").exists()


def test_import_reports_stale_and_verified_entries(toy, fresh_cache, tmp_path, capsys):
    assert main(["run", NAME, "--set", "k=4"]) == 0
    path = tmp_path / "b.zip"
    assert main(["export", str(path)]) == 0
    assert main(["clear"]) == 0
    capsys.readouterr()
    assert main(["import", str(path), "--verify", "3"]) == 0
    out = capsys.readouterr().out
    assert "imported 1 results" in out and "verified: labtest.toy: recomputed, equal within rtol" in out
    assert "not a readable bundle" in _error(capsys, ["import", str(tmp_path / "missing.zip")])
    assert "'verify' parameter" in _error(capsys, ["import", str(path), "--verify", "-1"])
    assert bundle.import_bundle(path) == 1


def test_commands_that_read_the_cache_load_no_torch(fresh_cache, tmp_path):
    """``figure`` from the cache, ``list``, ``status``, ``export`` and ``import`` import what they use:
    no torch, no scipy (``figure`` took 5-8 s per call, mostly imports)."""
    from module_probe import heavy, modules_after

    import engine

    for name in ("smoothing.toy", "ntk.digits"):
        engine.run(name)
    bundle_path, figure = tmp_path / "b.zip", tmp_path / "toy.svg"
    code = (
        "import contextlib, io\nfrom engine.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['figure', 'smoothing.toy', '--cached-only', '--out', {str(figure)!r}]) == 0\n"
        f"    assert main(['figure', 'ntk.digits', '--cached-only', '--out', {str(figure)!r}]) == 0\n"
        "    assert main(['list']) == 0 and main(['status']) == 0\n"
        f"    assert main(['export', {str(bundle_path)!r}]) == 0 and main(['import', {str(bundle_path)!r}]) == 0\n"
    )
    loaded = modules_after(code, {cache.ENV_VAR: str(fresh_cache)})
    assert heavy(loaded) == [], heavy(loaded)
    assert figure.read_bytes().startswith(b"<svg")
