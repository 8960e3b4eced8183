"""Randomized smoothing experiments (Cohen, Rosenfeld, Kolter, ICML 2019): presets, sweeps and the
registry entries.

``smoothing.toy`` and ``smoothing.linear`` (no data set) are computed in :mod:`.toy`;
``smoothing.certify``, ``smoothing.grid`` and ``smoothing.attack`` (digits quick, CIFAR-10 paper
scale) in :mod:`.certify`; their claims are in :mod:`.claims`. The science is in :mod:`.science`
(the certificate) and :mod:`.models` (networks, noise training, the attack).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from engine.core.devices import on_small_model_threads
from engine.core.experiment import Experiment
from engine.phenomena.smoothing import claims as cl
from engine.phenomena.smoothing.certify import (
    AttackConfig,
    CertifyConfig,
    GridConfig,
    compute_attack,
    compute_certify,
    compute_grid,
    estimate_attack,
    estimate_certify,
    estimate_grid,
)
from engine.phenomena.smoothing.compare_noises import NoiseConfig, compute_noise, estimate_noise
from engine.phenomena.smoothing.paper import PAPER_CIFAR10
from engine.phenomena.smoothing.toy import (
    LinearConfig,
    ToyConfig,
    compute_linear,
    compute_toy,
    estimate_linear,
    estimate_toy,
)

__all__ = [
    "AttackConfig",
    "CertifyConfig",
    "GridConfig",
    "LinearConfig",
    "NoiseConfig",
    "ToyConfig",
    "EXPERIMENTS",
]

# --------------------------------------------------------------------------- tables, presets, sweeps


def _chart(name: str):
    """A chart of :mod:`charts`, imported on first use (altair is not needed to compute)."""

    def draw(frame: pd.DataFrame):
        from engine.phenomena.smoothing import charts

        return getattr(charts, name)(frame)

    return draw


def paper_vs_ours(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's CIFAR-10 table beside ours: one row per (sigma, radius) of the paper's table,
    with ``ours`` NaN where our frame (None: not computed) has no such sigma."""
    from engine.phenomena.smoothing.readouts import certified_accuracy

    rows = []
    for sigma, table in PAPER_CIFAR10.items():
        ours = frame[np.isclose(frame["sigma"], sigma)] if frame is not None else ()
        values = certified_accuracy(ours, list(table)) if len(ours) else [float("nan")] * len(table)
        for (radius, paper), value in zip(table.items(), values):
            rows.append({"sigma": sigma, "radius": radius, "paper": paper, "ours": float(value)})
    return pd.DataFrame(rows)


def _digits_only(config: Any) -> bool:
    """The digits MLPs (and the small Fashion-MNIST CNN) run on one torch thread on a CPU (two
    OpenMP threads on a busy 2-core machine made a first view 3x slower, measured); CIFAR-10
    ResNets keep torch's default."""
    return config.dataset != "cifar10"


PAGE_SIGMAS = (0.05, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0)  # the page's sigma slider
PAGE_N = (100, 1000, 10_000, 100_000)  # the page's n slider
PAGE_ALPHA = (0.1, 0.01, 0.001, 0.0001)  # the page's alpha slider
PAGE_N0 = (10, 100, 1000)  # the page's n0 slider

