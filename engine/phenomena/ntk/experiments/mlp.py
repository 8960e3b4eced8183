"""NTK experiments on fully connected nets: convergence, heatmaps, predictions (curve, digits)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.devices import on_small_model_threads
from engine.core.experiment import Cost, RunContext
from engine.core.params import Interval, Tuple, Validated, param

SEED = Interval(int, 0, 2**31 - 1)
WIDTHS = Tuple(Interval(int, 4, 16384), min_len=1, max_len=12)
CORE_SECONDS = 3e-10  # seconds per multiply-add on one laptop core (float64, small tensors; calibrated on the quick presets)


def loglog_slope(frame: pd.DataFrame, column: str = "rel_error", by: str = "width") -> float:
    """Least-squares slope of log(mean column) against log(by)."""
    means = frame.groupby(by)[column].mean()
    return float(np.polyfit(np.log(means.index.to_numpy(float)), np.log(means.to_numpy()), 1)[0])


# ---------------------------------------------------------------------------------------------
# Experiment 1: the empirical NTK converges to the exact NTK; lazy training
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConvergenceConfig(Validated):
    depth: int = param(3, Interval(int, 1, 8))  # hidden layers of the ReLU MLP (the paper's figure uses 3)
    widths: tuple[int, ...] = param((16, 32, 64, 128, 256, 512), WIDTHS)  # hidden widths, log-spaced
    seeds: int = param(3, Interval(int, 1, 20))  # independent initialisations per width
    n_points: int = param(8, Interval(int, 2, 64))  # inputs on the unit sphere where the kernels are compared
    in_dim: int = param(16, Interval(int, 1, 1024))  # input dimension
    train_steps: int = param(
        20, Interval(int, 0, 5000)
    )  # GD steps for the lazy-training measurement (0: skip)
    seed: int = param(0, SEED)  # base seed: inputs, targets and networks


def _mlp_flops(width: int, depth: int, d_in: int, n: int) -> float:
    return n * (d_in * width + (depth - 1) * width**2 + width)


def estimate_convergence(c: ConvergenceConfig) -> Cost:
    flops = sum(
        c.seeds * (3 * c.train_steps + 4) * _mlp_flops(w, c.depth, c.in_dim, c.n_points) for w in c.widths
    )
    top = max(c.widths)
    return Cost(
        bytes=4 * 8 * ((c.depth - 1) * top**2 + (c.in_dim + 1 + c.n_points * c.depth) * top) + 50e6,
        seconds=0.01 * c.seeds * len(c.widths) * (1 + c.train_steps / 20) + CORE_SECONDS * flops,
        drivers=("widths", "seeds", "train_steps"),
    )


@on_small_model_threads
def compute_convergence(config: ConvergenceConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows per (width, seed): relative Frobenius error of the empirical NTK against ntk_fc at init,
    error x sqrt(width), and the relative change of the empirical NTK after lazy training."""
    from engine.phenomena.ntk.science import (
        NTKMLP,
        ntk_fc,
        relative_error,
        sphere_points,
        stable_lr,
        train_centered,
    )

    X = sphere_points(config.n_points, config.in_dim, config.seed)
    y = np.random.default_rng(config.seed + 1).standard_normal(config.n_points)
    exact = ntk_fc(X, X, config.depth)
    lr = stable_lr(exact, 0.5)
    rows, total = [], len(config.widths) * config.seeds
    for w_index, width in enumerate(config.widths):
        for s in range(config.seeds):
            net = NTKMLP(config.in_dim, width, config.depth, seed=config.seed * 1000 + s).to(ctx.device)
            K0 = net.tangent_kernel(X)
            change = math.nan
            if config.train_steps:
                train_centered(net, X, y, config.train_steps, lr, ctx.device)
                change = relative_error(net.tangent_kernel(X), K0)
            err = relative_error(K0, exact)
            rows.append(
                dict(
                    width=width,
                    seed=s,
                    depth=config.depth,
                    n_points=config.n_points,
                    rel_error=err,
                    scaled_error=err * math.sqrt(width),
                    kernel_change=change,
                    train_steps=config.train_steps,
                )
            )
            ctx.report((w_index * config.seeds + s + 1) / total, f"width {width}, seed {s}")
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Experiment 2: kernel heatmaps, exact against one finite network
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HeatmapConfig(Validated):
    width: int = param(256, Interval(int, 4, 16384))  # hidden width of the finite network
    depth: int = param(3, Interval(int, 1, 8))  # hidden layers
    n_points: int = param(24, Interval(int, 4, 64))  # inputs on the unit circle, equally spaced in angle
    seed: int = param(0, SEED)  # network initialisation


