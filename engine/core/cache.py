"""The result cache: one ``joblib.Memory`` per experiment under ``cache/<experiment>/``, stored as
Parquet (never pickle).

Key: ``(experiment name, science version, canonical config)``. The device, the progress callback and
a precomputed result are ignored by the key, so a GPU precompute is a hit on a laptop.

Storage: joblib's Memory with the :class:`ParquetStore` backend registered below. It writes each
entry as one ``output.parquet`` (frame + a JSON header with key, digest and provenance, see
:mod:`engine.core.entries`), refuses to store anything that is not an entry, and never opens an
``output.pkl``: a pickle dropped into the cache is ignored, never loaded. Every read opens regular
files only (no link, FIFO or device: :mod:`engine.core.safe_io`) and decodes within
:mod:`engine.core.decoding`'s limits; every load checks that the entry is bound to the slot it was
read from and that its frame matches its digest. An entry that is truncated, edited, copied from
another key's slot, over a limit or not a regular file (a folder, a FIFO) is logged once,
recomputed and replaced.

Every write is atomic and checked: a failed write raises and leaves no partial file. A computed
result that cannot be stored (a full disk, a read-only cache) is still returned, with a one-line
notice; a read-only cache serves its hits.

No stale results: each entry's provenance carries the fingerprint of its phenomenon's code
(:mod:`engine.core.fingerprint`); an entry computed by other code is not cached for
:func:`is_cached`, is recomputed by :func:`load_or_compute` and is returned by :func:`load_valid`
only when asked (``stale_ok``).

Beside joblib's store, ``cache/<experiment>/index/<key>.json`` lists what is cached (for
``status``, ``export`` and ``clear``) because joblib's own layout is private. Imports write through
a journal (:mod:`engine.core.journal`): all their entries or none, even when killed.

``clear`` deletes only folders that carry the lab's marker (a ``.phenomena-lab`` file, written in
the cache root and in each folder the lab creates or writes into); anything else is refused or left
alone. A folder is renamed aside before it is deleted, so a writer racing a ``clear`` recreates a
fresh folder, marked again by its first write.

The location is ``$PHENOMENA_CACHE`` if set, else ``cache/`` at the repository root.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import stat
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
from joblib._store_backends import FileSystemStoreBackend

from . import entry_memo, journal
from .cached_call import compute_cached
from .compute import compute_entry
from .decoding import DecodeRefused
from .entries import (  # noqa: F401
    bind,
    entry_from_bytes,
    entry_is_valid,
    entry_key,
    entry_to_bytes,
    frame_digest,
    hash_plain,
    make_entry,
    reads_back_as_is,
)
from .fingerprint import is_current
from .safe_io import is_regular, read_regular, remove_odd, write_atomic, write_via

ENV_VAR = "PHENOMENA_CACHE"
BACKEND = "phenomena-parquet"
ENTRY_FILE = "output.parquet"
MARKER = ".phenomena-lab"
MAX_ENTRY_BYTES = 1024 * 2**20  # an entry file; its frame is held to decoding's limits as well
MAX_SMALL_FILE = 16 * 2**20  # joblib's func_code.py and metadata.json, index records
_MARKER_TEXT = (
    "Written by Phenomena Lab. `python -m engine clear` deletes only folders that carry this file.\n"
)
_REPO_ROOT = Path(__file__).resolve().parents[2]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
log = logging.getLogger("engine.cache")


class CacheRefused(ValueError):
    """A cache operation was refused (a folder the lab did not write, an unsafe name)."""


def _open_item(filename: str, mode: str = "rb"):
    """joblib's file opener, made safe: reads take only regular files (no link, FIFO or device);
    writes create a new file (joblib writes to a fresh temporary name, then renames)."""
    if "r" in mode:
        return io.BytesIO(read_regular(filename, MAX_SMALL_FILE))
    return os.fdopen(os.open(filename, _CREATE_FLAGS, 0o644), mode)


class ParquetStore(FileSystemStoreBackend):
    """joblib store backend that keeps entries as Parquet + JSON and refuses anything else.

    Every read opens regular files only; every write is checked and atomic, and marks the
    experiment's folder as the lab's once written (so a folder re-created after a concurrent
    ``clear`` is marked again). A slot whose ``output.parquet`` is a folder, link or FIFO is
    replaced when the entry is stored again.
    """

    _open_item = staticmethod(_open_item)

    def load_item(self, call_id, verbose=1, timestamp=None, metadata=None):
        return entry_from_bytes(
            read_regular(os.path.join(self.location, *call_id, ENTRY_FILE), MAX_ENTRY_BYTES)
        )

    def dump_item(self, call_id, item, verbose=1):
        if not entry_is_valid(item):
            raise TypeError("the Phenomena Lab cache stores only result entries (a frame with its digest)")
        data = entry_to_bytes(item)
        folder = os.path.join(self.location, *call_id)
        if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
            remove_odd(folder)  # a planted link or file where the slot's folder belongs
        self.create_location(folder)
        write_atomic(os.path.join(folder, ENTRY_FILE), data, replace_odd=True)
        _mark(Path(self.location), strict=True)

    def place_item(self, call_id, path: str | os.PathLike) -> None:
        """Move a file written by :func:`entry_to_bytes` (a staged import) into a slot: one rename,
        no second copy on disk."""
        folder = os.path.join(self.location, *call_id)
        if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
            remove_odd(folder)
        self.create_location(folder)
        target = os.path.join(folder, ENTRY_FILE)
        remove_odd(target)
        os.replace(path, target)
        _mark(Path(self.location), strict=True)

    def contains_item(self, call_id):
        return os.path.lexists(os.path.join(self.location, *call_id, ENTRY_FILE))

    def clear_item(self, call_id):
        folder = os.path.join(self.location, *call_id)
        if os.path.islink(folder) or os.path.isfile(folder):
            os.unlink(folder)
        elif os.path.isdir(folder):
            shutil.rmtree(folder)

    def _concurrency_safe_write(self, to_write, filename, write_func):
        write_via(write_func, to_write, filename)
        _mark(Path(self.location), strict=True)

    def store_metadata(self, call_id, metadata):
        """Not written: the lab keeps its own index (joblib's metadata.json only feeds a
        validation callback the lab does not use)."""


joblib.register_store_backend(BACKEND, ParquetStore)


def cache_dir() -> Path:
    """The cache root: ``$PHENOMENA_CACHE`` or ``<repo>/cache``."""
    return Path(os.environ.get(ENV_VAR) or _REPO_ROOT / "cache")


_FUNCS: dict[tuple[str, str], Any] = {}
_RECOVERED: set[str] = set()


def clear_memo() -> None:
    """Forget this process's joblib handles (after ``$PHENOMENA_CACHE`` changed, or in tests); the
    next use looks for interrupted imports again."""
    _FUNCS.clear()
    _RECOVERED.clear()
    entry_memo.forget_all()


def recover_imports() -> list[str]:
    """Complete or roll back imports a killed process left in the cache (once per process and
    cache folder); see :mod:`engine.core.journal`."""
    root = cache_dir()
    if str(root) in _RECOVERED:
        return []
    _RECOVERED.add(str(root))
    if not root.is_dir() or root.is_symlink():
        return []
    return journal.recover(root, store, reindex)


def begin_import() -> journal.Journal:
    """A new import journal in the cache folder (see :mod:`engine.core.journal`)."""
    recover_imports()
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    _mark(root, strict=True)
    return journal.Journal(root)


def check_name(name: Any) -> str:
    """``name`` if it is safe as one folder name under the cache root, else :class:`CacheRefused`."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise CacheRefused(f"{str(name)[:80]!r} is not a valid cache folder name.")
    return name


