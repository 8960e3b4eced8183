"""Science checks for the generalization phenomenon (Negrea, Dziugaite, Roy, ICML 2020).

Closed forms are checked against explicit float64 reference computations written here, Monte Carlo
test sets (sample sizes and tolerances stated), and the phenomenon in the quick presets with margins.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import engine
from engine.phenomena.generalization import experiments as g
from engine.core.validation import ConfigError


@pytest.fixture(scope="module")
def linear_frame() -> pd.DataFrame:
    return engine.run("generalization.linear")


@pytest.fixture(scope="module")
def nk_frame() -> pd.DataFrame:
    return engine.run("generalization.nk")


def _explicit_problem(n=40, tail_dim=600, n_spikes=3, spike=2.0, sigma=0.7, seed=0):
    """An explicit (X, y, theta*, Sigma diagonal) problem and its Gram-form sample."""
    rng = np.random.default_rng(seed)
    spectrum = g.SpikedSpectrum(head=(spike,) * n_spikes, tail_value=math.sqrt(n) / tail_dim, tail_dim=tail_dim)
    X = g.explicit_features(n, spectrum, rng)
    noise = sigma * rng.standard_normal(n)
    theta_star = np.zeros(spectrum.dim)
    theta_star[:n_spikes] = g.target_vector(n_spikes)
    sigma_diag = np.concatenate([spectrum.head, np.full(tail_dim, spectrum.tail_value)])
    sample = g.linear_sample_from_features(X, spectrum, noise, sigma)
    return X, X @ theta_star + noise, theta_star, sigma_diag, sample


def _risk(theta, theta_star, sigma_diag, sigma):
    diff = theta - theta_star
    return sigma ** 2 + float(diff @ (sigma_diag * diff))


# ----------------------------------------------------------------------------- sampling


def test_bartlett_factor_has_wishart_moments():
    """L L^T ~ Wishart_n(df, I): E W = df I, Var W_ii = 2 df, Var W_ij = df. 4000 draws, 5 standard errors."""
    rng, n, df, draws = np.random.default_rng(1), 4, 12, 4000
    W = np.stack([(lambda L: L @ L.T)(g.bartlett_factor(n, df, rng)) for _ in range(draws)])
    mean, var = W.mean(axis=0), W.var(axis=0)
    se_mean = np.sqrt(np.where(np.eye(n, dtype=bool), 2 * df, df) / draws)
    assert np.all(np.abs(mean - df * np.eye(n)) < 5 * se_mean)
    assert np.allclose(np.diag(var), 2 * df, rtol=0.15)
    assert np.allclose(var[~np.eye(n, dtype=bool)], df, rtol=0.15)
    assert np.allclose(np.triu(g.bartlett_factor(n, df, rng), 1), 0.0)


def test_spiked_spectrum_effective_ranks():
    """p_t = ceil(n^a) >> n and tr(Sigma_tail) = sqrt(n), so the tail's effective rank condition holds."""
    s = g.spiked_spectrum(400, 3, 1.0, 1.5)
    assert s.tail_dim == 8000 and s.dim == 8003
    assert s.tail_value * s.tail_dim == pytest.approx(20.0)
    assert s.trace() == pytest.approx(23.0) and s.trace(head_only=True) == 3.0
    assert s.op_norm() == 1.0


# ----------------------------------------------------------------------------- closed forms vs explicit


