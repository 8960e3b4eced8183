"""Regularized linear autoencoders (Bao, Lucas, Sachdeva, Grosse, NeurIPS 2020): the science.

Model: encoder W1 (k x d), decoder W2 (d x k), no bias, data rows x (d,), centred. Loss

    L(W1, W2) = |X - X W1^T W2^T|_F^2 / n + sum_i lam_i (|W1[i, :]|^2 + |W2[:, i]|^2)
              = tr((I - W2 W1) C (I - W2 W1)^T) + penalty,      C = X^T X / n   (d x d)

Uniform L2 (all lam_i equal) leaves every rotation of the latent space optimal; a strictly
increasing ladder lam_1 < ... < lam_k ("non-uniform") makes the global minimum the ordered,
axis-aligned principal directions: W1 = W2^T = diag(sqrt(1 - lam_i / s_i)) U_k^T up to signs, with
s_i the eigenvalues of C (descending) and U_k its top-k eigenvectors. Convergence to the axes is
slow; the rotation-augmented gradient (RAG) removes the slow rotational mode.

Everything here is float64 numpy and batched over "variants" (a leading axis V), so that the
page's four variants train in one loop. Nothing here imports the UI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.phenomena.linear_ae import charts
from engine.core.experiment import Claim, Experiment, RunContext
from engine.core.validation import (
    ConfigError,
    check_choice,
    check_float,
    check_float_tuple,
    check_int,
    check_int_tuple,
)

REGULARIZATIONS = ("uniform", "non_uniform", "none")
OPTIMIZERS = ("sgd", "adam")
NESTEROV_MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


# ----------------------------------------------------------------------------- closed forms


def covariance(X: np.ndarray) -> np.ndarray:
    """C = Xc^T Xc / n for the column-centred data Xc. X: (n, d) -> (d, d) float64."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    return Xc.T @ Xc / X.shape[0]