def estimate_heatmap(c: HeatmapConfig) -> Cost:
    return Cost(
        bytes=8 * ((c.depth - 1) * c.width**2 + 3 * (1 + c.n_points * c.depth) * c.width) + 20e6,
        seconds=0.02 + CORE_SECONDS * 4 * _mlp_flops(c.width, c.depth, 2, c.n_points),
        drivers=("width", "depth"),
    )


@on_small_model_threads
def compute_heatmap(config: HeatmapConfig, ctx: RunContext) -> pd.DataFrame:
    """Long frame of the exact NTK, the NNGP and the empirical NTK on points of the unit circle:
    rows (kernel, i, j, angle_i, angle_j, value)."""
    from engine.phenomena.ntk.science import NTKMLP, circle_points, nngp_fc, ntk_fc

    angles, X = circle_points(config.n_points)
    net = NTKMLP(2, config.width, config.depth, seed=config.seed).to(ctx.device)
    kernels = {
        "exact NTK": ntk_fc(X, X, config.depth),
        "empirical NTK": net.tangent_kernel(X),
        "NNGP": nngp_fc(X, X, config.depth),
    }
    i, j = np.meshgrid(np.arange(config.n_points), np.arange(config.n_points), indexing="ij")
    frames = [
        pd.DataFrame(
            dict(
                kernel=name,
                i=i.ravel(),
                j=j.ravel(),
                angle_i=angles[i.ravel()],
                angle_j=angles[j.ravel()],
                value=K.ravel(),
                width=config.width,
                depth=config.depth,
            )
        )
        for name, K in kernels.items()
    ]
    ctx.report(1.0, "kernels")
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Experiment 3: trained networks predict like NTK regression (1-D curve and digits)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CurveConfig(Validated):
    depth: int = param(1, Interval(int, 1, 4))  # hidden layers (1 keeps wide networks cheap to train)
    widths: tuple[int, ...] = param(
        (16, 64, 256, 1024), Tuple(Interval(int, 4, 16384), max_len=8)
    )  # trained widths
    n_train: int = param(8, Interval(int, 2, 64))  # training points, equally spaced angles on the circle
    ridge: float = param(
        0.0, Interval(float, 0.0, 10.0)
    )  # ridge of the kernel predictor, relative to mean diag(K)
    steps: int = param(500, Interval(int, 1, 20000))  # full-batch GD steps (lr = n / lambda_max(K))
    n_test: int = param(90, Interval(int, 10, 500))  # test angles where the predictions are drawn
    seed: int = param(0, SEED)  # network initialisation


def estimate_curve(c: CurveConfig) -> Cost:
    flops = sum(3 * c.steps * _mlp_flops(w, c.depth, 2, c.n_train) for w in c.widths)
    return Cost(
        bytes=4 * 8 * ((c.depth - 1) * max(c.widths) ** 2 + (3 + c.n_test) * max(c.widths)) + 50e6,
        seconds=0.1 + 2.5e-4 * c.steps * len(c.widths) + CORE_SECONDS * flops,
        drivers=("widths", "steps", "depth"),
    )