def test_gram_form_matches_explicit_vectors():
    """Every decomposition quantity equals the explicit p-dimensional computation (rtol 1e-8)."""
    X, y, theta_star, sigma_diag, sample = _explicit_problem()
    theta_hat = g.min_norm_interpolator(X, y)
    theta_tilde = g.min_norm_interpolator(X, X @ theta_star)  # X^+ X theta*
    theta_head = np.where(np.arange(X.shape[1]) < 3, theta_hat, 0.0)
    rows = {r["surrogate"]: r for r in g.decomposition(sample)}
    sigma = sample.sigma
    assert rows["denoising"]["test_risk"] == pytest.approx(_risk(theta_hat, theta_star, sigma_diag, sigma), rel=1e-8)
    assert rows["denoising"]["norm"] == pytest.approx(np.linalg.norm(theta_hat), rel=1e-8)
    assert rows["denoising"]["surrogate_risk"] == pytest.approx(
        _risk(theta_tilde, theta_star, sigma_diag, sigma), rel=1e-8)
    assert rows["denoising"]["surrogate_norm"] == pytest.approx(np.linalg.norm(theta_tilde), rel=1e-8)
    assert rows["denoising"]["surrogate_train"] == pytest.approx(np.mean((y - X @ theta_tilde) ** 2), rel=1e-8)
    assert rows["head"]["surrogate_risk"] == pytest.approx(_risk(theta_head, theta_star, sigma_diag, sigma), rel=1e-8)
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
        z = y ** 2 * (X[:, cols] ** 2).sum(axis=1)
        assert abs(z.mean() - m.mean_y2_x2) < 4 * z.std() / math.sqrt(z.size)
        assert abs((y ** 2).mean() - m.mean_y2) < 4 * (y ** 2).std() / math.sqrt(y.size)
        assert (y ** 2).std() == pytest.approx(m.sd_y2, rel=0.02)


def test_uc_bound_formula():
    """The bound's three terms, computed by hand for one set of moments."""
    m = g.ClassMoments(mean_y2=2.0, sd_y2=3.0, mean_y2_x2=8.0, trace=4.0, op_norm=2.0)
    n, B, r = 100, 1.5, 2.0
    expected = 3.0 / 10 + 2 * B * math.sqrt(8.0 / n) + B ** 2 * 2.0 * (math.sqrt(r / n) + r / n)
    assert g.uc_bound(n, B, m) == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- the phenomenon (quick preset)


def _means(frame, column, surrogate="denoising"):
    part = frame[frame["surrogate"] == surrogate]
    return part.groupby("n")[column].mean()


def test_interpolator_fits_and_is_benign(linear_frame):
    """Train MSE < 1e-10 at every n; R(h^)/sigma^2 < 1.05 at n = 3200; excess risk shrinks 5x from n = 50."""
    assert linear_frame["train_error"].max() < 1e-10
    excess = _means(linear_frame, "test_risk") - 1.0  # noise level sigma^2 = 1 in the quick preset
    assert linear_frame["noise_level"].eq(1.0).all()
    assert excess.iloc[-1] < 0.05 and excess.iloc[-1] < 0.2 * excess.iloc[0]


def test_ball_bound_does_not_fall(linear_frame):
    """The UC bound over the smallest ball containing h^: at n = 3200 >= 0.9 x its value at n = 50, and
    above the noise level at every n."""
    ball = _means(linear_frame, "ball_bound")
    assert ball.iloc[-1] >= 0.9 * ball.iloc[0]
    assert (linear_frame["ball_bound"] > linear_frame["noise_level"]).all()


@pytest.mark.parametrize("surrogate, bound_ratio", [("denoising", 0.6), ("head", 0.5)])
def test_surrogate_bound_and_coupling_fall(linear_frame, surrogate, bound_ratio):
    """Surrogate bound at n = 3200 below bound_ratio x its n = 50 value; |R(h^) - R(h~)| below 0.5x; the
    bound still exceeds the true risk of h^ in every run (it is a bound)."""
    bound, gap = _means(linear_frame, "surrogate_bound", surrogate), _means(linear_frame, "risk_gap", surrogate)
    assert bound.iloc[-1] < bound_ratio * bound.iloc[0]
    assert gap.iloc[-1] < 0.5 * gap.iloc[0]
    part = linear_frame[linear_frame["surrogate"] == surrogate]
    assert (part["surrogate_bound"] >= part["test_risk"]).all()
    assert (part["surrogate_deviation"] <= part["surrogate_uc"]).all()
    assert (part["surrogate_bound"] < part["ball_bound"]).all()


def test_claims_hold_on_quick_presets(linear_frame, nk_frame):
    frames = {"generalization.linear": linear_frame, "generalization.nk": nk_frame}
    for name, frame in frames.items():
        for claim in engine.get_experiment(name).claims:
            assert claim.holds(claim.measure(frame)), claim.id


