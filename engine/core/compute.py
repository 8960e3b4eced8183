"""Compute one cache entry without touching the cache (what the cached function, a loky or a Dask
worker runs)."""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from .entries import entry_key, make_entry
from .experiment import Progress, RunContext, config_from_dict
from .fingerprint import META_FIELD, experiment_fingerprint
from .registry import get_experiment


def compute_entry(
    name: str,
    config: dict[str, Any],
    *,
    device: str | Callable[[], str] = "cpu",
    progress: Progress | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """Compute one entry without the cache (what a Dask or loky worker runs).

    ``device``: a device string, or a function choosing one when the computation first asks
    (:class:`RunContext`); the entry records the device the computation used.

    With ``version`` the entry is bound to its key (experiment, version, config); without, it is
    left unbound and :func:`engine.core.cache.store` binds it.
    """
    exp = get_experiment(name)
    cfg = config_from_dict(exp.config_cls, config)
    source = experiment_fingerprint(name)  # taken before: an edit during the run is not claimed
    start = time.perf_counter()
    ctx = RunContext(device=device, progress=progress)
    frame = exp.compute(cfg, ctx)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name}.compute returned {type(frame).__name__}, not a DataFrame")
    meta = {
        "seconds": round(time.perf_counter() - start, 4),
        "device": ctx.device_used,
        "torch": _package_version("torch"),
        "python": platform.python_version(),
        "host": platform.node(),
        "computed_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": exp.version,
        META_FIELD: source,  # which code computed it (engine.core.fingerprint)
    }
    key = None if version is None else entry_key(name, version, config)
    return make_entry(frame.reset_index(drop=True), meta, key=key)


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"