def principal_directions(cov: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenvalues (k,) descending and eigenvectors (d, k) of a covariance matrix."""
    values, vectors = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    order = np.argsort(values)[::-1][:k]
    return values[order], vectors[:, order]


def default_ladder(k: int, scale: float = 1.0) -> np.ndarray:
    """The reference code's increasing ladder: scale * linspace(0.1, 0.9, k). Shape (k,)."""
    return float(scale) * np.linspace(0.1, 0.9, k) if k > 1 else np.array([0.5 * scale])


def lambdas_for(regularization: str, lam, k: int) -> np.ndarray:
    """Per-latent penalties lam_i (k,) for a regularization kind.

    uniform: a scalar lam for every latent; non_uniform: a length-k strictly increasing vector,
    or a scalar scale of :func:`default_ladder`; none: zeros.
    """
    if regularization not in REGULARIZATIONS:
        raise ValueError(
            f"The 'regularization' parameter must be one of {', '.join(map(repr, REGULARIZATIONS))}. "
            f"Got {regularization!r} instead."
        )
    if regularization == "none":
        return np.zeros(k)
    lam_arr = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    if not np.all(np.isfinite(lam_arr)) or np.any(lam_arr < 0):
        raise ValueError(f"The 'lam' parameter must hold finite values >= 0. Got {lam!r} instead.")
    if regularization == "uniform":
        if lam_arr.size != 1:
            raise ValueError(f"The 'lam' parameter must be a scalar for uniform L2. Got {lam!r} instead.")
        return np.full(k, lam_arr[0])
    if lam_arr.size == 1:
        return default_ladder(k, lam_arr[0])
    if lam_arr.size != k or np.any(np.diff(lam_arr) <= 0):
        raise ValueError(
            f"The 'lam' parameter must be a strictly increasing vector of length k={k} for "
            f"non-uniform L2. Got {lam!r} instead."
        )
    return lam_arr


def global_minimum(cov: np.ndarray, lambdas) -> tuple[np.ndarray, np.ndarray]:
    """The non-uniform problem's global minimum (encoder (k, d), decoder (d, k)), signs chosen +.

    W1 = W2^T = diag(sqrt(1 - lam_i / s_i)) U_k^T, valid when lam_1 < ... < lam_k < s_k and the
    top-k eigenvalues s_i of ``cov`` are distinct. A latent with lam_i >= s_i collapses to zero.
    """
    lambdas = np.asarray(lambdas, dtype=np.float64)
    values, vectors = principal_directions(cov, lambdas.size)
    scale = np.sqrt(np.clip(1.0 - lambdas / values, 0.0, None))
    encoder = scale[:, None] * vectors.T
    return encoder, encoder.T.copy()


# ----------------------------------------------------------------------------- metrics


def abs_cosines(decoder: np.ndarray, eigvecs: np.ndarray) -> np.ndarray:
    """|cos| between eigenvector i (rows) and decoder column j (columns). (d, k), (d, k) -> (k, k)."""
    norms = np.linalg.norm(decoder, axis=-2, keepdims=True)
    unit = decoder / np.where(norms > 0, norms, 1.0)
    return np.abs(np.swapaxes(eigvecs, -1, -2) @ unit)


def axis_alignment(decoder: np.ndarray, eigvecs: np.ndarray) -> float | np.ndarray:
    """mean_i (1 - max_j cos^2(u_i, decoder[:, j])): 0 when every principal axis has its own column.

    decoder (..., d, k), eigvecs (d, k) -> scalar (or (...,) for a stack).
    """
    cos2 = abs_cosines(decoder, eigvecs) ** 2
    return np.mean(1.0 - cos2.max(axis=-1), axis=-1)


def subspace_distance(decoder: np.ndarray, eigvecs: np.ndarray) -> float | np.ndarray:
    """1 - tr(U U^T P) / k with P the projector onto the decoder's column space. (..., d, k) -> (...)."""
    basis, _ = np.linalg.qr(decoder)
    overlap = np.swapaxes(eigvecs, -1, -2) @ basis  # (..., k, k)
    return 1.0 - (overlap**2).sum(axis=(-1, -2)) / eigvecs.shape[-1]


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Variant:
    """One training variant: penalties (k,), whether RAG is on, and its step size."""

    label: str
    lambdas: np.ndarray
    rotation: bool
    lr: float


@dataclass
class FitResult:
    """A trained autoencoder: encoder (k, d), decoder (d, k) and its training history."""

    encoder: np.ndarray
    decoder: np.ndarray
    history: pd.DataFrame  # columns: step, loss, axis_alignment, subspace_distance
    diverged: bool = False


@dataclass(frozen=True)
class _Stack:
    """V models with k latents trained as one: each (Vk, Vk) matrix below is block diagonal.

    Parameters live in one (2Vk, d) array: rows [vk, (v+1)k) hold model v's encoder W1, rows
    Vk + [vk, (v+1)k) its transposed decoder W2^T. Block-diagonal coefficient matrices let one
    2-D matrix product serve all V models: the hot loop is a handful of tiny BLAS calls, and
    Python's per-call overhead, not arithmetic, is what it costs.
    """

    V: int
    k: int
    block: np.ndarray  # (Vk, Vk) 1.0 inside a model's own k x k block, 0.0 elsewhere
    two_lam: np.ndarray  # (Vk, Vk) diag(2 lam) per model
    rag_mask: np.ndarray | None  # (Vk, Vk) (triu(1) - tril(-1)) / 4 in RAG models' blocks: A2 * it = G

    @classmethod
    def build(cls, k: int, lambdas: np.ndarray, rotation: np.ndarray) -> "_Stack":
        V = len(lambdas)
        block = np.kron(np.eye(V), np.ones((k, k)))
        upper = np.triu(np.ones((k, k)), 1)
        # A is symmetric, so G = (triu(A, 1) - triu(A, 1)^T) / 2 = A * (upper - upper^T) / 2 = A2 * mask
        rag = np.kron(np.diag(rotation.astype(float)), 0.25 * (upper - upper.T))
        return cls(V, k, block, np.diag(2.0 * np.asarray(lambdas, dtype=np.float64).ravel()),
                   rag if rotation.any() else None)


def _gradients(C2, P, stack: _Stack, out):
    """Loss (+ RAG) gradients of a stack of models (layout of :class:`_Stack`), into ``out``.

    ``C2`` is 2C (d, d). With N = W1 C, A = W1 C W1^T and S = W2^T W2 (per model):
      dL/dW1   = -2 (W2^T C - S N) + 2 Lam W1 - G W1
      dL/dW2^T = -2 (N - A W2^T)   + 2 Lam W2^T - G W2^T,   G = (triu(A, 1) - triu(A, 1)^T) / 2
    The factors 2 are folded into C2 (so N2 = 2N, A2 = 2A) to save array passes in the hot loop.
    """
    rows = stack.V * stack.k
    W1, W2t = P[:rows], P[rows:]
    PC2 = P.dot(C2)  # ndarray.dot: the same BLAS call as @ with less dispatch overhead
    N2, B2 = PC2[:rows], PC2[rows:]
    A2 = N2.dot(W1.T) * stack.block  # finite P keeps the cross blocks finite, so this zeroes them
    coef_w1 = stack.two_lam if stack.rag_mask is None else stack.two_lam - A2 * stack.rag_mask
    coef_w2 = A2 + coef_w1
    S = W2t.dot(W2t.T) * stack.block
    np.subtract(S.dot(N2) + coef_w1.dot(W1), B2, out=out[:rows])
    np.subtract(coef_w2.dot(W2t), N2, out=out[rows:])
    return out


def loss_gradients(cov: np.ndarray, encoder: np.ndarray, decoder: np.ndarray, lambdas,
                   rotation: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Gradients (k, d), (d, k) of the regularized loss at one (encoder, decoder); with
    ``rotation`` the rotation-augmented gradient of the paper instead."""
    k = encoder.shape[0]
    stack = _Stack.build(k, np.asarray(lambdas, dtype=np.float64)[None], np.array([rotation]))
    P = np.concatenate([encoder, decoder.T])
    grad = _gradients(2.0 * np.asarray(cov, dtype=np.float64), P, stack, np.empty_like(P))
    return grad[:k], grad[k:].T


def _losses(C, W1, W2t, lambdas) -> np.ndarray:
    """Loss per model (V,) from encoders W1 (V, k, d) and transposed decoders W2t (V, k, d):
    tr(C) - 2 tr(W2 W1 C) + tr(W2 A W2^T) + penalty."""
    N = W1 @ C
    A = N @ np.swapaxes(W1, 1, 2)
    fit = np.trace(C) - 2.0 * np.sum(N * W2t, axis=(1, 2)) + np.sum((A @ W2t) * W2t, axis=(1, 2))
    penalty = np.sum(lambdas * (np.sum(W1**2, axis=2) + np.sum(W2t**2, axis=2)), axis=1)
    return fit + penalty


def train_variants(
    cov: np.ndarray,
    k: int,
    variants: list[Variant],
    *,
    optimizer: str = "sgd",
    steps: int = 20000,
    record_every: int = 100,
    init_std: float = 0.01,
    seed: int = 0,
    progress=None,
    stop_below: float | None = None,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Train several linear AEs on one covariance at once, full batch.

    All variants start from the same N(0, init_std^2) weights; with ``stop_below`` training ends
    early once every live variant's axis alignment is below it. Returns the final encoders
    (V, k, d), decoders (V, d, k) and a history frame with columns variant, step, loss,
    axis_alignment, subspace_distance, diverged. A variant whose weights stop being finite gets
    one flagged row at that step and is frozen at zero, so it cannot disturb the others.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"The 'optimizer' parameter must be one of {', '.join(map(repr, OPTIMIZERS))}. "
            f"Got {optimizer!r} instead."
        )
    C = np.asarray(cov, dtype=np.float64)
    d = C.shape[0]
    _, eigvecs = principal_directions(C, k)
    V = len(variants)
    rng = np.random.default_rng(seed)
    W1 = rng.normal(0.0, init_std, (k, d))
    W2 = rng.normal(0.0, init_std, (d, k))
    P = np.concatenate([np.tile(W1, (V, 1)), np.tile(W2.T, (V, 1))])  # (2Vk, d)
    models = P.reshape(2, V, k, d)  # view: models[0] encoders, models[1] decoders^T
    lambdas = np.stack([v.lambdas for v in variants])
    stack = _Stack.build(k, lambdas, np.array([v.rotation for v in variants]))
    C2 = 2.0 * C
    lr = np.tile(np.repeat([v.lr for v in variants], k), 2)[:, None]  # (2Vk, 1)
    grad = np.empty_like(P)
    first, second = np.zeros_like(P), np.zeros_like(P)
    alive = np.ones(V, dtype=bool)
    snapshots: list[tuple[int, np.ndarray, np.ndarray]] = [(0, models.copy(), alive.copy())]
    diverged_at: list[tuple[str, int]] = []

    def freeze_diverged(step: int) -> None:
        finite = np.isfinite(models).all(axis=(0, 2, 3))
        for i in np.flatnonzero(alive & ~finite):
            alive[i] = False
            diverged_at.append((variants[i].label, step))
            for buffer in (models, first.reshape(2, V, k, d), second.reshape(2, V, k, d)):
                buffer[:, i] = 0.0
            lr.reshape(2, V, k)[:, i] = 0.0

    b1, b2 = ADAM_BETAS
    mu = NESTEROV_MOMENTUM
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            g = _gradients(C2, P, stack, grad)
            if optimizer == "sgd":  # torch's SGD(nesterov=True): buf = mu buf + g; step g + mu buf
                first *= mu
                first += g
                P -= lr * (g + mu * first)
            else:
                first *= b1
                first += (1 - b1) * g
                second *= b2
                second += (1 - b2) * g * g
                step_size = lr * (np.sqrt(1 - b2**t) / (1 - b1**t))
                P -= step_size * first / (np.sqrt(second) + ADAM_EPS * np.sqrt(1 - b2**t))
            if not math.isfinite(P.sum()):  # checked every step: a non-finite row would leak
                freeze_diverged(t)
                if not alive.any():
                    break
            if t % record_every == 0 or t == steps:
                snapshots.append((t, models.copy(), alive.copy()))
                if stop_below is not None and _all_aligned(models[1], alive, eigvecs, stop_below):
                    break
                if progress is not None:
                    progress(t / steps, f"step {t:,} of {steps:,}")
    history = _history(C, eigvecs, lambdas, [v.label for v in variants], snapshots, diverged_at)
    return models[0].copy(), np.swapaxes(models[1], 1, 2).copy(), history


def _all_aligned(decoders_t: np.ndarray, alive: np.ndarray, eigvecs: np.ndarray, threshold: float) -> bool:
    """Whether every live model's axis alignment is below ``threshold`` (decoders_t: (V, k, d))."""
    align = axis_alignment(np.swapaxes(decoders_t[alive], 1, 2), eigvecs)
    return bool(alive.any()) and bool(np.all(align < threshold))


def _history(C, eigvecs, lambdas, labels, snapshots, diverged_at) -> pd.DataFrame:
    """The training history from parameter snapshots, all metrics computed in one batched pass.

    snapshots: (step, models (2, V, k, d), alive (V,)) per record. Returns columns variant, step,
    loss, axis_alignment, subspace_distance, diverged (one flagged row per diverged variant).
    """
    steps = np.array([s for s, _, _ in snapshots])
    stacked = np.stack([m for _, m, _ in snapshots])  # (R, 2, V, k, d)
    alive = np.stack([a for _, _, a in snapshots])  # (R, V)
    R, _, V, k, d = stacked.shape
    encoders = stacked[:, 0].reshape(R * V, k, d)
    decoders_t = stacked[:, 1].reshape(R * V, k, d)
    losses = _losses(C, encoders, decoders_t, np.tile(lambdas, (R, 1)))
    decoders = np.where(alive.reshape(-1, 1, 1), np.swapaxes(decoders_t, 1, 2), 1.0)
    frame = pd.DataFrame({
        "variant": np.tile(labels, R),
        "step": np.repeat(steps, V),
        "loss": losses,
        "axis_alignment": axis_alignment(decoders, eigvecs),
        "subspace_distance": subspace_distance(decoders, eigvecs),
        "diverged": False,
    })[alive.ravel()]
    flagged = pd.DataFrame(
        [(label, step, np.nan, np.nan, np.nan, True) for label, step in diverged_at], columns=frame.columns
    )
    if len(flagged):
        frame = pd.concat([frame, flagged])
    return frame.sort_values("step", kind="stable").reset_index(drop=True)


def fit(
    X: np.ndarray,
    k: int,
    *,
    regularization: str = "non_uniform",
    lam=1.0,
    rotation: bool = False,
    optimizer: str = "sgd",
    lr: float = 1e-2,
    steps: int = 20000,
    seed: int = 0,
    record_every: int = 100,
    init_std: float = 0.01,
) -> FitResult:
    """Train one linear autoencoder on data X (n, d) with k latents (see the module docstring).

    ``lam``: a scalar for uniform; a length-k increasing vector or a scalar scale of the default
    ladder for non_uniform; ignored for none. ``rotation`` adds the rotation-augmented gradient.
    SGD uses Nesterov momentum 0.9; Adam the usual (0.9, 0.999). Float64 throughout.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ValueError(f"The 'X' parameter must be a finite (n, d) array. Got shape {X.shape} instead.")
    if not 1 <= int(k) <= X.shape[1]:
        raise ValueError(f"The 'k' parameter must be an int in [1, {X.shape[1]}]. Got {k!r} instead.")
    variant = Variant("fit", lambdas_for(regularization, lam, k), bool(rotation), float(lr))
    W1, W2, history = train_variants(
        covariance(X), k, [variant], optimizer=optimizer, steps=steps,
        record_every=record_every, init_std=init_std, seed=seed,
    )
    diverged = bool(history["diverged"].any())
    history = history.drop(columns=["variant", "diverged"])
    return FitResult(encoder=W1[0], decoder=W2[0], history=history, diverged=diverged)


# ----------------------------------------------------------------------------- experiments
# (configs, compute functions and the registry entries; the page and the CLI use these)


VARIANT_LABELS = ("uniform", "non_uniform", "rotation", "non_uniform+rotation")
DATASETS = ("synthetic", "digits", "mnist")


@dataclass(frozen=True, kw_only=True)
class DynamicsConfig:
    """Training of the four variants on one data set; the quick default is the page's view."""

    dataset: str = "synthetic"  # synthetic (Gaussian, linear spectrum), digits (sklearn 8x8) or mnist
    d: int = 20  # synthetic data dimension (images use their pixel count)
    n: int = 2000  # synthetic sample count
    spectrum_top: float = 10.0  # synthetic: covariance eigenvalues linear from this down to 1
    k: int = 4  # latent dimension
    lam: float = 1.0  # non-uniform ladder lam * linspace(0.1, 0.9, k); uniform uses its mean
    optimizer: str = "sgd"  # sgd (Nesterov 0.9) or adam
    lr: float = 3e-3  # base step size
    lr_multipliers: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)  # per variant, in VARIANT_LABELS order
    steps: int = 20000  # full-batch iterations
    record_every: int = 100  # history resolution, in steps
    init_std: float = 0.01  # weights start N(0, init_std^2)
    seed: int = 0  # data and initialisation

    def __post_init__(self) -> None:
        check_choice(self, "dataset", DATASETS)
        check_int(self, "d", 2, 4096)
        check_int(self, "n", 2, 1_000_000)
        check_float(self, "spectrum_top", 1.0, 1e6, low_open=True)
        check_int(self, "k", 1, 784)
        if self.dataset == "synthetic" and self.k > self.d:
            check_int(self, "k", 1, self.d)
        check_float(self, "lam", 0.0, 1e3)
        check_choice(self, "optimizer", OPTIMIZERS)
        check_float(self, "lr", 0.0, 10.0, low_open=True)
        check_float_tuple(self, "lr_multipliers", 0.0, 100.0, min_len=4, max_len=4)
        check_int(self, "steps", 1, 1_000_000)
        check_int(self, "record_every", 1, 100_000)
        check_float(self, "init_std", 0.0, 1.0, low_open=True)
        check_int(self, "seed", 0, 2**31 - 1)


@dataclass(frozen=True, kw_only=True)
class SnapshotConfig(DynamicsConfig):
    """The dynamics run stopped at ``at_step``, for the |cos| heatmap (the paper's Fig. 3)."""

    at_step: int = 2000  # the step whose decoder is compared with the eigenvectors

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "at_step", 0, 1_000_000)


