"""Science checks for the generalization phenomenon (Negrea, Dziugaite, Roy, ICML 2020).

Closed forms are checked against explicit float64 reference computations written here, Monte Carlo
checks state their sample sizes and tolerances, and every claim is shown to hold on the quick preset
and to fail where the paper says the phenomenon is absent (p_t = n, no label noise, D not >> m).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

import engine
from engine.core.validation import ConfigError
from engine.phenomena.generalization import bounds as gb
from engine.phenomena.generalization import experiments as gx
from engine.phenomena.generalization import nk as gn
from engine.phenomena.generalization import random_features as grf
from engine.phenomena.generalization import science as g

LIN, NK = "generalization.linear", "generalization.nk"


@pytest.fixture(scope="module")
def linear_frame() -> pd.DataFrame:
    return engine.run(LIN)


@pytest.fixture(scope="module")
def nk_frame() -> pd.DataFrame:
    return engine.run(NK)


def _explicit_problem(n=40, tail_dim=600, n_spikes=3, spike=2.0, sigma=0.7, seed=0):
    """An explicit (X, y, theta*, Sigma diagonal) problem and its rotated sample."""
    rng = np.random.default_rng(seed)
    spectrum = g.SpikedSpectrum(
        head=(spike,) * n_spikes, tail_value=math.sqrt(n) / tail_dim, tail_dim=tail_dim
    )
    X = g.explicit_features(n, spectrum, rng)
    noise = sigma * rng.standard_normal(n)
    theta_star = np.zeros(spectrum.dim)
    theta_star[:n_spikes] = g.target_vector(n_spikes)
    sigma_diag = np.concatenate([spectrum.head, np.full(tail_dim, spectrum.tail_value)])
    sample = g.linear_sample_from_features(X, spectrum, noise, sigma)
    return X, X @ theta_star + noise, theta_star, sigma_diag, sample


def _risk(theta, theta_star, sigma_diag, sigma):
    diff = theta - theta_star
    return sigma**2 + float(diff @ (sigma_diag * diff))


def _claims(name: str, frame: pd.DataFrame) -> dict[str, bool]:
    return {c.id: bool(c.holds(c.measure(frame))) for c in engine.get_experiment(name).claims}


# ----------------------------------------------------------------------------- sampling


def test_wishart_eigenvalues_match_wishart_moments():
    """Dumitriu-Edelman eigenvalues of Wishart_4(12): E tr W = n df, E tr W^2 = n df (n + df + 1),
    E tr W^-1 = n / (df - n - 1); 4000 draws, 5 standard errors."""
    rng, n, df, draws = np.random.default_rng(1), 4, 12, 4000
    eig = np.stack([g.wishart_eigenvalues(n, df, rng) for _ in range(draws)])
    for stat, expected in (
        (eig.sum(1), n * df),
        ((eig**2).sum(1), n * df * (n + df + 1)),
        ((1 / eig).sum(1), n / (df - n - 1)),
    ):
        assert abs(stat.mean() - expected) < 5 * stat.std() / math.sqrt(draws)


def test_nk_sampler_has_the_law_of_explicit_features():
    """sample_nk's O(m) draw of Z Z^T y (Z (m, D) standard normal) against closed forms and against
    explicit features, 4000 draws each (m = 6, D = 15): E[Z Z^T y] = D y, Var of a coordinate
    D (m + 1), y^T Z Z^T y = m chi^2_D (mean m D, variance 2 m^2 D); 5 standard errors."""
    rng, m, D, draws = np.random.default_rng(1), 6, 15, 4000
    fast, explicit = [], []
    for _ in range(draws):
        s = gn.sample_nk(m, D, rng)
        fast.append((s.labels * s.gram_y, s.labels @ s.gram_y))  # y_j (Z Z^T y)_j: mean D, sign-free
        y = rng.choice([-1.0, 1.0], size=m)
        e = gn.nk_sample_from_features(y, rng.standard_normal((m, D)) * math.sqrt(32.0 / D))
        explicit.append((e.labels * e.gram_y, e.labels @ e.gram_y))
    for sample in (fast, explicit):
        coords = np.stack([c for c, _ in sample])
        quad = np.array([q for _, q in sample])
        assert np.all(np.abs(coords.mean(0) - D) < 5 * math.sqrt(D * (m + 1) / draws))
        assert np.allclose(coords.var(0), D * (m + 1), rtol=0.15)
        assert abs(quad.mean() - m * D) < 5 * math.sqrt(2 * m * m * D / draws)
        assert quad.var() == pytest.approx(2 * m * m * D, rel=0.15)
    # and the margins of the two agree in law: the training margin's noise part, coordinate-wise
    fast_c, explicit_c = np.stack([c for c, _ in fast]), np.stack([c for c, _ in explicit])
    se = np.sqrt(fast_c.var(0) / draws + explicit_c.var(0) / draws)
    assert np.all(np.abs(fast_c.mean(0) - explicit_c.mean(0)) < 5 * se)


def test_spiked_spectrum_effective_ranks():
    """p_t = ceil(n^a) >> n and tr(Sigma_tail) = sqrt(n); a = 1 gives the square, non-benign p_t = n."""
    s = g.spiked_spectrum(400, 3, 1.0, 1.5)
    assert s.tail_dim == 8000 and s.dim == 8003
    assert s.tail_value * s.tail_dim == pytest.approx(20.0)
    assert s.trace() == pytest.approx(23.0) and s.trace(head_only=True) == 3.0
    assert g.spiked_spectrum(400, 3, 1.0, 1.0).tail_dim == 400


# ----------------------------------------------------------------------------- closed forms vs explicit


def test_rotated_form_matches_explicit_vectors():
    """Every decomposition quantity equals the explicit p-dimensional computation (rtol 1e-8)."""
    X, y, theta_star, sigma_diag, sample = _explicit_problem()
    theta_hat = g.min_norm_interpolator(X, y)
    theta_tilde = g.min_norm_interpolator(X, X @ theta_star)  # X^+ X theta*
    theta_head = np.where(np.arange(X.shape[1]) < 3, theta_hat, 0.0)
    rows = {r["surrogate"]: r for r in g.decomposition(sample)}
    sigma = sample.sigma
    assert rows["denoising"]["test_risk"] == pytest.approx(
        _risk(theta_hat, theta_star, sigma_diag, sigma), rel=1e-8
    )
    assert rows["denoising"]["norm"] == pytest.approx(np.linalg.norm(theta_hat), rel=1e-8)
    assert rows["denoising"]["surrogate_risk"] == pytest.approx(
        _risk(theta_tilde, theta_star, sigma_diag, sigma), rel=1e-8
    )
    assert rows["denoising"]["surrogate_norm"] == pytest.approx(np.linalg.norm(theta_tilde), rel=1e-8)
    assert rows["denoising"]["surrogate_train"] == pytest.approx(
        np.mean((y - X @ theta_tilde) ** 2), rel=1e-8
    )
    assert rows["head"]["surrogate_risk"] == pytest.approx(
        _risk(theta_head, theta_star, sigma_diag, sigma), rel=1e-8
    )
    assert rows["head"]["surrogate_train"] == pytest.approx(np.mean((y - X @ theta_head) ** 2), rel=1e-8)
    assert np.mean((y - X @ theta_hat) ** 2) < 1e-10 and rows["head"]["train_error"] < 1e-10


def test_ridge_matches_explicit_and_tends_to_interpolator():
    """Ridge theta = X^T (XX^T + n lam I)^-1 y against a direct solve; lam -> 0 gives the interpolator."""
    X, y, theta_star, sigma_diag, sample = _explicit_problem(seed=3)
    n, lam = X.shape[0], 0.05
    theta = X.T @ np.linalg.solve(X @ X.T + n * lam * np.eye(n), y)
    row = g.decomposition(sample, lam)[0]
    assert row["test_risk"] == pytest.approx(_risk(theta, theta_star, sigma_diag, sample.sigma), rel=1e-8)
    assert row["train_error"] == pytest.approx(np.mean((y - X @ theta) ** 2), rel=1e-8)
    tiny, zero = g.decomposition(sample, 1e-9)[0], g.decomposition(sample, 0.0)[0]
    assert tiny["test_risk"] == pytest.approx(zero["test_risk"], rel=1e-5)


def test_closed_form_risk_matches_monte_carlo():
    """R(theta) = sigma^2 + |theta - theta*|_Sigma^2 against 20,000 fresh test points (4 standard errors)."""
    X, y, theta_star, sigma_diag, sample = _explicit_problem(n=60, tail_dim=1000, seed=5)
    rng = np.random.default_rng(6)
    Xt = g.explicit_features(20_000, sample.spectrum, rng)
    yt = Xt @ theta_star + sample.sigma * rng.standard_normal(20_000)
    for theta in (g.min_norm_interpolator(X, y), g.min_norm_interpolator(X, X @ theta_star)):
        losses = (yt - Xt @ theta) ** 2
        se = losses.std() / math.sqrt(losses.size)
        assert abs(losses.mean() - _risk(theta, theta_star, sigma_diag, sample.sigma)) < 4 * se


def test_linear_moments_match_monte_carlo():
    """E y^2 and E[y^2 |x|^2] (Isserlis) against 200,000 Gaussian draws (4 standard errors)."""
    rng = np.random.default_rng(7)
    spectrum = g.SpikedSpectrum(head=(2.0, 2.0), tail_value=0.1, tail_dim=10)
    theta = g.target_vector(2)
    X = g.explicit_features(200_000, spectrum, rng)
    y = X[:, :2] @ theta + 0.5 * rng.standard_normal(X.shape[0])
    for head_only, cols in ((False, slice(None)), (True, slice(0, 2))):
        m = g.linear_moments(spectrum, theta, 0.5, head_only)
        z = y**2 * (X[:, cols] ** 2).sum(axis=1)
        assert abs(z.mean() - m.mean_y2_x2) < 4 * z.std() / math.sqrt(z.size)
        assert abs((y**2).mean() - m.mean_y2) < 4 * (y**2).std() / math.sqrt(y.size)
        assert (y**2).std() == pytest.approx(m.sd_y2, rel=0.02)


def test_uc_bound_formula():
    """The bound's three terms, computed by hand for one set of moments."""
    m = gb.ClassMoments(mean_y2=2.0, sd_y2=3.0, mean_y2_x2=8.0, trace=4.0, op_norm=2.0)
    n, B, r = 100, 1.5, 2.0
    expected = 3.0 / 10 + 2 * B * math.sqrt(8.0 / n) + B**2 * 2.0 * (math.sqrt(r / n) + r / n)
    assert gb.uc_bound(n, B, m) == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- the coupling bound


