"""Generalization via derandomization (Negrea, Dziugaite, Roy, ICML 2020): the science.

Interpolating predictors can generalize although every two-sided uniform-convergence (UC) bound
over a class that contains them is vacuous (Nagarajan & Kolter, 2019). The paper's answer: bound a
*surrogate* h~ (a derandomization of the learned h^, e.g. a conditional expectation that forgets the
label noise) by uniform convergence, and pay separately for the coupling:

    R(h^) <= R^_S(h~) + sup_{h in H~_n} |R(h) - R^_S(h)| + |R(h^) - R(h~)|.

Experiments (the paper has no code; these follow its two examples):

* ``linear`` -- minimum-norm interpolation with a spiked covariance (benign overfitting):
  x ~ N(0, Sigma), Sigma = diag(spike * 1_k, lam_t * 1_{p_t}), p_t = ceil(n^a) >> n,
  lam_t = sqrt(n) / p_t, y = x . theta* + eps with theta* in the spikes, eps ~ N(0, sigma^2).
* ``nk`` -- Nagarajan & Kolter's one-gradient-step classifier with a D >> m dimensional noise block.
* ``ridge`` and ``random_features`` -- the same decomposition measured across the ridge parameter,
  and for random-features regression, interpolating or not.

Squared-loss risks: R(theta) = E (y - x . theta)^2 = sigma^2 + (theta - theta*)^T Sigma (theta - theta*)
and R^_S(theta) = |y - X theta|^2 / n.

The uniform-convergence bound used everywhere (:func:`uc_bound`), for the class
H = {theta supported on coordinates C, |theta|_2 <= B} and squared loss, from the identity
R(theta) - R^_S(theta) = (E y^2 - mean y^2) - 2 theta . (E y x_C - mean y x_C)
+ theta^T (Sigma_C - Sigma^_C) theta:

    E sup_H |R - R^_S| <= sd(y^2) / sqrt(n) + 2 B sqrt(E[y^2 |x_C|^2] / n)
                          + B^2 |Sigma_C|_op (sqrt(r_C / n) + r_C / n),     r_C = tr Sigma_C / |Sigma_C|_op.

The first two terms are exact (Jensen); the last is Koltchinskii & Lounici's (2017) bound on
E |Sigma^ - Sigma|_op with its absolute constant set to 1 -- so the constants are illustrative.
The middle term is the Rademacher/Gaussian complexity of the linear class, B sqrt(tr Sigma / n)
scaled by the label size. The radius B is the smallest ball around 0 that contains the predictor
(a union bound over a geometric grid of radii makes this data-dependent choice legitimate up to a
log log factor, which we leave out).

Speed: the tail features enter every quantity through the Gram matrix W = Z_t Z_t^T of their
standardized values, which is Wishart_n(p_t, I). We sample its Cholesky factor directly with
Bartlett's decomposition (:func:`bartlett_factor`), so a run costs O(n^2) whatever p is, and no
n x p or p x p matrix is formed. :func:`linear_sample_from_features` builds the same object from
explicit features (the reference path the tests use).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgError, cho_factor, cho_solve, solve_triangular
from scipy.special import ndtr

from engine.phenomena.generalization import charts as gc
from engine.core.experiment import Claim, Experiment, RunContext
from engine.core.validation import (ConfigError, check_float, check_float_tuple, check_int,
                         check_int_tuple)

# ----------------------------------------------------------------------------- spectra, sampling


@dataclass(frozen=True)
class SpikedSpectrum:
    """Sigma = diag(head, tail_value * 1_{tail_dim}): a few spikes and a long flat tail."""

    head: tuple[float, ...]  # the k large eigenvalues
    tail_value: float  # the common tail eigenvalue lam_t
    tail_dim: int  # p_t, the number of tail coordinates

    @property
    def dim(self) -> int:
        """p = k + p_t."""
        return len(self.head) + self.tail_dim

    def trace(self, head_only: bool = False) -> float:
        """tr Sigma (or tr of its head block)."""
        head = float(sum(self.head))
        return head if head_only else head + self.tail_value * self.tail_dim

    def op_norm(self, head_only: bool = False) -> float:
        """|Sigma|_op (or of its head block)."""
        return max(self.head) if head_only else max(max(self.head), self.tail_value)


def spiked_spectrum(n: int, n_spikes: int, spike: float, tail_exponent: float) -> SpikedSpectrum:
    """The benign-overfitting spectrum for sample size n.

    Tail dimension p_t = ceil(n^tail_exponent) (>= n, so r_k(Sigma) = R_k(Sigma) = p_t >> n when the
    exponent exceeds 1) and tail eigenvalue lam_t = sqrt(n) / p_t, so tr(Sigma_tail) = sqrt(n): the
    tail's "effective ridge" tr(Sigma_tail) / n = n^-1/2 goes to 0 and the spikes are learned,
    while the noise is absorbed by p_t >> n flat directions (variance ~ sigma^2 (k/n + n/p_t)).
    """
    _check_n(n)
    tail_dim = int(math.ceil(n ** float(tail_exponent)))
    return SpikedSpectrum(head=(float(spike),) * int(n_spikes), tail_value=math.sqrt(n) / tail_dim,
                          tail_dim=tail_dim)


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"The 'n' parameter must be an int >= 2 (a sample). Got {n!r} instead.")


def _check_noise(sigma: float) -> None:
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"The 'noise' parameter must be a finite float >= 0 (a standard deviation). "
                         f"Got {sigma!r} instead.")


def bartlett_factor(n: int, df: int, rng: np.random.Generator) -> np.ndarray:
    """Lower-triangular L (n, n) with L L^T ~ Wishart_n(df, I_n) (Bartlett's decomposition).

    L_ii = sqrt(chi^2_{df - i}) for i = 0..n-1, L_ij ~ N(0, 1) below the diagonal, 0 above.
    Equivalent in law to the Cholesky factor of Z Z^T with Z (n, df) standard normal; costs O(n^2).
    """
    if df < n:
        raise ValueError(f"The 'df' parameter must be >= n = {n} for a full-rank Wishart. Got {df} instead.")
    below = rng.standard_normal(n * (n - 1) // 2)
    L = np.zeros((n, n))
    start = 0
    for i in range(1, n):  # row i holds i normals; a row loop is far cheaper than np.tril's copy
        L[i, :i] = below[start:start + i]
        start += i
    L[np.diag_indices(n)] = np.sqrt(rng.chisquare(df - np.arange(n)))
    return L


@dataclass(frozen=True)
class LinearSample:
    """A training set of the spiked linear model in Gram form (no p-dimensional array).

    head_features: (n, k) the spike coordinates X_h = Z_h diag(head)^1/2;
    tail_factor: (n, n) lower-triangular L with X_t X_t^T = tail_value * L L^T;
    theta_star: (k,) the target's spike coordinates (the tail part of theta* is 0);
    noise: (n,) the label noise eps;  y = X_h theta* + eps.
    """

    spectrum: SpikedSpectrum
    head_features: np.ndarray
    tail_factor: np.ndarray
    theta_star: np.ndarray
    noise: np.ndarray
    sigma: float

    @property
    def n(self) -> int:
        return self.noise.shape[0]

    @property
    def signal(self) -> np.ndarray:
        """X theta* (n,)."""
        return self.head_features @ self.theta_star

    @property
    def y(self) -> np.ndarray:
        return self.signal + self.noise

    @cached_property
    def gram(self) -> np.ndarray:
        """K = X X^T = X_h X_h^T + lam_t L L^T, (n, n); formed once, only for ridge fits (O(n^3))."""
        L = self.tail_factor
        return self.head_features @ self.head_features.T + self.spectrum.tail_value * (L @ L.T)


def target_vector(n_spikes: int) -> np.ndarray:
    """theta* restricted to the spikes: equal weights, unit Euclidean norm. Shape (k,)."""
    return np.full(n_spikes, 1.0 / math.sqrt(n_spikes))


def sample_linear(n: int, spectrum: SpikedSpectrum, sigma: float, rng: np.random.Generator) -> LinearSample:
    """Draw a training set of size n in Gram form (fast path, O(n^2 + n k))."""
    _check_n(n)
    _check_noise(sigma)
    head = np.asarray(spectrum.head)
    U = rng.standard_normal((n, head.size)) * np.sqrt(head)
    L = bartlett_factor(n, spectrum.tail_dim, rng)
    noise = sigma * rng.standard_normal(n)
    return LinearSample(spectrum, U, L, target_vector(head.size), noise, float(sigma))


def explicit_features(n: int, spectrum: SpikedSpectrum, rng: np.random.Generator) -> np.ndarray:
    """Explicit inputs X (n, p) with rows ~ N(0, Sigma): spikes first, then the tail. Reference path."""
    scales = np.concatenate([np.sqrt(spectrum.head), np.full(spectrum.tail_dim, math.sqrt(spectrum.tail_value))])
    return rng.standard_normal((n, spectrum.dim)) * scales


def linear_sample_from_features(X: np.ndarray, spectrum: SpikedSpectrum, noise: np.ndarray,
                                sigma: float) -> LinearSample:
    """The Gram-form sample of explicit features X (n, p) (tail Gram factored by Cholesky).

    Raises ValueError when p < n: the minimum-norm interpolator needs X X^T invertible.
    """
    n, p = X.shape
    _check_n(n)
    _check_noise(sigma)
    if p < n:
        raise ValueError(f"Interpolation needs p >= n: got p = {p} features for n = {n} samples.")
    k = len(spectrum.head)
    tail = X[:, k:]
    L = np.linalg.cholesky(tail @ tail.T / spectrum.tail_value)
    return LinearSample(spectrum, X[:, :k].copy(), L, target_vector(k), np.asarray(noise, float), float(sigma))


# ----------------------------------------------------------------------------- fitting (dual form)


def interpolation_solver(sample: LinearSample):
    """v -> K^-1 v for K = X X^T, by Woodbury on the triangular tail factor. O(n^2 (k + c)) per call.

    K = A + U U^T with A = lam_t L L^T, so K^-1 v = A^-1 v - A^-1 U (I + U^T A^-1 U)^-1 U^T A^-1 v;
    A^-1 is applied to [U, v] together (two triangular solves per call). v: (n, c).
    """
    U, L, lam = sample.head_features, sample.tail_factor, sample.spectrum.tail_value
    k = U.shape[1]

    def solve(v: np.ndarray) -> np.ndarray:
        both = np.column_stack([U, v])
        half = solve_triangular(L, both, lower=True, check_finite=False)
        a_inv = solve_triangular(L, half, lower=True, trans="T", check_finite=False) / lam
        a_inv_u, a_inv_v = a_inv[:, :k], a_inv[:, k:]
        capacitance = np.eye(k) + U.T @ a_inv_u
        return a_inv_v - a_inv_u @ np.linalg.solve(capacitance, U.T @ a_inv_v)

    return solve


def ridge_solver(sample: LinearSample, ridge: float):
    """v -> (K + n ridge I)^-1 v via one Cholesky factorization (O(n^3 / 3) once, O(n^2) per call)."""
    n = sample.n
    factor = cho_factor(sample.gram + n * float(ridge) * np.eye(n), lower=True)

    def solve(v: np.ndarray) -> np.ndarray:
        return cho_solve(factor, v)

    return solve


@dataclass(frozen=True)
class DualPredictor:
    """theta = X^T beta, described by what the risks need (no p-dimensional vector).

    head: (k,) the spike coordinates U^T beta; tail_sq: |theta_tail|^2 = lam_t |L^T beta|^2;
    fitted: (n,) X theta on the training inputs.
    """

    head: np.ndarray
    tail_sq: float
    fitted: np.ndarray


def dual_predictors(sample: LinearSample, betas: np.ndarray) -> list[DualPredictor]:
    """Summarize theta_j = X^T betas[:, j] for betas (n, c); two passes over L for all c columns."""
    lam = sample.spectrum.tail_value
    lt_beta = sample.tail_factor.T @ betas
    heads = sample.head_features.T @ betas
    fitted = sample.head_features @ heads + lam * (sample.tail_factor @ lt_beta)
    tail_sq = lam * (lt_beta ** 2).sum(axis=0)
    return [DualPredictor(heads[:, j], float(tail_sq[j]), fitted[:, j]) for j in range(betas.shape[1])]


def head_part(sample: LinearSample, predictor: DualPredictor) -> DualPredictor:
    """The head-coordinates surrogate: keep the spike coordinates of theta, zero the tail."""
    return DualPredictor(predictor.head, 0.0, sample.head_features @ predictor.head)


def population_risk(sample: LinearSample, predictor: DualPredictor) -> float:
    """R(theta) = sigma^2 + sum_i head_i (theta_i - theta*_i)^2 + lam_t |theta_tail|^2 (closed form)."""
    diff = predictor.head - sample.theta_star
    return sample.sigma ** 2 + float(np.asarray(sample.spectrum.head) @ diff ** 2) \
        + sample.spectrum.tail_value * predictor.tail_sq


def empirical_risk(sample: LinearSample, predictor: DualPredictor) -> float:
    """R^_S(theta) = |y - X theta|^2 / n."""
    residual = sample.y - predictor.fitted
    return float(residual @ residual) / sample.n


def euclidean_norm(predictor: DualPredictor) -> float:
    """|theta|_2."""
    return math.sqrt(float(predictor.head @ predictor.head) + predictor.tail_sq)


def min_norm_interpolator(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """theta^ = X^T (X X^T)^-1 y for explicit X (n, p) with p >= n. Shape (p,). Reference path."""
    n, p = X.shape
    _check_n(n)
    if p < n:
        raise ValueError(f"Interpolation needs p >= n: got p = {p} features for n = {n} samples.")
    return X.T @ np.linalg.solve(X @ X.T, y)


# ----------------------------------------------------------------------------- the UC bound


@dataclass(frozen=True)
class ClassMoments:
    """Population moments the UC bound of a linear class {supp theta in C, |theta| <= B} needs."""

    mean_y2: float  # E y^2
    sd_y2: float  # sd(y^2)
    mean_y2_x2: float  # E[y^2 |x_C|^2]
    trace: float  # tr Sigma_C
    op_norm: float  # |Sigma_C|_op


def uc_bound(n: int, radius: float, moments: ClassMoments) -> float:
    """Bound on E sup_{|theta|_2 <= radius} |R(theta) - R^_S(theta)| for squared loss (see module doc).

    sd(y^2)/sqrt(n) + 2 B sqrt(E[y^2 |x_C|^2]/n) + B^2 |Sigma_C| (sqrt(r/n) + r/n), r = tr/|Sigma_C|.
    Constants illustrative (Koltchinskii-Lounici's absolute constant set to 1).
    """
    rank = moments.trace / moments.op_norm
    return (moments.sd_y2 / math.sqrt(n) + 2 * radius * math.sqrt(moments.mean_y2_x2 / n)
            + radius ** 2 * moments.op_norm * (math.sqrt(rank / n) + rank / n))


def linear_moments(spectrum: SpikedSpectrum, theta_star: np.ndarray, sigma: float,
                   head_only: bool) -> ClassMoments:
    """Closed-form moments for Gaussian x and y = x . theta* + eps (theta* in the spikes).

    E y^2 = sigma^2 + theta*^T Sigma theta*; sd(y^2) = sqrt(2) E y^2 (y is centred Gaussian);
    E[y^2 |x_C|^2] = E y^2 tr Sigma_C + 2 |(Sigma theta*)_C|^2 (Isserlis).
    """
    head = np.asarray(spectrum.head)
    mean_y2 = sigma ** 2 + float(head @ theta_star ** 2)
    trace = spectrum.trace(head_only)
    cross = 2 * float(((head * theta_star) ** 2).sum())
    return ClassMoments(mean_y2, math.sqrt(2) * mean_y2, mean_y2 * trace + cross, trace,
                        spectrum.op_norm(head_only))


# ----------------------------------------------------------------------------- the decomposition


def decomposition(sample: LinearSample, ridge: float = 0.0) -> list[dict]:
    """The paper's decomposition for the (ridge or min-norm) predictor and both surrogates.

    theta^ = X^T (K + n ridge I)^-1 y; ridge = 0 is the minimum-norm interpolator.
    Surrogates: "denoising" theta~ = E[theta^ | X] = X^T (K + n ridge I)^-1 X theta* (forgets the
    noise; for ridge 0 it is X^+ X theta*, the projection of theta* on the row space), class
    {|theta|_2 <= |theta~|}; "head" theta~ = theta^ with its tail coordinates set to 0, class
    {theta in the spike coordinates, |theta|_2 <= |theta~|}.
    Returns one dict per surrogate: train_error, test_risk, norm (of theta^), surrogate_train,
    surrogate_risk, surrogate_norm, surrogate_uc (UC term of its class), surrogate_deviation (realized
    |R(h~) - R^_S(h~)|), risk_gap |R(h^) - R(h~)|, surrogate_bound (the sum), ball_uc (UC over
    {|theta| <= |theta^|}), ball_deviation (realized |R(h^) - R^_S(h^)|), ball_bound (train + ball_uc).
    """
    solve = interpolation_solver(sample) if ridge == 0 else ridge_solver(sample, ridge)
    fit, denoised = dual_predictors(sample, solve(np.column_stack([sample.y, sample.signal])))
    spectrum, n = sample.spectrum, sample.n
    full = linear_moments(spectrum, sample.theta_star, sample.sigma, head_only=False)
    train, risk, norm = empirical_risk(sample, fit), population_risk(sample, fit), euclidean_norm(fit)
    ball_uc = uc_bound(n, norm, full)
    rows = []
    for name, surrogate, moments in (
        ("denoising", denoised, full),
        ("head", head_part(sample, fit),
         linear_moments(spectrum, sample.theta_star, sample.sigma, head_only=True)),
    ):
        s_train, s_risk = empirical_risk(sample, surrogate), population_risk(sample, surrogate)
        s_norm = euclidean_norm(surrogate)
        s_uc = uc_bound(n, s_norm, moments)
        gap = abs(risk - s_risk)
        rows.append({
            "surrogate": name, "train_error": train, "test_risk": risk, "norm": norm,
            "surrogate_train": s_train, "surrogate_risk": s_risk, "surrogate_norm": s_norm,
            "surrogate_uc": s_uc, "surrogate_deviation": abs(s_risk - s_train), "risk_gap": gap,
            "surrogate_bound": s_train + s_uc + gap, "ball_uc": ball_uc,
            "ball_deviation": abs(risk - train), "ball_bound": train + ball_uc,
        })
    return rows


# ----------------------------------------------------------------------------- Nagarajan-Kolter


NK_NOISE_VARIANCE = 32.0  # x2 ~ N(0, (32 / D) I_D), as in Nagarajan & Kolter (2019)


@dataclass(frozen=True)
class NKSample:
    """A training set of the Nagarajan-Kolter example in Gram form.

    x = (x1, x2): x1 = 2 y u with |u|^2 = 1/m (so u . x1 = 2y/m), x2 ~ N(0, (32/D) I_D).
    labels: (m,) in {-1, +1}; gram_factor: (m, m) lower-triangular L with
    X2 X2^T = (32/D) L L^T; noise_dim: D.
    """

    labels: np.ndarray
    gram_factor: np.ndarray
    noise_dim: int

    @property
    def m(self) -> int:
        return self.labels.shape[0]


def sample_nk(m: int, noise_dim: int, rng: np.random.Generator) -> NKSample:
    """Draw m labelled points (fast path: the x2 Gram matrix from Bartlett's decomposition)."""
    _check_n(m)
    labels = rng.choice(np.array([-1.0, 1.0]), size=m)
    return NKSample(labels, bartlett_factor(m, noise_dim, rng), int(noise_dim))


def nk_sample_from_features(labels: np.ndarray, x2: np.ndarray) -> NKSample:
    """The Gram form of explicit noise blocks x2 (m, D) ~ N(0, (32/D) I). Reference path."""
    m, D = x2.shape
    L = np.linalg.cholesky(x2 @ x2.T * (D / NK_NOISE_VARIANCE))
    return NKSample(np.asarray(labels, float), L, D)


def nk_train_margins(sample: NKSample) -> tuple[np.ndarray, np.ndarray]:
    """Margins y_j h(x_j) on the training set S and on its mirror S' (x2 negated). Shapes (m,), (m,).

    One gradient step from 0 (learning rate 1, loss -y h(x)) gives w = (1/m) sum_i y_i x_i, so
    w1 = 2u, w2 = (1/m) sum_i y_i x2_i and y_j h(x_j) = 4/m + y_j (1/m) sum_i y_i x2_i . x2_j.
    On the mirror the x2 part changes sign: 4/m - y_j (1/m) sum_i y_i x2_i . x2_j.
    """
    m, y, L = sample.m, sample.labels, sample.gram_factor
    noise_part = y * (L @ (L.T @ y)) * (NK_NOISE_VARIANCE / sample.noise_dim) / m
    return 4.0 / m + noise_part, 4.0 / m - noise_part


def nk_weight_noise_sq(sample: NKSample) -> float:
    """|w2|^2 = y^T X2 X2^T y / m^2."""
    lt_y = sample.gram_factor.T @ sample.labels
    return float(lt_y @ lt_y) * NK_NOISE_VARIANCE / sample.noise_dim / sample.m ** 2


def nk_test_error(sample: NKSample) -> float:
    """Exact test error of h^ given S: P(4/m + N(0, |w2|^2 32/D) < 0) = Phi(-(4/m) / sqrt(|w2|^2 32/D))."""
    scale = math.sqrt(nk_weight_noise_sq(sample) * NK_NOISE_VARIANCE / sample.noise_dim)
    return float(ndtr(-(4.0 / sample.m) / scale))


def hoeffding(m: int, delta: float) -> float:
    """Two-sided Hoeffding deviation of one fixed [0, 1]-loss predictor: sqrt(log(2/delta) / (2m))."""
    return math.sqrt(math.log(2.0 / delta) / (2 * m))


def nk_decomposition(sample: NKSample, delta: float) -> dict:
    """Every NK quantity for one training set.

    The derandomized classifier h~(x) = E[h_S(x) | labels] = w1 . x1 = 2u . x1 (E w2 = 0): one fixed
    predictor, sign(h~(x)) = y, so R(h~) = R^_S(h~) = 0 and Hoeffding bounds it. The coupling term
    |R(h^) - R(h~)| = R(h^). Two-sided UC over the algorithm's outputs on typical sets is at least
    |R(h_S) - R^_S'(h_S)| = mirror error - test error (S' is typical too).
    """
    train, mirror = nk_train_margins(sample)
    test = nk_test_error(sample)
    surrogate_uc = hoeffding(sample.m, delta)
    mirror_error = float(np.mean(mirror <= 0))
    return {
        "train_error": float(np.mean(train <= 0)), "test_error": test, "mirror_error": mirror_error,
        "nk_lower_bound": abs(mirror_error - test), "surrogate_train": 0.0, "surrogate_risk": 0.0,
        "surrogate_uc": surrogate_uc, "risk_gap": test, "surrogate_bound": surrogate_uc + test,
    }


# ----------------------------------------------------------------------------- random features


def rf_features(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ReLU random features phi(x) = relu(W x / sqrt(d)) / sqrt(N). X (n, d), W (N, d) -> (n, N)."""
    N, d = weights.shape
    return np.maximum(X @ weights.T / math.sqrt(d), 0.0) / math.sqrt(N)


def top_eigenvalue(features: np.ndarray, iterations: int = 500, tol: float = 1e-8) -> float:
    """Largest eigenvalue of features^T features / m by power iteration (features (m, N))."""
    m = features.shape[0]
    v = np.ones(features.shape[1]) / math.sqrt(features.shape[1])
    value = 0.0
    for _ in range(iterations):
        w = features.T @ (features @ v) / m
        new = float(np.linalg.norm(w))
        v = w / new
        if abs(new - value) <= tol * new:
            break
        value = new
    return new


def rf_moments(test_features: np.ndarray, test_signal: np.ndarray, sigma: float) -> ClassMoments:
    """Monte Carlo moments of the RF class from a held-out sample (features (m, N), signal f*(x) (m,)).

    E y^2 = mean f*^2 + sigma^2; sd(y^2) = sqrt(2) E y^2 (f*(x) = x . theta* is Gaussian);
    E[y^2 |phi|^2] = mean (f*^2 + sigma^2) |phi|^2; tr Sigma_phi = mean |phi|^2; |Sigma_phi|_op by power
    iteration.
    """
    sq_norms = (test_features ** 2).sum(axis=1)
    mean_y2 = float(np.mean(test_signal ** 2)) + sigma ** 2
    return ClassMoments(mean_y2, math.sqrt(2) * mean_y2,
                        float(np.mean((test_signal ** 2 + sigma ** 2) * sq_norms)),
                        float(sq_norms.mean()), top_eigenvalue(test_features))


def rf_decomposition(features: np.ndarray, gram: np.ndarray, signal: np.ndarray, noise: np.ndarray,
                     test_features: np.ndarray, test_signal: np.ndarray, sigma: float, ridge: float,
                     moments: ClassMoments) -> dict:
    """The decomposition for RF regression theta = Phi^T (Phi Phi^T + n ridge I)^-1 y (ridge 0: min norm).

    features (n, N), gram = features features^T (n, n), signal f*(X) (n,), noise (n,),
    test_features (m, N), test_signal (m,).
    Surrogate: theta~ = E[theta^ | X, W] = the same fit to the noiseless labels f*(X); class
    {|theta|_2 <= |theta~|}. Risks by Monte Carlo: R(theta) = sigma^2 + mean_test (f* - phi . theta)^2.
    Raises FloatingPointError when Phi Phi^T + n ridge I is numerically singular.
    """
    n = features.shape[0]
    try:
        factor = cho_factor(gram + n * ridge * np.eye(n), lower=True)
    except LinAlgError:
        raise FloatingPointError("the random-features Gram matrix is singular: use more features "
                                 "than samples or a positive ridge") from None
    y = signal + noise
    thetas = features.T @ cho_solve(factor, np.column_stack([y, signal]))
    train_pred, test_pred = features @ thetas, test_features @ thetas
    train, s_train = np.mean((y[:, None] - train_pred) ** 2, axis=0).tolist()
    risk, s_risk = (sigma ** 2 + np.mean((test_signal[:, None] - test_pred) ** 2, axis=0)).tolist()
    norm, s_norm = np.linalg.norm(thetas, axis=0).tolist()
    s_uc, ball_uc = uc_bound(n, s_norm, moments), uc_bound(n, norm, moments)
    gap = abs(risk - s_risk)
    return {
        "train_error": train, "test_risk": risk, "norm": norm, "surrogate_train": s_train,
        "surrogate_risk": s_risk, "surrogate_norm": s_norm, "surrogate_uc": s_uc, "risk_gap": gap,
        "surrogate_bound": s_train + s_uc + gap, "ball_uc": ball_uc, "ball_bound": train + ball_uc,
    }


# ----------------------------------------------------------------------------- configs


@dataclass(frozen=True, kw_only=True)
class LinearConfig:
    """Minimum-norm interpolation with a spiked covariance, swept over n."""

    n_values: tuple[int, ...] = (50, 100, 200, 400, 800, 1600, 3200)  # training-set sizes (x axis)
    n_spikes: int = 3  # k, the number of large eigenvalues (theta* lives there)
    spike: float = 1.0  # the spikes' eigenvalue ("spike strength")
    tail_exponent: float = 1.5  # tail dimension p_t = ceil(n^a); tail eigenvalue sqrt(n)/p_t
    noise: float = 1.0  # label-noise standard deviation sigma (noise level sigma^2)
    seeds: int = 3  # independent training sets per n
    seed: int = 0  # base seed

    def __post_init__(self) -> None:
        check_int_tuple(self, "n_values", 2, 12800, min_len=2, max_len=12)
        _check_increasing(self, "n_values")
        check_int(self, "n_spikes", 1, 20)
        check_float(self, "spike", 0.05, 100.0)
        check_float(self, "tail_exponent", 1.1, 2.0)
        check_float(self, "noise", 0.0, 10.0)
        check_int(self, "seeds", 1, 100)
        check_int(self, "seed", 0, 2 ** 31 - 1)


@dataclass(frozen=True, kw_only=True)
class RidgeConfig:
    """The same decomposition for ridge regression at one n, swept over the ridge parameter."""

    n: int = 400  # training-set size
    ridges: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)  # lambda (x axis)
    n_spikes: int = 3  # k, the number of large eigenvalues
    spike: float = 1.0  # the spikes' eigenvalue
    tail_exponent: float = 1.5  # tail dimension p_t = ceil(n^a)
    noise: float = 1.0  # label-noise standard deviation sigma
    seeds: int = 3  # independent training sets
    seed: int = 0  # base seed

    def __post_init__(self) -> None:
        check_int(self, "n", 2, 3200)
        check_float_tuple(self, "ridges", 1e-8, 1e3, min_len=2, max_len=30, increasing=True)
        check_int(self, "n_spikes", 1, 20)
        check_float(self, "spike", 0.05, 100.0)
        check_float(self, "tail_exponent", 1.1, 2.0)
        check_float(self, "noise", 0.0, 10.0)
        check_int(self, "seeds", 1, 100)
        check_int(self, "seed", 0, 2 ** 31 - 1)


@dataclass(frozen=True, kw_only=True)
class NKConfig:
    """Nagarajan & Kolter's one-step classifier, swept over the training-set size m."""

    m_values: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)  # training-set sizes (x axis)
    dim_factor: int = 500  # noise-block dimension D = dim_factor * m (D >> m)
    delta: float = 0.05  # confidence of the Hoeffding bound
    seeds: int = 3  # independent training sets per m
    seed: int = 0  # base seed

    def __post_init__(self) -> None:
        check_int_tuple(self, "m_values", 2, 16384, min_len=2, max_len=12)
        _check_increasing(self, "m_values")
        check_int(self, "dim_factor", 2, 100000)
        check_float(self, "delta", 0.0, 1.0, low_open=True, high_open=True)
        check_int(self, "seeds", 1, 100)
        check_int(self, "seed", 0, 2 ** 31 - 1)


@dataclass(frozen=True, kw_only=True)
class RandomFeaturesConfig:
    """ReLU random-features regression, interpolating (ridge 0) and ridge, swept over n."""

    n_values: tuple[int, ...] = (50, 100, 200, 400, 800)  # training-set sizes (x axis)
    n_features: int = 2000  # N random features (>= 2 max n, so ridge 0 interpolates)
    input_dim: int = 20  # d, inputs x ~ N(0, I_d), target f*(x) = x . 1 / sqrt(d)
    ridge: float = 0.01  # lambda of the non-interpolating fit
    noise: float = 1.0  # label-noise standard deviation sigma
    n_test: int = 2000  # Monte Carlo test points for risks and the class moments
    seeds: int = 2  # independent (weights, training set) draws
    seed: int = 0  # base seed

    def __post_init__(self) -> None:
        check_int_tuple(self, "n_values", 2, 8192, min_len=2, max_len=12)
        _check_increasing(self, "n_values")
        check_int(self, "n_features", 4, 20000)
        if self.n_features < 2 * max(self.n_values):
            raise ConfigError(
                f"The 'n_features' parameter of RandomFeaturesConfig must be an int >= 2 * max(n_values) "
                f"= {2 * max(self.n_values)} so that ridge 0 interpolates. Got {self.n_features} instead.")
        check_int(self, "input_dim", 1, 1000)
        check_float(self, "ridge", 1e-8, 1e3)
        check_float(self, "noise", 0.0, 10.0)
        check_int(self, "n_test", 100, 100000)
        check_int(self, "seeds", 1, 100)
        check_int(self, "seed", 0, 2 ** 31 - 1)


def _check_increasing(config, field: str) -> None:
    values = getattr(config, field)
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ConfigError(f"The '{field}' parameter of {type(config).__name__} must be strictly "
                          f"increasing. Got {values!r} instead.")


# ----------------------------------------------------------------------------- compute


def _rng(config, *keys: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *keys])


def compute_linear(config: LinearConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (n, seed, surrogate): the decomposition of the min-norm interpolator.

    The (n, seed) runs go to two threads (numpy's sampling and LAPACK release the GIL); progress is
    reported from the calling thread as results arrive in order.
    """
    tasks = [(n, seed) for n in config.n_values for seed in range(config.seeds)]
    total, done, rows = sum(n * n for n, _ in tasks), 0, []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for (n, seed), task_rows in zip(tasks, pool.map(lambda t: _linear_task(config, *t), tasks)):
            rows.extend(task_rows)
            done += n * n
            ctx.report(done / total, f"n = {n}, seed {seed + 1}/{config.seeds}")
    return pd.DataFrame(rows)


def _linear_task(config: LinearConfig, n: int, seed: int) -> list[dict]:
    """The rows of one training set of size n."""
    spectrum = spiked_spectrum(n, config.n_spikes, config.spike, config.tail_exponent)
    sample = sample_linear(n, spectrum, config.noise, _rng(config, n, seed))
    return [{"n": n, "seed": seed, **_spectrum_columns(spectrum, config.noise), **row}
            for row in decomposition(sample)]


def _spectrum_columns(spectrum: SpikedSpectrum, noise: float) -> dict:
    return {"p": spectrum.dim, "tail_dim": spectrum.tail_dim, "tail_eigenvalue": spectrum.tail_value,
            "noise": float(noise), "noise_level": float(noise) ** 2}


def compute_ridge(config: RidgeConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (ridge, seed, surrogate) at fixed n."""
    spectrum = spiked_spectrum(config.n, config.n_spikes, config.spike, config.tail_exponent)
    rows = []
    for seed in range(config.seeds):
        sample = sample_linear(config.n, spectrum, config.noise, _rng(config, config.n, seed))
        for ridge in config.ridges:
            for row in decomposition(sample, ridge):
                rows.append({"n": config.n, "ridge": ridge, "seed": seed,
                             **_spectrum_columns(spectrum, config.noise), **row})
        ctx.report((seed + 1) / config.seeds, f"seed {seed + 1}/{config.seeds}")
    return pd.DataFrame(rows)


def compute_nk(config: NKConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (m, seed): NK's interpolating classifier and its derandomized surrogate."""
    rows, total, done = [], sum(m * m for m in config.m_values) * config.seeds, 0
    for m in config.m_values:
        for seed in range(config.seeds):
            sample = sample_nk(m, config.dim_factor * m, _rng(config, m, seed))
            rows.append({"m": m, "seed": seed, "noise_dim": sample.noise_dim,
                         **nk_decomposition(sample, config.delta)})
            done += m * m
            ctx.report(done / total, f"m = {m}, seed {seed + 1}/{config.seeds}")
    return pd.DataFrame(rows)


def compute_random_features(config: RandomFeaturesConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (n, seed, fit) with fit in {"interpolating", "ridge"}."""
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
            gram = features @ features.T
            for fit, ridge in (("interpolating", 0.0), ("ridge", config.ridge)):
                row = rf_decomposition(features, gram, X @ theta_star, noise, test_features, test_signal,
                                       config.noise, ridge, moments)
                rows.append({"n": n, "seed": seed, "fit": fit, "ridge": ridge, "n_features": config.n_features,
                             "noise_level": config.noise ** 2, **row})
        ctx.report((seed + 1) / config.seeds, f"seed {seed + 1}/{config.seeds}")
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- experiments and claims


def _at(frame: pd.DataFrame, x: str, which: str, column: str, **filters) -> float:
    """Mean over seeds of ``column`` at the smallest or largest ``x`` (which = "first" or "last")."""
    for key, value in filters.items():
        frame = frame[frame[key] == value]
    means = frame.groupby(x)[column].mean()
    return float(means.iloc[0] if which == "first" else means.iloc[-1])


def _ratio(frame: pd.DataFrame, x: str, column: str, **filters) -> float:
    """Mean of ``column`` at the largest x over its mean at the smallest x."""
    return _at(frame, x, "last", column, **filters) / _at(frame, x, "first", column, **filters)


def _linear_sweep() -> list[LinearConfig]:
    """Every position of the page's linear sliders."""
    return [LinearConfig(n_values=N_GRIDS[n_max], noise=noise, tail_exponent=a, spike=spike)
            for n_max in N_GRIDS for noise in NOISE_LEVELS for a in TAIL_EXPONENTS for spike in SPIKES]


N_GRIDS = {n_max: tuple(50 * 2 ** i for i in range(int(math.log2(n_max // 50)) + 1)) for n_max in (800, 1600, 3200)}
NOISE_LEVELS = (0.25, 0.5, 1.0, 2.0)  # the page's noise slider (sigma)
TAIL_EXPONENTS = (1.25, 1.5, 1.75, 2.0)  # the page's tail-exponent slider
SPIKES = (0.5, 1.0, 2.0, 4.0)  # the page's spike-strength slider
RIDGES = (1e-3, 1e-2, 0.1, 1.0)  # the page's ridge slider (random features)

_LIN = "generalization.linear"
_NK = "generalization.nk"

EXPERIMENTS = (
    Experiment(
        name=_LIN,
        title="Minimum-norm interpolation: the surrogate bound falls, the ball bound does not",
        config_cls=LinearConfig,
        compute=compute_linear,
        presets={"quick": LinearConfig(),
                 "paper": LinearConfig(n_values=(100, 200, 400, 800, 1600, 3200, 6400), seeds=20)},
        version=1,
        charts={"denoising": gc.linear_denoising_chart, "head": gc.linear_head_chart, "norms": gc.norms_chart},
        description="Spiked covariance, p = k + n^a >> n. The min-norm interpolator fits the noise with a "
        "large-norm tail component; uniform convergence over the ball that holds it is stuck above the noise "
        "level, while the surrogate's bound falls towards the truth.",
        sweeps={"quick": _linear_sweep},
        claims=(
            Claim("gen.interpolates", "The minimum-norm interpolator has zero training error at every n.", _LIN,
                  measure=lambda f: float(f["train_error"].max()), holds=lambda v: v < 1e-10,
                  unit="max training MSE"),
            Claim("gen.benign", "Benign overfitting: the interpolator's test risk approaches the noise level.",
                  _LIN, measure=lambda f: _at(f, "n", "last", "test_risk") / _at(f, "n", "last", "noise_level"),
                  holds=lambda v: v < 1.05, paper_value=1.0, unit="R(ĥ) / σ² at the largest n"),
            Claim("gen.ball_stuck", "Uniform convergence over the smallest ball containing the interpolator "
                  "does not fall with n.", _LIN, measure=lambda f: _ratio(f, "n", "ball_bound"),
                  holds=lambda v: v >= 0.9, unit="ball bound, largest n / smallest n"),
            Claim("gen.surrogate_falls", "The denoising surrogate's total bound falls with n.", _LIN,
                  measure=lambda f: _ratio(f, "n", "surrogate_bound", surrogate="denoising"),
                  holds=lambda v: v < 0.6, unit="surrogate bound, largest n / smallest n"),
            Claim("gen.coupling_falls", "The coupling term |R(ĥ) − R(h̃)| of the denoising surrogate falls "
                  "with n.", _LIN, measure=lambda f: _ratio(f, "n", "risk_gap", surrogate="denoising"),
                  holds=lambda v: v < 0.5, unit="|R(ĥ) − R(h̃)|, largest n / smallest n"),
        ),
    ),
    Experiment(
        name=_NK,
        title="Nagarajan-Kolter: two-sided uniform convergence is vacuous, derandomization is not",
        config_cls=NKConfig,
        compute=compute_nk,
        presets={"quick": NKConfig(),
                 "paper": NKConfig(m_values=(64, 128, 256, 512, 1024, 2048, 4096, 8192), seeds=20)},
        version=1,
        charts={"main": gc.nk_chart},
        description="One gradient step on x = (2yu, x2) with a D >> m noise block: zero training error, small "
        "test error, error 1 on the mirrored training set; the derandomized classifier sign(u . x1) is one "
        "fixed predictor that Hoeffding bounds.",
        sweeps={"quick": lambda: [NKConfig(dim_factor=f) for f in (100, 200, 500, 1000)]},
        claims=(
            Claim("nk.mirror", "The interpolator errs on (nearly) every point of the mirrored training set, so "
                  "every two-sided UC bound over the algorithm's outputs is about 1.", _NK,
                  measure=lambda f: float(f["mirror_error"].min()), holds=lambda v: v > 0.95, paper_value=1.0,
                  unit="min mirrored-set error"),
            Claim("nk.agree", "The derandomized classifier's true error matches the interpolator's test error.",
                  _NK, measure=lambda f: float((f["test_error"] - f["surrogate_risk"]).abs().max()),
                  holds=lambda v: v < 0.005, unit="max |R(ĥ) − R(h̃)|"),
            Claim("nk.bound_small", "The derandomized bound is non-vacuous and falls below 0.1 at the largest m.",
                  _NK, measure=lambda f: _at(f, "m", "last", "surrogate_bound"), holds=lambda v: v < 0.1,
                  unit="surrogate bound at the largest m"),
        ),
    ),
    Experiment(
        name="generalization.ridge",
        title="Extension: the decomposition across the ridge parameter",
        config_cls=RidgeConfig,
        compute=compute_ridge,
        presets={"quick": RidgeConfig(), "paper": RidgeConfig(n=1600, seeds=20)},
        version=1,
        charts={"main": gc.ridge_chart},
        description="Ridge shrinks the ball (its UC bound falls) only by adding bias; the denoising "
        "surrogate's bound tracks the risk at every λ.",
        sweeps={"quick": lambda: [RidgeConfig(noise=s, tail_exponent=a, spike=k)
                                  for s in NOISE_LEVELS for a in TAIL_EXPONENTS for k in SPIKES]},
        claims=(
            Claim("gen.ridge_ball_vs_surrogate", "Near interpolation (smallest λ) the ball bound is at least "
                  "twice the denoising surrogate's bound.", "generalization.ridge",
                  measure=lambda f: _at(f, "ridge", "first", "ball_bound", surrogate="denoising")
                  / _at(f, "ridge", "first", "surrogate_bound", surrogate="denoising"),
                  holds=lambda v: v >= 2.0, unit="ball bound / surrogate bound at the smallest λ"),
        ),
    ),
    Experiment(
        name="generalization.random_features",
        title="Extension: random-features regression, interpolating vs ridge",
        config_cls=RandomFeaturesConfig,
        compute=compute_random_features,
        presets={"quick": RandomFeaturesConfig(),
                 "paper": RandomFeaturesConfig(n_values=(100, 200, 400, 800, 1600, 3200), n_features=8000,
                                               n_test=10000, seeds=10)},
        version=1,
        charts={"main": gc.random_features_chart},
        description="ReLU random features: the interpolator's norm (and its ball bound) grows with n, the "
        "denoising surrogate's bound falls; ridge keeps the norm bounded at the price of training error.",
        sweeps={"quick": lambda: [RandomFeaturesConfig(ridge=r, noise=s) for r in RIDGES for s in NOISE_LEVELS]},
        claims=(
            Claim("gen.rf_surrogate_falls", "Interpolating random features: the surrogate bound falls with n "
                  "while the ball bound grows.", "generalization.random_features",
                  measure=lambda f: _ratio(f, "n", "surrogate_bound", fit="interpolating")
                  / _ratio(f, "n", "ball_bound", fit="interpolating"),
                  holds=lambda v: v < 0.5, unit="(surrogate-bound ratio) / (ball-bound ratio), largest/smallest n"),
        ),
    ),
)
