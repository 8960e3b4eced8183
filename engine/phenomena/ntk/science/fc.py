"""Exact kernels of fully connected ReLU nets, the kernel predictor, and small data helpers.

The paper's convention (Arora et al. 2019, Sec. 3): N(0, 1) weights, no bias, c_sigma = 2,
g^h = sqrt(2 / d_h) relu(f^h). Inputs are numpy or torch; outputs are float64 numpy.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from engine.core.params import Interval, check_arg, fail

DEPTH = Interval(int, 1, 64)  # hidden layers of an MLP


# ---------------------------------------------------------------------------------------------
# Input checks (shared by the CNTK and the finite nets)
# ---------------------------------------------------------------------------------------------


def as_tensor(A, where: str, name: str, ndim: int, device: str = "cpu", dtype=torch.float64) -> torch.Tensor:
    """``A`` (numpy or torch) as a finite tensor with ``ndim`` axes, or one ConfigError."""
    arr = A.detach().cpu().numpy() if isinstance(A, torch.Tensor) else np.asarray(A)
    allowed = f"a {ndim}-d array of finite real numbers"
    if arr.dtype.kind not in "iuf" or arr.ndim != ndim or not np.isfinite(arr).all():
        fail(
            where, name, allowed, arr if arr.size <= 8 else f"<array of shape {arr.shape}, dtype {arr.dtype}>"
        )
    return torch.as_tensor(arr).to(device=device, dtype=dtype)


def pair_inputs(X, Z, where: str, ndim: int, device: str, dtype) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Both inputs as tensors with matching trailing shapes; ``Z=None`` means ``Z = X`` (symmetric)."""
    Xt = as_tensor(X, where, "X", ndim, device, dtype)
    symmetric = Z is None or Z is X
    Zt = Xt if symmetric else as_tensor(Z, where, "Z", ndim, device, dtype)
    if Xt.shape[1:] != Zt.shape[1:]:
        fail(
            where,
            "Z",
            f"an array of feature shape {tuple(Xt.shape[1:])} (that of X)",
            f"<array of shape {tuple(Zt.shape)}>",
        )
    return Xt, Zt, symmetric


def safe_inverse(t: torch.Tensor) -> torch.Tensor:
    """1/t where t > 0, else 0 (a zero-variance unit has correlation 0 with everything)."""
    return torch.where(t > 0, 1.0 / torch.where(t > 0, t, 1.0), 0.0)


# ---------------------------------------------------------------------------------------------
# Fully connected NTK and NNGP (c_sigma = 2, no bias)
# ---------------------------------------------------------------------------------------------


