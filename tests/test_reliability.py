"""Reliability of the cache, bundles and CLI (issue 18): nothing partial, nothing lost, nothing
decoded blindly.

Each test reproduces one failure measured on the old code: an import interrupted by Ctrl-C or
SIGKILL, a failed write reported as success, a full disk, a read-only cache, a Parquet dictionary
bomb, ``--verify`` silent about what it skipped, ``export`` over a device node or a FIFO, a bad
``--preset`` accepted, a FIFO or a link to the zero device planted as an entry, an entry that is a
folder, ``clear`` of an unmarked folder, ``clear`` racing a writer, and ``/linear_ae?lae_at=0``.

Faults are real where that is cheap and honest: signals, RLIMIT_FSIZE and RLIMIT_AS in a child
process (``tests/toy_child.py``: the kernel refuses the write with EFBIG, the allocation with
ENOMEM). A read-only or full file system cannot be mounted here, so those tests make every write
under the cache folder fail at the ``os`` level with EROFS or ENOSPC (:func:`failing_writes`); what
they exercise is the engine's handling of the error the kernel would return, not the kernel. One
read-only test lets the kernel refuse for real (EACCES): the cache belongs to root and the checks
run as user nobody (in a forked child when the tests run as root, whom chmod does not stop).
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import json
import logging
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import traceback
import zipfile
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from engine import bundle
from engine.cli import main
from engine.core import cache, entries
from engine.core.entries import bound_digest, frame_from_parquet, frame_to_parquet
from engine.core.runner import canonical_values

NAME = "labtest.toy"
ROOT = Path(__file__).resolve().parent.parent
CHILD = ROOT / "tests" / "toy_child.py"
KS = (2, 3, 4, 5, 6)
ROWS = 1000  # a toy entry of 1,000 rows is ~20 KB of Parquet: over the 4 KiB file-size limit below


# -- helpers -----------------------------------------------------------------------------------


def _child(spec: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(CHILD), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def _state(root: Path) -> dict[str, int]:
    """What lies in a cache folder: entry files, index records, and leftovers of unfinished writes
    (temporary files, partial entries, import journals)."""
    files = list(root.rglob("*")) if root.exists() else []
    return {
        "entries": sum(p.name == cache.ENTRY_FILE for p in files if ".import-" not in str(p)),
        "index": sum(p.parent.name == "index" and p.suffix == ".json" for p in files),
        "leftovers": sum(
            p.name.endswith(".tmp")
            or p.name.startswith(cache.ENTRY_FILE + ".")
            or p.name.startswith((".import-", ".clear-"))
            for p in files
        ),
    }


def _loadable(ks=KS) -> int:
    """How many of the toy entries ``k in ks`` (n=ROWS) load intact from the cache."""
    return sum(engine.load_cached(NAME, {"k": k, "n": ROWS}) is not None for k in ks)


@pytest.fixture
def toy_bundle(toy, fresh_cache, tmp_path):
    """A bundle of five toy entries (k=2..6, 1,000 rows each); the cache is then removed."""
    for k in KS:
        engine.run(NAME, {"k": k, "n": ROWS})
    path = tmp_path / "toy.zip"
    assert bundle.export_bundle(path) == len(KS)
    cache.clear_memo()
    shutil.rmtree(fresh_cache)
    return path


def _write_bundle(path: Path, members: dict[str, bytes], manifest: dict) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name != "manifest.json":
                archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest))
    return path


def _members(path: Path) -> tuple[dict[str, bytes], dict]:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return members, json.loads(members["manifest.json"])


def _forged_entry(config: dict, frame: pd.DataFrame, digest: str | None = None) -> tuple[dict, bytes]:
    """A manifest entry (and its member bytes) for toy ``config``, hashes made to agree."""
    values = canonical_values(engine.resolve_config(NAME, config))
    key = cache.entry_key(NAME, 3, values)
    payload = frame_to_parquet(frame)
    item = {
        "experiment": NAME,
        "version": 3,
        "config": values,
        "key": key,
        "file": f"entries/{key}.parquet",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "digest": digest or bound_digest(key, frame_from_parquet(payload)),
    }
    return item, payload


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@contextmanager
def failing_writes(under: Path, code: int, *, after: int = 0, only: str = ""):
    """Every write under ``under`` (whose path contains ``only``) fails with ``OSError(code)``,
    after ``after`` successful ones.

    Covers what the engine, joblib and tempfile write with: ``os.open`` and ``open`` for writing,
    ``os.mkdir``, ``os.replace``/``os.rename``; for EROFS also ``os.unlink``/``os.rmdir`` (a full
    disk still lets files be removed). A path that exists is reported as such by mkdir, as the kernel
    does on a read-only file system.
    """
    prefix = os.path.abspath(under)
    budget = [after]
    real = {name: getattr(os, name) for name in ("open", "mkdir", "replace", "rename", "unlink", "rmdir")}
    real_open, real_io_open = builtins.open, io.open

    def inside(path) -> bool:
        if isinstance(path, int):
            return False
        try:
            full = os.path.abspath(os.fsdecode(path))
        except TypeError:
            return False
        return full == prefix or full.startswith(prefix + os.sep)

    def fail_now(path) -> bool:
        if not inside(path) or only not in os.fsdecode(path):
            return False
        if budget[0] > 0:
            budget[0] -= 1
            return False
        return True

    def raise_for(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    def os_open(path, flags, *args, **kwargs):
        if flags & _WRITE_FLAGS and fail_now(path):
            raise_for(path)
        return real["open"](path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if inside(path) and os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", os.fsdecode(path))
        if fail_now(path):
            raise_for(path)
        return real["mkdir"](path, *args, **kwargs)

    def two_paths(name):
        def move(src, dst, *args, **kwargs):
            if fail_now(dst):
                raise_for(dst)
            return real[name](src, dst, *args, **kwargs)

        return move

    def removal(name):
        def remove(path, *args, **kwargs):
            if code == errno.EROFS and inside(path):
                raise_for(path)
            return real[name](path, *args, **kwargs)

        return remove

    def py_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wax+") and fail_now(file):
            raise_for(file)
        return real_open(file, mode, *args, **kwargs)

    patches = {
        "open": os_open,
        "mkdir": mkdir,
        "replace": two_paths("replace"),
        "rename": two_paths("rename"),
        "unlink": removal("unlink"),
        "rmdir": removal("rmdir"),
    }
    for name, fn in patches.items():
        setattr(os, name, fn)
    builtins.open = io.open = py_open
    try:
        yield
    finally:
        for name, fn in real.items():
            setattr(os, name, fn)
        builtins.open, io.open = real_open, real_io_open


# -- 1. import is atomic under SIGINT and SIGKILL ---------------------------------------------


@pytest.mark.parametrize(
    "target, signame, code, kept",
    [
        (("engine.core.cache", "store"), "SIGINT", 130, 5),  # Ctrl-C while entries go into place
        (("engine.core.cache", "store"), "SIGKILL", -9, 5),  # killed there: completed on the next start
        (("engine.core.journal", "Journal.stage"), "SIGINT", 130, 0),  # Ctrl-C while staging
        (("engine.core.journal", "Journal.stage"), "SIGKILL", -9, 0),  # killed there: rolled back
    ],
    ids=["sigint-commit", "sigkill-commit", "sigint-staging", "sigkill-staging"],
)
def test_an_interrupted_import_is_all_or_nothing(toy_bundle, fresh_cache, target, signame, code, kept):
    """The third entry's write is where the signal lands (the old import left 2 of 5 behind)."""
    proc = _child(
        {"cache": str(fresh_cache), "fault": [*target, 3, signame], "cli": ["import", str(toy_bundle)]}
    )
    assert proc.returncode == code, proc.stderr
    if signame == "SIGINT":
        said = proc.stderr.strip().splitlines()[-1]
        assert (
            said.startswith("interrupted:") and ("nothing was imported" if kept == 0 else "completed") in said
        )
    if signame == "SIGKILL":  # the dead import's journal is still there
        assert _state(fresh_cache)["leftovers"] > 0
    cache.clear_memo()  # the next start: a new process would see the cache like this
    cache.index_records()
    assert _state(fresh_cache) == {"entries": kept, "index": kept, "leftovers": 0}
    assert _loadable() == kept


