"""Science checks for engine.double_descent (Heckel & Yilmaz, ICLR 2021) and its page.

Tolerances are stated where they are used; nothing here downloads data.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import engine
from engine.phenomena.double_descent import experiments as dd
from engine.phenomena.double_descent import charts
from engine.core.data import DataUnavailable
from engine.core.experiment import RunContext
from engine.core.validation import ConfigError

# --- linear model: closed form ----------------------------------------------------------------

S = np.array([1.0, 0.5, 0.2])
THETA = np.array([1.0, -2.0, 3.0])


def test_linear_risk_limits_and_components():
    """t = 0: risk = noise^2 + sum s^2 theta^2 (all bias); t -> inf: noise^2 (1 + d/n) (all variance)."""
    t = np.array([0.0, 1e9])
    for lr in (0.3, np.array([0.5, 2.0, 10.0])):  # both satisfy 0 < lr s^2 < 2
        c = dd.linear_risk(t, S, THETA, 0.7, 50, lr)
        np.testing.assert_allclose(c.risk[0], 0.49 + np.sum(S**2 * THETA**2), rtol=1e-12)
        np.testing.assert_allclose(c.bias[0], S**2 * THETA**2, rtol=1e-12)
        np.testing.assert_allclose(c.variance[0], 0.0, atol=1e-15)
        np.testing.assert_allclose(c.risk[1], 0.49 * (1 + 3 / 50), rtol=1e-9)
        np.testing.assert_allclose(c.risk, 0.49 + c.bias.sum(1) + c.variance.sum(1), rtol=1e-12)


def test_linear_risk_matches_reference_formula_elementwise():
    """An independent float64 loop over (t, i) of the paper's formula, tolerance 1e-12 relative."""
    t = np.array([0.0, 1.0, 7.0, 130.0])
    lr = np.array([0.1, 0.4, 3.0])
    c = dd.linear_risk(t, S, THETA, 1.3, 20, lr)
    for a, tt in enumerate(t):
        ref = 1.3**2
        for i in range(3):
            q = (1 - lr[i] * S[i] ** 2) ** tt
            ref += S[i] ** 2 * THETA[i] ** 2 * q**2 + 1.3**2 / 20 * (1 - q) ** 2
        assert c.risk[a] == pytest.approx(ref, rel=1e-12)


