"""Smoothing with Gaussian, Laplace and uniform noise: the samplers against their distributions,
each certified radius against half-spaces whose smoothed probability and true L1 distance are
known in closed form (exact on an axis-aligned one, sound and strictly loose on a diagonal one),
the same through Monte Carlo certification, training with each noise, and ``smoothing.noise``,
which reads its Gaussian rows from ``smoothing.certify``'s cache."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import engine
from engine.core.devices import torch_threads
from engine.core.validation import ConfigError
from engine.phenomena.smoothing import charts
from engine.phenomena.smoothing import models as md
from engine.phenomena.smoothing import noises as nz
from engine.phenomena.smoothing import science as sm

SIGMA = 0.5
#: Quick enough for a test (about 3 s of one core): one sigma, 20 test images, 5 epochs, n = 500.
SMALL = {"sigmas": (0.5,), "max_points": 20, "epochs": 5, "n": 500}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with torch_threads(1):
        yield


def _draws(noise: nz.Noise, count: int, seed: int = 0) -> np.ndarray:
    buffer = torch.empty(count, dtype=torch.float64)
    return noise.fill_(buffer, torch.Generator().manual_seed(seed)).numpy()


REFERENCE = {  # scipy's distribution of one coordinate at per-coordinate std SIGMA
    "gaussian": stats.norm(scale=SIGMA),
    "laplace": stats.laplace(scale=SIGMA / math.sqrt(2)),
    "uniform": stats.uniform(loc=-math.sqrt(3) * SIGMA, scale=2 * math.sqrt(3) * SIGMA),
}


@pytest.mark.parametrize("name", nz.NOISES)
def test_each_sampler_draws_its_distribution_at_the_stated_std(name):
    """200,000 draws: the sample std is within 1% of sigma (about 4 standard errors for Laplace,
    whose kurtosis is 6) and a Kolmogorov-Smirnov test against scipy's distribution passes at 1e-3."""
    noise = nz.make_noise(name, SIGMA)
    x = _draws(noise, 200_000)
    assert x.std() == pytest.approx(SIGMA, rel=0.01)
    assert abs(x.mean()) < 4 * SIGMA / math.sqrt(len(x))
    assert stats.kstest(x, REFERENCE[name].cdf).pvalue > 1e-3
    assert REFERENCE[name].std() == pytest.approx(SIGMA, rel=1e-12)  # scale <-> sigma conventions
    drawn = noise.draw((3, 4), torch.Generator().manual_seed(1), "cpu")
    assert drawn.shape == (3, 4) and drawn.dtype == torch.float32


def test_gaussian_is_the_papers_certificate_unchanged():
    g = nz.make_noise("gaussian", SIGMA)
    for p in (0.3, 0.5, 0.5 + 1e-9, 0.7, 0.99, 0.999999):
        assert g.radius(p) == sm.radius_from_probability(p, SIGMA)  # bit for bit
    assert (g.norm, g.scale) == ("l2", SIGMA)
    smooth = sm.Smooth(sm.Halfspace(np.ones(3), 0.1), 2, SIGMA)
    assert smooth.noise.name == "gaussian"
    assert sm.max_certifiable_radius(SIGMA, 1000, 0.001) == sm.radius_from_probability(
        0.001 ** (1 / 1000), SIGMA
    )
    # the training recipe's key (trained networks, checkpoint names) did not change for Gaussian noise
    assert "noise" not in dict(md.NoiseTraining().identity())
    assert md.NoiseTraining(noise="laplace").identity() != md.NoiseTraining().identity()


def _axis_probability(name: str, a: np.ndarray) -> np.ndarray:
    """Exact P(f(x + eps) = 1) for f(x) = 1[x_1 > 0] at x = (a, 0, ...), a >= 0: P(eps_1 > -a)."""
    return REFERENCE[name].sf(-a)


