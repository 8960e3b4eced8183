"""NTK experiments: presets, claims and the registry entries (``EXPERIMENTS``).

Configs (constraints declared per field) and compute functions live in :mod:`.mlp` (fully
connected nets) and :mod:`.images` (kernels on images); the science in
:mod:`engine.phenomena.ntk.science`, the paper's numbers in :mod:`engine.phenomena.ntk.paper`.
"""

from __future__ import annotations

from engine.core.experiment import Claim, Experiment
from engine.phenomena.ntk import charts
from engine.phenomena.ntk.experiments.images import (
    IMAGE_SIDE,
    ClassifyConfig,
    CNTKConvergenceConfig,
    FixAblationConfig,
    accuracy_points,
    compute_classify,
    compute_cntk_convergence,
    compute_fix_ablation,
    estimate_classify,
    estimate_cntk_convergence,
    estimate_fix_ablation,
    fix_accuracy_change,
    gap_depth_gain,
    gap_over_vanilla,
    load_images,
)
from engine.phenomena.ntk.experiments.mlp import (
    ConvergenceConfig,
    CurveConfig,
    DigitsAgreementConfig,
    HeatmapConfig,
    compute_convergence,
    compute_curve,
    compute_digits_agreement,
    compute_heatmap,
    estimate_convergence,
    estimate_curve,
    estimate_digits,
    estimate_heatmap,
    loglog_slope,
)
from engine.phenomena.ntk.paper import CIFAR_SETUP, CONVERGENCE_SETUP, PAPER_CIFAR

# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------

DIGITS_QUICK = "sklearn digits (8x8, offline)"