def lab_folder(name: str) -> Path:
    """``cache/<name>``, created and marked as the lab's (so ``clear`` may delete it).

    On a read-only cache an existing folder is returned as it is; a missing one raises OSError."""
    root = cache_dir()
    folder = root / check_name(name)
    root.mkdir(parents=True, exist_ok=True)
    _mark(root)
    folder.mkdir(exist_ok=True)
    _mark(folder)
    return folder


def _mark(folder: Path, strict: bool = False) -> None:
    """Write the lab's marker into ``folder`` if it is not there. A failure raises with ``strict``
    (a write path), else is logged (a read-only cache still serves its entries). A folder that
    vanished meanwhile (a concurrent ``clear``) is left vanished."""
    marker = folder / MARKER
    if is_regular(marker) or not folder.is_dir():
        return
    try:
        write_atomic(marker, _MARKER_TEXT.encode(), replace_odd=True)
    except FileNotFoundError:  # the folder was cleared under us
        pass
    except OSError as err:
        if strict:
            raise
        log.warning("could not mark %s as the lab's: %s", folder, err)


def cached_function(name: str):
    """The ``joblib.Memory``-cached :func:`compute_cached` for one experiment's folder.

    Raises OSError when the folder can be neither found nor created (a read-only cache)."""
    location = cache_dir() / check_name(name)
    key = (str(location), name)
    if key not in _FUNCS:
        recover_imports()
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


