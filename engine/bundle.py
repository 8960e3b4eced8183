"""Carry a cache to the talk laptop as one file that cannot execute code, and import one safely.

A bundle is a zip archive holding ``manifest.json`` and one Parquet file per result. The manifest
lists, per entry, the experiment, its version, its config, its cache key, the SHA-256 of the
Parquet bytes, the frame's digest bound to the key, and its provenance (where and when computed).

Import treats a bundle as input from a stranger. It reads only JSON and Parquet (never a pickle)
and checks, before it writes anything:

* sizes from the zip's headers, before decompressing: at most :data:`MAX_ENTRIES` entries,
  :data:`MAX_MEMBER_BYTES` per member and :data:`MAX_TOTAL_BYTES` in all; every member is then read
  through a cap, so a header that lies about its size cannot blow memory up; rows and columns are
  read from each Parquet footer before its data (:data:`MAX_ROWS`, :data:`MAX_CELLS`);
* the manifest against a strict schema (no unknown fields, no NaN/Infinity, safe member names,
  no member outside the manifest);
* meaning: every experiment registered, every config valid for the experiment's Config class, its
  key recomputed from (experiment, version, config) and matched; entries of another science version,
  or computed by other code of their phenomenon (:mod:`engine.core.fingerprint`), are reported as
  stale and left out;
* decoded sizes, from each member's Parquet footer and dictionaries before any column is expanded
  (:mod:`engine.core.decoding`: at most 512 MiB per frame, 1 MiB per string cell, snappy or no
  compression), and :data:`MAX_DECODED_TOTAL` over the bundle;
* bytes: each member's SHA-256 and the frame's digest.

Entries are checked in memory, then committed all or nothing through a journal in the cache
(:mod:`engine.core.journal`): a refused bundle, a failed write or Ctrl-C before the commit leaves
the cache as it was; after the commit the import completes, even if killed (on the next start).
``verify=N`` recomputes up to N entries cheap enough to recompute here (estimated under 30 s; one
per scale first) and compares them within a tolerance before committing; every entry it did not
recompute is listed as not verified, with why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import stat
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core import cache, decoding, safe_io
from engine.core.decoding import DecodeRefused
from engine.core.entries import (
    bound_digest,
    clean_meta,
    frame_digest,
    frame_from_parquet,
    frame_to_parquet,
    hashes_remembered,
)
from engine.core.experiment import Progress, config_from_dict
from engine.core.fingerprint import META_FIELD, experiment_fingerprint, short
from engine.core.journal import sigint_deferred
from engine.core.registry import get_experiment
from engine.core.runner import canonical_values
from engine.core.validation import ConfigError, short_repr
from engine.verify import ATOL, RTOL, frames_differ, verify_plan

FORMAT = "phenomena-lab-bundle/2"
FORMAT_V1 = "phenomena-lab-bundle/1"  # no key field; still read
MAX_ENTRIES = 5_000
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_MEMBER_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 512 * 2**20
MAX_ROWS = 1_000_000  # per entry
MAX_COLUMNS = 1_000  # per entry
MAX_CELLS = 50_000_000  # rows x columns over the whole bundle (about 400 MB as float64)
MAX_DECODED_TOTAL = 1024 * 2**20  # decoded Arrow bytes over the whole bundle (staged in memory)

log = logging.getLogger("engine.bundle")
_MEMBER = re.compile(r"^entries/[0-9a-f]{32}\.parquet$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_TOP_FIELDS = {"format", "entries", "created_at", "created_by"}
_ENTRY_FIELDS = {"experiment", "version", "config", "file", "sha256", "digest"}
_OPTIONAL_FIELDS = {"meta", "rows", "key"}


class BundleError(ValueError):
    """A bundle is unreadable, too large, damaged or tampered with; nothing was imported."""


@dataclass
class Staged:
    """One verified entry waiting to be committed."""

    experiment: str
    version: int
    config: dict[str, Any]  # canonical values
    frame: pd.DataFrame
    meta: dict[str, Any]
    table: pa.Table | None = field(default=None, repr=False)  # what ``frame`` was read from, written as is


@dataclass
class ImportResult:
    """What an import did: entries written, entries already present, stale ones left out, checks."""

    imported: int = 0
    unchanged: int = 0
    stale: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # with --verify: what was not recomputed, why
    interrupted: bool = False  # Ctrl-C arrived after the commit: the import was completed anyway

    def lines(self, where: str) -> list[str]:
        out = [
            f"imported {self.imported + self.unchanged} results into {where} "
            f"({self.imported} new or replaced, {self.unchanged} already there)"
        ]
        out += [f"  stale, not imported: {s}" for s in self.stale]
        out += [f"  verified: {v}" for v in self.verified]
        out += [f"  not verified: {u}" for u in self.unverified]
        return out


# -- export --------------------------------------------------------------------------------


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _not_regular(path: Path) -> str:
    """'' if ``path`` is absent or a regular file (or a link to one), else what it is."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a link to nothing" if path.is_symlink() else ""
    return "" if stat.S_ISREG(mode) else next((kind for test, kind in _KINDS if test(mode)), "not a file")


