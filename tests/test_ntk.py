"""Science checks for engine/ntk.py (Arora et al. 2019): exact kernels against independent
float64 references, the CNTK against a slow pixel-pair loop, finite-width convergence, kernel
regression, the quick presets, charts and the page."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

from engine.phenomena.ntk import experiments as ntk

# ---------------------------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------------------------


def ref_relu_maps_arcsin(rho: float) -> tuple[float, float]:
    """A second closed form of the c_sigma = 2 ReLU expectations, via arcsin (not arccos):
    2 E[relu(u) relu(v)] = (sqrt(1 - rho^2) + rho (pi/2 + arcsin rho)) / pi, 2 E[relu'(u) relu'(v)] = 1/2 + arcsin(rho)/pi."""
    rho = min(1.0, max(-1.0, rho))
    return (math.sqrt(1 - rho * rho) + rho * (math.pi / 2 + math.asin(rho))) / math.pi, 0.5 + math.asin(rho) / math.pi


def ref_ntk_fc(x: np.ndarray, z: np.ndarray, depth: int) -> tuple[float, float]:
    """(Sigma^L, Theta^L) for one pair by the recursion on unnormalised covariances, scalar floats."""
    sxx, szz, sxz = float(x @ x), float(z @ z), float(x @ z)
    theta = sxz
    for _ in range(depth):
        k1, k0 = ref_relu_maps_arcsin(sxz / math.sqrt(sxx * szz))
        sxz, theta = math.sqrt(sxx * szz) * k1, theta * k0 + math.sqrt(sxx * szz) * k1
        # 2 E[relu(u)^2] = Sigma(x, x): the diagonal is unchanged at c_sigma = 2
    return sxz, theta


def quad_relu_expectations(a: float, b: float, rho: float) -> tuple[float, float]:
    """2 E[relu(u) relu(v)] and 2 E[1{u>0} 1{v>0}] for u = a z1, v = b (rho z1 + s z2), by 1-D
    quadrature over z1 of the closed-form inner Gaussian integral over z2 (independent of arc-cosines)."""
    s = math.sqrt(1 - rho * rho)

    def inner_relu(z1):  # E_z2 relu(b (rho z1 + s z2))
        m, sd = b * rho * z1, b * s
        return m * scipy.stats.norm.cdf(m / sd) + sd * scipy.stats.norm.pdf(m / sd)

    relu = scipy.integrate.quad(lambda z1: scipy.stats.norm.pdf(z1) * a * z1 * inner_relu(z1), 0, np.inf,
                                epsabs=1e-13, epsrel=1e-13)[0]
    step = scipy.integrate.quad(lambda z1: scipy.stats.norm.pdf(z1) * scipy.stats.norm.cdf(rho * z1 / s), 0, np.inf,
                                epsabs=1e-13, epsrel=1e-13)[0]
    return 2 * relu, 2 * step


def ref_cntk_pair(x: np.ndarray, z: np.ndarray, depth: int, gap: bool, fix: bool) -> float:
    """The paper's DP for one image pair with explicit loops over pixel pairs (a, b, c, d).

    Diagonal terms come from running the same loop on (x, x) and (z, z), as CNTK.py's xx() does.
    """
    C, H, W = x.shape

    def conv3(S):
        out = np.zeros_like(S)
        for a in range(H):
            for b in range(W):
                for c in range(H):
                    for d in range(W):
                        total = 0.0
                        for i in (-1, 0, 1):
                            for j in (-1, 0, 1):
                                if 0 <= a + i < H and 0 <= b + j < W and 0 <= c + i < H and 0 <= d + j < W:
                                    total += S[a + i, b + j, c + i, d + j]
                        out[a, b, c, d] = total
        return out

    def sigma0(u, v):
        return np.einsum("cab,cde->abde", u, v)

    def run(u, v, diag_u, diag_v):
        """Returns (T, S, per-layer diagonals of this pair's own S)."""
        S = conv3(sigma0(u, v))
        T = np.zeros_like(S) if fix else S.copy()
        diags = []
        for h in range(1, depth):
            diags.append(np.array([[S[a, b, a, b] for b in range(W)] for a in range(H)]))
            Lu = diag_u[h - 1] if diag_u is not None else diags[-1]
            Lv = diag_v[h - 1] if diag_v is not None else diags[-1]
            S_new, T_new = np.zeros_like(S), np.zeros_like(S)
            for a in range(H):
                for b in range(W):
                    for c in range(H):
                        for d in range(W):
                            lu, lv = math.sqrt(Lu[a, b]), math.sqrt(Lv[c, d])
                            rho = S[a, b, c, d] / (lu * lv) if lu > 0 and lv > 0 else 0.0
                            rho = min(1.0, max(-1.0, rho))
                            t = math.acos(rho)
                            S_new[a, b, c, d] = (rho * (math.pi - t) + math.sqrt(1 - rho * rho)) * lu * lv / (9 * math.pi)
                            T_new[a, b, c, d] = T[a, b, c, d] * (math.pi - t) / (9 * math.pi) + S_new[a, b, c, d]
            S, T = S_new, T_new
            if h < depth - 1:
                S, T = conv3(S), conv3(T)
        return T, S, diags

    _, _, dx = run(x, x, None, None)
    _, _, dz = run(z, z, None, None)
    T, S, _ = run(x, z, dx, dz)
    if fix:
        T = T - S
    return float(T.mean()) if gap else float(sum(T[a, b, a, b] for a in range(H) for b in range(W)))


# ---------------------------------------------------------------------------------------------
# Fully connected NTK / NNGP
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_ntk_fc_matches_arcsin_recursion(depth):
    rng = np.random.default_rng(0)
    X, Z = rng.standard_normal((7, 5)), rng.standard_normal((4, 5))
    X[3] = -2.5 * X[1]  # anti-parallel pair: rho = -1 exactly
    Z[0] = 0.7 * X[2]  # parallel pair: rho = 1
    theta, sigma = ntk.ntk_fc(X, Z, depth), ntk.nngp_fc(X, Z, depth)
    for i in range(len(X)):
        for j in range(len(Z)):
            s_ref, t_ref = ref_ntk_fc(X[i], Z[j], depth)
            assert theta[i, j] == pytest.approx(t_ref, rel=1e-10, abs=1e-10)
            assert sigma[i, j] == pytest.approx(s_ref, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("rho", [-0.95, -0.3, 0.0, 0.42, 0.9])
def test_arc_cosine_maps_match_quadrature(rho):
    """One layer of the closed form against 1-D numerical integration of the Gaussian expectation."""
    a, b = 1.3, 0.6
    relu, step = quad_relu_expectations(a, b, rho)
    x = np.array([a, 0.0])
    z = np.array([b * rho, b * math.sqrt(1 - rho * rho)])
    assert ntk.nngp_fc(x[None], z[None], 1)[0, 0] == pytest.approx(relu, rel=1e-9, abs=1e-12)
    # Theta^1 = Sigma^0 SigmaDot^1 + Sigma^1
    assert ntk.ntk_fc(x[None], z[None], 1)[0, 0] == pytest.approx(a * b * rho * step + relu, rel=1e-9, abs=1e-12)


def test_arc_cosine_maps_monte_carlo():
    """Monte Carlo of 2 E[relu(u) relu(v)] with 2,000,000 samples, within 5 standard errors."""
    rng = np.random.default_rng(1)
    x, z = np.array([1.0, 0.5, -0.2]), np.array([0.3, -1.1, 0.8])
    w = rng.standard_normal((2_000_000, 3))
    prod = 2 * np.maximum(w @ x, 0) * np.maximum(w @ z, 0)
    se = prod.std() / math.sqrt(len(prod))
    assert abs(ntk.nngp_fc(x[None], z[None], 1)[0, 0] - prod.mean()) < 5 * se


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_ntk_fc_diagonal_symmetric_psd(depth):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 8)) * rng.uniform(0.2, 3.0, (40, 1))
    K = ntk.ntk_fc(X, X, depth)
    np.testing.assert_allclose(np.diag(K), (depth + 1) * (X**2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(ntk.nngp_fc(X, None, depth).diagonal(), (X**2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(K, K.T, rtol=0, atol=1e-12)
    assert np.linalg.eigvalsh(K).min() > -1e-9 * np.abs(K).max()


def test_ntk_fc_accepts_torch_and_zero_rows():
    X = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    X[2] = 0
    K = ntk.ntk_fc(X, X, 2)
    assert K.dtype == np.float64 and np.all(K[2] == 0) and np.isfinite(K).all()


def test_fc_bad_input_errors():
    X = np.ones((3, 4))
    with pytest.raises(ValueError, match="same feature shape"):
        ntk.ntk_fc(X, np.ones((2, 5)), 2)
    with pytest.raises(ValueError, match="finite"):
        ntk.ntk_fc(np.array([[1.0, np.nan]]), None, 2)
    with pytest.raises(ValueError, match="'depth' parameter"):
        ntk.nngp_fc(X, X, 0)
    with pytest.raises(ValueError, match="2-d"):
        ntk.ntk_fc(np.ones(4), None, 1)


# ---------------------------------------------------------------------------------------------
# CNTK
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [True, False])
@pytest.mark.parametrize("depth", [3, 5])
def test_cntk_matches_pixel_pair_loops(gap, depth):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 2, 4, 4))
    Z = rng.standard_normal((2, 2, 4, 4))
    X[1, :, 0, :] = 0  # a zero border row: zero-variance pixels must not give NaN
    for fix in (True, False):
        K = ntk.cntk(X, Z, depth, gap=gap, fix=fix)
        for i in range(len(X)):
            for j in range(len(Z)):
                ref = ref_cntk_pair(X[i], Z[j], depth, gap, fix)
                assert K[i, j] == pytest.approx(ref, rel=1e-8, abs=1e-12), (i, j, fix)


def test_cntk_normalisation_on_one_pixel_images():
    """Documented normalisation: on 1x1 images the 3x3 conv is the identity, so the CNTK (trained
    first and last layers) equals ntk_fc(depth - 1) / 9^(depth - 1), for GAP and vanilla alike."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 5, 1, 1))
    for depth in (2, 3, 6):
        expected = ntk.ntk_fc(X[:, :, 0, 0], None, depth - 1) / 9.0 ** (depth - 1)
        for gap in (True, False):
            # 1e-7: at rho = 1 (an image with itself) arccos turns a 1e-16 rounding into ~1e-8
            np.testing.assert_allclose(ntk.cntk(X, None, depth, gap=gap, fix=False), expected, rtol=1e-7)


def test_cntk_symmetric_blocks_psd_and_depths_in_one_pass():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((9, 1, 5, 5))
    many = ntk.cntk_depths(X, None, (3, 4, 5), gap=True, block_size=4)
    for depth, K in many.items():
        np.testing.assert_allclose(K, ntk.cntk(X, X.copy(), depth, gap=True), rtol=1e-12)
        np.testing.assert_allclose(K, K.T, rtol=1e-13)
        assert np.linalg.eigvalsh(K).min() > -1e-10 * np.abs(K).max()


def test_cntk_block_cache_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("PHENOMENA_CACHE", str(tmp_path))
    X = np.random.default_rng(6).standard_normal((7, 1, 4, 4))
    first = ntk.cntk(X, None, 3, block_size=3, cache_blocks=True)
    blocks = sorted((tmp_path / "ntk-blocks").glob("*/*.npy"))
    assert len(blocks) == 6  # 3 row blocks, upper triangle only
    # Poison one saved block: a resumed run must read it back instead of recomputing.
    np.save(blocks[0], np.full_like(np.load(blocks[0]), 123.0))
    resumed = ntk.cntk(X, None, 3, block_size=3, cache_blocks=True)
    assert (resumed == 123.0).sum() > 0 and np.isclose(resumed, first).sum() > 0


def test_cntk_bad_input_errors():
    X = np.ones((2, 1, 4, 4))
    with pytest.raises(ValueError, match="same feature shape"):
        ntk.cntk(X, np.ones((2, 3, 4, 4)), 3)
    with pytest.raises(ValueError, match="'depth' parameter"):
        ntk.cntk(X, None, 1)
    with pytest.raises(ValueError, match="fix=True"):
        ntk.cntk(X, None, 2, gap=True)
    with pytest.raises(ValueError, match="4-d"):
        ntk.cntk(np.ones((2, 16)), None, 3)
    with pytest.raises(ValueError, match="finite"):
        ntk.cntk(np.full((1, 1, 2, 2), np.inf), None, 3)


# ---------------------------------------------------------------------------------------------
# Finite networks: empirical NTK
# ---------------------------------------------------------------------------------------------


def test_structured_kernel_equals_torch_func_empirical_ntk():
    """NTKMLP.tangent_kernel (layer-wise formula) against the generic torch.func vjp/jvp kernel."""
    rng = np.random.default_rng(7)
    X, Z = rng.standard_normal((6, 5)), rng.standard_normal((3, 5))
    for out_dim in (1, 3):
        net = ntk.NTKMLP(5, 48, 2, out_dim=out_dim, seed=1)
        np.testing.assert_allclose(net.tangent_kernel(X, Z), ntk.empirical_ntk(net, X, Z), rtol=1e-10, atol=1e-12)
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16, 2))
    images = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    K = ntk.empirical_ntk(conv.double(), images)
    J = torch.autograd.functional.jacobian(lambda *p: torch.func.functional_call(
        conv, dict(zip([n for n, _ in conv.named_parameters()], p)), (images.double(),)), tuple(conv.parameters()))
    flat = torch.cat([j.reshape(3, 2, -1) for j in J], dim=2)  # (points, outputs, params)
    np.testing.assert_allclose(K, torch.einsum("iop,jop->ij", flat, flat).numpy() / 2, rtol=1e-10)


def test_empirical_ntk_error_scales_like_inverse_sqrt_width():
    """Depth 3, 8 unit-norm inputs in R^16 (seed 0), networks seeded 0..3 per width: the mean
    relative error times sqrt(width) stays in [1.5, 5.5] for widths 64..4096 (the paper's figure
    gives 0.38 x 8 = 3.0 and 0.055 x 64 = 3.5) and the log-log slope lies in [-0.65, -0.35]."""
    X = ntk.sphere_points(8, 16, seed=0)
    exact = ntk.ntk_fc(X, X, 3)
    means = {}
    for width in (64, 256, 1024, 4096):
        errs = [ntk.relative_error(ntk.NTKMLP(16, width, 3, seed=s).tangent_kernel(X), exact) for s in range(4)]
        means[width] = float(np.mean(errs))
    scaled = {w: e * math.sqrt(w) for w, e in means.items()}
    assert all(1.5 <= v <= 5.5 for v in scaled.values()), scaled
    slope = np.polyfit(np.log(list(means)), np.log(list(means.values())), 1)[0]
    assert -0.65 <= slope <= -0.35, (slope, means)


# ---------------------------------------------------------------------------------------------
# Kernel regression
# ---------------------------------------------------------------------------------------------


def test_kernel_regression_interpolates_and_matches_solve():
    rng = np.random.default_rng(8)
    X = ntk.sphere_points(30, 10, seed=1)
    y = rng.standard_normal((30, 2))
    K = ntk.ntk_fc(X, X, 2)
    assert np.linalg.cond(K) < 1e6  # well conditioned: distinct points on the sphere
    np.testing.assert_allclose(ntk.kernel_regression(K, y, K), y, atol=1e-8)
    Xs = ntk.sphere_points(5, 10, seed=2)
    Ks = ntk.ntk_fc(Xs, X, 2)
    lam = 0.1 * np.mean(np.diag(K))
    np.testing.assert_allclose(ntk.kernel_regression(K, y[:, 0], Ks, ridge=0.1),
                               Ks @ np.linalg.solve(K + lam * np.eye(30), y[:, 0]), rtol=1e-9)


def test_kernel_regression_singular_and_bad_input():
    K = np.ones((3, 3))  # rank one: Cholesky fails, least squares takes over
    pred = ntk.kernel_regression(K, np.array([1.0, 1.0, 1.0]), K)
    np.testing.assert_allclose(pred, 1.0, atol=1e-10)
    with pytest.raises(ValueError, match="'y_train'"):
        ntk.kernel_regression(np.eye(3), np.ones(4), np.eye(3))
    with pytest.raises(ValueError, match="'ridge'"):
        ntk.kernel_regression(np.eye(3), np.ones(3), np.eye(3), ridge=-1.0)
    with pytest.raises(ValueError, match="finite"):
        ntk.kernel_regression(np.full((2, 2), np.nan), np.ones(2), np.eye(2))


def test_gd_kernel_predictor_reaches_kernel_regression():
    X = ntk.sphere_points(12, 4, seed=3)
    y = np.sin(X[:, 0] * 3)
    K = ntk.ntk_fc(X, X, 1)
    np.testing.assert_allclose(ntk.gd_kernel_predictor(K, y, K, 10**9, ntk.stable_lr(K)),
                               ntk.kernel_regression(K, y, K), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Experiments: the phenomenon in the quick presets
# ---------------------------------------------------------------------------------------------

import engine  # noqa: E402
from engine import ConfigError  # noqa: E402


def test_quick_convergence_and_lazy_training():
    frame = engine.run("ntk.convergence")
    assert set(frame.columns) >= {"width", "seed", "rel_error", "scaled_error", "kernel_change"}
    means = frame.groupby("width").mean(numeric_only=True)
    assert means.rel_error.iloc[-1] < 0.5 * means.rel_error.iloc[0]  # widths 16 -> 512
    assert means.kernel_change.iloc[-1] < 0.4 * means.kernel_change.iloc[0]
    assert ntk.loglog_slope(frame, "kernel_change") < -0.25


def test_quick_curve_networks_approach_ntk_regression():
    frame = engine.run("ntk.curve")
    gaps = frame[frame.width > 0].groupby("width").distance.first()
    assert gaps.iloc[-1] < 0.05 and gaps.iloc[-1] < 0.5 * gaps.iloc[0], gaps
    kernel = frame[frame.model == "NTK regression"]
    assert np.sqrt(np.mean((kernel.prediction - kernel.target) ** 2)) < 0.5  # the kernel fits the curve


def test_quick_digits_agreement_grows_with_width():
    frame = engine.run("ntk.digits").sort_values("width")
    assert frame.rel_distance.iloc[-1] < 0.5 * frame.rel_distance.iloc[0]
    assert frame.agreement.iloc[-1] >= 0.95


def test_quick_classify_accuracy_and_paper_column():
    frame = engine.run("ntk.classify")
    assert (frame.accuracy > 0.85).all(), frame  # chance is 0.10
    assert frame.loc[(frame.kernel == "CNTK-V") & (frame.depth == 3), "paper_accuracy"].iloc[0] == pytest.approx(0.6447)
    gap = engine.run("ntk.classify", {"kernels": ["CNTK-GAP"], "depths": [3], "n_train": 60, "n_test": 60})
    assert gap.accuracy.iloc[0] > 0.7


def test_configs_reject_bad_values():
    with pytest.raises(ConfigError, match="The 'widths' parameter of ConvergenceConfig"):
        ntk.ConvergenceConfig(widths=(0, 64))
    with pytest.raises(ConfigError, match="The 'kernels' parameter of ClassifyConfig"):
        ntk.ClassifyConfig(kernels=("RBF",))
    with pytest.raises(ConfigError, match="The 'ridge' parameter of CurveConfig"):
        ntk.CurveConfig(ridge=float("nan"))
    with pytest.raises(ConfigError, match="at most"):
        engine.run("ntk.classify", {"n_train": 5000})


def test_classify_cifar_offline_is_a_clear_error(tmp_path, monkeypatch):
    from engine.core.data import DataUnavailable

    monkeypatch.setenv("PHENOMENA_DATA", str(tmp_path))
    with pytest.raises(DataUnavailable, match="CIFAR10"):
        ntk.load_images(ntk.ClassifyConfig(dataset="cifar10"))


def test_charts_render_with_axes_and_paper_marks():
    for name in ("ntk.convergence", "ntk.heatmap", "ntk.curve", "ntk.digits", "ntk.classify"):
        exp = engine.get_experiment(name)
        frame = engine.run(name)
        for which in exp.charts:
            spec = exp.chart(frame, which).to_dict()
            assert "title" in str(spec) and "tooltip" in str(spec)
    spec = str(engine.get_experiment("ntk.convergence").chart(engine.run("ntk.convergence")).to_dict())
    assert "'type': 'log'" in spec and "paper (Fig. 1, read off)" in spec and "1/sqrt(width)" in spec


# ---------------------------------------------------------------------------------------------
# Page
# ---------------------------------------------------------------------------------------------


def test_page_runs_with_defaults_and_changed_widgets():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../pages/ntk.py", default_timeout=90).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    at.select_slider(key="ntk_width").set_value(1024)
    at.slider(key="ntk_depth").set_value(1)
    at.slider(key="ntk_ntrain").set_value(12)
    at.select_slider(key="ntk_ridge").set_value(0.01)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
