"""The cache cannot run code, cannot serve an entry under the wrong key, keys equal configs once,
refuses runs too big for the machine, and clears only what the lab wrote.

Uses ``labtest.toy`` (tests/conftest.py): a registered experiment whose compute is microseconds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import engine
from engine import bundle
from engine.core import cache, registry, runner
from engine.core.entries import entry_from_bytes
from engine.core.validation import ConfigError

NAME = "labtest.toy"


def _entry_path(root: Path, key: str) -> Path:
    """The output.parquet of the entry whose header carries ``key``."""
    for path in (root / NAME).rglob(cache.ENTRY_FILE):
        if entry_from_bytes(path.read_bytes())["key"] == key:
            return path
    raise AssertionError(f"no entry for {key}")


class _Payload:
    """Unpickling this creates ``target`` (stands in for arbitrary code)."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_entries_are_parquet_and_a_planted_pickle_never_runs(toy, fresh_cache, tmp_path):
    first = engine.run(NAME, {"k": 3})
    path = _entry_path(fresh_cache, first.attrs["cache_key"])
    assert path.read_bytes()[:4] == b"PAR1"
    assert not list(fresh_cache.rglob("*.pkl"))
    sentinel = tmp_path / "code-ran"
    evil = pickle.dumps({"frame": _Payload(sentinel)})
    (path.parent / "output.pkl").write_bytes(evil)  # joblib's usual file name: never opened
    path.write_bytes(evil)  # the entry itself replaced by a pickle
    again = engine.run(NAME, {"k": 3})
    assert again.attrs["cache"] == "recomputed (corrupt entry)"
    pd.testing.assert_frame_equal(first, again)
    path.write_bytes(evil)
    assert bundle.export_bundle(tmp_path / "b.zip") == 0  # export reads Parquet only, skips the bad entry
    assert engine.load_cached(NAME, {"k": 3}) is None
    assert not sentinel.exists()
    assert len(toy.compute.calls) == 2


def test_the_store_refuses_anything_but_an_entry(toy, fresh_cache):
    backend = cache.cached_function(NAME).store_backend
    with pytest.raises(TypeError, match="stores only result entries"):
        backend.dump_item(["f", "0" * 32], {"frame": "not a frame", "digest": "x"})
    with pytest.raises(ValueError, match="bound to another key"):
        entry = cache.make_entry(pd.DataFrame({"a": [1.0]}), {}, key="0" * 32)
        cache.store(NAME, toy.version, runner.canonical_values(toy.presets["quick"]), entry)


def test_an_entry_copied_into_another_slot_is_detected_logged_once_and_recomputed(toy, fresh_cache, caplog):
    two, seven = engine.run(NAME, {"k": 2}), engine.run(NAME, {"k": 7})
    src, dst = (_entry_path(fresh_cache, f.attrs["cache_key"]) for f in (two, seven))
    shutil.copyfile(src, dst)  # a valid entry, in the wrong slot
    assert engine.load_cached(NAME, {"k": 7}) is None
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        again = engine.run(NAME, {"k": 7})
    assert again.attrs["cache"] == "recomputed (corrupt entry)"
    assert set(again["k"]) == {7}
    pd.testing.assert_frame_equal(seven, again)
    assert sum("not bound to its key" in r.message for r in caplog.records) == 1
    assert engine.run(NAME, {"k": 7}).attrs["cache"] == "hit"


def test_equal_configs_share_one_key_whatever_the_numeric_types(toy, fresh_cache):
    first = engine.run(NAME, {"lam": 1, "k": np.int64(2)})
    assert first.attrs["config"]["lam"] == 1.0 and type(first.attrs["config"]["lam"]) is float
    for same in ({"lam": 1.0, "k": 2}, {"lam": np.float64(1.0), "k": np.int32(2)}, {"lam": np.int64(1)}):
        again = engine.run(NAME, same)
        assert again.attrs["cache"] == "hit", same
        assert again.attrs["cache_key"] == first.attrs["cache_key"]
    assert len(toy.compute.calls) == 1
    assert engine.run(NAME, {"lam": 1.5}).attrs["cache_key"] != first.attrs["cache_key"]


def test_phenomenon_configs_key_int_and_numpy_values_like_plain_ones():
    """On a real experiment (linear_ae.dynamics): {'lam': 1} and np.int64 share the plain key."""
    plain = runner.canonical_values(engine.resolve_config("linear_ae.dynamics", {"lam": 1.0, "k": 2}))
    odd = runner.canonical_values(engine.resolve_config("linear_ae.dynamics", {"lam": 1, "k": np.int64(2)}))
    assert plain == odd
    assert [type(v) for v in plain.values()] == [type(v) for v in odd.values()]
    assert cache.entry_key("linear_ae.dynamics", 1, plain) == cache.entry_key("linear_ae.dynamics", 1, odd)


def test_a_run_too_big_for_the_machine_is_refused_before_it_starts(toy, fresh_cache, monkeypatch):
    monkeypatch.setattr(runner, "available_memory", lambda: 2**30)  # 1 GiB free
    with pytest.raises(ConfigError) as err:
        engine.run(NAME, {"n": 10**12})  # 8 TB asked
    message = str(err.value)
    assert "n=1000000000000" in message and "7450.6 GiB" in message and "1.0 GiB is available" in message
    assert "lower n" in message and toy.compute.calls == []
    assert engine.run(NAME, {"n": 1000}).attrs["cache"] == "computed"  # 8 KB: runs
    # a result computed on a bigger machine (e.g. imported) is served: the guard only stops computing
    config = runner.canonical_values(engine.resolve_config(NAME, {"n": 10**12}))
    cache.store(NAME, toy.version, config, cache.make_entry(pd.DataFrame({"step": [0]}), {"host": "gpu-box"}))
    assert engine.run(NAME, {"n": 10**12}).attrs["cache"] == "hit"