@pytest.mark.parametrize("name", nz.NOISES)
def test_each_radius_is_exact_on_an_axis_aligned_half_space(name):
    """f(x) = 1[x_1 > 0] is its own smoothed classifier and x = (a, 0, ...) is at L1 (and L2)
    distance a from its boundary: every radius equals a to 1e-9 relative (uniform: while
    a < lam; beyond, pA = 1 and the certificate stops at lam < a, sound but capped)."""
    noise = nz.make_noise(name, SIGMA)
    a = np.linspace(0.01, 1.5, 40) * SIGMA
    if name == "uniform":
        a = a[a < noise.scale]
    radii = np.array([noise.l1_radius(p) for p in _axis_probability(name, a)])
    np.testing.assert_allclose(radii, a, rtol=1e-9)
    if name == "uniform":
        beyond = np.array([1.0, 1.5, 3.0]) * noise.scale
        assert all(noise.radius(p) == pytest.approx(noise.scale) for p in _axis_probability(name, beyond))
    assert noise.radius(0.5) == 0.0 and noise.radius(0.2) == 0.0


def _diagonal_probability(name: str, m: np.ndarray) -> np.ndarray:
    """Exact P(eps_1 + eps_2 > -m), m >= 0, for two i.i.d. coordinates: the smoothed probability of
    f(x) = 1[x_1 + x_2 > 0] at a point with x_1 + x_2 = m, whose L1 distance to the boundary is m
    (|w|_inf = 1)."""
    if name == "gaussian":
        return stats.norm.cdf(m / (SIGMA * math.sqrt(2)))
    if name == "laplace":  # the sum of two Laplace(b) has tail exp(-m/b) (1 + m/(2b)) / 2
        b = SIGMA / math.sqrt(2)
        return 1 - 0.5 * np.exp(-m / b) * (1 + m / (2 * b))
    lam = math.sqrt(3) * SIGMA  # the sum of two U[-lam, lam] is triangular on [-2 lam, 2 lam]
    return 1 - (2 * lam - np.minimum(m, 2 * lam)) ** 2 / (8 * lam**2)


@pytest.mark.parametrize("name", nz.NOISES)
def test_each_radius_is_sound_and_loose_on_a_diagonal_half_space(name):
    """On f(x) = 1[x_1 + x_2 > 0] the worst L1 perturbation moves along one axis, which the noise
    sees only through one coordinate of the sum: every certificate stays below the true L1
    distance m, strictly (by more than 1e-3 sigma) once m >= 0.2 sigma; the closed forms are
    checked against 400,000 Monte Carlo draws through Smooth (4 binomial standard errors)."""
    noise = nz.make_noise(name, SIGMA)
    m = np.linspace(0.02, 2.0, 25) * SIGMA
    p = _diagonal_probability(name, m)
    radii = np.array([noise.l1_radius(q) for q in p])
    assert np.all(radii <= m * (1 + 1e-12))
    assert np.all((m - radii)[m >= 0.2 * SIGMA] > 1e-3 * SIGMA)
    base = sm.Halfspace(np.array([1.0, 1.0]), 0.0)
    smooth = sm.Smooth(base, 2, SIGMA, noise=name, input_shape=(2,), seed=3)
    n = 400_000
    for mi, pi in zip(m[::6], p[::6]):
        counts = smooth.sample_counts(np.array([mi, 0.0]), n, 50_000)
        assert abs(counts[1] / n - pi) < 4 * math.sqrt(pi * (1 - pi) / n) + 1e-12


@pytest.mark.parametrize("name", nz.NOISES)
def test_monte_carlo_certificates_are_sound_and_approach_the_exact_radius(name):
    """Smooth.certify (n = 100,000, alpha = 0.001) on the axis-aligned half-space: each certified
    L1 radius is at most the true distance a and at least the radius of pA minus 5 binomial
    standard errors (what the Clopper-Pearson bound costs at this n, about 3.1 of them)."""
    base = sm.Halfspace(np.array([1.0, 0.0, 0.0, 0.0]), 0.0)
    smooth = sm.Smooth(base, 2, SIGMA, noise=name, input_shape=(4,), seed=7)
    n = 100_000
    for a in np.array([0.1, 0.4, 0.8]) * SIGMA:
        prediction, radius = smooth.certify(np.array([a, 0.3, -0.2, 0.5]), 100, n, 0.001, 50_000)
        p = float(_axis_probability(name, np.array([a]))[0])
        assert prediction == 1
        assert radius <= a
        assert radius >= smooth.noise.radius(p - 5 * math.sqrt(p * (1 - p) / n))


