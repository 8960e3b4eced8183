"""The experiments without a data set: ``smoothing.toy`` (a 2-D picture of an over-fitted base
classifier, its smoothed version and certified circles) and ``smoothing.linear`` (a linear base
classifier, where the certified radius is exact: certified against true radius as n grows).
Configs, compute functions and cost estimates; registered in :mod:`.experiments`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.core.experiment import Cost, RunContext
from engine.core.params import Interval, Options, Tuple, Validated, param
from engine.phenomena.smoothing.settings import ALPHA, N0, SEED, SIGMA, N

# The models, the certificate and scipy are imported where they run (see certify.py).

_CORE = 1.0 / 1.5e6  # seconds per noisy 2-D MLP sample on one laptop core

# --------------------------------------------------------------------------- experiment: toy picture

TOY_BOX = (-1.5, 2.5, -1.25, 1.75)  # x1 min, x1 max, x2 min, x2 max of the picture


@dataclass(frozen=True, kw_only=True)
class ToyConfig(Validated):
    """Two moons, an over-fitted small network, and its smoothed version."""

    sigma: float = param(0.25, Interval(float, 0.0, 2.0, closed="right"))  # smoothing noise level
    n0: int = param(100, N0)  # samples that choose the top class
    n: int = param(10_000, N)  # samples that estimate its probability
    alpha: float = param(0.001, ALPHA)  # failure probability of each certificate
    num_points: int = param(24, Interval(int, 1, 500))  # test points certified (drawn as circles)
    grid: int = param(64, Interval(int, 8, 256))  # picture cells along x1
    train_points: int = param(200, Interval(int, 10, 100_000))  # training set size
    data_noise: float = param(0.3, Interval(float, 0.0, 2.0))  # noise of make_moons (label overlap)
    width: int = param(64, Interval(int, 2, 1024))  # hidden width of the base network
    steps: int = param(500, Interval(int, 1, 100_000))  # full-batch Adam steps (long enough to over-fit)
    seed: int = param(0, SEED)  # data, initialisation and smoothing noise


def _toy_cells(config: ToyConfig, base, fine) -> pd.DataFrame:
    """Picture cells of side ``cell``: centre, base class, smoothed class, smoothed top probability."""
    from engine.phenomena.smoothing.models import base_classes, smoothed_at

    step = (TOY_BOX[1] - TOY_BOX[0]) / config.grid
    c1 = TOY_BOX[0] + step * (np.arange(config.grid) + 0.5)
    c2 = np.arange(TOY_BOX[2] + step / 2, TOY_BOX[3], step)
    centres = np.stack(np.meshgrid(c1, c2), axis=-1).reshape(-1, 2)
    p = smoothed_at(fine, centres)
    m = len(centres)
    return pd.DataFrame(
        {
            "kind": "cell",
            "x1": centres[:, 0],
            "x2": centres[:, 1],
            "cell": step,
            "base_class": base_classes(base, centres),
            "smooth_class": p.argmax(0).astype(np.int64),
            "p_top": p.max(0),
            "index": np.full(m, -1),
            "label": np.full(m, -1),
            "prediction": np.full(m, -1),
            "radius": np.nan,
            "exact_radius": np.nan,
            "correct": False,
            "seconds": np.nan,
        }
    )


def _toy_points(config: ToyConfig, base, fine) -> pd.DataFrame:
    """Fresh test points, certified: prediction, radius, and the exact radius sigma Phi^-1(pA)."""
    from engine.phenomena.smoothing.models import base_classes, moons, smoothed_at
    from engine.phenomena.smoothing.science import Smooth, certify_dataset, radius_from_probability

    X, y = moons(config.num_points, config.data_noise, config.seed + 10_000)
    smooth = Smooth(base, 2, config.sigma, input_shape=(2,), seed=config.seed)
    frame = pd.DataFrame(
        list(certify_dataset(smooth, X, y, n0=config.n0, n=config.n, alpha=config.alpha, batch_size=10_000))
    )
    p = smoothed_at(fine, X)
    return frame.assign(
        kind="point",
        x1=X[:, 0],
        x2=X[:, 1],
        cell=0.0,
        base_class=base_classes(base, X),
        smooth_class=p.argmax(0).astype(np.int64),
        p_top=p.max(0),
        exact_radius=[radius_from_probability(q, config.sigma) for q in p.max(0)],
    )


def compute_toy(config: ToyConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows of kind "cell" (picture cells: base and smoothed class, smoothed top probability) and
    of kind "point" (certified test points: prediction, radius, exact radius sigma Phi^-1(pA))."""
    from engine.phenomena.smoothing.models import smoothed_probabilities, toy_base_classifier
    from engine.phenomena.smoothing.science import max_certifiable_radius

    ctx.report(0.0, "training the base network")
    base = toy_base_classifier(
        config.train_points, config.data_noise, config.width, config.steps, config.seed
    )
    ctx.report(0.3, "blurring the base classifier")
    fine = smoothed_probabilities(base, config.sigma, TOY_BOX, 2)
    ctx.report(0.5, "certifying test points")
    frame = pd.concat([_toy_cells(config, base, fine), _toy_points(config, base, fine)], ignore_index=True)
    ctx.report(1.0, "done")
    return frame.assign(
        sigma=config.sigma,
        n=config.n,
        n0=config.n0,
        alpha=config.alpha,
        cap=max_certifiable_radius(config.sigma, config.n, config.alpha),
    )