def check_output_file(path: str | Path, what: str = "bundle") -> Path:
    """``path`` if a file can be written there: absent or a regular file (or a link to one), in a
    folder that exists. A folder, FIFO, device node or socket is refused, never replaced."""
    path = Path(path)
    if path.is_dir():
        raise BundleError(f"{short_repr(str(path))} is a folder; give a file name for the {what}.")
    if not path.parent.is_dir():
        raise BundleError(f"the folder of {short_repr(str(path))} does not exist.")
    kind = _not_regular(path)
    if kind:
        raise BundleError(
            f"{short_repr(str(path))} is {kind}, not a regular file; give a new file name for the {what}."
        )
    return path


def check_preset(names: list[str] | None, preset: str | None) -> None:
    """Refuse (ConfigError) a preset that none of the selected experiments has."""
    if preset is None:
        return
    from engine.core.registry import experiments

    chosen = [get_experiment(n) for n in names] if names else list(experiments().values())
    if not any(preset in exp.presets for exp in chosen):
        allowed = sorted({p for exp in chosen for p in exp.presets})
        raise ConfigError(
            f"The 'preset' parameter must be one of {', '.join(map(repr, allowed))}. "
            f"Got {short_repr(preset)} instead."
        )


def export_bundle(path: str | Path, names: list[str] | None = None, preset: str | None = None) -> int:
    """Write every valid, current cached entry into the bundle at ``path``; return the count.

    ``names`` keeps those experiments only; ``preset`` keeps the configs of that preset's grid (e.g.
    only the paper-scale results; a preset no selected experiment has is a ConfigError). Never
    computes and never unpickles: an entry that is missing, damaged, of an old version or bound to
    another key is left out. Written atomically, and only as a regular file: a link to a regular
    file has its target replaced; a folder, FIFO or device node at ``path`` is refused.
    """
    path = check_output_file(path)
    check_preset(names, preset)
    target = path.resolve() if path.is_symlink() else path
    entries, grids = [], {}
    tmp = safe_io.temp_name(target.parent / ".bundle")
    try:
        with zipfile.ZipFile(tmp, "x", compression=zipfile.ZIP_DEFLATED) as archive:
            for record in cache.index_records():
                item = _export_one(archive, record, names, preset, grids)
                if item is not None:
                    entries.append(item)
            archive.writestr("manifest.json", json.dumps({"format": FORMAT, "entries": entries}, indent=1))
        check_output_file(target)  # still absent or regular, just before it is replaced
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return len(entries)


