"""NTK experiments on images: kernel classification, CNN vs CNTK convergence, the --fix ablation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.devices import on_small_model_threads
from engine.core.experiment import Cost, RunContext
from engine.core.params import Boolean, Interval, Options, Tuple, Validated, param
from engine.phenomena.ntk.charts import KERNELS, TRAINED
from engine.phenomena.ntk.experiments.mlp import CORE_SECONDS, SEED
from engine.phenomena.ntk.paper import PAPER_CIFAR, PAPER_FIX

# ---------------------------------------------------------------------------------------------
# Experiment 4: classification with FC-NTK, NNGP and CNTK (digits quick, CIFAR-10 paper)
# ---------------------------------------------------------------------------------------------

IMAGE_SIDE = {"digits": 8, "cifar10": 32, "fashion_mnist_14": 14}


@dataclass(frozen=True, kw_only=True)
class ClassifyConfig(Validated):
    dataset: str = param(
        "digits", Options(tuple(IMAGE_SIDE))
    )  # digits (8x8, offline), CIFAR-10 (data/), Fashion-MNIST average-pooled 2x2 to 14x14
    n_train: int = param(200, Interval(int, 10, 50000))  # training images (the first of the split)
    n_test: int = param(200, Interval(int, 10, 10000))  # test images
    depths: tuple[int, ...] = param(
        (3, 5), Tuple(Interval(int, 3, 21), max_len=6)
    )  # CNTK depth = conv layers + 1
    kernels: tuple[str, ...] = param(
        ("FC-NTK", "FC-NNGP", "CNTK-V"), Tuple(Options(KERNELS), max_len=4)
    )  # kernels
    ridge: float = param(
        0.0, Interval(float, 0.0, 10.0)
    )  # relative ridge of the kernel regression (paper: 0)
    cache_blocks: bool = param(False, Boolean())  # save finished CNTK blocks so an interrupted run resumes
    seed: int = param(0, SEED)  # digits split

    def check(self) -> None:
        if self.dataset == "digits" and self.n_train > 1300:
            self.fail("n_train", "an int in [10, 1300] on digits")
        if self.dataset == "digits" and self.n_test > 497:
            self.fail("n_test", "an int in [10, 497] on digits")


def _pair_cost(pairs: float, side: int, depth: int, kernel: str) -> float:
    """Seconds of the CNTK DP for ``pairs`` image pairs (one core, float64, measured on digits)."""
    per_pair = side**4 if kernel == "CNTK-GAP" else side**2
    return 3e-8 * pairs * per_pair * depth


def estimate_classify(c: ClassifyConfig) -> Cost:
    n = c.n_train + c.n_test
    side = IMAGE_SIDE[c.dataset]
    pairs = n * (n + 1) / 2
    seconds = (
        0.5
        + sum(
            _pair_cost(pairs, side, max(c.depths), k)
            if k.startswith("CNTK")
            else 2e-7 * pairs * len(c.depths)
            for k in c.kernels
        )
        + 1e-9 * c.n_train**3 * len(c.depths) * len(c.kernels)
    )
    # the kernel matrices of every depth at once, the DP's batch temporaries, the images
    bytes_ = 8 * len(c.depths) * n * n + 6 * 8 * 2**21 + 8 * n * 3 * side * side
    return Cost(bytes=bytes_, seconds=seconds, drivers=("n_train", "n_test", "depths", "kernels"))


def load_images(config: ClassifyConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) images (n, C, H, W): digits standardised, or CIFAR-10 /255
    then per-channel standardised with training statistics (the paper's preprocessing); Fashion-MNIST
    the same after 2x2 average pooling (14x14)."""
    from engine.core import data

    if config.dataset == "digits":
        split = data.digits(seed=config.seed, flatten=False)
        return (
            split.X_train[: config.n_train],
            split.y_train[: config.n_train],
            split.X_test[: config.n_test],
            split.y_test[: config.n_test],
        )
    if config.dataset == "fashion_mnist_14":  # the GAP kernel costs (H W)^2 per pair: 28x28 is 150x digits
        Xtr, ytr = data.fashion_mnist(train=True, limit=config.n_train)
        Xte, yte = data.fashion_mnist(train=False, limit=config.n_test)
        Xtr, Xte = (x.reshape(len(x), 1, 14, 2, 14, 2).mean(axis=(3, 5)) for x in (Xtr, Xte))
    else:
        Xtr, ytr = data.torchvision_images("cifar10", train=True, limit=config.n_train)
        Xte, yte = data.torchvision_images("cifar10", train=False, limit=config.n_test)
    mean, std = Xtr.mean(axis=(0, 2, 3))[:, None, None], Xtr.std(axis=(0, 2, 3))[:, None, None]
    return (Xtr - mean) / std, ytr, (Xte - mean) / std, yte