# -- 2 and 3. every write is checked; a computed result is never lost ------------------------


def test_an_import_that_cannot_write_fails_and_leaves_nothing(toy_bundle, fresh_cache):
    """ulimit -f 4: the kernel refuses every write past 4 KiB (EFBIG). The old import said
    "imported 3 results", exit 0, and left truncated output.parquet.<uuid> files behind."""
    proc = _child({"cache": str(fresh_cache), "fsize": 4096, "cli": ["import", str(toy_bundle)]})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "File too large" in line and "Nothing was imported" in line
    cache.clear_memo()
    assert _state(fresh_cache) == {"entries": 0, "index": 0, "leftovers": 0}


def test_a_run_that_cannot_store_its_result_still_shows_it(toy, fresh_cache):
    """The same 4 KiB limit on ``python -m engine run``: the frame is printed and one line says it
    was not stored; no index record points at a missing entry and no partial file is left."""
    cli = ["run", NAME, "--set", "k=9", "--set", f"n={ROWS}"]
    proc = _child({"cache": str(fresh_cache), "fsize": 4096, "cli": cli})
    assert proc.returncode == 0, proc.stderr
    assert "step" in proc.stdout and "999" in proc.stdout  # the frame, all its rows' tail
    notes = [x for x in proc.stderr.splitlines() if x.startswith("note:")]
    assert len(notes) == 1 and "not stored in the cache" in notes[0] and "File too large" in notes[0]
    cache.clear_memo()
    assert _state(fresh_cache) == {"entries": 0, "index": 0, "leftovers": 0}


