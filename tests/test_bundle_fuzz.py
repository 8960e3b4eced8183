"""Bundles are input from strangers: every hostile bundle is refused with one line, writes nothing
anywhere (inside or outside the cache), and a good bundle imports all-or-nothing with provenance.

Uses ``labtest.toy`` (tests/conftest.py), whose entries take microseconds to compute.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import tracemalloc
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import engine
from engine import bundle
from engine.core import cache
from engine.core.entries import bound_digest, frame_from_parquet, frame_to_parquet

NAME = "labtest.toy"


def _tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size (folders: -1)."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")}


@pytest.fixture
def good(toy, fresh_cache, tmp_path):
    """A valid bundle of two toy entries (k=2, k=7); the cache is then removed entirely."""
    engine.run(NAME, {"k": 2})
    engine.run(NAME, {"k": 7})
    path = tmp_path / "good.zip"
    assert bundle.export_bundle(path) == 2
    cache.clear()
    cache.clear_memo()
    shutil.rmtree(fresh_cache)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return path, members


def _write(path: Path, members: dict[str, bytes], manifest: object = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name == "manifest.json" and manifest is not None:
                data = manifest if isinstance(manifest, (bytes, str)) else json.dumps(manifest)
            archive.writestr(name, data)
    return path


def _refused(path: Path, needle: str, root: Path) -> None:
    """Import of ``path`` raises one BundleError line containing ``needle`` and writes nothing."""
    before = _tree(root)
    with pytest.raises(bundle.BundleError) as err:
        bundle.import_bundle(path)
    message = str(err.value)
    assert needle in message, message
    assert "\n" not in message and len(message) < 400 and "Nothing was imported" in message
    assert _tree(root) == before, "a refused bundle wrote something"


def _entry_edits(manifest: dict) -> list[tuple[str, dict, str]]:
    """(case, replacement for entry 2, expected words) -- entry 1 stays valid, so a partial import
    would show."""
    second = manifest["entries"][1]
    k2_key = manifest["entries"][0]["key"]
    return [
        ("not an object", "entry", "must be an object"),
        ("experiment int", {**second, "experiment": 5}, "invalid 'experiment'"),
        ("experiment NUL", {**second, "experiment": "labtest.toy\x00"}, "invalid 'experiment'"),
        ("experiment traversal", {**second, "experiment": "../../x"}, "invalid 'experiment'"),
        ("experiment absolute", {**second, "experiment": "/tmp/x"}, "invalid 'experiment'"),
        ("experiment unknown", {**second, "experiment": "nope.exp"}, "unknown experiment 'nope.exp'"),
        ("version bool", {**second, "version": True}, "invalid 'version'"),
        ("version float", {**second, "version": 3.0}, "invalid 'version'"),
        ("version huge", {**second, "version": 10**30}, "invalid 'version'"),
        ("config list", {**second, "config": [1, 2]}, "invalid 'config'"),
        ("config string", {**second, "config": "k=7"}, "invalid 'config'"),
        ("config missing field", {**second, "config": {"k": 7}}, "key does not match"),
        (
            "config extra field",
            {**second, "config": {**second["config"], "evil": 1}},
            "has a field ToyConfig does not",
        ),
        (
            "config bad value",
            {**second, "config": {**second["config"], "k": 0}},
            "The 'k' parameter of ToyConfig",
        ),
        (
            "config huge value",
            {**second, "config": {**second["config"], "k": "9" * 10_000}},
            "The 'k' parameter of ToyConfig",
        ),
        ("relabelled k=7 as k=3", {**second, "config": {**second["config"], "k": 3}}, "key does not match"),
        ("key of another entry", {**second, "key": k2_key}, "key does not match"),
        ("file traversal", {**second, "file": "../../x.parquet"}, "invalid 'file'"),
        ("file absolute", {**second, "file": "/tmp/x.parquet"}, "invalid 'file'"),
        ("file not in zip", {**second, "file": f"entries/{'0' * 32}.parquet"}, "does not list"),
        ("sha256 short", {**second, "sha256": "abc"}, "invalid 'sha256'"),
        ("sha256 wrong", {**second, "sha256": "0" * 64}, "does not match its hash"),
        ("digest wrong", {**second, "digest": "0" * 64}, "different data"),
        ("meta list", {**second, "meta": [1]}, "invalid 'meta'"),
        ("meta huge", {**second, "meta": {f"k{i}": i for i in range(100)}}, "invalid 'meta'"),
        ("unknown field", {**second, "exec": "rm -rf /"}, "unknown field 'exec'"),
        ("missing field", {k: v for k, v in second.items() if k != "sha256"}, "lacks 'sha256'"),
        ("rows negative", {**second, "rows": -1}, "invalid 'rows'"),
    ]


def test_hostile_manifest_entries_are_refused_whole(good, tmp_path):
    """Entry 1 is valid, entry 2 hostile: nothing is written in the temporary folder (the cache
    lies inside it), nor in this test session's folder above it, where "../../x" would land, nor at
    /tmp/x."""
    path, members = good
    manifest = json.loads(members["manifest.json"])
    above = [tmp_path.parent]
    listing = [sorted(os.listdir(folder)) for folder in above]
    assert not Path("/tmp/x").exists()
    for i, (_case, replacement, needle) in enumerate(_entry_edits(manifest)):
        edited = {**manifest, "entries": [manifest["entries"][0], replacement]}
        _refused(_write(tmp_path / f"case{i}.zip", members, edited), needle, tmp_path)
    assert [sorted(os.listdir(folder)) for folder in above] == listing
    assert not Path("/tmp/x").exists() and not Path("/tmp/x.parquet").exists()


@pytest.mark.parametrize(
    "manifest, needle",
    [
        ([], "must be an object, not a list"),
        (b'"just text"', "must be an object, not a str"),
        (b"\xff\xfe not json", "not valid JSON"),
        ('{"format": "phenomena-lab-bundle/2", "entries": [], "x": Infinity}', "not valid JSON"),
        ('{"format": "phenomena-lab-bundle/2", "entries": [{"version": NaN}]}', "not valid JSON"),
        ("[" * 50_000 + "]" * 50_000, "not valid JSON"),
        ({"format": "pickle"}, "not a Phenomena Lab bundle"),
        ({"format": "phenomena-lab-bundle/2", "entries": "all"}, "'entries' must be a list"),
        ({"format": "phenomena-lab-bundle/2", "entries": [], "hook": "x"}, "unknown field 'hook'"),
        ({"format": "phenomena-lab-bundle/2", "entries": [5]}, "must be an object, not a int"),
    ],
)
def test_hostile_manifests_are_refused_with_one_line(good, tmp_path, manifest, needle):
    _, members = good
    _refused(_write(tmp_path / "bad.zip", members, manifest), needle, tmp_path)


def test_member_names_sizes_and_counts_are_checked_before_decompressing(good, tmp_path, monkeypatch):
    path, members = good
    _refused(
        _write(tmp_path / "extra.zip", {**members, "../../evil.py": b"print(1)"}), "does not list", tmp_path
    )
    _refused(_write(tmp_path / "abs.zip", {**members, "/etc/passwd": b"x"}), "does not list", tmp_path)
    no_manifest = {k: v for k, v in members.items() if k != "manifest.json"}
    _refused(_write(tmp_path / "none.zip", no_manifest), "no manifest.json", tmp_path)
    dup = tmp_path / "dup.zip"
    with zipfile.ZipFile(dup, "w") as archive, pytest.warns(UserWarning):
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", members["manifest.json"])
    _refused(dup, "two members with the same name", tmp_path)
    monkeypatch.setattr(bundle, "MAX_ENTRIES", 1)
    _refused(path, "members (at most 2)", tmp_path)
    monkeypatch.setattr(bundle, "MAX_ENTRIES", 5000)
    monkeypatch.setattr(bundle, "MAX_ROWS", 5)
    _refused(path, "has 10 rows", tmp_path)
    monkeypatch.setattr(bundle, "MAX_ROWS", 10**6)
    monkeypatch.setattr(bundle, "MAX_CELLS", 50)
    _refused(path, "cells in all", tmp_path)


def _zeros_bundle(path: Path, members: dict[str, bytes], member: str, size: int) -> Path:
    """The good bundle with ``member`` (listed or not) holding ``size`` zero bytes (deflate ~1000:1)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name != member:
                archive.writestr(name, data)
        with archive.open(member, "w") as fh:
            chunk = bytes(2**20)
            for _ in range(size // 2**20):
                fh.write(chunk)
    return path


def test_zip_bombs_are_refused_from_their_headers_without_inflating(good, tmp_path, monkeypatch):
    """64 MiB of zeros in a ~70 KB member, against a per-member limit lowered to 16 MiB (the real
    limits, 64 MiB a member and 512 MiB in all, follow the same path)."""
    _, members = good
    monkeypatch.setattr(bundle, "MAX_MEMBER_BYTES", 16 * 2**20)
    bomb = _zeros_bundle(tmp_path / "bomb.zip", members, "entries/" + "f" * 32 + ".parquet", 64 * 2**20)
    assert bomb.stat().st_size < 2**20
    tracemalloc.start()
    try:
        _refused(bomb, "unpacks to 64 MiB (at most 16 MiB per member)", tmp_path)
        monkeypatch.setattr(bundle, "MAX_MEMBER_BYTES", 128 * 2**20)
        monkeypatch.setattr(bundle, "MAX_TOTAL_BYTES", 32 * 2**20)
        _refused(bomb, "it unpacks to 64 MiB (at most 32 MiB)", tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.0f} MiB while refusing a bomb"


def test_a_header_that_understates_a_size_is_caught_by_the_capped_read(good, tmp_path):
    """A listed 32 MiB member whose central directory claims 100 bytes: reading stops at the claim."""
    _, members = good
    target = json.loads(members["manifest.json"])["entries"][0]["file"]
    path = _zeros_bundle(tmp_path / "liar.zip", members, target, 32 * 2**20)
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(target)] != target.encode():
        central = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, central + 24, 100)  # uncompressed size, as the central directory says
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(target).file_size == 100
    tracemalloc.start()
    try:
        _refused(path, "Bad CRC-32", tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_an_import_is_all_or_nothing_even_when_a_write_fails(good, tmp_path, monkeypatch):
    path, _ = good
    real = cache.store
    calls = []

    def failing_second(*args, **kwargs):
        calls.append(args[2]["k"])
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "store", failing_second)
    with pytest.raises(bundle.BundleError, match="rolled back"):
        bundle.import_bundle(path)
    assert cache.index_records() == []
    assert not engine.is_cached(NAME, {"k": 2}) and not engine.is_cached(NAME, {"k": 7})