def _export_one(archive: zipfile.ZipFile, record: dict, names, preset, grids) -> dict | None:
    name = record["experiment"]
    try:
        exp = get_experiment(name)
    except ConfigError:
        return None
    if (names and name not in names) or record["version"] != exp.version:
        return None
    if preset and not _in_grid(record, preset, grids):
        return None
    entry = cache.load_valid(name, record["version"], record["config"])
    if entry is None:
        log.warning(
            "left %s %s out of the bundle: its cache entry is missing, damaged, not bound to its key "
            "or computed by other code of its phenomenon",
            name,
            short_repr(record["config"]),
        )
        return None
    key = cache.entry_key(name, record["version"], record["config"])
    payload = frame_to_parquet(entry["frame"])
    member = f"entries/{key}.parquet"
    archive.writestr(member, payload)
    return {
        "experiment": name,
        "version": record["version"],
        "config": record["config"],
        "key": key,
        "file": member,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "digest": bound_digest(key, frame_from_parquet(payload)),
        "rows": len(entry["frame"]),
        "meta": entry.get("meta", {}),
    }


def _in_grid(record: dict, preset: str, grids: dict[str, list[dict]] | None = None) -> bool:
    """Whether an index record is one of its experiment's ``preset`` configs, current version.

    ``grids`` memoises each experiment's grid across the records of one export.
    """
    name = record["experiment"]
    grids = {} if grids is None else grids
    try:
        exp = get_experiment(name)
        if name not in grids:
            grids[name] = [canonical_values(c) for c in exp.grid(preset)]
    except ConfigError:  # an experiment that no longer exists or has no such preset
        return False
    return record["version"] == exp.version and record["config"] in grids[name]


# -- import --------------------------------------------------------------------------------


def manifest(path: str | Path) -> list[dict]:
    """The bundle's entries that pass every check but the hashes (experiment, version, canonical
    config); [] if the bundle is unreadable or refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            items, fmt = _read_manifest(archive)
            out, current = [], _current_checker()
            for number, item in enumerate(items, 1):
                name, version, values, _ = _check_meaning(item, fmt, number)
                if values is not None and current(name, item.get("meta")):
                    out.append({"experiment": name, "version": version, "config": values})
            return out
    except (BundleError, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, RecursionError):
        return []


def _current_checker():
    """``current(experiment, meta)``: :func:`~engine.core.fingerprint.is_current`, with each
    phenomenon's code fingerprinted once per bundle instead of once per entry."""
    now: dict[str, str | None] = {}

    def current(experiment: str, meta: dict | None) -> bool:
        if experiment not in now:
            now[experiment] = experiment_fingerprint(experiment)
        return now[experiment] is None or (meta or {}).get(META_FIELD) == now[experiment]

    return current


