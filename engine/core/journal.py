"""Write many cache entries as one: staged, committed by one rename, completed or rolled back on
the next start. What ``python -m engine import`` uses, so an import is never left partial.

An import stages every entry in ``cache/.import-<random>/entries/`` while holding an exclusive
``flock`` on the folder's ``lock`` file. Writing ``journal.json`` (atomic rename, flushed to disk)
commits it; the entries are then put into their slots and the folder is removed. Killed at any
point, the importer leaves one of two states, which :func:`recover` (run when a process first opens
the cache) resolves:

* no ``journal.json``: not committed, nothing is in the cache yet; the folder is deleted;
* ``journal.json``: committed; every staged entry still in the folder that is valid and bound to
  its key is moved into place (one already moved is only re-indexed), then the folder is deleted.

A folder whose lock is still held belongs to a live import and is left alone. Ctrl-C is deferred
while a commit is applied (:func:`sigint_deferred`): once committed, an import completes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .entries import entry_from_bytes, entry_is_valid, entry_key, entry_to_bytes
from .safe_io import is_regular, read_regular, write_atomic

PREFIX = ".import-"
JOURNAL = "journal.json"
LOCK = "lock"
MAX_JOURNAL_BYTES = 64 * 2**20
MAX_ENTRY_BYTES = 1024 * 2**20
ORPHAN_AFTER_S = 60.0  # a journal folder without a lock file this old was left by a dead importer
log = logging.getLogger("engine.cache")

Store = Callable[..., None]  # cache.store(name, version, config, entry, staged=path)
Reindex = Callable[[str, int, dict], None]  # cache.reindex(name, version, config)


class Journal:
    """The staging folder of one import (see the module docstring). Use as a context manager: the
    folder is removed on exit, committed or not."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
        self._lock: int | None = None
        try:
            self._lock = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            (self.folder / "entries").mkdir()
        except BaseException:
            self.close()
            raise
        self.items: list[dict[str, Any]] = []

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def entry_path(self, key: str) -> Path:
        """Where the staged entry of ``key`` lies (until it is moved into place)."""
        return self.folder / "entries" / f"{key}.parquet"

    def stage(
        self, name: str, version: int, config: dict[str, Any], entry: dict[str, Any], table=None
    ) -> None:
        """Write one entry (bound to its key) into the staging folder; raises on any failed write.
        ``table``: the Arrow table the entry's frame was read from (see ``entry_to_bytes``)."""
        key = entry_key(name, version, config)
        if entry.get("key") != key:
            raise ValueError(f"refusing to stage an entry not bound to its key ({name})")
        write_atomic(self.entry_path(key), entry_to_bytes(entry, table))
        self.items.append({"experiment": name, "version": int(version), "config": config, "key": key})

    def commit(self) -> None:
        """The point of no return: from here on the import completes, now or on the next start."""
        write_atomic(self.folder / JOURNAL, json.dumps({"entries": self.items}).encode(), sync=True)
        _sync_folder(self.folder)

    def uncommit(self) -> None:
        """Take the commit back (an apply that failed is being rolled back by its own process)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.folder / JOURNAL)

    def close(self) -> None:
        """Delete the staging folder and release the lock."""
        try:
            shutil.rmtree(self.folder)
        except FileNotFoundError:
            pass
        except OSError as err:  # recover() finishes the job on the next start
            log.warning("could not remove the import journal %s: %s", self.folder, err)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def recover(root: Path, store: Store, reindex: Reindex) -> list[str]:
    """Complete every committed and roll back every uncommitted journal left in ``root`` by a dead
    importer; return one line per journal handled. Live imports are left alone."""
    done = []
    try:
        folders = sorted(p for p in root.iterdir() if p.name.startswith(PREFIX))
    except OSError:
        return done
    for folder in folders:
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            with _dead_importer(folder) as dead:
                if not dead:
                    continue
                if is_regular(folder / JOURNAL):
                    stored = _apply(folder, store, reindex)
                    done.append(f"completed an interrupted import ({stored} results)")
                else:
                    done.append("rolled back an interrupted import (nothing of it had been committed)")
                shutil.rmtree(folder)
        except OSError as err:  # tried again on the next start
            log.warning("could not resolve the import journal %s: %s", folder, err)
    for line in done:
        log.warning("%s in %s", line, root)
    return done


@contextlib.contextmanager
def _dead_importer(folder: Path) -> Iterator[bool]:
    """Yields whether the import that owns ``folder`` is gone, holding its lock meanwhile."""
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:  # died before its lock existed, or is being born right now
        yield time.time() - folder.stat().st_mtime > ORPHAN_AFTER_S
        return
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _apply(folder: Path, store: Store, reindex: Reindex) -> int:
    """Put every valid staged entry of a committed journal into place; return how many were
    handled (moved now, or found moved already)."""
    try:
        items = json.loads(read_regular(folder / JOURNAL, MAX_JOURNAL_BYTES))["entries"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
        log.warning("unreadable import journal %s skipped: %s", folder, err)
        return 0
    stored = 0
    for item in items if isinstance(items, list) else []:
        try:
            name, version, config, key = item["experiment"], item["version"], item["config"], item["key"]
            if key != entry_key(name, version, config):
                raise ValueError("its key does not match its experiment, version and config")
            path = folder / "entries" / f"{key}.parquet"
            if not os.path.lexists(path):  # moved into place before the importer died
                reindex(name, version, config)
                stored += 1
                continue
            entry = entry_from_bytes(read_regular(path, MAX_ENTRY_BYTES))
            if not entry_is_valid(entry, key):
                raise ValueError("damaged or bound to another key")
        except OSError:
            raise  # a full or read-only disk: the journal is kept for the next start
        except Exception as err:  # one damaged staged entry: the others still go in
            log.warning("a staged entry of %s could not be recovered: %s", folder, err)
            continue
        store(name, version, config, entry, staged=path)
        stored += 1
    return stored


@contextlib.contextmanager
def sigint_deferred() -> Iterator[Callable[[], bool]]:
    """Within the block, Ctrl-C (SIGINT) is recorded instead of raised; yields a function that tells
    whether one arrived. Only the main thread can install signal handlers: elsewhere (a Streamlit
    script thread) the block runs as is."""
    state = {"interrupted": False}
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def record(signum, frame) -> None:
        state["interrupted"] = True

    previous = signal.signal(signal.SIGINT, record)
    try:
        yield lambda: state["interrupted"]
    finally:
        signal.signal(signal.SIGINT, previous)
