"""Bao et al. (NeurIPS 2020) and its reference code (github XuchanBao/linear-ae): numbers and setups.

Nothing here computes; experiments.py builds the paper presets from these values and charts.py
draws the paper's numbers beside ours.
"""

from __future__ import annotations

import numpy as np

#: The reference's ladder: reg = linspace(REG_MIN, REG_MAX, k), penalty |diag(reg) W1|^2 + |W2 diag(reg)|^2.
REG_MIN, REG_MAX = 0.1, 0.9
INIT_STD = 1e-4  # init_scale: weights start N(0, 1e-4^2)

#: MNIST (mains/train_mnist.py, configs/mnist.py): 60k x 784 in [0, 1], centred, k = 20, 30k full-batch steps.
MNIST_K = 20
MNIST_STEPS = 30_000
#: Step sizes per model and optimizer (SGD = Nesterov momentum 0.9).
MNIST_LR = {  # configs/mnist.py; nested_dropout is its "nd" (and "nd_exp", the expected loss) entry
    "sgd": {"uniform": 1e-3, "non_uniform": 3e-4, "rotation": 3e-3, "nested_dropout": 3e-2},
    "adam": {"uniform": 1e-3, "non_uniform": 1e-2, "rotation": 1e-3, "nested_dropout": 1e-2},
}
MNIST_UNIFORM_ALIGNMENT = 0.73  # Fig. 2: uniform L2 stalls at about this axis alignment
MNIST_ROTATION_ALIGNMENT = 0.0  # Fig. 2: RAG (SGD) reaches about 0 by 15k iterations
MNIST_ROTATION_STEPS = 15_000
MNIST_SETUP = "MNIST 60k x 784, k = 20, SGD (Nesterov 0.9), 30k full-batch steps"

#: Approximate MNIST spectrum (training images in [0, 1], centred), as widely reported for PCA of
#: MNIST: total variance about 52.7 and the top-20 explained-variance ratios below. Used only to
#: state, before any run, which reference-ladder latents collapse (lambda_i >= s_i); the paper
#: preset measures it on the real covariance (column ``collapsed`` of its frame).
MNIST_TOTAL_VARIANCE = 52.7
MNIST_TOP20_RATIO = np.array(
    [
        0.0970,
        0.0710,
        0.0617,
        0.0539,
        0.0487,
        0.0431,
        0.0327,
        0.0288,
        0.0276,
        0.0234,
        0.0211,
        0.0204,
        0.0171,
        0.0169,
        0.0158,
        0.0149,
        0.0132,
        0.0128,
        0.0119,
        0.0115,
    ]
)


def mnist_eigenvalues_approx() -> np.ndarray:
    """The approximate top-20 MNIST covariance eigenvalues (20,), descending (about 5.1 ... 0.61)."""
    return MNIST_TOTAL_VARIANCE * MNIST_TOP20_RATIO


#: Fig. 4 (mains/train_synth.py, configs/synth.py): d = 1000, n = 5000 Gaussian samples whose
#: population eigenvalues run linearly from 100 down to 1, 50k full-batch steps, alignment threshold
#: 0.3 (the "0.3" in fig4_0.3.png), ladder reg = linspace(0.1, min(0.1 (d - k - 1), 10), k).
FIG4_D, FIG4_N, FIG4_TOP = 1000, 5000, 100.0
FIG4_KS = (2, 5, 10, 20, 50, 100, 200, 300, 400, 500)
FIG4_STEPS = 50_000
FIG4_THRESHOLD = 0.3
FIG4_LR = {"sgd": {"non_uniform": 1e-3, "rotation": 1e-4}, "adam": {"non_uniform": 3e-3, "rotation": 3e-4}}
FIG4_SETUP = "synthetic d = 1000, n = 5000, eigenvalues 100 -> 1, 50k full-batch steps, threshold 0.3"


def fig4_reg_max(d: int, k: int) -> float:
    """The top of the reference's Fig. 4 ladder: min(0.1 (d - k - 1), 0.01 d) (= 10 at d = 1000)."""
    return min(0.1 * (d - k - 1), 0.01 * d)


def mnist_collapse_approx() -> list[int]:
    """1-based latents whose reference penalty lam_i = reg_i^2 reaches the approximate MNIST eigenvalue
    s_i (they collapse to zero at the optimum): [19, 20]; latent 18 survives with norm about 0.12."""
    lam = np.linspace(REG_MIN, REG_MAX, MNIST_K) ** 2
    return [int(i) + 1 for i in np.flatnonzero(lam >= mnist_eigenvalues_approx())]
