"""Regularized linear autoencoders (Bao, Lucas, Sachdeva, Grosse, NeurIPS 2020): the science.

Model: encoder W1 (k x d), decoder W2 (d x k), no bias, data rows x (d,), centred. Loss

    L(W1, W2) = |X - X W1^T W2^T|_F^2 / n + sum_i lam_i (|W1[i, :]|^2 + |W2[:, i]|^2)
              = tr((I - W2 W1) C (I - W2 W1)^T) + penalty,      C = X^T X / n   (d x d)

Uniform L2 (all lam_i equal) leaves every rotation of the latent space optimal; a strictly
increasing ladder lam_1 < ... < lam_k ("non-uniform") makes the global minimum the ordered,
axis-aligned principal directions: W1 = W2^T = diag(sqrt(1 - lam_i / s_i)) U_k^T up to signs, with
s_i the eigenvalues of C (descending) and U_k its top-k eigenvectors. Convergence to the axes is
slow; the rotation-augmented gradient (RAG) removes the slow rotational mode.

Two ladder conventions (``ladder_for``): "linear" puts lam_i = scale * linspace(0.1, 0.9, k) on
the squared norms (this project's quick scale); "reference" is the authors' code, which penalises
|diag(reg) W1|^2 + |W2 diag(reg)|^2 with reg = scale * linspace(0.1, 0.9, k), so lam_i = reg_i^2,
and whose uniform model uses the scalar mean(reg)^2.

Nested dropout (Rippel, Gelbart, Adams 2014; the reference repository's ``LinearAENestedDropout``,
a baseline for ordered latents): each sample keeps latents 1..b+1 and drops the rest, the index b
drawn from a truncated geometric prior p(b) = rho^b (1 - rho), b < k - 1, p(k - 1) = the remainder
(the reference's rho = 0.9). Latent i (0-based) is then kept with probability q_i = rho^i, both
latents i and j with q_max(i, j), and the expected loss (the reference's ``use_expectation``) is

    E L = tr(C) - 2 tr(W2 D W1 C) + tr((W2^T W2 o M) W1 C W1^T),   D = diag(q), M_ij = q_max(i,j),

whose minima are the ordered principal directions when the top k eigenvalues are distinct (each
truncation is best served by the leading components), up to a diagonal rescaling W1 -> S W1,
W2 -> W2 S^-1 that the loss does not see. ``Variant(keep=q)`` trains on it, full batch.

Everything here is float64 numpy and batched over "variants" (a leading axis V), so that the
page's four variants train in one loop. Nothing here imports charts, experiments or the UI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.params import Interval, Options, Tuple, check_arg
from engine.core.validation import ConfigError

REGULARIZATIONS = ("uniform", "non_uniform", "none")
#: The compared variants: uniform L2, non-uniform L2, RAG alone (no penalty), non-uniform L2 + RAG.
VARIANTS = ("uniform", "non_uniform", "rotation", "non_uniform+rotation")
#: Nested dropout (expected loss, no penalty): the reference repository's baseline for ordered latents.
NESTED_DROPOUT = "nested_dropout"
ALL_VARIANTS = VARIANTS + (NESTED_DROPOUT,)
NESTED_RHO = 0.9  # the reference's geometric parameter (LinearAENestedDropout.geom_p)
LADDERS = ("linear", "reference")
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


def synthetic_covariance(d: int, spectrum_top: float, seed: int) -> np.ndarray:
    """A population covariance U diag(linspace(spectrum_top, 1, d)) U^T with a random rotation U. (d, d)."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (basis * np.linspace(spectrum_top, 1.0, d)) @ basis.T


CHUNK_BYTES = 2**25  # sample_covariance draws rows in blocks of about this many bytes


