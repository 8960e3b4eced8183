"""Nagarajan & Kolter's (2019) one-gradient-step classifier, and its derandomization (Negrea et al., 2020).

x = (x1, x2): x1 = 2 y u with |u|^2 = 1/m (so u . x1 = 2y/m), x2 ~ N(0, (32/D) I_D), D >> m. One gradient step
from 0 (learning rate 1, loss -y h(x)) gives w = (1/m) sum_i y_i x_i: w1 = 2u and w2 = (1/m) sum_i y_i x2_i.
The derandomized classifier h~(x) = E[h_S(x) | labels] = w1 . x1 (E w2 = 0) is one fixed predictor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtri, ndtr

from engine.core.params import Interval, check_arg
from engine.phenomena.generalization.bounds import hoeffding
from engine.phenomena.generalization.paper import NK_NOISE_VARIANCE


@dataclass(frozen=True)
class NKSample:
    """A training set through the one product of its noise block that the classifier needs:
    labels (m,) in {-1, +1}; gram_y (m,) = Z Z^T y with Z = X2 sqrt(D/32) (m, D) standard normal, so
    X2 X2^T y = (32/D) gram_y; noise_dim D."""

    labels: np.ndarray
    gram_y: np.ndarray
    noise_dim: int

    @property
    def m(self) -> int:
        return self.labels.shape[0]


def sample_nk(m: int, noise_dim: int, rng: np.random.Generator) -> NKSample:
    """Draw m labelled points, O(m) whatever D, exact in law.

    With a = Z^T y ~ N(0, m I_D) and each column of Z split along y and across it,
    Z Z^T y = y |a|^2 / m + sum_k a_k r_k, where r_k = (I - y y^T/m) z_k is independent of a_k; so
    given a it is N(0, |a|^2 (I - y y^T/m)), and only |a|^2 = m chi^2_D is needed.
    """
    check_arg("sample_nk", "m", m, Interval(int, 2, None))
    check_arg("sample_nk", "noise_dim", noise_dim, Interval(int, 1, None))
    labels = rng.choice(np.array([-1.0, 1.0]), size=m)
    # Step 1: |a|^2 = |Z^T y|^2, a sum of D independent N(0, m) squares.
    a_sq = m * rng.chisquare(noise_dim)
    # Step 2: the part across y, N(0, |a|^2 (I - y y^T / m)): a normal vector with its y-component removed.
    z = rng.standard_normal(m)
    across = z - labels * (labels @ z) / m
    return NKSample(labels, labels * (a_sq / m) + math.sqrt(a_sq) * across, int(noise_dim))


def nk_sample_from_features(labels: np.ndarray, x2: np.ndarray) -> NKSample:
    """The same product from explicit noise blocks x2 (m, D) ~ N(0, (32/D) I). Reference path."""
    m, D = x2.shape
    y = np.asarray(labels, float)
    return NKSample(y, x2 @ (x2.T @ y) * (D / NK_NOISE_VARIANCE), D)


def nk_train_margins(sample: NKSample) -> tuple[np.ndarray, np.ndarray]:
    """Margins y_j h(x_j) on S and on its mirror S' (x2 negated). Shapes (m,), (m,).

    y_j h(x_j) = 4/m + y_j (1/m) sum_i y_i x2_i . x2_j; on the mirror the x2 part changes sign.
    """
    m, y = sample.m, sample.labels
    noise_part = y * sample.gram_y * (NK_NOISE_VARIANCE / sample.noise_dim) / m
    return 4.0 / m + noise_part, 4.0 / m - noise_part


def nk_surrogate_margins(sample: NKSample) -> np.ndarray:
    """Margins y_j h~(x_j) = y_j w1 . x1_j = 4 |u|^2 = 4/m of the derandomized classifier on S. Shape (m,)."""
    return np.full(sample.m, 4.0 / sample.m) * sample.labels**2


def nk_weight_noise_sq(sample: NKSample) -> float:
    """|w2|^2 = y^T X2 X2^T y / m^2."""
    return float(sample.labels @ sample.gram_y) * NK_NOISE_VARIANCE / sample.noise_dim / sample.m**2


def nk_error_given_weight(m: int, noise_dim: int, weight_noise_sq: float) -> float:
    """Test error of h^ given |w2|^2: P(4/m + N(0, |w2|^2 32/D) < 0) = Phi(-(4/m) / sqrt(|w2|^2 32/D))."""
    scale = math.sqrt(weight_noise_sq * NK_NOISE_VARIANCE / noise_dim)
    return float(ndtr(-(4.0 / m) / scale))


def nk_test_error(sample: NKSample) -> float:
    """Exact test error of h^ given S (realized: it uses the learned w2)."""
    return nk_error_given_weight(sample.m, sample.noise_dim, nk_weight_noise_sq(sample))


def nk_surrogate_risk(m: int) -> float:
    """R(h~) = P(y h~(x) <= 0) with y h~(x) = 4/m for every x: 0 (computed, not assumed)."""
    return float(4.0 / m <= 0.0)


def nk_test_error_bound(m: int, noise_dim: int, delta: float) -> float:
    """A (1 - delta) upper bound on R(h^) that never looks at S.

    Given the labels, X2^T y ~ N(0, (32/D) m I_D), so |w2|^2 = 32/(D m) chi^2_D; R(h^) increases with |w2|^2,
    so the chi^2_D upper delta-quantile gives the bound (``scipy.special.chdtri``: the function behind
    ``scipy.stats.chi2.isf``, without scipy.stats' 0.9 s import on a page's first view).
    """
    check_arg("nk_test_error_bound", "delta", delta, Interval(float, 0.0, 1.0, closed="neither"))
    q = float(chdtri(noise_dim, delta))
    return nk_error_given_weight(m, noise_dim, NK_NOISE_VARIANCE / (noise_dim * m) * q)


def nk_decomposition(sample: NKSample, delta: float) -> dict:
    """Every NK quantity for one training set; ``delta`` is split in halves (Hoeffding, chi-square).

    surrogate_bound = R^_S(h~) + Hoeffding(m, delta/2) + coupling_bound, where coupling_bound bounds
    |R(h^) - R(h~)| <= max(R(h^), R(h~)) via :func:`nk_test_error_bound` at delta/2: probability >= 1 - delta,
    no realized test error inside. Realized: test_error, risk_gap. Two-sided UC over the algorithm's outputs
    on typical sets is at least |R(h_S) - R^_S'(h_S)| = |mirror error - test error| (S' is typical too).
    """
    train, mirror = nk_train_margins(sample)
    test = nk_test_error(sample)
    s_train = float(np.mean(nk_surrogate_margins(sample) <= 0))
    s_risk = nk_surrogate_risk(sample.m)
    c_bound = max(nk_test_error_bound(sample.m, sample.noise_dim, delta / 2) - s_risk, s_risk)
    surrogate_uc = hoeffding(sample.m, delta / 2)
    mirror_error = float(np.mean(mirror <= 0))
    return {
        "train_error": float(np.mean(train <= 0)),
        "test_error": test,
        "mirror_error": mirror_error,
        "nk_lower_bound": abs(mirror_error - test),
        "surrogate_train": s_train,
        "surrogate_risk": s_risk,
        "surrogate_uc": surrogate_uc,
        "risk_gap": abs(test - s_risk),
        "coupling_bound": c_bound,
        "confidence": 1.0 - delta,
        "surrogate_bound": s_train + surrogate_uc + c_bound,
    }
