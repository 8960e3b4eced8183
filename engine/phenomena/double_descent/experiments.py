"""Registered double-descent experiments: Configs, compute functions, presets, claims, EXPERIMENTS.

The science lives in :mod:`.science` (numpy) and :mod:`.science_network` (torch); the paper's
numbers in :mod:`.paper`; frame readers (bumps, divergence, instabilities) in :mod:`.readouts`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core import cache
from engine.core.devices import torch_threads
from engine.core.experiment import Experiment, RunContext, config_to_dict
from engine.phenomena.double_descent import charts, paper
from engine.phenomena.double_descent import science_network as net
from engine.phenomena.double_descent.claims import CLAIMS
from engine.phenomena.double_descent.configs import (  # noqa: F401 (DATASETS: re-exported for pages)
    DATASETS,
    LinearConfig,
    NetworkConfig,
    TwoLayerConfig,
    WidthConfig,
    estimate_linear,
    estimate_network,
    estimate_two_layer,
    estimate_width,
)
from engine.phenomena.double_descent.science import (
    DIVERGENCE_CAP,
    SAME,
    SCALED,
    diverging_features,
    linear_risk,
    log_time_grid,
    random_features_risk,
    simulate_linear_gd,
    smooth,
)

# ---------------------------------------------------------------------------------------------
# Linear model
# ---------------------------------------------------------------------------------------------


def _finite_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows past divergence (non-finite or above :data:`DIVERGENCE_CAP`)."""
    ok = np.isfinite(frame["value"]) & (frame["value"].abs() <= DIVERGENCE_CAP)
    return frame[ok]


def _closed_form_rows(config: LinearConfig, t: np.ndarray, schedule: str, lr: np.ndarray) -> pd.DataFrame:
    """Tidy rows of the closed form: risk, and bias/variance per group and in total."""
    m = config.model()
    curves = linear_risk(t, m.feature_std, m.theta, config.noise_std, config.n, lr)
    parts = {("risk", "all"): curves.excess}
    for name, mask in (("fast", ~m.slow), ("slow", m.slow)):
        parts[("bias", name)] = curves.bias[:, mask].sum(axis=1)
        parts[("variance", name)] = curves.variance[:, mask].sum(axis=1)
    parts[("bias", "all")] = curves.bias.sum(axis=1)
    parts[("variance", "all")] = curves.variance.sum(axis=1)
    out = pd.concat(
        [
            pd.DataFrame({"t": t, "component": comp, "group": group, "value": values, "value_se": 0.0})
            for (comp, group), values in parts.items()
        ],
        ignore_index=True,
    )
    return out.assign(
        source="closed form", schedule=schedule, diverged=bool(diverging_features(m.feature_std, lr).any())
    )


def _simulated_rows(config: LinearConfig, t: np.ndarray, schedule: str, lr: np.ndarray) -> pd.DataFrame:
    """Mean and standard error over ``sim_seeds`` sampled training sets of the excess risk."""
    m = config.model()
    risk, diverged = simulate_linear_gd(
        t, m.feature_std, m.theta, config.noise_std, config.n, lr, seeds=config.sim_seeds, seed=config.seed
    )
    excess = risk - config.noise_std**2
    with np.errstate(invalid="ignore", over="ignore"):
        mean = excess.mean(axis=0)
        se = excess.std(axis=0, ddof=1) / math.sqrt(config.sim_seeds) if config.sim_seeds > 1 else 0.0 * mean
    return pd.DataFrame(
        {
            "t": t,
            "component": "risk",
            "group": "all",
            "value": mean,
            "value_se": se,
            "source": "simulated GD",
            "schedule": schedule,
            "diverged": bool(diverged.any()),
        }
    )


def compute_linear(config: LinearConfig, ctx: RunContext) -> pd.DataFrame:
    """Excess risk, bias and variance over log-spaced time for one and (optionally) scaled step sizes.

    Columns: t, schedule, source ("closed form" / "simulated GD"), component ("risk", "bias",
    "variance"), group ("all", "fast", "slow"), value (excess risk units), value_se, diverged,
    lr_slow (the slow group's step size), and the config's swept fields.  Rows past divergence
    are dropped; the run's rows keep ``diverged = True``.
    """
    m = config.model()
    t = log_time_grid(config.t_max, config.points)
    schedules = [(SAME, m.lr(False))] + ([(SCALED, m.lr(True))] if config.scaled else [])
    frames = []
    for i, (schedule, lr) in enumerate(schedules):
        ctx.report(i / len(schedules), schedule)
        lr_slow = float(lr[m.slow][0])
        frames.append(_finite_rows(_closed_form_rows(config, t, schedule, lr)).assign(lr_slow=lr_slow))
        if config.sim_seeds > 0:
            frames.append(_finite_rows(_simulated_rows(config, t, schedule, lr)).assign(lr_slow=lr_slow))
    frame = pd.concat(frames, ignore_index=True)
    for name in ("n", "noise_std", "scale_ratio", "lr", "lr_factor"):
        frame[name] = getattr(config, name)
    ctx.report(1.0, "done")
    return frame


