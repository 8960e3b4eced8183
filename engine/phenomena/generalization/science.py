"""Minimum-norm interpolation with a spiked covariance (Negrea, Dziugaite, Roy, ICML 2020): the science.

Model: x ~ N(0, Sigma), Sigma = diag(spike * 1_k, lam_t * 1_{p_t}), p_t = ceil(n^a) >= n,
lam_t = sqrt(n) / p_t; y = x . theta* + eps with theta* a unit vector in the spikes, eps ~ N(0, sigma^2).
Squared-loss risks: R(theta) = sigma^2 + (theta - theta*)^T Sigma (theta - theta*), R^_S(theta) = |y - X theta|^2 / n.

The paper's decomposition, for a surrogate h~ in a class H~:

    R(h^) <= R^_S(h~) + sup_{h in H~} |R(h) - R^_S(h)| + |R(h^) - R(h~)|.

Speed and exactness: every quantity is invariant under a rotation O of sample space ((X, y) -> (O^T X, O^T y))
and the law of (X_h, eps) is too, so we work in the eigenbasis of the tail Gram matrix X_t X_t^T =
lam_t W, W ~ Wishart_n(p_t, I): the sample is W's eigenvalues (drawn from the Dumitriu-Edelman bidiagonal
model in O(n^2)), the rotated spike features U (n, k) and the rotated noise. Then K = X X^T = U U^T +
diag(kappa) is diagonal plus rank k, every solve costs O(n k^2), and the whole problem lives in the
(k + n)-dimensional span of the spikes and the tail's row space (where Sigma - Sigma^ is an arrowhead
matrix), so the sup over a ball is an exact trust-region problem. :func:`linear_sample_from_features`
builds the same object from explicit features (the reference path the tests use).
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from engine.core.params import Interval, check_arg
from engine.phenomena.generalization.bounds import (
    Arrowhead,
    ClassMoments,
    DiagPlusLowRank,
    coupling_tail_bound,
    uc_bound,
    uniform_deviation,
    uniform_deviations,
)

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
    """The benign-overfitting spectrum for sample size n (tail_exponent > 1), or the square one (= 1).

    p_t = ceil(n^a) and lam_t = sqrt(n) / p_t, so tr(Sigma_tail) = sqrt(n): the tail's effective ridge
    tr(Sigma_tail) / n -> 0 (spikes are learned) while p_t >> n flat directions absorb the noise (variance
    ~ sigma^2 (k/n + n/p_t)). At a = 1 (p_t = n) the tail cannot absorb it: not benign.
    """
    check_arg("spiked_spectrum", "n", n, Interval(int, 2, None))
    check_arg("spiked_spectrum", "n_spikes", n_spikes, Interval(int, 1, None))
    check_arg("spiked_spectrum", "spike", spike, Interval(float, 0.0, None, closed="neither"))
    check_arg("spiked_spectrum", "tail_exponent", tail_exponent, Interval(float, 1.0, None))
    tail_dim = max(int(n), int(math.ceil(n ** float(tail_exponent) - 1e-9)))
    return SpikedSpectrum(
        head=(float(spike),) * int(n_spikes), tail_value=math.sqrt(n) / tail_dim, tail_dim=tail_dim
    )


def _gil_free_dsterf():
    """LAPACK's dsterf through ctypes, which releases the GIL during the call (scipy's own wrapper holds
    it, so the two threads of :func:`compute_linear` would take turns); None if unavailable."""
    try:
        from scipy.linalg import cython_lapack

        capsule = cython_lapack.__pyx_capi__["dsterf"]
        get_name, get_pointer = ctypes.pythonapi.PyCapsule_GetName, ctypes.pythonapi.PyCapsule_GetPointer
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        pointer = get_pointer(capsule, get_name(capsule))
        int_p, double_p = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double)
        return ctypes.CFUNCTYPE(None, int_p, double_p, double_p, int_p)(pointer)
    except Exception:  # an unusual scipy build: fall back to its wrapper
        return None


_DSTERF = _gil_free_dsterf()


def tridiagonal_eigenvalues(diag: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Eigenvalues (n,), ascending, of the symmetric tridiagonal matrix with diagonal (n,) and off-diagonal
    (n - 1,): LAPACK dsterf (Pal-Walker-Kahan QL/QR), O(n^2), run without holding the GIL where possible."""
    d = np.array(diag, dtype=np.float64, order="C")
    if d.size <= 1:
        return d
    if _DSTERF is not None:
        e = np.array(off, dtype=np.float64, order="C")
        n, info = ctypes.c_int(d.size), ctypes.c_int(0)
        _DSTERF(
            ctypes.byref(n),
            d.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            e.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            ctypes.byref(info),
        )
        values, status = d, info.value
    else:
        values, status = lapack.dsterf(d, np.asarray(off, dtype=np.float64))
    if status != 0:
        raise FloatingPointError(f"the tridiagonal eigenvalue solver did not converge (info = {status})")
    return np.sort(values)