def _propagate_relu_layers(rho: torch.Tensor, depth: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised (Sigma^depth, Theta^depth) / (|x||x'|) from the input correlations ``rho``.

    One ReLU layer (c_sigma = 2) with t = arccos(rho) maps rho to
    Sigma = (sqrt(1 - rho^2) + (pi - t) rho) / pi and SigmaDot = (pi - t) / pi, and
    Theta <- Theta * SigmaDot + Sigma. Works in place on ``rho`` (any shape): the arccos and a
    dozen memory passes per layer are the whole cost, so no temporary is made twice.
    """
    theta = rho.clone()  # Theta^0 / (|x||z|): Sigma^h(x, x) = |x|^2 at every layer when c_sigma = 2
    for _ in range(depth):
        rho.clamp_(-1.0, 1.0)
        dot = torch.acos(rho).neg_().add_(math.pi).div_(math.pi)  # (pi - t) / pi
        sigma = (rho * rho).neg_().add_(1.0).sqrt_().div_(math.pi).addcmul_(dot, rho)
        theta.mul_(dot).add_(sigma)
        rho = sigma
    return rho, theta


def _fc_kernels(X, Z, depth: int, device: str, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(NNGP Sigma^depth, NTK Theta^depth), each (n, m), float64 on ``device``.

    For Z = X only the upper triangle is computed (half the arccos calls) and mirrored.
    """
    depth = check_arg(where, "depth", depth, DEPTH)
    Xt, Zt, symmetric = pair_inputs(X, Z, where, 2, device, torch.float64)
    norm_x, norm_z = Xt.norm(dim=1), Zt.norm(dim=1)
    scale = torch.outer(norm_x, norm_z)
    rho = (Xt @ Zt.T).mul_(torch.outer(safe_inverse(norm_x), safe_inverse(norm_z)))
    if not symmetric:
        sigma, theta = _propagate_relu_layers(rho, depth)
        return sigma.mul_(scale), theta.mul_(scale)
    n = rho.shape[0]
    rows, cols = torch.triu_indices(n, n, device=rho.device)
    upper = rho[rows, cols]
    upper[rows == cols] = (norm_x > 0).to(rho.dtype)  # rho(x, x) = 1 exactly: arccos is ill-conditioned at 1
    sigma_upper, theta_upper = _propagate_relu_layers(upper, depth)
    out = []
    for values in (sigma_upper, theta_upper):
        full = torch.empty_like(rho)
        full[rows, cols] = values
        full[cols, rows] = values
        out.append(full.mul_(scale))
    return out[0], out[1]


def ntk_fc(X, Z=None, depth: int = 3, *, device: str = "cpu") -> np.ndarray:
    """Exact NTK Theta^depth of a ReLU MLP with ``depth`` hidden layers (paper's convention).

    X: (n, d), Z: (m, d) (``None`` means X); returns (n, m) float64 numpy.
    Guarantees Theta(x, x) = (depth + 1) |x|^2, symmetry, positive semi-definiteness.
    """
    return _fc_kernels(X, Z, depth, device, "ntk_fc")[1].cpu().numpy()


def nngp_fc(X, Z=None, depth: int = 3, *, device: str = "cpu") -> np.ndarray:
    """Exact NNGP kernel Sigma^depth (the output covariance at init) of the same ReLU MLP.

    X: (n, d), Z: (m, d); returns (n, m) float64 numpy; Sigma(x, x) = |x|^2.
    """
    return _fc_kernels(X, Z, depth, device, "nngp_fc")[0].cpu().numpy()


# ---------------------------------------------------------------------------------------------
# Kernel regression
# ---------------------------------------------------------------------------------------------


def _matrix(
    A, name: str, ndim: tuple[int, ...], rows: int | None = None, cols: int | None = None
) -> np.ndarray:
    arr = np.asarray(A, dtype=np.float64)
    ok = arr.ndim in ndim and np.isfinite(arr).all()
    ok = (
        ok
        and (rows is None or arr.shape[0] == rows)
        and (cols is None or (arr.ndim == 2 and arr.shape[1] == cols))
    )
    if not ok:
        shape = f"rows={rows}" if rows is not None else ""
        shape += f"{', ' if shape else ''}columns={cols}" if cols is not None else ""
        fail(
            "kernel_regression",
            name,
            f"a finite {'/'.join(map(str, ndim))}-d array{' with ' + shape if shape else ''}",
            f"<array of shape {arr.shape}{', not finite' if not np.isfinite(arr).all() else ''}>",
        )
    return arr


def kernel_regression(K_train, y_train, K_test, ridge: float = 0.0) -> np.ndarray:
    """Kernel predictor K_test (K_train + ridge * mean(diag K_train) I)^-1 y_train.

    K_train: (n, n) symmetric PSD; y_train: (n,) or (n, k); K_test: (m, n). Returns (m,) or (m, k)
    float64. ``ridge`` is relative to the mean diagonal, so it means the same for any kernel scale
    (the CNTK's values shrink like 9^-depth); the paper uses none. Cholesky when the matrix is
    positive definite, else a minimum-norm least-squares solve.
    """
    Kt = _matrix(K_train, "K_train", (2,))
    n = Kt.shape[0]
    if Kt.shape != (n, n):
        fail("kernel_regression", "K_train", "a square matrix", f"<array of shape {Kt.shape}>")
    y = _matrix(y_train, "y_train", (1, 2), rows=n)
    Ks = _matrix(K_test, "K_test", (2,), cols=n)
    ridge = check_arg("kernel_regression", "ridge", ridge, Interval(float, 0.0, None))
    A = Kt + ridge * np.mean(np.diag(Kt)) * np.eye(n)
    try:
        coef = scipy.linalg.cho_solve(scipy.linalg.cho_factor(A), y)
    except np.linalg.LinAlgError:
        coef = scipy.linalg.lstsq(A, y)[0]
    return Ks @ coef


def gd_kernel_predictor(K_train, Y, K_test, steps: int, lr: float) -> np.ndarray:
    """What the linearised network predicts after ``steps`` of the same gradient descent:
    K_test K^-1 (I - (I - lr K / n)^steps) Y, by the eigendecomposition of K."""
    evals, evecs = np.linalg.eigh(K_train)
    shrink = 1 - (1 - lr * evals / len(K_train)) ** steps
    Y2 = np.asarray(Y, dtype=np.float64).reshape(len(K_train), -1)
    coef = evecs @ ((shrink / np.where(evals > 1e-12 * evals[-1], evals, np.inf))[:, None] * (evecs.T @ Y2))
    return (K_test @ coef).reshape((len(K_test),) + np.shape(Y)[1:])


def stable_lr(K_train: np.ndarray, factor: float = 1.0) -> float:
    """Step size factor * n / lambda_max(K): GD on (1/2n)|f - y|^2 moves f by -(lr/n) K (f - y)."""
    return float(factor * len(K_train) / np.linalg.eigvalsh(K_train)[-1])


def one_hot_targets(labels: np.ndarray, classes: int) -> np.ndarray:
    """The paper's regression targets: 0.9 for the class, -0.1 elsewhere: (n, classes)."""
    Y = np.full((len(labels), classes), -0.1)
    Y[np.arange(len(labels)), labels] = 0.9
    return Y


# ---------------------------------------------------------------------------------------------
# Inputs and measures
# ---------------------------------------------------------------------------------------------


def circle_points(n: int, *, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n unit-norm inputs x = (cos a, sin a) at equally spaced angles a in [-pi, pi): (angles, X)."""
    angles = -math.pi + offset + 2 * math.pi * np.arange(n) / n
    return angles, np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sphere_points(n: int, dim: int, seed: int) -> np.ndarray:
    """n inputs uniform on the unit sphere in R^dim, seeded: (n, dim)."""
    X = np.random.default_rng(seed).standard_normal((n, dim))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def curve_target(angles: np.ndarray) -> np.ndarray:
    """The 1-D regression target on the circle: a smooth periodic function of the angle."""
    return np.sin(2 * angles) + 0.5 * np.cos(3 * angles)


def relative_error(K: np.ndarray, reference: np.ndarray) -> float:
    """|K - reference|_F / |reference|_F."""
    return float(np.linalg.norm(K - reference) / np.linalg.norm(reference))
