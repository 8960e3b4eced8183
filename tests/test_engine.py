"""The engine's contract: registry, validation, cache integrity, versions, concurrency, CLI,
resumable sweeps, Dask, and bundles that never unpickle."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import engine
from engine import bundle, sweep
from engine.core import cache
from engine.core.entries import entry_from_bytes, entry_to_bytes
from engine.core.experiment import RunContext
from engine.core.registry import BROKEN, available, phenomena
from engine.phenomena.linear_ae.experiments import SnapshotConfig

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"steps": 300, "record_every": 50}  # a dynamics run of ~0.05 s


def cli(*args: str, env_cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, cache.ENV_VAR: str(env_cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_phenomenon_module_loads_and_registers():
    engine.experiments()
    assert BROKEN == {}
    built = {p.name for p in available()}
    assert "linear_ae" in built
    for name, exp in engine.EXPERIMENTS.items():
        assert name.split(".")[0] in {p.name for p in phenomena()}
        assert {"quick", "paper"} <= set(exp.presets), name
        assert exp.charts, name
        assert isinstance(exp.presets["quick"], exp.config_cls)


def test_run_caches_and_reports_provenance(fresh_cache):
    first = engine.run("linear_ae.dynamics", SMALL)
    assert first.attrs["cache"] == "computed"
    assert engine.is_cached("linear_ae.dynamics", SMALL)
    second = engine.run("linear_ae.dynamics", SMALL)
    assert second.attrs["cache"] == "hit"
    pd.testing.assert_frame_equal(first, second)
    assert second.attrs["config"]["steps"] == 300
    assert not engine.is_cached("linear_ae.dynamics", {**SMALL, "k": 3})


def _entry_file(root: Path, name: str) -> Path:
    (path,) = list((root / name).rglob(cache.ENTRY_FILE))
    return path


def test_truncated_entry_is_reported_once_and_recomputed(fresh_cache, caplog):
    reference = engine.run("linear_ae.dynamics", SMALL)
    path = _entry_file(fresh_cache, "linear_ae.dynamics")
    path.write_bytes(path.read_bytes()[:100])
    with caplog.at_level("WARNING", logger="engine.cache"):
        again = engine.run("linear_ae.dynamics", SMALL)
    assert again.attrs["cache"] == "recomputed (corrupt entry)"
    assert sum("corrupt" in r.message for r in caplog.records) == 1
    pd.testing.assert_frame_equal(reference, again)
    assert engine.run("linear_ae.dynamics", SMALL).attrs["cache"] == "hit"


def test_entry_whose_data_was_altered_is_not_served(fresh_cache):
    reference = engine.run("linear_ae.dynamics", SMALL)
    path = _entry_file(fresh_cache, "linear_ae.dynamics")
    entry = entry_from_bytes(path.read_bytes())
    entry["frame"].loc[0, "loss"] = 123.0  # loadable, but no longer what was computed
    path.write_bytes(entry_to_bytes(entry))
    again = engine.run("linear_ae.dynamics", SMALL)
    assert again.attrs["cache"] == "recomputed (corrupt entry)"
    pd.testing.assert_frame_equal(reference, again)


def test_a_new_science_version_never_serves_old_results(fresh_cache, monkeypatch):
    engine.run("linear_ae.dynamics", SMALL)
    exp = engine.get_experiment("linear_ae.dynamics")
    monkeypatch.setitem(engine.EXPERIMENTS, exp.name, dataclasses.replace(exp, version=exp.version + 1))
    assert not engine.is_cached("linear_ae.dynamics", SMALL)
    assert engine.run("linear_ae.dynamics", SMALL).attrs["cache"] == "computed"


def _composed_experiments(inner_calls: list[int], inner_sources: list[str]) -> tuple:
    """labtest.inner (counts its computes, reports progress) and labtest.outer, which reads it
    through ``ctx.run`` inside the first half of its own progress and scales its values."""
    from engine.core.params import Interval, Validated, param

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class InnerConfig(Validated):
        k: int = param(2, Interval(int, 1, 1000))  # rows

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class OuterConfig(Validated):
        k: int = param(2, Interval(int, 1, 1000))  # the inner experiment's k
        scale: float = param(1.0, Interval(float, 0.0, 100.0))  # this experiment's own knob

    def inner(cfg, ctx):
        inner_calls.append(cfg.k)
        ctx.report(0.5, "half")
        ctx.report(1.0, "done")
        return pd.DataFrame({"row": range(cfg.k), "value": [float(i * i) for i in range(cfg.k)]})

    def outer(cfg, ctx):
        frame = ctx.run("labtest.inner", {"k": cfg.k}, share=(0.0, 0.5))
        inner_sources.append(frame.attrs["cache"])
        ctx.report(1.0, "done")
        return frame.assign(scaled=cfg.scale * frame["value"])

    def experiment(name, config_cls, compute):
        return engine.Experiment(
            name=name,
            title=name,
            config_cls=config_cls,
            compute=compute,
            presets={"quick": config_cls()},
            version=1,
            charts={"rows": len},
        )

    return experiment("labtest.inner", InnerConfig, inner), experiment("labtest.outer", OuterConfig, outer)


def test_an_experiment_that_composes_another_reads_its_cached_result(fresh_cache):
    """ctx.run goes through the cache: the second outer config finds the inner result stored by
    the first (the inner compute runs once), and a later direct run of the inner one is a hit too."""
    from engine.core import registry

    calls: list[int] = []
    sources: list[str] = []
    reports: list[tuple[float, str]] = []
    inner, outer = _composed_experiments(calls, sources)
    with registry.registered(inner), registry.registered(outer):
        first = engine.run("labtest.outer", {"scale": 1.0}, progress=lambda f, m: reports.append((f, m)))
        second = engine.run("labtest.outer", {"scale": 3.0})
        assert calls == [2] and sources == ["computed", "hit"]
        assert first.attrs["cache"] == second.attrs["cache"] == "computed"  # the outer results differ
        pd.testing.assert_series_equal(second["scaled"], 3.0 * first["scaled"], check_names=False)
        assert engine.run("labtest.inner", {"k": 2}).attrs["cache"] == "hit" and calls == [2]
        engine.run("labtest.outer", {"k": 3})
        assert calls == [2, 3]  # a different inner config is computed, once
    assert reports == [(0.25, "labtest.inner: half"), (0.5, "labtest.inner: done"), (1.0, "done")]


def test_two_processes_computing_the_same_entry_both_succeed(fresh_cache):
    args = ["run", "linear_ae.dynamics", "--set", "steps=4000", "--out"]
    env = {**os.environ, cache.ENV_VAR: str(fresh_cache), "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "engine", *args, str(fresh_cache.parent / f"out{i}.csv")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    one, two = (pd.read_csv(fresh_cache.parent / f"out{i}.csv") for i in range(2))
    pd.testing.assert_frame_equal(one, two)
    loaded = engine.run("linear_ae.dynamics", {"steps": 4000})
    assert loaded.attrs["cache"] == "hit"
    assert cache.entry_is_valid(entry_from_bytes(_entry_file(fresh_cache, "linear_ae.dynamics").read_bytes()))


def test_cli_run_list_and_errors(fresh_cache, tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "frame.csv"
    done = cli(
        "run",
        "linear_ae.dynamics",
        "--set",
        "k=3",
        "--set",
        "steps=200",
        "--out",
        str(out),
        env_cache=fresh_cache,
    )
    assert done.returncode == 0, done.stderr
    assert set(pd.read_csv(out)["k"]) == {3}
    assert main(["list"]) == 0
    assert "linear_ae.dynamics" in capsys.readouterr().out
    for args, needle in [
        (("run", "nope"), "Unknown experiment 'nope'"),
        (("run", "linear_ae.dynamics", "--set", "k=0"), "The 'k' parameter of DynamicsConfig must be an int"),
        (("run", "linear_ae.dynamics", "--set", "width=3"), "has no parameter 'width'"),
        (("run", "linear_ae.dynamics", "--set", "k=three"), "The 'k' parameter of DynamicsConfig must be a"),
        (("precompute", "linear_ae.dynamics", "--preset", "huge"), "The 'preset' parameter"),
    ]:
        assert main(list(args)) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and needle in errors[0], errors


def _snapshot_grid(n: int) -> list[SnapshotConfig]:
    return [SnapshotConfig(at_step=10 * (i + 1), steps=100) for i in range(n)]


def test_precompute_is_resumable_after_an_interruption(fresh_cache):
    configs = _snapshot_grid(5)

    def interrupt_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.precompute(
            "linear_ae.snapshot",
            "quick",
            backend="sequential",
            configs=configs,
            on_result=interrupt_after_two,
        )
    summary = sweep.precompute("linear_ae.snapshot", "quick", backend="sequential", configs=configs)
    assert (summary.hits, summary.computed, summary.failures) == (2, 3, [])
    again = sweep.precompute("linear_ae.snapshot", "quick", backend="loky", jobs=2, configs=configs)
    assert (again.hits, again.computed) == (5, 0)


def test_precompute_reports_failures_and_goes_on(fresh_cache, monkeypatch):
    configs = _snapshot_grid(3)
    real = sweep.compute_entry

    def flaky(name, config, **kwargs):
        if config["at_step"] == 20:
            raise FloatingPointError("diverged")
        return real(name, config, **kwargs)

    monkeypatch.setattr(sweep, "compute_entry", flaky)
    summary = sweep.precompute("linear_ae.snapshot", "quick", backend="sequential", configs=configs)
    assert summary.computed == 2
    assert len(summary.failures) == 1 and "diverged" in summary.failures[0][1]


def test_dask_workers_with_their_own_file_system_fill_the_drivers_cache(fresh_cache, tmp_path):
    distributed = pytest.importorskip("distributed")
    worker_cache = tmp_path / "worker-cache"
    env = {cache.ENV_VAR: str(worker_cache), "PYTHONPATH": str(ROOT)}
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, env=env
    ) as cluster:
        summary = sweep.precompute(
            "linear_ae.snapshot",
            "quick",
            backend="dask",
            scheduler=cluster.scheduler_address,
            configs=_snapshot_grid(4),
        )
    assert (summary.computed, summary.failures) == (4, [])
    for config in _snapshot_grid(4):
        assert engine.is_cached("linear_ae.snapshot", config)
    assert not any(worker_cache.rglob(cache.ENTRY_FILE))  # workers wrote nothing: results travelled back


def test_bundle_round_trip_and_refusals(fresh_cache, tmp_path):
    frame = engine.run("linear_ae.dynamics", SMALL)
    engine.run("linear_ae.snapshot", {"at_step": 20, "steps": 100})
    path = tmp_path / "talk.zip"
    assert bundle.export_bundle(path) == 2
    cache.clear()
    assert not engine.is_cached("linear_ae.dynamics", SMALL)
    assert bundle.import_bundle(path) == 2
    loaded = engine.run("linear_ae.dynamics", SMALL)
    assert loaded.attrs["cache"] == "hit"
    pd.testing.assert_frame_equal(frame, loaded, check_dtype=False)

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    target = manifest["entries"][0]["file"]

    def write(name: str, replace: dict) -> Path:
        out = tmp_path / name
        with zipfile.ZipFile(out, "w") as archive:
            for member, data in {**members, **replace}.items():
                archive.writestr(member, data)
        return out

    tampered_frame = pd.read_parquet(io.BytesIO(members[target]))
    tampered_frame.iloc[0, 2] = 99.0
    buffer = io.BytesIO()
    tampered_frame.to_parquet(buffer, index=False)
    forged = dict(manifest)
    forged["entries"] = [
        dict(e, sha256=__import__("hashlib").sha256(buffer.getvalue()).hexdigest())
        if e["file"] == target
        else e
        for e in manifest["entries"]
    ]
    cases = {
        "damaged.zip": ({target: members[target][:-10] + b"0123456789"}, "does not match its hash"),
        "forged.zip": ({target: buffer.getvalue(), "manifest.json": json.dumps(forged)}, "different data"),
        "foreign.zip": ({"manifest.json": json.dumps({"format": "pickle"})}, "not a Phenomena Lab bundle"),
    }
    cache.clear()
    for name, (replace, needle) in cases.items():
        with pytest.raises(bundle.BundleError, match=needle):
            bundle.import_bundle(write(name, replace))
        assert cache.index_records() == []  # refused whole: nothing was imported
    not_zip = tmp_path / "junk.zip"
    not_zip.write_bytes(b"\x80\x04 this is a pickle, not a zip")
    with pytest.raises(bundle.BundleError, match="not a readable bundle"):
        bundle.import_bundle(not_zip)


def test_cli_export_import_status_clear(fresh_cache, tmp_path, capsys):
    from engine.cli import main

    engine.run("linear_ae.dynamics", SMALL)
    path = tmp_path / "b.zip"
    assert main(["export", str(path)]) == 0
    assert main(["clear"]) == 0
    assert main(["import", str(path)]) == 0
    capsys.readouterr()
    cache.clear_memo()  # as in a fresh process: new joblib handles, only what is on disk
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    line = next(row for row in status.splitlines() if row.startswith("linear_ae.dynamics"))
    assert " 1 results" in line
    assert main(["import", str(tmp_path / "missing.zip")]) == 2
    assert "not a readable bundle" in capsys.readouterr().err


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_devices_resolve(device):
    from engine.core.devices import resolve_device

    assert resolve_device(device) in ("cpu", "cuda", "mps")


def test_unknown_device_is_a_clear_error():
    from engine.core.devices import resolve_device

    with pytest.raises(engine.ConfigError, match="The 'device' parameter must be one of"):
        resolve_device("tpu")


def test_export_can_keep_one_presets_results_only(fresh_cache, tmp_path):
    engine.run("linear_ae.snapshot")  # the quick preset's own config (its whole quick grid)
    engine.run("linear_ae.snapshot", {"at_step": 20, "steps": 100})  # a slider position, not in the grid
    assert bundle.export_bundle(tmp_path / "all.zip") == 2
    assert bundle.export_bundle(tmp_path / "quick.zip", preset="quick") == 1
    assert bundle.export_bundle(tmp_path / "paper.zip", preset="paper") == 0


@pytest.mark.parametrize(
    "file, preset, at_least, sample",
    [
        ("paper-cpu.zip", "paper", 5, "generalization.nk"),
        ("quick.zip", "quick", 100, "generalization.nk"),
        ("real-cpu.zip", "real", 8, "linear_ae.dynamics"),
    ],
)
def test_the_shipped_bundles_import_and_are_current(fresh_cache, file, preset, at_least, sample):
    """bundles/paper-cpu.zip (paper-scale results computed on a CPU), bundles/quick.zip (the quick
    presets' slider grids) and bundles/real-cpu.zip (the real-data presets); a version bump or an
    edit of a phenomenon's code must refresh them (`make bundles`: python scripts/rebuild_bundles.py)."""
    shipped = ROOT / "bundles" / file
    result = bundle.import_report(shipped)
    assert result.stale == [], f"{shipped} holds stale entries {result.stale}; run `make bundles`"
    assert result.imported + result.unchanged >= at_least
    for record in cache.index_records():
        exp = engine.get_experiment(record["experiment"])
        assert record["version"] == exp.version
        assert bundle._in_grid(record, preset), f"{exp.name}: not a {preset}-preset config"
    assert engine.load_cached(sample, preset=preset) is not None


def test_every_registry_loads_without_torch_nor_scipy():
    """Configs, presets and claims are read by the home page, the scoreboard, ``list`` and an
    import's checks: the registries import their science where it runs, not when they load."""
    from module_probe import heavy, modules_after

    loaded = modules_after("import engine; assert len(engine.experiments()) > 20")
    assert heavy(loaded) == [], heavy(loaded)
    assert "altair" not in loaded  # charts modules load it on their first chart
    assert {f"engine.phenomena.{p.name}.experiments" for p in phenomena()} <= loaded


def test_import_engine_alone_is_light_and_its_names_load_on_first_use():
    """``import engine`` loads no pandas (so ``python -m engine figure`` starts its drawing helper
    before the heavy imports); its public names load when first used; an unknown one is an
    AttributeError, as from any module."""
    from module_probe import modules_after

    loaded = modules_after("import engine")
    assert "pandas" not in loaded and "engine.core.runner" not in loaded
    used = modules_after("import engine\nassert callable(engine.run) and engine.ConfigError")
    assert "engine.core.runner" in used
    assert set(engine.__all__) <= set(dir(engine))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        engine.nope  # noqa: B018


def test_the_device_list_is_offered_without_importing_torch():
    """The sidebar's device choice on a page that computes nothing: probed from files, the same as
    torch's own answer on this machine (torch is asked once it is loaded)."""
    from module_probe import heavy, modules_after

    from engine.core import devices

    assert devices.probe_devices() == devices.available_devices()  # torch is loaded here
    probed = modules_after(
        "import sys\nfrom engine.core.devices import probe_devices\n"
        f"assert probe_devices() == {devices.available_devices()!r}, probe_devices()"
    )
    assert heavy(probed) == []
    with pytest.raises(engine.ConfigError, match="The 'device' parameter must be one of"):
        devices.check_device_choice("tpu")


def test_a_cache_hit_never_asks_torch_for_devices(fresh_cache):
    """Reading a result from the cache needs no device: ``device`` is resolved only to compute."""
    from module_probe import heavy, modules_after

    engine.run("linear_ae.dynamics", SMALL)
    code = (
        "import engine\n"
        f"frame = engine.run('linear_ae.dynamics', {SMALL!r}, device='auto')\n"
        "assert frame.attrs['cache'] == 'hit'"
    )
    assert heavy(modules_after(code, {cache.ENV_VAR: str(fresh_cache)})) == []


def test_numpy_science_computes_without_asking_torch_for_devices(fresh_cache):
    """``device='auto'`` is resolved when a computation first reads ``ctx.device``: an experiment
    whose science is numpy (generalization) never imports torch (2 s of a page's first view), and
    its entry says it ran on the CPU; a torch experiment resolves it as before. Nor does the
    generalization page's first view load scipy.stats (0.9 s; ``scipy.special`` has the quantile)."""
    from module_probe import modules_after

    code = (
        "import engine\n"
        "frame = engine.run('generalization.nk', {'m_values': [32, 64], 'seeds': 1}, device='auto')\n"
        "assert frame.attrs['cache'] == 'computed' and frame.attrs['device'] == 'cpu', frame.attrs\n"
        "engine.run('generalization.linear', {'n_values': [50, 100], 'seeds': 1}, device='auto')\n"
    )
    loaded = modules_after(code, {cache.ENV_VAR: str(fresh_cache)})
    assert "torch" not in loaded and "scipy.stats" not in loaded
    assert "scipy.special" in loaded  # the probe sees scipy's modules: the science did run
    asked = []
    ctx = RunContext(device=lambda: asked.append(1) or "cuda")
    assert ctx.device_used == "cpu" and not asked  # not chosen yet: nothing read it
    assert ctx.device == "cuda" and ctx.device == "cuda" and asked == [1]  # chosen once, on first read
    assert ctx.device_used == "cuda"


def test_a_gpu_asked_for_by_name_is_checked_before_computing(fresh_cache):
    """Naming a device this machine lacks is a clear error before anything runs, also for numpy
    science (which would never read the device)."""
    from engine.core.devices import available_devices

    if "cuda" in available_devices():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(engine.ConfigError, match="asks for 'cuda', which this machine does not have"):
        engine.run("generalization.nk", {"m_values": [32, 64], "seeds": 1}, device="cuda")
    assert cache.index_records() == []  # nothing was computed


def test_hashes_are_remembered_inside_the_block_only_and_in_its_thread_only():
    import threading

    from engine.core.entries import entry_key, frame_digest, hashes_remembered

    frame, config = pd.DataFrame({"x": [1.0, 2.0]}), {"k": 2}
    before = frame_digest(frame)
    with hashes_remembered():
        assert frame_digest(frame) == before
        key = entry_key("a.b", 1, config)
        frame.loc[0, "x"] = 5.0  # not allowed inside a block: shows that the digest is remembered
        assert frame_digest(frame) == before
        seen = []
        worker = threading.Thread(target=lambda: seen.append(frame_digest(frame)))
        worker.start()
        worker.join()
        assert seen[0] != before  # another thread hashes for itself
        assert entry_key("a.b", 1, dict(config)) == key  # an equal config: the same key
    assert frame_digest(frame) == seen[0] != before  # outside the block: hashed again


def test_remembered_config_hashes_equal_joblibs_and_tell_types_apart():
    """Keys are remembered per exact text of a plain config: the same hash as joblib's, and configs
    that pickle differently (1 vs 1.0 vs True, a tuple vs a list, another key order) never share
    a remembered hash; a non-plain value (numpy) is hashed every time."""
    import joblib
    import numpy as np

    from engine.core.entries import _plain_text, entry_key

    configs = [
        {"a": 1},
        {"a": 1.0},
        {"a": True},
        {"a": (1, 2)},
        {"a": [1, 2]},
        {"a": 1, "b": "x"},
        {"b": "x", "a": 1},
        {"a": None, "b": (0.1, 0.2)},
    ]
    for config in configs:
        assert entry_key("exp.x", 3, config) == joblib.hash(["exp.x", 3, config])
        assert entry_key("exp.x", 3, dict(config)) == joblib.hash(["exp.x", 3, config])  # remembered
    texts = [_plain_text(c) for c in configs]
    assert len(set(texts)) == len(texts)
    assert _plain_text({"a": np.float64(1.0)}) is None and _plain_text({1: 2}) is None
    assert entry_key("exp.x", 3, {"a": np.float64(1.0)}) == joblib.hash(["exp.x", 3, {"a": np.float64(1.0)}])


def test_an_unchanged_entry_is_not_read_again_and_a_changed_one_always_is(fresh_cache, monkeypatch):
    """engine.core.entry_memo: a hit whose file is unchanged since it was written or read is served
    without reading it (and a caller's edit of its frame never reaches the next reader); a file
    changed in place, even to the same size, is read and checked again."""
    from engine.core.cache import ParquetStore

    reads = []
    original = ParquetStore.load_item
    monkeypatch.setattr(
        ParquetStore, "load_item", lambda self, *a, **k: reads.append(1) or original(self, *a, **k)
    )
    first = engine.run("linear_ae.dynamics", SMALL)  # computed and stored: remembered as written
    again = engine.run("linear_ae.dynamics", SMALL)
    assert again.attrs["cache"] == "hit" and reads == []
    again["step"] = -1  # the caller's copy
    pd.testing.assert_frame_equal(engine.run("linear_ae.dynamics", SMALL), first)
    path = _entry_file(fresh_cache, "linear_ae.dynamics")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, same inode
    path.write_bytes(bytes(data))
    after = engine.run("linear_ae.dynamics", SMALL)
    assert reads == [1]  # read and checked again (this byte may not touch the data: then a hit)
    assert after.attrs["cache"] in ("hit", "recomputed (corrupt entry)")
    pd.testing.assert_frame_equal(after, first)