def _handle(name: str):
    """:func:`cached_function`, or None when the cache cannot be opened (read-only and missing)."""
    try:
        return cached_function(name)
    except OSError as err:
        log.info("cache folder of %s unavailable: %s", name, err)
        return None


def _call_id(fn, name: str, version: int, config: dict[str, Any]) -> tuple[str, str]:
    args_id = hash_plain(
        ("args_id", fn.func_id, name, int(version)), config, lambda: fn._get_args_id(name, version, config)
    )
    return fn.func_id, args_id


def _in_cache(fn, name: str, version: int, config: dict[str, Any]) -> bool:
    """Whether ``fn``'s store holds an entry for the key (its integrity is checked on load). False
    when the store cannot tell (an unreadable or unwritable func_code.py)."""
    try:  # joblib's check_call_in_cache, with the arguments' hash remembered (see _call_id)
        return bool(fn._is_in_cache_and_valid(_call_id(fn, name, version, config)))
    except OSError:
        return False


def is_cached(name: str, version: int, config: dict[str, Any]) -> bool:
    """Whether an entry exists for this key and was computed by the phenomenon's current code (its
    integrity is checked only on load)."""
    fn = _handle(name)
    return fn is not None and _in_cache(fn, name, version, config) and _is_current(fn, name, version, config)


def load_or_compute(
    name: str,
    version: int,
    config: dict[str, Any],
    *,
    device: str | Callable[[], str] = "cpu",
    progress: Callable | None = None,
    before_compute: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], str, str]:
    """Return ``(entry, how, notice)``: ``how`` is one of "hit", "computed", "recomputed (corrupt
    entry)"; ``notice`` is "" or one line saying why a computed entry could not be stored (a full
    disk, a read-only cache): the entry is returned all the same.

    ``before_compute()`` runs only when something will be computed (the runner's cost guard), and
    ``device`` may be a function: the computation calls it when it first reads its device (a hit,
    and a computation in numpy, never ask torch which devices exist).
    """
    fn = _handle(name)
    entry, how, notice = None, "computed", ""
    if fn is not None and _in_cache(fn, name, version, config):
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
        entry = compute_entry(name, config, device=device, progress=progress, version=version)
        try:
            store(name, version, config, entry)
        except (OSError, DecodeRefused) as err:
            notice = f"not stored in the cache ({_reason(err)})"
            log.warning("result of %s %s %s", name, _short(config), notice)
    elif not is_regular(_index_path(name, entry_key(name, version, config))):
        try:
            write_index(name, version, config, entry)
        except OSError as err:  # a read-only cache: the hit is served all the same
            log.info("could not index %s: %s", name, err)
    return entry, how, notice


def _reason(err: BaseException) -> str:
    """An error as a short phrase: the OS's words for an OSError, else its message."""
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return _short(" ".join(str(text).split()), 160).strip("'\"")


def load_valid(
    name: str, version: int, config: dict[str, Any], *, stale_ok: bool = False
) -> dict[str, Any] | None:
    """The cached entry if it exists, is bound to this key, matches its digest and was computed by
    the phenomenon's current code (any code with ``stale_ok``), else None. Never computes."""
    fn = _handle(name)
    if fn is None or not _in_cache(fn, name, version, config):
        return None
    entry = _load_checked(fn, name, version, config)
    return entry if entry is not None and (stale_ok or is_current(name, entry.get("meta"))) else None


