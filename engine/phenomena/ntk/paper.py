"""The paper's numbers and setups (Arora et al., NeurIPS 2019), drawn beside ours."""

from __future__ import annotations

import pandas as pd

#: Table 1: CIFAR-10 test accuracy (%), method -> {depth: accuracy}. Depth = conv layers + 1.
PAPER_CIFAR = {
    "CNTK-V": {3: 64.47, 4: 65.52, 6: 66.03, 11: 65.90, 21: 64.09},
    "CNTK-GAP": {3: 70.47, 4: 75.93, 6: 76.73, 11: 77.43, 21: 77.0},
    "CNN-V": {3: 59.97, 4: 60.20, 6: 64.11, 11: 69.48, 21: 75.57},
    "CNN-GAP": {3: 63.81, 4: 80.93, 6: 83.75, 11: 82.92, 21: 83.30},
}
CIFAR_SETUP = "CIFAR-10, 50k train / 10k test, exact CNTK, no ridge"

#: Figure 1 (read off the plot): relative Frobenius error of a 3-hidden-layer MLP's empirical NTK
#: at initialisation against the exact NTK, width -> error.
PAPER_CONVERGENCE = {64: 0.38, 512: 0.12, 4096: 0.055}
CONVERGENCE_SETUP = "synthetic inputs, ReLU MLP with 3 hidden layers, widths 64-4096"

#: The reference code's choices (CNTK.py): GAP results use --fix (first and last layer fixed),
#: vanilla ones do not.
PAPER_FIX = {"CNTK-GAP": True, "CNTK-V": False}


def paper_table() -> pd.DataFrame:
    """The paper's CIFAR-10 table (accuracy %, by method and depth) as a frame for display."""
    return pd.DataFrame(PAPER_CIFAR).T.rename_axis("method").rename(columns=lambda d: f"depth {d}")
