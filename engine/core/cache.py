"""The result cache: one ``joblib.Memory`` per experiment under ``cache/<experiment>/``, stored as
Parquet (never pickle).

Key: ``(experiment name, science version, canonical config)``. The device, the progress callback and
a precomputed result are ignored by the key, so a GPU precompute is a hit on a laptop.

Storage: joblib's Memory with the :class:`ParquetStore` backend registered below. It writes each
entry as one ``output.parquet`` (frame + a JSON header with key, digest and provenance, see
:mod:`engine.core.entries`), refuses to store anything that is not an entry, and never opens an
``output.pkl``: a pickle dropped into the cache is ignored, never loaded. Every load checks that the
entry is bound to the slot it was read from and that its frame matches its digest; an entry that
is truncated, edited or copied from another key's slot is logged once and recomputed.

No stale results: each entry's provenance carries the fingerprint of its phenomenon's code
(:mod:`engine.core.fingerprint`); an entry computed by other code is not cached for
:func:`is_cached`, is recomputed by :func:`load_or_compute` and is returned by :func:`load_valid`
only when asked (``stale_ok``).

Beside joblib's store, ``cache/<experiment>/index/<key>.json`` lists what is cached (for
``status``, ``export`` and ``clear``) because joblib's own layout is private.

``clear`` deletes only folders the lab marked as its own (a ``.phenomena-lab`` file, written in the
cache root and in each folder the lab creates); anything else is refused or left alone.

The location is ``$PHENOMENA_CACHE`` if set, else ``cache/`` at the repository root.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
from joblib._store_backends import FileSystemStoreBackend

from .cached_call import compute_cached
from .entries import (  # noqa: F401
    bind,
    entry_from_bytes,
    entry_is_valid,
    entry_key,
    entry_to_bytes,
    frame_digest,
    make_entry,
)
from .fingerprint import is_current

ENV_VAR = "PHENOMENA_CACHE"
BACKEND = "phenomena-parquet"
ENTRY_FILE = "output.parquet"
MARKER = ".phenomena-lab"
_MARKER_TEXT = (
    "Written by Phenomena Lab. `python -m engine clear` deletes only folders that carry this file.\n"
)
_REPO_ROOT = Path(__file__).resolve().parents[2]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
log = logging.getLogger("engine.cache")


class CacheRefused(ValueError):
    """A cache operation was refused (a folder the lab did not write, an unsafe name)."""


class ParquetStore(FileSystemStoreBackend):
    """joblib store backend that keeps entries as Parquet + JSON and refuses anything else."""

    def load_item(self, call_id, verbose=1, timestamp=None, metadata=None):
        filename = os.path.join(self.location, *call_id, ENTRY_FILE)
        if not os.path.exists(filename):
            raise KeyError(f"no cache entry at {filename}")
        with open(filename, "rb") as fh:
            return entry_from_bytes(fh.read())

    def dump_item(self, call_id, item, verbose=1):
        if not entry_is_valid(item):
            raise TypeError("the Phenomena Lab cache stores only result entries (a frame with its digest)")
        data = entry_to_bytes(item)
        folder = os.path.join(self.location, *call_id)
        try:
            self.create_location(folder)
            self._concurrency_safe_write(data, os.path.join(folder, ENTRY_FILE), _write_bytes)
        except OSError as err:  # a full disk: the run still returns its result
            log.warning("could not write a cache entry in %s: %s", folder, err)

    def contains_item(self, call_id):
        return os.path.exists(os.path.join(self.location, *call_id, ENTRY_FILE))


def _write_bytes(data: bytes, filename: str) -> None:
    with open(filename, "wb") as fh:
        fh.write(data)


joblib.register_store_backend(BACKEND, ParquetStore)


def cache_dir() -> Path:
    """The cache root: ``$PHENOMENA_CACHE`` or ``<repo>/cache``."""
    return Path(os.environ.get(ENV_VAR) or _REPO_ROOT / "cache")


_FUNCS: dict[tuple[str, str], Any] = {}


def clear_memo() -> None:
    """Forget this process's joblib handles (after ``$PHENOMENA_CACHE`` changed, or in tests)."""
    _FUNCS.clear()


def check_name(name: Any) -> str:
    """``name`` if it is safe as one folder name under the cache root, else :class:`CacheRefused`."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise CacheRefused(f"{str(name)[:80]!r} is not a valid cache folder name.")
    return name


def lab_folder(name: str) -> Path:
    """``cache/<name>``, created and marked as the lab's (so ``clear`` may delete it)."""
    root = cache_dir()
    folder = root / check_name(name)
    root.mkdir(parents=True, exist_ok=True)
    _mark(root)
    folder.mkdir(exist_ok=True)
    _mark(folder)
    return folder