def _is_current(fn, name: str, version: int, config: dict[str, Any]) -> bool:
    """Whether the entry in this slot was computed by the current code: read from its index record,
    else (no record) from the entry itself."""
    try:
        record = json.loads(read_regular(_index_path(name, entry_key(name, version, config)), MAX_SMALL_FILE))
        return is_current(name, record.get("meta"))
    except (OSError, ValueError, AttributeError, RecursionError):
        entry = _load_checked(fn, name, version, config)
        return entry is None or is_current(name, entry.get("meta"))


def _load_checked(fn, name: str, version: int, config: dict[str, Any]) -> dict[str, Any] | None:
    """Load an entry known to be in ``fn``'s store; None if unreadable, damaged or in the wrong slot.
    An entry read or written before, whose file is unchanged since, is not read again
    (:mod:`engine.core.entry_memo`)."""
    call_id, key = _call_id(fn, name, version, config), entry_key(name, version, config)
    path = _entry_path(fn, call_id)
    seen = entry_memo.identity(path)
    known = entry_memo.recall(path, key, seen)
    if known is not None:
        return known
    try:
        entry = fn.store_backend.load_item(call_id)
    except Exception:  # truncated, not Parquet, over a limit, not a regular file: all mean corrupt
        return None
    if not entry_is_valid(entry, key):
        return None
    entry_memo.remember(path, key, seen, entry)
    return entry


def _entry_path(fn, call_id: tuple[str, str]) -> str:
    return os.path.join(fn.store_backend.location, *call_id, ENTRY_FILE)


def store(
    name: str,
    version: int,
    config: dict[str, Any],
    entry: dict[str, Any],
    *,
    staged: str | os.PathLike | None = None,
) -> None:
    """Put an entry into the cache (computed here, by a Dask worker, or imported), replacing what
    is there, and index it.

    An unbound entry is bound to this key; one bound to another key is refused (ValueError). A
    failed write raises OSError (and a frame over the decoded-size limits DecodeRefused); nothing
    half-written is left. ``staged``: a file holding exactly ``entry_to_bytes(entry)`` (an import's
    journal), moved into place instead of writing the entry again.
    """
    key = entry_key(name, version, config)
    if isinstance(entry, dict) and entry.get("key") is None and entry_is_valid(entry):
        entry = bind(entry, key)
    if not entry_is_valid(entry, key):
        raise ValueError(f"refusing to store an invalid entry, or one bound to another key, for {name}")
    fn = cached_function(name)
    _in_cache(fn, name, version, config)  # lets joblib write its func_code.py first, if missing
    call_id = _call_id(fn, name, version, config)
    if staged is None:
        fn.store_backend.dump_item(call_id, entry)
    else:
        fn.store_backend.place_item(call_id, staged)
    if reads_back_as_is(entry["frame"]):  # then the next read of the file gives this very entry
        path = _entry_path(fn, call_id)
        entry_memo.remember(path, key, entry_memo.identity(path), entry)
    write_index(name, version, config, entry)


def reindex(name: str, version: int, config: dict[str, Any]) -> None:
    """Write the index record of a valid entry that lacks one (an import killed between putting an
    entry in place and indexing it)."""
    entry = load_valid(name, version, config)
    if entry is not None and not is_regular(_index_path(name, entry_key(name, version, config))):
        write_index(name, version, config, entry)


def remove(name: str, version: int, config: dict[str, Any]) -> None:
    """Delete one entry and its index record (used to roll back a failed import)."""
    fn = cached_function(name)
    fn.store_backend.clear_item(_call_id(fn, name, version, config))
    _index_path(name, entry_key(name, version, config)).unlink(missing_ok=True)


def _index_path(name: str, key: str) -> Path:
    return cache_dir() / name / "index" / f"{key}.json"


def write_index(name: str, version: int, config: dict[str, Any], entry: dict[str, Any]) -> None:
    """Record an entry in ``cache/<name>/index/<key>.json`` (atomic replace; raises on failure)."""
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
    write_atomic(target, json.dumps(record, default=str).encode(), replace_odd=True)
    _mark(target.parent.parent, strict=True)


