"""Extension: the derandomization decomposition for ReLU random-features regression.

phi(x) = relu(W x / sqrt(d)) / sqrt(N) with W (N, d) Gaussian, x ~ N(0, I_d), f*(x) = x . 1/sqrt(d),
y = f*(x) + eps. Risks are Monte Carlo averages over a held-out test sample (the same sample for every
quantity, so the coupling bound below bounds exactly the Monte Carlo coupling term that is plotted).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from engine.core.params import Interval, check_arg
from engine.phenomena.generalization.bounds import ClassMoments, coupling_tail_bound, uc_bound


def rf_features(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ReLU random features phi(x) = relu(W x / sqrt(d)) / sqrt(N). X (n, d), W (N, d) -> (n, N)."""
    N, d = weights.shape
    return np.maximum(X @ weights.T / math.sqrt(d), 0.0) / math.sqrt(N)


def top_eigenvalue(features: np.ndarray, iterations: int = 500, tol: float = 1e-8) -> float:
    """Largest eigenvalue of features^T features / m by power iteration (features (m, N))."""
    m = features.shape[0]
    v = np.ones(features.shape[1]) / math.sqrt(features.shape[1])
    value = new = 0.0
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
    E[y^2 |phi|^2] = mean (f*^2 + sigma^2) |phi|^2; tr Sigma_phi = mean |phi|^2; |Sigma_phi|_op by power iteration.
    """
    sq_norms = (test_features**2).sum(axis=1)
    mean_y2 = float(np.mean(test_signal**2)) + sigma**2
    return ClassMoments(
        mean_y2,
        math.sqrt(2) * mean_y2,
        float(np.mean((test_signal**2 + sigma**2) * sq_norms)),
        float(sq_norms.mean()),
        top_eigenvalue(test_features),
    )


def rf_decomposition(
    features: np.ndarray,
    gram: np.ndarray,
    cross: np.ndarray,
    signal: np.ndarray,
    noise: np.ndarray,
    test_signal: np.ndarray,
    sigma: float,
    ridge: float,
    moments: ClassMoments,
    delta: float = 0.05,
) -> dict:
    """The decomposition for theta = Phi^T (Phi Phi^T + n ridge I)^-1 y (ridge 0: the min-norm interpolator).

    features (n, N), gram = features features^T (n, n), cross = test_features features^T (m, n),
    signal f*(X) (n,), noise (n,), test_signal (m,). Surrogate theta~ = E[theta^ | X, W] = the same fit to f*(X); class {|theta| <= |theta~|}
    (a data-dependent radius: the UC term is illustrative). Coupling: with Delta = Phi^T M eps and
    B = cross M (m, n) the map eps -> Phi_test Delta, R(h^) - R(h~) = 2 b . eps + eps^T A eps, b = -B^T r / m, A = B^T B / m,
    r = f*_test - Phi_test theta~; bounded at probability >= 1 - delta without R(h^).
    Raises FloatingPointError when Phi Phi^T + n ridge I is numerically singular.
    """
    check_arg("rf_decomposition", "ridge", ridge, Interval(float, 0.0, None))
    n = features.shape[0]
    try:
        factor = cho_factor(gram + n * ridge * np.eye(n), lower=True)
    except LinAlgError:
        raise FloatingPointError(
            "the random-features Gram matrix is singular: use more features than samples or a positive ridge"
        ) from None
    y = signal + noise
    betas = cho_solve(factor, np.column_stack([y, signal]))
    thetas = features.T @ betas
    train_pred, test_pred = gram @ betas, cross @ betas
    train, s_train = np.mean((y[:, None] - train_pred) ** 2, axis=0).tolist()
    risk, s_risk = (sigma**2 + np.mean((test_signal[:, None] - test_pred) ** 2, axis=0)).tolist()
    norm, s_norm = np.linalg.norm(thetas, axis=0).tolist()
    m = cross.shape[0]
    Bt = cho_solve(factor, cross.T)  # (n, m) = B^T
    residual = test_signal - test_pred[:, 1]
    eigs = np.linalg.eigvalsh(Bt @ Bt.T / m)
    c_bound = coupling_tail_bound(
        0.0,
        float(np.linalg.norm(Bt @ residual)) / m,
        float(eigs.sum()),
        float(eigs @ eigs),
        float(eigs[-1]),
        sigma,
        delta,
    )
    s_uc, ball_uc = uc_bound(n, s_norm, moments), uc_bound(n, norm, moments)
    return {
        "train_error": train,
        "test_risk": risk,
        "norm": norm,
        "surrogate_train": s_train,
        "surrogate_risk": s_risk,
        "surrogate_norm": s_norm,
        "surrogate_uc": s_uc,
        "risk_gap": abs(risk - s_risk),
        "coupling_bound": c_bound,
        "confidence": 1.0 - delta,
        "surrogate_bound": s_train + s_uc + c_bound,
        "ball_uc": ball_uc,
        "ball_bound": train + ball_uc,
    }
