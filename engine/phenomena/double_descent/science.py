"""Epoch-wise double descent, the numpy part (Heckel & Yilmaz, ICLR 2021): what a notebook imports.

The test risk of gradient descent over training time is a *sum* of bias-variance trade-offs, one
per feature (linear model) or per layer (networks), each learned on its own time scale
``1 / (lr_i s_i^2)``.  When the time scales differ, the fast part's variance is already growing
while the slow part's bias is still falling: the sum shows a bump.  Step sizes ``lr_i`` proportional
to ``1 / s_i^2`` align the time scales and the bump vanishes.

    from engine.phenomena.double_descent.science import linear_risk, two_group_model, bump
    model = two_group_model(scale_ratio=20.0)
    curves = linear_risk(t, model.feature_std, model.theta, 1.0, 100, model.lr(scaled=False))
    bump(t, curves.excess).height

Contents: the linear model's closed-form risk and sampled full-batch GD, the two-group model, the
shape of a risk curve (:class:`Bump`, :func:`bump`, :func:`spikes`), and min-norm random-features
regression (model-wise double descent).  The torch parts live in :mod:`.science_network`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.core.params import Interval, Tuple, check_arg

#: Above this excess risk a run counts as diverged (the closed form would overflow to inf).
DIVERGENCE_CAP = 1e6
#: The two step-size schedules every experiment compares (labels in frames, charts and tables).
SAME, SCALED = "same step size", "scaled step sizes"

_POSITIVE = Interval(float, 0.0, None, closed="neither")
_FINITE = Interval(float)


# ---------------------------------------------------------------------------------------------
# Linear model: closed form (the paper's R(t)) and sampled full-batch gradient descent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskCurves:
    """Expected risk of GD on linear regression over time.

    ``t`` (T,) steps; ``bias`` and ``variance`` (T, d) per feature; ``risk`` (T,) =
    ``noise_std^2 + sum_i (bias_i + variance_i)`` (squared-error units).  Entries are ``inf`` once
    a diverging feature (``|1 - lr_i s_i^2| > 1``) overflows.
    """

    t: np.ndarray
    bias: np.ndarray
    variance: np.ndarray
    risk: np.ndarray
    noise_std: float

    @property
    def excess(self) -> np.ndarray:
        """Risk minus the irreducible noise, (T,)."""
        return self.risk - self.noise_std**2


def _floats(value: Any) -> Any:
    """``value`` as a float64 array where it is numeric, else unchanged (check_arg then refuses it)."""
    if isinstance(value, (str, bytes)):
        return value
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return value


def _vector(where: str, name: str, value: Any, d: int, item=_FINITE) -> np.ndarray:
    """A float64 vector (d,) from a scalar or a length-d sequence, each entry checked by ``item``."""
    arr = _floats(value)
    if isinstance(arr, np.ndarray) and arr.ndim == 0:
        return np.full(d, check_arg(where, name, float(arr), item))
    items = arr.ravel().tolist() if isinstance(arr, np.ndarray) else arr
    return np.asarray(check_arg(where, name, items, Tuple(item, min_len=d, max_len=d)), dtype=np.float64)


def _check_linear_inputs(where: str, feature_std, theta, noise_std, n, lr) -> tuple[np.ndarray, ...]:
    s = _floats(feature_std)
    s = s.ravel().tolist() if isinstance(s, np.ndarray) else s
    s = np.asarray(check_arg(where, "feature_std", s, Tuple(_POSITIVE, min_len=1)), dtype=np.float64)
    theta = _vector(where, "theta", theta, s.size)
    lr = _vector(where, "lr", lr, s.size, _POSITIVE)
    check_arg(where, "noise_std", noise_std, Interval(float, 0.0, None))
    check_arg(where, "n", n, Interval(int, 1, None))
    return s, theta, lr


def diverging_features(feature_std: Sequence[float], lr: float | Sequence[float]) -> np.ndarray:
    """Boolean mask (d,) of features whose GD factor ``|1 - lr_i s_i^2|`` exceeds 1."""
    s = np.asarray(feature_std, dtype=np.float64)
    return np.abs(1.0 - _vector("diverging_features", "lr", lr, s.size, _POSITIVE) * s**2) > 1.0


def linear_risk(
    t: Sequence[float] | np.ndarray,
    feature_std: Sequence[float],
    theta: Sequence[float],
    noise_std: float,
    n: int,
    lr: float | Sequence[float],
) -> RiskCurves:
    """The paper's expected risk of GD from zero on linear regression, vectorised over ``t``.

    Model: x ~ N(0, diag(feature_std^2)) (d features), y = <x, theta> + z, z ~ N(0, noise_std^2),
    n training samples, loss ``|y - X w|^2 / (2n)``, step size ``lr`` (scalar or per feature).
    With ``q_i = 1 - lr_i s_i^2``::

        R(t) = noise^2 + sum_i [ s_i^2 theta_i^2 q_i^(2t)  +  (noise^2 / n) (1 - q_i^t)^2 ]
                                  bias_i(t)                     variance_i(t)

    (the population-covariance approximation; exact for d/n -> 0).  Limits: R(0) = noise^2 +
    sum s_i^2 theta_i^2 and, for 0 < lr_i s_i^2 < 2, R(inf) = noise^2 (1 + d/n).
    """
    s, theta, lr = _check_linear_inputs("linear_risk", feature_std, theta, noise_std, n, lr)
    t = _floats(t)
    t = np.asarray(
        check_arg(
            "linear_risk",
            "t",
            t.ravel().tolist() if isinstance(t, np.ndarray) else t,
            Tuple(Interval(float, 0.0, None), min_len=1),
        ),
        dtype=np.float64,
    )
    q = 1.0 - lr * s**2
    with np.errstate(over="ignore", invalid="ignore"):
        qt = np.power(q[None, :], t[:, None])  # (T, d); q < 0 with integer t oscillates
        bias = (s**2 * theta**2)[None, :] * qt**2
        variance = (noise_std**2 / n) * (1.0 - qt) ** 2
        risk = noise_std**2 + bias.sum(axis=1) + variance.sum(axis=1)
    return RiskCurves(t=t, bias=bias, variance=variance, risk=risk, noise_std=float(noise_std))


def gd_iterates(X: np.ndarray, y: np.ndarray, lr: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GD from zero on ``|y - X w|^2 / (2n)`` with per-feature steps, at the times ``t``.

    Shapes: X (S, n, d), y (S, n), lr (d,), t (T,).  Returns (w (S, T, d), eigenvalues (S, d))
    of the preconditioned Gram matrix ``M = D^1/2 X^T X D^1/2 / n``.  The iteration
    ``w <- w - D (X^T X w - X^T y) / n`` is solved exactly in M's eigenbasis:
    ``u_t = sum_k (1 - (1 - lam_k)^t) / lam_k  v_k v_k^T D^1/2 X^T y / n`` with ``w = D^1/2 u``
    (and ``t`` in place of the fraction when ``lam_k = 0``), so any ``t`` costs the same.
    """
    n = X.shape[1]
    root = np.sqrt(lr)
    Xr = X * root  # X D^1/2, (S, n, d)
    lam, V = np.linalg.eigh(np.matmul(Xr.transpose(0, 2, 1), Xr) / n)
    c = np.matmul(y[:, None, :], Xr)[:, 0, :] / n  # D^1/2 X^T y / n, (S, d)
    coeff = np.matmul(c[:, None, :], V)[:, 0, :]  # c in the eigenbasis, (S, d)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        decay = np.power((1.0 - lam)[:, None, :], t[None, :, None])  # (S, T, d)
        small = np.abs(lam) < 1e-12
        gain = np.where(
            small[:, None, :], t[None, :, None], (1.0 - decay) / np.where(small, 1.0, lam)[:, None, :]
        )
        u = np.matmul(gain * coeff[:, None, :], V.transpose(0, 2, 1))  # (S, T, d)
        return u * root, lam