def test_a_good_bundle_imports_with_provenance_and_reports_stale_entries(good, tmp_path, toy, monkeypatch):
    path, members = good
    manifest = json.loads(members["manifest.json"])
    old = dict(
        manifest["entries"][1], version=2
    )  # an older science version of k=7, with a field since removed
    old["config"] = {**old["config"], "since_removed": 1}
    old_key = cache.entry_key(NAME, 2, old["config"])
    old.update(key=old_key, file=f"entries/{old_key}.parquet")
    frame = frame_from_parquet(members[manifest["entries"][1]["file"]])
    old["digest"] = bound_digest(old_key, frame)
    mixed = _write(
        tmp_path / "mixed.zip",
        {**members, old["file"]: members[manifest["entries"][1]["file"]]},
        {**manifest, "entries": manifest["entries"] + [old]},
    )
    current = {e["key"] for e in manifest["entries"]}
    assert bundle.offered_keys(mixed) == current  # what the home page's button offers: not the stale one
    assert {
        cache.entry_key(r["experiment"], r["version"], r["config"]) for r in bundle.manifest(mixed)
    } == current
    result = bundle.import_report(mixed)
    assert (result.imported, result.unchanged) == (2, 0)
    assert result.stale == ["labtest.toy version 2 (current: 3)"]
    loaded = engine.run(NAME, {"k": 7})
    assert loaded.attrs["cache"] == "hit" and toy.compute.calls == [
        {"k": 2, "lam": 1.0, "n": 10},
        {"k": 7, "lam": 1.0, "n": 10},
    ]
    assert loaded.attrs["imported_from"] == "mixed.zip" and loaded.attrs["computed_at"]
    assert loaded.attrs["host"] == manifest["entries"][1]["meta"]["host"]
    again = bundle.import_report(mixed)
    assert (again.imported, again.unchanged) == (0, 2)