def estimate_toy(c: ToyConfig) -> Cost:
    """Training (steps x points x width^2), the blur of a (box + 8 sigma) / step grid, the certificates."""
    cells = ((4 + 8 * c.sigma) / min(0.02, c.sigma / 5)) ** 2
    seconds = (  # measured at the defaults: 0.37 s training, 0.15 s blur, 0.1 s certificates
        0.05
        + 9e-10 * c.steps * c.train_points * c.width**2
        + 2e-6 * cells
        + c.num_points * (c.n0 + c.n) * _CORE
    )
    return Cost(
        bytes=3e8 + 40 * cells + 8 * 10_000 * c.width, seconds=seconds, drivers=("n", "sigma", "num_points")
    )


# --------------------------------------------------------------------------- experiment: linear tightness


@dataclass(frozen=True, kw_only=True)
class LinearConfig(Validated):
    """A base classifier whose smoothed boundary is known exactly: certified against true radius."""

    base: str = param("halfspace", Options(("halfspace", "quadrant")))  # linear (tight) or a quadrant (loose)
    d: int = param(10, Interval(int, 2, 4096))  # input dimension
    sigma: float = param(0.5, SIGMA)  # smoothing noise level
    ns: tuple[int, ...] = param(
        (100, 1000, 10_000, 100_000), Tuple(N, max_len=8, increasing=True)
    )  # n values
    n0: int = param(100, N0)  # samples that choose the top class
    alpha: float = param(0.001, ALPHA)  # failure probability of each certificate
    num_points: int = param(16, Interval(int, 1, 500))  # test points, spread in distance to the boundary
    max_distance: float = param(
        3.0, Interval(float, 0.1, 20.0)
    )  # farthest point's distance to f's boundary / sigma
    seed: int = param(0, SEED)  # the normal vector, the points and the smoothing noise


def linear_points(config: LinearConfig) -> tuple[Any, np.ndarray]:
    """The base classifier and the test points X (num_points, d). Half-space: w ~ N(0, I), b = 0.3,
    points at signed distances +-linspace(0.05, max_distance) sigma (alternating). Quadrant: points
    with x1 = linspace(0.65, 0.6 + max_distance) sigma and x2 = x1 (1 + U/2), both inside class 1."""
    from engine.phenomena.smoothing.science import Halfspace, Quadrant

    rng = np.random.default_rng(config.seed)
    X = rng.standard_normal((config.num_points, config.d))
    steps = np.linspace(0.05, config.max_distance, config.num_points)
    if config.base == "halfspace":
        w, b = rng.standard_normal(config.d), 0.3
        unit = w / np.linalg.norm(w)
        signs = np.where(np.arange(config.num_points) % 2 == 0, 1.0, -1.0)
        X = X - np.outer((X @ w + b) / np.linalg.norm(w), unit) + np.outer(signs * steps * config.sigma, unit)
        return Halfspace(w, b), X
    x1 = (0.6 + steps) * config.sigma
    X[:, 0], X[:, 1] = x1, x1 * (1 + rng.random(config.num_points) / 2)
    return Quadrant(), X


def compute_linear(config: LinearConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (n, point): true_radius (distance to g's boundary), exact_radius (sigma
    Phi^-1(pA), the radius infinitely many samples certify), p_a, p_lower, prediction, label,
    correct, radius (certified), cap."""
    from scipy import stats

    from engine.phenomena.smoothing.science import Smooth, max_certifiable_radius, radius_from_probability

    base, X = linear_points(config)
    p_one = base.probability(X, config.sigma)
    label = (p_one > 0.5).astype(np.int64)
    p_a = np.maximum(p_one, 1 - p_one)
    true_radius = base.boundary_distance(X, config.sigma)
    frames = []
    for k, n in enumerate(config.ns):
        ctx.report(k / len(config.ns), f"certifying with n = {n:,}")
        smooth = Smooth(base, 2, config.sigma, input_shape=(config.d,), seed=config.seed + 1 + k)
        rows = [smooth.certify_probability(x, config.n0, n, config.alpha, 10_000) for x in X]
        prediction = np.array([c if p >= 0.5 else -1 for c, p in rows])
        p_lower = np.array([p for _, p in rows])
        frames.append(
            pd.DataFrame(
                {
                    "n": n,
                    "point": np.arange(len(X)),
                    "label": label,
                    "prediction": prediction,
                    "correct": prediction == label,
                    "p_a": p_a,
                    "p_lower": p_lower,
                    "radius": [
                        radius_from_probability(p, config.sigma) if p >= 0.5 else 0.0 for p in p_lower
                    ],
                    "exact_radius": config.sigma * stats.norm.ppf(p_a),
                    "true_radius": true_radius,
                    "cap": max_certifiable_radius(config.sigma, n, config.alpha),
                }
            )
        )
    ctx.report(1.0, "done")
    return pd.concat(frames, ignore_index=True).assign(
        base=config.base, sigma=config.sigma, d=config.d, alpha=config.alpha
    )


def estimate_linear(c: LinearConfig) -> Cost:
    """float64 noise and a dot product per sample: about 0.3 us per sample at d = 10 (one core)."""
    samples = c.num_points * (len(c.ns) * c.n0 + sum(c.ns))
    return Cost(
        bytes=3e8 + 2 * 8 * 10_000 * c.d,
        seconds=0.1 + samples * (2e-7 + 1e-8 * c.d),
        drivers=("ns", "num_points", "d"),
    )