def simulate_linear_gd(
    t: Sequence[float] | np.ndarray,
    feature_std: Sequence[float],
    theta: Sequence[float],
    noise_std: float,
    n: int,
    lr: float | Sequence[float],
    *,
    seeds: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``seeds`` training sets and run full-batch GD from zero on each; exact test risk.

    Same model and loss as :func:`linear_risk`.  Returns ``(risk (seeds, T), diverged (seeds,))``
    where the test risk is the population value ``noise^2 + (w_t - theta)^T diag(s^2) (w_t - theta)``
    and ``diverged`` marks draws whose step size exceeds ``2 / lambda_max`` of the sampled
    (preconditioned) covariance -- their risk grows without bound and may be ``inf``.
    """
    s, theta, lr = _check_linear_inputs("simulate_linear_gd", feature_std, theta, noise_std, n, lr)
    seeds = check_arg("simulate_linear_gd", "seeds", seeds, Interval(int, 1, None))
    seed = check_arg("simulate_linear_gd", "seed", seed, Interval(int, 0, 2**32 - 1))
    t = np.asarray(t, dtype=np.float64)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((seeds, int(n), s.size)) * s
    y = X @ theta + noise_std * rng.standard_normal((seeds, int(n)))
    w, lam = gd_iterates(X, y, lr, t)
    with np.errstate(over="ignore", invalid="ignore"):
        risk = noise_std**2 + ((w - theta) ** 2) @ s**2
    risk = np.where(np.isnan(risk), np.inf, risk)
    return risk, lam.max(axis=1) > 2.0


@dataclass(frozen=True)
class TwoGroupModel:
    """Two groups of features: ``d_fast`` of std 1 and ``d_slow`` of std ``1 / scale_ratio``.

    ``theta`` is chosen so that each group explains a given share of Var(<x, theta>):
    ``sum_group s_i^2 theta_i^2 = signal_group``.
    """

    feature_std: np.ndarray  # (d,)
    theta: np.ndarray  # (d,)
    slow: np.ndarray  # (d,) bool, True for the slow group
    base_lr: float
    lr_factor: float  # the slow group's step size is base_lr * lr_factor when scaled

    def lr(self, scaled: bool) -> np.ndarray:
        """Per-feature step sizes (d,): one step size, or the slow group's multiplied by lr_factor."""
        factor = np.where(self.slow, self.lr_factor if scaled else 1.0, 1.0)
        return self.base_lr * factor


def two_group_model(
    *,
    d_fast: int = 20,
    d_slow: int = 5,
    scale_ratio: float = 20.0,
    signal_fast: float = 0.2,
    signal_slow: float = 0.4,
    lr: float = 0.1,
    lr_factor: float = 0.0,
) -> TwoGroupModel:
    """The quick linear model.  ``lr_factor = 0`` means 'equalise the time scales' (scale_ratio^2)."""
    where = "two_group_model"
    d_fast = check_arg(where, "d_fast", d_fast, Interval(int, 1, None))
    d_slow = check_arg(where, "d_slow", d_slow, Interval(int, 1, None))
    scale_ratio = check_arg(where, "scale_ratio", scale_ratio, _POSITIVE)
    check_arg(where, "lr_factor", lr_factor, Interval(float, 0.0, None))
    s = np.r_[np.ones(d_fast), np.full(d_slow, 1.0 / scale_ratio)]
    slow = np.r_[np.zeros(d_fast, bool), np.ones(d_slow, bool)]
    per_feature = np.where(slow, signal_slow / d_slow, signal_fast / d_fast)
    theta = np.sqrt(per_feature) / s
    factor = scale_ratio**2 if lr_factor == 0 else lr_factor
    return TwoGroupModel(feature_std=s, theta=theta, slow=slow, base_lr=lr, lr_factor=float(factor))


# ---------------------------------------------------------------------------------------------
# The shape of a risk curve: a double-descent bump needs a rise AND a second descent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bump:
    """Shape of a risk curve over time (values in the curve's units, times in its time units).

    A double-descent bump is a first descent (from the highest point before it down to an early
    minimum), a rise (from the early minimum up to a peak) and a second descent (from the peak down
    to the lowest point after it); of all peaks, the one whose smallest of the three -- its
    ``height`` -- is largest.  A curve without such a peak (monotone, one minimum and then a rise:
    plain overfitting, or a hump that never descended first) has no bump: ``early_min``, ``peak``
    and their times are NaN and ``first_descent = rise = second_descent = height = 0``.
    ``overfit`` is the largest rise above the lowest point so far, bump or not; ``minimum`` and
    ``final`` describe the whole curve.
    """

    early_min: float
    early_min_at: float
    peak: float
    peak_at: float
    rise: float
    second_descent: float
    final: float
    minimum: float
    minimum_at: float
    overfit: float
    first_descent: float = 0.0

    @property
    def has_bump(self) -> bool:
        return self.height > 0

    @property
    def height(self) -> float:
        """min(first descent, rise, second descent): how far the curve goes down, up AND down again
        (0 without a bump)."""
        return min(self.first_descent, self.rise, self.second_descent)

    @property
    def relative_height(self) -> float:
        """``height / early_min`` (0 without a bump; NaN for an empty curve)."""
        if math.isnan(self.final):
            return float("nan")
        return self.height / self.early_min if self.has_bump else 0.0

    def is_double_descent(self, margin: float, relative: bool = False) -> bool:
        """Rise and second descent both exceed ``margin`` (times the early minimum if ``relative``)."""
        return (self.relative_height if relative else self.height) > margin


def bump(t: np.ndarray, curve: np.ndarray) -> Bump:
    """Measure the epoch-wise bump of ``curve`` (T,) over times ``t`` (T,); non-finite values are
    dropped first.  An empty curve gives NaN everywhere."""
    t = np.asarray(t, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    keep = np.isfinite(curve)
    t, curve = t[keep], curve[keep]
    nan = float("nan")
    if curve.size == 0:
        return Bump(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    running_min = np.minimum.accumulate(curve)
    rise = curve - running_min  # above the lowest point so far
    fall = curve - np.minimum.accumulate(curve[::-1])[::-1]  # above the lowest point still to come
    steps = np.arange(curve.size)
    early = np.maximum.accumulate(np.where(curve == running_min, steps, 0))  # where the lowest so far is
    first = np.maximum.accumulate(curve)[early] - curve[early]  # the descent into it
    score = np.minimum(np.minimum(rise, fall), first)
    k = int(np.argmin(curve))
    common = dict(
        final=float(curve[-1]), minimum=float(curve[k]), minimum_at=float(t[k]), overfit=float(rise.max())
    )
    if not score.max() > 0:
        return Bump(
            early_min=nan, early_min_at=nan, peak=nan, peak_at=nan, rise=0.0, second_descent=0.0, **common
        )
    j = int(np.argmax(score))
    i = int(early[j])
    return Bump(
        early_min=float(curve[i]),
        early_min_at=float(t[i]),
        peak=float(curve[j]),
        peak_at=float(t[j]),
        rise=float(rise[j]),
        second_descent=float(fall[j]),
        first_descent=float(first[j]),
        **common,
    )


def noise_level(curve: np.ndarray, window: int = 1) -> float:
    """A robust estimate of the standard deviation of independent noise on a smooth curve (T,),
    as judged after a centred ``window``-point moving average (:func:`smooth`): the median absolute
    deviation of second differences / sqrt(6) for one point, divided by sqrt(window).

    Trends and curvature barely move second differences, so a bump is not mistaken for noise.
    Non-finite values are dropped; fewer than 5 points give 0."""
    window = check_arg("noise_level", "window", window, Interval(int, 1, None))
    curve = np.asarray(curve, dtype=np.float64)
    curve = curve[np.isfinite(curve)]
    if curve.size < 5:
        return 0.0
    second = curve[2:] - 2 * curve[1:-1] + curve[:-2]
    mad = 1.4826 * float(np.median(np.abs(second - np.median(second))))
    return mad / math.sqrt(6.0) / math.sqrt(window)


def spikes(t: np.ndarray, curve: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """Times (K,) at which ``curve`` (T,) exceeds ``factor`` times its starting value.

    Gradient descent from a small init starts at the untrained model's risk; a later value above
    it is an optimisation instability (a step size at the edge of stability), not a bias-variance
    bump.  Non-finite values count as spikes.
    """
    factor = check_arg("spikes", "factor", factor, _POSITIVE)
    t, curve = np.asarray(t, dtype=np.float64), np.asarray(curve, dtype=np.float64)
    if curve.size == 0:
        return t[:0]
    bad = ~np.isfinite(curve) | (curve > factor * curve[0])
    return t[bad]


def log_time_grid(t_max: int, points: int) -> np.ndarray:
    """Integer steps 0, 1, ... log-spaced up to ``t_max`` (unique, sorted), float64."""
    t_max = check_arg("log_time_grid", "t_max", t_max, Interval(int, 1, None))
    points = check_arg("log_time_grid", "points", points, Interval(int, 1, None))
    grid = np.unique(np.round(np.geomspace(1, t_max, points)))
    return np.r_[0.0, grid]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` points (shrinking at the ends), NaN-aware; (T,) -> (T,)."""
    window = check_arg("smooth", "window", window, Interval(int, 1, None))
    return pd.Series(values, dtype=np.float64).rolling(window, center=True, min_periods=1).mean().to_numpy()


# ---------------------------------------------------------------------------------------------
# Model-wise double descent: min-norm random-features regression
# ---------------------------------------------------------------------------------------------


def random_features_risk(
    widths: Sequence[int],
    *,
    n: int,
    d: int,
    noise_std: float,
    n_test: int = 1000,
    seeds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Test MSE of min-norm least squares on p = width ReLU random features, (seeds, len(widths)).

    Data: x ~ N(0, I_d / d), y = <x, beta> + noise with |beta| = 1; features relu(W x) with
    W ~ N(0, 1) entries; the fit is the minimum-norm solution (``lstsq``), which interpolates for
    width >= n -- the test error peaks at width = n (the interpolation threshold).  The MSE
    includes the label noise ``noise_std^2`` of a fresh test label.
    """
    where = "random_features_risk"
    widths = check_arg(where, "widths", list(widths), Tuple(Interval(int, 1, None)))
    n, d = check_arg(where, "n", n, Interval(int, 1, None)), check_arg(where, "d", d, Interval(int, 1, None))
    check_arg(where, "noise_std", noise_std, Interval(float, 0.0, None))
    n_test = check_arg(where, "n_test", n_test, Interval(int, 1, None))
    seeds = check_arg(where, "seeds", seeds, Interval(int, 1, None))
    rng = np.random.default_rng(seed)
    out = np.empty((seeds, len(widths)))
    for s in range(seeds):
        beta = rng.standard_normal(d)
        beta /= np.linalg.norm(beta)
        X = rng.standard_normal((n, d)) / math.sqrt(d)
        Xt = rng.standard_normal((n_test, d)) / math.sqrt(d)
        y = X @ beta + noise_std * rng.standard_normal(n)
        yt = Xt @ beta
        W_all = rng.standard_normal((max(widths), d))
        for j, p in enumerate(widths):
            W = W_all[:p]
            coef = np.linalg.lstsq(np.maximum(X @ W.T, 0.0), y, rcond=None)[0]
            out[s, j] = np.mean((np.maximum(Xt @ W.T, 0.0) @ coef - yt) ** 2) + noise_std**2
    return out
