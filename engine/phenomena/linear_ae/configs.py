"""Linear-autoencoder configs (each field's constraint declared beside its default) and their
cost models (peak memory and time before a run starts)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.experiment import Cost
from engine.core.params import Interval, Options, Tuple, Validated, param
from engine.phenomena.linear_ae.science import (
    ALL_VARIANTS,
    CHUNK_BYTES,
    LADDERS,
    NESTED_DROPOUT,
    NESTED_RHO,
    OPTIMIZERS,
    VARIANTS,
)

VARIANT_LABELS = VARIANTS  # uniform, non_uniform, rotation (RAG alone), non_uniform+rotation
#: What linear_ae.nested trains: non-uniform L2 and RAG alone (as the page) against nested dropout.
NESTED_LABELS = ("non_uniform", "rotation", NESTED_DROPOUT)
DATASETS = ("synthetic", "digits", "mnist", "mnist_5k")  # mnist_5k: the real 5,000-image sample (offline)
SEED = Interval(int, 0, 2**31 - 1)
STEP_SIZE = Interval(float, 0.0, 10.0, closed="right")


@dataclass(frozen=True, kw_only=True)
class DynamicsConfig(Validated):
    """Training of the four variants on one data set; the quick default is the page's view."""

    dataset: str = param(
        "synthetic", Options(DATASETS)
    )  # synthetic (Gaussian), digits (8x8), mnist or mnist_5k
    d: int = param(20, Interval(int, 2, 4096))  # synthetic data dimension (images use their pixel count)
    n: int = param(2000, Interval(int, 2, 1_000_000))  # synthetic sample count
    spectrum_top: float = param(
        10.0, Interval(float, 1.0, 1e6, closed="right")
    )  # eigenvalues linear from this to 1
    k: int = param(4, Interval(int, 1, 784))  # latent dimension
    lam: float = param(1.0, Interval(float, 0.0, 1e3))  # ladder scale: linspace(0.1, 0.9, k) * lam
    ladder: str = param("linear", Options(LADDERS))  # linear: lam_i = ladder; reference: lam_i = ladder^2
    optimizer: str = param("sgd", Options(OPTIMIZERS))  # sgd (Nesterov 0.9) or adam
    lr: float = param(3e-3, STEP_SIZE)  # base step size
    lr_multipliers: tuple[float, ...] = param(  # per variant, in VARIANT_LABELS order
        (1.0, 1.0, 1.0, 1.0), Tuple(Interval(float, 0.0, 100.0), min_len=4, max_len=4)
    )
    steps: int = param(20000, Interval(int, 1, 1_000_000))  # full-batch iterations
    record_every: int = param(100, Interval(int, 1, 100_000))  # history resolution, in steps
    init_std: float = param(0.01, Interval(float, 0.0, 1.0, closed="right"))  # weights start N(0, init_std^2)
    seed: int = param(0, SEED)  # data and initialisation

    def check(self) -> None:
        if self.dataset == "synthetic" and self.k > self.d:
            self.fail("k", f"an int in [1, d={self.d}]")
        if self.dataset == "digits" and self.k > 64:
            self.fail("k", "an int in [1, 64] for digits (8x8 pixels)")


@dataclass(frozen=True, kw_only=True)
class SnapshotConfig(DynamicsConfig):
    """The dynamics run stopped at ``at_step``, for the |cos| heatmap (the paper's Fig. 3)."""

    at_step: int = param(2000, Interval(int, 0, 1_000_000))  # the step whose decoder is compared


@dataclass(frozen=True, kw_only=True)
class SaddleConfig(DynamicsConfig):
    """The quick dynamics run continued for long: non-uniform L2 visits a wrongly ordered saddle."""

    steps: int = param(600_000, Interval(int, 1, 1_000_000))  # full-batch iterations
    record_every: int = param(2000, Interval(int, 1, 100_000))  # history resolution, in steps


@dataclass(frozen=True, kw_only=True)
class NestedConfig(DynamicsConfig):
    """Nested dropout (expected loss, the reference's baseline) against RAG and non-uniform L2."""

    rho: float = param(
        NESTED_RHO, Interval(float, 0.0, 1.0, closed="right")
    )  # geometric prior; keep_i = rho^i


@dataclass(frozen=True, kw_only=True)
class ScalingConfig(Validated):
    """Steps until the axis alignment drops below a threshold, as k grows (the paper's Fig. 4)."""

    d: int = param(32, Interval(int, 2, 4096))  # data dimension
    n: int = param(0, Interval(int, 0, 1_000_000))  # samples behind the covariance; 0 = the population itself
    spectrum_top: float = param(10.0, Interval(float, 1.0, 1e6, closed="right"))  # eigenvalues linear to 1
    ks: tuple[int, ...] = param((2, 4, 8, 16), Tuple(Interval(int, 1, 4096), increasing=True))  # latent dims
    ladder: str = param(
        "linear", Options(("linear", "fig4"))
    )  # linear: lam*linspace(.1,.9,k); fig4: reference
    lam: float = param(4.0, Interval(float, 0.0, 1e3))  # scale of the linear ladder (fig4 ignores it)
    optimizer: str = param("sgd", Options(OPTIMIZERS))  # sgd (Nesterov 0.9) or adam
    lr: float = param(2e-2, STEP_SIZE)  # step size of non-uniform L2 (diverges at 5e-2)
    rag_lr: float = param(1e-3, STEP_SIZE)  # step size of RAG (no penalty; plateaus at 2e-3 for k = 16)
    threshold: float = param(0.05, Interval(float, 0.0, 1.0, closed="neither"))  # alignment that counts
    max_steps: int = param(30_000, Interval(int, 1, 10_000_000))  # not aligned by then: "not reached"
    check_every: int = param(50, Interval(int, 1, 100_000))  # resolution of the step count
    init_std: float = param(0.01, Interval(float, 0.0, 1.0, closed="right"))  # weights start N(0, init_std^2)
    seed: int = param(0, SEED)  # eigenbasis, samples and initialisation

    def check(self) -> None:
        if self.ks[-1] > self.d:
            self.fail("ks", f"a strictly increasing tuple of ints in [1, d={self.d}]")