def sample_covariance(population: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Covariance (d, d) of n Gaussian rows drawn from N(0, population), centred.

    Rows are drawn in blocks (same random stream as one (n, d) draw) and accumulated, so memory
    stays O(d^2 + CHUNK_BYTES) whatever n is; time is about 2 n d^2 flops.
    """
    rng = np.random.default_rng(seed)
    d = population.shape[0]
    root_t = np.linalg.cholesky(population).T
    block = max(1, CHUNK_BYTES // (8 * d))
    gram, total = np.zeros((d, d)), np.zeros(d)
    for start in range(0, n, block):
        rows = rng.standard_normal((min(block, n - start), d)) @ root_t
        gram += rows.T @ rows
        total += rows.sum(axis=0)
    mean = total / n
    return gram / n - np.outer(mean, mean)


def default_ladder(k: int, scale: float = 1.0) -> np.ndarray:
    """scale * linspace(0.1, 0.9, k) (scale * 0.5 for k = 1). Shape (k,)."""
    return float(scale) * np.linspace(0.1, 0.9, k) if k > 1 else np.array([0.5 * scale])


def ladder_for(
    k: int, scale: float, convention: str = "linear", high: float | None = None
) -> tuple[np.ndarray, float]:
    """Per-latent penalties (k,) and the matching uniform penalty (a scalar) of one convention.

    linear: lam = scale * linspace(0.1, 0.9, k), uniform = mean(lam).
    reference: reg = scale * linspace(0.1, 0.9, k) (or linspace(0.1, high, k) when ``high`` is
    given, as in the authors' Fig. 4 script), lam = reg^2, uniform = mean(reg)^2.
    """
    check_arg("ladder_for", "k", k, Interval(int, 1, None))
    check_arg("ladder_for", "scale", scale, Interval(float, 0.0, None))
    check_arg("ladder_for", "convention", convention, Options(LADDERS))
    reg = default_ladder(k, scale) if high is None else np.linspace(0.1, float(high), k)
    if convention == "linear":
        return reg, float(reg.mean())
    return reg**2, float(reg.mean() ** 2)


def lambdas_for(regularization: str, lam, k: int) -> np.ndarray:
    """Per-latent penalties lam_i (k,) for a regularization kind (on the squared norms).

    uniform: a scalar lam for every latent; non_uniform: a length-k strictly increasing vector,
    or a scalar scale of :func:`default_ladder`; none: zeros.
    """
    check_arg("lambdas_for", "regularization", regularization, Options(REGULARIZATIONS))
    k = check_arg("lambdas_for", "k", k, Interval(int, 1, None))
    if regularization == "none":
        return np.zeros(k)
    values = tuple(np.atleast_1d(np.asarray(lam, dtype=np.float64)).tolist())
    finite = Interval(float, 0.0, None)
    if regularization == "uniform":
        (value,) = check_arg("lambdas_for", "lam", values, Tuple(finite, min_len=1, max_len=1))
        return np.full(k, value)
    if len(values) == 1:
        return default_ladder(k, check_arg("lambdas_for", "lam", values[0], finite))
    return np.array(
        check_arg("lambdas_for", "lam", values, Tuple(finite, min_len=k, max_len=k, increasing=True))
    )


def global_minimum(cov: np.ndarray, lambdas) -> tuple[np.ndarray, np.ndarray]:
    """The non-uniform problem's global minimum (encoder (k, d), decoder (d, k)), signs chosen +.

    W1 = W2^T = diag(sqrt(1 - lam_i / s_i)) U_k^T, valid when lam_1 < ... < lam_k < s_k and the
    top-k eigenvalues s_i of ``cov`` are distinct. A latent with lam_i >= s_i collapses to zero.
    With lambdas = 0 it is the balanced, ordered solution U_k^T that RAG alone is meant to find.
    """
    lambdas = np.asarray(lambdas, dtype=np.float64)
    values, vectors = principal_directions(cov, lambdas.size)
    scale = np.sqrt(np.clip(1.0 - lambdas / values, 0.0, None))
    encoder = scale[:, None] * vectors.T
    return encoder, encoder.T.copy()


def collapsed_latents(cov: np.ndarray, lambdas) -> np.ndarray:
    """1-based indices i with lam_i >= s_i: latents whose optimal decoder column is zero."""
    lambdas = np.asarray(lambdas, dtype=np.float64)
    values, _ = principal_directions(cov, lambdas.size)
    return np.flatnonzero(lambdas >= values) + 1


def nested_dropout_keep(k: int, rho: float = NESTED_RHO) -> np.ndarray:
    """Keep probabilities q_i = P(latent i survives) = rho^i, i = 0..k-1, of the reference's
    truncated geometric prior on the last kept index. Shape (k,), q_0 = 1."""
    k = check_arg("nested_dropout_keep", "k", k, Interval(int, 1, None))
    rho = check_arg("nested_dropout_keep", "rho", rho, Interval(float, 0.0, 1.0, closed="right"))
    return rho ** np.arange(k, dtype=np.float64)


def nested_dropout_masks(k: int, size: int, rng: np.random.Generator, rho: float = NESTED_RHO) -> np.ndarray:
    """``size`` masks (size, k) of 0/1 drawn as the reference does: the last kept index b from
    p(b) = rho^b (1 - rho) for b < k - 1 and the rest of the mass on b = k - 1; latents 0..b kept."""
    prior = (1 - rho) * rho ** np.arange(k - 1, dtype=np.float64)
    last = rng.choice(k, size=size, p=np.append(prior, 1.0 - prior.sum()))
    return (np.arange(k)[None, :] <= last[:, None]).astype(np.float64)


def nested_dropout_loss(cov: np.ndarray, encoder: np.ndarray, decoder: np.ndarray, keep) -> float:
    """Expected reconstruction loss over nested-dropout masks with keep probabilities ``keep``
    (k,): tr(C) - 2 tr(W2 D W1 C) + tr((W2^T W2 o M) W1 C W1^T), M_ij = keep[max(i, j)]. float64."""
    C = np.asarray(cov, dtype=np.float64)
    q = np.asarray(keep, dtype=np.float64)
    pair = q[np.maximum.outer(np.arange(q.size), np.arange(q.size))]
    N = encoder @ C
    A = N @ encoder.T
    S = decoder.T @ decoder
    return float(np.trace(C) - 2.0 * np.sum(q[:, None] * N * decoder.T) + np.sum(S * pair * A))


# ----------------------------------------------------------------------------- metrics


def abs_cosines(decoder: np.ndarray, eigvecs: np.ndarray) -> np.ndarray:
    """|cos| between eigenvector i (rows) and decoder column j (columns). (d, k), (d, k) -> (k, k)."""
    norms = np.linalg.norm(decoder, axis=-2, keepdims=True)
    unit = decoder / np.where(norms > 0, norms, 1.0)
    return np.abs(np.swapaxes(eigvecs, -1, -2) @ unit)


def axis_alignment(decoder: np.ndarray, eigvecs: np.ndarray) -> float | np.ndarray:
    """mean_i (1 - max_j cos^2(u_i, decoder[:, j])): 0 when every principal axis has its own column.

    Blind to order: a decoder with columns 1 and 2 swapped scores 0. decoder (..., d, k),
    eigvecs (d, k) -> scalar (or (...,) for a stack).
    """
    cos2 = abs_cosines(decoder, eigvecs) ** 2
    return np.clip(np.mean(1.0 - cos2.max(axis=-1), axis=-1), 0.0, None)  # rounding leaves -1e-16


def subspace_distance(decoder: np.ndarray, eigvecs: np.ndarray) -> float | np.ndarray:
    """1 - tr(U U^T P) / k with P the projector onto the decoder's column space. (..., d, k) -> (...)."""
    basis, _ = np.linalg.qr(decoder)
    overlap = np.swapaxes(eigvecs, -1, -2) @ basis  # (..., k, k)
    return np.clip(1.0 - (overlap**2).sum(axis=(-1, -2)) / eigvecs.shape[-1], 0.0, None)


def minimum_distance(decoder: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Ordered distance |W2 - W2* S|_F / |W2*|_F to a global minimum's decoder W2* (d, k).

    S = diag(+-1) matches each column's sign (the minima come in sign pairs). Unlike
    :func:`axis_alignment` it sees the order of the latents: the saddle with columns 1 and 2
    swapped is at distance about sqrt(2 (|w1|^2 + |w2|^2)) / |W2*|. decoder (..., d, k) -> (...).
    """
    signs = np.where(np.sum(decoder * target, axis=-2, keepdims=True) < 0, -1.0, 1.0)
    gap = np.linalg.norm(decoder - signs * target, axis=(-2, -1))
    return gap / np.maximum(np.linalg.norm(target, axis=(-2, -1)), 1e-300)


def ordered_alignment(decoder: np.ndarray, eigvecs: np.ndarray) -> float | np.ndarray:
    """mean_i (1 - cos^2(u_i, decoder[:, i])): 0 when column i holds principal axis i, in order.

    Unlike :func:`axis_alignment` it sees the order, and unlike :func:`minimum_distance` it is
    blind to each column's length (nested dropout's minima are only defined up to a rescaling).
    decoder (..., d, k), eigvecs (d, k) -> scalar (or (...,))."""
    cos = abs_cosines(decoder, eigvecs)
    return np.clip(np.mean(1.0 - np.diagonal(cos, axis1=-2, axis2=-1) ** 2, axis=-1), 0.0, None)


def transpose_gap(encoder: np.ndarray, decoder: np.ndarray) -> float | np.ndarray:
    """|W1 - W2^T|_F^2 / k (the reference's "transpose" metric): 0 for balanced weights. (..., k, d), (..., d, k) -> (...)."""
    k = encoder.shape[-2]
    return np.sum((encoder - np.swapaxes(decoder, -1, -2)) ** 2, axis=(-2, -1)) / k


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Variant:
    """One training variant: penalties (k,), whether RAG is on, its step size, and for nested
    dropout the keep probabilities (k,) of its latents (None: no dropout)."""

    label: str
    lambdas: np.ndarray
    rotation: bool
    lr: float
    keep: np.ndarray | None = None


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
    block: np.ndarray  # (Vk, Vk) 1.0 inside a model's own k x k block (nested dropout: M), 0.0 elsewhere
    two_lam: np.ndarray  # (Vk, Vk) diag(2 lam) per model
    rag_mask: np.ndarray | None  # (Vk, Vk) (triu(1) - tril(-1)) / 4 in RAG models' blocks: A2 * it = G
    keep: np.ndarray | None = None  # (Vk, 1) nested dropout's q_i per latent row (1 elsewhere), or None

    @classmethod
    def build(cls, k: int, lambdas: np.ndarray, rotation: np.ndarray, keep: list | None = None) -> _Stack:
        """``keep``: per model None or its keep probabilities (k,) (nested dropout)."""
        V = len(lambdas)
        keep = keep if keep is not None else [None] * V
        ones = np.ones(k)
        q = [ones if probs is None else np.asarray(probs, dtype=np.float64) for probs in keep]
        # E[mask_i mask_j] = q_max(i, j); a block of ones for the other models (exact: x * 1.0 == x)
        pairs = [qv[np.maximum.outer(np.arange(k), np.arange(k))] for qv in q]
        block = np.zeros((V * k, V * k))
        for v, pair in enumerate(pairs):
            block[v * k : (v + 1) * k, v * k : (v + 1) * k] = pair
        upper = np.triu(np.ones((k, k)), 1)
        # A is symmetric, so G = (triu(A, 1) - triu(A, 1)^T) / 2 = A * (upper - upper^T) / 2 = A2 * mask
        rag = np.kron(np.diag(rotation.astype(float)), 0.25 * (upper - upper.T))
        nested = any(probs is not None for probs in keep)
        return cls(
            V,
            k,
            block,
            np.diag(2.0 * np.asarray(lambdas, dtype=np.float64).ravel()),
            rag if rotation.any() else None,
            np.concatenate(q)[:, None] if nested else None,
        )


class _Gradients:
    """Loss (+ RAG) gradients of a stack of models (layout of :class:`_Stack`) at the current ``P``.

    ``C2`` is 2C (d, d). With N = W1 C, A = W1 C W1^T and S = W2^T W2 (per model):
      dL/dW1   = -2 (W2^T C - S N) + 2 Lam W1 - G W1
      dL/dW2^T = -2 (N - A W2^T)   + 2 Lam W2^T - G W2^T,   G = (triu(A, 1) - triu(A, 1)^T) / 2
    and for nested dropout's expected loss (D = diag(q), M_ij = q_max(i,j), no RAG):
      dL/dW1   = -2 (D W2^T C - (S o M) N) + 2 Lam W1
      dL/dW2^T = -2 (D N - (A o M) W2^T)   + 2 Lam W2^T
    The factors 2 are folded into C2 (so N2 = 2N, A2 = 2A) to save array passes in the hot loop.
    Every intermediate has a buffer made once, and the views of ``P`` stay valid because training
    updates ``P`` in place: a step is ~12 small BLAS/ufunc calls and no allocations.
    """

    def __init__(self, C2: np.ndarray, P: np.ndarray, stack: _Stack):
        rows = stack.V * stack.k
        self.C2, self.P, self.stack, self.rows = C2, P, stack, rows
        self.W1, self.W2t = P[:rows], P[rows:]
        self.W1T, self.W2tT = self.W1.T, self.W2t.T
        self.PC2 = np.empty_like(P)
        self.N2, self.B2 = self.PC2[:rows], self.PC2[rows:]
        self.A2, self.S, self.coef_w1, self.coef_w2 = (np.empty((rows, rows)) for _ in range(4))
        self.t1, self.t2 = np.empty((rows, P.shape[1])), np.empty((rows, P.shape[1]))

    def __call__(self, out: np.ndarray) -> np.ndarray:
        stack, dot = self.stack, np.dot
        dot(self.P, self.C2, out=self.PC2)
        A2 = dot(self.N2, self.W1T, out=self.A2)
        A2 *= stack.block  # finite P keeps the cross blocks finite, so this zeroes them
        coef_w1 = stack.two_lam
        if stack.rag_mask is not None:
            coef_w1 = np.subtract(
                stack.two_lam, np.multiply(A2, stack.rag_mask, out=self.coef_w1), out=self.coef_w1
            )
        coef_w2 = np.add(A2, coef_w1, out=self.coef_w2)
        S = dot(self.W2t, self.W2tT, out=self.S)
        S *= stack.block
        top = np.add(dot(S, self.N2, out=self.t1), dot(coef_w1, self.W1, out=self.t2), out=self.t1)
        if stack.keep is not None:  # nested dropout: D W2^T C and D N (after N's last other use)
            self.B2 *= stack.keep
            self.N2 *= stack.keep
        np.subtract(top, self.B2, out=out[: self.rows])
        np.subtract(dot(coef_w2, self.W2t, out=self.t1), self.N2, out=out[self.rows :])
        return out


def _gradients(C2, P, stack: _Stack, out):
    """The gradients of :class:`_Gradients` at ``P``, once, into ``out``."""
    return _Gradients(C2, P, stack)(out)


def loss_gradients(
    cov: np.ndarray, encoder: np.ndarray, decoder: np.ndarray, lambdas, rotation: bool = False, keep=None
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients (k, d), (d, k) of the regularized loss at one (encoder, decoder); with
    ``rotation`` the rotation-augmented gradient of the paper instead; with ``keep`` (k,) those
    of nested dropout's expected loss (plus the penalty)."""
    k = encoder.shape[0]
    stack = _Stack.build(
        k, np.asarray(lambdas, dtype=np.float64)[None], np.array([rotation]), None if keep is None else [keep]
    )
    P = np.concatenate([encoder, decoder.T])
    grad = _gradients(2.0 * np.asarray(cov, dtype=np.float64), P, stack, np.empty_like(P))
    return grad[:k], grad[k:].T


def batched_loss(C, W1, W2t, lambdas, keep=None) -> np.ndarray:
    """Loss per model (V,) from encoders W1 (V, k, d) and transposed decoders W2t (V, k, d):
    tr(C) - 2 tr(W2 W1 C) + tr(W2 A W2^T) + penalty. ``keep`` (V, k): models with a finite row
    get nested dropout's expected loss instead (rows of NaN: none)."""
    N = W1 @ C
    A = N @ np.swapaxes(W1, 1, 2)
    fit = np.trace(C) - 2.0 * np.sum(N * W2t, axis=(1, 2)) + np.sum((A @ W2t) * W2t, axis=(1, 2))
    if keep is not None:
        nested = np.flatnonzero(np.isfinite(keep).all(axis=1))
        for v in nested:
            fit[v] = nested_dropout_loss(C, W1[v], W2t[v].T, keep[v])
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
    early once every live variant's axis alignment is below it; ``steps=0`` returns the
    initialisation (a snapshot "at step 0"). Returns the final encoders
    (V, k, d), decoders (V, d, k) and a history frame with columns variant, step, loss,
    axis_alignment, subspace_distance, minimum_distance (ordered: to the variant's own
    :func:`global_minimum`), transpose_gap, diverged. A variant whose weights stop being finite gets
    one flagged row at that step and is frozen at zero, so it cannot disturb the others.
    """
    check_arg("train_variants", "optimizer", optimizer, Options(OPTIMIZERS))
    check_arg("train_variants", "steps", steps, Interval(int, 0, None))
    check_arg("train_variants", "record_every", record_every, Interval(int, 1, None))
    check_arg("train_variants", "init_std", init_std, Interval(float, 0.0, None, closed="right"))
    C = np.asarray(cov, dtype=np.float64)
    d = C.shape[0]
    _, eigvecs = principal_directions(C, k)
    V = len(variants)
    for v in variants:
        if v.keep is not None and v.rotation:
            raise ConfigError(
                f"Variant {v.label!r}: nested dropout with RAG is not supported (RAG sees the unmasked A)."
            )
    rng = np.random.default_rng(seed)
    W1 = rng.normal(0.0, init_std, (k, d))
    W2 = rng.normal(0.0, init_std, (d, k))
    P = np.concatenate([np.tile(W1, (V, 1)), np.tile(W2.T, (V, 1))])  # (2Vk, d)
    models = P.reshape(2, V, k, d)  # view: models[0] encoders, models[1] decoders^T
    lambdas = np.stack([v.lambdas for v in variants])
    stack = _Stack.build(k, lambdas, np.array([v.rotation for v in variants]), [v.keep for v in variants])
    C2 = 2.0 * C
    lr = np.tile(np.repeat([v.lr for v in variants], k), 2)[:, None]  # (2Vk, 1)
    grad, update = np.empty_like(P), np.empty_like(P)
    gradients = _Gradients(C2, P, stack)
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
    total = np.add.reduce  # ndarray.sum without its Python wrapper: the finiteness check below
    reported = 0.0  # progress goes out in steps of 5 % (each report is a message to the browser)
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            g = gradients(grad)
            if optimizer == "sgd":  # torch's SGD(nesterov=True): buf = mu buf + g; step g + mu buf
                first *= mu
                first += g
                np.multiply(first, mu, out=update)  # P -= lr (g + mu first), without temporaries
                np.add(g, update, out=update)
                np.multiply(lr, update, out=update)
                P -= update
            else:
                first *= b1
                first += (1 - b1) * g
                second *= b2
                second += (1 - b2) * g * g
                step_size = lr * (np.sqrt(1 - b2**t) / (1 - b1**t))
                P -= step_size * first / (np.sqrt(second) + ADAM_EPS * np.sqrt(1 - b2**t))
            if not math.isfinite(total(P, axis=None)):  # checked every step: a non-finite row would leak
                freeze_diverged(t)
                if not alive.any():
                    break
            if t % record_every == 0 or t == steps:
                snapshots.append((t, models.copy(), alive.copy()))
                if stop_below is not None and _all_aligned(models[1], alive, eigvecs, stop_below):
                    break
                if progress is not None and (t / steps - reported >= 0.05 or t == steps):
                    reported = t / steps
                    progress(reported, f"step {t:,} of {steps:,}")
    keep = None
    if stack.keep is not None:
        keep = np.stack(
            [np.full(k, np.nan) if v.keep is None else np.asarray(v.keep, float) for v in variants]
        )
    history = _history(C, eigvecs, lambdas, [v.label for v in variants], snapshots, diverged_at, keep)
    return models[0].copy(), np.swapaxes(models[1], 1, 2).copy(), history


def _all_aligned(decoders_t: np.ndarray, alive: np.ndarray, eigvecs: np.ndarray, threshold: float) -> bool:
    """Whether every live model's axis alignment is below ``threshold`` (decoders_t: (V, k, d))."""
    align = axis_alignment(np.swapaxes(decoders_t[alive], 1, 2), eigvecs)
    return bool(alive.any()) and bool(np.all(align < threshold))


def _history(C, eigvecs, lambdas, labels, snapshots, diverged_at, keep=None) -> pd.DataFrame:
    """The training history from parameter snapshots, all metrics computed in one batched pass.

    snapshots: (step, models (2, V, k, d), alive (V,)) per record. Returns columns variant, step,
    loss, axis_alignment, subspace_distance, minimum_distance, transpose_gap, diverged (one
    flagged row per diverged variant, its metrics NaN). ``keep`` (V, k): nested-dropout models' keep
    probabilities (NaN rows for the others), whose loss is the expected one.
    """
    targets = np.stack([global_minimum(C, lam)[1] for lam in lambdas])  # (V, d, k)
    steps = np.array([s for s, _, _ in snapshots])
    stacked = np.stack([m for _, m, _ in snapshots])  # (R, 2, V, k, d)
    alive = np.stack([a for _, _, a in snapshots])  # (R, V)
    R, _, V, k, d = stacked.shape
    encoders = stacked[:, 0].reshape(R * V, k, d)
    decoders_t = stacked[:, 1].reshape(R * V, k, d)
    losses = batched_loss(
        C, encoders, decoders_t, np.tile(lambdas, (R, 1)), None if keep is None else np.tile(keep, (R, 1))
    )
    decoders = np.where(alive.reshape(-1, 1, 1), np.swapaxes(decoders_t, 1, 2), 1.0)
    frame = pd.DataFrame(
        {
            "variant": np.tile(labels, R),
            "step": np.repeat(steps, V),
            "loss": losses,
            "axis_alignment": axis_alignment(decoders, eigvecs),
            "subspace_distance": subspace_distance(decoders, eigvecs),
            "minimum_distance": minimum_distance(decoders, np.tile(targets, (R, 1, 1))),
            "transpose_gap": transpose_gap(encoders, np.swapaxes(decoders_t, 1, 2)),
            "diverged": False,
        }
    )[alive.ravel()]
    flagged = pd.DataFrame(
        [(label, step) + (np.nan,) * 5 + (True,) for label, step in diverged_at], columns=frame.columns
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
        raise ConfigError(
            f"The 'X' parameter of fit must be a finite (n, d) array. Got shape {X.shape} instead."
        )
    k = check_arg("fit", "k", k, Interval(int, 1, X.shape[1]))
    lr = check_arg("fit", "lr", lr, Interval(float, 0.0, None, closed="right"))
    variant = Variant("fit", lambdas_for(regularization, lam, k), bool(rotation), lr)
    W1, W2, history = train_variants(
        covariance(X),
        k,
        [variant],
        optimizer=optimizer,
        steps=steps,
        record_every=record_every,
        init_std=init_std,
        seed=seed,
    )
    diverged = bool(history["diverged"].any())
    history = history.drop(columns=["variant", "diverged"])
    return FitResult(encoder=W1[0], decoder=W2[0], history=history, diverged=diverged)
