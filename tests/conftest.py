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


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder for one test (the engine's per-folder joblib handles are reset)."""
    from engine.core import cache

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "cache"))
    cache._FUNCS.clear()
    yield tmp_path / "cache"
    cache._FUNCS.clear()