def wishart_eigenvalues(n: int, df: int, rng: np.random.Generator) -> np.ndarray:
    """Eigenvalues (n,), ascending, of W ~ Wishart_n(df, I_n), df >= n, in O(n^2) time and O(n) memory.

    Dumitriu & Edelman (2002), beta = 1: W has the eigenvalues of B B^T with B lower bidiagonal,
    B_ii = chi_{df - i} (i = 0..n-1) and B_{i+1, i} = chi_{n-1-i}; B B^T is tridiagonal.
    """
    check_arg("wishart_eigenvalues", "n", n, Interval(int, 1, None))
    check_arg("wishart_eigenvalues", "df", df, Interval(int, n, None))
    diag = np.sqrt(rng.chisquare(df - np.arange(n)))
    sub = np.sqrt(rng.chisquare(n - 1 - np.arange(n - 1))) if n > 1 else np.zeros(0)
    return tridiagonal_eigenvalues(diag**2 + np.concatenate([[0.0], sub**2]), sub * diag[:-1])


@dataclass(frozen=True)
class LinearSample:
    """A training set of the spiked model, rotated to the eigenbasis of the tail Gram matrix.

    head_features U: (n, k) the rotated spike coordinates; tail_gram: (n,) kappa, the eigenvalues of
    X_t X_t^T (= lam_t times Wishart eigenvalues); theta_star: (k,) (its tail part is 0); noise: (n,) the
    rotated label noise; y = U theta* + noise. In these coordinates X X^T = U U^T + diag(kappa).
    """

    spectrum: SpikedSpectrum
    head_features: np.ndarray
    tail_gram: np.ndarray
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


def target_vector(n_spikes: int) -> np.ndarray:
    """theta* restricted to the spikes: equal weights, unit Euclidean norm. Shape (k,)."""
    return np.full(n_spikes, 1.0 / math.sqrt(n_spikes))


def sample_linear(n: int, spectrum: SpikedSpectrum, sigma: float, rng: np.random.Generator) -> LinearSample:
    """Draw a training set of size n in rotated form (O(n^2) for the eigenvalues, O(n k) otherwise)."""
    check_arg("sample_linear", "n", n, Interval(int, 2, None))
    check_arg("sample_linear", "noise", sigma, Interval(float, 0.0, None))
    head = np.asarray(spectrum.head)
    kappa = spectrum.tail_value * wishart_eigenvalues(n, spectrum.tail_dim, rng)
    U = rng.standard_normal((n, head.size)) * np.sqrt(head)
    noise = sigma * rng.standard_normal(n)
    return LinearSample(spectrum, U, kappa, target_vector(head.size), noise, float(sigma))


def explicit_features(n: int, spectrum: SpikedSpectrum, rng: np.random.Generator) -> np.ndarray:
    """Explicit inputs X (n, p) with rows ~ N(0, Sigma): spikes first, then the tail. Reference path."""
    scales = np.concatenate(
        [np.sqrt(spectrum.head), np.full(spectrum.tail_dim, math.sqrt(spectrum.tail_value))]
    )
    return rng.standard_normal((n, spectrum.dim)) * scales


def linear_sample_from_features(
    X: np.ndarray, spectrum: SpikedSpectrum, noise: np.ndarray, sigma: float
) -> LinearSample:
    """The rotated sample of explicit features X (n, p) and noise (n,): O = eigenvectors of X_t X_t^T."""
    n, p = X.shape
    check_arg("linear_sample_from_features", "p", p, Interval(int, len(spectrum.head) + n, None))
    k = len(spectrum.head)
    tail = X[:, k:]
    kappa, O = np.linalg.eigh(tail @ tail.T)
    return LinearSample(
        spectrum, O.T @ X[:, :k], kappa, target_vector(k), O.T @ np.asarray(noise, float), float(sigma)
    )