def offered_keys(path: str | Path) -> set[str]:
    """The cache keys of the entries an import of ``path`` would bring: registered experiment,
    current version, computed by today's code. Read from the manifest alone, after its size and
    schema checks (the configs, hashes and frames are the import's to check), so that a page can
    ask cheaply whether a bundle holds anything new; a version-1 manifest, which names no keys, is
    checked as :func:`manifest` does. Empty if the bundle is unreadable or refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            items, fmt = _read_manifest(archive)
    except (BundleError, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, RecursionError):
        return set()
    if fmt != FORMAT:
        return {cache.entry_key(r["experiment"], r["version"], r["config"]) for r in manifest(path)}
    keys, current = set(), _current_checker()
    for item in items:
        try:
            exp = get_experiment(item["experiment"])
        except ConfigError:
            continue
        if item["version"] == exp.version and current(exp.name, item.get("meta")):
            keys.add(item["key"])
    return keys


def import_bundle(path: str | Path, verify: int = 0, progress: Progress | None = None) -> int:
    """Verify the whole bundle, then store its current entries in the cache; return how many of its
    entries are now cached (new, replaced or already there). ``progress(fraction, message)``: see
    :func:`import_report`."""
    result = import_report(path, verify=verify, progress=progress)
    return result.imported + result.unchanged


def import_report(
    path: str | Path, verify: int = 0, rng: random.Random | None = None, progress: Progress | None = None
) -> ImportResult:
    """Check everything (see the module docstring), optionally recompute ``verify`` random
    quick-scale entries, then commit all entries or none. Raises :class:`BundleError` (one line).
    ``progress(fraction, message)`` is called as entries are checked (the first 70 %) and written."""
    with hashes_remembered():  # each frame and key is hashed once: staged, entry made, stored
        return _import(path, verify, rng, progress or _no_progress)


def _no_progress(fraction: float, message: str) -> None:
    pass


def _import(path: str | Path, verify: int, rng: random.Random | None, progress: Progress) -> ImportResult:
    label = short_repr(Path(str(path)).name, 60)
    result = ImportResult()
    try:
        staged = _stage(Path(path), label, result, progress)
        _verify(staged, verify, rng or random.Random(), label, result)
    except BundleError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        EOFError,
        RuntimeError,
        RecursionError,
        MemoryError,
        NotImplementedError,
        zipfile.BadZipFile,
        zlib.error,
        pa.ArrowException,
    ) as err:
        raise BundleError(
            f"{label} is not a readable bundle ({type(err).__name__}: {short_repr(str(err))}). "
            "Nothing was imported."
        ) from None
    _commit(staged, label, result, progress)
    return result


def _stage(path: Path, label: str, result: ImportResult, progress: Progress) -> list[Staged]:
    """Every check, in memory; nothing is written."""
    if not path.is_file():
        raise BundleError(f"{label} is not a readable bundle (no such file). Nothing was imported.")
    staged, cells, decoded, seen = [], 0, 0, set()
    other_code: dict[str, tuple[int, Any]] = {}  # experiment -> (entries, their fingerprint)
    current = _current_checker()
    with zipfile.ZipFile(path) as archive:
        items, fmt = _read_manifest(archive, label)
        infos = {info.filename: info for info in archive.infolist()}
        wanted = {item["file"] for item in items} | {"manifest.json"}
        extra = sorted(set(infos) - wanted)
        if extra:
            raise _refuse(label, f"it holds a member the manifest does not list ({short_repr(extra[0])})")
        for number, item in enumerate(items, 1):
            progress(0.7 * (number - 1) / max(len(items), 1), f"{label}: checking {number}/{len(items)}")
            name, version, values, key = _check_meaning(item, fmt, number, label)
            if values is None:
                result.stale.append(f"{name} version {version} (current: {get_experiment(name).version})")
                continue
            if key in seen:
                raise _refuse(label, f"entry {number} repeats the key of an earlier entry")
            seen.add(key)
            if item["file"] not in infos:
                raise _refuse(label, f"entry {number} names a missing member {item['file']}")
            payload = _read_capped(archive, infos[item["file"]], MAX_MEMBER_BYTES, label)
            if hashlib.sha256(payload).hexdigest() != item["sha256"]:
                raise BundleError(
                    f"{label}: {item['file']} does not match its hash; the bundle was damaged "
                    "or edited. Nothing was imported."
                )
            cells += _check_shape(payload, number, label)
            if cells > MAX_CELLS:
                raise _refuse(label, f"its frames hold over {MAX_CELLS:,} cells in all")
            try:
                table = decoding.read_table(payload)  # decoded sizes checked before any expansion
            except DecodeRefused as err:
                raise _refuse(label, f"entry {number}: {err}") from None
            decoded += table.nbytes
            if decoded > MAX_DECODED_TOTAL:
                raise _refuse(label, f"its frames decode to over {MAX_DECODED_TOTAL / 2**20:,.0f} MiB in all")
            frame = table.to_pandas(use_threads=False)
            expected = frame_digest(frame) if fmt == FORMAT_V1 else bound_digest(item["key"], frame)
            if expected != item["digest"]:
                raise BundleError(
                    f"{label}: {item['file']} holds different data than its manifest says. "
                    "Nothing was imported."
                )
            if not current(name, item.get("meta")):  # checked like the others, then left out
                theirs = item.get("meta", {}).get(META_FIELD)
                other_code[name] = (other_code.get(name, (0, None))[0] + 1, theirs)
                continue
            meta = {
                **item.get("meta", {}),
                "imported_from": Path(str(path)).name[:80],
                "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            staged.append(Staged(name, version, values, frame, clean_meta(meta), table))
    result.stale += [
        f"{name}: {count} computed by other {name.split('.')[0]} code "
        f"(source {short(theirs)}, current {short(experiment_fingerprint(name))})"
        for name, (count, theirs) in sorted(other_code.items())
    ]
    return staged


def _refuse(label: str, why: str) -> BundleError:
    return BundleError(f"{label} was refused: {why}. Nothing was imported.")


def _read_manifest(archive: zipfile.ZipFile, label: str = "the bundle") -> tuple[list[dict], str]:
    """The manifest's entries and format, after the header-size limits and the schema check."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(infos) > MAX_ENTRIES + 1:
        raise _refuse(label, f"it has {len(infos):,} members (at most {MAX_ENTRIES + 1:,})")
    if len(set(names)) != len(names):
        raise _refuse(label, "it holds two members with the same name")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise _refuse(
            label, f"it unpacks to {total / 2**20:,.0f} MiB (at most {MAX_TOTAL_BYTES / 2**20:,.0f} MiB)"
        )
    for info in infos:
        if info.file_size > MAX_MEMBER_BYTES:
            raise _refuse(
                label,
                f"{short_repr(info.filename)} unpacks to {info.file_size / 2**20:,.0f} MiB "
                f"(at most {MAX_MEMBER_BYTES / 2**20:,.0f} MiB per member)",
            )
    if "manifest.json" not in names:
        raise _refuse(label, "it has no manifest.json")
    raw = _read_capped(archive, archive.getinfo("manifest.json"), MAX_MANIFEST_BYTES, label)
    try:
        top = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise _refuse(label, f"manifest.json is not valid JSON ({short_repr(str(err), 60)})") from None
    if not isinstance(top, dict):
        raise _refuse(label, f"manifest.json must be an object, not a {type(top).__name__}")
    if top.get("format") not in (FORMAT, FORMAT_V1):
        raise BundleError(
            f"{label} is not a Phenomena Lab bundle (format {short_repr(top.get('format'))}). "
            "Nothing was imported."
        )
    unknown = set(top) - _TOP_FIELDS
    if unknown:
        raise _refuse(label, f"manifest.json has an unknown field {short_repr(sorted(map(str, unknown))[0])}")
    entries = top.get("entries")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise _refuse(label, f"manifest.json's 'entries' must be a list of at most {MAX_ENTRIES:,} entries")
    for number, item in enumerate(entries, 1):
        _check_schema(item, top["format"], number, label)
    return entries, top["format"]


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _check_schema(item: Any, fmt: str, number: int, label: str) -> None:
    """Field names and plain types of one manifest entry."""
    if not isinstance(item, dict):
        raise _refuse(label, f"entry {number} must be an object, not a {type(item).__name__}")
    required = _ENTRY_FIELDS | ({"key"} if fmt == FORMAT else set())
    missing, unknown = required - set(item), set(item) - required - _OPTIONAL_FIELDS
    if missing or unknown:
        which = (
            f"lacks {sorted(missing)[0]!r}"
            if missing
            else f"has an unknown field {short_repr(sorted(unknown)[0])}"
        )
        raise _refuse(label, f"entry {number} {which}")
    checks = [
        (
            "experiment",
            isinstance(item["experiment"], str) and bool(cache._SAFE_NAME.match(item["experiment"])),
        ),
        ("version", type(item["version"]) is int and 0 <= item["version"] < 10**6),
        ("config", isinstance(item["config"], dict) and len(item["config"]) <= 200),
        ("file", isinstance(item["file"], str) and bool(_MEMBER.match(item["file"]))),
        ("sha256", isinstance(item["sha256"], str) and bool(_HEX64.match(item["sha256"]))),
        ("digest", isinstance(item["digest"], str) and bool(_HEX64.match(item["digest"]))),
        ("key", "key" not in item or (isinstance(item["key"], str) and bool(_HEX32.match(item["key"])))),
        ("rows", "rows" not in item or (type(item["rows"]) is int and 0 <= item["rows"] < 2**53)),
    ]
    for name, ok in checks:
        if not ok:
            raise _refuse(label, f"entry {number} has an invalid {name!r}: {short_repr(item[name])}")
    try:
        clean_meta(item.get("meta", {}))
    except ValueError as err:
        raise _refuse(label, f"entry {number} has an invalid 'meta' ({err})") from None