# ---------------------------------------------------------------------------------------------
# Two-layer network of Fig. 3
# ---------------------------------------------------------------------------------------------


def compute_two_layer(config: TwoLayerConfig, ctx: RunContext) -> pd.DataFrame:
    """Both runs of Fig. 3: the same step size for both layers, and a small first-layer step size.

    Columns: step, l1_risk, mse_risk, train_loss, diverged, schedule, lr_first, lr_second, hidden,
    noise_std (risks in the label's units).
    """
    runs = ((SAME, config.lr_second), (SCALED, config.lr_first_scaled))
    frames = []
    for i, (schedule, lr_first) in enumerate(runs):
        progress = lambda f, m, i=i: ctx.report((i + f) / len(runs), m)  # noqa: E731
        with torch_threads(net.small_model_threads(ctx.device)):
            run = net.train_two_layer(config, lr_first, ctx.device, progress, schedule)
        frames.append(run.assign(schedule=schedule, lr_first=lr_first))
    frame = pd.concat(frames, ignore_index=True)
    return frame.assign(lr_second=config.lr_second, hidden=config.hidden, noise_std=config.noise_std)


# ---------------------------------------------------------------------------------------------
# Classifiers with label noise
# ---------------------------------------------------------------------------------------------

NETWORK_NAME = "double_descent.network"
NETWORK_VERSION = 3  # 2: conv_lr_scale (ff_large_lr); 3: lr_final logs the final layer with three groups


def checkpoint_dir(config: NetworkConfig) -> Path:
    """Where a run keeps ``checkpoint.pt`` and ``history.json``: one folder per config key."""
    key = cache.entry_key(NETWORK_NAME, NETWORK_VERSION, config_to_dict(config))
    return cache.lab_folder("double_descent-checkpoints") / key


def _with_config_columns(frame: pd.DataFrame, config: NetworkConfig) -> pd.DataFrame:
    """Add the swept config fields (dataset, arch, width, label_noise, lr, final_lr_scale) and ``run``."""
    for name in ("dataset", "arch", "width", "label_noise", "lr", "final_lr_scale"):
        frame[name] = getattr(config, name)
    frame["run"] = f"final layer x{config.final_lr_scale:g}"
    return frame


def train_classifier(config: NetworkConfig, ctx: RunContext) -> pd.DataFrame:
    """:func:`.science_network.train_classifier` checkpointing under :func:`checkpoint_dir`, with
    the config's columns."""
    folder = checkpoint_dir(config) if config.checkpoint_every else None
    frame = net.train_classifier(config, ctx.device, ctx.report, folder, {"config": config_to_dict(config)})
    return _with_config_columns(frame, config)


def read_progress(config: NetworkConfig) -> pd.DataFrame | None:
    """The per-epoch history a (possibly still running) checkpointed run has written so far, or None."""
    frame = net.read_history(checkpoint_dir(config))
    return None if frame is None else _with_config_columns(frame, config)


def compute_network(config: NetworkConfig, ctx: RunContext) -> pd.DataFrame:
    """One classifier run plus ``test_error_smooth`` (9-point average, as the paper smooths its curves)."""
    with torch_threads(net.small_model_threads(ctx.device, config.dataset)):
        frame = train_classifier(config, ctx)
    frame["test_error_smooth"] = smooth(frame["test_error"].to_numpy(), 9)
    return frame


# ---------------------------------------------------------------------------------------------
# Model-wise double descent (extension)
# ---------------------------------------------------------------------------------------------