# ----------------------------------------------------------------------------- Nagarajan-Kolter


def test_nk_gram_form_matches_explicit_features():
    """Margins and |w2|^2 from the Gram form equal the explicit one-step classifier (rtol 1e-9)."""
    rng, m, D = np.random.default_rng(2), 30, 900
    y = rng.choice([-1.0, 1.0], size=m)
    x2 = rng.standard_normal((m, D)) * math.sqrt(g.NK_NOISE_VARIANCE / D)
    sample = g.nk_sample_from_features(y, x2)
    w2 = (y[:, None] * x2).mean(axis=0)
    train = 4.0 / m + y * (x2 @ w2)  # u . x1 = 2y/m and w1 = 2u, so w1 . x1 = 4y/m
    mirror = 4.0 / m - y * (x2 @ w2)
    got_train, got_mirror = g.nk_train_margins(sample)
    np.testing.assert_allclose(got_train, train, rtol=1e-9)
    np.testing.assert_allclose(got_mirror, mirror, rtol=1e-9)
    assert g.nk_weight_noise_sq(sample) == pytest.approx(w2 @ w2, rel=1e-9)


def test_nk_test_error_matches_monte_carlo():
    """Closed-form test error Phi(-(4/m)/(|w2| sqrt(32/D))) against 40,000 explicit test points (D = 20 m,
    error about 0.2; 4 standard errors)."""
    rng, m = np.random.default_rng(4), 40
    D = 20 * m
    y = rng.choice([-1.0, 1.0], size=m)
    x2 = rng.standard_normal((m, D)) * math.sqrt(g.NK_NOISE_VARIANCE / D)
    w2 = (y[:, None] * x2).mean(axis=0)
    x2_test = rng.standard_normal((40_000, D)) * math.sqrt(g.NK_NOISE_VARIANCE / D)
    y_test = rng.choice([-1.0, 1.0], size=40_000)
    errors = (y_test * (4.0 * y_test / m + x2_test @ w2)) <= 0  # h(x) = w1.x1 + w2.x2, w1.x1 = 4y/m
    exact = g.nk_test_error(g.nk_sample_from_features(y, x2))
    assert 0.05 < exact < 0.5
    assert abs(errors.mean() - exact) < 4 * math.sqrt(exact * (1 - exact) / errors.size)


def test_nk_phenomenon(nk_frame):
    """Training error 0; mirrored-set error > 0.95; |R(h~) - R(h^)| < 0.005; bound < 0.1 at the largest m
    and falling (largest m below 0.2x smallest m)."""
    assert (nk_frame["train_error"] == 0).all()
    assert nk_frame["mirror_error"].min() > 0.95
    assert (nk_frame["test_error"] - nk_frame["surrogate_risk"]).abs().max() < 0.005
    bound = nk_frame.groupby("m")["surrogate_bound"].mean()
    assert bound.iloc[-1] < 0.1 and bound.iloc[-1] < 0.2 * bound.iloc[0]


# ----------------------------------------------------------------------------- extensions


def test_ridge_extension():
    """Ridge sweep at n = 200: training error rises with lambda, the ball bound falls with lambda, and near
    interpolation the ball bound is at least twice the surrogate bound."""
    frame = engine.run("generalization.ridge", {"n": 200, "seeds": 2})
    part = frame[frame["surrogate"] == "denoising"].groupby("ridge").mean(numeric_only=True)
    assert part["train_error"].is_monotonic_increasing
    assert part["ball_bound"].iloc[-1] < part["ball_bound"].iloc[0]
    assert part["ball_bound"].iloc[0] >= 2 * part["surrogate_bound"].iloc[0]