def test_a_full_disk_returns_the_computed_result_with_a_notice(toy, fresh_cache, capsys):
    """ENOSPC on every file the cache would create (entry, index, temporary files): the old run
    failed with "No space left on device" and the result was lost."""
    fresh_cache.mkdir(parents=True)
    with failing_writes(fresh_cache, errno.ENOSPC):
        frame = engine.run(NAME, {"k": 4})
        assert main(["run", NAME, "--set", "k=5"]) == 0
    expected = 1.0 * 4 * np.sqrt(np.arange(10) + 1.0)
    np.testing.assert_allclose(frame["value"], expected, rtol=0, atol=1e-12)
    assert frame.attrs["cache"] == "computed" and "No space left on device" in frame.attrs["cache_notice"]
    err = capsys.readouterr().err
    assert "note: labtest.toy: computed but not stored in the cache (No space left on device" in err
    assert _state(fresh_cache) == {"entries": 0, "index": 0, "leftovers": 0}
    assert engine.run(NAME, {"k": 4}).attrs["cache"] == "computed"  # the disk has room again: stored
    assert engine.run(NAME, {"k": 4}).attrs["cache"] == "hit"


def test_a_full_disk_during_import_staging_rolls_back_everything(toy_bundle, fresh_cache):
    fresh_cache.mkdir(parents=True)
    # the import journal's folder, lock and entries/ are created, then the third staged entry fails
    with (
        failing_writes(fresh_cache, errno.ENOSPC, after=7, only=".import-"),
        pytest.raises(bundle.BundleError) as err,
    ):
        bundle.import_bundle(toy_bundle)
    assert "No space left on device" in str(err.value) and "Nothing was imported" in str(err.value)
    cache.clear_memo()
    assert _state(fresh_cache) == {"entries": 0, "index": 0, "leftovers": 0}


def test_a_store_failure_in_the_app_is_a_one_line_notice(toy, fresh_cache, monkeypatch):
    """The page shows the computed chart's data and one warning that it could not be stored."""
    from streamlit.testing.v1 import AppTest

    def page():
        from ui import show

        frame = show.run("labtest.toy", {"k": 6})
        if frame is not None:
            import streamlit as st

            st.write(f"rows={len(frame)}")

    fresh_cache.mkdir(parents=True)
    with failing_writes(fresh_cache, errno.ENOSPC):
        at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.markdown if m.value.startswith("rows=")] == ["rows=10"]
    (warning,) = at.warning
    assert (
        "computed but not stored in the cache" in warning.value and "No space left on device" in warning.value
    )