def _mark(folder: Path) -> None:
    marker = folder / MARKER
    if not marker.exists():
        try:
            marker.write_text(_MARKER_TEXT)
        except OSError as err:  # a read-only cache still serves its entries
            log.warning("could not mark %s as the lab's: %s", folder, err)


def cached_function(name: str):
    """The ``joblib.Memory``-cached :func:`compute_cached` for one experiment's folder."""
    location = cache_dir() / check_name(name)
    key = (str(location), name)
    if key not in _FUNCS:
        lab_folder(name)
        memory = joblib.Memory(location, backend=BACKEND, verbose=0)
        _FUNCS[key] = memory.cache(_own_copy(compute_cached), ignore=["device", "progress", "precomputed"])
    return _FUNCS[key]


def _own_copy(func):
    """A distinct function object with the same code.

    joblib remembers "this function's code is already on disk" per function object, process-wide.
    With one shared object, only the first experiment's folder would get its func_code.py, and a
    fresh process would take every other folder's entries for stale.
    """
    copy = types.FunctionType(
        func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__
    )
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    return copy


def is_cached(name: str, version: int, config: dict[str, Any]) -> bool:
    """Whether an entry exists for this key and was computed by the phenomenon's current code (its
    integrity is checked only on load)."""
    fn = cached_function(name)
    return bool(fn.check_call_in_cache(name, version, config)) and _is_current(fn, name, version, config)


def load_or_compute(
    name: str,
    version: int,
    config: dict[str, Any],
    *,
    device: str = "cpu",
    progress: Callable | None = None,
    before_compute: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], str]:
    """Return ``(entry, how)`` with ``how`` one of "hit", "computed", "recomputed (corrupt entry)".

    ``before_compute()`` runs only when something will be computed (the runner's cost guard).
    """
    fn = cached_function(name)
    key = entry_key(name, version, config)
    entry, how = None, "computed"
    if fn.check_call_in_cache(name, version, config):
        entry = _load_checked(fn, name, version, config)
        if entry is None:
            log.warning(
                "cache entry of %s %s was corrupt or not bound to its key; recomputed and replaced it",
                name,
                _short(config),
            )
            how = "recomputed (corrupt entry)"
        elif not is_current(name, entry.get("meta")):
            log.info("cache entry of %s %s was computed by other code; recomputed it", name, _short(config))
            entry, how = None, "recomputed (code changed)"
        else:
            how = "hit"
    if entry is None:
        if before_compute is not None:
            before_compute()
        if how == "computed":
            entry = fn(name, version, config, device=device, progress=progress)
        if not entry_is_valid(entry, key):  # a corrupt entry, or one another process just wrote badly
            entry, _ = fn.call(name, version, config, device=device, progress=progress)
    if how != "hit" or not _index_path(name, key).exists():
        write_index(name, version, config, entry)
    return entry, how


def load_valid(
    name: str, version: int, config: dict[str, Any], *, stale_ok: bool = False
) -> dict[str, Any] | None:
    """The cached entry if it exists, is bound to this key, matches its digest and was computed by
    the phenomenon's current code (any code with ``stale_ok``), else None. Never computes."""
    fn = cached_function(name)
    entry = (
        _load_checked(fn, name, version, config) if fn.check_call_in_cache(name, version, config) else None
    )
    return entry if entry is not None and (stale_ok or is_current(name, entry.get("meta"))) else None


def _is_current(fn, name: str, version: int, config: dict[str, Any]) -> bool:
    """Whether the entry in this slot was computed by the current code: read from its index record,
    else (no record) from the entry itself."""
    try:
        record = json.loads(_index_path(name, entry_key(name, version, config)).read_text())
        return is_current(name, record.get("meta"))
    except (OSError, ValueError, AttributeError, RecursionError):
        entry = _load_checked(fn, name, version, config)
        return entry is None or is_current(name, entry.get("meta"))


def _load_checked(fn, name: str, version: int, config: dict[str, Any]) -> dict[str, Any] | None:
    """Load an entry known to be in ``fn``'s store; None if unreadable, damaged or in the wrong slot."""
    try:
        entry = fn.call_and_shelve(name, version, config).get()
    except Exception:  # truncated file, not Parquet, bad header, missing member: all mean corrupt
        return None
    return entry if entry_is_valid(entry, entry_key(name, version, config)) else None