def _check_meaning(item: dict, fmt: str, number: int, label: str = "the bundle") -> tuple:
    """Registered experiment, valid config, matching key; returns (name, version, values, key), with
    values and key None for an entry of another science version (stale)."""
    try:
        exp = get_experiment(item["experiment"])
    except ConfigError:
        raise _refuse(
            label, f"entry {number} names an unknown experiment {short_repr(item['experiment'])}"
        ) from None
    if item["version"] != exp.version:  # stale: judged against an older Config class, so not here
        return exp.name, item["version"], None, None
    config = item["config"]
    fields = set(exp.config_cls.__dataclass_fields__)
    if not set(config) <= fields:  # a missing field takes its default (bundles older than the field)
        odd = sorted(map(str, set(config) - fields))[0]
        raise _refuse(
            label,
            f"entry {number}'s config has a field {exp.config_cls.__name__} does not have "
            f"({short_repr(odd)})",
        )
    try:
        values = canonical_values(config_from_dict(exp.config_cls, config))
    except ConfigError as err:
        raise _refuse(label, f"entry {number}: {short_repr(str(err), 200)}") from None
    except Exception as err:  # a legacy __post_init__ meeting a value of the wrong type
        raise _refuse(label, f"entry {number}'s config is invalid ({type(err).__name__})") from None
    key = cache.entry_key(exp.name, item["version"], values)
    if fmt == FORMAT:
        claimed = item["key"]
    else:  # format 1 named the member after the key of the config as written
        claimed = key if item["file"][8:40] == cache.entry_key(exp.name, item["version"], config) else None
    if claimed != key or (fmt == FORMAT and item["file"][8:40] != key):
        raise _refuse(
            label,
            f"entry {number}'s key does not match its experiment, version and config "
            "(the manifest was edited)",
        )
    return exp.name, item["version"], values, key


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, label: str) -> bytes:
    """A member's bytes, decompressed through a cap (a header that understates the size is caught)."""
    limit = min(info.file_size, cap)
    with archive.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _refuse(label, f"{short_repr(info.filename)} unpacks to more than its header says")
    return data