@dataclass(frozen=True, kw_only=True)
class ScalingConfig:
    """Steps until the axis alignment drops below a threshold, as k grows (the paper's Fig. 4)."""

    d: int = 32  # data dimension; covariance eigenvalues linear from spectrum_top down to 1
    spectrum_top: float = 10.0  # largest eigenvalue
    ks: tuple[int, ...] = (2, 4, 8, 16)  # latent dimensions
    lam: float = 4.0  # non-uniform ladder scale
    optimizer: str = "sgd"  # sgd (Nesterov 0.9) or adam
    lr: float = 5e-3  # step size of every variant
    threshold: float = 0.05  # axis alignment that counts as aligned
    max_steps: int = 8000  # a variant that has not aligned by then is reported as not reached
    check_every: int = 50  # resolution of the step count
    seed: int = 0  # rotation of the eigenbasis and initialisation

    def __post_init__(self) -> None:
        check_int(self, "d", 2, 4096)
        check_float(self, "spectrum_top", 1.0, 1e6, low_open=True)
        check_int_tuple(self, "ks", 1, self.d if isinstance(self.d, int) else None)
        check_float(self, "lam", 0.0, 1e3)
        check_choice(self, "optimizer", OPTIMIZERS)
        check_float(self, "lr", 0.0, 10.0, low_open=True)
        check_float(self, "threshold", 0.0, 1.0, low_open=True, high_open=True)
        check_int(self, "max_steps", 1, 10_000_000)
        check_int(self, "check_every", 1, 100_000)
        check_int(self, "seed", 0, 2**31 - 1)


