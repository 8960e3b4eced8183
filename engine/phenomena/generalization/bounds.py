"""The bounds of the generalization experiments: pure math, numpy in and out.

* :func:`uc_bound` -- an upper bound on E sup_{|theta| <= B} |R(theta) - R^_S(theta)| for squared loss over a
  linear class (in expectation; one unknown absolute constant, set to 1, see its docstring).
* :func:`coupling_tail_bound` -- a (1 - delta) bound on |c0 + 2 b.eps + eps^T A eps| for Gaussian eps: the
  coupling term |R(h^) - R(h~)| of the linear examples, computed from X alone (never from R(h^)).
* :func:`trust_region_min` / :func:`uniform_deviation` -- the exact sup over a ball of |R - R^_S| when the
  quadratic part is an arrowhead matrix (a small dense block bordered by a diagonal one), with a
  certified primal-dual gap.
* :func:`hoeffding` -- a fixed [0, 1]-loss predictor's two-sided deviation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from engine.core.params import Interval, check_arg

# ----------------------------------------------------------------------------- the UC bound (expectation)


@dataclass(frozen=True)
class ClassMoments:
    """Population moments the UC bound of a linear class {supp theta in C, |theta| <= B} needs."""

    mean_y2: float  # E y^2
    sd_y2: float  # sd(y^2)
    mean_y2_x2: float  # E[y^2 |x_C|^2]
    trace: float  # tr Sigma_C
    op_norm: float  # |Sigma_C|_op


def uc_bound(n: int, radius: float, moments: ClassMoments) -> float:
    """Bound on E sup_{|theta|_2 <= radius} |R(theta) - R^_S(theta)| for squared loss.

    From R - R^_S = (E y^2 - mean y^2) - 2 theta . (E y x_C - mean y x_C) + theta^T (Sigma_C - Sigma^_C) theta:
    sd(y^2)/sqrt(n) + 2 B sqrt(E[y^2 |x_C|^2]/n) + B^2 |Sigma_C| (sqrt(r/n) + r/n), r = tr/|Sigma_C|.
    The first two terms are exact (Jensen); the last is Koltchinskii & Lounici's (2017) bound on
    E |Sigma^ - Sigma|_op whose absolute constant is not known explicitly: it is set to 1 here.
    """
    check_arg("uc_bound", "n", n, Interval(int, 1, None))
    check_arg("uc_bound", "radius", radius, Interval(float, 0.0, None))
    rank = moments.trace / moments.op_norm
    return (moments.sd_y2 / math.sqrt(n) + 2 * radius * math.sqrt(moments.mean_y2_x2 / n)
            + radius ** 2 * moments.op_norm * (math.sqrt(rank / n) + rank / n))


def hoeffding(m: int, delta: float) -> float:
    """Two-sided Hoeffding deviation of one fixed [0, 1]-loss predictor: sqrt(log(2/delta) / (2m))."""
    check_arg("hoeffding", "m", m, Interval(int, 1, None))
    check_arg("hoeffding", "delta", delta, Interval(float, 0.0, 1.0, closed="neither"))
    return math.sqrt(math.log(2.0 / delta) / (2 * m))


# ----------------------------------------------------------------------------- Gaussian quadratic forms


def laurent_massart(trace: float, trace_sq: float, op_norm: float, t: float) -> float:
    """Upper (1 - e^-t) quantile bound of eps^T A eps / sigma^2 for eps ~ N(0, sigma^2 I), A PSD.

    Laurent & Massart (2000, Lemma 1): P(q > tr A + 2 sqrt(tr(A^2) t) + 2 |A|_op t) <= e^-t. Upper bounds on
    tr(A^2) and |A|_op keep it valid.
    """
    return trace + 2 * math.sqrt(max(trace_sq, 0.0) * t) + 2 * op_norm * t


def coupling_tail_bound(offset: float, linear_norm: float, trace: float, trace_sq: float, op_norm: float,
                        sigma: float, delta: float) -> float:
    """A bound on |c0 + 2 b . eps + eps^T A eps| that holds with probability >= 1 - delta, eps ~ N(0, sigma^2 I_n).

    offset = c0, linear_norm = |b|_2, (trace, trace_sq, op_norm) = (tr A, tr A^2, |A|_op) of a PSD A (upper
    bounds are fine). delta is split in halves: |b . eps| <= sigma |b| z with z = Phi^-1(1 - delta/4)
    (exact Gaussian tail), and eps^T A eps by :func:`laurent_massart` at t = log(2/delta).
    """
    check_arg("coupling_tail_bound", "delta", delta, Interval(float, 0.0, 1.0, closed="neither"))
    check_arg("coupling_tail_bound", "sigma", sigma, Interval(float, 0.0, None))
    z = float(ndtri(1.0 - delta / 4))
    t = math.log(2.0 / delta)
    return abs(offset) + 2 * sigma * linear_norm * z + sigma ** 2 * laurent_massart(trace, trace_sq, op_norm, t)


@dataclass(frozen=True)
class DiagPlusLowRank:
    """A symmetric n x n matrix diag(d) + Y S Y^T, with Y (n, r) and S (r, r) symmetric, r << n."""

    d: np.ndarray
    Y: np.ndarray
    S: np.ndarray

    def dense(self) -> np.ndarray:
        """The n x n matrix (for tests)."""
        return np.diag(self.d) + self.Y @ self.S @ self.Y.T

    def trace(self) -> float:
        """tr = sum d + tr(S Y^T Y). O(n r^2)."""
        return float(self.d.sum() + np.trace(self.S @ (self.Y.T @ self.Y)))

    def trace_sq(self) -> float:
        """tr of the square = |d|^2 + 2 tr(S Y^T diag(d) Y) + tr((S Y^T Y)^2). O(n r^2)."""
        G = self.Y.T @ self.Y
        SG = self.S @ G
        return float(self.d @ self.d + 2 * np.trace(self.S @ (self.Y.T @ (self.d[:, None] * self.Y)))
                     + np.trace(SG @ SG))

    def op_norm_upper(self) -> float:
        """Weyl's upper bound max|d| + |Y S Y^T|_op (>= the exact operator norm); the nonzero eigenvalues of
        Y S Y^T are those of S (Y^T Y) (r x r)."""
        low = np.linalg.eigvals(self.S @ (self.Y.T @ self.Y))
        return float(np.abs(self.d).max() + np.abs(low).max())


# ----------------------------------------------------------------------------- exact uniform deviation


@dataclass(frozen=True)
class Arrowhead:
    """The symmetric matrix Q = [[H, C^T], [C, diag(d)]] (H (k, k), C (m, k), d (m,)) on R^(k+m), plus,
    optionally, an eigenvalue ``extra`` on an orthogonal complement (where the linear term is 0)."""

    H: np.ndarray
    C: np.ndarray
    d: np.ndarray
    extra: float | None = None

    def __neg__(self) -> Arrowhead:
        return Arrowhead(-self.H, -self.C, -self.d, None if self.extra is None else -self.extra)

    def dense(self) -> np.ndarray:
        """The (k+m) x (k+m) matrix, without the complement (for tests)."""
        return np.block([[self.H, self.C.T], [self.C, np.diag(self.d)]])

    def quad(self, head: np.ndarray, tail: np.ndarray) -> float:
        """theta^T Q theta for theta = (head, tail)."""
        return float(head @ self.H @ head + 2 * tail @ (self.C @ head) + tail @ (self.d * tail))

    def solve(self, mu: float, g_head: np.ndarray, g_tail: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Q + mu I)^-1 g by eliminating the diagonal block. O(m k^2)."""
        dt = self.d + mu
        Cs = self.C / dt[:, None]
        schur = self.H + mu * np.eye(self.H.shape[0]) - self.C.T @ Cs
        head = np.linalg.solve(schur, g_head - Cs.T @ g_tail)
        return head, (g_tail - self.C @ head) / dt

    def min_eigenvalue(self, iterations: int = 200) -> float:
        """lambda_min(Q) (complement included) by bisection on the Schur complement's smallest eigenvalue.

        By interlacing lambda_min <= min d; below min d, Q - mu I > 0 iff H - mu I - C^T (d - mu)^-1 C > 0,
        whose smallest eigenvalue is strictly decreasing in mu.
        """
        head_min = float(np.linalg.eigvalsh(self.H)[0])
        if self.d.size == 0:
            return head_min if self.extra is None else min(head_min, self.extra)
        top = float(self.d.min())
        low = min(top, head_min) - float(np.abs(self.C).sum()) - 1.0
        for _ in range(iterations):
            mid = 0.5 * (low + top)
            if mid <= low or mid >= top:
                break
            schur = self.H - mid * np.eye(self.H.shape[0]) - self.C.T @ (self.C / (self.d - mid)[:, None])
            if np.linalg.eigvalsh(schur)[0] > 0:
                low = mid
            else:
                top = mid
        return low if self.extra is None else min(low, self.extra)