@pytest.mark.parametrize("ridge", [0.0, 0.02])
def test_coupling_is_the_stated_quadratic_form(ridge):
    """R(h^) - R(h~) = c0 + 2 b.eps + eps^T A eps for both surrogates, against explicit vectors (rtol 1e-8)."""
    X, y, theta_star, sigma_diag, sample = _explicit_problem(seed=11)
    n = X.shape[0]
    theta_hat = X.T @ np.linalg.solve(X @ X.T + n * ridge * np.eye(n), y)
    theta_den = X.T @ np.linalg.solve(X @ X.T + n * ridge * np.eye(n), X @ theta_star)
    theta_head = np.where(np.arange(X.shape[1]) < 3, theta_hat, 0.0)
    inverse = g.kernel_inverse(sample, ridge)
    eps = sample.noise  # rotated coordinates: the forms are in the rotated noise
    for theta_tilde, (c0, b, A) in (
        (theta_den, g.denoising_coupling(sample, inverse, g.dual_predictor(sample, inverse(sample.signal)))),
        (theta_head, g.head_coupling(sample, inverse)),
    ):
        gap = _risk(theta_hat, theta_star, sigma_diag, sample.sigma) - _risk(
            theta_tilde, theta_star, sigma_diag, sample.sigma
        )
        assert c0 + 2 * b @ eps + eps @ A.dense() @ eps == pytest.approx(gap, rel=1e-8)
        dense = A.dense()
        assert A.trace() == pytest.approx(np.trace(dense), rel=1e-10)
        assert A.trace_sq() == pytest.approx(np.trace(dense @ dense), rel=1e-10)
        assert np.linalg.eigvalsh(dense)[-1] <= A.op_norm_upper() * (1 + 1e-10)
        assert np.linalg.eigvalsh(dense)[0] > -1e-12 * np.abs(dense).max()  # PSD, as Laurent-Massart needs


