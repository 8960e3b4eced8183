"""Check a result by recomputing it: which entries are cheap enough to recompute (quick scale), and
whether two frames agree within tolerance. Used by ``python -m engine import B --verify N``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.experiment import config_from_dict
from engine.core.registry import get_experiment
from engine.core.runner import canonical_values
from engine.core.validation import short_repr

RTOL, ATOL = 1e-4, 1e-6  # --verify tolerance on numeric columns


def is_quick_scale(experiment: str, config: dict) -> bool:
    """Quick scale: one of the quick preset's grid configs, or estimated under 30 s."""
    exp = get_experiment(experiment)
    if "quick" in exp.presets and config in [canonical_values(c) for c in exp.grid("quick")]:
        return True
    if exp.estimate is None:
        return False
    try:
        return float(exp.estimate(config_from_dict(exp.config_cls, config)).seconds) <= 30.0
    except Exception:
        return False


def frames_differ(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """'' if two frames agree (numeric columns within RTOL/ATOL, others exactly), else why not."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"shape {a.shape} vs {b.shape} or other columns"
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xa, ya = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
            if not np.allclose(xa, ya, rtol=RTOL, atol=ATOL, equal_nan=True):
                gap = np.nanmax(np.abs(xa - ya)) if len(xa) else 0.0
                return f"column {short_repr(col, 40)} differs by up to {gap:.3g}"
        elif not x.astype(str).equals(y.astype(str)):
            return f"column {short_repr(col, 40)} differs"
    return ""
