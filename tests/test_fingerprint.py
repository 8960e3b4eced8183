"""No stale results: every entry records the fingerprint of its phenomenon's code; a result computed
by other code is recomputed, never served silently, while other phenomena's results stay cached."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import engine
from engine import bundle
from engine.core import cache, fingerprint
from engine.core.registry import phenomena

ROOT = Path(__file__).resolve().parent.parent


# -- the fingerprint itself ------------------------------------------------------------------


def _package(folder: Path, science: str) -> Path:
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text('"""A package."""\n')
    (folder / "science.py").write_text(science)
    (folder / "sub" / "__init__.py").write_text("X = 1\n")
    return folder


SCIENCE = 'def risk(x):\n    """Twice x."""\n    return 2 * x  # doubled\n'


def test_every_edit_of_any_file_counts_line_endings_do_not(tmp_path):
    base = fingerprint.fingerprint_folder(_package(tmp_path / "a", SCIENCE))
    assert fingerprint.fingerprint_folder(_package(tmp_path / "b", SCIENCE.replace("\n", "\r\n"))) == base
    changed = [
        SCIENCE.replace("2 * x", "3 * x"),
        SCIENCE.replace('"""Twice x."""', '"""Twice x, in metres."""'),
        SCIENCE.replace("# doubled", "# tripled"),  # a comment too: never blind to a change
    ]
    for text in changed:
        assert fingerprint.fingerprint_folder(_package(tmp_path / "c", text)) != base, text
    (tmp_path / "a" / "sub" / "__init__.py").write_text("X = 2\n")  # a subpackage's file counts too
    assert fingerprint.fingerprint_folder(tmp_path / "a") != base
    (tmp_path / "a" / "sub" / "__init__.py").write_text("X = 1\n")
    (tmp_path / "a" / "notes.txt").write_text("not code")  # only .py files count
    assert fingerprint.fingerprint_folder(tmp_path / "a") == base
    (tmp_path / "a" / "charts.py").write_text("def chart(frame): ...\n")  # reads results, computes none
    (tmp_path / "a" / "claims.py").write_text("CLAIMS = ()\n")
    assert fingerprint.fingerprint_folder(tmp_path / "a") == base
    (tmp_path / "a" / "sub" / "charts.py").write_text("X = 3\n")  # only the package's own readers
    assert fingerprint.fingerprint_folder(tmp_path / "a") != base


def test_each_phenomenon_has_its_own_fingerprint():
    prints = {p.name: fingerprint.phenomenon_fingerprint(p.name) for p in phenomena()}
    assert all(isinstance(v, str) and len(v) == 64 for v in prints.values()), prints
    assert len(set(prints.values())) == len(prints)
    assert fingerprint.experiment_fingerprint("linear_ae.dynamics") == prints["linear_ae"]
    assert fingerprint.experiment_fingerprint("labtest.toy") is None  # no package: never stale
    assert fingerprint.is_current("labtest.toy", {})


# -- in process: a trial phenomenon whose code is edited -------------------------------------


@pytest.fixture
def toy_source(toy, tmp_path, monkeypatch):
    """``labtest.toy`` fingerprinted as if its package were ``tmp_path/labtest``; yields that
    package's science.py (edit it to change the fingerprint)."""
    folder = _package(tmp_path / "labtest", SCIENCE)
    real = fingerprint.package_folder
    monkeypatch.setattr(fingerprint, "package_folder", lambda p: folder if p == "labtest" else real(p))
    fingerprint.forget()
    yield folder / "science.py"
    fingerprint.forget()


def test_a_result_of_other_code_is_recomputed_and_served_only_when_asked(toy_source, tmp_path):
    first = engine.run("labtest.toy", {"k": 3})
    assert first.attrs["cache"] == "computed"
    assert first.attrs["source"] == fingerprint.experiment_fingerprint("labtest.toy")
    assert engine.run("labtest.toy", {"k": 3}).attrs["cache"] == "hit"
    shipped = tmp_path / "before.zip"
    assert bundle.export_bundle(shipped) == 1

    toy_source.write_text(SCIENCE.replace("2 * x", "3 * x"))  # the science changed
    assert not engine.is_cached("labtest.toy", {"k": 3})
    assert engine.load_cached("labtest.toy", {"k": 3}) is None
    marked = engine.load_cached("labtest.toy", {"k": 3}, stale_ok=True)
    assert marked.attrs["cache"] == "stale (computed by other code)"
    assert bundle.export_bundle(tmp_path / "stale.zip") == 0  # export leaves it out
    fresh = engine.run("labtest.toy", {"k": 3})
    assert fresh.attrs["cache"] == "recomputed (code changed)"
    assert fresh.attrs["source"] != first.attrs["source"]
    assert engine.run("labtest.toy", {"k": 3}).attrs["cache"] == "hit"
    assert len(engine.get_experiment("labtest.toy").compute.calls) == 2

    cache.clear()
    result = bundle.import_report(shipped)  # a bundle of the old code: checked, then left out
    assert result.imported == 0 and len(result.stale) == 1
    assert "labtest.toy: 1 computed by other labtest code" in result.stale[0]
    assert bundle.manifest(shipped) == []  # the home page does not offer it as missing
    assert not engine.is_cached("labtest.toy", {"k": 3})


