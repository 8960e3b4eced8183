"""Generalization via derandomization (Negrea, Dziugaite, Roy, ICML 2020): configs, compute functions,
presets, claims and the registered experiments.

The science lives in :mod:`.science` (the spiked linear model), :mod:`.bounds` (UC bound, coupling tail
bound, exact sup), :mod:`.nk` (Nagarajan-Kolter) and :mod:`.random_features`; charts in :mod:`.charts`.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.core.experiment import Claim, Experiment, RunContext
from engine.phenomena.generalization import charts as gc
from engine.phenomena.generalization.configs import (
    LinearConfig,
    NKConfig,
    RandomFeaturesConfig,
    RidgeConfig,
    estimate_linear,
    estimate_nk,
    estimate_random_features,
    estimate_ridge,
)
from engine.phenomena.generalization.paper import SETUPS

if TYPE_CHECKING:
    from engine.phenomena.generalization.science import SpikedSpectrum

# The science (scipy) is imported where it runs, so that the registry (configs, presets, claims)
# loads without it: the home page and the scoreboard stay light.

# ----------------------------------------------------------------------------- compute


def _rng(config, *keys: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *keys])


def compute_linear(config: LinearConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (n, seed, surrogate). The (n, seed) runs go to two threads (LAPACK releases the GIL),
    largest n first so that neither thread is left with the biggest run alone at the end."""
    tasks = [(n, seed) for n in config.n_values for seed in range(config.seeds)]
    total, done, results = sum(n * n for n, _ in tasks), 0, {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            pool.submit(_linear_task, config, n, seed): (n, seed)
            for n, seed in sorted(tasks, key=lambda t: -t[0])
        }
        for future in as_completed(futures):
            n, seed = futures[future]
            results[n, seed] = future.result()
            done += n * n
            ctx.report(done / total, f"n = {n}, seed {seed + 1}/{config.seeds}")
    return pd.DataFrame([row for task in tasks for row in results[task]])


def _linear_task(config: LinearConfig, n: int, seed: int) -> list[dict]:
    from engine.phenomena.generalization.science import decomposition, sample_linear, spiked_spectrum

    spectrum = spiked_spectrum(n, config.n_spikes, config.spike, config.tail_exponent)
    sample = sample_linear(n, spectrum, config.noise, _rng(config, n, seed))
    return [
        {"n": n, "seed": seed, **_spectrum_columns(spectrum, config.noise), **row}
        for row in decomposition(sample, 0.0, config.delta)
    ]


def _spectrum_columns(spectrum: SpikedSpectrum, noise: float) -> dict:
    return {
        "p": spectrum.dim,
        "tail_dim": spectrum.tail_dim,
        "tail_eigenvalue": spectrum.tail_value,
        "noise": float(noise),
        "noise_level": float(noise) ** 2,
    }


