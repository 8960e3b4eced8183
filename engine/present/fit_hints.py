"""The size factors that fitted each figure, kept in the cache folder between processes.

A file or slide figure is fitted by measuring Vega layouts (:func:`engine.present.figure_layout.fit`,
0.1-0.25 s each, 2-5 of them). The factors found are remembered here under the digest of the spec and
its target, in ``<cache>/figure-fits.json``; the next export of the same figure tries them first
and confirms them with one measurement. The file is a hint, never trusted: it is read as a regular
file of at most 1 MiB, and each value must be a pair of finite factors in [0.05, 20] (what
:func:`~engine.present.figure_layout.fit` can produce); anything else is ignored, so a damaged or
planted file costs at most a normal fit. Writes are atomic; a read-only cache keeps no hints.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

from engine.core import cache
from engine.core.safe_io import read_regular, write_atomic

FILE = "figure-fits.json"
MAX_BYTES = 2**20
MAX_HINTS = 4000  # about 100 bytes each
_lock = threading.Lock()


def _path() -> Path:
    return cache.cache_dir() / FILE


def _valid(value) -> tuple[float, float] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(type(v) in (int, float) and math.isfinite(v) and 0.05 <= v <= 20 for v in value)
    ):
        return float(value[0]), float(value[1])
    return None


def _load() -> dict:
    try:
        data = json.loads(read_regular(_path(), MAX_BYTES))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(key: str) -> tuple[float, float] | None:
    """The factors that fitted the spec with digest ``key`` before, or None."""
    return _valid(_load().get(key))


def remember(key: str, factors) -> None:
    """Keep ``factors`` for ``key`` (the oldest hints make room past MAX_HINTS); never raises."""
    if _valid(factors) is None:
        return
    with _lock:
        hints = {k: v for k, v in _load().items() if isinstance(k, str) and _valid(v) is not None}
        if hints.get(key) == list(factors):
            return
        hints.pop(key, None)
        hints[key] = [float(factors[0]), float(factors[1])]
        while len(hints) > MAX_HINTS:
            hints.pop(next(iter(hints)))
        try:
            if _path().parent.is_dir():  # the cache exists (a figure of cached results): no folder made
                write_atomic(_path(), json.dumps(hints).encode())
        except OSError:
            pass