def test_laurent_massart_tail_is_valid():
    """P(eps^T A eps / sigma^2 > LM(t)) <= e^-t for a random PSD A (n = 20), t = 1, 3; 20,000 draws, 3 s.e."""
    rng = np.random.default_rng(12)
    M = rng.standard_normal((20, 20)) * np.linspace(0.1, 2, 20)
    A = M @ M.T
    eig = np.linalg.eigvalsh(A)
    q = ((rng.standard_normal((20_000, 20)) @ np.linalg.cholesky(A)) ** 2).sum(1)
    for t in (1.0, 3.0):
        level = gb.laurent_massart(eig.sum(), eig @ eig, eig[-1], t)
        p = math.exp(-t)
        assert (q > level).mean() <= p + 3 * math.sqrt(p * (1 - p) / q.size)


def test_coupling_bound_covers_95_percent_and_is_not_vacuous():
    """Fixed X (n = 40, p = 603), 2000 fresh noise draws: |R(h^) - R(h~)| (computed from the fits) exceeds the
    delta = 0.05 bound in at most 5 % + 3 s.e. of draws, and the bound is below 4x the empirical 95 % quantile."""
    _, _, _, _, sample = _explicit_problem(seed=13)
    rng = np.random.default_rng(14)
    inverse = g.kernel_inverse(sample)
    den = g.dual_predictor(sample, inverse(sample.signal))
    bounds = {}
    for name, (c0, b, A) in (
        ("denoising", g.denoising_coupling(sample, inverse, den)),
        ("head", g.head_coupling(sample, inverse)),
    ):
        bounds[name] = gb.coupling_tail_bound(
            c0, np.linalg.norm(b), A.trace(), A.trace_sq(), A.op_norm_upper(), sample.sigma, 0.05
        )
    gaps = {"denoising": [], "head": []}
    for _ in range(2000):
        noise = sample.sigma * rng.standard_normal(sample.n)
        fit = g.dual_predictor(sample, inverse(sample.signal + noise))
        redrawn = g.LinearSample(
            sample.spectrum, sample.head_features, sample.tail_gram, sample.theta_star, noise, sample.sigma
        )
        risk = g.population_risk(redrawn, fit)
        gaps["denoising"].append(abs(risk - g.population_risk(redrawn, den)))
        gaps["head"].append(abs(risk - g.population_risk(redrawn, g.head_part(redrawn, fit))))
    for name, values in gaps.items():
        values = np.asarray(values)
        assert (values > bounds[name]).mean() <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / values.size), name
        assert bounds[name] < 4 * np.quantile(values, 0.95), name