def test_the_guard_reads_real_memory_and_a_broken_estimate_does_not_block(
    toy, fresh_cache, monkeypatch, caplog
):
    free = runner.available_memory()
    assert free is not None and 2**24 < free < 2**50  # between 16 MiB and 1 PiB on any test machine
    broken = dataclasses.replace(toy, estimate=lambda cfg: 1 / 0)
    with registry.registered(broken), caplog.at_level(logging.WARNING, logger="engine"):
        assert engine.run(NAME, {"n": 5}).attrs["cache"] == "computed"
    assert any("cost estimate" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    "mode, needle",
    [
        ("oom", "ran out of memory (n=10); try smaller values"),
        ("runtime", "ran out of memory (n=10): RuntimeError: CUDA"),
    ],
)
def test_memory_and_runtime_errors_become_one_clear_run_error(toy, fresh_cache, mode, needle):
    with pytest.raises(runner.RunError) as err:
        engine.run(NAME, {"mode": mode})
    message = str(err.value)
    assert needle in message and "\n" not in message and len(message) < 300
    assert isinstance(err.value.__cause__, (MemoryError, RuntimeError))
    assert cache.index_records(NAME) == []


def test_clear_memo_keeps_the_entries(fresh_cache, toy):
    """clear_memo() forgets the per-folder joblib handles (as a new process would), not the results."""
    engine.run(NAME)
    cache.clear_memo()
    assert engine.run(NAME).attrs["cache"] == "hit"


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_clear_refuses_a_folder_the_lab_did_not_write(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / "Documents" / "thesis.tex").write_text("years of work")
    (home / "linear_ae.dynamics").mkdir()
    before = _tree(home)
    monkeypatch.setenv(cache.ENV_VAR, str(home))
    for name in (None, "linear_ae.dynamics"):
        with pytest.raises(cache.CacheRefused, match="has no .phenomena-lab file"):
            cache.clear(name)
    assert _tree(home) == before


def test_clear_removes_only_marked_folders_and_never_follows_links(toy, fresh_cache, tmp_path):
    engine.run(NAME)
    lab = cache.lab_folder("ntk-blocks")  # another folder the lab writes, marked
    (lab / "block.npy").write_bytes(b"0")
    (fresh_cache / "notes").mkdir()
    (fresh_cache / "notes" / "keep.txt").write_text("mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / cache.MARKER).write_text("planted")
    (outside / "precious.txt").write_text("keep")
    (fresh_cache / "link").symlink_to(outside, target_is_directory=True)
    cleared, skipped = cache.clear_report()
    assert sorted(cleared) == sorted([NAME, "ntk-blocks"])
    assert sorted(skipped) == ["link", "notes"]
    assert (fresh_cache / "notes" / "keep.txt").exists() and (outside / "precious.txt").exists()
    with pytest.raises(cache.CacheRefused):
        cache.clear("notes")
    with pytest.raises(cache.CacheRefused, match="not a valid cache folder name"):
        cache.clear("../outside")


def test_malformed_index_records_are_skipped_and_never_followed(toy, fresh_cache, tmp_path):
    engine.run(NAME)
    index = fresh_cache / NAME / "index"
    for i, record in enumerate(
        [
            {"experiment": "../../escape", "version": 3, "config": {}},
            {"experiment": NAME, "version": "3", "config": {}},
            {"experiment": NAME, "version": 3, "config": [1]},
            [1, 2],
        ]
    ):
        (index / f"bad{i}.json").write_text(json.dumps(record))
    (index / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    before = _tree(tmp_path)
    assert len(cache.index_records()) == 1
    assert bundle.export_bundle(tmp_path / "out.zip") == 1
    assert _tree(tmp_path) - before == {"out.zip"}
    assert not (tmp_path.parent / "escape").exists()


def test_an_older_labs_folder_is_cleared_once_the_lab_has_opened_it(fresh_cache):
    """Folders from before the marker existed carry none: clear leaves them alone (a folder that
    merely looks like one may hold a user's files, issue 18) until the engine opens that
    experiment's folder, which marks it."""
    old = fresh_cache / "linear_ae.dynamics" / "engine" / "core" / "cached_call" / "compute_cached"
    old.mkdir(parents=True)
    (old / "func_code.py").write_text("# first line: 1\n")
    (fresh_cache / cache.MARKER).write_text("")
    (fresh_cache / "lookalike" / "engine").mkdir(parents=True)
    assert cache.clear_report() == ([], ["linear_ae.dynamics", "lookalike"])
    cache.lab_folder("linear_ae.dynamics")
    assert cache.clear_report() == (["linear_ae.dynamics"], ["lookalike"])


def test_precompute_refuses_configs_too_big_and_goes_on(toy, fresh_cache, monkeypatch):
    from engine import sweep

    monkeypatch.setattr(runner, "available_memory", lambda: 2**20)  # 1 MiB free: n=10**6 (8 MB) is too big
    configs = [toy.config_cls(k=2), toy.config_cls(k=3, n=10**6), toy.config_cls(k=4)]
    summary = sweep.precompute(NAME, "quick", backend="sequential", configs=configs)
    assert (summary.hits, summary.computed) == (0, 2)
    ((config, why),) = summary.failures
    assert config["n"] == 10**6 and why.startswith("refused: labtest.toy with n=1000000 needs about 8 MiB")
    assert [c["k"] for c in toy.compute.calls] == [2, 4]