def _check_shape(payload: bytes, number: int, label: str) -> int:
    """Rows x columns of a Parquet member, read from its footer before any data; returns the cells."""
    meta = pq.ParquetFile(pa.BufferReader(payload)).metadata
    rows, columns = meta.num_rows, meta.num_columns
    if rows > MAX_ROWS or columns > MAX_COLUMNS:
        raise _refuse(
            label,
            f"entry {number} has {rows:,} rows and {columns:,} columns "
            f"(at most {MAX_ROWS:,} rows and {MAX_COLUMNS:,} columns)",
        )
    return rows * max(columns, 1)


def _verify(staged: list[Staged], count: int, rng: random.Random, label: str, result: ImportResult) -> None:
    """Recompute up to ``count`` random entries that are cheap enough (one per scale first, then at
    random); refuse the bundle if one differs. Every entry left unchecked is named in
    ``result.unverified``, with why (too costly here, or not sampled)."""
    if count <= 0:
        return
    from engine.core.compute import compute_entry

    plan = verify_plan([(s.experiment, s.config) for s in staged], count, rng)
    for i in plan.chosen:
        s = staged[i]
        try:
            fresh = compute_entry(s.experiment, s.config, device="cpu")["frame"]
        except Exception as err:  # the recomputation itself failed: no verdict, so no import
            raise BundleError(
                f"{label}: recomputing {s.experiment} to verify it failed ({type(err).__name__}: "
                f"{short_repr(str(err))}). Nothing was imported."
            ) from None
        why = frames_differ(s.frame, fresh)
        if why:
            raise BundleError(
                f"{label} was refused: {s.experiment} {short_repr(s.config, 60)} differs from a "
                f"recomputation ({why}). Nothing was imported."
            )
        result.verified.append(
            f"{s.experiment}: recomputed, equal within rtol={RTOL:g}, atol={ATOL:g} ({plan.scales[i]} scale)"
        )
    result.unverified.extend(plan.unverified_lines())