def test_verify_recomputes_entries_and_catches_a_consistent_liar(good, tmp_path, toy):
    path, members = good
    result = bundle.import_report(path, verify=5, rng=random.Random(0))
    assert len(result.verified) == 2 and all("equal within rtol" in v for v in result.verified)
    cache.clear()
    cache.clear_memo()
    manifest = json.loads(members["manifest.json"])
    first = manifest["entries"][0]
    frame = frame_from_parquet(members[first["file"]])
    frame["value"] = frame["value"] * 1.01  # a forged result whose hashes are all made to agree
    payload = frame_to_parquet(frame)
    forged = dict(first, sha256=hashlib.sha256(payload).hexdigest(), digest=bound_digest(first["key"], frame))
    liar = _write(
        tmp_path / "liar.zip",
        {**members, first["file"]: payload},
        {**manifest, "entries": [forged] + manifest["entries"][1:]},
    )
    assert bundle.import_bundle(liar) == 2  # without --verify the forgery is only as good as its hashes
    cache.clear()
    cache.clear_memo()
    before = _tree(tmp_path)
    with pytest.raises(
        bundle.BundleError, match="differs from a recomputation .column 'value' differs by up to"
    ):
        bundle.import_bundle(liar, verify=2)
    assert _tree(tmp_path) == before


