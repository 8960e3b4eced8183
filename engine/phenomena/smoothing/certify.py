"""The experiments on a data set (digits quick, CIFAR-10 paper scale): ``smoothing.certify``
(certified accuracy against radius for several sigmas), ``smoothing.grid`` (training sigma x
certification sigma) and ``smoothing.attack`` (an L2 PGD attack on the base and smoothed
classifiers). Configs, compute functions and cost estimates; registered in :mod:`.experiments`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.core.experiment import Cost, RunContext
from engine.core.params import Boolean, Interval, Options, Tuple, Validated, param
from engine.phenomena.smoothing.settings import ALPHA, DATASETS, MODELS, N0, SEED, SIGMA, SIGMAS, N

if TYPE_CHECKING:
    from engine.phenomena.smoothing.models import NoiseTraining

# The models and the certificate (torch, scipy) are imported where they run, so that the registry
# (configs, presets, claims) loads without them: the home page and the scoreboard stay light.

_CORE = 1.0 / 1.5e6  # seconds per noisy digits-MLP sample on one laptop core (measured 1.3-1.7e6 / s)


_MODELS_FOR = {"digits": ("mlp",), "cifar10": ("resnet110", "resnet18"), "fashion_mnist": ("cnn",)}


def require_model_for_dataset(config: Validated) -> None:
    """The cross-field rule of every config that trains a base classifier: the MLP goes with
    digits, a ResNet with CIFAR-10, the small CNN with Fashion-MNIST."""
    if config.model not in _MODELS_FOR[config.dataset]:
        config.fail(
            "model",
            "'mlp' for digits, a ResNet ('resnet110', 'resnet18') for cifar10 and 'cnn' for fashion_mnist "
            f"(dataset={config.dataset!r})",
        )


# --------------------------------------------------------------------------- experiment: certified accuracy


@dataclass(frozen=True, kw_only=True)
class CertifyConfig(Validated):
    """Train one base classifier per sigma (with noise at that sigma) and certify test inputs."""

    dataset: str = param(
        "digits", Options(DATASETS)
    )  # "digits" (offline, 8x8), "cifar10" (torchvision, online once) or "fashion_mnist" (28x28)
    model: str = param("mlp", Options(MODELS))  # "mlp", "resnet110" (the paper's), "resnet18" or "cnn"
    width: int = param(64, Interval(int, 2, 4096))  # hidden width of the mlp (ignored by the ResNets)
    sigmas: tuple[float, ...] = param(
        (0.25, 0.5, 1.0), SIGMAS
    )  # smoothing (and training) noise levels, input units
    train_noise: bool = param(
        True, Boolean()
    )  # train at the sigma certified at; False trains on clean inputs
    n0: int = param(100, N0)  # samples that choose the top class
    n: int = param(10_000, N)  # samples that estimate its probability
    alpha: float = param(0.001, ALPHA)  # failure probability of each certificate
    batch_size: int = param(1000, Interval(int, 1, 10**6))  # noisy samples per forward pass
    skip: int = param(5, Interval(int, 1, 10_000))  # certify every skip-th test input (paper: 20)
    max_points: int = param(100, Interval(int, 0, 100_000))  # at most this many test inputs (0: no limit)
    epochs: int = param(30, Interval(int, 1, 1000))  # training epochs
    train_batch: int = param(64, Interval(int, 1, 100_000))  # training minibatch
    lr: float = param(
        0.1, Interval(float, 0.0, 10.0, closed="right")
    )  # initial SGD learning rate (momentum 0.9, wd 1e-4)
    lr_step: int = param(10, Interval(int, 1, 1000))  # learning rate x0.1 every lr_step epochs
    seed: int = param(0, SEED)  # data split, initialisation, training and smoothing noise

    def check(self) -> None:
        require_model_for_dataset(self)

    def training(self, sigma: float, noise: str = "gaussian") -> NoiseTraining:
        """The training recipe of the base classifier smoothed at ``sigma`` with ``noise``."""
        from engine.phenomena.smoothing.models import NoiseTraining

        return NoiseTraining(
            sigma=sigma if self.train_noise else 0.0,
            epochs=self.epochs,
            batch_size=self.train_batch,
            lr=self.lr,
            lr_step=self.lr_step,
            augment=self.dataset == "cifar10",  # crops and flips suit CIFAR-10's photos only
            seed=self.seed,
            noise=noise,
        )

    def test_indices(self, count: int) -> list[int]:
        """Every skip-th test input, at most max_points of them."""
        chosen = list(range(0, count, self.skip))
        return chosen[: self.max_points] if self.max_points else chosen


def _clean_correct(model, X: np.ndarray, y: np.ndarray, device: str) -> np.ndarray:
    import torch

    with torch.inference_mode():
        scores = model(torch.as_tensor(X, dtype=torch.float32, device=device))
    return scores.argmax(1).cpu().numpy() == y


def certify_rows(
    config: CertifyConfig,
    split,
    train_sigma: float,
    sigma: float,
    ctx: RunContext,
    share: tuple[float, float] = (0.0, 1.0),
    noise: str = "gaussian",
) -> pd.DataFrame:
    """Certify ``config``'s test inputs at ``sigma`` with a base trained at ``train_sigma`` (when
    ``config.train_noise``), both with ``noise`` (std sigma): index, label, prediction, radius (in
    the noise's norm: L2 for Gaussian, L1 for Laplace and uniform), correct, seconds, base_correct."""
    from engine.phenomena.smoothing.models import trained_model
    from engine.phenomena.smoothing.science import Smooth, certify_dataset

    start, width = share
    named = "" if noise == "gaussian" else f"{noise} "

    def report(fraction: float, message: str) -> None:
        ctx.report(start + fraction * width, f"{named}sigma={sigma:g}: {message}")

    indices = config.test_indices(len(split.X_test))
    net = trained_model(
        config.dataset,
        config.model,
        config.width,
        config.training(train_sigma, noise),
        split,
        device=ctx.device,
        progress=lambda f, m: report(0.2 * f, m),
    )
    smooth = Smooth(
        net,
        split.num_classes,
        sigma,
        input_shape=split.X_test.shape[1:],
        device=ctx.device,
        seed=config.seed,
        noise=noise,
    )
    rows = certify_dataset(
        smooth,
        split.X_test,
        split.y_test,
        n0=config.n0,
        n=config.n,
        alpha=config.alpha,
        batch_size=config.batch_size,
        indices=indices,
        progress=lambda f, m: report(0.2 + 0.8 * f, m),
    )
    frame = pd.DataFrame(list(rows))
    frame["base_correct"] = _clean_correct(net, split.X_test[indices], split.y_test[indices], ctx.device)
    return frame


def compute_certify(config: CertifyConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (sigma, certified test input): index, label, prediction, radius, correct,
    seconds, base_correct (the base classifier on the clean input), cap (largest certifiable radius)."""
    from engine.phenomena.smoothing.models import load_split
    from engine.phenomena.smoothing.science import max_certifiable_radius

    split = load_split(config.dataset, config.seed)
    share = 1.0 / len(config.sigmas)
    frames = [
        certify_rows(config, split, s, s, ctx, (k * share, share)).assign(sigma=s)
        for k, s in enumerate(config.sigmas)
    ]
    out = pd.concat(frames, ignore_index=True)
    out["cap"] = [max_certifiable_radius(s, config.n, config.alpha) for s in out["sigma"]]
    return out.assign(
        dataset=config.dataset,
        model=config.model,
        train_noise=config.train_noise,
        n=config.n,
        n0=config.n0,
        alpha=config.alpha,
    )


def _points(c: Any, available: int) -> int:
    chosen = -(-available // c.skip)
    return min(chosen, c.max_points) if c.max_points else chosen


def _training_seconds(c: Any, trainings: int) -> float:
    """Digits MLP: about 1.2 s for 30 epochs on one core; CIFAR-10 ResNet-110: about 1 h per epoch."""
    per_epoch = {
        "digits": 0.04 * (c.width / 64) ** 2,
        "fashion_mnist": 20.0,  # the small CNN over 60,000 images (measured on one core)
        "cifar10": 3600.0 * (1 if c.model == "resnet110" else 2),
    }[c.dataset]
    return trainings * c.epochs * per_epoch


def _sample_seconds(c: Any) -> float:
    """One core's time per noisy forward pass: digits MLP 0.7 us; the small Fashion-MNIST CNN about
    0.2 ms; a CIFAR ResNet-110 about 15 ms."""
    if c.dataset == "fashion_mnist":
        return 2e-4
    return (
        _CORE * (c.width / 64) ** 2 if c.dataset == "digits" else (0.015 if c.model == "resnet110" else 0.03)
    )


def _memory(c: Any) -> float:
    """Torch and the data set (float64 + a float32 copy), plus one chunk of noisy inputs."""
    dim = {"digits": 64, "fashion_mnist": 784, "cifar10": 3072}[c.dataset]
    data = 1797 * 64 if c.dataset == "digits" else 70_000 * dim
    activations = {"digits": 4 * dim, "fashion_mnist": 4 * 8 * dim, "cifar10": 4 * 16 * 32 * 32 * 110}[
        c.dataset
    ]
    return 3e8 + 12 * data + getattr(c, "batch_size", 1000) * activations


def estimate_certify(c: CertifyConfig) -> Cost:
    points = _points(c, 360 if c.dataset == "digits" else 10_000)
    seconds = (
        1.0 + _training_seconds(c, len(c.sigmas)) + len(c.sigmas) * points * (c.n0 + c.n) * _sample_seconds(c)
    )
    return Cost(bytes=_memory(c), seconds=seconds, drivers=("sigmas", "n", "max_points", "epochs"))


# --------------------------------------------------------------------------- experiment: attack (extension)


@dataclass(frozen=True, kw_only=True)
class AttackConfig(Validated):
    """L2 PGD against the base and the smoothed classifier of one sigma, beside the certificate."""

    dataset: str = param("digits", Options(DATASETS))  # "digits", "cifar10" or "fashion_mnist"
    model: str = param("mlp", Options(MODELS))  # "mlp", "resnet110", "resnet18" or "cnn"
    width: int = param(64, Interval(int, 2, 4096))  # hidden width of the mlp
    sigma: float = param(0.5, SIGMA)  # smoothing and training noise level
    num_points: int = param(40, Interval(int, 1, 10_000))  # test inputs attacked (every skip-th)
    skip: int = param(5, Interval(int, 1, 10_000))  # attack every skip-th test input
    n0: int = param(100, N0)  # certification: samples that choose the top class
    n: int = param(10_000, N)  # certification: samples that estimate its probability
    alpha: float = param(0.001, ALPHA)  # certification: failure probability
    eps_max: float = param(4.0, Interval(float, 0.0, 100.0, closed="right"))  # largest attack radius tried
    bisections: int = param(7, Interval(int, 1, 30))  # bisection steps on the attack radius
    steps: int = param(20, Interval(int, 1, 1000))  # PGD steps per attack
    samples: int = param(
        32, Interval(int, 1, 10_000)
    )  # noise samples per PGD step on the smoothed classifier
    n_check: int = param(1000, Interval(int, 1, 10**6))  # noise samples deciding the smoothed prediction
    epochs: int = param(30, Interval(int, 1, 1000))  # training epochs
    train_batch: int = param(64, Interval(int, 1, 100_000))  # training minibatch
    lr: float = param(0.1, Interval(float, 0.0, 10.0, closed="right"))  # initial SGD learning rate
    lr_step: int = param(10, Interval(int, 1, 1000))  # learning rate x0.1 every lr_step epochs
    seed: int = param(0, SEED)  # everything random

    def check(self) -> None:
        require_model_for_dataset(self)

    def certify_config(self) -> CertifyConfig:
        """The certification run whose base classifier this attack targets."""
        return CertifyConfig(
            dataset=self.dataset,
            model=self.model,
            width=self.width,
            sigmas=(self.sigma,),
            n0=self.n0,
            n=self.n,
            alpha=self.alpha,
            skip=self.skip,
            max_points=self.num_points,
            epochs=self.epochs,
            train_batch=self.train_batch,
            lr=self.lr,
            lr_step=self.lr_step,
            seed=self.seed,
        )


def compute_attack(config: AttackConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per attacked test input: certified radius (and prediction), and the smallest L2 PGD
    radius that changes the base prediction (base_radius) and the smoothed one (smooth_radius);
    *_found is False where the attack failed up to eps_max. Misclassified inputs get radius 0."""
    import torch

    from engine.phenomena.smoothing.models import (
        base_attack_succeeds,
        empirical_radius,
        load_split,
        smooth_attack_succeeds,
        trained_model,
    )
    from engine.phenomena.smoothing.science import Smooth, max_certifiable_radius

    cert = config.certify_config()
    split = load_split(config.dataset, config.seed)
    indices = cert.test_indices(len(split.X_test))
    rows = certify_rows(cert, split, config.sigma, config.sigma, ctx, (0.0, 0.4)).drop(columns="base_correct")
    net = trained_model(
        config.dataset, config.model, config.width, cert.training(config.sigma), split, device=ctx.device
    )
    smooth = Smooth(
        net,
        split.num_classes,
        config.sigma,
        input_shape=split.X_test.shape[1:],
        device=ctx.device,
        seed=config.seed,
    )
    ctx.report(0.4, "attacking the base classifier")
    x = torch.as_tensor(split.X_test[indices], dtype=torch.float32, device=ctx.device)
    y = torch.as_tensor(split.y_test[indices], device=ctx.device)
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    base_r, base_found = empirical_radius(
        base_attack_succeeds(net, x, y, config.steps), len(x), config.eps_max, config.bisections
    )
    ctx.report(0.5, "attacking the smoothed classifier")
    generator = torch.Generator(device=ctx.device).manual_seed(config.seed + 3)
    attack = smooth_attack_succeeds(
        net,
        smooth,
        x,
        y,
        steps=config.steps,
        samples=config.samples,
        n_check=config.n_check,
        generator=generator,
    )
    smooth_r, smooth_found = empirical_radius(attack, len(x), config.eps_max, config.bisections)
    rows["base_radius"], rows["base_found"] = base_r, base_found.astype(bool)
    rows["smooth_radius"], rows["smooth_found"] = smooth_r, smooth_found.astype(bool)
    ctx.report(1.0, "done")
    return rows.assign(
        sigma=config.sigma,
        dataset=config.dataset,
        model=config.model,
        n=config.n,
        alpha=config.alpha,
        eps_max=config.eps_max,
        cap=max_certifiable_radius(config.sigma, config.n, config.alpha),
    )


def estimate_attack(c: AttackConfig) -> Cost:
    """Training, the certificates, and (2 + bisections) PGD runs on f and on g (samples per step, votes)."""
    points = min(c.num_points, -(-(360 if c.dataset == "digits" else 10_000) // c.skip))
    per = _sample_seconds(c)
    attack = (2 + c.bisections) * points * (c.steps * (1 + c.samples) * 3 + c.n_check) * per
    seconds = 1.0 + _training_seconds(c, 1) + points * (c.n0 + c.n) * per + attack
    return Cost(
        bytes=_memory(c) + 12 * c.samples * points * 64,
        seconds=seconds,
        drivers=("num_points", "samples", "n", "bisections"),
    )


# --------------------------------------------------------------------------- experiment: train x certify sigma


@dataclass(frozen=True, kw_only=True)
class GridConfig(Validated):
    """Every (training sigma, certification sigma) pair on one data set: which noise to train with."""

    dataset: str = param("digits", Options(DATASETS))  # "digits", "cifar10" or "fashion_mnist"
    model: str = param("mlp", Options(MODELS))  # "mlp", "resnet110", "resnet18" or "cnn"
    width: int = param(64, Interval(int, 2, 4096))  # hidden width of the mlp
    train_sigmas: tuple[float, ...] = param(
        (0.0, 0.12, 0.25, 0.5, 1.0), Tuple(Interval(float, 0.0, 4.0), max_len=8, increasing=True)
    )  # 0: clean
    certify_sigmas: tuple[float, ...] = param((0.12, 0.25, 0.5, 1.0), SIGMAS)  # smoothing noise levels
    train_noise: bool = param(True, Boolean())  # False trains every row on clean inputs (the control)
    n0: int = param(100, N0)  # samples that choose the top class
    n: int = param(1000, N)  # samples that estimate its probability
    alpha: float = param(0.001, ALPHA)  # failure probability of each certificate
    batch_size: int = param(1000, Interval(int, 1, 10**6))  # noisy samples per forward pass
    skip: int = param(7, Interval(int, 1, 10_000))  # certify every skip-th test input
    max_points: int = param(50, Interval(int, 0, 100_000))  # at most this many test inputs (0: no limit)
    epochs: int = param(30, Interval(int, 1, 1000))  # training epochs
    train_batch: int = param(64, Interval(int, 1, 100_000))  # training minibatch
    lr: float = param(0.1, Interval(float, 0.0, 10.0, closed="right"))  # initial SGD learning rate
    lr_step: int = param(10, Interval(int, 1, 1000))  # learning rate x0.1 every lr_step epochs
    seed: int = param(0, SEED)  # data split, initialisation, training and smoothing noise

    def check(self) -> None:
        require_model_for_dataset(self)

    def certify_config(self) -> CertifyConfig:
        fields = (
            "dataset",
            "model",
            "width",
            "train_noise",
            "n0",
            "n",
            "alpha",
            "batch_size",
            "skip",
            "max_points",
            "epochs",
            "train_batch",
            "lr",
            "lr_step",
            "seed",
        )
        return CertifyConfig(sigmas=self.certify_sigmas, **{f: getattr(self, f) for f in fields})


def compute_grid(config: GridConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (train_sigma, certify_sigma, test input): index, label, prediction, radius,
    correct, base_correct, cap. The base of row train_sigma is trained with that noise (clean when
    ``train_noise`` is False) and smoothed at certify_sigma."""
    from engine.phenomena.smoothing.models import load_split
    from engine.phenomena.smoothing.science import max_certifiable_radius

    cert = config.certify_config()
    split = load_split(config.dataset, config.seed)
    pairs = [(t, s) for t in config.train_sigmas for s in config.certify_sigmas]
    frames = [
        certify_rows(cert, split, t, s, ctx, (k / len(pairs), 1 / len(pairs))).assign(train_sigma=t, sigma=s)
        for k, (t, s) in enumerate(pairs)
    ]
    out = pd.concat(frames, ignore_index=True)
    out["cap"] = [max_certifiable_radius(s, config.n, config.alpha) for s in out["sigma"]]
    return out.assign(
        dataset=config.dataset,
        model=config.model,
        train_noise=config.train_noise,
        n=config.n,
        alpha=config.alpha,
    )


def estimate_grid(c: GridConfig) -> Cost:
    points = _points(c, 360 if c.dataset == "digits" else 10_000)
    pairs = len(c.train_sigmas) * len(c.certify_sigmas)
    seconds = (
        1.0 + _training_seconds(c, len(c.train_sigmas)) + pairs * points * (c.n0 + c.n) * _sample_seconds(c)
    )
    return Cost(
        bytes=_memory(c), seconds=seconds, drivers=("train_sigmas", "certify_sigmas", "n", "max_points")
    )
