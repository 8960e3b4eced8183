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
    return (
        moments.sd_y2 / math.sqrt(n)
        + 2 * radius * math.sqrt(moments.mean_y2_x2 / n)
        + radius**2 * moments.op_norm * (math.sqrt(rank / n) + rank / n)
    )


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


def coupling_tail_bound(
    offset: float,
    linear_norm: float,
    trace: float,
    trace_sq: float,
    op_norm: float,
    sigma: float,
    delta: float,
) -> float:
    """A bound on |c0 + 2 b . eps + eps^T A eps| that holds with probability >= 1 - delta, eps ~ N(0, sigma^2 I_n).

    offset = c0, linear_norm = |b|_2, (trace, trace_sq, op_norm) = (tr A, tr A^2, |A|_op) of a PSD A (upper
    bounds are fine). delta is split in halves: |b . eps| <= sigma |b| z with z = Phi^-1(1 - delta/4)
    (exact Gaussian tail), and eps^T A eps by :func:`laurent_massart` at t = log(2/delta).
    """
    check_arg("coupling_tail_bound", "delta", delta, Interval(float, 0.0, 1.0, closed="neither"))
    check_arg("coupling_tail_bound", "sigma", sigma, Interval(float, 0.0, None))
    z = float(ndtri(1.0 - delta / 4))
    t = math.log(2.0 / delta)
    return abs(offset) + 2 * sigma * linear_norm * z + sigma**2 * laurent_massart(trace, trace_sq, op_norm, t)


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
        return float(
            self.d @ self.d
            + 2 * np.trace(self.S @ (self.Y.T @ (self.d[:, None] * self.Y)))
            + np.trace(SG @ SG)
        )

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

    def _schur_min(self, x: float) -> tuple[float, float]:
        """f(x) = lambda_min(H - x I - C^T (d - x)^-1 C) for x < min d, and f'(x) (Hellmann-Feynman)."""
        Cr = self.C / (self.d - x)[:, None]
        w, V = np.linalg.eigh(self.H - x * np.eye(self.H.shape[0]) - self.C.T @ Cr)
        Cv = Cr @ V[:, 0]
        return float(w[0]), -1.0 - float(Cv @ Cv)

    def min_eigenvalue(self, iterations: int = 100) -> float:
        """A lower bound on lambda_min(Q) (complement included), tight to rounding.

        By interlacing lambda_min <= min d; below min d, Q - x I > 0 iff f(x) = lambda_min(H - x I - C^T
        (d - x)^-1 C) > 0, and f is decreasing and concave (a minimum of concave functions), so on a bracket
        lo < root < hi the tangent at lo lands at or right of the root and the chord lands at or left of it:
        Newton and regula falsi together converge superlinearly. Each point is filed by the sign of the
        computed f (a midpoint when a step leaves the bracket), so lo always has f(lo) > 0.
        """
        head_min = float(np.linalg.eigvalsh(self.H)[0])
        if self.d.size == 0:
            return head_min if self.extra is None else min(head_min, self.extra)
        top = float(self.d.min())
        lo = min(top, head_min) - float(np.abs(self.C).sum()) - 1.0
        f_lo, df_lo = self._schur_min(lo)
        while f_lo <= 0:  # not expected (Gershgorin): widen
            lo -= 2 * (top - lo)
            f_lo, df_lo = self._schur_min(lo)
        hi, f_hi = top, -math.inf
        for _ in range(iterations):
            tangent = lo - f_lo / df_lo
            chord = lo + f_lo * (hi - lo) / (f_lo - f_hi) if math.isfinite(f_hi) else math.nan
            for x in (tangent, chord):
                if not lo < x < hi:
                    x = 0.5 * (lo + hi)
                    if not lo < x < hi:
                        break
                f, df = self._schur_min(x)
                if f > 0:
                    lo, f_lo, df_lo = x, f, df
                else:
                    hi, f_hi = x, f
            if hi - lo <= 1e-15 * (abs(lo) + abs(hi)) or not lo < 0.5 * (lo + hi) < hi:
                break
        return lo if self.extra is None else min(lo, self.extra)


@dataclass(frozen=True)
class TrustRegion:
    """min over |theta| <= B of theta^T Q theta - 2 g . theta: a certified bracket [lower, upper]."""

    lower: float  # the dual value (<= the minimum)
    upper: float  # the value at a feasible theta (>= the minimum)