# ----------------------------------------------------------------------------- exact uniform deviation


def _dense_trust_region_min(Q, g_vec, radius):
    """min over |theta| <= B of theta^T Q theta - 2 g.theta by the dense eigen-decomposition and a bounded
    1-D search of the concave dual (float64 reference)."""
    w, V = np.linalg.eigh(Q)
    gp = V.T @ g_vec
    lo = max(0.0, -w[0])
    if w[0] > 0 and np.linalg.norm(gp / w) <= radius:
        return -float(gp @ (gp / w))
    res = minimize_scalar(
        lambda mu: np.sum(gp**2 / (w + mu)) + mu * radius**2,
        bounds=(lo + 1e-13, lo + np.linalg.norm(gp) / radius + 1.0),
        method="bounded",
        options={"xatol": 1e-14},
    )
    return -float(res.fun)


def test_exact_sup_matches_dense_reference():
    """sup over {|theta| <= B} of |R - R^_S| on the explicit p = 223 problem (n = 20), for B = |theta^|, 1, 0.3
    and the head class: the arrowhead trust-region solution equals the dense p x p reference (rtol 1e-7),
    with a certified primal-dual gap below 1e-9."""
    X, y, theta_star, sigma_diag, sample = _explicit_problem(n=20, tail_dim=220, sigma=0.8, seed=21)
    n = X.shape[0]
    Q = np.diag(sigma_diag) - X.T @ X / n
    gvec = sigma_diag * theta_star - X.T @ y / n
    c = sample.sigma**2 + theta_star @ (sigma_diag * theta_star) - y @ y / n
    for radius, head_only in (
        (np.linalg.norm(g.min_norm_interpolator(X, y)), False),
        (1.0, False),
        (0.3, False),
        (2.0, True),
    ):
        idx = slice(0, 3) if head_only else slice(None)
        Qs, gs = Q[idx, idx], gvec[idx]
        low = _dense_trust_region_min(Qs, gs, radius)
        high = -_dense_trust_region_min(-Qs, -gs, radius)
        expected = max(c + high, -(c + low))
        lower, upper = g.exact_uniform_deviation(sample, radius, head_only)
        assert upper == pytest.approx(expected, rel=1e-7)
        assert upper - lower < 1e-9 * max(1.0, upper)


def test_arrowhead_extreme_eigenvalues_match_dense():
    """Arrowhead.min_eigenvalue (Newton + regula falsi on the Schur complement) is a lower bound on the dense
    eigvalsh's smallest eigenvalue within 1e-12 (relative to |Q|), for Q and -Q of random arrowheads (n = 300,
    k = 3), including a coupling row of zeros at the smallest diagonal entry (lambda_min = min d there)."""
    rng = np.random.default_rng(5)
    for case in range(6):
        k, m = 3, 300
        H = rng.standard_normal((k, k))
        d = rng.uniform(-1.0, 2.0, m)
        C = rng.standard_normal((m, k)) / math.sqrt(m)
        if case == 5:
            H = H @ H.T + 10 * np.eye(k)
            C[np.argmin(d)] = 0.0
        Q = gb.Arrowhead((H + H.T) / 2, C, d)
        for A in (Q, -Q):
            exact = float(np.linalg.eigvalsh(A.dense())[0])
            found = A.min_eigenvalue()
            scale = float(np.abs(A.dense()).max())
            assert exact - 1e-12 * scale <= found <= exact + 1e-14 * scale, (case, found, exact)