@dataclass(frozen=True, kw_only=True)
class DecoderConfig(Validated):
    """Decoder columns drawn as images after training one variant on an image data set."""

    dataset: str = param(
        "digits", Options(("digits", "mnist", "mnist_5k"))
    )  # digits (8x8, offline), mnist or mnist_5k (28x28)
    variant: str = param("non_uniform+rotation", Options(ALL_VARIANTS))  # which variant to train
    k: int = param(8, Interval(int, 1, 784))  # latent dimension
    lam: float = param(0.05, Interval(float, 0.0, 1e3))  # ladder scale (uniform uses its mean)
    ladder: str = param("linear", Options(LADDERS))  # linear: lam_i = ladder; reference: lam_i = ladder^2
    optimizer: str = param("sgd", Options(OPTIMIZERS))  # sgd (Nesterov 0.9) or adam
    lr: float = param(0.05, STEP_SIZE)  # step size
    steps: int = param(5000, Interval(int, 1, 1_000_000))  # full-batch iterations
    init_std: float = param(0.01, Interval(float, 0.0, 1.0, closed="right"))  # weights start N(0, init_std^2)
    seed: int = param(0, SEED)  # initialisation

    def check(self) -> None:
        if self.dataset == "digits" and self.k > 64:
            self.fail("k", "an int in [1, 64] for digits (8x8 pixels)")


# ----------------------------------------------------------------------------- cost models
# Seconds on one laptop core: a BLAS flop rate and the Python overhead of one training step.
_FLOPS, _STEP_OVERHEAD, _BYTES = 5e9, 2.5e-5, 8
_PIXELS = {"digits": (1300, 64), "mnist": (60000, 784), "mnist_5k": (5000, 784)}


def _training(steps: int, records: int, V: int, k: int, d: int) -> tuple[float, float]:
    """(bytes, seconds) of train_variants: optimizer buffers and snapshots of (2 V k, d) floats."""
    rows = 2 * V * k
    return (
        _BYTES * rows * d * (6 + 3 * records),
        steps * (_STEP_OVERHEAD + 4 * rows * d * d / _FLOPS) + records * rows * d * k / _FLOPS,
    )


def _data(dataset: str, n: int, d: int) -> tuple[int, int, float, float]:
    """(n, d, bytes, seconds) of building the covariance: synthetic samples are drawn in chunks
    (d x d memory); images are loaded whole and centred (two n x d copies)."""
    if dataset in _PIXELS:
        n, d = _PIXELS[dataset]
        return n, d, 2 * _BYTES * n * d + 4 * _BYTES * d * d, n * d * d / _FLOPS
    return n, d, 6 * _BYTES * d * d + 2 * CHUNK_BYTES, (2 * n * d * d + 12 * d**3) / _FLOPS


def dynamics_cost(cfg: DynamicsConfig) -> Cost:
    """Peak memory and time of a dynamics, snapshot or saddle run (four variants or fewer)."""
    n, d, data_bytes, data_seconds = _data(cfg.dataset, cfg.n, cfg.d)
    steps = getattr(cfg, "at_step", cfg.steps)
    variants = 2 if isinstance(cfg, SaddleConfig) else 3 if isinstance(cfg, NestedConfig) else 4
    train_bytes, train_seconds = _training(steps, steps // cfg.record_every + 1, variants, cfg.k, d)
    return Cost(
        bytes=data_bytes + train_bytes,
        seconds=data_seconds + train_seconds,
        drivers=("n", "d", "k", "steps") if cfg.dataset == "synthetic" else ("dataset", "k", "steps"),
    )


def scaling_cost(cfg: ScalingConfig) -> Cost:
    """Peak memory (the largest k's snapshots) and time (every k, run to max_steps) of Fig. 4."""
    d = cfg.d
    _, _, data_bytes, data_seconds = _data("synthetic", cfg.n, d)
    records = cfg.max_steps // cfg.check_every + 1
    per_k = [_training(cfg.max_steps, records, 2, k, d) for k in cfg.ks]
    return Cost(
        bytes=data_bytes + max(b for b, _ in per_k),
        seconds=data_seconds + sum(t for _, t in per_k),
        drivers=("d", "ks", "max_steps"),
    )


def decoders_cost(cfg: DecoderConfig) -> Cost:
    """Peak memory and time of training one variant on digits or MNIST."""
    _, d, data_bytes, data_seconds = _data(cfg.dataset, 0, 0)
    train_bytes, train_seconds = _training(cfg.steps, 51, 1, cfg.k, d)
    return Cost(
        bytes=data_bytes + train_bytes,
        seconds=data_seconds + train_seconds,
        drivers=("dataset", "k", "steps"),
    )