def test_random_byte_damage_is_refused_cleanly_or_harmless(good, tmp_path):
    """200 bundles with 1-8 random bytes overwritten (seeded): each imports or is refused with a
    BundleError; never another exception, and a refusal writes nothing."""
    path, _ = good
    original = path.read_bytes()
    rng = random.Random(12345)
    outcomes = {"imported": 0, "refused": 0}
    for _ in range(200):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        damaged = tmp_path / "damaged.zip"
        damaged.write_bytes(bytes(data))
        before = _tree(tmp_path)
        try:
            bundle.import_bundle(damaged)
            outcomes["imported"] += 1
            cache.clear()
            cache.clear_memo()
        except bundle.BundleError as err:
            assert "\n" not in str(err)
            assert _tree(tmp_path) == before
            outcomes["refused"] += 1
    assert outcomes["refused"] > 150, outcomes


def test_the_old_format_is_still_read(good, tmp_path):
    """Format 1 (no key field; digest over the frame alone): bundles/paper-cpu.zip is one."""
    _, members = good
    manifest = json.loads(members["manifest.json"])
    entries = []
    for entry in manifest["entries"]:
        frame = frame_from_parquet(members[entry["file"]])
        v1 = {k: v for k, v in entry.items() if k not in ("key", "rows")}
        entries.append(dict(v1, digest=cache.frame_digest(frame)))
    old = _write(tmp_path / "v1.zip", members, {"format": bundle.FORMAT_V1, "entries": entries})
    assert bundle.import_bundle(old) == 2
    assert engine.run(NAME, {"k": 7}).attrs["cache"] == "hit"
    cache.clear()
    bad = [dict(entries[0]), dict(entries[1], config={**entries[1]["config"], "k": 3})]
    _refused(
        _write(tmp_path / "v1bad.zip", members, {"format": bundle.FORMAT_V1, "entries": bad}),
        "key does not match",
        tmp_path,
    )


def test_a_member_that_keeps_an_index_is_stored_without_it(good, tmp_path):
    """Imported tables are written to the cache as read (no second conversion), except one whose
    pandas metadata keeps an index: its frame is stored index dropped, as a computed one is."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, members = good
    manifest = json.loads(members["manifest.json"])
    entry = manifest["entries"][1]
    frame = frame_from_parquet(members[entry["file"]])
    indexed = frame.set_index(pd.Index([f"row{i}" for i in range(len(frame))], name="label"))
    out = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(indexed, preserve_index=True), out)
    assert pq.read_table(pa.BufferReader(out.getvalue())).schema.pandas_metadata["index_columns"] == ["label"]
    payload = out.getvalue().to_pybytes()
    edited = dict(entry, sha256=hashlib.sha256(payload).hexdigest())  # the digest ignores the index
    path = _write(
        tmp_path / "indexed.zip",
        {**members, entry["file"]: payload},
        {**manifest, "entries": [manifest["entries"][0], edited]},
    )
    assert bundle.import_bundle(path) == 2
    stored = engine.run(NAME, {"k": entry["config"]["k"]})
    assert stored.attrs["cache"] == "hit" and "label" not in stored.columns
    assert isinstance(stored.index, pd.RangeIndex)
    pd.testing.assert_frame_equal(stored.reset_index(drop=True), frame, check_like=False)


def test_an_import_reports_its_progress_in_order_and_finishes_it(good):
    """The load button's bar: fractions never go back, stay in [0, 1], name each entry checked and
    written, and the import still stores everything (a refused bundle reports and stores nothing)."""
    path, members = good
    seen: list[tuple[float, str]] = []
    assert bundle.import_bundle(path, progress=lambda f, m: seen.append((f, m))) == 2
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and fractions[-1] <= 1.0
    assert [m for _, m in seen if "checking" in m] == ["'good.zip': checking 1/2", "'good.zip': checking 2/2"]
    assert [m for _, m in seen if "writing" in m] == ["'good.zip': writing 1/2", "'good.zip': writing 2/2"]


def test_a_throttled_progress_bar_draws_at_most_five_updates_a_second(monkeypatch):
    from ui import progress

    drawn, clock = [], [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])

    class Bar:
        def progress(self, fraction, text):
            drawn.append((fraction, text))

    update = progress.throttled(Bar(), lambda m: f"x: {m}")
    for step in range(50):  # 50 steps in one second
        clock[0] += 0.02
        update(step / 50, f"step {step}")
    update(1.0, "done")  # the last one is always drawn
    assert 4 <= len(drawn) <= 7 and drawn[-1] == (1.0, "x: done")
    update(1.7, "over")
    assert drawn[-1][0] == 1.0  # clipped to the bar's range
