"""Randomized smoothing, the readouts: certified accuracy and radius from certification rows
(numpy/pandas only, so the claims and the scoreboard read results without torch).

Rows are :func:`engine.phenomena.smoothing.science.certify_dataset` rows, or a frame with
``correct`` (bool) and ``radius`` (input units; 0 for an abstention) columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from engine.core.validation import ConfigError


def certified_accuracy(rows: Iterable[dict] | pd.DataFrame, radii: Iterable[float]) -> np.ndarray:
    """Fraction of inputs classified correctly with certified radius >= r, for each r in ``radii``.

    ``rows`` are :func:`certify_dataset` rows (or a frame with ``correct`` and ``radius``
    columns); an abstention (prediction -1, radius 0) counts as wrong. Shape (len(radii),).
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if frame.empty:
        raise ConfigError("The 'rows' parameter of certified_accuracy must hold at least one row. Got none.")
    correct = frame["correct"].to_numpy(dtype=bool)
    radius = frame["radius"].to_numpy(dtype=np.float64)
    r = np.asarray(list(radii), dtype=np.float64)
    return (correct[None, :] & (radius[None, :] >= r[:, None])).mean(axis=1)


def average_certified_radius(rows: pd.DataFrame) -> float:
    """Mean certified radius with wrong or abstained inputs counted as 0 (the area under the curve)."""
    return float(
        np.where(rows["correct"].to_numpy(dtype=bool), rows["radius"].to_numpy(np.float64), 0.0).mean()
    )


def accuracy_curves(frame: pd.DataFrame, radii: Iterable[float] | None = None) -> pd.DataFrame:
    """Certified accuracy against radius per sigma: columns sigma, radius, certified_accuracy, cap.

    ``frame`` holds certify rows with columns sigma, correct, radius, cap. Default radii: 0 to 1.1
    times the largest cap in 60 steps, plus the quarter steps 0, 0.25, ..., 1.5 (the paper's table)."""
    if radii is None:
        top = float(frame["cap"].max()) * 1.1
        radii = np.union1d(np.linspace(0.0, top, 61), np.arange(0.0, 1.51, 0.25))
    radii = np.asarray(list(radii), dtype=np.float64)
    parts = []
    for sigma, rows in frame.groupby("sigma", sort=True):
        parts.append(
            pd.DataFrame(
                {
                    "sigma": float(sigma),
                    "radius": radii,
                    "certified_accuracy": certified_accuracy(rows, radii),
                    "cap": float(rows["cap"].iloc[0]),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
