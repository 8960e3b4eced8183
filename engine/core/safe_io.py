"""Files of the cache, read and written safely.

Reading opens only regular files: never through a symbolic link (``O_NOFOLLOW``), never blocking on
a FIFO or a device (``O_NONBLOCK``, then ``fstat``), never more than a stated number of bytes. A
FIFO or a link to ``/dev/zero`` planted in place of a cache file is an error, not a hang.

Writing is all or nothing: the bytes go to a temporary file beside the target, every ``write`` is
checked (a short write is continued, a failed one raises), and the file is renamed into place. On
any failure, Ctrl-C included, the temporary file is removed and the error propagates: a failed
write is never reported as a success and leaves no partial file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import uuid
from collections.abc import Callable

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
TEMP_SUFFIX = ".tmp"


class UnsafeFile(OSError):
    """A cache file that is not a regular file, or larger than its reader allows."""


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit`` bytes, else :class:`UnsafeFile`).

    A symbolic link, FIFO, socket, device or folder raises :class:`UnsafeFile` without blocking.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as err:
        if err.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise UnsafeFile(errno.ELOOP, "a symbolic link, not a regular file", os.fspath(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(errno.EINVAL, "not a regular file", os.fspath(path))
        if info.st_size > limit:
            raise UnsafeFile(
                errno.EFBIG, f"holds {info.st_size:,} bytes (at most {limit:,})", os.fspath(path)
            )
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(limit + 1 - total, 1 << 22))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # the file grew while it was read
                raise UnsafeFile(errno.EFBIG, f"holds over {limit:,} bytes", os.fspath(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def is_regular(path: str | os.PathLike) -> bool:
    """Whether ``path`` itself (not a link's target) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def remove_odd(path: str | os.PathLike) -> bool:
    """Remove whatever is at ``path`` unless it is a regular file (a folder, a link, a FIFO planted
    where a cache file belongs). Returns whether something was removed."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISREG(mode):
        return False
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return True


def temp_name(path: str | os.PathLike) -> str:
    """A unique temporary name beside ``path`` (same folder, so the final rename is atomic)."""
    return f"{os.fspath(path)}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def write_atomic(
    path: str | os.PathLike, data: bytes, *, replace_odd: bool = False, sync: bool = False
) -> None:
    """Write ``data`` to ``path`` all or nothing (see the module docstring).

    ``replace_odd`` first removes a folder, link or FIFO found at ``path`` (a damaged cache slot);
    without it such a target makes the rename fail. ``sync`` flushes the file to disk before the
    rename (for a journal that must survive a power cut).
    """
    if replace_odd:
        remove_odd(path)

    def write(payload: bytes, filename: str) -> None:
        fd = os.open(filename, _CREATE_FLAGS, 0o644)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    write_via(write, data, path)


def write_via(write: Callable[[object, str], None], payload: object, path: str | os.PathLike) -> None:
    """``write(payload, temporary_name)``, then rename the temporary file to ``path``; on any failure
    the temporary file is removed and the error propagates."""
    tmp = temp_name(path)
    try:
        write(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
