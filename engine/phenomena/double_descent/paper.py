"""The paper's numbers and setups (Heckel & Yilmaz, ICLR 2021; reference code MLI-lab/early_stopping_double_descent).

Drawn beside ours by the charts and used as the claims' ``paper_value`` / ``paper_setup``.
"""

from __future__ import annotations

#: Fig. 2 (linear model): feature stds (1, 0.15), theta* = (0.45, 3.0), n = 10, noise std 1,
#: lr 0.1; the scaled run multiplies the second feature's step by 43.  Its bump is small.
FIG2 = {
    "n": 10,
    "noise_std": 1.0,
    "feature_std": (1.0, 0.15),
    "theta": (0.45, 3.0),
    "lr": 0.1,
    "lr_factor": 43.0,
}
FIG2_BUMP = (0.02, 0.03)  # the bump's size in the paper's plot (risk units), as read off the figure
FIG2_SETUP = "Fig. 2: linear model, 2 features (stds 1, 0.15), n = 10, GD lr 0.1 (scaled: x43)"

#: Fig. 3, same step size: L1 test risk at start, early minimum, peak and end; scaled: end (monotone).
TWO_LAYER = {"start": 14.5, "early minimum": 6.4, "peak": 9.9, "final": 6.06, "scaled final": 5.74}
TWO_LAYER_SETUP = "Fig. 3: Linear(50, 250)-ReLU-Linear(250, 1), n = 100, full-batch GD 50k steps"
#: (label, L1 risk) drawn as dashed rules on the two-layer chart.
TWO_LAYER_REFERENCE = (("early minimum", 6.4), ("peak", 9.9), ("final", 6.06), ("scaled: final", 5.74))

#: The 5-layer CNN on CIFAR-10 with 20% label noise (9-epoch smoothed test error).
CNN_SETUP = "CIFAR-10, 20% label noise, 5-layer CNN (w = 64), SGD 4000+ epochs"
CNN_BASE = {"early minimum": 0.199, "early minimum at": 30, "peak": 0.295, "peak at": 170, "final": 0.263}
CNN_SMALL_FINAL = {
    "minimum": 0.159,
    "minimum at": 64,
    "later": 0.244,
}  # final layer lr 0.001: no second descent
CNN_LARGE_FINAL = {
    "early minimum": 0.222,
    "early minimum at": 25,
    "peak": 0.310,
    "peak at": 212,
    "final": 0.278,
}
#: (run, what, epoch, test error) drawn as points on CIFAR-10 charts; runs named as our frames name them.
CNN_REFERENCE = (
    ("final layer x1", "early minimum", 30, 0.199),
    ("final layer x1", "peak", 170, 0.295),
    ("final layer x1", "final", 4000, 0.263),
    ("final layer x0.01", "minimum, no second descent", 64, 0.159),
    ("final layer x0.01", "later", 4000, 0.244),
    ("final layer x2", "early minimum", 25, 0.222),
    ("final layer x2", "peak", 212, 0.310),
    ("final layer x2", "final", 4000, 0.278),
)
#: name -> (final_lr_scale, conv_lr_scale) with base lr 0.1: the reference's base, ff_small_lr
#: (final layer 0.001) and ff_large_lr (conv 0.05, BatchNorm 0.1, final 0.2) runs.
CNN_RUNS = {"base": (1.0, 1.0), "final layer 0.001": (0.01, 1.0), "final layer 0.2": (2.0, 0.5)}

#: Model-wise double descent (extension, not in the paper): min-norm random features peak at p = n.
RF_SETUP = "min-norm ReLU random features (extension; Belkin et al.'s interpolation peak)"
