"""Epoch-wise double descent and how per-layer step sizes remove it (Heckel & Yilmaz, ICLR 2021).

The paper's claim: the test risk of gradient descent over training time is a *sum* of
bias-variance trade-offs, one per feature (linear model) or per layer (networks), each learned on
its own time scale ``1 / (lr_i s_i^2)``.  When the time scales differ, the fast part's trade-off
has already turned up (variance growing) while the slow part's bias is still falling: the sum
shows a bump -- epoch-wise double descent.  Step sizes ``lr_i`` proportional to ``1 / s_i^2``
align the time scales, the bump vanishes, and the early-stopped risk is often lower.

Notebook use::

    from engine.phenomena.double_descent.experiments import linear_risk, simulate_linear_gd, two_group_model
    model = two_group_model(scale_ratio=20.0)
    curves = linear_risk(t, model.feature_std, model.theta, 1.0, 100, model.lr(scaled=False))

Sections: the linear model (closed form + sampled GD), the two-layer network of the paper's
Fig. 3, the 5-layer CNN (quick: digits; paper: CIFAR-10 with checkpoint/resume), model-wise
double descent (width sweeps), then the registered experiments and their claims.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from engine.core import cache
from engine.core.devices import torch_threads
from engine.core.experiment import Claim, Experiment, RunContext, config_to_dict
from engine.core.validation import (
    ConfigError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_int_tuple,
)

#: Above this excess risk a run counts as diverged (the closed form would overflow to inf).
DIVERGENCE_CAP = 1e6


# ---------------------------------------------------------------------------------------------
# Linear model: closed form (the paper's Eq. for R(t)) and sampled full-batch gradient descent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskCurves:
    """Expected risk of GD on linear regression over time.

    ``t`` (T,) steps; ``bias`` and ``variance`` (T, d) per feature; ``risk`` (T,) =
    ``noise_std^2 + sum_i (bias_i + variance_i)``.  Entries are ``inf`` once a diverging feature
    (``|1 - lr_i s_i^2| > 1``) overflows.
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