def _kernel_matrices(
    name: str, images: np.ndarray, depths, config, ctx, fix=None, dtype=None
) -> dict[int, np.ndarray]:
    """{depth: full (n_all, n_all) kernel} of one kernel family over train + test images."""
    from engine.phenomena.ntk.science import cntk_depths, nngp_fc, ntk_fc

    flat = images.reshape(len(images), -1)
    if name == "FC-NTK":
        return {d: ntk_fc(flat, None, d - 1, device=ctx.device) for d in depths}
    if name == "FC-NNGP":
        return {d: nngp_fc(flat, None, d - 1, device=ctx.device) for d in depths}
    return cntk_depths(
        images,
        None,
        depths,
        gap=name == "CNTK-GAP",
        fix=fix,
        device=ctx.device,
        dtype=dtype,
        cache_blocks=config.cache_blocks,
        progress=lambda f, m: ctx.report(f, f"{name}: {m}"),
    )


def _accuracy(K: np.ndarray, n: int, Y: np.ndarray, y_test: np.ndarray, ridge: float) -> float:
    from engine.phenomena.ntk.science import kernel_regression

    return float(np.mean(kernel_regression(K[:n, :n], Y, K[n:, :n], ridge).argmax(1) == y_test))


@on_small_model_threads
def compute_classify(config: ClassifyConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows per (kernel, depth): test accuracy of kernel regression on 0.9/-0.1 targets, beside the
    paper's CIFAR-10 number for that kernel and depth (NaN where the paper has none)."""
    from engine.phenomena.ntk.science import one_hot_targets

    Xtr, ytr, Xte, yte = load_images(config)
    images, n = np.concatenate([Xtr, Xte]), len(Xtr)
    Y = one_hot_targets(ytr, int(max(ytr.max(), yte.max()) + 1))
    rows = []
    for name in config.kernels:
        for depth, K in _kernel_matrices(name, images, config.depths, config, ctx).items():
            rows.append(
                dict(
                    kernel=name,
                    depth=depth,
                    accuracy=_accuracy(K, n, Y, yte, config.ridge),
                    paper_accuracy=PAPER_CIFAR.get(name, {}).get(depth, math.nan) / 100,
                    dataset=config.dataset,
                    n_train=config.n_train,
                    n_test=config.n_test,
                    ridge=config.ridge,
                )
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Experiment 5: a finite CNN's empirical NTK converges to the exact CNTK (the paper's Monte Carlo)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CNTKConvergenceConfig(Validated):
    depth: int = param(3, Interval(int, 3, 6))  # conv layers + 1 (the CNTK's depth)
    channels: tuple[int, ...] = param(
        (16, 32, 64, 128, 256), Tuple(Interval(int, 4, 4096), min_len=2, max_len=10, increasing=True)
    )  # CNN widths
    seeds: int = param(4, Interval(int, 1, 16))  # initialisations per channel count (vmapped)
    n_images: int = param(8, Interval(int, 2, 64))  # digits (8x8) on which the kernels are compared
    gap: bool = param(True, Boolean())  # global average pooling readout (else vanilla)
    seed: int = param(0, SEED)  # which digits and which initialisations


def _cnn_params(c: CNTKConvergenceConfig, channels: int) -> int:
    return 9 * channels + 9 * channels**2 * (c.depth - 2) + channels * (1 if c.gap else 64)


def estimate_cntk_convergence(c: CNTKConvergenceConfig) -> Cost:
    top = _cnn_params(c, max(c.channels))
    flops = sum(2 * c.seeds * c.n_images * _cnn_params(c, ch) * 64 for ch in c.channels)
    return Cost(
        bytes=min(c.seeds, 4) * c.n_images * top * 4 * 2 + 100e6,
        seconds=0.2 + CORE_SECONDS * flops,
        drivers=("channels", "seeds", "n_images"),
    )


@on_small_model_threads
def compute_cntk_convergence(config: CNTKConvergenceConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows per (trained layers, channels, seed): relative Frobenius error of the CNN's empirical
    NTK (float32, vmapped over seeds) against the exact CNTK (float64) with the matching ``fix``."""
    from engine.core import data
    from engine.phenomena.ntk.science import cnn_kernel_errors

    images = data.digits(seed=config.seed, flatten=False).X_train[: config.n_images]
    rows = []
    for k, (fix, trained) in enumerate(zip((False, True), TRAINED)):
        errors = cnn_kernel_errors(
            images,
            config.channels,
            config.seeds,
            config.depth,
            gap=config.gap,
            fix=fix,
            seed=config.seed,
            device=ctx.device,
            progress=lambda f, m, k=k, t=trained: ctx.report((k + f) / 2, f"{t}: {m}"),
        )
        for i, c in enumerate(config.channels):
            for s in range(config.seeds):
                rows.append(
                    dict(
                        trained=trained,
                        fix=fix,
                        channels=c,
                        seed=s,
                        rel_error=errors[i, s],
                        scaled_error=errors[i, s] * math.sqrt(c),
                        depth=config.depth,
                        gap=config.gap,
                        n_images=config.n_images,
                    )
                )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Experiment 6: the fix / no-fix ablation (CNTK.py's --fix: first and last layer fixed)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FixAblationConfig(Validated):
    n_train: int = param(100, Interval(int, 10, 1300))  # training digits
    n_test: int = param(60, Interval(int, 10, 497))  # test digits
    depths: tuple[int, ...] = param((3, 4), Tuple(Interval(int, 3, 11), max_len=5))  # CNTK depths
    kernels: tuple[str, ...] = param(
        ("CNTK-V", "CNTK-GAP"), Tuple(Options(("CNTK-V", "CNTK-GAP")), max_len=2)
    )  # kernels
    dtype: str = param(
        "float32", Options(("float32", "float64"))
    )  # the DP's precision (float32: 2-3x faster)
    seed: int = param(0, SEED)  # digits split


def estimate_fix_ablation(c: FixAblationConfig) -> Cost:
    n = c.n_train + c.n_test
    pairs = n * (n + 1) / 2
    return Cost(
        bytes=8 * len(c.depths) * n * n * 2 + 6 * 8 * 2**21 + 50e6,
        seconds=0.05
        + (1.0 if c.dtype == "float64" else 0.55)
        * 2
        * sum(_pair_cost(pairs, 8, max(c.depths), k) for k in c.kernels),
        drivers=("n_train", "n_test", "depths", "kernels"),
    )


@on_small_model_threads
def compute_fix_ablation(config: FixAblationConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows per (kernel, depth, trained layers): digits accuracy of kernel regression, and the
    relative Frobenius distance between the fixed and the all-layers kernel."""
    from engine.phenomena.ntk.science import one_hot_targets, relative_error

    cfg = ClassifyConfig(n_train=config.n_train, n_test=config.n_test, seed=config.seed)
    Xtr, ytr, Xte, yte = load_images(cfg)
    images, n = np.concatenate([Xtr, Xte]), len(Xtr)
    Y = one_hot_targets(ytr, 10)
    rows = []
    for name in config.kernels:
        both = {
            fix: _kernel_matrices(name, images, config.depths, cfg, ctx, fix=fix, dtype=config.dtype)
            for fix in (False, True)
        }
        for depth in config.depths:
            gap = relative_error(both[True][depth], both[False][depth])
            for fix, trained in zip((False, True), TRAINED):
                rows.append(
                    dict(
                        kernel=name,
                        depth=depth,
                        trained=trained,
                        fix=fix,
                        paper_choice=PAPER_FIX[name] == fix,
                        accuracy=_accuracy(both[fix][depth], n, Y, yte, 0.0),
                        kernel_distance=gap,
                        n_train=config.n_train,
                        n_test=config.n_test,
                        dtype=config.dtype,
                    )
                )
    return pd.DataFrame(rows)


def fix_accuracy_change(frame: pd.DataFrame) -> float:
    """The largest |accuracy(fix) - accuracy(no fix)| over kernels and depths, in points (%)."""
    wide = frame.pivot_table(index=["kernel", "depth"], columns="fix", values="accuracy")
    return float(100 * (wide[True] - wide[False]).abs().max())


def _accuracy_points(frame: pd.DataFrame, kernel: str) -> pd.Series:
    """Accuracy in points (%) of one kernel by depth (empty when the frame lacks the kernel)."""
    rows = frame[frame["kernel"] == kernel]
    return 100 * rows.set_index("depth")["accuracy"]


def accuracy_points(frame: pd.DataFrame, kernel: str, depth: int) -> float:
    """One kernel's accuracy (points, %) at one depth; NaN when the frame has no such run."""
    points = _accuracy_points(frame, kernel)
    return float(points[depth]) if depth in points.index else float("nan")


def gap_over_vanilla(frame: pd.DataFrame) -> float:
    """The smallest CNTK-GAP minus CNTK-V accuracy (points) over the depths both were run at; NaN
    when the frame lacks either kernel."""
    gap, vanilla = _accuracy_points(frame, "CNTK-GAP"), _accuracy_points(frame, "CNTK-V")
    common = gap.index.intersection(vanilla.index)
    return float((gap[common] - vanilla[common]).min()) if len(common) else float("nan")


def gap_depth_gain(frame: pd.DataFrame, shallow: int, deep: int) -> float:
    """CNTK-GAP accuracy at depth ``deep`` minus at ``shallow`` (points); NaN when either is absent."""
    gap = _accuracy_points(frame, "CNTK-GAP")
    return float(gap[deep] - gap[shallow]) if {shallow, deep} <= set(gap.index) else float("nan")