TOY_PRESETS = {"quick": ToyConfig(), "paper": ToyConfig(n=100_000)}
CIFAR = {
    "dataset": "cifar10",
    "model": "resnet110",
    "epochs": 90,
    "train_batch": 400,
    "lr": 0.1,
    "lr_step": 30,
}
#: Real images on a CPU: Fashion-MNIST through the paper preset's code path (only the data set and
#: a small CNN differ), sized for about 10 minutes on the 2-core machine.
FASHION = {
    "dataset": "fashion_mnist",
    "model": "cnn",
    "epochs": 1,
    "train_batch": 128,
    "lr": 0.01,  # 0.05 collapsed the sigma = 1 network to one class in one epoch (measured)
    "lr_step": 1,
}
CERTIFY_PRESETS = {
    "quick": CertifyConfig(sigmas=(0.12, 0.25, 0.5, 1.0)),
    "paper": CertifyConfig(sigmas=(0.12, 0.25, 0.5, 1.0), n=100_000, skip=20, max_points=0, **CIFAR),
    "real": CertifyConfig(sigmas=(0.12, 0.25, 0.5, 1.0), n=10_000, skip=400, max_points=0, **FASHION),
}
ATTACK_PRESETS = {
    "quick": AttackConfig(),
    "paper": AttackConfig(
        sigma=0.25,
        num_points=100,
        skip=100,
        n=100_000,
        samples=16,
        **{k: v for k, v in CIFAR.items() if k != "lr"},
    ),
}
LINEAR_PRESETS = {
    "quick": LinearConfig(),
    "paper": LinearConfig(ns=(100, 1000, 10_000, 100_000, 1_000_000), num_points=32),
}
NOISE_PRESETS = {  # the certify presets' fields: the Gaussian rows are smoothing.certify's own entries
    "quick": NoiseConfig(sigmas=CERTIFY_PRESETS["quick"].sigmas),
    "paper": NoiseConfig(sigmas=CERTIFY_PRESETS["paper"].sigmas, n=100_000, skip=20, max_points=0, **CIFAR),
}
GRID_PRESETS = {
    "quick": GridConfig(),
    "paper": GridConfig(n=100_000, skip=20, max_points=0, batch_size=1000, **CIFAR),
    "real": GridConfig(n=1000, skip=400, max_points=0, **FASHION),
}
FASHION_SETUP = (
    "Fashion-MNIST (60,000 train), small CNN (conv 8-16, 0.6 MFLOP) trained 1 epoch per sigma with "
    "noise at that sigma"
)


def _one_at_a_time(base: Any, options: dict[str, tuple]) -> list:
    """The base config plus every config that moves one field to one of its options."""
    grid = [base]
    for name, values in options.items():
        grid += [replace(base, **{name: v}) for v in values if v != getattr(base, name)]
    return grid


def _page_options(with_sigma: bool) -> dict[str, tuple]:
    """The page's slider grids (sigma for the toy; the train-noise toggle for certification)."""
    options = {"n": PAGE_N, "alpha": PAGE_ALPHA, "n0": PAGE_N0}
    return {"sigma": PAGE_SIGMAS, **options} if with_sigma else {**options, "train_noise": (True, False)}