def test_an_entry_without_a_fingerprint_is_stale_for_a_phenomenon(toy_source):
    engine.run("labtest.toy", {"k": 4})
    exp = engine.get_experiment("labtest.toy")
    values = engine.run("labtest.toy", {"k": 4}).attrs["config"]
    entry = cache.load_valid("labtest.toy", exp.version, values)
    legacy = cache.make_entry(entry["frame"], {k: v for k, v in entry["meta"].items() if k != "source"})
    cache.store("labtest.toy", exp.version, values, legacy)  # as written before fingerprints
    assert not engine.is_cached("labtest.toy", {"k": 4})
    assert engine.run("labtest.toy", {"k": 4}).attrs["cache"] == "recomputed (code changed)"


# -- end to end: edit a real science function in a copy of the repository --------------------

PROBE = """
import json, sys
import engine
out = {}
for name in ("linear_ae.snapshot", "generalization.linear"):
    frame = engine.run(name)
    out[name] = {"cache": frame.attrs["cache"], "values": frame.select_dtypes("number").sum().tolist()}
out["again"] = engine.run("linear_ae.snapshot").attrs["cache"]
json.dump(out, sys.stdout)
"""

EDIT = '''

_exact_abs_cosines = abs_cosines


def abs_cosines(decoder, eigvecs):
    """A student's edit: half the cosines."""
    return 0.5 * _exact_abs_cosines(decoder, eigvecs)
'''


@pytest.mark.slow
def test_editing_science_in_a_copy_gives_fresh_numbers_and_keeps_other_phenomena_cached(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "engine", repo / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PHENOMENA_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(repo)}

    def probe() -> dict:
        done = subprocess.run(
            [sys.executable, "-c", PROBE], cwd=repo, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    before = probe()
    assert before["linear_ae.snapshot"]["cache"] == "computed" and before["again"] == "hit"
    science = repo / "engine" / "phenomena" / "linear_ae" / "science.py"
    science.write_text(science.read_text() + EDIT)
    after = probe()
    assert after["linear_ae.snapshot"]["cache"] == "recomputed (code changed)"
    assert after["again"] == "hit"  # the fresh result is cached in turn
    assert after["generalization.linear"]["cache"] == "hit"  # another phenomenon: untouched
    old, new = before["linear_ae.snapshot"]["values"], after["linear_ae.snapshot"]["values"]
    assert new != old  # fresh numbers: the abs_cos column is halved
    assert any(n == pytest.approx(0.5 * o, rel=1e-9) and o > 0 for o, n in zip(old, new))


# -- shipped bundles -------------------------------------------------------------------------


@pytest.mark.parametrize("file", sorted(p.name for p in (ROOT / "bundles").glob("*.zip")))
def test_the_shipped_bundles_were_computed_by_the_shipped_code(file):
    """Rebuild with `make bundles` (keeps every current entry, recomputes the others)."""
    with zipfile.ZipFile(ROOT / "bundles" / file) as archive:
        entries = json.loads(archive.read("manifest.json"))["entries"]
    stale = sorted(
        {
            e["experiment"].split(".")[0]
            for e in entries
            if not fingerprint.is_current(e["experiment"], e.get("meta"))
        }
    )
    assert not stale, (
        f"bundles/{file} holds results computed by other code of {', '.join(stale)}; "
        "rebuild it with `make bundles` (or: python scripts/rebuild_bundles.py)"
    )


def _rebuild_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("rebuild_bundles", ROOT / "scripts" / "rebuild_bundles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_rebuild_script_keeps_current_results_and_recomputes_stale_ones(toy_source, tmp_path):
    rebuild = _rebuild_script()
    calls = engine.get_experiment("labtest.toy").compute.calls
    engine.run("labtest.toy", preset="paper")
    shipped = tmp_path / "paper-cpu.zip"
    assert bundle.export_bundle(shipped, preset="paper") == 1
    assert rebuild.stale_phenomena(shipped) == [] and len(calls) == 1

    assert rebuild.rebuild(shipped, "paper", jobs=1) == 0
    assert len(calls) == 1  # a current result is kept, not recomputed
    toy_source.write_text(SCIENCE.replace("2 * x", "3 * x"))
    assert rebuild.stale_phenomena(shipped) == ["labtest"]
    assert rebuild.rebuild(shipped, "paper", jobs=1) == 0
    assert len(calls) == 2 and rebuild.stale_phenomena(shipped) == []
    (entry,) = rebuild.manifest_entries(shipped)
    assert entry["meta"]["source"] == fingerprint.experiment_fingerprint("labtest.toy")
    assert os.environ[cache.ENV_VAR] == str(tmp_path / "cache")  # the caller's cache is back