def _as_vector(value: Any, d: int, name: str) -> np.ndarray:
    """A float64 vector of length d from a scalar or a length-d sequence."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(d, float(arr))
    if arr.shape != (d,):
        raise ConfigError(f"The '{name}' parameter must be a scalar or have shape ({d},). Got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"The '{name}' parameter must be finite. Got {arr.tolist()} instead.")
    return arr


def _check_linear_inputs(feature_std, theta, noise_std, n, lr) -> tuple[np.ndarray, ...]:
    s = np.asarray(feature_std, dtype=np.float64).ravel()
    if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ConfigError(f"The 'feature_std' parameter must be a non-empty vector of positive floats. Got {s.tolist()}.")
    theta = _as_vector(theta, s.size, "theta")
    lr = _as_vector(lr, s.size, "lr")
    if np.any(lr <= 0):
        raise ConfigError(f"The 'lr' parameter must be positive. Got {lr.tolist()} instead.")
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ConfigError(f"The 'noise_std' parameter must be a float in [0, inf). Got {noise_std!r} instead.")
    if int(n) != n or n <= 0:
        raise ConfigError(f"The 'n' parameter must be an int in [1, inf). Got {n!r} instead.")
    return s, theta, lr


def diverging_features(feature_std: Sequence[float], lr: float | Sequence[float]) -> np.ndarray:
    """Boolean mask (d,) of features whose GD factor ``|1 - lr_i s_i^2|`` exceeds 1."""
    s = np.asarray(feature_std, dtype=np.float64)
    return np.abs(1.0 - _as_vector(lr, s.size, "lr") * s**2) > 1.0


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
    s, theta, lr = _check_linear_inputs(feature_std, theta, noise_std, n, lr)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ConfigError("The 't' parameter must be a 1-d array of finite times >= 0.")
    q = 1.0 - lr * s**2
    with np.errstate(over="ignore", invalid="ignore"):
        qt = np.power(q[None, :], t[:, None])  # (T, d); q<0 with integer t oscillates
        bias = (s**2 * theta**2)[None, :] * qt**2
        variance = (noise_std**2 / n) * (1.0 - qt) ** 2
        risk = noise_std**2 + bias.sum(axis=1) + variance.sum(axis=1)
    return RiskCurves(t=t, bias=bias, variance=variance, risk=risk, noise_std=float(noise_std))


def _gd_iterates(
    X: np.ndarray, y: np.ndarray, lr: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
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
        gain = np.where(small[:, None, :], t[None, :, None], (1.0 - decay) / np.where(small, 1.0, lam)[:, None, :])
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
    s, theta, lr = _check_linear_inputs(feature_std, theta, noise_std, n, lr)
    if int(seeds) != seeds or seeds < 1:
        raise ConfigError(f"The 'seeds' parameter must be an int in [1, inf). Got {seeds!r} instead.")
    t = np.asarray(t, dtype=np.float64)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((seeds, int(n), s.size)) * s
    y = X @ theta + noise_std * rng.standard_normal((seeds, int(n)))
    w, lam = _gd_iterates(X, y, lr, t)
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
    s = np.r_[np.ones(d_fast), np.full(d_slow, 1.0 / scale_ratio)]
    slow = np.r_[np.zeros(d_fast, bool), np.ones(d_slow, bool)]
    per_feature = np.where(slow, signal_slow / max(d_slow, 1), signal_fast / max(d_fast, 1))
    theta = np.sqrt(per_feature) / s
    factor = scale_ratio**2 if lr_factor == 0 else lr_factor
    return TwoGroupModel(feature_std=s, theta=theta, slow=slow, base_lr=lr, lr_factor=float(factor))


@dataclass(frozen=True)
class Bump:
    """Shape of a risk curve: early minimum, later peak, and how far it falls again.

    The peak is the point whose smaller side -- the rise from the lowest point before it, or the
    fall to the lowest point after it -- is largest (its "prominence" as a double-descent bump).
    A curve without any such bump (monotone, or one minimum then rising) takes the largest rise
    instead, so ``rise`` measures plain overfitting and ``second_descent`` is 0.
    """

    early_min: float
    early_min_at: float
    peak: float
    peak_at: float
    final: float
    rise: float
    second_descent: float
    minimum: float
    minimum_at: float

    def is_double_descent(self, rel_margin: float = 0.1) -> bool:
        """Rise and second fall both exceed ``rel_margin`` times the early minimum."""
        margin = rel_margin * self.early_min
        return self.rise > margin and self.second_descent > margin


def bump(t: np.ndarray, curve: np.ndarray) -> Bump:
    """Measure the epoch-wise bump of ``curve`` (T,) over times ``t`` (T,) (finite values only)."""
    t = np.asarray(t, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    keep = np.isfinite(curve)
    t, curve = t[keep], curve[keep]
    if curve.size == 0:
        nan = float("nan")
        return Bump(nan, nan, nan, nan, nan, nan, nan, nan, nan)
    rise = curve - np.minimum.accumulate(curve)  # above the lowest point so far
    fall = curve - np.minimum.accumulate(curve[::-1])[::-1]  # above the lowest point still to come
    score = np.minimum(rise, fall)
    has_bump = bool(score.max() > 0)
    j = int(np.argmax(score)) if has_bump else int(np.argmax(rise))
    i = int(np.argmin(curve[: j + 1]))
    k = int(np.argmin(curve))
    return Bump(
        early_min=float(curve[i]), early_min_at=float(t[i]), peak=float(curve[j]), peak_at=float(t[j]),
        final=float(curve[-1]), rise=float(rise[j]), second_descent=float(fall[j]) if has_bump else 0.0,
        minimum=float(curve[k]), minimum_at=float(t[k]),
    )


def log_time_grid(t_max: int, points: int) -> np.ndarray:
    """Integer steps 0, 1, ... log-spaced up to ``t_max`` (unique, sorted)."""
    grid = np.unique(np.round(np.geomspace(1, t_max, points)))
    return np.r_[0.0, grid]


@dataclass(frozen=True, kw_only=True)
class LinearConfig:
    """The linear model with a fast and a slow group of features (the paper's Fig. 2, enlarged)."""

    n: int = 100  # training samples
    noise_std: float = 1.0  # std of the label noise z
    d_fast: int = 20  # features of std 1
    d_slow: int = 5  # features of std 1 / scale_ratio
    scale_ratio: float = 20.0  # std of a fast feature / std of a slow one; time scales differ by its square
    signal_fast: float = 0.2  # share of Var(<x, theta>) carried by the fast group
    signal_slow: float = 0.4  # share of Var(<x, theta>) carried by the slow group
    lr: float = 0.1  # step size of the fast group (and of every feature without scaling)
    scaled: bool = True  # also run with the slow group's step size multiplied by lr_factor
    lr_factor: float = 0.0  # slow group's step-size multiplier; 0 = equalise time scales (scale_ratio^2)
    t_max: int = 100_000  # last GD step drawn
    points: int = 200  # log-spaced time points
    sim_seeds: int = 20  # sampled training sets for the simulated GD curves (0 = closed form only)
    seed: int = 0  # seed of the sampled training sets

    def __post_init__(self) -> None:
        check_int(self, "n", 1, 100_000)
        check_float(self, "noise_std", 0.0, 100.0)
        check_int(self, "d_fast", 1, 500)
        check_int(self, "d_slow", 1, 500)
        check_float(self, "scale_ratio", 1.0, 1000.0)
        check_float(self, "signal_fast", 0.0, 1000.0)
        check_float(self, "signal_slow", 0.0, 1000.0)
        check_float(self, "lr", 0.0, 100.0, low_open=True)
        check_bool(self, "scaled")
        check_float(self, "lr_factor", 0.0, 1e8)
        check_int(self, "t_max", 1, 10**9)
        check_int(self, "points", 2, 20_000)
        check_int(self, "sim_seeds", 0, 1000)
        check_int(self, "seed", 0, 2**32 - 1)

    def model(self) -> TwoGroupModel:
        return two_group_model(
            d_fast=self.d_fast, d_slow=self.d_slow, scale_ratio=self.scale_ratio,
            signal_fast=self.signal_fast, signal_slow=self.signal_slow, lr=self.lr, lr_factor=self.lr_factor,
        )


SAME, SCALED = "same step size", "scaled step sizes"


def _finite_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows past divergence (non-finite or above :data:`DIVERGENCE_CAP`)."""
    ok = np.isfinite(frame["value"]) & (frame["value"].abs() <= DIVERGENCE_CAP)
    return frame[ok]


def _closed_form_rows(config: LinearConfig, t: np.ndarray, schedule: str, lr: np.ndarray) -> pd.DataFrame:
    """Tidy rows of the closed form: risk, and bias/variance per group and in total."""
    m = config.model()
    curves = linear_risk(t, m.feature_std, m.theta, config.noise_std, config.n, lr)
    parts = {("risk", "all"): curves.excess}
    for name, mask in (("fast", ~m.slow), ("slow", m.slow)):
        parts[("bias", name)] = curves.bias[:, mask].sum(axis=1)
        parts[("variance", name)] = curves.variance[:, mask].sum(axis=1)
    parts[("bias", "all")] = curves.bias.sum(axis=1)
    parts[("variance", "all")] = curves.variance.sum(axis=1)
    frames = [
        pd.DataFrame({"t": t, "component": comp, "group": group, "value": values, "value_se": 0.0})
        for (comp, group), values in parts.items()
    ]
    out = pd.concat(frames, ignore_index=True)
    out["source"] = "closed form"
    out["schedule"] = schedule
    out["diverged"] = bool(diverging_features(m.feature_std, lr).any())
    return out


def _simulated_rows(config: LinearConfig, t: np.ndarray, schedule: str, lr: np.ndarray) -> pd.DataFrame:
    """Mean and standard error over ``sim_seeds`` sampled training sets of the excess risk."""
    m = config.model()
    risk, diverged = simulate_linear_gd(
        t, m.feature_std, m.theta, config.noise_std, config.n, lr, seeds=config.sim_seeds, seed=config.seed
    )
    excess = risk - config.noise_std**2
    with np.errstate(invalid="ignore", over="ignore"):
        mean = excess.mean(axis=0)
        se = excess.std(axis=0, ddof=1) / math.sqrt(config.sim_seeds) if config.sim_seeds > 1 else 0.0 * mean
    return pd.DataFrame({
        "t": t, "component": "risk", "group": "all", "value": mean, "value_se": se,
        "source": "simulated GD", "schedule": schedule, "diverged": bool(diverged.any()),
    })


def compute_linear(config: LinearConfig, ctx: RunContext) -> pd.DataFrame:
    """Excess risk, bias and variance over log-spaced time for one and (optionally) scaled step sizes.

    Columns: t, schedule, source ("closed form" / "simulated GD"), component ("risk", "bias",
    "variance"), group ("all", "fast", "slow"), value (excess risk units), value_se, diverged,
    lr_slow (the slow group's step size), and the config's swept fields.  Rows past divergence
    are dropped; the run's rows keep ``diverged = True``.
    """
    m = config.model()
    t = log_time_grid(config.t_max, config.points)
    schedules = [(SAME, m.lr(False))] + ([(SCALED, m.lr(True))] if config.scaled else [])
    frames = []
    for i, (schedule, lr) in enumerate(schedules):
        ctx.report(i / len(schedules), schedule)
        frames.append(_finite_rows(_closed_form_rows(config, t, schedule, lr)).assign(lr_slow=float(lr[m.slow][0])))
        if config.sim_seeds > 0:
            frames.append(_finite_rows(_simulated_rows(config, t, schedule, lr)).assign(lr_slow=float(lr[m.slow][0])))
    frame = pd.concat(frames, ignore_index=True)
    for name in ("n", "noise_std", "scale_ratio", "lr", "lr_factor"):
        frame[name] = getattr(config, name)
    ctx.report(1.0, "done")
    return frame


def divergence_message(frame: pd.DataFrame) -> str | None:
    """A sentence naming the diverged runs of a linear/network frame, or None when none diverged."""
    if "diverged" not in frame or not frame["diverged"].any():
        return None
    runs = sorted(frame.loc[frame["diverged"], "schedule"].unique())
    return (
        f"Gradient descent diverged for: {', '.join(runs)}. A feature's step size must satisfy "
        "lr_i * s_i^2 < 2 (for the sampled data: lr_i below 2 / largest eigenvalue); the curves stop "
        "where the risk blew up. Lower the step size or the scaling factor."
    )


def linear_bumps(frame: pd.DataFrame, source: str = "closed form") -> dict[str, Bump]:
    """The :class:`Bump` of the excess-risk curve of each schedule in a linear frame."""
    rows = frame[(frame["component"] == "risk") & (frame["source"] == source)]
    return {s: bump(g["t"].to_numpy(), g["value"].to_numpy()) for s, g in rows.groupby("schedule")}


# ---------------------------------------------------------------------------------------------
# Networks: per-layer step sizes as optimizer param groups, the two-layer net of Fig. 3
# ---------------------------------------------------------------------------------------------


def _small_model_threads(device: str, dataset: str = "") -> int | None:
    """1 for the quick models on a CPU, None (leave torch's default) for CIFAR-10 or accelerators."""
    return 1 if device == "cpu" and dataset != "cifar10" else None


def layer_param_groups(body: Any, final: Any, lr: float, final_lr: float,
                       weights_lr: float | None = None) -> list[dict[str, Any]]:
    """SGD param groups: every parameter of ``body`` at ``lr``, of the ``final`` layer at ``final_lr``.

    With ``weights_lr`` (the paper's "ff_large_lr": conv 0.05, BatchNorm 0.1, final 0.2) the body's
    weight layers take ``weights_lr`` and its normalisation layers keep ``lr``. Each group carries a
    ``name`` ("body" / "norm" / "final") so a schedule or a test can find it.
    """
    import torch

    final_group = {"params": [p for p in final.parameters()], "lr": float(final_lr), "name": "final"}
    if weights_lr is None or weights_lr == lr:
        return [{"params": [p for p in body.parameters()], "lr": float(lr), "name": "body"}, final_group]
    norm_types = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm)
    norm = [p for m in body.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)]
    norm_ids = {id(p) for p in norm}
    weights = [p for p in body.parameters() if id(p) not in norm_ids]
    return [
        {"params": weights, "lr": float(weights_lr), "name": "body"},
        {"params": norm, "lr": float(lr), "name": "norm"},
        final_group,
    ]


def inverse_sqrt_factor(iteration: int, decay_iters: int) -> float:
    """The paper's schedule: lr(iteration) = lr0 / sqrt(1 + iteration / decay_iters)."""
    return 1.0 / math.sqrt(1.0 + iteration / decay_iters)


def make_optimizer(body: Any, final: Any, lr: float, final_lr: float, decay_iters: int | None = None,
                   weights_lr: float | None = None):
    """Plain SGD (no momentum, no weight decay) with per-layer groups and, optionally, the
    inverse-square-root schedule stepped once per iteration.  Returns (optimizer, scheduler|None)."""
    import torch

    groups = layer_param_groups(body, final, lr, final_lr, weights_lr)
    opt = torch.optim.SGD(groups, lr=float(lr), momentum=0.0)
    if decay_iters is None:
        return opt, None
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: inverse_sqrt_factor(it, decay_iters))
    return opt, sched