def test_uniform_deviations_share_work_and_agree():
    """uniform_deviations over several radii equals uniform_deviation radius by radius (to 1e-12), and the
    sup is nondecreasing in the radius (nested balls)."""
    sample = g.sample_linear(400, g.spiked_spectrum(400, 3, 1.0, 1.5), 1.0, np.random.default_rng(3))
    c, Q, g_head, g_tail = g.deviation_problem(sample)
    radii = (0.3, 1.0, 4.0, 40.0)
    pairs = gb.uniform_deviations(c, Q, g_head, g_tail, radii)
    for radius, (lower, upper) in zip(radii, pairs):
        single = gb.uniform_deviation(c, Q, g_head, g_tail, radius)
        assert lower == pytest.approx(single[0], rel=1e-12) and upper == pytest.approx(single[1], rel=1e-12)
        assert -1e-12 * upper <= upper - lower < 1e-10 * upper  # certified up to rounding
    uppers = [u for _, u in pairs]
    assert all(a <= b * (1 + 1e-12) for a, b in zip(uppers, uppers[1:]))


def test_tridiagonal_eigenvalues_match_dense():
    """The GIL-free dsterf call equals scipy's dsterf wrapper bit for bit and the dense eigvalsh to 1e-12
    (relative to the largest eigenvalue), n = 1, 2, 7, 500."""
    from scipy.linalg import lapack

    rng = np.random.default_rng(8)
    for n in (1, 2, 7, 500):
        d, e = rng.uniform(1, 3, n), rng.standard_normal(n - 1)
        got = g.tridiagonal_eigenvalues(d, e)
        dense = np.linalg.eigvalsh(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))
        assert np.allclose(got, dense, rtol=0, atol=1e-12 * np.abs(dense).max())
        if n > 1:
            assert np.array_equal(got, np.sort(lapack.dsterf(d, e)[0]))


def test_exact_sup_is_below_the_uc_bound_and_above_the_realized_deviation(linear_frame):
    """In every quick-preset run the exact ball sup lies between |R(h^) - R^_S(h^)| (h^ is in the ball) and the
    UC bound times 1.5 (the UC bound is in expectation with its constant set to 1, so it may dip below)."""
    assert (linear_frame["ball_sup"] >= linear_frame["ball_deviation"] * (1 - 1e-9)).all()
    assert (linear_frame["ball_sup"] <= 1.5 * linear_frame["ball_uc"]).all()
    assert (linear_frame["ball_sup_gap"] < 1e-8 * linear_frame["ball_sup"]).all()


# ----------------------------------------------------------------------------- the phenomenon (quick preset)


def _means(frame, column, surrogate="denoising"):
    return frame[frame["surrogate"] == surrogate].groupby("n")[column].mean()


def test_interpolator_fits_and_is_benign(linear_frame):
    """Train MSE < 1e-10 at every n; R(h^)/sigma^2 < 1.05 at n = 3200; excess risk shrinks 5x from n = 50."""
    assert linear_frame["train_error"].max() < 1e-10
    excess = _means(linear_frame, "test_risk") - 1.0
    assert linear_frame["noise_level"].eq(1.0).all()
    assert excess.iloc[-1] < 0.05 and excess.iloc[-1] < 0.2 * excess.iloc[0]


@pytest.mark.parametrize("surrogate, bound_ratio", [("denoising", 0.6), ("head", 0.5)])
def test_surrogate_bound_and_coupling_bound_fall(linear_frame, surrogate, bound_ratio):
    """Surrogate bound at n = 3200 below bound_ratio x its n = 50 value, coupling bound below 0.2x; the 95 %
    coupling bound covers the realized term in >= 90 % of runs and the total bound exceeds R(h^) as often."""
    bound, coupling = (
        _means(linear_frame, "surrogate_bound", surrogate),
        _means(linear_frame, "coupling_bound", surrogate),
    )
    assert bound.iloc[-1] < bound_ratio * bound.iloc[0]
    assert coupling.iloc[-1] < 0.2 * coupling.iloc[0]
    part = linear_frame[linear_frame["surrogate"] == surrogate]
    assert (part["coupling_bound"] >= part["risk_gap"]).mean() >= 0.9
    assert (part["surrogate_bound"] >= part["test_risk"]).mean() >= 0.9
    assert part["surrogate_in_class"].all()
    assert (part["surrogate_bound"] < part["ball_sup"]).all()