# -- 4. a read-only cache serves hits and computes misses ------------------------------------


def _read_only_checks(reason: str = "") -> None:
    hit = engine.run(NAME, {"k": 2})
    assert hit.attrs["cache"] == "hit" and "cache_notice" not in hit.attrs
    miss = engine.run(NAME, {"k": 3})
    assert miss.attrs["cache"] == "computed" and "not stored" in miss.attrs["cache_notice"]
    assert reason in miss.attrs["cache_notice"], miss.attrs["cache_notice"]
    np.testing.assert_allclose(miss["value"], 3.0 * np.sqrt(np.arange(10) + 1.0), rtol=0, atol=1e-12)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["status"]) == 0
    (line,) = [x for x in out.getvalue().splitlines() if x.startswith(NAME)]
    assert "1 results" in line and "quick 1/1; paper 0/1" in line


def test_a_read_only_cache_serves_hits_and_computes_misses(toy, fresh_cache):
    """EROFS on every write under the cache (what a read-only mount returns): the old code failed
    on the miss with "Read-only file system", and ``status`` failed the same way."""
    engine.run(NAME, {"k": 2})
    cache.clear_memo()
    before = sorted(str(p) for p in fresh_cache.rglob("*"))
    with failing_writes(fresh_cache, errno.EROFS):
        _read_only_checks("Read-only file system")
    assert sorted(str(p) for p in fresh_cache.rglob("*")) == before


def test_a_cache_without_write_permission_serves_hits_and_computes_misses(toy, monkeypatch):
    """The kernel refuses the writes (EACCES): the cache belongs to root, and the checks run as
    user nobody, in a forked child when the tests run as root (chmod does not stop root), else by
    taking write permission away."""
    root = Path(tempfile.mkdtemp(prefix="phenomena-readonly-"))
    try:
        root.chmod(0o755)
        monkeypatch.setenv(cache.ENV_VAR, str(root / "cache"))
        cache.clear_memo()
        engine.run(NAME, {"k": 2})
        cache.clear_memo()
        before = sorted(str(p) for p in root.rglob("*"))
        if os.geteuid() == 0:
            _as_nobody(lambda: _read_only_checks("Permission denied"))
        else:
            folders = [p for p in root.rglob("*") if p.is_dir()]
            for folder in folders:
                folder.chmod(0o555)
            try:
                _read_only_checks("Permission denied")
            finally:
                for folder in folders:
                    folder.chmod(0o755)
        assert sorted(str(p) for p in root.rglob("*")) == before
    finally:
        cache.clear_memo()
        shutil.rmtree(root)