def test_gd_iterates_equal_an_explicit_gd_loop():
    """The eigenbasis solution equals 60 explicit steps w <- w - D (X^T X w - X^T y)/n to 1e-10."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2, 9, 3)) * S
    y = X @ THETA + 0.5 * rng.standard_normal((2, 9))
    lr = np.array([0.3, 0.5, 2.0])
    w, _ = dd._gd_iterates(X, y, lr, np.arange(60.0))
    for s in range(2):
        ref = np.zeros(3)
        for t in range(60):
            np.testing.assert_allclose(w[s, t], ref, atol=1e-10)
            ref = ref - lr * (X[s].T @ (X[s] @ ref - y[s])) / 9


def test_closed_form_equals_simulated_gd_mean_when_d_much_smaller_than_n():
    """d = 3, n = 2000, 400 seeds: |mean - closed form| <= 4 standard errors + 2% of the excess risk.

    The 2% covers the closed form's population-covariance approximation (error O(d/n) = 0.15%).
    """
    t = np.array([0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0, 10_000.0])
    for lr in (0.4, np.array([0.4, 1.6, 10.0])):
        sim, diverged = dd.simulate_linear_gd(t, S, THETA, 1.0, 2000, lr, seeds=400, seed=1)
        closed = dd.linear_risk(t, S, THETA, 1.0, 2000, lr).excess
        mean, se = sim.mean(0) - 1.0, sim.std(0, ddof=1) / np.sqrt(400)
        assert not diverged.any()
        assert np.all(np.abs(mean - closed) <= 4 * se + 0.02 * closed + 1e-12), (mean, closed, se)


# --- the quick linear case: the bump and its removal -------------------------------------------


@pytest.fixture(scope="module")
def linear_frame():
    return engine.run("double_descent.linear")


def test_quick_linear_one_step_size_shows_double_descent(linear_frame):
    """Margins: rise >= 10% of the early minimum; the final risk <= 80% of that minimum."""
    b = dd.linear_bumps(linear_frame)[dd.SAME]
    assert b.rise >= 0.1 * b.early_min
    assert b.final <= 0.8 * b.early_min
    assert b.early_min_at < b.peak_at < linear_frame["t"].max()


def test_quick_linear_scaled_steps_have_one_lower_minimum(linear_frame):
    """With lr_i proportional to 1/s_i^2: non-increasing then non-decreasing (1e-12), minimum below
    the one-step-size early minimum by at least 30%."""
    rows = linear_frame[(linear_frame.component == "risk") & (linear_frame.source == "closed form")]
    scaled = rows[rows.schedule == dd.SCALED]["value"].to_numpy()
    k = int(np.argmin(scaled))
    assert np.all(np.diff(scaled[: k + 1]) <= 1e-12) and np.all(np.diff(scaled[k:]) >= -1e-12)
    same = dd.linear_bumps(linear_frame)[dd.SAME]
    assert scaled[k] <= 0.7 * same.early_min


def test_quick_linear_simulation_shows_the_bump_too(linear_frame):
    """Sampled GD (20 seeds) also rises >= 10% after its early minimum and ends below it."""
    b = dd.linear_bumps(linear_frame, "simulated GD")[dd.SAME]
    assert b.rise >= 0.1 * b.early_min and b.final < b.early_min


def test_linear_frame_is_tidy_and_primitive(linear_frame):
    assert {"t", "schedule", "source", "component", "group", "value", "diverged", "scale_ratio", "n"} <= set(linear_frame)
    assert not linear_frame["diverged"].any()
    for col in linear_frame.columns:
        assert linear_frame[col].map(type).isin([int, float, bool, str, np.float64, np.int64, np.bool_]).all(), col


def test_bump_measure_on_known_shapes():
    """Down-up-down: rise 2, second descent 3; a U: its rise, no second descent; monotone: zeros."""
    t = np.arange(7.0)
    b = dd.bump(t, np.array([5.0, 3.0, 1.0, 2.0, 3.0, 1.0, 0.0]))
    assert (b.early_min, b.peak, b.rise, b.second_descent, b.peak_at) == (1.0, 3.0, 2.0, 3.0, 4.0)
    u = dd.bump(t, np.array([5.0, 3.0, 1.0, 2.0, 3.0, 4.0, 4.5]))
    assert (u.rise, u.second_descent, u.early_min) == (3.5, 0.0, 1.0)
    m = dd.bump(t, -t)
    assert m.rise == 0.0 and m.second_descent == 0.0


def test_paper_fig2_has_its_small_bump():
    """Fig. 2 (n = 10, stds (1, 0.15), theta (0.45, 3), lr 0.1): a bump of about 0.01 near t = 30,
    i.e. within the paper's 0.02-0.03 order; assert 0.005 < rise < 0.05 and the peak in [15, 100]."""
    f = dd.compute_linear(replace(dd.LINEAR_PAPER, sim_seeds=0), RunContext())
    b = dd.linear_bumps(f)[dd.SAME]
    assert 0.005 < b.rise < 0.05 and 15 <= b.peak_at <= 100 and b.second_descent > b.rise

def test_equal_scales_show_no_bump():
    """scale_ratio = 1 makes both groups one time scale: no rise beyond 1e-9 after the minimum ends it."""
    f = dd.compute_linear(replace(dd.LINEAR_QUICK, scale_ratio=1.0, sim_seeds=0, scaled=False), RunContext())
    b = dd.linear_bumps(f)[dd.SAME]
    assert b.second_descent <= 1e-9


# --- divergence and bad input -------------------------------------------------------------------