def compute_width(config: WidthConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows (model, width, metric, value, value_se): RF test MSE per width, network final test error."""
    risk = random_features_risk(
        config.widths,
        n=config.n,
        d=config.d,
        noise_std=config.noise_std,
        seeds=config.rf_seeds,
        seed=config.seed,
    )
    se = risk.std(axis=0, ddof=1) / math.sqrt(config.rf_seeds) if config.rf_seeds > 1 else 0.0
    frames = [
        pd.DataFrame(
            {
                "model": "random features (min-norm)",
                "width": list(config.widths),
                "metric": "test MSE",
                "value": risk.mean(axis=0),
                "value_se": se,
            }
        )
    ]
    if config.network:
        for i, w in enumerate(config.network_widths):
            ctx.report(i / len(config.network_widths), f"network width {w}")
            cfg = NetworkConfig(
                width=w, epochs=config.network_epochs, label_noise=config.label_noise, seed=config.seed
            )
            with torch_threads(net.small_model_threads(ctx.device, cfg.dataset)):
                hist = train_classifier(cfg, RunContext(ctx.device))
            last = hist.dropna(subset=["test_error"])
            frames.append(
                pd.DataFrame(
                    {
                        "model": "MLP on digits (end of training)",
                        "width": [w],
                        "metric": "test error",
                        "value": [float(last["test_error"].iloc[-1]) if len(last) else float("nan")],
                        "value_se": [0.0],
                    }
                )
            )
    out = pd.concat(frames, ignore_index=True)
    ctx.report(1.0, "done")
    return out.assign(n=config.n, noise_std=config.noise_std, label_noise=config.label_noise)


# ---------------------------------------------------------------------------------------------
# Paper-scale helpers for the page
# ---------------------------------------------------------------------------------------------


def paper_data_message() -> str | None:
    """None when CIFAR-10 is on disk, else the :class:`engine.core.data.DataUnavailable` message."""
    from engine.core import data

    try:
        data.torchvision_images("cifar10", train=False, limit=1)
    except data.DataUnavailable as err:
        return str(err)
    return None


def paper_progress() -> pd.DataFrame | None:
    """The histories of the paper's CIFAR-10 runs written so far (finished or in progress), or None."""
    frames = [f for f in (read_progress(c) for c in _network_paper_grid()) if f is not None]
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    out["test_error_smooth"] = out.groupby("run")["test_error"].transform(lambda v: smooth(v.to_numpy(), 9))
    return out


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------

LINEAR_QUICK = LinearConfig()
LINEAR_PAPER = LinearConfig(
    n=paper.FIG2["n"],
    noise_std=paper.FIG2["noise_std"],
    d_fast=1,
    d_slow=1,
    scale_ratio=1 / paper.FIG2["feature_std"][1],
    signal_fast=paper.FIG2["theta"][0] ** 2,
    signal_slow=(paper.FIG2["feature_std"][1] * paper.FIG2["theta"][1]) ** 2,
    lr=paper.FIG2["lr"],
    lr_factor=paper.FIG2["lr_factor"],
    t_max=100_000,
    points=400,
    sim_seeds=200,
)
TWO_LAYER_QUICK = TwoLayerConfig(steps=600, points=80)
TWO_LAYER_PAPER = TwoLayerConfig(n_test=100, steps=50_000, points=200)
NETWORK_QUICK = NetworkConfig()
NETWORK_QUICK_SCALED = replace(NETWORK_QUICK, final_lr_scale=0.01)
NETWORK_PAPER = NetworkConfig(
    dataset="cifar10",
    arch="cnn",
    width=64,
    label_noise=0.2,
    lr=0.1,
    final_lr_scale=1.0,
    epochs=4000,
    batch_size=128,
    augment=True,
    eval_every=1,
    checkpoint_every=5,
)
NETWORK_PAPER_RUNS = paper.CNN_RUNS
#: Real images on a CPU: the paper preset's code path on a Fashion-MNIST subset with the CNN family
#: narrowed to w = 8 (widths 8/16/32/64), 2,000 images, no augmentation, 60 epochs: about 2.5 minutes
#: per run on one idle core.
NETWORK_REAL = replace(
    NETWORK_PAPER,
    dataset="fashion_mnist",
    width=8,
    train_size=2000,
    lr=0.05,
    epochs=60,
    augment=False,
    checkpoint_every=0,
)
NETWORK_REAL_SCALED = replace(NETWORK_REAL, final_lr_scale=0.01)
_REAL_SETUP = (
    "Fashion-MNIST, first 2,000 training images, 20% label noise, 5-layer CNN narrowed to w = 8, "
    "SGD lr 0.05, 60 epochs"
)
WIDTH_QUICK = WidthConfig()
WIDTH_PAPER = WidthConfig(
    rf_seeds=50,
    network=True,
    network_widths=(2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024),
    network_epochs=300,
)


def _network_paper_grid() -> list[NetworkConfig]:
    return [replace(NETWORK_PAPER, final_lr_scale=f, conv_lr_scale=c) for f, c in NETWORK_PAPER_RUNS.values()]


def _linear_quick_grid() -> list[LinearConfig]:
    """The page's slider positions that change the science (noise, ratio, scaling)."""
    return [
        replace(LINEAR_QUICK, noise_std=s, scale_ratio=r, scaled=sc)
        for s in (0.5, 1.0, 1.5, 2.0)
        for r in (1.0, 5.0, 10.0, 20.0, 50.0)
        for sc in (False, True)
    ]


EXPERIMENTS = (
    Experiment(
        name="double_descent.linear",
        title="Linear model: a sum of two bias-variance trade-offs",
        config_cls=LinearConfig,
        compute=compute_linear,
        presets={"quick": LINEAR_QUICK, "paper": LINEAR_PAPER},
        version=1,
        charts={"layers": charts.linear_layers, "risk": charts.linear_risk_compare},
        description="Closed-form and simulated GD risk of linear regression with a fast and a slow feature group.",
        sweeps={"quick": _linear_quick_grid},
        claims=CLAIMS["double_descent.linear"],
        setups={
            "quick": "synthetic Gaussian features, 20 fast + 5 slow (std ratio 20), n = 100, GD up to 10^5 steps",
            "paper": paper.FIG2_SETUP,
        },
        estimate=estimate_linear,
    ),
    Experiment(
        name="double_descent.two_layer",
        title="Two-layer network (paper Fig. 3)",
        config_cls=TwoLayerConfig,
        compute=compute_two_layer,
        presets={"quick": TWO_LAYER_QUICK, "paper": TWO_LAYER_PAPER},
        version=1,
        charts={"risk": charts.two_layer_risk},
        description="Full-batch GD on a ReLU network; one step size vs a small first-layer step size.",
        claims=CLAIMS["double_descent.two_layer"],
        setups={
            "quick": "synthetic Gaussian data, Linear(50, 250)-ReLU-Linear(250, 1), n = 100, 600 GD steps",
            "paper": paper.TWO_LAYER_SETUP,
        },
        estimate=estimate_two_layer,
    ),
    Experiment(
        name=NETWORK_NAME,
        title="Classifier with label noise: epoch-wise double descent",
        config_cls=NetworkConfig,
        compute=compute_network,
        presets={
            "quick": NETWORK_QUICK,
            "paper": NETWORK_PAPER,
            "quick-scaled": NETWORK_QUICK_SCALED,
            "paper-final-0.001": _network_paper_grid()[1],
            "paper-final-0.2": _network_paper_grid()[2],
            "real": NETWORK_REAL,
            "real-final-0.01": NETWORK_REAL_SCALED,
        },
        version=NETWORK_VERSION,
        charts={"error": charts.network_error, "train": charts.network_train},
        description="SGD with label noise; the final layer's step size moves or removes the bump.",
        sweeps={
            "paper": _network_paper_grid,
            "quick": lambda: [NETWORK_QUICK, NETWORK_QUICK_SCALED],
            "real": lambda: [NETWORK_REAL, NETWORK_REAL_SCALED],
        },
        claims=CLAIMS[NETWORK_NAME],
        setups={
            "quick": "scikit-learn digits (1300 train), 20% label noise, MLP 64-256-256-10, SGD 100 epochs",
            "quick-scaled": "as quick, final layer's step size x0.01",
            "paper": paper.CNN_SETUP,
            "paper-final-0.001": paper.CNN_SETUP + ", final layer lr 0.001",
            "paper-final-0.2": paper.CNN_SETUP + ", conv 0.05, BatchNorm 0.1, final layer 0.2",
            "real": _REAL_SETUP,
            "real-final-0.01": _REAL_SETUP + ", final layer's step size x0.01",
        },
        estimate=estimate_network,
    ),
    Experiment(
        name="double_descent.width",
        title="Model-wise double descent (extension)",
        config_cls=WidthConfig,
        compute=compute_width,
        presets={"quick": WIDTH_QUICK, "paper": WIDTH_PAPER},
        version=1,
        charts={"width": charts.width_curve},
        description="Test error against width: min-norm random features peak at width = n.",
        claims=CLAIMS["double_descent.width"],
        setups={
            "quick": "min-norm ReLU random features, n = 100, d = 20, 17 widths, 5 seeds",
            "paper": "min-norm ReLU random features, 50 seeds; MLPs on digits at 13 widths, 300 epochs",
        },
        estimate=estimate_width,
    ),
)
