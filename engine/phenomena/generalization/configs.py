"""The generalization experiments' configs, each field's constraint declared beside its default,
and their cost models (peak memory and laptop-core seconds, checked before a run starts)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.experiment import Cost
from engine.core.params import Interval, Tuple, Validated, param
from engine.phenomena.generalization.paper import DEFAULT_DELTA

_SEEDS = Interval(int, 1, 100)
_SEED = Interval(int, 0, 2**31 - 1)
_NOISE = Interval(float, 0.0, 10.0)
_SPIKE = Interval(float, 0.05, 100.0)
_TAIL = Interval(float, 1.0, 2.0)
_DELTA = Interval(float, 0.0, 0.5, closed="neither")

# ----------------------------------------------------------------------------- configs


@dataclass(frozen=True, kw_only=True)
class LinearConfig(Validated):
    """Minimum-norm interpolation with a spiked covariance, swept over n."""

    n_values: tuple[int, ...] = param(
        (50, 100, 200, 400, 800, 1600, 3200),
        Tuple(Interval(int, 2, 12800), min_len=2, max_len=12, increasing=True),
    )  # n
    n_spikes: int = param(3, Interval(int, 1, 20))  # k, the number of large eigenvalues (theta* lives there)
    spike: float = param(1.0, _SPIKE)  # the spikes' eigenvalue ("spike strength")
    tail_exponent: float = param(1.5, _TAIL)  # tail dimension p_t = ceil(n^a) (a = 1: p_t = n, not benign)
    noise: float = param(1.0, _NOISE)  # label-noise standard deviation sigma (noise level sigma^2)
    delta: float = param(DEFAULT_DELTA, _DELTA)  # the coupling bound holds with probability >= 1 - delta
    seeds: int = param(3, _SEEDS)  # independent training sets per n
    seed: int = param(0, _SEED)  # base seed


@dataclass(frozen=True, kw_only=True)
class RidgeConfig(Validated):
    """The same decomposition for ridge regression at one n, swept over the ridge parameter."""

    n: int = param(400, Interval(int, 2, 3200))  # training-set size
    ridges: tuple[float, ...] = param(
        (1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0),
        Tuple(Interval(float, 1e-8, 1e3), min_len=2, max_len=30, increasing=True),
    )
    n_spikes: int = param(3, Interval(int, 1, 20))  # k, the number of large eigenvalues
    spike: float = param(1.0, _SPIKE)  # the spikes' eigenvalue
    tail_exponent: float = param(1.5, _TAIL)  # tail dimension p_t = ceil(n^a)
    noise: float = param(1.0, _NOISE)  # label-noise standard deviation sigma
    delta: float = param(DEFAULT_DELTA, _DELTA)  # confidence 1 - delta of the coupling bound
    seeds: int = param(3, _SEEDS)  # independent training sets
    seed: int = param(0, _SEED)  # base seed


@dataclass(frozen=True, kw_only=True)
class NKConfig(Validated):
    """Nagarajan & Kolter's one-step classifier, swept over the training-set size m."""

    m_values: tuple[int, ...] = param(
        (32, 64, 128, 256, 512, 1024, 2048),
        Tuple(Interval(int, 2, 16384), min_len=2, max_len=12, increasing=True),
    )
    dim_factor: int = param(500, Interval(int, 1, 100000))  # noise-block dimension D = dim_factor * m
    delta: float = param(DEFAULT_DELTA, _DELTA)  # total: delta/2 for Hoeffding, delta/2 for the coupling
    seeds: int = param(3, _SEEDS)  # independent training sets per m
    seed: int = param(0, _SEED)  # base seed


@dataclass(frozen=True, kw_only=True)
class RandomFeaturesConfig(Validated):
    """ReLU random-features regression, interpolating (ridge 0) and ridge, swept over n."""

    n_values: tuple[int, ...] = param(
        (50, 100, 200, 400, 800), Tuple(Interval(int, 2, 8192), min_len=2, max_len=12, increasing=True)
    )
    n_features: int = param(2000, Interval(int, 4, 20000))  # N random features (>= 2 max n)
    input_dim: int = param(20, Interval(int, 1, 1000))  # d, x ~ N(0, I_d), f*(x) = x . 1 / sqrt(d)
    ridge: float = param(0.01, Interval(float, 1e-8, 1e3))  # lambda of the non-interpolating fit
    noise: float = param(1.0, _NOISE)  # label-noise standard deviation sigma
    n_test: int = param(2000, Interval(int, 100, 100000))  # Monte Carlo test points
    delta: float = param(DEFAULT_DELTA, _DELTA)  # confidence 1 - delta of the coupling bound
    seeds: int = param(2, _SEEDS)  # independent (weights, training set) draws
    seed: int = param(0, _SEED)  # base seed

    def check(self) -> None:
        if self.n_features < 2 * max(self.n_values):
            self.fail(
                "n_features",
                f"an int >= 2 * max(n_values) = {2 * max(self.n_values)} so that ridge 0 interpolates",
            )


# ----------------------------------------------------------------------------- cost estimates


def estimate_linear(config: LinearConfig) -> Cost:
    """O(n^2) per training set (the tridiagonal eigenvalues, ~1.2e-8 s n^2 measured) plus ~5 ms for the exact
    sups and bounds; O(n k) memory; two threads. Measured 0.6 s CPU (quick), 13 s (paper preset)."""
    work = config.seeds * sum(n * n for n in config.n_values)
    peak = 8 * max(config.n_values) * (12 * config.n_spikes + 40) * 2
    return Cost(
        bytes=float(peak + 50e6),
        seconds=1.2e-8 * work + 0.005 * config.seeds * len(config.n_values),
        drivers=("n_values", "seeds"),
    )


def estimate_ridge(config: RidgeConfig) -> Cost:
    return Cost(
        bytes=float(8 * config.n * (12 * config.n_spikes + 40) + 50e6),
        seconds=config.seeds * (1.2e-8 * config.n**2 + 0.003 * len(config.ridges)),
        drivers=("n", "ridges", "seeds"),
    )


def estimate_nk(config: NKConfig) -> Cost:
    """The Bartlett factor: m^2 floats, O(m^2) time per training set."""
    m = max(config.m_values)
    return Cost(
        bytes=float(3 * 8 * m * m + 50e6),
        seconds=5e-8 * config.seeds * sum(v * v for v in config.m_values),
        drivers=("m_values", "seeds"),
    )


def estimate_random_features(config: RandomFeaturesConfig) -> Cost:
    """Test features (n_test, N), the coupling map (n_test, n) and n x n Gram matrices; BLAS at ~5 GFLOP/s."""
    n, N, t = max(config.n_values), config.n_features, config.n_test
    peak = 8 * (t * N + 2 * N * n + t * n + 3 * n * n) + 50e6
    flops = config.seeds * sum(
        2 * (t * N * config.input_dim + N * v * v + t * N * v) + 10 * v**3 for v in config.n_values
    )
    return Cost(bytes=float(peak), seconds=flops / 5e9, drivers=("n_values", "n_features", "n_test", "seeds"))