def test_diverging_step_size_is_flagged_not_nan():
    f = dd.compute_linear(replace(dd.LINEAR_QUICK, lr=2.5), RunContext())
    assert f["diverged"].all() and np.isfinite(f["value"]).all() and (f["value"].abs() <= dd.DIVERGENCE_CAP).all()
    assert "diverged" in dd.divergence_message(f)
    charts.linear_layers(f).to_dict()
    # a too-large scaling factor diverges only the scaled run: lr_slow s^2 = 0.1 * 1e4 / 400 = 2.5 > 2
    g = dd.compute_linear(replace(dd.LINEAR_QUICK, lr_factor=1e4, sim_seeds=0), RunContext())
    assert set(g.loc[g.diverged, "schedule"]) == {dd.SCALED}


@pytest.mark.parametrize("field, value, allowed", [
    ("n", 0, "an int in [1, 100000]"), ("noise_std", -0.5, "a float in [0, 100]"), ("lr", 0.0, "a float in (0, 100]"),
])
def test_linear_config_rejects_bad_values(field, value, allowed):
    with pytest.raises(ConfigError) as err:
        dd.LinearConfig(**{field: value})
    assert str(err.value) == f"The '{field}' parameter of LinearConfig must be {allowed}. Got {value!r} instead."


def test_science_functions_reject_bad_values():
    with pytest.raises(ConfigError, match="'n' parameter"):
        dd.linear_risk([0.0], S, THETA, 1.0, 0, 0.1)
    with pytest.raises(ConfigError, match="'noise_std' parameter"):
        dd.linear_risk([0.0], S, THETA, -1.0, 10, 0.1)
    with pytest.raises(ConfigError, match="'lr' parameter"):
        dd.simulate_linear_gd([0.0], S, THETA, 1.0, 10, [0.1, 0.2])


def test_network_divergence_gives_a_flagged_row():
    """lr = 50 on the MLP: the loss overflows; training stops with a diverged row (NaN measures)."""
    cfg = replace(dd.NETWORK_QUICK, lr=50.0, epochs=5, train_size=300, width=32)
    f = dd.compute_network(cfg, RunContext())
    assert f["diverged"].all() and np.isnan(f["test_error"].iloc[-1])
    charts.network_error(f).to_dict()


# --- networks -----------------------------------------------------------------------------------


def test_per_layer_step_sizes_reach_the_optimizer_as_param_groups():
    body, final = dd.make_cnn(4, in_channels=1)
    opt, sched = dd.make_optimizer(body, final, 0.1, 0.001, decay_iters=512)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["body"]["lr"] == 0.1 and groups["final"]["lr"] == 0.001
    assert {id(p) for p in groups["final"]["params"]} == {id(p) for p in final.parameters()}
    assert {id(p) for p in groups["body"]["params"]} == {id(p) for p in body.parameters()}
    assert all(g["momentum"] == 0 and g["weight_decay"] == 0 for g in opt.param_groups)
    x = torch.randn(4, 1, 8, 8)
    for _ in range(3):
        opt.zero_grad()
        final(body(x)).sum().backward()
        opt.step()
        sched.step()
    assert groups["final"]["lr"] == pytest.approx(0.001 / np.sqrt(1 + 3 / 512), rel=1e-12)
    assert groups["body"]["lr"] == pytest.approx(0.1 / np.sqrt(1 + 3 / 512), rel=1e-12)


def test_paper_cnn_architecture():
    body, final = dd.make_cnn(64)
    convs = [m for m in body if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512] and all(c.bias is not None for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in body) == 4
    assert final.in_features == 512 and final.out_features == 10
    assert final(body(torch.zeros(2, 3, 32, 32))).shape == (2, 10)