def test_claims_hold_on_quick_presets(linear_frame, nk_frame):
    for name, frame in ((LIN, linear_frame), (NK, nk_frame)):
        assert all(_claims(name, frame).values()), _claims(name, frame)


def test_linear_claims_fail_without_benign_overfitting():
    """p_t = n (tail exponent 1): h^ does not generalize, the surrogate and coupling bounds are huge; every
    phenomenon claim but ball_stuck fails."""
    held = _claims(LIN, engine.run(LIN, {"n_values": (50, 200, 800), "tail_exponent": 1.0}))
    assert held == {
        "gen.interpolates": True,
        "gen.benign": False,
        "gen.ball_stuck": True,
        "gen.surrogate_falls": False,
        "gen.surrogate_tight": False,
        "gen.coupling_falls": False,
    }


def test_ball_claim_fails_without_label_noise():
    """sigma = 0: the interpolator is the surrogate, its norm stays <= 1 and the ball's exact sup falls."""
    frame = engine.run(LIN, {"n_values": (50, 200, 800, 3200), "noise": 0.0})
    assert not _claims(LIN, frame)["gen.ball_stuck"]


def test_interpolation_sanity_claim_fails_on_a_ridge_fit():
    frame = engine.run("generalization.ridge", {"n": 200, "seeds": 1, "ridges": (0.1, 1.0)})
    assert not _claims(LIN, frame)["gen.interpolates"]


# ----------------------------------------------------------------------------- Nagarajan-Kolter


def test_nk_gram_form_matches_explicit_features():
    """Margins and |w2|^2 from the Gram form equal the explicit one-step classifier (rtol 1e-9)."""
    rng, m, D = np.random.default_rng(2), 30, 900
    y = rng.choice([-1.0, 1.0], size=m)
    x2 = rng.standard_normal((m, D)) * math.sqrt(32.0 / D)
    sample = gn.nk_sample_from_features(y, x2)
    w2 = (y[:, None] * x2).mean(axis=0)
    got_train, got_mirror = gn.nk_train_margins(sample)
    np.testing.assert_allclose(got_train, 4.0 / m + y * (x2 @ w2), rtol=1e-9)
    np.testing.assert_allclose(got_mirror, 4.0 / m - y * (x2 @ w2), rtol=1e-9)
    assert gn.nk_weight_noise_sq(sample) == pytest.approx(w2 @ w2, rel=1e-9)


def test_nk_test_error_matches_monte_carlo():
    """Closed-form test error against 40,000 explicit test points (D = 20 m, error about 0.2; 4 s.e.)."""
    rng, m = np.random.default_rng(4), 40
    D = 20 * m
    y = rng.choice([-1.0, 1.0], size=m)
    x2 = rng.standard_normal((m, D)) * math.sqrt(32.0 / D)
    w2 = (y[:, None] * x2).mean(axis=0)
    x2_test = rng.standard_normal((40_000, D)) * math.sqrt(32.0 / D)
    y_test = rng.choice([-1.0, 1.0], size=40_000)
    errors = (y_test * (4.0 * y_test / m + x2_test @ w2)) <= 0
    exact = gn.nk_test_error(gn.nk_sample_from_features(y, x2))
    assert 0.05 < exact < 0.5
    assert abs(errors.mean() - exact) < 4 * math.sqrt(exact * (1 - exact) / errors.size)


def test_nk_test_error_bound_is_the_95_percent_quantile():
    """3000 training sets (m = 64, D = 10 m): R(h^) exceeds the delta = 0.05 chi-square bound in 5 % +- 3 s.e.
    of them (the quantile is exact, so it is neither violated nor loose)."""
    rng, m, delta = np.random.default_rng(5), 64, 0.05
    bound = gn.nk_test_error_bound(m, 10 * m, delta)
    errors = np.array([gn.nk_test_error(gn.sample_nk(m, 10 * m, rng)) for _ in range(3000)])
    se = 3 * math.sqrt(delta * (1 - delta) / errors.size)
    assert abs((errors > bound).mean() - delta) < se


def test_nk_phenomenon(nk_frame):
    """Training error 0; mirrored-set error > 0.95; surrogate risk computed as 0; bound < 0.1 at the largest m
    and falling (largest m below 0.2x smallest m); the coupling bound exceeds the realized coupling term."""
    assert (nk_frame["train_error"] == 0).all() and (nk_frame["surrogate_risk"] == 0).all()
    assert nk_frame["mirror_error"].min() > 0.95
    bound = nk_frame.groupby("m")["surrogate_bound"].mean()
    assert bound.iloc[-1] < 0.1 and bound.iloc[-1] < 0.2 * bound.iloc[0]
    assert (nk_frame["coupling_bound"] >= nk_frame["risk_gap"]).mean() >= 0.9