def _commit(staged: list[Staged], label: str, result: ImportResult, progress: Progress) -> None:
    """Store every staged entry, all or nothing (see :mod:`engine.core.journal`).

    The entries are first written to a journal in the cache folder (a failure or Ctrl-C there
    deletes it: nothing was imported), then committed, then put into place with Ctrl-C deferred. A
    write that fails while they are put into place rolls back what was written and restores what
    was there. A process killed at any point is completed or rolled back on the next start.
    """
    todo = []
    for s in staged:
        previous = cache.load_valid(s.experiment, s.version, s.config)
        if previous is not None and frame_digest(previous["frame"]) == frame_digest(s.frame):
            result.unchanged += 1
            continue
        key = cache.entry_key(s.experiment, s.version, s.config)
        todo.append((s, cache.make_entry(s.frame, s.meta, key, from_parquet=True), previous))
    if not todo:
        return
    journal = None
    try:
        journal = cache.begin_import()
        for s, entry, _ in todo:
            progress(
                0.7 + 0.3 * len(journal.items) / len(todo),
                f"{label}: writing {len(journal.items) + 1}/{len(todo)}",
            )
            journal.stage(s.experiment, s.version, s.config, entry, s.table)
    except Exception as err:
        if journal is not None:
            journal.close()
        raise BundleError(
            f"{label}: writing to the cache failed ({type(err).__name__}: {short_repr(str(err))}); "
            "nothing was written. Nothing was imported."
        ) from None
    except BaseException:  # Ctrl-C while staging: nothing is in the cache yet
        if journal is not None:
            journal.close()
        raise
    with journal, sigint_deferred() as interrupted:
        done: list[tuple[Staged, dict | None]] = []
        try:
            journal.commit()
            for s, entry, previous in todo:
                cache.store(s.experiment, s.version, s.config, entry, staged=journal.entry_path(entry["key"]))
                done.append((s, previous))
        except Exception as err:
            journal.uncommit()
            _roll_back(done)
            raise BundleError(
                f"{label}: writing to the cache failed ({type(err).__name__}: {short_repr(str(err))}); "
                "what was written is rolled back. Nothing was imported."
            ) from None
    result.imported += len(todo)
    result.interrupted = interrupted()


def _roll_back(done: list[tuple[Staged, dict | None]]) -> None:
    """Restore what was in the cache before the given entries were stored."""
    for s, previous in reversed(done):
        try:
            if previous is None:
                cache.remove(s.experiment, s.version, s.config)
            else:
                cache.store(s.experiment, s.version, s.config, previous)
        except Exception as err:  # keep rolling back the others
            log.warning("could not roll back %s %s: %s", s.experiment, short_repr(s.config), err)