def test_noise_arguments_fail_clearly():
    with pytest.raises(ConfigError, match="^The 'noise' parameter of make_noise must be one of 'gaussian'"):
        sm.Smooth(sm.Halfspace(np.ones(2), 0.0), 2, SIGMA, noise="cauchy")
    with pytest.raises(ConfigError, match="^The 'sigma' parameter of Laplace must be a float in"):
        nz.Laplace(0.0)
    with pytest.raises(ConfigError, match="^The 'noise' parameter of NoiseTraining must be one of"):
        md.NoiseTraining(noise="pink")
    with pytest.raises(
        ConfigError, match="^The 'noises' parameter of NoiseConfig must be a tuple of distinct"
    ):
        engine.run("smoothing.noise", {"noises": ("laplace", "laplace")})


@pytest.mark.parametrize("name", ("laplace", "uniform"))
def test_training_with_a_noise_uses_that_noise(name):
    """The same recipe trained with Gaussian and with another noise gives different networks, each
    reproducible from its seed (the noise generator is the recipe's)."""
    split = md.load_split("digits", 0)
    weights = {}
    for noise in ("gaussian", name, name):
        net = md.build_model("mlp", split, width=16, seed=0)
        settings = md.NoiseTraining(sigma=SIGMA, epochs=1, noise=noise)
        md.train_with_noise(net, split.X_train[:200], split.y_train[:200], settings)
        weights.setdefault(noise, []).append(next(net.parameters()).detach().clone())
    assert torch.equal(weights[name][0], weights[name][1])
    assert not torch.equal(weights[name][0], weights["gaussian"][0])


def test_noise_experiment_reads_its_gaussian_rows_from_certify(fresh_cache):
    """smoothing.noise composes smoothing.certify: its Gaussian rows are certify's (read through
    the cache, which it fills), the other noises' radii are L1 radii below their caps."""
    md.forget_trained_models()
    frame = engine.run("smoothing.noise", SMALL)
    cert_config = engine.get_experiment("smoothing.certify").config_cls(**SMALL)
    certify = engine.run("smoothing.certify", cert_config)
    assert certify.attrs["cache"] == "hit"  # stored by the noise run
    gauss = frame[frame["noise"] == "gaussian"].reset_index(drop=True)
    columns = ["index", "label", "prediction", "radius", "correct", "base_correct"]
    pd.testing.assert_frame_equal(gauss[columns], certify[columns])
    assert set(frame["noise"]) == set(nz.NOISES) and len(frame) == 3 * 20
    assert dict(frame.groupby("noise")["norm"].first()) == {
        "gaussian": "l2",
        "laplace": "l1",
        "uniform": "l1",
    }
    assert (frame["radius"] <= frame["cap"] + 1e-12).all()
    assert frame.loc[frame["noise"] != "gaussian", "correct"].mean() > 0.5  # digits at sigma 0.5
    again = engine.run("smoothing.noise", {**SMALL, "noises": ("gaussian",)})
    pd.testing.assert_frame_equal(again[columns], certify[columns])


def test_noise_chart_has_one_colour_per_distribution_and_a_panel_per_sigma():
    rng = np.random.default_rng(0)
    rows = [
        {"noise": noise, "sigma": s, "radius": r, "correct": True, "cap": 1.0, "dataset": "digits", "n": 100}
        for noise in nz.NOISES
        for s in (0.25, 0.5)
        for r in rng.random(5)
    ]
    spec = charts.noise_curves_chart(pd.DataFrame(rows)).to_dict()
    assert spec["facet"]["column"]["field"] == "sigma"
    assert spec["spec"]["encoding"]["color"]["scale"]["domain"] == list(nz.NOISES)
    assert "L1" in spec["spec"]["encoding"]["x"]["title"]
    curves = charts.noise_curves(pd.DataFrame(rows))
    assert curves.groupby(["noise", "sigma"])["certified_accuracy"].first().eq(1.0).all()  # radius 0