@pytest.mark.parametrize("dim_factor, mirror_holds", [(2, False), (10, True)])
def test_nk_claims_fail_when_the_noise_block_is_small(dim_factor, mirror_holds):
    """D = 2m or 10m (not >> m): h^ errs on 35-43 % of test points, so agreement and the small bound fail; at
    D = 2m the mirrored-set error also drops below 0.95."""
    frame = engine.run(NK, {"m_values": (32, 128, 512), "dim_factor": dim_factor})
    assert _claims(NK, frame) == {"nk.mirror": mirror_holds, "nk.agree": False, "nk.bound_small": False}


# ----------------------------------------------------------------------------- extensions


def test_ridge_extension():
    """Ridge sweep at n = 200: training error rises with lambda, the ball's exact sup falls with lambda; the
    claim holds, and fails when p_t = n (the surrogate bound is then large near interpolation)."""
    frame = engine.run("generalization.ridge", {"n": 200, "seeds": 2})
    part = frame[frame["surrogate"] == "denoising"].groupby("ridge").mean(numeric_only=True)
    assert part["train_error"].is_monotonic_increasing
    assert part["ball_sup"].iloc[-1] < part["ball_sup"].iloc[0]
    assert _claims("generalization.ridge", frame) == {"gen.ridge_ball_vs_surrogate": True}
    square = engine.run("generalization.ridge", {"n": 200, "seeds": 2, "tail_exponent": 1.0})
    assert _claims("generalization.ridge", square) == {"gen.ridge_ball_vs_surrogate": False}


def test_random_features_extension():
    """Interpolating RF: train MSE < 1e-8, ball bound grows with n, surrogate bound falls, the claim holds;
    ridge fits do not interpolate; without label noise the claim fails (nothing to derandomize)."""
    config = {"n_values": (50, 200, 400), "n_features": 800, "n_test": 1000, "seeds": 1}
    frame = engine.run("generalization.random_features", config)
    interp = frame[frame["fit"] == "interpolating"].groupby("n").mean(numeric_only=True)
    assert interp["train_error"].max() < 1e-8
    assert interp["ball_bound"].iloc[-1] > interp["ball_bound"].iloc[0]
    assert interp["surrogate_bound"].iloc[-1] < interp["surrogate_bound"].iloc[0]
    assert (frame[frame["fit"] == "ridge"]["train_error"] > 1e-3).all()
    assert _claims("generalization.random_features", frame) == {"gen.rf_surrogate_falls": True}
    clean = engine.run("generalization.random_features", {**config, "noise": 0.0})
    assert _claims("generalization.random_features", clean) == {"gen.rf_surrogate_falls": False}


