"""Precompute a preset's grid of configs: resumable, in parallel (loky locally, Dask on a cluster).

Workers compute entries without touching any cache; the driver stores each finished entry in its
own cache as it arrives. So results land in the driver's cache even when workers do not share its
file system, and an interrupted sweep keeps everything finished before the interruption.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import joblib

from engine.core import cache
from engine.core.experiment import config_from_dict
from engine.core.runner import canonical_values, check_cost, compute_entry, get_experiment
from engine.core.validation import ConfigError, short_repr

BACKENDS = ("loky", "threading", "sequential", "dask")
CONNECT_TIMEOUT_S = 5  # an unreachable Dask scheduler is reported after this long


@dataclass
class SweepSummary:
    """What a precompute did: cache hits, newly computed entries and failures (with reasons)."""

    hits: int = 0
    computed: int = 0
    failures: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.hits} cached already, {self.computed} computed, {len(self.failures)} failed"


def _work(name: str, config: dict[str, Any], device: str) -> tuple[dict[str, Any], dict | None, str | None]:
    """Run on a worker: compute one entry; never raises (failures travel back as text)."""
    try:
        return config, compute_entry(name, config, device=device), None
    except Exception as err:  # reported in the summary, the sweep goes on
        text = " ".join(str(err).split())
        return config, None, f"{type(err).__name__}: {text if len(text) <= 200 else text[:197] + '...'}"


def precompute(
    name: str,
    preset: str,
    *,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    device: str = "cpu",
    on_result: Callable[[int, int], None] | None = None,
    configs: list | None = None,
) -> SweepSummary:
    """Fill the cache with every config of ``name``'s ``preset`` grid (or of ``configs``) that is
    not there yet.

    ``on_result(done, total)`` is called after each finished config (for a progress bar).
    ``backend="dask"`` needs ``scheduler`` (``tcp://host:8786``) or a running ``distributed.Client``.
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"The 'backend' parameter must be one of {', '.join(map(repr, BACKENDS))}. Got {backend!r} instead."
        )
    exp = get_experiment(name)
    configs = [canonical_values(c) for c in (exp.grid(preset) if configs is None else configs)]
    summary = SweepSummary()
    todo = []
    for config in configs:
        if cache.is_cached(name, exp.version, config):
            summary.hits += 1
            continue
        try:
            check_cost(exp, config_from_dict(exp.config_cls, config))
        except ConfigError as err:  # too big for this machine: reported, never started
            summary.failures.append((config, f"refused: {err}"))
            continue
        todo.append(config)
    done = summary.hits + len(summary.failures)
    if on_result:
        on_result(done, len(configs))
    if not todo:
        return summary
    client = None
    if backend == "dask":
        client = _dask_client(scheduler)
    try:
        n_jobs = 1 if backend == "sequential" else (-1 if backend == "dask" else jobs)
        # parallel_config (not Parallel(backend=...)) is what registers joblib's dask backend.
        with joblib.parallel_config(
            backend="threading" if backend == "sequential" else backend, n_jobs=n_jobs
        ):
            results = joblib.Parallel(return_as="generator_unordered")(
                joblib.delayed(_work)(name, c, device) for c in todo
            )
            for config, entry, error in results:
                if error is None:
                    cache.store(name, exp.version, config, entry)
                    summary.computed += 1
                else:
                    summary.failures.append((config, error))
                done += 1
                if on_result:
                    on_result(done, len(configs))
    finally:
        if client is not None and scheduler is not None:
            client.close()
    return summary


def _dask_client(scheduler: str | None):
    """Register joblib's dask backend and return a client (connected to ``scheduler`` if given)."""
    from distributed import Client, get_client

    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            raise ValueError(
                f"could not reach the Dask scheduler at {short_repr(scheduler)} within {CONNECT_TIMEOUT_S} s "
                f"({type(err).__name__}); is `dask scheduler` running there?"
            ) from None
    try:
        return get_client()
    except ValueError:
        raise ValueError(
            "The 'scheduler' parameter is required with --backend dask (e.g. tcp://HOST:8786), "
            "unless a distributed.Client is already running in this process."
        ) from None