def index_records(name: str | None = None) -> list[dict[str, Any]]:
    """All well-formed index records (of one experiment, or of all); others are skipped with a warning.

    A record must be a regular file, name the folder it lies in, carry an int version and a dict
    config.
    """
    recover_imports()
    root = cache_dir()
    if name:
        folders = [root / name / "index"]
    else:
        folders = sorted(p / "index" for p in _children(root) if _SAFE_NAME.match(p.name))
    records = []
    for folder in folders:
        if folder.is_symlink() or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                record = json.loads(read_regular(path, MAX_SMALL_FILE))
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


def _children(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def folder_bytes(name: str) -> int:
    """Disk use of one experiment's cache folder, in bytes (regular files; links not followed)."""
    total = 0
    for base, _, files in os.walk(cache_dir() / name):
        for file in files:
            try:
                info = os.lstat(os.path.join(base, file))
            except OSError:
                continue
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- clear: only what the lab wrote ----------------------------------------------------------

_TRASH = ".clear-"


def is_lab_folder(folder: Path) -> bool:
    """Whether a folder (not a link) carries the lab's marker. A folder that merely looks like a
    cache (an older lab's joblib layout, say) without the marker is not the lab's to delete; the
    lab marks its folders whenever it opens them."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return is_regular(folder / MARKER)


def _root_is_lab(root: Path) -> bool:
    return not root.is_symlink() and (
        is_regular(root / MARKER) or root.resolve() == (_REPO_ROOT / "cache").resolve()
    )


def _delete(folder: Path) -> None:
    """Delete a lab folder: first renamed aside in one step (a writer that recreates the folder
    meanwhile starts a fresh, marked one), then removed."""
    trash = folder.parent / f"{_TRASH}{uuid.uuid4().hex}"
    os.rename(folder, trash)
    shutil.rmtree(trash)


def _being_created(root: Path) -> bool:
    """A root that holds nothing but (perhaps) its marker being written: the lab is creating it
    (``lab_folder`` makes the folder, then marks it) and there is nothing to clear. Anything else
    without the marker is refused as before."""
    try:
        names = os.listdir(root)
    except OSError:
        return False
    return not _root_is_lab(root) and all(n.startswith(MARKER) for n in names)


def clear_report(name: str | None = None) -> tuple[list[str], list[str]]:
    """Delete one experiment's cache folder, or every folder the lab marked; return (cleared, skipped).

    Raises :class:`CacheRefused` when the cache root, or the named folder, does not carry the lab's
    marker: ``PHENOMENA_CACHE=$HOME python -m engine clear`` deletes nothing. Interrupted imports
    are resolved first; a live import's journal is left alone.
    """
    root = cache_dir()
    clear_memo()
    if not root.exists() or _being_created(root):
        return [], []
    if not _root_is_lab(root):
        raise CacheRefused(
            f"refusing to clear {str(root)[:80]}: it has no {MARKER} file, so the lab did not "
            "create it. Delete it yourself if you are sure."
        )
    recover_imports()
    if name is not None:
        folder = root / check_name(name)
        if not folder.exists() and not folder.is_symlink():
            return [], []
        if not is_lab_folder(folder):
            raise CacheRefused(f"refusing to clear {str(folder)[:80]}: it has no {MARKER} file.")
        _delete(folder)
        return [name], []
    cleared, skipped = [], []
    for folder in sorted(_children(root)):
        if folder.name.startswith(_TRASH) and is_lab_folder(folder):
            shutil.rmtree(folder)  # left by a clear that was killed half-way
            continue
        if folder.name.startswith((_TRASH, journal.PREFIX)) or folder.name == MARKER:
            continue
        if not folder.is_dir() and not folder.is_symlink():
            continue
        if is_lab_folder(folder):
            _delete(folder)
            cleared.append(folder.name)
        else:
            skipped.append(folder.name)
    clear_memo()
    return cleared, skipped


def clear(name: str | None = None) -> list[str]:
    """Delete one experiment's cache folder, or every lab folder; return the names cleared."""
    cleared, skipped = clear_report(name)
    for folder in skipped:
        log.warning("left %s in the cache folder alone: it has no %s file", folder, MARKER)
    return cleared