def _as_nobody(check) -> None:
    """Run ``check()`` in a forked child that dropped root for user nobody (65534); re-raise its
    failure here."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's clean-ups
        os.close(read)
        status, text = 0, "ok"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            check()
        except BaseException as err:  # everything goes back to the parent
            status, text = 1, f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
        os.write(write, text.encode()[:60000])
        os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        report = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report


# -- 5. decoded sizes are checked from Parquet metadata before any column is decoded --------


def _dictionary_bomb(rows: int, cell_bytes: int) -> bytes:
    """``rows`` cells of one ``cell_bytes``-long string, dictionary-encoded: one copy on disk,
    ``rows`` copies once decoded. No Arrow schema is stored, so a reader expands it to strings."""
    values = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["a" * cell_bytes])
    )
    buffer = io.BytesIO()
    pq.write_table(
        pa.table({"label": values}), buffer, store_schema=False, dictionary_pagesize_limit=2 * cell_bytes
    )
    return buffer.getvalue()


def test_a_parquet_dictionary_bomb_is_refused_before_it_is_expanded(toy_bundle, fresh_cache, tmp_path):
    """600 rows of one 1 MiB string: a ~1 KB bundle that decodes to 600 MiB, over the 512 MiB
    limit (the old import of 1,500 such rows peaked at 2.7 GB before refusing). Imported in a child
    allowed 256 MiB of address space beyond its start: the footer is checked, the column is read
    as its dictionary (1 MiB) and indices, and refused before it is expanded."""
    payload = _dictionary_bomb(600, 2**20)
    item, _ = _forged_entry({"k": 11}, pd.DataFrame({"label": ["x"]}), digest="0" * 64)
    item["sha256"] = hashlib.sha256(payload).hexdigest()
    path = _write_bundle(
        tmp_path / "bomb.zip", {item["file"]: payload}, {"format": bundle.FORMAT, "entries": [item]}
    )
    assert path.stat().st_size < 4096
    proc = _child({"cache": str(fresh_cache), "address_space": 256 * 2**20, "cli": ["import", str(path)]})
    assert proc.returncode == 2, proc.stdout + proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "entry 1: it decodes to 600 MiB (at most 512 MiB per result)" in line, line
    with pytest.raises(ValueError, match="decodes to 600 MiB"):
        frame_from_parquet(payload)  # the same check guards every cache read
    assert _state(fresh_cache)["entries"] == 0


def test_a_huge_string_cell_is_refused(toy_bundle, fresh_cache, tmp_path):
    """One 4 MiB string cell (the old import accepted a 200 MiB one): over the 1 MiB-per-cell limit,
    refused by import, and never stored by the cache either (every later read would refuse it)."""
    frame = pd.DataFrame({"label": ["b" * (4 * 2**20)]})
    item, payload = _forged_entry({"k": 12}, frame, digest="0" * 64)
    path = _write_bundle(
        tmp_path / "cell.zip", {item["file"]: payload}, {"format": bundle.FORMAT, "entries": [item]}
    )
    with pytest.raises(bundle.BundleError, match="string of 4 MiB in column 'label'"):
        bundle.import_bundle(path)
    with pytest.raises(ValueError, match="string of 4 MiB in column 'label'"):
        cache.store(NAME, 3, item["config"], cache.make_entry(frame, {}))
    assert _state(fresh_cache) == {"entries": 0, "index": 0, "leftovers": 0}


def test_the_decoded_limit_counts_every_column_and_spares_ordinary_frames(toy, fresh_cache, monkeypatch):
    """An ordinary frame (numbers and a few labels, 100k rows) passes; the same frame is refused when
    the per-entry decoded limit is lowered below its size, naming both numbers."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=100_000), "variant": rng.choice(["uniform", "non_uniform"], 100_000)}
    )
    data = frame_to_parquet(frame)
    pd.testing.assert_frame_equal(frame_from_parquet(data), frame)
    from engine.core import decoding  # new in issue 18

    monkeypatch.setattr(decoding, "MAX_DECODED_BYTES", 2**20)
    with pytest.raises(ValueError, match=r"decodes to .* MiB \(at most 1 MiB"):
        frame_from_parquet(data)


# -- 6. --verify covers every scale or names what it left unverified --------------------------


def test_verify_names_the_entries_it_did_not_recompute(toy_bundle, fresh_cache, tmp_path, capsys):
    """A forged entry too costly to recompute here (estimated 100 s) passed ``--verify 5`` silently;
    now the output names it as not verified. A forged cheap paper-scale entry is recomputed and
    caught."""
    members, manifest = _members(toy_bundle)
    costly, payload = _forged_entry(
        {"k": 13, "n": 10**9}, pd.DataFrame({"step": [0], "k": [13], "value": [1.0]})
    )
    path = _write_bundle(
        tmp_path / "costly.zip",
        {**members, costly["file"]: payload},
        {**manifest, "entries": manifest["entries"] + [costly]},
    )
    assert main(["import", str(path), "--verify", "5"]) == 0
    out = capsys.readouterr().out
    assert out.count("verified: labtest.toy: recomputed, equal within rtol") == 5
    (line,) = [x for x in out.splitlines() if "not verified" in x]
    assert "labtest.toy" in line and "n=1000000000" in line and "estimated 100 s" in line

    paper = engine.get_experiment(NAME).presets["paper"]
    frame = engine.run(NAME, paper).assign(value=lambda f: f["value"] * 1.01)  # forged, hashes agree
    forged, payload = _forged_entry({"n": paper.n}, frame)
    cache.clear()
    liar = _write_bundle(
        tmp_path / "paper.zip", {forged["file"]: payload}, {"format": bundle.FORMAT, "entries": [forged]}
    )
    with pytest.raises(bundle.BundleError, match="differs from a recomputation"):
        bundle.import_report(liar, verify=1, rng=random.Random(0))