@dataclass(frozen=True, kw_only=True)
class TwoLayerConfig:
    """The paper's Fig. 3: Linear(d, hidden) -> ReLU -> Linear(hidden, 1), full-batch GD on summed MSE."""

    d: int = 50  # input dimension
    hidden: int = 250  # hidden units
    n: int = 100  # training samples
    n_test: int = 1000  # test samples for the L1 risk
    s_max: float = 4.0  # feature stds are geometric from 1 to s_max
    noise_std: float = 0.0  # label noise std (the paper: none)
    lr_second: float = 8e-5  # step size of the second layer (and of both in the same-step run)
    lr_first_scaled: float = 1e-6  # the first layer's step size in the scaled run
    init_second: float = 0.01  # the second layer's init is multiplied by this
    steps: int = 50_000  # full-batch GD steps
    points: int = 120  # log-spaced evaluation points
    seed: int = 12  # data and init seed

    def __post_init__(self) -> None:
        check_int(self, "d", 1, 4096)
        check_int(self, "hidden", 1, 65536)
        check_int(self, "n", 1, 100_000)
        check_int(self, "n_test", 1, 1_000_000)
        check_float(self, "s_max", 1.0, 1000.0)
        check_float(self, "noise_std", 0.0, 1000.0)
        check_float(self, "lr_second", 0.0, 10.0, low_open=True)
        check_float(self, "lr_first_scaled", 0.0, 10.0, low_open=True)
        check_float(self, "init_second", 0.0, 10.0)
        check_int(self, "steps", 1, 10**7)
        check_int(self, "points", 2, 10_000)
        check_int(self, "seed", 0, 2**32 - 1)


