"""Read the experiments' result frames: the bump of each run, divergence, instabilities, the table.

Pure functions ``DataFrame -> Bump / message / table`` shared by the claims, the page and the tests.
A run that diverged or spiked above its starting risk is reported as such, never as a bump.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.phenomena.double_descent.science import SCALED, Bump, bump, noise_level, spikes

#: A bump or an overfitting rise smaller than this fraction of the curve's minimum is called flat
#: in the table's "shape" column (the claims state their own margins).
_FLAT = 0.01


def diverged_runs(frame: pd.DataFrame, key: str = "schedule") -> set[str]:
    """Names (``key`` column) of the runs whose rows carry ``diverged = True``."""
    if "diverged" not in frame or not len(frame):
        return set()
    return set(frame.loc[frame["diverged"].astype(bool), key].astype(str))


LINEAR_ADVICE = (
    "A feature's step size must satisfy lr_i * s_i^2 < 2 (for the sampled data: lr_i below "
    "2 / largest eigenvalue). Lower the step size or the scaling factor."
)
NETWORK_ADVICE = "The training loss became infinite or NaN. Lower the step size or the final-layer factor."


def divergence_message(frame: pd.DataFrame, key: str = "schedule", advice: str = LINEAR_ADVICE) -> str | None:
    """A sentence naming the diverged runs of a frame (and what to do), or None when none diverged."""
    runs = sorted(diverged_runs(frame, key))
    if not runs:
        return None
    return (
        f"Gradient descent diverged for: {', '.join(runs)}. The curves stop where the risk blew up, and "
        f"the table shows no bump numbers for a diverged run. {advice}"
    )


def linear_bumps(frame: pd.DataFrame, source: str = "closed form") -> dict[str, Bump]:
    """The :class:`Bump` of the excess-risk curve of each schedule in a linear frame."""
    rows = frame[(frame["component"] == "risk") & (frame["source"] == source)]
    return {s: bump(g["t"].to_numpy(), g["value"].to_numpy()) for s, g in rows.groupby("schedule")}


def two_layer_bumps(frame: pd.DataFrame) -> dict[str, Bump]:
    """The :class:`Bump` of the L1 risk of each run of a two-layer frame."""
    out = {}
    for s, g in frame.groupby("schedule", sort=False):
        g = g.dropna(subset=["l1_risk"])
        out[s] = bump(g["step"].to_numpy(), g["l1_risk"].to_numpy())
    return out


def two_layer_spikes(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Steps (K,) per run at which the L1 risk rose above its value at step 0 (empty if none)."""
    out = {}
    for s, g in frame.sort_values("step").groupby("schedule", sort=False):
        g = g.dropna(subset=["l1_risk"])
        out[s] = spikes(g["step"].to_numpy(), g["l1_risk"].to_numpy())
    return out


def spike_message(frame: pd.DataFrame) -> str | None:
    """A warning naming the two-layer runs that rose above their starting risk, or None."""
    found = {s: steps for s, steps in two_layer_spikes(frame).items() if len(steps)}
    if not found:
        return None
    parts = []
    for s, steps in found.items():
        g = frame[(frame["schedule"] == s) & frame["step"].isin(steps)]
        top = g.loc[g["l1_risk"].idxmax()]
        parts.append(f"{s}: up to {top['l1_risk']:.1f} at step {int(top['step'])}")
    start = float(frame.loc[frame["step"] == 0, "l1_risk"].iloc[0])
    return (
        f"Unstable gradient descent: the test risk spiked above its starting value ({start:.1f}) -- "
        + "; ".join(parts)
        + ". That is a step size at the edge of stability for this width (the curvature "
        "grows with the hidden width), not a bias-variance bump, so the table shows no bump numbers for "
        "these runs, and a scaled run that spikes is not monotone. Lower the step sizes or the width."
    )


def scaled_verdict(frame: pd.DataFrame) -> str:
    """One sentence on whether the two-layer frame's scaled run is monotone (it may not be)."""
    scaled = two_layer_bumps(frame).get(SCALED)
    if scaled is None or SCALED in diverged_runs(frame) or len(two_layer_spikes(frame).get(SCALED, [])):
        return "Here the scaled run is **not** monotone: it spiked or diverged, so this setting does not show the paper's effect."
    if scaled.overfit < 0.1:
        return f"Here the scaled run is monotone (largest rise {scaled.overfit:.2f}) and ends at {scaled.final:.2f}."
    return f"Here the scaled run is **not** monotone: it rises by {scaled.overfit:.2f} after its minimum."


#: The network runs' test error is smoothed over this many evaluations (as the paper smooths 9 epochs).
SMOOTHING_WINDOW = 9
#: A bump of a noisy curve counts only above this many standard deviations of the judged curve's
#: noise: with i.i.d. noise of sd 0.02 or 0.04 on the raw test error, an overfit-only curve or a
#: hump without a first descent is then called a bump in at most 3% of draws (tests/test_double_descent.py).
NOISE_SDS = 5.0


def network_bump(frame: pd.DataFrame) -> Bump:
    """The bump of the smoothed (9-epoch) test error of one network run."""
    ok = frame.dropna(subset=["test_error_smooth"])
    return bump(ok["epoch"].to_numpy(), ok["test_error_smooth"].to_numpy())


def network_noise(frame: pd.DataFrame) -> float:
    """The noise level (sd) of a run's smoothed test error, estimated from its raw test error."""
    raw = frame.sort_values("epoch")["test_error"].to_numpy()
    return noise_level(raw, SMOOTHING_WINDOW)


def significant_height(b: Bump, noise: float) -> float:
    """The bump's height where it exceeds :data:`NOISE_SDS` noise standard deviations, else 0."""
    return b.height if b.height > NOISE_SDS * noise else 0.0


def _shape(b: Bump) -> str:
    if math.isnan(b.final):
        return "no data"
    if b.relative_height > _FLAT:
        return "down, up, down again (double descent)"
    if b.overfit > _FLAT * abs(b.minimum):
        return "down, then up (overfits; no second descent)"
    return "down only (no bump)"


def _fmt(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def bump_table(
    bumps: dict[str, Bump], diverged: set[str] = frozenset(), unstable: set[str] = frozenset()
) -> pd.DataFrame:
    """One row of text per run (for the page): its shape, early minimum, peak, rise, second descent.

    A run in ``diverged`` or ``unstable`` gets its state as its shape and no numbers: its curve
    measures the blow-up, not a bias-variance trade-off.
    """
    rows = []
    for name, b in bumps.items():
        if name in diverged or name in unstable:
            state = "diverged" if name in diverged else "unstable: spiked above its starting risk"
            rows.append({"run": name, "shape": state, **dict.fromkeys(_COLUMNS, "—")})
            continue
        shape = _shape(b)
        nan = float("nan")
        bumpy = shape.startswith("down, up")  # a rounding-level bump gets no bump numbers
        values = (b.early_min, b.early_min_at, b.peak, b.peak_at) if bumpy else (nan,) * 4
        values += (b.rise, b.second_descent) if bumpy else (0.0, 0.0)
        rows.append(
            {
                "run": name,
                "shape": shape,
                **{c: _fmt(v) for c, v in zip(_COLUMNS, values + (b.minimum, b.final))},
            }
        )
    return pd.DataFrame(rows, columns=["run", "shape", *_COLUMNS])


_COLUMNS = ("early minimum", "at", "peak", "peak at", "rise", "second descent", "minimum", "final")