@on_small_model_threads
def compute_curve(config: CurveConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows (model, width, angle, prediction, target, distance): NTK regression, each trained centred
    network and the training points; ``distance`` is the network's RMS gap to the kernel predictor."""
    from engine.phenomena.ntk.science import (
        NTKMLP,
        circle_points,
        curve_target,
        kernel_regression,
        ntk_fc,
        stable_lr,
        train_centered,
    )

    train_angles, X = circle_points(config.n_train, offset=0.3)
    test_angles, Xs = circle_points(config.n_test)
    y = curve_target(train_angles)
    K = ntk_fc(X, X, config.depth)
    kernel_pred = kernel_regression(K, y, ntk_fc(Xs, X, config.depth), config.ridge)
    frames = [
        pd.DataFrame(
            dict(
                model="NTK regression",
                width=0,
                angle=test_angles,
                prediction=kernel_pred,
                target=curve_target(test_angles),
                distance=0.0,
            )
        ),
        pd.DataFrame(
            dict(model="training data", width=0, angle=train_angles, prediction=y, target=y, distance=0.0)
        ),
    ]
    for k, width in enumerate(config.widths):
        net = NTKMLP(2, width, config.depth, seed=config.seed + k)
        pred = train_centered(net, X, y, config.steps, stable_lr(K), ctx.device)(Xs)[:, 0]
        gap = float(np.sqrt(np.mean((pred - kernel_pred) ** 2)))
        frames.append(
            pd.DataFrame(
                dict(
                    model=f"width {width}",
                    width=width,
                    angle=test_angles,
                    prediction=pred,
                    target=curve_target(test_angles),
                    distance=gap,
                )
            )
        )
        ctx.report((k + 1) / len(config.widths), f"trained width {width}")
    frame = pd.concat(frames, ignore_index=True)
    frame["depth"], frame["ridge"], frame["n_train"] = config.depth, config.ridge, config.n_train
    return frame


@dataclass(frozen=True, kw_only=True)
class DigitsAgreementConfig(Validated):
    depth: int = param(1, Interval(int, 1, 4))  # hidden layers
    widths: tuple[int, ...] = param(
        (16, 64, 256, 1024), Tuple(Interval(int, 4, 16384), max_len=8)
    )  # trained widths
    n_train: int = param(100, Interval(int, 10, 1300))  # training digits
    steps: int = param(100, Interval(int, 1, 20000))  # full-batch GD steps (lr = n / lambda_max(K))
    seed: int = param(0, SEED)  # split and network initialisation


def estimate_digits(c: DigitsAgreementConfig) -> Cost:
    flops = sum(3 * c.steps * _mlp_flops(w, c.depth, 64, c.n_train) for w in c.widths)
    return Cost(
        bytes=4 * 8 * ((c.depth - 1) * max(c.widths) ** 2 + (74 + 1797) * max(c.widths)) + 50e6,
        seconds=0.1 + 2e-4 * c.steps * len(c.widths) + CORE_SECONDS * flops,
        drivers=("widths", "steps", "n_train"),
    )


@on_small_model_threads
def compute_digits_agreement(config: DigitsAgreementConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows per width: how close a trained centred network's test outputs are to the NTK predictor
    after the same number of GD steps (relative distance, argmax agreement) and both accuracies."""
    from engine.core import data
    from engine.phenomena.ntk.science import (
        NTKMLP,
        gd_kernel_predictor,
        ntk_fc,
        one_hot_targets,
        relative_error,
        stable_lr,
        train_centered,
    )

    split = data.digits(seed=config.seed)
    X, labels = split.X_train[: config.n_train], split.y_train[: config.n_train]
    Y = one_hot_targets(labels, 10)
    K = ntk_fc(X, X, config.depth)
    Ks = ntk_fc(split.X_test, X, config.depth)
    lr = stable_lr(K)
    kernel_pred = gd_kernel_predictor(K, Y, Ks, config.steps, lr)
    kernel_acc = float(np.mean(kernel_pred.argmax(1) == split.y_test))
    rows = []
    for k, width in enumerate(config.widths):
        net = NTKMLP(64, width, config.depth, out_dim=10, seed=config.seed + k)
        pred = train_centered(net, X, Y, config.steps, lr, ctx.device)(split.X_test)
        rows.append(
            dict(
                width=width,
                depth=config.depth,
                n_train=config.n_train,
                steps=config.steps,
                rel_distance=relative_error(pred, kernel_pred),
                agreement=float(np.mean(pred.argmax(1) == kernel_pred.argmax(1))),
                net_accuracy=float(np.mean(pred.argmax(1) == split.y_test)),
                kernel_accuracy=kernel_acc,
            )
        )
        ctx.report((k + 1) / len(config.widths), f"trained width {width}")
    return pd.DataFrame(rows)
