"""Randomized smoothing, the names and constraints every config shares: models, data sets, noise
distributions, seeds, sample counts, alpha and sigma. Plain values (no torch, no scipy), so the
registry, the scoreboard and the home page read the configs without loading the models."""

from __future__ import annotations

from engine.core.params import Interval, Tuple

MODELS = ("mlp", "resnet110", "resnet18", "cnn")
DATASETS = ("digits", "cifar10", "fashion_mnist")
NOISES = ("gaussian", "laplace", "uniform")  # the smoothing (and training) noise distributions
SEED = Interval(int, 0, 2**31 - 1)  # seeds of the configs
N0 = Interval(int, 1, 10**6)  # samples that choose the top class
N = Interval(int, 1, 10**7)  # samples that estimate its probability
ALPHA = Interval(float, 0.0, 1.0, closed="neither")  # failure probability of each certificate
SIGMA = Interval(float, 0.01, 4.0)  # smoothing noise level, input units
SIGMAS = Tuple(SIGMA, max_len=8, increasing=True)  # several noise levels