@dataclass(frozen=True, kw_only=True)
class DecoderConfig:
    """Decoder columns drawn as images after training one variant on an image data set."""

    dataset: str = "digits"  # digits (8x8, offline) or mnist (28x28, needs the files)
    variant: str = "non_uniform+rotation"  # one of VARIANT_LABELS
    k: int = 8  # latent dimension
    lam: float = 0.05  # non-uniform ladder scale (uniform uses its mean)
    optimizer: str = "sgd"  # sgd (Nesterov 0.9) or adam
    lr: float = 0.05  # step size
    steps: int = 5000  # full-batch iterations
    seed: int = 0  # initialisation

    def __post_init__(self) -> None:
        check_choice(self, "dataset", ("digits", "mnist"))
        check_choice(self, "variant", VARIANT_LABELS)
        check_int(self, "k", 1, 784)
        check_float(self, "lam", 0.0, 1e3)
        check_choice(self, "optimizer", OPTIMIZERS)
        check_float(self, "lr", 0.0, 10.0, low_open=True)
        check_int(self, "steps", 1, 1_000_000)
        check_int(self, "seed", 0, 2**31 - 1)


def synthetic_covariance(d: int, spectrum_top: float, seed: int) -> np.ndarray:
    """A population covariance U diag(linspace(spectrum_top, 1, d)) U^T with a random rotation U."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (basis * np.linspace(spectrum_top, 1.0, d)) @ basis.T


def dataset_covariance(dataset: str, *, d: int = 20, n: int = 2000, spectrum_top: float = 10.0,
                       seed: int = 0) -> np.ndarray:
    """Sample covariance (d, d) of the named data set (synthetic samples n Gaussian rows)."""
    if dataset == "synthetic":
        rng = np.random.default_rng(seed + 1)
        root = np.linalg.cholesky(synthetic_covariance(d, spectrum_top, seed))
        return covariance(rng.standard_normal((n, d)) @ root.T)
    return covariance(image_data(dataset))


def image_data(dataset: str) -> np.ndarray:
    """Training images of digits (pixels in [0, 1], (1300, 64)) or MNIST ((60000, 784))."""
    from engine.core import data

    if dataset == "digits":
        split = data.digits(standardize=False)
        return split.X_train
    images, _ = data.torchvision_images("mnist", train=True)
    return images.reshape(len(images), -1)


def make_variants(k: int, lam: float, lr: float, multipliers=(1.0, 1.0, 1.0, 1.0),
                  labels=VARIANT_LABELS) -> list[Variant]:
    """The paper's variants: uniform L2 (lam = the ladder's mean), non-uniform ladder, RAG alone
    (no penalty, as in the reference code), non-uniform + RAG."""
    ladder = lambdas_for("non_uniform", lam, k)
    spec = {
        "uniform": (np.full(k, ladder.mean()), False),
        "non_uniform": (ladder, False),
        "rotation": (np.zeros(k), True),
        "non_uniform+rotation": (ladder, True),
    }
    return [
        Variant(label, spec[label][0], spec[label][1], lr * m)
        for label, m in zip(VARIANT_LABELS, multipliers) if label in labels
    ]


def _train_config(cfg: DynamicsConfig, steps: int, ctx: RunContext):
    cov = dataset_covariance(cfg.dataset, d=cfg.d, n=cfg.n, spectrum_top=cfg.spectrum_top, seed=cfg.seed)
    if cfg.k > cov.shape[0]:
        raise ConfigError(
            f"The 'k' parameter of {type(cfg).__name__} must be an int in [1, {cov.shape[0]}] "
            f"for {cfg.dataset}. Got {cfg.k} instead."
        )
    variants = make_variants(cfg.k, cfg.lam, cfg.lr, cfg.lr_multipliers)
    return cov, train_variants(
        cov, cfg.k, variants, optimizer=cfg.optimizer, steps=steps,
        record_every=min(cfg.record_every, max(steps, 1)), init_std=cfg.init_std,
        seed=cfg.seed, progress=ctx.report,
    )


def run_dynamics(cfg: DynamicsConfig, ctx: RunContext) -> pd.DataFrame:
    """Frame: variant, step, loss, axis_alignment, subspace_distance, diverged + config columns."""
    _, (_, _, history) = _train_config(cfg, cfg.steps, ctx)
    return history.assign(optimizer=cfg.optimizer, k=cfg.k, lam=cfg.lam, lr=cfg.lr, dataset=cfg.dataset)


def run_snapshot(cfg: SnapshotConfig, ctx: RunContext) -> pd.DataFrame:
    """Frame: variant, eigenvector (i, 1-based), latent (j, 1-based), abs_cos, step."""
    cov, (_, decoders, history) = _train_config(cfg, cfg.at_step, ctx)
    _, eigvecs = principal_directions(cov, cfg.k)
    diverged = set(history.loc[history["diverged"], "variant"])
    rows = []
    for v, label in enumerate(VARIANT_LABELS):
        cos = abs_cosines(decoders[v], eigvecs)
        for i in range(cfg.k):
            for j in range(cfg.k):
                rows.append((label, i + 1, j + 1, float(cos[i, j]), label in diverged))
    frame = pd.DataFrame(rows, columns=["variant", "eigenvector", "latent", "abs_cos", "diverged"])
    return frame.assign(step=cfg.at_step, optimizer=cfg.optimizer, k=cfg.k)


def run_scaling(cfg: ScalingConfig, ctx: RunContext) -> pd.DataFrame:
    """Frame: k, variant, steps (to alignment < threshold), reached, final_alignment."""
    cov = synthetic_covariance(cfg.d, cfg.spectrum_top, cfg.seed)
    labels = ("non_uniform", "non_uniform+rotation")
    rows = []
    for index, k in enumerate(cfg.ks):
        variants = make_variants(k, cfg.lam, cfg.lr, labels=labels)
        _, _, history = train_variants(
            cov, k, variants, optimizer=cfg.optimizer, steps=cfg.max_steps,
            record_every=cfg.check_every, seed=cfg.seed, stop_below=cfg.threshold,
        )
        for label in labels:
            h = history[(history["variant"] == label) & ~history["diverged"]]
            below = h[h["axis_alignment"] < cfg.threshold]
            reached = not below.empty
            rows.append((k, label, int(below["step"].iloc[0]) if reached else cfg.max_steps, reached,
                         float(h["axis_alignment"].iloc[-1]) if len(h) else float("nan")))
        ctx.report((index + 1) / len(cfg.ks), f"k = {k}")
    frame = pd.DataFrame(rows, columns=["k", "variant", "steps", "reached", "final_alignment"])
    return frame.assign(threshold=cfg.threshold, optimizer=cfg.optimizer)


def run_decoders(cfg: DecoderConfig, ctx: RunContext) -> pd.DataFrame:
    """Frame: latent (1-based), row, col, value (decoder column as an image), variant, axis_alignment."""
    X = image_data(cfg.dataset)
    side = int(round(np.sqrt(X.shape[1])))
    cov = covariance(X)
    if cfg.k > X.shape[1]:
        raise ConfigError(
            f"The 'k' parameter of DecoderConfig must be an int in [1, {X.shape[1]}]. Got {cfg.k} instead."
        )
    (variant,) = make_variants(cfg.k, cfg.lam, cfg.lr, labels=(cfg.variant,))
    _, decoders, history = train_variants(
        cov, cfg.k, [variant], optimizer=cfg.optimizer, steps=cfg.steps,
        record_every=max(cfg.steps // 50, 1), seed=cfg.seed, progress=ctx.report,
    )
    decoder = decoders[0]
    rows = [
        (j + 1, r, c, float(decoder[r * side + c, j]))
        for j in range(cfg.k) for r in range(side) for c in range(side)
    ]
    frame = pd.DataFrame(rows, columns=["latent", "row", "col", "value"])
    last = history.iloc[-1]
    return frame.assign(variant=cfg.variant, axis_alignment=float(last["axis_alignment"]),
                        diverged=bool(history["diverged"].any()), dataset=cfg.dataset)


def _final(frame: pd.DataFrame, variant: str, column: str = "axis_alignment") -> float:
    rows = frame[(frame["variant"] == variant) & ~frame["diverged"]]
    return float(rows.sort_values("step")[column].iloc[-1])


def _first_step_below(frame: pd.DataFrame, variant: str, threshold: float) -> float:
    rows = frame[(frame["variant"] == variant) & (frame["axis_alignment"] < threshold)]
    return float(rows["step"].min()) if len(rows) else float("inf")


_PAPER_MNIST = dict(dataset="mnist", k=20, lam=1.0, optimizer="sgd", lr=1e-3,
                    lr_multipliers=(1.0, 0.3, 3.0, 0.3), steps=30000, record_every=250, init_std=0.01)

EXPERIMENTS = (
    Experiment(
        name="linear_ae.dynamics",
        title="Alignment and subspace distance over training",
        config_cls=DynamicsConfig,
        compute=run_dynamics,
        presets={"quick": DynamicsConfig(), "paper": DynamicsConfig(**_PAPER_MNIST)},
        version=1,
        charts={"alignment": charts.alignment_chart, "subspace": charts.subspace_chart,
                "loss": charts.loss_chart},
        description="Four variants from one initialisation: uniform L2 finds the subspace but not the "
        "axes; the non-uniform ladder finds the axes slowly; the rotation-augmented gradient fast.",
        sweeps={"quick": lambda: [
            DynamicsConfig(optimizer=o, k=k, lam=lam)
            for o in OPTIMIZERS for k in (2, 4, 6, 8) for lam in (0.5, 1.0, 2.0)
        ]},
        claims=(
            Claim("lae.uniform_not_aligned", "Uniform L2 recovers the principal subspace but not the "
                  "axes (alignment stays far from 0).", "linear_ae.dynamics",
                  measure=lambda f: _final(f, "uniform"), holds=lambda v: v > 0.1, unit="axis alignment"),
            Claim("lae.uniform_subspace", "Uniform L2 still reaches the principal subspace.",
                  "linear_ae.dynamics", measure=lambda f: _final(f, "uniform", "subspace_distance"),
                  holds=lambda v: v < 1e-4, unit="subspace distance"),
            Claim("lae.rag_fast", "The rotation-augmented gradient (with the non-uniform ladder) aligns "
                  "to the axes within a few thousand steps.", "linear_ae.dynamics",
                  measure=lambda f: _first_step_below(f, "non_uniform+rotation", 0.01),
                  holds=lambda v: v <= 5000, unit="steps to alignment < 0.01"),
            Claim("lae.mnist_uniform", "MNIST, k = 20: uniform L2 stays at axis alignment about 0.73.",
                  "linear_ae.dynamics", measure=lambda f: _final(f, "uniform"),
                  holds=lambda v: abs(v - 0.73) < 0.1, paper_value=0.73, unit="axis alignment",
                  preset="paper"),
            Claim("lae.mnist_rotation", "MNIST, k = 20: RAG (SGD) reaches alignment about 0.",
                  "linear_ae.dynamics", measure=lambda f: _final(f, "rotation"),
                  holds=lambda v: v < 0.05, paper_value=0.0, unit="axis alignment", preset="paper"),
        ),
    ),
    Experiment(
        name="linear_ae.snapshot",
        title="|cos| of decoder columns against eigenvectors",
        config_cls=SnapshotConfig,
        compute=run_snapshot,
        presets={"quick": SnapshotConfig(), "paper": SnapshotConfig(**_PAPER_MNIST, at_step=30000)},
        version=1,
        charts={"heatmap": charts.cosine_heatmap},
        description="The paper's Fig. 3: a permutation matrix means every principal axis has its own latent.",
    ),
    Experiment(
        name="linear_ae.scaling",
        title="Steps to reach the axes as k grows",
        config_cls=ScalingConfig,
        compute=run_scaling,
        presets={
            "quick": ScalingConfig(),
            "paper": ScalingConfig(d=1000, spectrum_top=100.0, ks=(2, 5, 10, 20, 50, 100, 200, 500),
                                   lr=1e-3, max_steps=100_000, check_every=500),
        },
        version=1,
        charts={"scaling": charts.scaling_chart},
        description="The paper's Fig. 4: the non-uniform ladder slows down with k; RAG much less.",
        claims=(
            Claim("lae.scaling_rag_all_k", "Only the rotation-augmented gradient reaches the axes at "
                  "every k.", "linear_ae.scaling",
                  measure=lambda f: float(f[f["variant"] == "non_uniform+rotation"]["reached"].mean()),
                  holds=lambda v: v == 1.0, unit="fraction of k reached"),
        ),
    ),
    Experiment(
        name="linear_ae.decoders",
        title="Decoder columns as images",
        config_cls=DecoderConfig,
        compute=run_decoders,
        presets={
            "quick": DecoderConfig(),
            "paper": DecoderConfig(dataset="mnist", k=20, lam=1.0, lr=3e-4, steps=30000),
        },
        version=1,
        charts={"images": charts.decoder_images},
        description="With the axes recovered, the decoder columns are the principal components, in order.",
        sweeps={"quick": lambda: [DecoderConfig(variant=v) for v in VARIANT_LABELS]},
    ),
)