def test_symmetric_label_noise_is_seeded_random_and_exact():
    labels = np.repeat(np.arange(10), 100)
    a = dd.symmetric_label_noise(labels, 0.2, 10, seed=3)
    assert (a != labels).sum() == 200
    assert np.array_equal(a, dd.symmetric_label_noise(labels, 0.2, 10, seed=3))
    assert not np.array_equal(a, dd.symmetric_label_noise(labels, 0.2, 10, seed=4))
    pairs = pd.crosstab(labels[a != labels], a[a != labels])
    assert pairs.values.std() > 0  # not the reference code's fixed count per class pair


def test_random_crop_flip_is_a_shifted_possibly_flipped_copy():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    out = dd.random_crop_flip(x, 0, torch.Generator().manual_seed(0))
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    y = dd.random_crop_flip(x, 2, torch.Generator().manual_seed(1))
    assert y.shape == x.shape


def test_cifar10_offline_raises_data_unavailable():
    with pytest.raises(DataUnavailable):
        dd.load_classification_data(dd.NETWORK_PAPER)


def test_checkpointed_run_resumes_after_interruption():
    """Interrupt after epoch 2 of 4 (checkpoint every epoch); the rerun resumes and matches an
    uninterrupted run exactly (CPU, same seeds)."""
    cfg = dd.NetworkConfig(arch="mlp", width=16, epochs=4, train_size=200, checkpoint_every=1, lr=0.1)

    class Stop(Exception):
        pass

    def stop_at_2(fraction, message):
        if message.startswith("epoch 2/"):
            raise Stop

    with pytest.raises(Stop):
        dd.train_classifier(cfg, RunContext(progress=stop_at_2))
    progress = dd.read_progress(cfg)
    assert list(progress["epoch"]) == [1, 2]
    seen = []
    resumed = dd.train_classifier(cfg, RunContext(progress=lambda f, m: seen.append(m)))
    assert seen[0] == "epoch 3/4"
    straight = dd.train_classifier(replace(cfg, checkpoint_every=0), RunContext())
    pd.testing.assert_series_equal(resumed["test_error"], straight["test_error"])
    assert list(dd.read_progress(cfg)["epoch"]) == [1, 2, 3, 4]


@pytest.fixture(scope="module")
def network_frames():
    return engine.run(dd.NETWORK_NAME), engine.run(dd.NETWORK_NAME, preset="quick-scaled")


def test_quick_network_bump_with_base_steps_and_not_with_small_final_layer(network_frames):
    """Smoothed (9-epoch) test error. Base: rise >= 0.05 and second descent >= 0.03 (error fractions).
    Final layer x0.01: second descent <= 0.02, and its minimum is below the base early minimum."""
    base, scaled = (dd.network_bump(f) for f in network_frames)
    assert base.rise >= 0.05 and base.second_descent >= 0.03, base
    assert scaled.second_descent <= 0.02, scaled
    assert scaled.minimum < base.early_min


def test_two_layer_bump_and_its_removal():
    """Fig. 3 (quick: 600 steps). Same step size: L1 risk rises >= 0.5 after its early minimum and
    falls >= 0.5 again; small first-layer step: no rise above 0.1."""
    f = engine.run("double_descent.two_layer")
    same, scaled = dd._two_layer_bump(f, dd.SAME), dd._two_layer_bump(f, dd.SCALED)
    assert same.rise >= 0.5 and same.second_descent >= 0.5, same
    assert scaled.rise <= 0.1, scaled
    charts.two_layer_risk(f).to_dict()


def test_random_features_peak_at_interpolation_threshold():
    f = engine.run("double_descent.width")
    rf = f[f.metric == "test MSE"].set_index("width")["value"]
    assert rf.idxmax() == 100  # n = 100
    assert rf[100] > 3 * rf[1000] and rf[100] > 3 * rf[20]


# --- claims and charts ------------------------------------------------------------------------------