EXPERIMENTS = (
    Experiment(
        name="ntk.convergence",
        title="The empirical NTK converges to the exact NTK as width grows",
        config_cls=ConvergenceConfig,
        compute=compute_convergence,
        presets={
            "quick": ConvergenceConfig(),
            "paper": ConvergenceConfig(
                widths=(64, 128, 256, 512, 1024, 2048, 4096), seeds=5, train_steps=100
            ),
        },
        version=1,
        charts={"main": charts.convergence_chart, "lazy": charts.lazy_chart},
        description="Relative Frobenius error of a finite network's tangent kernel against ntk_fc at "
        "initialisation, and how far the kernel moves during training (lazy training).",
        sweeps={"quick": lambda: [ConvergenceConfig(depth=d) for d in range(1, 6)]},
        setups={
            "quick": "8 points on the sphere in R^16, ReLU MLP depth 3, widths 16-512 x 3 seeds, 20 GD steps",
            "paper": "8 points on the sphere in R^16, ReLU MLP depth 3, widths 64-4096 x 5 seeds, 100 GD steps",
        },
        estimate=estimate_convergence,
        claims=(
            Claim(
                "ntk.error_rate",
                "The empirical NTK's error shrinks like 1/sqrt(width) (log-log slope -1/2).",
                "ntk.convergence",
                measure=loglog_slope,
                holds=lambda v: -0.7 <= v <= -0.3,
                paper_value=-0.5,
                tolerance=0.2,
                unit="slope",
                paper_setup=CONVERGENCE_SETUP,
            ),
            Claim(
                "ntk.lazy",
                "Training moves the tangent kernel less the wider the network.",
                "ntk.convergence",
                measure=lambda f: loglog_slope(f, "kernel_change"),
                holds=lambda v: v < -0.25,
                unit="slope",
            ),
            Claim(
                "ntk.error_4096",
                "Relative error at width 4096 is about 0.055 (paper's Figure 1).",
                "ntk.convergence",
                measure=lambda f: float(f[f.width == 4096].rel_error.mean()),
                holds=lambda v: 0.02 <= v <= 0.1,
                paper_value=0.055,
                tolerance=0.045,
                preset="paper",
                paper_setup=CONVERGENCE_SETUP,
            ),
        ),
    ),
    Experiment(
        name="ntk.heatmap",
        title="Exact and empirical kernels on the unit circle",
        config_cls=HeatmapConfig,
        compute=compute_heatmap,
        presets={"quick": HeatmapConfig(), "paper": HeatmapConfig(width=4096)},
        version=1,
        charts={"main": charts.heatmap_chart},
        description="Kernel matrices over 24 points of the unit circle: exact NTK, one finite network, NNGP.",
        setups={
            "quick": "24 points on the unit circle, ReLU MLP depth 3, width 256",
            "paper": "24 points on the unit circle, ReLU MLP depth 3, width 4096",
        },
        estimate=estimate_heatmap,
    ),
    Experiment(
        name="ntk.curve",
        title="Wide networks predict like NTK regression (1-D)",
        config_cls=CurveConfig,
        compute=compute_curve,
        presets={
            "quick": CurveConfig(),
            "paper": CurveConfig(widths=(16, 64, 256, 1024, 4096, 16384), steps=2000),
        },
        version=1,
        charts={"main": charts.curve_chart, "distance": charts.curve_distance_chart},
        description="Centred ReLU networks trained by full-batch GD on points of a 1-D curve, against "
        "the NTK kernel-regression predictor.",
        setups={
            "quick": "8 points of a curve on the circle, 1-hidden-layer nets, widths 16-1024, 500 GD steps",
            "paper": "8 points of a curve on the circle, 1-hidden-layer nets, widths 16-16384, 2000 GD steps",
        },
        estimate=estimate_curve,
        claims=(
            Claim(
                "ntk.curve_agrees",
                "The widest trained network's predictions are within 0.05 RMS of NTK regression.",
                "ntk.curve",
                measure=lambda f: float(f[f.width == f.width.max()].distance.iloc[0]),
                holds=lambda v: v < 0.05,
                unit="RMS",
            ),
        ),
    ),
    Experiment(
        name="ntk.digits",
        datasets={"quick": "digits", "paper": "digits"},  # no dataset field: digits
        title="Wide networks predict like the NTK on digits",
        config_cls=DigitsAgreementConfig,
        compute=compute_digits_agreement,
        presets={
            "quick": DigitsAgreementConfig(),
            "paper": DigitsAgreementConfig(widths=(64, 256, 1024, 4096, 16384), n_train=1000, steps=1000),
        },
        version=1,
        charts={"main": charts.digits_chart},
        description="Distance between a trained network's test outputs and the NTK predictor after the same GD steps.",
        setups={
            "quick": f"{DIGITS_QUICK}, 100 train, 1-hidden-layer nets, widths 16-1024, 100 GD steps",
            "paper": f"{DIGITS_QUICK}, 1000 train, 1-hidden-layer nets, widths 64-16384, 1000 GD steps",
        },
        estimate=estimate_digits,
        claims=(
            Claim(
                "ntk.digits_agree",
                "The widest network agrees with the NTK predictor's class on >= 95% of test digits.",
                "ntk.digits",
                measure=lambda f: float(f.sort_values("width").agreement.iloc[-1]),
                holds=lambda v: v >= 0.95,
                unit="fraction",
            ),
        ),
    ),
    Experiment(
        name="ntk.classify",
        title="Classification with exact kernels: FC-NTK, NNGP, CNTK",
        config_cls=ClassifyConfig,
        compute=compute_classify,
        presets={
            "quick": ClassifyConfig(),
            "paper": ClassifyConfig(
                dataset="cifar10",
                n_train=50000,
                n_test=10000,
                depths=(3, 4, 6, 11, 21),
                kernels=("CNTK-V", "CNTK-GAP"),
                cache_blocks=True,
            ),
            "real": ClassifyConfig(
                dataset="fashion_mnist_14",
                n_train=250,
                n_test=150,
                depths=(3, 4, 6),
                kernels=("CNTK-V", "CNTK-GAP"),
            ),
        },
        version=1,
        charts={"main": charts.classify_chart},
        description="Kernel regression with 0.9/-0.1 targets and no ridge, as in the paper.",
        sweeps={
            "paper": lambda: [
                ClassifyConfig(
                    dataset="cifar10",
                    n_train=n,
                    n_test=10000,
                    depths=(3, 4, 6, 11, 21),
                    kernels=("CNTK-V", "CNTK-GAP"),
                    cache_blocks=True,
                )
                for n in (1000, 2000, 5000, 10000, 20000, 50000)
            ]
        },
        setups={
            "quick": f"{DIGITS_QUICK}, 200 train / 200 test, FC-NTK, NNGP, CNTK-V at depths 3 and 5",
            "paper": CIFAR_SETUP + ", CNTK-V and CNTK-GAP at depths 3-21",
            "real": "Fashion-MNIST average-pooled to 14x14 (the GAP kernel's cost grows like (HW)^2), first "
            "250 train / 150 test images, CNTK-V and CNTK-GAP at depths 3, 4, 6, no ridge",
        },
        estimate=estimate_classify,
        claims=(
            Claim(
                "ntk.cntk_gap_cifar",
                "CNTK-GAP depth 11 reaches 77.43% on CIFAR-10.",
                "ntk.classify",
                measure=lambda f: accuracy_points(f, "CNTK-GAP", 11),
                holds=lambda v: v >= 75.0,
                paper_value=77.43,
                tolerance=2.5,
                unit="%",
                preset="paper",
                paper_setup=CIFAR_SETUP,
                paper_data="CIFAR-10",
                qualitative=False,
            ),
            Claim(
                "ntk.cntk_v_cifar",
                "CNTK-V depth 11 reaches about 65.9% on CIFAR-10.",
                "ntk.classify",
                measure=lambda f: accuracy_points(f, "CNTK-V", 11),
                holds=lambda v: 63.0 <= v <= 68.0,
                paper_value=65.90,
                tolerance=2.5,
                unit="%",
                preset="paper",
                paper_setup=CIFAR_SETUP,
                paper_data="CIFAR-10",
                qualitative=False,
            ),
            Claim(
                "ntk.gap_above_vanilla",
                "CNTK-GAP classifies better than CNTK-V at every depth measured (Table 1: by 6.0 to 12.9 "
                "points on CIFAR-10; measure: the smallest difference over depths).",
                "ntk.classify",
                measure=gap_over_vanilla,
                holds=lambda v: v > 0.0,
                paper_value=min(
                    PAPER_CIFAR["CNTK-GAP"][d] - PAPER_CIFAR["CNTK-V"][d] for d in PAPER_CIFAR["CNTK-V"]
                ),
                tolerance=3.0,
                unit="points",
                preset="paper",
                paper_setup=CIFAR_SETUP,
                paper_data="CIFAR-10",
            ),
            Claim(
                "ntk.gap_gains_with_depth",
                "CNTK-GAP gains accuracy with depth: depth 6 above depth 3 (Table 1: +6.3 points on CIFAR-10).",
                "ntk.classify",
                measure=lambda f: gap_depth_gain(f, 3, 6),
                holds=lambda v: v > 0.0,
                paper_value=PAPER_CIFAR["CNTK-GAP"][6] - PAPER_CIFAR["CNTK-GAP"][3],
                tolerance=3.0,
                unit="points",
                preset="paper",
                paper_setup=CIFAR_SETUP,
                paper_data="CIFAR-10",
            ),
            Claim(
                "ntk.digits_kernels",
                "Exact kernels classify digits well from 200 examples (>= 85%).",
                "ntk.classify",
                measure=lambda f: float(f.accuracy.max() * 100),
                holds=lambda v: v >= 85.0,
                unit="%",
                kind="sanity",
                real_preset=None,  # about digits: not judged on the Fashion-MNIST run
            ),
        ),
    ),
    Experiment(
        name="ntk.cntk_convergence",
        datasets={"quick": "digits", "paper": "digits"},  # no dataset field: digits
        title="A finite CNN's empirical NTK converges to the exact CNTK as channels grow",
        config_cls=CNTKConvergenceConfig,
        compute=compute_cntk_convergence,
        presets={
            "quick": CNTKConvergenceConfig(),
            "paper": CNTKConvergenceConfig(channels=(16, 32, 64, 128, 256, 512, 1024), seeds=8, n_images=16),
        },
        version=1,
        charts={"main": charts.cntk_convergence_chart},
        description="Relative Frobenius error of a 3x3 ReLU CNN's tangent kernel (torch.func, float32, vmapped "
        "over seeds) against the CNTK DP, with all layers trained and with CNTK.py's --fix.",
        setups={
            "quick": "8 digits (8x8), CNN depth 3 (2 conv layers, GAP), 16-256 channels x 4 seeds",
            "paper": "16 digits (8x8), CNN depth 3 (2 conv layers, GAP), 16-1024 channels x 8 seeds",
        },
        estimate=estimate_cntk_convergence,
        claims=(
            Claim(
                "ntk.cntk_error_rate",
                "A finite CNN's empirical NTK approaches the CNTK like 1/sqrt(channels) "
                "(log-log slope about -1/2, all layers trained).",
                "ntk.cntk_convergence",
                measure=lambda f: loglog_slope(f[~f.fix], by="channels"),
                holds=lambda v: -0.8 <= v <= -0.3,
                paper_value=-0.5,
                tolerance=0.3,
                unit="slope",
                paper_setup="CIFAR-10 images, CNNs of growing width (Sec. 7)",
                paper_data="CIFAR-10",
            ),
            Claim(
                "ntk.cntk_error_rate_fix",
                "With the first and last layer fixed (--fix) the CNN's kernel approaches "
                "the fixed CNTK at the same rate.",
                "ntk.cntk_convergence",
                measure=lambda f: loglog_slope(f[f.fix], by="channels"),
                holds=lambda v: -0.8 <= v <= -0.3,
                paper_value=-0.5,
                tolerance=0.3,
                unit="slope",
                paper_setup="CIFAR-10 images, CNNs of growing width (Sec. 7)",
                paper_data="CIFAR-10",
            ),
        ),
    ),
    Experiment(
        name="ntk.fix_ablation",
        datasets={"quick": "digits", "paper": "digits"},  # no dataset field: digits
        title="Fixing the first and last layer (CNTK.py --fix) barely moves CNTK accuracy",
        config_cls=FixAblationConfig,
        compute=compute_fix_ablation,
        presets={
            "quick": FixAblationConfig(),
            "paper": FixAblationConfig(n_train=1000, n_test=497, depths=(3, 4, 6, 11), dtype="float64"),
        },
        version=1,
        charts={"main": charts.fix_ablation_chart},
        description="Kernel regression on digits with CNTK-V and CNTK-GAP, all layers trained vs first and last fixed.",
        setups={
            "quick": f"{DIGITS_QUICK}, 100 train / 60 test, CNTK-V and CNTK-GAP at depths 3 and 4, float32 DP",
            "paper": f"{DIGITS_QUICK}, 1000 train / 497 test, CNTK-V and CNTK-GAP at depths 3-11, float64",
        },
        estimate=estimate_fix_ablation,
        claims=(
            Claim(
                "ntk.fix_small",
                "Fixing the first and last layer changes CNTK accuracy by at most 3 points.",
                "ntk.fix_ablation",
                measure=fix_accuracy_change,
                holds=lambda v: v <= 3.0,
                unit="points",
                paper_setup="CIFAR-10: the paper's GAP numbers use --fix, its vanilla numbers do not",
                paper_data="CIFAR-10",
            ),
        ),
    ),
)


__all__ = [
    "EXPERIMENTS",
    "IMAGE_SIDE",
    "ClassifyConfig",
    "CNTKConvergenceConfig",
    "ConvergenceConfig",
    "CurveConfig",
    "DigitsAgreementConfig",
    "FixAblationConfig",
    "HeatmapConfig",
    "fix_accuracy_change",
    "load_images",
    "loglog_slope",
]