# ----------------------------------------------------------------------------- fitting (dual form)


@dataclass(frozen=True)
class KernelInverse:
    """(K + n ridge I)^-1 = diag(1/kappa) - P C^-1 P^T with kappa = tail Gram + n ridge, P = U / kappa,
    C = I + U^T P (Woodbury)."""

    kappa: np.ndarray
    P: np.ndarray
    C_inv: np.ndarray

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """(K + n ridge I)^-1 v for v (n,) or (n, c). O(n k c)."""
        if v.ndim == 1:
            return v / self.kappa - self.P @ (self.C_inv @ (self.P.T @ v))
        return v / self.kappa[:, None] - self.P @ (self.C_inv @ (self.P.T @ v))


def kernel_inverse(sample: LinearSample, ridge: float = 0.0) -> KernelInverse:
    """The Woodbury form of (X X^T + n ridge I)^-1 (ridge = 0: the interpolator's)."""
    check_arg("kernel_inverse", "ridge", ridge, Interval(float, 0.0, None))
    kappa = sample.tail_gram + sample.n * float(ridge)
    P = sample.head_features / kappa[:, None]
    C = np.eye(P.shape[1]) + sample.head_features.T @ P
    return KernelInverse(kappa, P, np.linalg.inv(C))


@dataclass(frozen=True)
class DualPredictor:
    """theta = X^T beta in the (spikes, tail row space) coordinates: head (k,) and tail (n,) = sqrt(kappa) beta;
    fitted (n,) = X theta on the training inputs."""

    head: np.ndarray
    tail: np.ndarray
    fitted: np.ndarray

    @property
    def tail_sq(self) -> float:
        """|theta_tail|^2."""
        return float(self.tail @ self.tail)


def dual_predictor(sample: LinearSample, beta: np.ndarray) -> DualPredictor:
    """theta = X^T beta for beta (n,)."""
    head = sample.head_features.T @ beta
    return DualPredictor(
        head, np.sqrt(sample.tail_gram) * beta, sample.head_features @ head + sample.tail_gram * beta
    )


def head_part(sample: LinearSample, predictor: DualPredictor) -> DualPredictor:
    """The head-coordinates surrogate: keep the spike coordinates of theta, zero the tail."""
    return DualPredictor(predictor.head, np.zeros_like(predictor.tail), sample.head_features @ predictor.head)


def population_risk(sample: LinearSample, predictor: DualPredictor) -> float:
    """R(theta) = sigma^2 + sum_i head_i (theta_i - theta*_i)^2 + lam_t |theta_tail|^2 (closed form)."""
    diff = predictor.head - sample.theta_star
    return (
        sample.sigma**2
        + float(np.asarray(sample.spectrum.head) @ diff**2)
        + sample.spectrum.tail_value * predictor.tail_sq
    )


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
    check_arg("min_norm_interpolator", "p", p, Interval(int, n, None))
    return X.T @ np.linalg.solve(X @ X.T, y)


def linear_moments(
    spectrum: SpikedSpectrum, theta_star: np.ndarray, sigma: float, head_only: bool
) -> ClassMoments:
    """Closed-form moments for Gaussian x and y = x . theta* + eps (theta* in the spikes).

    E y^2 = sigma^2 + theta*^T Sigma theta*; sd(y^2) = sqrt(2) E y^2 (y is centred Gaussian);
    E[y^2 |x_C|^2] = E y^2 tr Sigma_C + 2 |(Sigma theta*)_C|^2 (Isserlis).
    """
    head = np.asarray(spectrum.head)
    mean_y2 = sigma**2 + float(head @ theta_star**2)
    trace = spectrum.trace(head_only)
    cross = 2 * float(((head * theta_star) ** 2).sum())
    return ClassMoments(
        mean_y2, math.sqrt(2) * mean_y2, mean_y2 * trace + cross, trace, spectrum.op_norm(head_only)
    )


# ----------------------------------------------------------------------------- the coupling term as a form in eps