def test_verify_samples_every_scale_before_repeating_one(toy, fresh_cache, tmp_path):
    """With N smaller than the bundle, each scale (quick, paper, other) gets a recomputation first."""
    for config in ({}, {"n": 50}, {"k": 7}, {"k": 8}, {"k": 9}):
        engine.run(NAME, config)
    path = tmp_path / "scales.zip"
    bundle.export_bundle(path)
    cache.clear()
    result = bundle.import_report(path, verify=2, rng=random.Random(1))
    assert sorted(v.rsplit("(", 1)[1] for v in result.verified) == ["paper scale)", "quick scale)"]
    (line,) = [x for x in result.lines("cache") if "not verified" in x]
    assert "3 entries" in line and "not sampled" in line
    cache.clear()
    result = bundle.import_report(path, verify=3, rng=random.Random(1))
    assert sorted(v.rsplit("(", 1)[1] for v in result.verified) == [
        "custom scale)",
        "paper scale)",
        "quick scale)",
    ]


# -- 7 and 8. export writes only regular files; a bad --preset is exit 2 ---------------------


def test_export_writes_only_regular_files(toy, fresh_cache, tmp_path, capsys):
    engine.run(NAME)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "to-full"
    link.symlink_to("/dev/full")
    folder = tmp_path / "folder"
    folder.mkdir()
    targets = [fifo, link, folder]
    if os.geteuid() == 0:  # the old export replaced the system's full-disk device node with a zip
        node = tmp_path / "full"
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 7))
        targets.append(node)
    for target in targets:
        kind = os.lstat(target).st_mode
        assert main(["export", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and ("not a regular file" in err or "is a folder" in err), err
        assert os.lstat(target).st_mode == kind, f"{target.name} was replaced"
    regular = tmp_path / "old.zip"
    regular.write_bytes(b"an older bundle")
    assert main(["export", str(regular)]) == 0 and zipfile.is_zipfile(regular)
    real = tmp_path / "real.zip"
    real.write_bytes(b"x")
    (tmp_path / "latest.zip").symlink_to(real)
    assert main(["export", str(tmp_path / "latest.zip")]) == 0
    assert (tmp_path / "latest.zip").is_symlink() and zipfile.is_zipfile(real)
    assert main(["run", NAME, "--out", str(fifo)]) == 2  # --out of run and figure: the same rule


def test_export_with_an_unknown_preset_is_exit_2(toy, fresh_cache, tmp_path, capsys):
    engine.run(NAME)
    assert main(["export", str(tmp_path / "x.zip"), "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert "'preset' parameter" in err and "'nope'" in err and "paper" in err
    assert not (tmp_path / "x.zip").exists()
    assert main(["export", str(tmp_path / "x.zip"), "--preset", "quick"]) == 0


# -- 9. a FIFO or a link to the zero device planted in the cache never hangs a read ----------


def test_planted_fifos_and_device_links_are_never_opened(toy, fresh_cache):
    """In a child with a 60 s timeout and 2 GiB of address space to spare (the old code blocked on the
    FIFO forever and read /dev/zero until memory ran out)."""
    for k in (3, 4, 5, 6):
        engine.run(NAME, {"k": k})
    cache.clear_memo()
    by_k = {}
    for path in (fresh_cache / NAME).rglob(cache.ENTRY_FILE):
        entry = entries.entry_from_bytes(path.read_bytes())
        by_k[int(entry["frame"]["k"].iloc[0])] = path
    by_k[3].unlink()
    os.mkfifo(by_k[3])
    by_k[4].unlink()
    by_k[4].symlink_to("/dev/zero")
    metadata = by_k[5].parent / "metadata.json"  # joblib reads it on every look-up
    metadata.unlink(missing_ok=True)
    os.mkfifo(metadata)
    func_code = next((fresh_cache / NAME).rglob("func_code.py"))
    func_code.unlink()
    os.mkfifo(func_code)
    index = sorted((fresh_cache / NAME / "index").glob("*.json"))[0]
    index.unlink()
    os.mkfifo(index)
    snippet = (
        "out = {k: engine.run(NAME, {'k': k}).attrs['cache'] for k in (3, 4, 5, 6)}\n"
        "out['records'] = len(cache.index_records())\n"
        # this process's own peak (VmHWM): ru_maxrss also counts the parent's peak before exec
        "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM:')][0]\n"
        "out['rss_mib'] = int(hwm.split()[1]) // 1024\n"
        "print(json.dumps(out))\n"
    )
    spec = {"cache": str(fresh_cache), "address_space": 2 * 2**30, "snippet": snippet}
    proc = _child(spec, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # the first look-up also finds func_code.py unreadable, which joblib takes for "not cached"
    assert out["3"] in ("computed", "recomputed (corrupt entry)") and out["4"] == "recomputed (corrupt entry)"
    assert out["5"] == out["6"] == "hit"
    assert out["records"] == 4 and out["rss_mib"] < 1024
    assert all(stat.S_ISREG(os.lstat(p).st_mode) for p in (fresh_cache / NAME).rglob(cache.ENTRY_FILE))


# -- 10. a damaged entry is repaired once, not warned about forever --------------------------


def test_an_entry_that_is_a_folder_is_replaced_once(toy, fresh_cache, caplog):
    engine.run(NAME, {"k": 3})
    (path,) = (fresh_cache / NAME).rglob(cache.ENTRY_FILE)
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("x")
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        assert engine.run(NAME, {"k": 3}).attrs["cache"] == "recomputed (corrupt entry)"
        assert engine.run(NAME, {"k": 3}).attrs["cache"] == "hit"
        cache.clear_memo()
        assert engine.run(NAME, {"k": 3}).attrs["cache"] == "hit"
    assert path.is_file() and not path.is_symlink()
    assert len([r for r in caplog.records if "corrupt" in r.getMessage()]) == 1


# -- 11 and 12. clear touches only marked folders, and a writer keeps its folder marked -----


def test_clear_leaves_an_unmarked_folder_that_looks_like_an_old_cache(fresh_cache, capsys):
    lookalike = fresh_cache / "linear_ae.dynamics"
    layout = lookalike / "engine" / "core" / "cached_call" / "compute_cached"
    layout.mkdir(parents=True)
    (layout / "func_code.py").write_text("# first line: 1\n")
    (lookalike / "notes.txt").write_text("a user's notes")
    (fresh_cache / cache.MARKER).write_text("")
    assert cache.clear_report() == ([], ["linear_ae.dynamics"])
    with pytest.raises(cache.CacheRefused, match="has no .phenomena-lab file"):
        cache.clear("linear_ae.dynamics")
    assert (lookalike / "notes.txt").read_text() == "a user's notes"
    assert main(["clear", "linear_ae.dynamics"]) == 2
    assert (lookalike / "notes.txt").exists()


def test_a_writer_after_another_process_cleared_marks_the_folder_again(toy, fresh_cache):
    """Another process's clear deletes the folder while this process keeps its handle on it (the
    old writer recreated the folder without its marker, so later clears refused it)."""
    engine.run(NAME, {"k": 2})
    handles = dict(cache._FUNCS)
    assert cache.clear_report() == ([NAME], [])
    cache._FUNCS.update(handles)  # this process did not see the clear
    engine.run(NAME, {"k": 3})
    assert (fresh_cache / NAME / cache.MARKER).is_file()
    assert cache.clear_report() == ([NAME], [])


def test_clear_racing_a_writer_never_leaves_an_unmarked_folder(toy, fresh_cache):
    """A thread stores 80 results while the main thread clears 30 times: no clear fails, and once
    both stop, the folder (if it exists) carries its marker and the next clear takes it."""
    errors: list[BaseException] = []

    def writer():
        try:
            for k in range(10, 90):
                engine.run(NAME, {"k": k})
        except BaseException as err:  # reported below
            errors.append(err)

    thread = threading.Thread(target=writer)
    thread.start()
    for _ in range(30):
        cache.clear_report()
    thread.join()
    assert not errors, errors
    folder = fresh_cache / NAME
    assert not folder.exists() or (folder / cache.MARKER).is_file()
    cleared, skipped = cache.clear_report()
    assert skipped == [] and not folder.exists()
    assert _state(fresh_cache)["leftovers"] == 0


# -- 13. a URL value that is one of the widget's options is accepted and runs -----------------


def test_the_snapshot_at_step_0_is_the_initialisation():
    """lae_at=0 means the decoders before training: |cos| of the seeded N(0, init_std^2) decoder
    against the principal directions, recomputed here independently in float64."""
    from engine.phenomena.linear_ae.configs import SnapshotConfig
    from engine.phenomena.linear_ae.experiments import dataset_covariance

    frame = engine.run("linear_ae.snapshot", {"at_step": 0})
    cfg = SnapshotConfig(at_step=0)
    cov = dataset_covariance(cfg.dataset, d=cfg.d, n=cfg.n, spectrum_top=cfg.spectrum_top, seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    rng.normal(0.0, cfg.init_std, (cfg.k, cov.shape[0]))  # the encoder, drawn first
    decoder = rng.normal(0.0, cfg.init_std, (cov.shape[0], cfg.k))
    eigvecs = np.linalg.eigh(cov)[1][:, ::-1][:, : cfg.k]
    cos = np.abs(eigvecs.T @ decoder) / np.linalg.norm(decoder, axis=0)
    assert set(frame["step"]) == {0} and not frame["diverged"].any()
    for label, group in frame.groupby("variant"):
        got = group.pivot(index="eigenvector", columns="latent", values="abs_cos").to_numpy()
        np.testing.assert_allclose(got, cos, rtol=1e-9, atol=1e-12, err_msg=label)


def test_the_linear_ae_page_accepts_lae_at_0(monkeypatch):
    """``/linear_ae?lae_at=0``: 0 is one of the snapshot slider's options; the old page showed
    "The 'steps' parameter of train_variants must be an int in [1, inf). Got 0 instead."."""
    from streamlit.testing.v1 import AppTest

    from ui import show

    real_run = show.run
    ran = []

    def only_the_snapshot(name, overrides=None, **kwargs):
        if name != "linear_ae.snapshot":
            return None
        ran.append(overrides["at_step"])
        return real_run(name, overrides, **kwargs)

    monkeypatch.setattr(show, "run", only_the_snapshot)
    monkeypatch.setattr(show, "run_on_demand", lambda *a, **k: None)
    at = AppTest.from_file(str(ROOT / "pages" / "linear_ae.py"), default_timeout=60)
    at.query_params["lae_at"] = "0"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.select_slider(key="lae_at").value == 0 and ran == [0]
    assert not [w.value for w in at.warning if "Ignored" in w.value]


def test_clear_meeting_a_root_the_lab_is_creating_deletes_nothing_and_does_not_fail(tmp_path, monkeypatch):
    """lab_folder makes the root, then writes its marker: a clear in between (the race above, seen
    once in CI-like runs) finds nothing to clear instead of refusing; a root holding anything else
    without the marker is still refused."""
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv(cache.ENV_VAR, str(root))
    assert cache.clear_report() == ([], [])  # empty: being created
    (root / (cache.MARKER + ".1234.tmp")).write_text("")  # its marker being written
    assert cache.clear_report() == ([], [])
    (root / "notes.txt").write_text("someone's file")
    with pytest.raises(cache.CacheRefused, match="has no .phenomena-lab file"):
        cache.clear_report()
    assert (root / "notes.txt").exists()
