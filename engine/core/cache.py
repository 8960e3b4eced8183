"""The result cache: one ``joblib.Memory`` per experiment under ``cache/<experiment>/``.

Key: ``(experiment name, science version, config as plain values)``. The device, the progress
callback and a precomputed result are ignored by the key, so a GPU precompute is a hit on a laptop.
An entry is ``{"frame": DataFrame, "digest": str, "meta": dict}``; the digest is checked on every
load, so a truncated or corrupt entry is reported once and recomputed, never served.
Beside joblib's store, ``cache/<experiment>/index/<key>.json`` lists what is cached (for
``status``, ``export`` and ``clear``) because joblib's own layout is private.

The location is ``$PHENOMENA_CACHE`` if set, else ``cache/`` at the repository root.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Callable

import joblib
import pandas as pd

from .cached_call import compute_cached
from .entries import entry_is_valid, frame_digest, make_entry

ENV_VAR = "PHENOMENA_CACHE"
_REPO_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("engine.cache")


def cache_dir() -> Path:
    """The cache root: ``$PHENOMENA_CACHE`` or ``<repo>/cache``."""
    return Path(os.environ.get(ENV_VAR) or _REPO_ROOT / "cache")


def entry_key(name: str, version: int, config: dict[str, Any]) -> str:
    """The stable hex key of one cache entry (also the index file's name)."""
    return joblib.hash([name, int(version), config])


_FUNCS: dict[tuple[str, str], Any] = {}


def cached_function(name: str):
    """The ``joblib.Memory``-cached :func:`compute_cached` for one experiment's folder."""
    location = cache_dir() / name
    key = (str(location), name)
    if key not in _FUNCS:
        memory = joblib.Memory(location, verbose=0)
        _FUNCS[key] = memory.cache(_own_copy(compute_cached), ignore=["device", "progress", "precomputed"])
    return _FUNCS[key]


def _own_copy(func):
    """A distinct function object with the same code.

    joblib remembers "this function's code is already on disk" per function object, process-wide.
    With one shared object, only the first experiment's folder would get its func_code.py, and a
    fresh process would take every other folder's entries for stale.
    """
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__,
                              func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    return copy


def is_cached(name: str, version: int, config: dict[str, Any]) -> bool:
    """Whether an entry exists for this key (its integrity is checked only on load)."""
    return bool(cached_function(name).check_call_in_cache(name, version, config))


def load_or_compute(
    name: str,
    version: int,
    config: dict[str, Any],
    *,
    device: str = "cpu",
    progress: Callable | None = None,
) -> tuple[dict[str, Any], str]:
    """Return ``(entry, how)`` with ``how`` one of "hit", "computed", "recomputed (corrupt entry)"."""
    fn = cached_function(name)
    if not fn.check_call_in_cache(name, version, config):
        entry, how = fn(name, version, config, device=device, progress=progress), "computed"
    else:
        entry, how = _load_checked(fn, name, version, config), "hit"
        if entry is None:
            log.warning("cache entry of %s %s was corrupt; recomputed and replaced it", name, config)
            entry, _ = fn.call(name, version, config, device=device, progress=progress)
            how = "recomputed (corrupt entry)"
    write_index(name, version, config, entry)
    return entry, how


def load_valid(name: str, version: int, config: dict[str, Any]) -> dict[str, Any] | None:
    """The cached entry if it exists and passes its digest check, else None. Never computes."""
    fn = cached_function(name)
    return _load_checked(fn, name, version, config) if fn.check_call_in_cache(name, version, config) else None


def _load_checked(fn, name: str, version: int, config: dict[str, Any]) -> dict[str, Any] | None:
    """Load an entry known to be in ``fn``'s store; None if it is unreadable or fails its digest."""
    try:
        entry = fn.call_and_shelve(name, version, config).get()
    except Exception:  # truncated file, unpickling error, missing member: all mean corrupt
        return None
    return entry if entry_is_valid(entry) else None


def store(name: str, version: int, config: dict[str, Any], entry: dict[str, Any]) -> None:
    """Put an entry computed elsewhere (a Dask worker, an imported bundle) into the cache."""
    if not entry_is_valid(entry):
        raise ValueError(f"refusing to store an invalid entry for {name}")
    fn = cached_function(name)
    if fn.check_call_in_cache(name, version, config):
        fn.call(name, version, config, precomputed=entry)  # replace whatever is there
    else:
        fn(name, version, config, precomputed=entry)
    write_index(name, version, config, entry)


def write_index(name: str, version: int, config: dict[str, Any], entry: dict[str, Any]) -> None:
    """Record an entry in ``cache/<name>/index/<key>.json`` (atomic replace)."""
    folder = cache_dir() / name / "index"
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "experiment": name,
        "version": int(version),
        "config": config,
        "digest": entry["digest"],
        "meta": entry.get("meta", {}),
        "rows": int(len(entry["frame"])),
        "indexed_at": time.time(),
    }
    target = folder / f"{entry_key(name, version, config)}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh, default=str)
    os.replace(tmp, target)


def index_records(name: str | None = None) -> list[dict[str, Any]]:
    """All index records (of one experiment, or of all), skipping unreadable files."""
    root = cache_dir()
    folders = [root / name / "index"] if name else sorted(root.glob("*/index"))
    records = []
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                log.warning("unreadable cache index file %s skipped", path)
    return records


def folder_bytes(name: str) -> int:
    """Disk use of one experiment's cache folder, in bytes."""
    folder = cache_dir() / name
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def clear(name: str | None = None) -> list[str]:
    """Delete one experiment's cache folder, or every one; return the names cleared."""
    root = cache_dir()
    names = [name] if name else [p.name for p in root.iterdir() if p.is_dir()] if root.exists() else []
    cleared = []
    for n in names:
        folder = root / n
        if folder.exists():
            shutil.rmtree(folder)
            cleared.append(n)
    _FUNCS.clear()
    return cleared