def denoising_coupling(sample: LinearSample, inverse: KernelInverse, surrogate: DualPredictor):
    """R(h^) - R(h~) = 2 b . eps + eps^T A eps for the denoising surrogate h~ = E[h^ | X] (offset 0).

    With Delta = theta^ - theta~ = X^T M eps (M = (K + n ridge I)^-1): 2 (theta~ - theta*)^T Sigma Delta +
    Delta^T Sigma Delta, so b = M X Sigma (theta~ - theta*) and A = M X Sigma X^T M, X Sigma X^T = U D U^T +
    lam_t diag(kappa_0). Returns (0, b (n,), A as :class:`DiagPlusLowRank`).
    """
    lam, D = sample.spectrum.tail_value, np.asarray(sample.spectrum.head)
    U, kappa0 = sample.head_features, sample.tail_gram
    beta = inverse(sample.signal)
    w = U @ (D * (surrogate.head - sample.theta_star)) + lam * kappa0 * beta
    A = _m_diag_m(inverse, lam * kappa0)
    V = inverse(U)
    Y = np.column_stack([V, A.Y])
    S = np.zeros((Y.shape[1], Y.shape[1]))
    k = U.shape[1]
    S[:k, :k] = np.diag(D)
    S[k:, k:] = A.S
    return 0.0, inverse(w), DiagPlusLowRank(A.d, Y, S)


def head_coupling(sample: LinearSample, inverse: KernelInverse):
    """R(h^) - R(h~) = lam_t |theta^_tail|^2 = (s + eps)^T A (s + eps) for the head surrogate, s = X theta*,
    A = M diag(lam_t kappa_0) M. Returns (s^T A s, A s, A)."""
    A = _m_diag_m(inverse, sample.spectrum.tail_value * sample.tail_gram)
    s = sample.signal
    As = A.d * s + A.Y @ (A.S @ (A.Y.T @ s))
    return float(s @ As), As, A


def _m_diag_m(inverse: KernelInverse, gamma: np.ndarray) -> DiagPlusLowRank:
    """M diag(gamma) M with M = diag(1/kappa) - P C^-1 P^T, as diag + [P, Q] S [P, Q]^T, Q = (gamma/kappa) P."""
    kappa, P, Ci = inverse.kappa, inverse.P, inverse.C_inv
    Q = (gamma / kappa)[:, None] * P
    E = P.T @ (gamma[:, None] * P)
    k = P.shape[1]
    S = np.zeros((2 * k, 2 * k))
    S[:k, :k] = Ci @ E @ Ci
    S[:k, k:] = -Ci
    S[k:, :k] = -Ci
    return DiagPlusLowRank(gamma / kappa**2, np.column_stack([P, Q]), S)


# ----------------------------------------------------------------------------- exact uniform deviation


def deviation_problem(sample: LinearSample, head_only: bool = False):
    """R(theta) - R^_S(theta) = c - 2 g . theta + theta^T Q theta on the (spikes, tail row space) coordinates.

    c = sigma^2 + theta*^T Sigma theta* - |y|^2/n, g = Sigma theta* - X^T y / n, Q = Sigma - X^T X / n with
    X = [U, diag(sqrt(kappa_0))]: an arrowhead matrix; on the p_t - n tail directions outside the row space
    Q = lam_t and g = 0 (the ``extra`` eigenvalue). head_only restricts to the spike coordinates.
    Returns (c, Q, g_head, g_tail).
    """
    n, lam, D = sample.n, sample.spectrum.tail_value, np.asarray(sample.spectrum.head)
    U, y, root = sample.head_features, sample.y, np.sqrt(sample.tail_gram)
    c = sample.sigma**2 + float(D @ sample.theta_star**2) - float(y @ y) / n
    H = np.diag(D) - U.T @ U / n
    g_head = D * sample.theta_star - U.T @ y / n
    if head_only:
        return c, Arrowhead(H, np.zeros((0, D.size)), np.zeros(0)), g_head, np.zeros(0)
    extra = lam if sample.spectrum.tail_dim > n else None
    Q = Arrowhead(H, -root[:, None] * U / n, lam - sample.tail_gram / n, extra)
    return c, Q, g_head, -root * y / n


def exact_uniform_deviation(
    sample: LinearSample, radius: float, head_only: bool = False
) -> tuple[float, float]:
    """sup over {theta (in the spikes if head_only), |theta|_2 <= radius} of |R(theta) - R^_S(theta)|:
    a certified (lower, upper) pair from :func:`uniform_deviation`."""
    c, Q, g_head, g_tail = deviation_problem(sample, head_only)
    return uniform_deviation(c, Q, g_head, g_tail, radius)