def _two_layer_data(config: TwoLayerConfig, device: str):
    """x ~ N(0, diag(s^2)) with s geometric in [1, s_max], beta ~ N(0, I), y = <x, beta> + noise.

    Returns float64 tensors (X (n, d), y (n,), X_test (n_test, d), y_test (n_test,)).
    """
    import torch

    gen = torch.Generator().manual_seed(config.seed)
    s = torch.tensor(np.geomspace(1.0, config.s_max, config.d), dtype=torch.float64)
    beta = torch.randn(config.d, generator=gen, dtype=torch.float64)

    def sample(m: int):
        X = torch.randn(m, config.d, generator=gen, dtype=torch.float64) * s
        return X, X @ beta + config.noise_std * torch.randn(m, generator=gen, dtype=torch.float64)

    X, y = sample(config.n)
    Xt, yt = sample(config.n_test)
    return X.to(device), y.to(device), Xt.to(device), yt.to(device)


def two_layer_net(d: int, hidden: int, init_second: float, seed: int):
    """(first, second) float64 Linear layers of the Fig. 3 network; second-layer init scaled."""
    import torch

    torch.manual_seed(seed)  # nn.Linear's init takes no generator; seeding keeps it reproducible
    first, second = torch.nn.Linear(d, hidden).double(), torch.nn.Linear(hidden, 1).double()
    with torch.no_grad():
        second.weight.mul_(init_second)
        second.bias.mul_(init_second)
    return first, second


def train_two_layer(config: TwoLayerConfig, lr_first: float, ctx: RunContext, label: str) -> pd.DataFrame:
    """Full-batch GD on sum_i (f(x_i) - y_i)^2; L1 and squared test risk at log-spaced steps.

    Returns rows (step, l1_risk, mse_risk, train_loss, diverged); stops at the first non-finite loss.
    """
    import torch

    X, y, Xt, yt = _two_layer_data(config, ctx.device)
    first, second = two_layer_net(config.d, config.hidden, config.init_second, config.seed)
    first, second = first.to(ctx.device), second.to(ctx.device)
    body = torch.nn.Sequential(first, torch.nn.ReLU())
    opt, _ = make_optimizer(body, second, lr_first, config.lr_second)
    marks = set(log_time_grid(config.steps, config.points).astype(int).tolist())
    rows, diverged = [], False
    for step in range(config.steps + 1):
        loss = ((second(body(X))[:, 0] - y) ** 2).sum()
        if not torch.isfinite(loss):
            diverged = True
            break
        if step in marks:
            with torch.no_grad():
                err = second(body(Xt))[:, 0] - yt
            rows.append((step, err.abs().mean().item(), (err**2).mean().item(), loss.item()))
            if len(rows) % 10 == 0:
                ctx.report(step / config.steps, f"{label}: step {step}")
        if step == config.steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    frame = pd.DataFrame(rows, columns=["step", "l1_risk", "mse_risk", "train_loss"])
    frame["diverged"] = diverged
    if diverged:
        frame = _append_divergence_row(frame, step)
    return frame


def _append_divergence_row(frame: pd.DataFrame, step: int) -> pd.DataFrame:
    """Add the flagged row at the step where training blew up (measures NaN: charts skip them)."""
    flagged = {c: np.nan for c in frame.columns}
    flagged.update({frame.columns[0]: step, "diverged": True})
    out = pd.concat([frame, pd.DataFrame([flagged])], ignore_index=True)
    out["diverged"] = True
    return out.astype({frame.columns[0]: "int64"})


def compute_two_layer(config: TwoLayerConfig, ctx: RunContext) -> pd.DataFrame:
    """Both runs of Fig. 3: the same step size for both layers, and a small first-layer step size."""
    runs = ((SAME, config.lr_second), (SCALED, config.lr_first_scaled))
    frames = []
    for i, (schedule, lr_first) in enumerate(runs):
        sub = RunContext(ctx.device, lambda f, m, i=i: ctx.report((i + f) / len(runs), m))
        with torch_threads(_small_model_threads(ctx.device)):
            run = train_two_layer(config, lr_first, sub, schedule)
        frames.append(run.assign(schedule=schedule, lr_first=lr_first))
    frame = pd.concat(frames, ignore_index=True)
    frame["lr_second"] = config.lr_second
    frame["hidden"] = config.hidden
    frame["noise_std"] = config.noise_std
    return frame


# ---------------------------------------------------------------------------------------------
# Classifiers with label noise: the paper's 5-layer CNN (CIFAR-10) and its quick stand-ins
# ---------------------------------------------------------------------------------------------


def make_cnn(width: int, in_channels: int = 3, num_classes: int = 10):
    """The paper's 5-layer CNN as (body, final).

    body: four [Conv3x3(padding 1, bias) -> BatchNorm -> ReLU] blocks of widths w, 2w, 4w, 8w,
    MaxPool2d(2) after blocks 1-3, then a global max-pool (= MaxPool2d(4) on 32x32 inputs) and
    Flatten; final: Linear(8w, num_classes).  Input (B, in_channels, H, W) with H, W >= 8.
    """
    from torch import nn

    layers, c_in = [], in_channels
    for i, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers.append(nn.MaxPool2d(2) if i < 3 else nn.AdaptiveMaxPool2d(1))
        c_in = c_out
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), nn.Linear(8 * width, num_classes)


def make_mlp(in_features: int, width: int, num_classes: int = 10, depth: int = 2):
    """An MLP as (body, final): ``depth`` [Linear -> ReLU] blocks of ``width``, then Linear(width, classes)."""
    from torch import nn

    layers, c_in = [nn.Flatten()], in_features
    for _ in range(depth):
        layers += [nn.Linear(c_in, width), nn.ReLU()]
        c_in = width
    return nn.Sequential(*layers), nn.Linear(width, num_classes)