def _secular(Q: Arrowhead, mu: float, g_head: np.ndarray, g_tail: np.ndarray):
    """theta = (Q + mu I)^-1 g, |theta| and theta^T (Q + mu I)^-1 theta (= -d|theta|^2/dmu / 2): one Schur
    complement, two solves. O(m k^2)."""
    dt = Q.d + mu
    Cs = Q.C / dt[:, None]
    schur = Q.H + mu * np.eye(Q.H.shape[0]) - Q.C.T @ Cs
    head = np.linalg.solve(schur, g_head - Cs.T @ g_tail)
    tail = (g_tail - Q.C @ head) / dt
    w_head = np.linalg.solve(schur, head - Cs.T @ tail)
    w_tail = (tail - Q.C @ w_head) / dt
    return (head, tail), math.sqrt(float(head @ head + tail @ tail)), float(head @ w_head + tail @ w_tail)


def trust_region_min(
    Q: Arrowhead,
    g_head: np.ndarray,
    g_tail: np.ndarray,
    radius: float,
    iterations: int = 100,
    min_eigenvalue: float | None = None,
) -> TrustRegion:
    """The minimum of theta^T Q theta - 2 g . theta over the ball |theta|_2 <= radius, exactly.

    Strong duality (S-lemma): min = max over mu >= max(0, -lambda_min) of psi(mu) = -g.(Q + mu I)^-1 g
    - mu B^2, a concave function whose derivative is |theta(mu)|^2 - B^2, theta(mu) = (Q + mu I)^-1 g. The
    root solves the secular equation 1/|theta(mu)| = 1/B (Newton from the left, safeguarded by a bracket:
    Moré & Sorensen, 1983); psi(mu) at any admissible mu is a certified lower bound, a feasible theta
    (theta(mu) scaled into the ball, the complement filled when it holds the extreme eigenvalue) a certified
    upper bound. ``min_eigenvalue``: a lower bound on lambda_min(Q) already computed (else computed here).
    """
    check_arg("trust_region_min", "radius", radius, Interval(float, 0.0, None))
    lam = Q.min_eigenvalue() if min_eigenvalue is None else float(min_eigenvalue)
    mu_lo = max(0.0, -lam)
    g_norm = math.sqrt(float(g_head @ g_head + g_tail @ g_tail))
    scale_ref = float(np.abs(Q.d).max()) if Q.d.size else float(np.abs(Q.H).max())
    tiny = 1e-12 * (abs(mu_lo) + scale_ref + 1e-300)
    start = 0.0 if lam > 0 else mu_lo + tiny
    mu = start
    th, norm, slope = _secular(Q, mu, g_head, g_tail)
    if norm > radius:  # else: interior optimum (mu = 0) or the hard case (mu = -lambda_min)
        lo, hi = start, mu_lo + g_norm / max(radius, 1e-300) + tiny
        for _ in range(iterations):
            step = (1.0 / norm - 1.0 / radius) * norm**3 / slope if slope > 0 else math.nan
            mu_new = mu - step
            if not lo < mu_new < hi:
                mu_new = 0.5 * (lo + hi)
            mu = mu_new
            th, norm, slope = _secular(Q, mu, g_head, g_tail)
            if norm > radius:
                lo = mu
            else:
                hi = mu
            if abs(norm - radius) <= 1e-14 * radius or hi - lo <= 1e-15 * hi:
                break
    lower = -float(g_head @ th[0] + g_tail @ th[1]) - mu * radius**2
    scale = min(1.0, radius / norm) if norm > 0 else 1.0
    head, tail = th[0] * scale, th[1] * scale
    upper = Q.quad(head, tail) - 2 * float(g_head @ head + g_tail @ tail)
    if Q.extra is not None and Q.extra < 0:  # spend the rest of the radius on the complement
        upper += Q.extra * max(radius**2 - (scale * norm) ** 2, 0.0)
    return TrustRegion(lower=lower, upper=upper)


def uniform_deviation(
    const: float, Q: Arrowhead, g_head: np.ndarray, g_tail: np.ndarray, radius: float
) -> tuple[float, float]:
    """sup over |theta| <= B of |const - 2 g . theta + theta^T Q theta|, as a certified (lower, upper) pair.

    The max side is -min of the negated problem; the sup of |f| is the larger of max f and -min f.
    """
    return uniform_deviations(const, Q, g_head, g_tail, (radius,))[0]


def uniform_deviations(
    const: float, Q: Arrowhead, g_head: np.ndarray, g_tail: np.ndarray, radii
) -> list[tuple[float, float]]:
    """:func:`uniform_deviation` for several radii, sharing the two extreme eigenvalues of Q."""
    low_eig, high_eig = Q.min_eigenvalue(), (-Q).min_eigenvalue()
    pairs = []
    for radius in radii:
        low_side = trust_region_min(Q, g_head, g_tail, radius, min_eigenvalue=low_eig)  # min f - const
        high_side = trust_region_min(
            -Q, -g_head, -g_tail, radius, min_eigenvalue=high_eig
        )  # -(max f - const)
        pairs.append(
            (
                max(const - high_side.upper, -(const + low_side.upper)),
                max(const - high_side.lower, -(const + low_side.lower)),
            )
        )
    return pairs
