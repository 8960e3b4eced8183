"""The one function that ``joblib.Memory`` caches, kept alone in this file on purpose.

joblib invalidates a function's whole cache when its source or its first line number changes, so
this file must stay still: edits elsewhere in the engine never wipe the cache. Science changes are
keyed by each experiment's explicit version instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .compute import compute_entry


def compute_cached(
    name: str,
    version: int,
    config: dict[str, Any],
    *,
    device: str = "cpu",
    progress: Callable | None = None,
    precomputed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute one cache entry; with ``precomputed`` store that entry instead (Dask, import)."""
    if precomputed is not None:
        return precomputed
    return compute_entry(name, config, device=device, progress=progress, version=version)