def test_claims_hold_on_quick_presets(linear_frame, network_frames):
    frames = {"double_descent.linear": linear_frame, (dd.NETWORK_NAME, "quick"): network_frames[0],
              (dd.NETWORK_NAME, "quick-scaled"): network_frames[1]}
    for exp in (engine.get_experiment("double_descent.linear"), engine.get_experiment(dd.NETWORK_NAME)):
        for claim in exp.claims:
            frame = frames.get(exp.name) if exp.name in frames else frames[(exp.name, claim.preset)]
            value = claim.measure(frame)
            assert claim.holds(value), (claim.id, value)


def test_charts_render(linear_frame, network_frames):
    spec = charts.linear_layers(linear_frame).to_dict()
    assert spec["facet"]["column"]["field"] == "schedule"
    assert charts.linear_risk_compare(linear_frame).to_dict()["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    both = pd.concat(network_frames)
    assert "layer" in charts.network_error(both).to_dict()
    charts.network_train(both).to_dict()
    cifar = both.assign(dataset="cifar10")
    assert len(charts.network_error(cifar).to_dict()["layer"]) == 3  # + paper reference points


# --- the page ---------------------------------------------------------------------------------------


PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "double_descent.py")


def _page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(PAGE, default_timeout=60)


def test_page_defaults_and_widgets():
    at = _page().run()
    assert not at.exception and not at.error
    at.slider(key="dd_ratio").set_value(5.0).run()
    assert not at.exception and not at.error
    at.toggle(key="dd_scaled").set_value(False).run()
    assert not at.exception and not at.error


def test_page_reports_divergence():
    at = _page().run()
    at.select_slider(key="dd_factor").set_value("10000").run()
    assert not at.exception
    assert any("diverged" in e.value for e in at.error)


@pytest.mark.parametrize("view", ["Two-layer network", "Classifier with label noise", "Width (model-wise)"])
def test_page_other_views(view):
    at = _page()
    at.query_params["dd_view"] = view
    at.run()
    assert not at.exception and not at.error


def test_page_paper_scale_shows_missing_data_and_in_progress_runs():
    """Paper scale offline: the DataUnavailable message; with a history.json of a running paper
    job, its curve is drawn instead."""
    at = _page()
    at.query_params["dd_view"] = "Classifier with label noise"
    at.session_state["lab_scale"] = "paper"
    at.run()
    assert not at.exception and any("CIFAR10" in x.value for x in at.warning)
    folder = dd.checkpoint_dir(dd.NETWORK_PAPER)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"epoch": e, "test_error": 0.3 - 0.01 * e, "test_loss": 1.0, "train_error": 0.5, "train_loss": 1.0,
             "lr_final": 0.1, "diverged": False} for e in range(1, 6)]
    (folder / "history.json").write_text(__import__("json").dumps({"epoch": 5, "done": False, "rows": rows}))
    progress = dd.paper_progress()
    assert list(progress["epoch"]) == [1, 2, 3, 4, 5] and (progress["dataset"] == "cifar10").all()
    at.run()
    assert not at.exception and any("as far as they got" in h.value for h in at.subheader)


def test_ff_large_lr_splits_conv_weights_from_batchnorm():
    """The paper's third run: conv layers at 0.05, BatchNorm at 0.1, final layer at 0.2."""
    body, final = dd.make_cnn(4, in_channels=1)
    groups = {g["name"]: g for g in dd.layer_param_groups(body, final, 0.1, 0.2, weights_lr=0.05)}
    assert (groups["body"]["lr"], groups["norm"]["lr"], groups["final"]["lr"]) == (0.05, 0.1, 0.2)
    norm_ids = {id(p) for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert {id(p) for p in groups["norm"]["params"]} == norm_ids and norm_ids
    conv_ids = {id(p) for m in body.modules() if isinstance(m, torch.nn.Conv2d) for p in m.parameters()}
    assert {id(p) for p in groups["body"]["params"]} == conv_ids
    paper = {(c.final_lr_scale, c.conv_lr_scale) for c in dd._network_paper_grid()}
    assert paper == {(1.0, 1.0), (0.01, 1.0), (2.0, 0.5)}
