"""Shared test set-up: every test session gets its own empty cache folder (tests never read a
developer's cache/ nor write into it), and one BLAS/OpenMP thread per test process unless the
caller chose otherwise (``make test`` runs two processes on two cores)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

_SESSION_CACHE = tempfile.mkdtemp(prefix="phenomena-test-cache-")
os.environ["PHENOMENA_CACHE"] = _SESSION_CACHE
os.environ.setdefault("PHENOMENA_DATA", str(Path(_SESSION_CACHE) / "data"))
os.environ.setdefault(
    "PHENOMENA_WARM", "0"
)  # no background warm-up thread in the test processes (ui/warm.py)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder for one test (the engine's per-folder joblib handles are reset)."""
    from engine.core import cache

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "cache"))
    cache.clear_memo()
    yield tmp_path / "cache"
    cache.clear_memo()


# -- a tiny registered experiment for the engine's own tests (independent of any phenomenon) --

TOY_CALLS: list[dict] = []  # the configs labtest.toy computed, in order


def _toy_experiment():
    from dataclasses import dataclass

    import numpy as np
    import pandas as pd

    from engine.core.experiment import Cost, Experiment
    from engine.core.params import Interval, Options, Validated, param

    @dataclass(frozen=True, kw_only=True)
    class ToyConfig(Validated):
        k: int = param(2, Interval(int, 1, 1000))  # a count
        lam: float = param(1.0, Interval(float, 0.0, 100.0))  # a scale
        n: int = param(10, Interval(int, 1, 10**13))  # rows; drives the cost (8 bytes each)
        mode: str = param("ok", Options(("ok", "oom", "runtime")))  # how the compute ends

    def compute(cfg, ctx):
        TOY_CALLS.append({"k": cfg.k, "lam": cfg.lam, "n": cfg.n})
        if cfg.mode == "oom":
            raise MemoryError("Unable to allocate 30.0 GiB for an array")
        if cfg.mode == "runtime":
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB " + "x" * 5000)
        step = np.arange(cfg.n)
        return pd.DataFrame({"step": step, "k": cfg.k, "value": cfg.lam * cfg.k * np.sqrt(step + 1.0)})

    compute.calls = TOY_CALLS  # tests read toy.compute.calls
    return Experiment(
        name="labtest.toy",
        title="toy",
        config_cls=ToyConfig,
        compute=compute,
        presets={"quick": ToyConfig(), "paper": ToyConfig(n=50)},
        version=3,
        charts={"rows": len},
        estimate=lambda cfg: Cost(bytes=8.0 * cfg.n, seconds=1e-7 * cfg.n, drivers=("n",)),
    )


@pytest.fixture
def toy(fresh_cache, monkeypatch):
    """``labtest.toy`` registered for one test, in a fresh cache; yields the Experiment (the configs it
    computed are in ``toy.compute.calls``)."""
    from engine.core import registry

    TOY_CALLS.clear()
    with registry.registered(_toy_experiment()) as exp:
        yield exp
    TOY_CALLS.clear()