# ----------------------------------------------------------------------------- the decomposition


HEAD_RADIUS_FACTOR = 2.0  # the head class is the fixed ball of radius 2 |theta*| in the spikes


def decomposition(sample: LinearSample, ridge: float = 0.0, delta: float = 0.05) -> list[dict]:
    """The paper's decomposition for the (ridge or min-norm) predictor and both surrogates.

    theta^ = X^T (K + n ridge I)^-1 y; ridge = 0 is the minimum-norm interpolator. Surrogates:
    "denoising" theta~ = E[theta^ | X] (forgets the noise; |theta~| <= |theta*|), class {|theta| <= |theta*|};
    "head" theta~ = the spike coordinates of theta^, class {theta in the spikes, |theta| <= 2 |theta*|}. Both
    radii are fixed (data-independent). Per surrogate: realized terms (risk_gap = |R(h^) - R(h~)|,
    surrogate_deviation, ball_deviation), the exact sups (surrogate_sup, ball_sup over {|theta| <= |theta^|},
    with their certified gaps), the UC bounds, the coupling bound (probability >= 1 - delta over eps given X,
    computed from X, Sigma, theta*, sigma only), surrogate_bound = R^_S(h~) + UC(H~) + coupling_bound and
    surrogate_sup_bound = R^_S(h~) + exact sup + coupling_bound (no unknown constant).
    """
    inverse = kernel_inverse(sample, ridge)
    fit = dual_predictor(sample, inverse(sample.y))
    denoised = dual_predictor(sample, inverse(sample.signal))
    spectrum, n = sample.spectrum, sample.n
    full = linear_moments(spectrum, sample.theta_star, sample.sigma, head_only=False)
    train, risk, norm = empirical_risk(sample, fit), population_risk(sample, fit), euclidean_norm(fit)
    ball_uc = uc_bound(n, norm, full)
    star = float(np.linalg.norm(sample.theta_star))
    (ball_low, ball_up), full_sup = uniform_deviations(*deviation_problem(sample), (norm, star))
    rows = []
    for name, surrogate, moments, radius, coupling, (sup_low, sup_up) in (
        ("denoising", denoised, full, star, denoising_coupling(sample, inverse, denoised), full_sup),
        (
            "head",
            head_part(sample, fit),
            linear_moments(spectrum, sample.theta_star, sample.sigma, True),
            HEAD_RADIUS_FACTOR * star,
            head_coupling(sample, inverse),
            exact_uniform_deviation(sample, HEAD_RADIUS_FACTOR * star, head_only=True),
        ),
    ):
        s_train, s_risk, s_norm = (
            empirical_risk(sample, surrogate),
            population_risk(sample, surrogate),
            euclidean_norm(surrogate),
        )
        offset, b, A = coupling
        c_bound = coupling_tail_bound(
            offset, float(np.linalg.norm(b)), A.trace(), A.trace_sq(), A.op_norm_upper(), sample.sigma, delta
        )
        s_uc = uc_bound(n, radius, moments)
        rows.append(
            {
                "surrogate": name,
                "train_error": train,
                "test_risk": risk,
                "norm": norm,
                "surrogate_train": s_train,
                "surrogate_risk": s_risk,
                "surrogate_norm": s_norm,
                "surrogate_radius": radius,
                "surrogate_in_class": bool(s_norm <= radius * (1 + 1e-12)),
                "surrogate_uc": s_uc,
                "surrogate_sup": sup_up,
                "surrogate_sup_gap": sup_up - sup_low,
                "surrogate_deviation": abs(s_risk - s_train),
                "risk_gap": abs(risk - s_risk),
                "coupling_bound": c_bound,
                "confidence": 1.0 - delta,
                "surrogate_bound": s_train + s_uc + c_bound,
                "surrogate_sup_bound": s_train + sup_up + c_bound,
                "ball_uc": ball_uc,
                "ball_sup": ball_up,
                "ball_sup_gap": ball_up - ball_low,
                "ball_deviation": abs(risk - train),
                "ball_bound": train + ball_uc,
            }
        )
    return rows