def test_top_eigenvalue_matches_eigvalsh():
    features = np.random.default_rng(8).standard_normal((300, 40)) + 0.5
    exact = np.linalg.eigvalsh(features.T @ features / 300)[-1]
    assert grf.top_eigenvalue(features) == pytest.approx(exact, rel=1e-6)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: g.spiked_spectrum(1, 3, 1.0, 1.5),
            "The 'n' parameter of spiked_spectrum must be an int in \\[2, inf\\)",
        ),
        (lambda: g.spiked_spectrum(10, 3, 1.0, 0.9), "'tail_exponent' parameter of spiked_spectrum"),
        (
            lambda: g.sample_linear(10, g.spiked_spectrum(10, 1, 1.0, 1.5), -0.1, np.random.default_rng(0)),
            "'noise' parameter of sample_linear",
        ),
        (
            lambda: g.min_norm_interpolator(np.ones((5, 3)), np.ones(5)),
            "'p' parameter of min_norm_interpolator",
        ),
        (
            lambda: g.linear_sample_from_features(
                np.ones((5, 4)), g.SpikedSpectrum((1.0,), 1.0, 3), np.ones(5), 1.0
            ),
            "'p' parameter",
        ),
        (lambda: gn.sample_nk(5, 0, np.random.default_rng(0)), "'noise_dim' parameter of sample_nk"),
        (
            lambda: g.wishart_eigenvalues(5, 3, np.random.default_rng(0)),
            "'df' parameter of wishart_eigenvalues",
        ),
        (lambda: gb.coupling_tail_bound(0, 1, 1, 1, 1, 1.0, 0.0), "'delta' parameter of coupling_tail_bound"),
        (lambda: gn.nk_test_error_bound(10, 100, 1.5), "'delta' parameter"),
    ],
)
def test_science_functions_reject_bad_input(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (gx.LinearConfig, {"n_values": (1, 10)}, "'n_values' parameter of LinearConfig"),
        (gx.LinearConfig, {"n_values": (100, 50)}, "strictly increasing"),
        (
            gx.LinearConfig,
            {"noise": -1.0},
            "'noise' parameter of LinearConfig must be a float in \\[0, 10\\]",
        ),
        (gx.LinearConfig, {"tail_exponent": 0.9}, "'tail_exponent'"),
        (gx.NKConfig, {"delta": 0.0}, "'delta'"),
        (gx.RidgeConfig, {"ridges": (1.0, 0.1)}, "'ridges'"),
        (
            gx.RandomFeaturesConfig,
            {"n_features": 100},
            "'n_features' parameter of RandomFeaturesConfig must be an int >= 2 \\* max\\(n_values\\)",
        ),
    ],
)
def test_configs_reject_bad_values(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


def test_experiments_declare_setups_and_estimates():
    for name in (LIN, NK, "generalization.ridge", "generalization.random_features"):
        exp = engine.get_experiment(name)
        assert set(exp.setups) == {"quick", "paper"} and exp.version >= 2
        quick, paper = exp.estimate(exp.presets["quick"]), exp.estimate(exp.presets["paper"])
        assert 0 < quick.bytes <= paper.bytes and 0 < quick.seconds < paper.seconds and quick.drivers
        assert len(exp.grid("quick")) >= 4  # every page slider position builds a valid config


# ----------------------------------------------------------------------------- charts and page


def test_charts_have_log_axes_tooltips_and_noise_rule(linear_frame, nk_frame):
    lin = engine.get_experiment(LIN)
    specs = {which: lin.chart(linear_frame, which).to_dict() for which in lin.charts}
    specs["nk"] = engine.get_experiment(NK).chart(nk_frame).to_dict()
    text = repr(specs)
    assert text.count("'type': 'log'") >= 12
    assert "noise level σ²" in text and "tooltip" in text
    assert "exact sup |R − R̂_S| over the smallest ball ∋ ĥ" in repr(specs["denoising"])
    assert "realized |R(ĥ) − R(h̃)|" in repr(specs["coupling"]) and "95 % bound" in repr(specs["coupling"])
    assert "UC bound (constant set to 1)" in repr(specs["uniform"])
    assert "Head-coordinates surrogate" in repr(specs["head"])


def _page():
    from streamlit.testing.v1 import AppTest

    page = Path(__file__).resolve().parent.parent / "pages" / "generalization.py"
    return AppTest.from_file(str(page), default_timeout=60)


def test_page_defaults_render():
    at = _page().run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart")) >= 3
    assert len(at.latex) >= 2


def test_page_widgets_change_the_view():
    at = _page().run()
    first = len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart"))
    assert first == 4  # section 1: main, coupling, uniform; section 2: NK (norms and extension off)
    at.select_slider(key="gen_n_max").set_value(800)
    at.select_slider(key="gen_noise").set_value(0.5)
    at.select_slider(key="gen_tail").set_value(1.0)
    at.select_slider(key="gen_spike").set_value(2.0)
    at.radio(key="gen_surrogate").set_value("head")
    at.toggle(key="gen_norms").set_value(True)
    at.select_slider(key="gen_nk_factor").set_value(10)
    at.toggle(key="gen_ext").set_value(True)
    at.run()
    at.select_slider(key="gen_ridge").set_value(0.1)
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart")) == 7
    assert any("noise σ = 0.5, tail exponent a = 1.0, spike strength s = 2.0" in c.value for c in at.caption)


def test_charts_are_reused_per_frame_content(linear_frame):
    """A chart of the same frame content is built once (a warm rerun reuses it); a frame whose values
    differ in one cell gets a new chart, whose spec carries the new value."""
    from engine.phenomena.generalization import charts as gc

    first = gc.uniform_chart(linear_frame)
    assert gc.uniform_chart(linear_frame.copy()) is first
    changed = linear_frame.copy()
    changed.loc[changed.index[0], "ball_sup"] = 123456.0
    other = gc.uniform_chart(changed)
    assert other is not first and "123456" in repr(other.to_dict()) and "123456" not in repr(first.to_dict())
    assert "Head-coordinates" in repr(gc.linear_chart(linear_frame, surrogate="head").to_dict())
    assert "Denoising surrogate" in repr(gc.linear_chart(linear_frame, "denoising").to_dict())