def symmetric_label_noise(labels: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """Relabel a random ``round(fraction * n)`` of the labels to a uniformly drawn *other* class.

    Seeded (``np.random.default_rng(seed)``) and random, unlike the reference code's fixed count
    per class pair.  Returns a new int64 array (n,); exactly that many labels differ.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    flip = rng.choice(labels.size, size=int(round(fraction * labels.size)), replace=False)
    noisy = labels.copy()
    noisy[flip] = (labels[flip] + rng.integers(1, num_classes, size=flip.size)) % num_classes
    return noisy


def random_crop_flip(images, pad: int, generator):
    """Random crop with zero padding ``pad`` and random horizontal flip, per image, on the images' device.

    ``images`` (B, C, H, W) tensor; ``generator`` a CPU torch.Generator (draws stay reproducible
    across devices).  Returns a tensor of the same shape.
    """
    import torch
    import torch.nn.functional as F

    B, C, H, W = images.shape
    dev = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=generator).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=generator).to(dev)
    rows = (dy[:, None] + torch.arange(H, device=dev))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(W, device=dev))[:, None, None, :]
    out = padded[torch.arange(B, device=dev)[:, None, None, None], torch.arange(C, device=dev)[None, :, None, None], rows, cols]
    flip = (torch.rand(B, generator=generator) < 0.5).to(dev)
    return torch.where(flip[:, None, None, None], out.flip(3), out)


NETWORK_NAME, NETWORK_VERSION = "double_descent.network", 2  # 2: conv_lr_scale (ff_large_lr)
DATASETS = ("digits", "mnist1d", "cifar10")


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """A classifier trained with symmetric label noise by SGD (no momentum) and lr0/sqrt(1 + it/decay)."""

    dataset: str = "digits"  # "digits" (offline, 8x8), "mnist1d" (offline, 40-long) or "cifar10" (download)
    arch: str = "mlp"  # "mlp" (two hidden layers) or "cnn" (the paper's 5-layer CNN)
    width: int = 256  # MLP hidden width, or CNN base width w (blocks w, 2w, 4w, 8w; the paper: 64)
    label_noise: float = 0.2  # fraction of training labels moved to another class
    lr: float = 0.5  # initial step size of every layer but the last
    final_lr_scale: float = 1.0  # the final layer's step size is lr * final_lr_scale
    conv_lr_scale: float = 1.0  # the body's weight layers take lr * conv_lr_scale; its BatchNorm keeps lr
    lr_decay_iters: int = 512  # lr = lr0 / sqrt(1 + iteration / lr_decay_iters)
    epochs: int = 100  # passes over the training set (the paper: 4000+)
    batch_size: int = 128  # SGD mini-batch size
    augment: bool = False  # random crop (padding 4) and horizontal flip (images only)
    train_size: int = 0  # use the first train_size training examples; 0 = all
    eval_every: int = 1  # epochs between test evaluations
    checkpoint_every: int = 0  # epochs between checkpoints (0 = none); runs resume from the last one
    seed: int = 0  # label noise, init, shuffling and augmentation

    def __post_init__(self) -> None:
        check_choice(self, "dataset", DATASETS)
        check_choice(self, "arch", ("cnn", "mlp"))
        check_int(self, "width", 1, 4096)
        check_float(self, "label_noise", 0.0, 0.9)
        check_float(self, "lr", 0.0, 100.0, low_open=True)
        check_float(self, "final_lr_scale", 0.0, 1000.0, low_open=True)
        check_float(self, "conv_lr_scale", 0.0, 1000.0, low_open=True)
        check_int(self, "lr_decay_iters", 1, 10**9)
        check_int(self, "epochs", 1, 100_000)
        check_int(self, "batch_size", 1, 100_000)
        check_bool(self, "augment")
        check_int(self, "train_size", 0, 10**7)
        check_int(self, "eval_every", 1, 100_000)
        check_int(self, "checkpoint_every", 0, 100_000)
        check_int(self, "seed", 0, 2**32 - 1)
        if self.arch == "cnn" and self.dataset == "mnist1d":
            raise ConfigError("The 'arch' parameter of NetworkConfig must be 'mlp' for dataset 'mnist1d'. Got 'cnn' instead.")
        if self.augment and self.dataset == "mnist1d":
            raise ConfigError("The 'augment' parameter of NetworkConfig must be False for dataset 'mnist1d'. Got True instead.")


def load_classification_data(config: NetworkConfig):
    """Train/test tensors (float32 inputs, int64 labels) with the noisy training labels.

    Images keep (n, C, H, W); CIFAR-10 is standardised per channel with training statistics.
    Returns (X_train, y_train_noisy, y_train_clean, X_test, y_test).  CIFAR-10 raises
    :class:`engine.data.DataUnavailable` when its files are absent.
    """
    import torch

    from engine.core import data

    if config.dataset == "digits":
        split = data.digits(flatten=False, seed=config.seed)
        Xtr, ytr, Xte, yte = split.X_train, split.y_train, split.X_test, split.y_test
    elif config.dataset == "mnist1d":
        split = data.mnist1d(seed=42)
        Xtr, ytr, Xte, yte = split.X_train, split.y_train, split.X_test, split.y_test
    else:
        Xtr, ytr = data.torchvision_images("cifar10", train=True)
        Xte, yte = data.torchvision_images("cifar10", train=False)
        mean, std = Xtr.mean(axis=(0, 2, 3), keepdims=True), Xtr.std(axis=(0, 2, 3), keepdims=True)
        Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    if config.train_size:
        Xtr, ytr = Xtr[: config.train_size], ytr[: config.train_size]
    noisy = symmetric_label_noise(ytr, config.label_noise, 10, config.seed)
    as_x = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    return as_x(Xtr), as_y(noisy), as_y(ytr), as_x(Xte), as_y(yte)


def build_classifier(config: NetworkConfig, example):
    """(body, final) for ``config.arch``, initialised from ``config.seed``; ``example`` one input batch."""
    import torch

    torch.manual_seed(config.seed)
    if config.arch == "cnn":
        return make_cnn(config.width, in_channels=example.shape[1])
    return make_mlp(int(np.prod(example.shape[1:])), config.width)


def checkpoint_dir(config: NetworkConfig) -> Path:
    """Where a run keeps ``checkpoint.pt`` and ``history.json``: one folder per config key."""
    key = cache.entry_key(NETWORK_NAME, NETWORK_VERSION, config_to_dict(config))
    return cache.cache_dir() / "double_descent-checkpoints" / key


def read_progress(config: NetworkConfig) -> pd.DataFrame | None:
    """The per-epoch history a (possibly still running) checkpointed run has written so far, or None."""
    path = checkpoint_dir(config) / "history.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    frame = pd.DataFrame(record["rows"])
    return _with_config_columns(frame, config) if len(frame) else None


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _save_checkpoint(config: NetworkConfig, state: dict[str, Any], rows: list[dict], done: bool) -> None:
    import torch

    folder = checkpoint_dir(config)
    _atomic_write(folder / "checkpoint.pt", lambda p: torch.save(state, p))
    record = {"config": config_to_dict(config), "epoch": state["epoch"], "done": done, "rows": rows}
    _atomic_write(folder / "history.json", lambda p: Path(p).write_text(json.dumps(record)))


def _load_checkpoint(config: NetworkConfig) -> dict[str, Any] | None:
    import torch

    path = checkpoint_dir(config) / "checkpoint.pt"
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a damaged checkpoint is ignored: the run starts over
        return None


def _error_rate(model, X, y, batch: int = 2048) -> tuple[float, float]:
    """(error rate, mean cross-entropy) of ``model`` in eval mode on (X, y), batched."""
    import torch
    import torch.nn.functional as F

    model.eval()
    wrong, loss = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(X), batch):
            out = model(X[i : i + batch])
            wrong += (out.argmax(1) != y[i : i + batch]).sum().item()
            loss += F.cross_entropy(out, y[i : i + batch], reduction="sum").item()
    model.train()
    return wrong / len(X), loss / len(X)


def _train_epoch(model, opt, sched, X, y, config: NetworkConfig, gen) -> tuple[float, float]:
    """One SGD pass in shuffled mini-batches; returns (mean loss, error on the noisy labels) or nan."""
    import torch
    import torch.nn.functional as F

    order = torch.randperm(len(X), generator=gen).to(X.device)
    total, wrong = 0.0, 0.0
    for i in range(0, len(X), config.batch_size):
        idx = order[i : i + config.batch_size]
        xb = random_crop_flip(X[idx], 4, gen) if config.augment else X[idx]
        out = model(xb)
        loss = F.cross_entropy(out, y[idx])
        if not torch.isfinite(loss):
            return float("nan"), float("nan")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(idx)
        wrong += (out.argmax(1) != y[idx]).sum().item()
    return total / len(X), wrong / len(X)


def train_classifier(config: NetworkConfig, ctx: RunContext) -> pd.DataFrame:
    """Train ``config``'s classifier; one row per evaluated epoch.

    Columns: epoch, test_error, test_loss, train_error (on the noisy labels, during the epoch),
    train_loss, lr_final (the final layer's step size at the epoch's end), diverged.  With
    ``checkpoint_every > 0`` the model, optimizer, schedule, RNG state and history are saved under
    :func:`checkpoint_dir` and a rerun resumes from there.
    """
    import torch

    X, y, _, Xt, yt = load_classification_data(config)
    X, y, Xt, yt = X.to(ctx.device), y.to(ctx.device), Xt.to(ctx.device), yt.to(ctx.device)
    body, final = build_classifier(config, X[:2])
    model = torch.nn.Sequential(body, final).to(ctx.device)
    opt, sched = make_optimizer(body, final, config.lr, config.lr * config.final_lr_scale, config.lr_decay_iters,
                                weights_lr=config.lr * config.conv_lr_scale)
    gen = torch.Generator().manual_seed(config.seed)
    start, rows = 0, []
    saved = _load_checkpoint(config) if config.checkpoint_every else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        gen.set_state(saved["generator"])
        start, rows = saved["epoch"], saved["rows"]
    for epoch in range(start + 1, config.epochs + 1):
        train_loss, train_error = _train_epoch(model, opt, sched, X, y, config, gen)
        if not math.isfinite(train_loss):
            rows.append(_diverged_row(epoch))
            break
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            test_error, test_loss = _error_rate(model, Xt, yt)
            rows.append({
                "epoch": epoch, "test_error": test_error, "test_loss": test_loss, "train_error": train_error,
                "train_loss": train_loss, "lr_final": opt.param_groups[1]["lr"], "diverged": False,
            })
        if config.checkpoint_every and (epoch % config.checkpoint_every == 0 or epoch == config.epochs):
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "generator": gen.get_state(), "epoch": epoch, "rows": rows}
            _save_checkpoint(config, state, rows, done=epoch == config.epochs)
        ctx.report(epoch / config.epochs, f"epoch {epoch}/{config.epochs}")
    frame = pd.DataFrame(rows)
    if frame["diverged"].any():
        frame["diverged"] = True
    return _with_config_columns(frame, config)


def _diverged_row(epoch: int) -> dict[str, Any]:
    nan = float("nan")
    return {"epoch": epoch, "test_error": nan, "test_loss": nan, "train_error": nan, "train_loss": nan,
            "lr_final": nan, "diverged": True}


def _with_config_columns(frame: pd.DataFrame, config: NetworkConfig) -> pd.DataFrame:
    """Add the swept config fields (dataset, arch, width, label_noise, lr, final_lr_scale) as columns."""
    for name in ("dataset", "arch", "width", "label_noise", "lr", "final_lr_scale"):
        frame[name] = getattr(config, name)
    frame["run"] = f"final layer x{config.final_lr_scale:g}"
    return frame


# ---------------------------------------------------------------------------------------------
# Model-wise double descent: min-norm random-features regression and network width sweeps
# ---------------------------------------------------------------------------------------------


def random_features_risk(
    widths: Sequence[int], *, n: int, d: int, noise_std: float, n_test: int = 1000, seeds: int = 5, seed: int = 0
) -> np.ndarray:
    """Test MSE of min-norm least squares on p = width ReLU random features, (seeds, len(widths)).

    Data: x ~ N(0, I_d / d), y = <x, beta> + noise with |beta| = 1; features relu(W x) with
    W ~ N(0, 1) entries; the fit is the minimum-norm solution (``lstsq``), which interpolates for
    width >= n -- the test error peaks at width = n (the interpolation threshold).
    """
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


@dataclass(frozen=True, kw_only=True)
class WidthConfig:
    """Test error against width: min-norm random features (peak at width = n) and, optionally, the
    quick classifier trained at each width with label noise."""

    n: int = 100  # training samples of the random-features regression
    d: int = 20  # input dimension of the random-features regression
    noise_std: float = 0.3  # label noise std of the regression
    widths: tuple[int, ...] = (5, 10, 20, 40, 60, 80, 90, 95, 100, 105, 110, 120, 150, 200, 300, 500, 1000)  # random features
    rf_seeds: int = 5  # independent data/feature draws averaged
    network: bool = False  # also train the quick classifier (NetworkConfig defaults) at each network width
    network_widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)  # MLP hidden widths
    network_epochs: int = 100  # epochs per network width
    label_noise: float = 0.2  # label noise of the network runs
    seed: int = 0  # data, features and init

    def __post_init__(self) -> None:
        check_int(self, "n", 1, 10_000)
        check_int(self, "d", 1, 1000)
        check_float(self, "noise_std", 0.0, 100.0)
        check_int_tuple(self, "widths", 1, 20_000, max_len=200)
        check_int(self, "rf_seeds", 1, 1000)
        check_bool(self, "network")
        check_int_tuple(self, "network_widths", 1, 4096, max_len=50)
        check_int(self, "network_epochs", 1, 100_000)
        check_float(self, "label_noise", 0.0, 0.9)
        check_int(self, "seed", 0, 2**32 - 1)


def compute_width(config: WidthConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows (model, width, metric, value, value_se): RF test MSE per width, network final test error."""
    risk = random_features_risk(config.widths, n=config.n, d=config.d, noise_std=config.noise_std,
                                seeds=config.rf_seeds, seed=config.seed)
    frame = pd.DataFrame({
        "model": "random features (min-norm)", "width": list(config.widths), "metric": "test MSE",
        "value": risk.mean(axis=0), "value_se": risk.std(axis=0, ddof=1) / math.sqrt(config.rf_seeds) if config.rf_seeds > 1 else 0.0,
    })
    frames = [frame]
    if config.network:
        for i, w in enumerate(config.network_widths):
            ctx.report(i / len(config.network_widths), f"network width {w}")
            net = NetworkConfig(width=w, epochs=config.network_epochs, label_noise=config.label_noise, seed=config.seed)
            with torch_threads(_small_model_threads(ctx.device, net.dataset)):
                hist = train_classifier(net, RunContext(ctx.device))
            last = hist.dropna(subset=["test_error"])
            frames.append(pd.DataFrame({
                "model": "MLP on digits (end of training)", "width": [w], "metric": "test error",
                "value": [float(last["test_error"].iloc[-1]) if len(last) else float("nan")], "value_se": [0.0],
            }))
    out = pd.concat(frames, ignore_index=True)
    out["n"] = config.n
    out["noise_std"] = config.noise_std
    out["label_noise"] = config.label_noise
    ctx.report(1.0, "done")
    return out


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` points (shrinking at the ends), NaN-aware; (T,) -> (T,)."""
    return pd.Series(values).rolling(window, center=True, min_periods=1).mean().to_numpy()


def compute_network(config: NetworkConfig, ctx: RunContext) -> pd.DataFrame:
    """One classifier run (see :func:`train_classifier`) plus ``test_error_smooth`` (9-point average,
    as the paper smooths its curves)."""
    with torch_threads(_small_model_threads(ctx.device, config.dataset)):
        frame = train_classifier(config, ctx)
    frame["test_error_smooth"] = smooth(frame["test_error"].to_numpy(), 9)
    return frame


def network_bump(frame: pd.DataFrame) -> Bump:
    """The bump of the smoothed test error of one network run."""
    ok = frame.dropna(subset=["test_error_smooth"])
    return bump(ok["epoch"].to_numpy(), ok["test_error_smooth"].to_numpy())


def _two_layer_bump(frame: pd.DataFrame, schedule: str) -> Bump:
    rows = frame[frame["schedule"] == schedule].dropna(subset=["l1_risk"])
    return bump(rows["step"].to_numpy(), rows["l1_risk"].to_numpy())


def bump_table(bumps: dict[str, Bump]) -> pd.DataFrame:
    """One row per run: early minimum, peak, final value, rise and second descent (for the page)."""
    rows = [{"run": name, "early minimum": b.early_min, "at": b.early_min_at, "peak": b.peak, "peak at": b.peak_at,
             "final": b.final, "rise": b.rise, "second descent": b.second_descent} for name, b in bumps.items()]
    return pd.DataFrame(rows)


def two_layer_bumps(frame: pd.DataFrame) -> dict[str, Bump]:
    """The :class:`Bump` of the L1 risk of each run of a two-layer frame."""
    return {s: _two_layer_bump(frame, s) for s in frame["schedule"].unique()}


def paper_data_message() -> str | None:
    """None when CIFAR-10 is on disk, else the :class:`engine.data.DataUnavailable` message."""
    from engine.core import data

    try:
        data.torchvision_images("cifar10", train=False, limit=1)
    except data.DataUnavailable as err:
        return str(err)
    return None


def paper_progress() -> pd.DataFrame | None:
    """The histories of the paper's CIFAR-10 runs written so far (finished or in progress), or None."""
    frames = [f for f in (read_progress(c) for c in _network_paper_grid()) if f is not None]
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    out["test_error_smooth"] = out.groupby("run")["test_error"].transform(lambda v: smooth(v.to_numpy(), 9))
    return out


def _rf_peak_width(frame: pd.DataFrame) -> float:
    rf = frame[frame["metric"] == "test MSE"]
    return float(rf.loc[rf["value"].idxmax(), "width"])


#: Paper Fig. 3, same step size: L1 test risk at start, early minimum, peak and end; scaled: end.
PAPER_TWO_LAYER = {"start": 14.5, "early minimum": 6.4, "peak": 9.9, "final": 6.06, "scaled final": 5.74}

LINEAR_QUICK = LinearConfig()
LINEAR_PAPER = LinearConfig(
    n=10, noise_std=1.0, d_fast=1, d_slow=1, scale_ratio=1 / 0.15, signal_fast=0.45**2, signal_slow=(0.15 * 3.0) ** 2,
    lr=0.1, lr_factor=43.0, t_max=100_000, points=400, sim_seeds=200,
)
TWO_LAYER_QUICK = TwoLayerConfig(steps=600, points=80)
TWO_LAYER_PAPER = TwoLayerConfig(n_test=100, steps=50_000, points=200)
NETWORK_QUICK = NetworkConfig()
NETWORK_QUICK_SCALED = replace(NETWORK_QUICK, final_lr_scale=0.01)
NETWORK_PAPER = NetworkConfig(
    dataset="cifar10", arch="cnn", width=64, label_noise=0.2, lr=0.1, final_lr_scale=1.0, epochs=4000,
    batch_size=128, augment=True, eval_every=1, checkpoint_every=5,
)
#: name -> (final_lr_scale, conv_lr_scale): the reference's base, ff_small_lr and ff_large_lr runs
NETWORK_PAPER_RUNS = {"base": (1.0, 1.0), "final layer 0.001": (0.01, 1.0), "final layer 0.2": (2.0, 0.5)}
WIDTH_QUICK = WidthConfig()
WIDTH_PAPER = WidthConfig(rf_seeds=50, network=True, network_widths=(2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024),
                          network_epochs=300)


def _network_paper_grid() -> list[NetworkConfig]:
    return [replace(NETWORK_PAPER, final_lr_scale=f, conv_lr_scale=c) for f, c in NETWORK_PAPER_RUNS.values()]


def _linear_quick_grid() -> list[LinearConfig]:
    """The page's slider positions that change the science (noise, n, ratio, factor, scaling)."""
    return [
        replace(LINEAR_QUICK, noise_std=s, scale_ratio=r, scaled=sc)
        for s in (0.5, 1.0, 1.5, 2.0) for r in (1.0, 5.0, 10.0, 20.0, 50.0) for sc in (False, True)
    ]


from engine.phenomena.double_descent import charts  # noqa: E402  (charts import nothing from here)

EXPERIMENTS = (
    Experiment(
        name="double_descent.linear",
        title="Linear model: a sum of two bias-variance trade-offs",
        config_cls=LinearConfig,
        compute=compute_linear,
        presets={"quick": LINEAR_QUICK, "paper": LINEAR_PAPER},
        version=1,
        charts={"layers": charts.linear_layers, "risk": charts.linear_risk_compare},
        description="Closed-form and simulated GD risk of linear regression with a fast and a slow feature group.",
        sweeps={"quick": _linear_quick_grid},
        claims=(
            Claim("dd.linear_bump", "With one step size the excess risk rises after an early minimum (relative rise).",
                  "double_descent.linear", lambda f: linear_bumps(f)[SAME].rise / linear_bumps(f)[SAME].early_min,
                  lambda v: v > 0.1, unit="x early minimum"),
            Claim("dd.linear_scaled_lower", "Step sizes proportional to 1/s_i^2 give one minimum, below the early minimum.",
                  "double_descent.linear",
                  lambda f: linear_bumps(f)[SCALED].minimum / linear_bumps(f)[SAME].early_min,
                  lambda v: v < 1.0, unit="ratio"),
        ),
    ),
    Experiment(
        name="double_descent.two_layer",
        title="Two-layer network (paper Fig. 3)",
        config_cls=TwoLayerConfig,
        compute=compute_two_layer,
        presets={"quick": TWO_LAYER_QUICK, "paper": TWO_LAYER_PAPER},
        version=1,
        charts={"risk": charts.two_layer_risk},
        description="Full-batch GD on a ReLU network; one step size vs a small first-layer step size.",
        claims=(
            Claim("dd.two_layer_bump", "Same step size: the L1 test risk rises after an early minimum (peak - minimum).",
                  "double_descent.two_layer", lambda f: _two_layer_bump(f, SAME).rise,
                  lambda v: v > 0.5, paper_value=PAPER_TWO_LAYER["peak"] - PAPER_TWO_LAYER["early minimum"], unit="L1 risk"),
            Claim("dd.two_layer_scaled", "Scaled step sizes: no rise after the minimum (largest rise).",
                  "double_descent.two_layer", lambda f: _two_layer_bump(f, SCALED).rise,
                  lambda v: v < 0.1, paper_value=0.0, unit="L1 risk"),
        ),
    ),
    Experiment(
        name=NETWORK_NAME,
        title="Classifier with label noise: epoch-wise double descent",
        config_cls=NetworkConfig,
        compute=compute_network,
        presets={"quick": NETWORK_QUICK, "paper": NETWORK_PAPER, "quick-scaled": NETWORK_QUICK_SCALED,
                 "paper-final-0.001": _network_paper_grid()[1], "paper-final-0.2": _network_paper_grid()[2]},
        version=NETWORK_VERSION,
        charts={"error": charts.network_error, "train": charts.network_train},
        description="SGD with label noise; the final layer's step size moves or removes the bump.",
        sweeps={"paper": _network_paper_grid,
                "quick": lambda: [NETWORK_QUICK, NETWORK_QUICK_SCALED]},
        claims=(
            Claim("dd.network_bump", "Base step sizes: smoothed test error rises after its early minimum (peak - minimum).",
                  NETWORK_NAME, lambda f: network_bump(f).rise, lambda v: v > 0.05,
                  paper_value=0.295 - 0.199, unit="test error"),
            Claim("dd.network_scaled", "Small final-layer step size: no second descent (fall after the peak).",
                  NETWORK_NAME, lambda f: network_bump(f).second_descent, lambda v: v < 0.03,
                  paper_value=0.0, unit="test error", preset="quick-scaled"),
        ),
    ),
    Experiment(
        name="double_descent.width",
        title="Model-wise double descent (extension)",
        config_cls=WidthConfig,
        compute=compute_width,
        presets={"quick": WIDTH_QUICK, "paper": WIDTH_PAPER},
        version=1,
        charts={"width": charts.width_curve},
        description="Test error against width: min-norm random features peak at width = n.",
        claims=(
            Claim("dd.rf_peak_at_n", "Min-norm random-features regression peaks at width = n (peak width / n).",
                  "double_descent.width", lambda f: _rf_peak_width(f) / float(f["n"].iloc[0]),
                  lambda v: 0.9 <= v <= 1.1, paper_value=1.0, unit="width / n"),
        ),
    ),
)