def store(name: str, version: int, config: dict[str, Any], entry: dict[str, Any]) -> None:
    """Put an entry computed elsewhere (a Dask worker, an imported bundle) into the cache.

    An unbound entry is bound to this key; one bound to another key is refused.
    """
    key = entry_key(name, version, config)
    if isinstance(entry, dict) and entry.get("key") is None and entry_is_valid(entry):
        entry = bind(entry, key)
    if not entry_is_valid(entry, key):
        raise ValueError(f"refusing to store an invalid entry, or one bound to another key, for {name}")
    fn = cached_function(name)
    if fn.check_call_in_cache(name, version, config):
        fn.call(name, version, config, precomputed=entry)  # replace whatever is there
    else:
        fn(name, version, config, precomputed=entry)
    write_index(name, version, config, entry)


def remove(name: str, version: int, config: dict[str, Any]) -> None:
    """Delete one entry and its index record (used to roll back a failed import)."""
    fn = cached_function(name)
    if fn.check_call_in_cache(name, version, config):
        fn.call_and_shelve(name, version, config).clear()
    _index_path(name, entry_key(name, version, config)).unlink(missing_ok=True)


def _index_path(name: str, key: str) -> Path:
    return cache_dir() / name / "index" / f"{key}.json"


def write_index(name: str, version: int, config: dict[str, Any], entry: dict[str, Any]) -> None:
    """Record an entry in ``cache/<name>/index/<key>.json`` (atomic replace)."""
    key = entry_key(name, version, config)
    target = _index_path(name, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "experiment": name,
        "version": int(version),
        "config": config,
        "key": key,
        "digest": entry["digest"],
        "meta": entry.get("meta", {}),
        "rows": int(len(entry["frame"])),
        "indexed_at": time.time(),
    }
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh, default=str)
    os.replace(tmp, target)


def index_records(name: str | None = None) -> list[dict[str, Any]]:
    """All well-formed index records (of one experiment, or of all); others are skipped with a warning.

    A record must name the folder it lies in, carry an int version and a dict config.
    """
    root = cache_dir()
    folders = [root / name / "index"] if name else sorted(root.glob("*/index"))
    records = []
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            try:
                record = json.loads(path.read_text())
                ok = (
                    isinstance(record, dict)
                    and record.get("experiment") == folder.parent.name
                    and type(record.get("version")) is int
                    and isinstance(record.get("config"), dict)
                )
            except (OSError, ValueError, RecursionError):
                ok = False
            if ok:
                records.append(record)
            else:
                log.warning("unreadable or malformed cache index file %s skipped", path)
    return records


def folder_bytes(name: str) -> int:
    """Disk use of one experiment's cache folder, in bytes."""
    folder = cache_dir() / name
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- clear: only what the lab wrote ----------------------------------------------------------

_LEGACY_LAYOUTS = tuple(
    f"{prefix}engine/{module}/compute_cached/func_code.py"
    for prefix in ("", "joblib/")
    for module in ("core/cached_call", "cached_call", "cache")
)


def is_lab_folder(folder: Path) -> bool:
    """Whether a folder (not a link) carries the lab's marker, or an older lab version's joblib layout."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return (folder / MARKER).is_file() or any((folder / p).is_file() for p in _LEGACY_LAYOUTS)


def _root_is_lab(root: Path) -> bool:
    return not root.is_symlink() and (
        (root / MARKER).is_file() or root.resolve() == (_REPO_ROOT / "cache").resolve()
    )


def clear_report(name: str | None = None) -> tuple[list[str], list[str]]:
    """Delete one experiment's cache folder, or every folder the lab marked; return (cleared, skipped).

    Raises :class:`CacheRefused` when the cache root, or the named folder, does not carry the lab's
    marker: ``PHENOMENA_CACHE=$HOME python -m engine clear`` deletes nothing.
    """
    root = cache_dir()
    clear_memo()
    if not root.exists():
        return [], []
    if not _root_is_lab(root):
        raise CacheRefused(
            f"refusing to clear {str(root)[:80]}: it has no {MARKER} file, so the lab did not "
            "create it. Delete it yourself if you are sure."
        )
    if name is not None:
        folder = root / check_name(name)
        if not folder.exists():
            return [], []
        if not is_lab_folder(folder):
            raise CacheRefused(f"refusing to clear {str(folder)[:80]}: it has no {MARKER} file.")
        shutil.rmtree(folder)
        return [name], []
    cleared, skipped = [], []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() and not folder.is_symlink():
            continue
        if is_lab_folder(folder):
            shutil.rmtree(folder)
            cleared.append(folder.name)
        else:
            skipped.append(folder.name)
    return cleared, skipped


def clear(name: str | None = None) -> list[str]:
    """Delete one experiment's cache folder, or every lab folder; return the names cleared."""
    cleared, skipped = clear_report(name)
    for folder in skipped:
        log.warning("left %s in the cache folder alone: it has no %s file", folder, MARKER)
    return cleared
