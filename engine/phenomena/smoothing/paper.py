"""The paper's numbers and setups (Cohen, Rosenfeld, Kolter, ICML 2019; locuslab/smoothing), drawn
beside ours. Data only: no computation."""

from __future__ import annotations

#: The paper's CIFAR-10 certified accuracy (Table / Figure 6 of Cohen et al.), sigma -> radius -> accuracy.
PAPER_CIFAR10 = {
    0.12: {0.0: 0.81, 0.25: 0.59, 0.5: 0.0, 0.75: 0.0, 1.0: 0.0, 1.25: 0.0, 1.5: 0.0},
    0.25: {0.0: 0.75, 0.25: 0.60, 0.5: 0.43, 0.75: 0.27, 1.0: 0.0, 1.25: 0.0, 1.5: 0.0},
    0.5: {0.0: 0.65, 0.25: 0.55, 0.5: 0.41, 0.75: 0.32, 1.0: 0.23, 1.25: 0.15, 1.5: 0.09},
    1.0: {0.0: 0.47, 0.25: 0.39, 0.5: 0.34, 0.75: 0.28, 1.0: 0.22, 1.25: 0.17, 1.5: 0.14},
}

#: The reference certify.py's defaults.
PAPER_N0, PAPER_N, PAPER_ALPHA, PAPER_BATCH = 100, 100_000, 0.001, 1000

#: What the paper's CIFAR-10 numbers measured (for the scoreboard's setup column).
PAPER_SETUP_CIFAR10 = (
    "CIFAR-10, ResNet-110 trained with noise, n = 100,000, alpha = 0.001, every 20th test image"
)

#: The tightness result (Theorem 1's converse, a linear base classifier): exact, no data set.
PAPER_SETUP_LINEAR = "Theorem 1 tightness: a linear base classifier, exact (no data set)"

#: The recommendation to train with the noise level one certifies at (Section 4 / Appendix).
PAPER_SETUP_TRAIN_SIGMA = "CIFAR-10 / ImageNet, base trained with noise at the certified sigma"