def test_random_features_extension():
    """Interpolating RF: train MSE < 1e-8, ball bound grows with n, surrogate bound falls; ridge fits do not
    interpolate."""
    frame = engine.run("generalization.random_features", {"n_values": (50, 200, 400), "n_features": 800,
                                                          "n_test": 1000, "seeds": 1})
    interp = frame[frame["fit"] == "interpolating"].groupby("n").mean(numeric_only=True)
    assert interp["train_error"].max() < 1e-8
    assert interp["ball_bound"].iloc[-1] > interp["ball_bound"].iloc[0]
    assert interp["surrogate_bound"].iloc[-1] < interp["surrogate_bound"].iloc[0]
    assert (frame[frame["fit"] == "ridge"]["train_error"] > 1e-3).all()


def test_top_eigenvalue_matches_eigvalsh():
    features = np.random.default_rng(8).standard_normal((300, 40)) + 0.5
    exact = np.linalg.eigvalsh(features.T @ features / 300)[-1]
    assert g.top_eigenvalue(features) == pytest.approx(exact, rel=1e-6)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, match", [
    (lambda: g.spiked_spectrum(1, 3, 1.0, 1.5), "'n' parameter must be an int >= 2"),
    (lambda: g.sample_linear(10, g.spiked_spectrum(10, 1, 1.0, 1.5), -0.1, np.random.default_rng(0)),
     "'noise' parameter"),
    (lambda: g.min_norm_interpolator(np.ones((5, 3)), np.ones(5)), "p >= n"),
    (lambda: g.linear_sample_from_features(np.ones((5, 4)), g.SpikedSpectrum((1.0,), 1.0, 3), np.ones(5), 1.0),
     "p >= n"),
    (lambda: g.bartlett_factor(5, 3, np.random.default_rng(0)), "'df' parameter"),
])
def test_science_functions_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("cls, kwargs, match", [
    (g.LinearConfig, {"n_values": (1, 10)}, "'n_values' parameter of LinearConfig"),
    (g.LinearConfig, {"n_values": (100, 50)}, "strictly increasing"),
    (g.LinearConfig, {"noise": -1.0}, "'noise' parameter of LinearConfig must be a float in \\[0, 10\\]"),
    (g.LinearConfig, {"tail_exponent": 0.9}, "'tail_exponent'"),
    (g.NKConfig, {"delta": 0.0}, "'delta'"),
    (g.RidgeConfig, {"ridges": (1.0, 0.1)}, "'ridges'"),
    (g.RandomFeaturesConfig, {"n_features": 100}, "'n_features'"),
])
def test_configs_reject_bad_values(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


# ----------------------------------------------------------------------------- charts and page


def test_charts_have_log_axes_tooltips_and_noise_rule(linear_frame, nk_frame):
    specs = {
        "denoising": engine.get_experiment("generalization.linear").chart(linear_frame, "denoising").to_dict(),
        "head": engine.get_experiment("generalization.linear").chart(linear_frame, "head").to_dict(),
        "norms": engine.get_experiment("generalization.linear").chart(linear_frame, "norms").to_dict(),
        "nk": engine.get_experiment("generalization.nk").chart(nk_frame).to_dict(),
    }
    text = repr(specs)
    assert text.count("'type': 'log'") >= 8
    assert "noise level σ²" in text and "tooltip" in text
    assert "UC bound over the smallest ball ∋ ĥ" in repr(specs["denoising"])
    assert "Head-coordinates surrogate" in repr(specs["head"])


def _page():
    from streamlit.testing.v1 import AppTest

    page = Path(__file__).resolve().parent.parent / "pages" / "generalization.py"
    return AppTest.from_file(str(page), default_timeout=60)


def test_page_defaults_render():
    at = _page().run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart")) >= 2
    assert len(at.latex) >= 2


def test_page_widgets_change_the_view():
    at = _page().run()
    at.select_slider(key="gen_n_max").set_value(800)
    at.select_slider(key="gen_noise").set_value(0.5)
    at.select_slider(key="gen_tail").set_value(1.25)
    at.select_slider(key="gen_spike").set_value(2.0)
    at.radio(key="gen_surrogate").set_value("head")
    at.select_slider(key="gen_nk_factor").set_value(200)
    at.toggle(key="gen_ext").set_value(True)
    at.run()
    at.select_slider(key="gen_ridge").set_value(0.1)
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart")) >= 4