EXPERIMENTS = (
    Experiment(
        name="smoothing.toy",
        title="Randomized smoothing in 2-D: base regions, smoothed regions, certified circles",
        config_cls=ToyConfig,
        compute=on_small_model_threads(compute_toy),
        presets=TOY_PRESETS,
        version=1,
        charts={"regions": _chart("toy_regions")},
        description="An over-fitted network on two moons and its Gaussian-smoothed version; each test point "
        "certified with n samples is drawn with its certified L2 ball.",
        sweeps={"quick": lambda: _one_at_a_time(TOY_PRESETS["quick"], _page_options(True))},
        claims=cl.CLAIMS_TOY,
        setups={
            "quick": "two moons (200 train, 24 test points), 2-64-64-2 MLP over-fitted, n = 10,000",
            "paper": "the same toy with n = 100,000 (the paper has no toy)",
        },
        estimate=estimate_toy,
    ),
    Experiment(
        name="smoothing.certify",
        title="Certified accuracy against L2 radius for several sigmas",
        config_cls=CertifyConfig,
        compute=on_small_model_threads(compute_certify, when=_digits_only),
        presets=CERTIFY_PRESETS,
        version=1,
        charts={"curves": _chart("accuracy_curves_chart"), "paper": _chart("paper_curves_chart")},
        description="Base classifiers trained with Gaussian noise at each sigma, smoothed and certified "
        "(n0 selection samples, n estimation samples, level alpha) on every skip-th test input.",
        sweeps={"quick": lambda: _one_at_a_time(CERTIFY_PRESETS["quick"], _page_options(False))},
        claims=cl.CLAIMS_CERTIFY,
        setups={
            "quick": "digits 8x8, MLP 64-64 trained 30 epochs per sigma, 100 test images, n = 10,000",
            "paper": "CIFAR-10, ResNet-110 trained 90 epochs per sigma, 500 test images, n = 100,000",
            "real": FASHION_SETUP + ", every 400th test image (25), n = 10,000",
        },
        estimate=estimate_certify,
    ),
    Experiment(
        name="smoothing.attack",
        title="Empirical (PGD) robustness radius against the certified radius",
        config_cls=AttackConfig,
        compute=on_small_model_threads(compute_attack, when=_digits_only),
        presets=ATTACK_PRESETS,
        version=1,
        charts={"radii": _chart("attack_chart")},
        description="Smallest L2 PGD radius that changes the base and the smoothed prediction, beside the "
        "certified radius of the smoothed classifier.",
        claims=cl.CLAIMS_ATTACK,
        setups={
            "quick": "digits, MLP 64-64 at sigma 0.5, 40 test images, PGD 20 steps x 7 bisections",
            "paper": "CIFAR-10, ResNet-110 at sigma 0.25, 100 test images, PGD 20 steps x 7 bisections",
        },
        estimate=estimate_attack,
    ),
    Experiment(
        name="smoothing.linear",
        title="A linear base classifier: the certified radius is exact",
        config_cls=LinearConfig,
        compute=on_small_model_threads(compute_linear),
        presets=LINEAR_PRESETS,
        version=1,
        charts={"radii": _chart("linear_chart"), "gap": _chart("linear_gap_chart")},
        description="f(x) = 1[w.x + b > 0] is its own smoothed classifier, and sigma Phi^-1(pA) equals the "
        "distance |w.x + b| / |w| to its boundary: the certificate approaches it as n grows. A quadrant "
        "base (two half-spaces) shows a sound but loose certificate.",
        sweeps={
            "quick": lambda: [LINEAR_PRESETS["quick"], replace(LINEAR_PRESETS["quick"], base="quadrant")]
        },
        claims=cl.CLAIMS_LINEAR,
        setups={
            "quick": "a half-space in 10-D, 16 points up to 3 sigma, n = 100 ... 100,000",
            "paper": "a half-space in 10-D, 32 points, n = 100 ... 1,000,000 (the theorem: exact)",
        },
        estimate=estimate_linear,
    ),
    Experiment(
        name="smoothing.noise",
        title="Gaussian, Laplace and uniform noise: certified accuracy against L1 radius",
        config_cls=NoiseConfig,
        compute=on_small_model_threads(compute_noise, when=_digits_only),
        presets=NOISE_PRESETS,
        version=1,
        charts={"curves": _chart("noise_curves_chart")},
        description="An extension: each base classifier is trained and smoothed with one distribution of the "
        "same per-coordinate std; Laplace and uniform certify L1 balls (Teng et al. 2020, Yang et al. 2020), "
        "and a Gaussian L2 radius is an L1 radius too. The Gaussian rows are smoothing.certify's result.",
        setups={
            "quick": "digits 8x8, MLP 64-64 trained 30 epochs per (noise, sigma), 100 test images, n = 10,000",
            "paper": "CIFAR-10, ResNet-110 trained 90 epochs per (noise, sigma), 500 test images, n = 100,000",
        },
        estimate=estimate_noise,
    ),
    Experiment(
        name="smoothing.grid",
        title="Which noise to train with: training sigma x certification sigma",
        config_cls=GridConfig,
        compute=on_small_model_threads(compute_grid, when=_digits_only),
        presets=GRID_PRESETS,
        version=1,
        charts={"grid": _chart("grid_chart")},
        description="A base trained at each training sigma (0 = clean) is smoothed at each certification "
        "sigma; each cell shows the average certified radius (wrong or abstained inputs count 0).",
        claims=cl.CLAIMS_GRID,
        setups={
            "quick": "digits 8x8, MLP 64-64, 5 trainings x 4 sigmas, 50 test images, n = 1,000",
            "paper": "CIFAR-10, ResNet-110, 5 trainings x 4 sigmas, 500 test images, n = 100,000",
            "real": FASHION_SETUP.replace("per sigma with noise at that sigma", "at 5 training sigmas")
            + " x 4 certification sigmas, 25 test images, n = 1,000",
        },
        estimate=estimate_grid,
    ),
)