@dataclass(frozen=True)
class TrustRegion:
    """min over |theta| <= B of theta^T Q theta - 2 g . theta: a certified bracket [lower, upper]."""

    lower: float  # the dual value (<= the minimum)
    upper: float  # the value at a feasible theta (>= the minimum)


def trust_region_min(Q: Arrowhead, g_head: np.ndarray, g_tail: np.ndarray, radius: float,
                     iterations: int = 200) -> TrustRegion:
    """The minimum of theta^T Q theta - 2 g . theta over the ball |theta|_2 <= radius, exactly.

    Strong duality (S-lemma): min = max over mu >= max(0, -lambda_min) of psi(mu) = -g.(Q + mu I)^-1 g
    - mu B^2, a concave function whose derivative is |theta(mu)|^2 - B^2, theta(mu) = (Q + mu I)^-1 g. The
    root is found by bisection; psi(mu) is a certified lower bound, a feasible theta (theta(mu) scaled into
    the ball, the complement filled when it holds the extreme eigenvalue) a certified upper bound.
    """
    check_arg("trust_region_min", "radius", radius, Interval(float, 0.0, None))
    lam = Q.min_eigenvalue()
    mu_lo = max(0.0, -lam)
    g_norm = math.sqrt(float(g_head @ g_head + g_tail @ g_tail))
    scale_ref = float(np.abs(Q.d).max()) if Q.d.size else float(np.abs(Q.H).max())
    tiny = 1e-12 * (abs(mu_lo) + scale_ref + 1e-300)

    def theta(mu: float):
        return Q.solve(mu, g_head, g_tail)

    def psi(mu: float, th) -> float:
        return -float(g_head @ th[0] + g_tail @ th[1]) - mu * radius ** 2

    start = 0.0 if lam > 0 else mu_lo + tiny
    th = theta(start)
    norm_sq = float(th[0] @ th[0] + th[1] @ th[1])
    if norm_sq <= radius ** 2:  # interior optimum (mu = 0) or the hard case (mu = -lambda_min)
        mu = start
    else:
        lo, hi = start, mu_lo + g_norm / max(radius, 1e-300) + tiny
        for _ in range(iterations):
            mu = 0.5 * (lo + hi)
            th = theta(mu)
            if float(th[0] @ th[0] + th[1] @ th[1]) > radius ** 2:
                lo = mu
            else:
                hi = mu
            if hi - lo <= 1e-15 * hi:
                break
        mu = hi
        th = theta(mu)
    lower = psi(mu, th)
    norm = math.sqrt(float(th[0] @ th[0] + th[1] @ th[1]))
    scale = min(1.0, radius / norm) if norm > 0 else 1.0
    head, tail = th[0] * scale, th[1] * scale
    upper = Q.quad(head, tail) - 2 * float(g_head @ head + g_tail @ tail)
    if Q.extra is not None and Q.extra < 0:  # spend the rest of the radius on the complement
        upper += Q.extra * max(radius ** 2 - (scale * norm) ** 2, 0.0)
    return TrustRegion(lower=lower, upper=upper)


def uniform_deviation(const: float, Q: Arrowhead, g_head: np.ndarray, g_tail: np.ndarray,
                      radius: float) -> tuple[float, float]:
    """sup over |theta| <= B of |const - 2 g . theta + theta^T Q theta|, as a certified (lower, upper) pair.

    The max side is -min of the negated problem; the sup of |f| is the larger of max f and -min f.
    """
    low_side = trust_region_min(Q, g_head, g_tail, radius)  # min f - const
    high_side = trust_region_min(-Q, -g_head, -g_tail, radius)  # -(max f - const)
    lower = max(const - high_side.upper, -(const + low_side.upper))
    upper = max(const - high_side.lower, -(const + low_side.lower))
    return lower, upper
