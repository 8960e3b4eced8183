"""Registered double-descent experiments: Configs, compute functions, presets, claims, EXPERIMENTS.

The science lives in :mod:`.science` (numpy) and :mod:`.science_network` (torch); the paper's
numbers in :mod:`.paper`; frame readers (bumps, divergence, instabilities) in :mod:`.readouts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core import cache
from engine.core.devices import torch_threads
from engine.core.experiment import Cost, Experiment, RunContext, config_to_dict
from engine.core.params import Boolean, Interval, Options, Tuple, Validated, param
from engine.phenomena.double_descent import charts, paper
from engine.phenomena.double_descent import science_network as net
from engine.phenomena.double_descent.claims import CLAIMS
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
    two_group_model,
)

_SEED = Interval(int, 0, 2**32 - 1)
_CORE_FLOPS = 1e10  # float32 matmul flop/s of one laptop core (the estimates' time unit)


# ---------------------------------------------------------------------------------------------
# Linear model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LinearConfig(Validated):
    """The linear model with a fast and a slow group of features (the paper's Fig. 2, enlarged)."""

    n: int = param(100, Interval(int, 1, 100_000))  # training samples
    noise_std: float = param(1.0, Interval(float, 0.0, 100.0))  # std of the label noise z
    d_fast: int = param(20, Interval(int, 1, 500))  # features of std 1
    d_slow: int = param(5, Interval(int, 1, 500))  # features of std 1 / scale_ratio
    scale_ratio: float = param(
        20.0, Interval(float, 1.0, 1000.0)
    )  # std fast / std slow; time scales differ by its square
    signal_fast: float = param(
        0.2, Interval(float, 0.0, 1000.0)
    )  # share of Var(<x, theta>) in the fast group
    signal_slow: float = param(
        0.4, Interval(float, 0.0, 1000.0)
    )  # share of Var(<x, theta>) in the slow group
    lr: float = param(
        0.1, Interval(float, 0.0, 100.0, closed="right")
    )  # step size of the fast group (of all, unscaled)
    scaled: bool = param(True, Boolean())  # also run with the slow group's step size multiplied by lr_factor
    lr_factor: float = param(
        0.0, Interval(float, 0.0, 1e8)
    )  # slow group's multiplier; 0 = equalise (scale_ratio^2)
    t_max: int = param(100_000, Interval(int, 1, 10**9))  # last GD step drawn
    points: int = param(200, Interval(int, 2, 20_000))  # log-spaced time points
    sim_seeds: int = param(
        20, Interval(int, 0, 1000)
    )  # sampled training sets for simulated GD (0 = closed form only)
    seed: int = param(0, _SEED)  # seed of the sampled training sets

    def model(self):
        return two_group_model(
            d_fast=self.d_fast,
            d_slow=self.d_slow,
            scale_ratio=self.scale_ratio,
            signal_fast=self.signal_fast,
            signal_slow=self.signal_slow,
            lr=self.lr,
            lr_factor=self.lr_factor,
        )


def estimate_linear(c: LinearConfig) -> Cost:
    """Peak bytes: closed form (T, d) arrays and the simulation's (S, T, d) iterates; time: the
    (S, T, d) x (d, d) products, twice with scaling."""
    d, T, S = c.d_fast + c.d_slow, c.points + 1, c.sim_seeds
    runs = 2 if c.scaled else 1
    flops = runs * (S * (c.n * d * d + 10 * d**3) + 6 * S * T * d * d + 20 * T * d)
    return Cost(
        bytes=8.0 * (6 * T * d + S * c.n * d + 6 * S * T * d) + 50e6,
        seconds=0.02 + flops / 1e9,
        drivers=("sim_seeds", "points", "d_fast", "d_slow", "n"),
    )


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


@dataclass(frozen=True, kw_only=True)
class TwoLayerConfig(Validated):
    """The paper's Fig. 3: Linear(d, hidden) -> ReLU -> Linear(hidden, 1), full-batch GD on summed MSE."""

    d: int = param(50, Interval(int, 1, 4096))  # input dimension
    hidden: int = param(250, Interval(int, 1, 65536))  # hidden units
    n: int = param(100, Interval(int, 1, 100_000))  # training samples
    n_test: int = param(1000, Interval(int, 1, 1_000_000))  # test samples for the L1 risk
    s_max: float = param(4.0, Interval(float, 1.0, 1000.0))  # feature stds are geometric from 1 to s_max
    noise_std: float = param(0.0, Interval(float, 0.0, 1000.0))  # label noise std (the paper: none)
    lr_second: float = param(
        8e-5, Interval(float, 0.0, 10.0, closed="right")
    )  # 2nd layer's step (both, same-step run)
    lr_first_scaled: float = param(
        1e-6, Interval(float, 0.0, 10.0, closed="right")
    )  # 1st layer's step, scaled run
    init_second: float = param(
        0.01, Interval(float, 0.0, 10.0)
    )  # the second layer's init is multiplied by this
    steps: int = param(50_000, Interval(int, 1, 10**7))  # full-batch GD steps
    points: int = param(120, Interval(int, 2, 10_000))  # log-spaced evaluation points
    seed: int = param(12, _SEED)  # data and init seed


def estimate_two_layer(c: TwoLayerConfig) -> Cost:
    """Peak bytes: data, test activations (n_test, hidden), parameters and gradients (float64);
    time: two runs of ``steps`` full-batch steps plus ``points`` test evaluations."""
    data = (c.n + c.n_test) * (c.d + 2 * c.hidden)
    params = 3 * c.hidden * (c.d + 2)
    step = 3e-4 + 6 * c.n * c.d * c.hidden / 2e9
    evaluate = 2 * c.n_test * c.d * c.hidden / 2e9
    return Cost(
        bytes=8.0 * (data + params) + 50e6,
        seconds=2 * (c.steps * step + c.points * evaluate),
        drivers=("n_test", "d", "hidden", "n", "steps"),
    )


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
DATASETS = ("digits", "mnist1d", "cifar10")
_TRAIN_SIZE = {"digits": (1300, 64), "mnist1d": (4000, 40), "cifar10": (50_000, 3 * 32 * 32)}


@dataclass(frozen=True, kw_only=True)
class NetworkConfig(Validated):
    """A classifier trained with symmetric label noise by SGD (no momentum) and lr0/sqrt(1 + it/decay)."""

    dataset: str = param(
        "digits", Options(DATASETS)
    )  # digits (offline, 8x8), mnist1d (offline, 40-long), cifar10
    arch: str = param(
        "mlp", Options(("mlp", "cnn"))
    )  # "mlp" (two hidden layers) or "cnn" (the paper's 5-layer CNN)
    width: int = param(256, Interval(int, 1, 4096))  # MLP hidden width, or CNN base width w (the paper: 64)
    label_noise: float = param(
        0.2, Interval(float, 0.0, 0.9)
    )  # fraction of training labels moved to another class
    lr: float = param(
        0.5, Interval(float, 0.0, 100.0, closed="right")
    )  # initial step size of all but the last layer
    final_lr_scale: float = param(1.0, Interval(float, 0.0, 1000.0, closed="right"))  # final layer: lr * this
    conv_lr_scale: float = param(
        1.0, Interval(float, 0.0, 1000.0, closed="right")
    )  # body weights: lr * this; BN keeps lr
    lr_decay_iters: int = param(
        512, Interval(int, 1, 10**9)
    )  # lr = lr0 / sqrt(1 + iteration / lr_decay_iters)
    epochs: int = param(100, Interval(int, 1, 100_000))  # passes over the training set (the paper: 4000+)
    batch_size: int = param(128, Interval(int, 1, 100_000))  # SGD mini-batch size
    augment: bool = param(False, Boolean())  # random crop (padding 4) and horizontal flip (images only)
    train_size: int = param(0, Interval(int, 0, 10**7))  # use the first train_size training examples; 0 = all
    eval_every: int = param(1, Interval(int, 1, 100_000))  # epochs between test evaluations
    checkpoint_every: int = param(0, Interval(int, 0, 100_000))  # epochs between checkpoints (0 = none)
    seed: int = param(0, _SEED)  # label noise, init, shuffling and augmentation

    def check(self) -> None:
        if self.dataset == "mnist1d" and self.arch == "cnn":
            self.fail("arch", "'mlp' for dataset 'mnist1d'")
        if self.dataset == "mnist1d" and self.augment:
            self.fail("augment", "False for dataset 'mnist1d'")


def estimate_network(c: NetworkConfig) -> Cost:
    """Peak bytes: the float32 data set, parameters (x3: weights, gradients, checkpoint copy) and a
    mini-batch's activations; time: 6 x forward flops x samples x epochs at one core's flop rate."""
    n, features = _TRAIN_SIZE[c.dataset]
    n = min(n, c.train_size) if c.train_size else n
    w = c.width
    if c.arch == "cnn":
        pixels = features // 3 if c.dataset == "cifar10" else features
        params = 9 * (3 * w + 2 * w * w + 8 * w * w + 32 * w * w) + 80 * w
        activations = 3 * w * pixels * (1 + 0.5 + 0.25 + 0.125)
        forward = 2 * 9 * (3 * w * pixels + (2 * w * w + 8 * w * w) * pixels / 4 + 32 * w * w * pixels / 64)
    else:
        params = features * w + w * w + 10 * w
        activations = 4 * w
        forward = 2 * params
    bytes_ = 4.0 * (1.25 * n * features + 3 * params + 3 * c.batch_size * activations) + 200e6
    seconds = 6 * forward * n * c.epochs / _CORE_FLOPS + 0.002 * c.epochs * max(1, n // c.batch_size)
    return Cost(bytes=bytes_, seconds=seconds, drivers=("dataset", "arch", "width", "epochs", "batch_size"))


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


@dataclass(frozen=True, kw_only=True)
class WidthConfig(Validated):
    """Test error against width: min-norm random features (peak at width = n) and, optionally, the
    quick classifier trained at each width with label noise."""

    n: int = param(100, Interval(int, 1, 10_000))  # training samples of the random-features regression
    d: int = param(20, Interval(int, 1, 1000))  # input dimension of the random-features regression
    noise_std: float = param(0.3, Interval(float, 0.0, 100.0))  # label noise std of the regression
    widths: tuple[int, ...] = param(
        (5, 10, 20, 40, 60, 80, 90, 95, 100, 105, 110, 120, 150, 200, 300, 500, 1000),
        Tuple(Interval(int, 1, 20_000), max_len=200),
    )  # random features
    rf_seeds: int = param(5, Interval(int, 1, 1000))  # independent data/feature draws averaged
    network: bool = param(False, Boolean())  # also train the quick classifier at each network width
    network_widths: tuple[int, ...] = param(
        (4, 8, 16, 32, 64, 128, 256, 512), Tuple(Interval(int, 1, 4096), max_len=50)
    )  # MLP hidden widths
    network_epochs: int = param(100, Interval(int, 1, 100_000))  # epochs per network width
    label_noise: float = param(0.2, Interval(float, 0.0, 0.9))  # label noise of the network runs
    seed: int = param(0, _SEED)  # data, features and init


def estimate_width(c: WidthConfig) -> Cost:
    """Peak bytes: the widest feature matrices (train and 1000 test rows) and lstsq's workspace;
    time: lstsq and the test features per width and seed, plus the optional MLP runs."""
    p = max(c.widths)
    flops = c.rf_seeds * sum(4 * c.n * w * min(c.n, w) + 2 * (1000 + c.n) * c.d * w for w in c.widths)
    seconds = flops / 2e9
    if c.network:
        seconds += sum(
            estimate_network(NetworkConfig(width=w, epochs=c.network_epochs)).seconds
            for w in c.network_widths
        )
    return Cost(
        bytes=8.0 * ((1000 + 4 * c.n) * p + p * c.d) + 50e6,
        seconds=seconds,
        drivers=("widths", "n", "rf_seeds", "network_widths"),
    )


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
        },
        version=NETWORK_VERSION,
        charts={"error": charts.network_error, "train": charts.network_train},
        description="SGD with label noise; the final layer's step size moves or removes the bump.",
        sweeps={"paper": _network_paper_grid, "quick": lambda: [NETWORK_QUICK, NETWORK_QUICK_SCALED]},
        claims=CLAIMS[NETWORK_NAME],
        setups={
            "quick": "scikit-learn digits (1300 train), 20% label noise, MLP 64-256-256-10, SGD 100 epochs",
            "quick-scaled": "as quick, final layer's step size x0.01",
            "paper": paper.CNN_SETUP,
            "paper-final-0.001": paper.CNN_SETUP + ", final layer lr 0.001",
            "paper-final-0.2": paper.CNN_SETUP + ", conv 0.05, BatchNorm 0.1, final layer 0.2",
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
