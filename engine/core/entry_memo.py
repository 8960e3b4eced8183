"""Entries this process has read or written, remembered by the identity of their file.

Reading a cached result costs its Parquet decoding, the decoded-size checks and the digest over
the whole frame (2-5 ms for a quick result, more for a big one); the home page's scoreboard reads
about 140 of them after every import, a page view reads its own each time. An entry is remembered
with its file's identity (device, inode, size, modification and change times in ns): a file
rewritten in any way (the cache writes by rename: a new inode; an edit in place: a new change
time, which no user can set) no longer matches, and is read and checked again. Only entries that
passed the checks for their slot are remembered, and callers copy the frame before handing it on
(:func:`engine.core.runner._with_provenance`). Bounded in entries and in the frames' bytes.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict
from typing import Any

MAX_ENTRIES = 1024
MAX_BYTES = 256 * 2**20  # the frames' memory, counted as 8 bytes a cell

_lock = threading.Lock()
_entries: OrderedDict[tuple[str, str], tuple[tuple, int, dict[str, Any]]] = OrderedDict()
_bytes = 0


def identity(path: str | os.PathLike) -> tuple | None:
    """The identity of the regular file at ``path`` (None for anything else or nothing)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def recall(path: str | os.PathLike, key: str, seen: tuple | None) -> dict[str, Any] | None:
    """The entry remembered for ``path`` and slot ``key`` if the file's identity is still ``seen``."""
    if seen is None:
        return None
    with _lock:
        held = _entries.get((os.fspath(path), key))
        if held is None or held[0] != seen:
            return None
        _entries.move_to_end((os.fspath(path), key))
        return dict(held[2])


def remember(path: str | os.PathLike, key: str, seen: tuple | None, entry: dict[str, Any]) -> None:
    """Remember a checked ``entry`` of slot ``key`` read from (or written to) ``path`` as it was
    when its identity was ``seen`` (taken before the read, after the write)."""
    global _bytes
    if seen is None:
        return
    frame = entry["frame"]
    size = 8 * len(frame) * max(1, frame.shape[1])  # about; pandas' own count of text columns is slow
    if size > MAX_BYTES // 4:
        return
    slot = (os.fspath(path), key)
    with _lock:
        old = _entries.pop(slot, None)
        if old is not None:
            _bytes -= old[1]
        _entries[slot] = (seen, size, dict(entry))
        _bytes += size
        while len(_entries) > MAX_ENTRIES or _bytes > MAX_BYTES:
            _, (_, dropped, _) = _entries.popitem(last=False)
            _bytes -= dropped


def forget_all() -> None:
    """Forget every entry (the cache was cleared, or moved)."""
    global _bytes
    with _lock:
        _entries.clear()
        _bytes = 0