def compute_ridge(config: RidgeConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (ridge, seed, surrogate) at fixed n."""
    from engine.phenomena.generalization.science import decomposition, sample_linear, spiked_spectrum

    spectrum = spiked_spectrum(config.n, config.n_spikes, config.spike, config.tail_exponent)
    rows = []
    for seed in range(config.seeds):
        sample = sample_linear(config.n, spectrum, config.noise, _rng(config, config.n, seed))
        for ridge in config.ridges:
            for row in decomposition(sample, ridge, config.delta):
                rows.append(
                    {
                        "n": config.n,
                        "ridge": ridge,
                        "seed": seed,
                        **_spectrum_columns(spectrum, config.noise),
                        **row,
                    }
                )
        ctx.report((seed + 1) / config.seeds, f"seed {seed + 1}/{config.seeds}")
    return pd.DataFrame(rows)


def compute_nk(config: NKConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (m, seed): NK's interpolating classifier and its derandomized surrogate."""
    from engine.phenomena.generalization.nk import nk_decomposition, sample_nk

    rows, total, done = [], sum(m * m for m in config.m_values) * config.seeds, 0
    for m in config.m_values:
        for seed in range(config.seeds):
            sample = sample_nk(m, max(config.dim_factor * m, m), _rng(config, m, seed))
            rows.append(
                {
                    "m": m,
                    "seed": seed,
                    "noise_dim": sample.noise_dim,
                    "dim_factor": config.dim_factor,
                    **nk_decomposition(sample, config.delta),
                }
            )
            done += m * m
            ctx.report(done / total, f"m = {m}, seed {seed + 1}/{config.seeds}")
    return pd.DataFrame(rows)


def compute_random_features(config: RandomFeaturesConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (n, seed, fit) with fit in {"interpolating", "ridge"}."""
    from engine.phenomena.generalization.random_features import rf_decomposition, rf_features, rf_moments

    rows, d = [], config.input_dim
    theta_star = np.full(d, 1.0 / math.sqrt(d))
    for seed in range(config.seeds):
        rng = _rng(config, seed)
        weights = rng.standard_normal((config.n_features, d))
        X_test = rng.standard_normal((config.n_test, d))
        test_features, test_signal = rf_features(X_test, weights), X_test @ theta_star
        moments = rf_moments(test_features, test_signal, config.noise)
        for n in config.n_values:
            X = rng.standard_normal((n, d))
            features, noise = rf_features(X, weights), config.noise * rng.standard_normal(n)
            gram, cross = features @ features.T, test_features @ features.T
            for fit, ridge in (("interpolating", 0.0), ("ridge", config.ridge)):
                row = rf_decomposition(
                    features,
                    gram,
                    cross,
                    X @ theta_star,
                    noise,
                    test_signal,
                    config.noise,
                    ridge,
                    moments,
                    config.delta,
                )
                rows.append(
                    {
                        "n": n,
                        "seed": seed,
                        "fit": fit,
                        "ridge": ridge,
                        "n_features": config.n_features,
                        "noise_level": config.noise**2,
                        **row,
                    }
                )
        ctx.report((seed + 1) / config.seeds, f"seed {seed + 1}/{config.seeds}")
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- claims


def _filter(frame: pd.DataFrame, **filters) -> pd.DataFrame:
    for key, value in filters.items():
        frame = frame[frame[key] == value]
    return frame


def _at(frame: pd.DataFrame, x: str, which: str, column: str, **filters) -> float:
    """Mean over seeds of ``column`` at the smallest or largest ``x`` (which = "first" or "last")."""
    means = _filter(frame, **filters).groupby(x)[column].mean()
    return float(means.iloc[0] if which == "first" else means.iloc[-1])


def _over_noise(frame: pd.DataFrame, column: str, **filters) -> float:
    """Mean of ``column`` at the largest n over the noise level sigma^2 (inf when sigma = 0)."""
    level = _at(frame, "n", "last", "noise_level", **filters)
    value = _at(frame, "n", "last", column, **filters)
    return value / level if level > 0 else math.inf


def _ratio(frame: pd.DataFrame, x: str, column: str, **filters) -> float:
    """Mean of ``column`` at the largest x over its mean at the smallest x (nan for 0 / 0, inf for a / 0)."""
    top, bottom = _at(frame, x, "last", column, **filters), _at(frame, x, "first", column, **filters)
    if bottom == 0:
        return math.nan if top == 0 else math.inf
    return top / bottom


# ----------------------------------------------------------------------------- page grids


N_GRIDS = {
    n_max: tuple(50 * 2**i for i in range(int(math.log2(n_max // 50)) + 1)) for n_max in (800, 1600, 3200)
}
NOISE_LEVELS = (0.25, 0.5, 1.0, 2.0)  # the page's noise slider (sigma)
TAIL_EXPONENTS = (1.0, 1.25, 1.5, 1.75, 2.0)  # the page's tail-exponent slider (1.0: p_t = n, not benign)
SPIKES = (0.5, 1.0, 2.0, 4.0)  # the page's spike-strength slider
RIDGES = (1e-3, 1e-2, 0.1, 1.0)  # the page's ridge slider (random features)
DIM_FACTORS = (2, 10, 100, 500, 1000)  # the page's D/m slider (2, 10: D not >> m)


def _linear_sweep() -> list[LinearConfig]:
    """Every position of the page's linear sliders."""
    return [
        LinearConfig(n_values=N_GRIDS[n_max], noise=noise, tail_exponent=a, spike=spike)
        for n_max in N_GRIDS
        for noise in NOISE_LEVELS
        for a in TAIL_EXPONENTS
        for spike in SPIKES
    ]


_LIN = "generalization.linear"
_NK = "generalization.nk"

_LIN_SETUPS = {
    "quick": "synthetic Gaussian, k = 3 spikes, p = 3 + n^1.5, min-norm interpolation, n = 50..3200, 3 seeds",
    "paper": "synthetic Gaussian, k = 3 spikes, p = 3 + n^1.5, min-norm interpolation, n = 100..6400, "
    "20 seeds",
}
_CONF = "; coupling term bounded with probability >= 95 % (delta = 0.05)"

EXPERIMENTS = (
    Experiment(
        name=_LIN,
        title="Minimum-norm interpolation: the surrogate bound falls, uniform convergence over the ball does not",
        config_cls=LinearConfig,
        compute=compute_linear,
        presets={
            "quick": LinearConfig(),
            "paper": LinearConfig(n_values=(100, 200, 400, 800, 1600, 3200, 6400), seeds=20),
        },
        version=2,
        charts={
            "denoising": gc.linear_denoising_chart,
            "head": gc.linear_head_chart,
            "coupling": gc.coupling_chart,
            "uniform": gc.uniform_chart,
            "norms": gc.norms_chart,
        },
        description="Spiked covariance, p = k + n^a >> n. The min-norm interpolator fits the noise with a "
        "large-norm tail component; the exact uniform deviation over the ball that holds it stays far above the "
        "noise level, while the surrogate's bound (its coupling term bounded at 95 % without looking at R(ĥ)) "
        "falls towards the truth.",
        sweeps={"quick": _linear_sweep},
        setups=_LIN_SETUPS,
        estimate=estimate_linear,
        claims=(
            Claim(
                "gen.interpolates",
                "The minimum-norm interpolator has zero training error at every n.",
                _LIN,
                measure=lambda f: float(f["train_error"].max()),
                holds=lambda v: v < 1e-10,
                unit="max training MSE",
                kind="sanity",
                paper_setup=SETUPS["linear"],
            ),
            Claim(
                "gen.benign",
                "Benign overfitting: the interpolator's test risk approaches the noise level.",
                _LIN,
                measure=lambda f: _over_noise(f, "test_risk"),
                holds=lambda v: v < 1.05,
                paper_value=1.0,
                tolerance=0.05,
                unit="R(ĥ) / σ² at the largest n",
                paper_setup=SETUPS["linear"],
            ),
            Claim(
                "gen.ball_stuck",
                "Uniform convergence over the smallest ball containing the interpolator does "
                "not vanish: the exact sup of |R − R̂_S| over that ball does not fall with n.",
                _LIN,
                measure=lambda f: _ratio(f, "n", "ball_sup"),
                holds=lambda v: v >= 0.9,
                unit="exact sup over {|θ| ≤ |θ̂|}, largest n / smallest n",
                paper_setup=SETUPS["linear"],
            ),
            Claim(
                "gen.surrogate_falls",
                "The denoising surrogate's bound falls with n" + _CONF + ".",
                _LIN,
                measure=lambda f: _ratio(f, "n", "surrogate_bound", surrogate="denoising"),
                holds=lambda v: v < 0.6,
                unit="surrogate bound, largest n / smallest n",
                paper_setup=SETUPS["linear"],
            ),
            Claim(
                "gen.surrogate_tight",
                "At the largest n the denoising surrogate's bound is within 2σ² (the "
                "ball's exact sup alone is about 10σ²)" + _CONF + ".",
                _LIN,
                measure=lambda f: _over_noise(f, "surrogate_bound", surrogate="denoising"),
                holds=lambda v: v < 2.0,
                unit="surrogate bound / σ² at the largest n",
                paper_setup=SETUPS["linear"],
            ),
            Claim(
                "gen.coupling_falls",
                "The 95 % bound on the coupling term |R(ĥ) − R(h̃)| of the denoising "
                "surrogate (computed from X, never from R(ĥ)) falls with n.",
                _LIN,
                measure=lambda f: _ratio(f, "n", "coupling_bound", surrogate="denoising"),
                holds=lambda v: v < 0.5,
                unit="coupling bound, largest n / smallest n",
                paper_setup=SETUPS["linear"],
            ),
        ),
    ),
    Experiment(
        name=_NK,
        title="Nagarajan-Kolter: two-sided uniform convergence is vacuous, derandomization is not",
        config_cls=NKConfig,
        compute=compute_nk,
        presets={
            "quick": NKConfig(),
            "paper": NKConfig(m_values=(64, 128, 256, 512, 1024, 2048, 4096, 8192), seeds=20),
        },
        version=2,
        charts={"main": gc.nk_chart},
        description="One gradient step on x = (2yu, x2) with a D >> m noise block: zero training error, small "
        "test error, error 1 on the mirrored training set; the derandomized classifier sign(u . x1) is one "
        "fixed predictor that Hoeffding bounds, and its coupling term is bounded by a chi-square quantile.",
        sweeps={"quick": lambda: [NKConfig(dim_factor=f) for f in DIM_FACTORS]},
        setups={
            "quick": "N&K's synthetic example, m = 32..2048, D = 500 m, 3 seeds",
            "paper": "N&K's synthetic example, m = 64..8192, D = 500 m, 20 seeds",
        },
        estimate=estimate_nk,
        claims=(
            Claim(
                "nk.mirror",
                "The interpolator errs on (nearly) every point of the mirrored training set, so "
                "every two-sided UC bound over the algorithm's outputs is about 1.",
                _NK,
                measure=lambda f: float(f["mirror_error"].min()),
                holds=lambda v: v > 0.95,
                paper_value=1.0,
                tolerance=0.05,
                unit="min mirrored-set error",
                paper_setup=SETUPS["nk"],
            ),
            Claim(
                "nk.agree",
                "The derandomized classifier's true error (computed) matches the interpolator's test error.",
                _NK,
                measure=lambda f: float((f["test_error"] - f["surrogate_risk"]).abs().max()),
                holds=lambda v: v < 0.005,
                unit="max realized |R(ĥ) − R(h̃)|",
                paper_setup=SETUPS["nk"],
            ),
            Claim(
                "nk.bound_small",
                "The derandomized bound (Hoeffding + chi-square coupling bound, 95 %) is "
                "non-vacuous and below 0.1 at the largest m.",
                _NK,
                measure=lambda f: _at(f, "m", "last", "surrogate_bound"),
                holds=lambda v: v < 0.1,
                unit="surrogate bound at the largest m",
                paper_setup=SETUPS["nk"],
            ),
        ),
    ),
    Experiment(
        name="generalization.ridge",
        title="Extension: the decomposition across the ridge parameter",
        config_cls=RidgeConfig,
        compute=compute_ridge,
        presets={"quick": RidgeConfig(), "paper": RidgeConfig(n=1600, seeds=20)},
        version=2,
        charts={"main": gc.ridge_chart},
        description="Ridge shrinks the ball (its exact sup falls) only by adding bias; the denoising "
        "surrogate's bound tracks the risk at every λ.",
        sweeps={
            "quick": lambda: [
                RidgeConfig(noise=s, tail_exponent=a, spike=k)
                for s in NOISE_LEVELS
                for a in TAIL_EXPONENTS
                for k in SPIKES
            ]
        },
        setups={
            "quick": "synthetic Gaussian, k = 3 spikes, n = 400, p = 3 + 8000, 10 ridges, 3 seeds",
            "paper": "synthetic Gaussian, k = 3 spikes, n = 1600, p = 3 + 64000, 10 ridges, 20 seeds",
        },
        estimate=estimate_ridge,
        claims=(
            Claim(
                "gen.ridge_ball_vs_surrogate",
                "Near interpolation (smallest λ) the exact uniform deviation "
                "over the smallest ball holding ĥ is at least twice the denoising surrogate's bound.",
                "generalization.ridge",
                measure=lambda f: (
                    _at(f, "ridge", "first", "ball_sup", surrogate="denoising")
                    / _at(f, "ridge", "first", "surrogate_bound", surrogate="denoising")
                ),
                holds=lambda v: v >= 2.0,
                unit="ball exact sup / surrogate bound at the smallest λ",
                paper_setup="extension (not in the paper)",
            ),
        ),
    ),
    Experiment(
        name="generalization.random_features",
        title="Extension: random-features regression, interpolating vs ridge",
        config_cls=RandomFeaturesConfig,
        compute=compute_random_features,
        presets={
            "quick": RandomFeaturesConfig(),
            "paper": RandomFeaturesConfig(
                n_values=(100, 200, 400, 800, 1600, 3200), n_features=8000, n_test=10000, seeds=10
            ),
        },
        version=2,
        charts={"main": gc.random_features_chart},
        description="ReLU random features: the interpolator's norm (and its ball bound) grows with n, the "
        "denoising surrogate's bound falls; ridge keeps the norm bounded at the price of training error.",
        sweeps={
            "quick": lambda: [RandomFeaturesConfig(ridge=r, noise=s) for r in RIDGES for s in NOISE_LEVELS]
        },
        setups={
            "quick": "ReLU random features, d = 20, N = 2000, n = 50..800, 2000 test points, 2 seeds",
            "paper": "ReLU random features, d = 20, N = 8000, n = 100..3200, 10000 test points, 10 seeds",
        },
        estimate=estimate_random_features,
        claims=(
            Claim(
                "gen.rf_surrogate_falls",
                "Interpolating random features: the surrogate bound (95 % coupling "
                "bound) falls with n while the ball bound grows.",
                "generalization.random_features",
                measure=lambda f: (
                    _ratio(f, "n", "surrogate_bound", fit="interpolating")
                    / _ratio(f, "n", "ball_bound", fit="interpolating")
                ),
                holds=lambda v: v < 0.5,
                unit="(surrogate-bound ratio) / (ball-bound ratio), largest/smallest n",
                paper_setup="extension (not in the paper)",
            ),
        ),
    ),
)
