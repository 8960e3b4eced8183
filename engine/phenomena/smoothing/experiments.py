"""Certified robustness by randomized smoothing (Cohen, Rosenfeld, Kolter, ICML 2019).

A base classifier ``f`` (any torch module mapping a batch of inputs to class scores) becomes the
smoothed classifier

    g(x) = argmax_c P(f(x + eps) = c),   eps ~ N(0, sigma^2 I),

and if the top class has probability at least ``pA > 1/2`` then ``g`` is constant on the L2 ball of
radius ``sigma * Phi^-1(pA)`` around ``x`` (Theorem 1 with pB = 1 - pA). :class:`Smooth` estimates
``g`` by Monte Carlo: :meth:`Smooth.certify` returns a radius that is correct with probability at
least ``1 - alpha`` over the noise, :meth:`Smooth.predict` abstains unless the top class wins a
binomial test at level ``alpha``. The noise is added in input space (for images: [0, 1] pixels),
before any :class:`NormalizeLayer` that the base classifier starts with.

Experiments: ``smoothing.toy`` (a 2-D picture of base and smoothed regions with certified circles),
``smoothing.certify`` (certified accuracy against radius for several sigmas: digits quick, CIFAR-10
paper scale) and ``smoothing.attack`` (an L2 PGD attack on the base and smoothed classifiers, to
compare the empirical robustness radius with the certified one).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import joblib
import numpy as np
import pandas as pd
import torch
from scipy import ndimage, special, stats
from torch import nn

from engine.core import cache
from engine.core.data import DataUnavailable, Split, digits, torchvision_images
from engine.core.experiment import Claim, Experiment, RunContext
from engine.core.validation import ConfigError, check_bool, check_choice, check_float, check_float_tuple, check_int

#: The label :meth:`Smooth.certify` and :meth:`Smooth.predict` return when they abstain.
ABSTAIN = -1

#: Noise tensor budget per forward chunk; larger batches are split (see :meth:`Smooth.sample_counts`).
DEFAULT_MAX_BATCH_BYTES = 256 * 2**20

#: The paper's CIFAR-10 certified accuracy (Table / Figure 6 of Cohen et al.), radius -> accuracy.
PAPER_CIFAR10 = {
    0.12: {0.0: 0.81, 0.25: 0.59, 0.5: 0.0, 0.75: 0.0, 1.0: 0.0, 1.25: 0.0, 1.5: 0.0},
    0.25: {0.0: 0.75, 0.25: 0.60, 0.5: 0.43, 0.75: 0.27, 1.0: 0.0, 1.25: 0.0, 1.5: 0.0},
    0.5: {0.0: 0.65, 0.25: 0.55, 0.5: 0.41, 0.75: 0.32, 1.0: 0.23, 1.25: 0.15, 1.5: 0.09},
    1.0: {0.0: 0.47, 0.25: 0.39, 0.5: 0.34, 0.75: 0.28, 1.0: 0.22, 1.25: 0.17, 1.5: 0.14},
}

#: The CIFAR-10 channel statistics the normalisation layer uses (train set, [0, 1] pixels).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)

CHECKPOINT_FOLDER = "smoothing-checkpoints"
TRAIN_VERSION = 1  # bump when training changes: old checkpoints are then never resumed


# --------------------------------------------------------------------------- argument checks


def _bad(owner: str, name: str, allowed: str, value: Any) -> ConfigError:
    return ConfigError(f"The '{name}' parameter of {owner} must be {allowed}. Got {value!r} instead.")


def _require_int(owner: str, name: str, value: Any, low: int) -> int:
    """An int >= low, else one clear :class:`ConfigError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise _bad(owner, name, f"an int in [{low}, inf)", value)
    return int(value)


def _require_float(owner: str, name: str, value: Any, low: float, high: float | None = None) -> float:
    """A finite float in the open interval (low, high), else one clear :class:`ConfigError`."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and float(value) > low
    ok = ok and (high is None or float(value) < high)
    if not ok:
        raise _bad(owner, name, f"a float in ({low:g}, {'inf' if high is None else f'{high:g}'})", value)
    return float(value)


# --------------------------------------------------------------------------- statistics


def lower_confidence_bound(count: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion.

    The largest ``p`` with ``P(Binomial(n, p) >= count) <= alpha``: the ``alpha`` quantile of
    Beta(count, n - count + 1), and 0 when ``count`` is 0. Computed in float64.
    """
    n = _require_int("lower_confidence_bound", "n", n, 1)
    alpha = _require_float("lower_confidence_bound", "alpha", alpha, 0.0, 1.0)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= n:
        raise _bad("lower_confidence_bound", "count", f"an int in [0, {n}]", count)
    if count == 0:
        return 0.0
    return float(special.betaincinv(float(count), float(n - count + 1), alpha))


def radius_from_probability(p_lower: float, sigma: float) -> float:
    """The certified L2 radius ``sigma * Phi^-1(p_lower)`` (0 when ``p_lower <= 1/2``)."""
    return float(sigma * stats.norm.ppf(p_lower)) if p_lower > 0.5 else 0.0


def max_certifiable_radius(sigma: float, n: int, alpha: float) -> float:
    """The largest radius ``n`` samples can certify: ``sigma * Phi^-1(alpha^(1/n))`` (all n agree)."""
    sigma = _require_float("max_certifiable_radius", "sigma", sigma, 0.0)
    n = _require_int("max_certifiable_radius", "n", n, 1)
    alpha = _require_float("max_certifiable_radius", "alpha", alpha, 0.0, 1.0)
    return radius_from_probability(alpha ** (1.0 / n), sigma)


def top_class_wins(top: int, second: int, alpha: float) -> bool:
    """Whether ``top`` beats ``second`` in a two-sided binomial test (p = 1/2) at level ``alpha``."""
    if top + second == 0:
        return False
    return bool(stats.binomtest(int(top), int(top + second), 0.5).pvalue <= alpha)


def certified_accuracy(rows: Iterable[dict] | pd.DataFrame, radii: Iterable[float]) -> np.ndarray:
    """Fraction of inputs classified correctly with certified radius >= r, for each r in ``radii``.

    ``rows`` are :func:`certify_dataset` rows (or a frame with ``correct`` and ``radius``
    columns); an abstention (prediction -1, radius 0) counts as wrong. Shape (len(radii),).
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if frame.empty:
        raise ValueError("certified_accuracy needs at least one row.")
    correct = frame["correct"].to_numpy(dtype=bool)
    radius = frame["radius"].to_numpy(dtype=np.float64)
    r = np.asarray(list(radii), dtype=np.float64)
    return (correct[None, :] & (radius[None, :] >= r[:, None])).mean(axis=1)


# --------------------------------------------------------------------------- the smoothed classifier


class NormalizeLayer(nn.Module):
    """``(x - mean) / std`` as the first layer of a base classifier, so that smoothing noise is
    added in raw input units. ``mean``/``std`` broadcast against one input (e.g. shape (C, 1, 1))."""

    def __init__(self, mean: Any, std: Any):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class Smooth:
    """The smoothed classifier ``g`` of a base classifier ``f`` under N(0, sigma^2 I) noise.

    ``base_classifier`` maps a batch (B, *input_shape) to scores (B, num_classes); its argmax is
    ``f``. ``sigma`` is in input units. Sampling runs on ``device`` (default: the device of the
    classifier's parameters) with a ``torch.Generator`` seeded by ``seed`` unless a generator is
    passed to a call. ``input_shape`` (optional) makes a wrongly shaped input fail clearly.
    """

    def __init__(
        self,
        base_classifier: nn.Module,
        num_classes: int,
        sigma: float,
        *,
        input_shape: tuple[int, ...] | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ):
        if not callable(base_classifier):
            raise _bad("Smooth", "base_classifier", "a callable torch module", base_classifier)
        self.base_classifier = base_classifier
        self.num_classes = _require_int("Smooth", "num_classes", num_classes, 2)
        self.sigma = _require_float("Smooth", "sigma", sigma, 0.0)
        self.input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        self.device = torch.device(device) if device is not None else _module_device(base_classifier)
        self.dtype = _module_dtype(base_classifier)
        self.max_batch_bytes = _require_int("Smooth", "max_batch_bytes", max_batch_bytes, 1)
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))

    # -- public API (the reference code's interface) --

    def certify(
        self, x: Any, n0: int, n: int, alpha: float, batch_size: int, *, generator: torch.Generator | None = None
    ) -> tuple[int, float]:
        """``(prediction, radius)``: ``n0`` samples choose the top class cA, ``n`` fresh samples
        count it, pA_lower is the one-sided (1 - alpha) Clopper-Pearson bound; ``(ABSTAIN, 0.0)``
        if pA_lower < 1/2, else radius ``sigma * Phi^-1(pA_lower)`` (L2, input units). With
        probability >= 1 - alpha over the noise, g(x + delta) = cA for every |delta| < radius."""
        n0 = _require_int("Smooth.certify", "n0", n0, 1)
        n = _require_int("Smooth.certify", "n", n, 1)
        alpha = _require_float("Smooth.certify", "alpha", alpha, 0.0, 1.0)
        x = self._check_input(x, "Smooth.certify")
        selection = self.sample_counts(x, n0, batch_size, generator=generator)
        top = int(selection.argmax())
        counts = self.sample_counts(x, n, batch_size, generator=generator)
        p_lower = lower_confidence_bound(int(counts[top]), n, alpha)
        if p_lower < 0.5:
            return ABSTAIN, 0.0
        return top, radius_from_probability(p_lower, self.sigma)

    def predict(
        self, x: Any, n: int, alpha: float, batch_size: int, *, generator: torch.Generator | None = None
    ) -> int:
        """The top class of ``n`` noisy samples, or ``ABSTAIN`` unless a two-sided binomial test of
        the top two counts rejects equality at level ``alpha`` (then P(answer != g(x)) <= alpha)."""
        n = _require_int("Smooth.predict", "n", n, 1)
        alpha = _require_float("Smooth.predict", "alpha", alpha, 0.0, 1.0)
        x = self._check_input(x, "Smooth.predict")
        counts = self.sample_counts(x, n, batch_size, generator=generator)
        second, top = np.argsort(counts, kind="stable")[-2:]
        return int(top) if top_class_wins(int(counts[top]), int(counts[second]), alpha) else ABSTAIN

    def sample_counts(
        self, x: Any, num: int, batch_size: int, *, generator: torch.Generator | None = None
    ) -> np.ndarray:
        """How often f(x + eps) says each class over ``num`` noise draws; int64 array (num_classes,).

        Draws in chunks of at most ``batch_size`` (further capped so one chunk's noise stays under
        ``max_batch_bytes``, and halved on an out-of-memory error)."""
        num = _require_int("Smooth.sample_counts", "num", num, 1)
        batch_size = _require_int("Smooth", "batch_size", batch_size, 1)
        x = self._check_input(x, "Smooth.sample_counts")
        gen = generator if generator is not None else self.generator
        per_sample = max(1, x.numel() * x.element_size())
        chunk = max(1, min(batch_size, num, self.max_batch_bytes // per_sample))
        counts = torch.zeros(self.num_classes, dtype=torch.int64, device=self.device)
        remaining = num
        with torch.inference_mode():
            buffer = torch.empty((chunk, *x.shape), device=self.device, dtype=x.dtype)
            while remaining > 0:
                size = min(chunk, remaining)
                try:
                    counts += self._count_chunk(x, buffer[:size], gen)
                except (RuntimeError, MemoryError) as err:
                    if not _is_out_of_memory(err) or size == 1:
                        raise
                    chunk = max(1, size // 2)
                    continue
                remaining -= size
        return counts.cpu().numpy()

    # -- helpers --

    def _count_chunk(self, x: torch.Tensor, batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Class counts of f on ``batch`` (overwritten in place with x + N(0, sigma^2 I) draws)."""
        batch.normal_(0.0, self.sigma, generator=gen).add_(x)
        scores = self.base_classifier(batch)
        if scores.ndim != 2 or scores.shape[1] != self.num_classes:
            raise ValueError(
                f"The base classifier must return scores of shape (batch, {self.num_classes}). "
                f"Got {tuple(scores.shape)} instead."
            )
        return torch.bincount(scores.argmax(dim=1), minlength=self.num_classes)

    def _check_input(self, x: Any, owner: str) -> torch.Tensor:
        """One input (no batch dimension) as a float tensor on the device, finite, right shape."""
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        x = x.to(self.dtype)
        if self.input_shape is not None and tuple(x.shape) != self.input_shape:
            raise ConfigError(
                f"The 'x' parameter of {owner} must be one input of shape {self.input_shape} "
                f"(no batch dimension). Got shape {tuple(x.shape)} instead."
            )
        if x.ndim == 0:
            raise ConfigError(f"The 'x' parameter of {owner} must be one input tensor. Got a scalar instead.")
        if not bool(torch.isfinite(x).all()):
            raise ConfigError(f"The 'x' parameter of {owner} must be finite. Got NaN or inf entries.")
        return x.to(self.device)


def _module_device(module: Any) -> torch.device:
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    return params[0].device if params else torch.device("cpu")


def _module_dtype(module: Any) -> torch.dtype:
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    return params[0].dtype if params and params[0].is_floating_point() else torch.float32


def certify_dataset(
    smooth: Smooth,
    X: Any,
    y: Any,
    *,
    n0: int,
    n: int,
    alpha: float,
    batch_size: int,
    indices: Iterable[int] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Iterator[dict]:
    """Certify ``X[i]`` for each i in ``indices`` (default: all), yielding one row per input:
    ``{index, label, prediction, radius, correct, seconds}`` (radius in input units; seconds of
    wall time for that input). A generator, so rows stream as they are computed."""
    indices = list(range(len(X))) if indices is None else [int(i) for i in indices]
    for k, i in enumerate(indices):
        start = time.perf_counter()
        prediction, radius = smooth.certify(X[i], n0, n, alpha, batch_size)
        label = int(y[i])
        yield {
            "index": i,
            "label": label,
            "prediction": int(prediction),
            "radius": float(radius),
            "correct": bool(prediction == label),
            "seconds": time.perf_counter() - start,
        }
        if progress is not None:
            progress((k + 1) / len(indices), f"certified {k + 1}/{len(indices)}")


# --------------------------------------------------------------------------- models


def _init_weights(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """He-normal weights and zero biases from ``generator`` (no global RNG)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu", generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def mlp(in_features: int, width: int, num_classes: int) -> nn.Sequential:
    """A two-hidden-layer ReLU network: (B, in_features) -> (B, num_classes)."""
    return nn.Sequential(
        nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, num_classes)
    )


class _BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a (projected where the shape changes) shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet(widths: tuple[int, ...], blocks: int, num_classes: int = 10) -> nn.Sequential:
    """A CIFAR ResNet: 3x3 stem, stages of ``blocks`` basic blocks at ``widths`` (stride 2 between
    stages), global average pooling, linear head. (B, 3, 32, 32) -> (B, num_classes).

    ResNet-110 (the paper's): widths (16, 32, 64), 18 blocks. ResNet-18: (64, 128, 256, 512), 2."""
    layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c_in = widths[0]
    for stage, c_out in enumerate(widths):
        for b in range(blocks):
            layers.append(_BasicBlock(c_in, c_out, 2 if (stage > 0 and b == 0) else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)


MODELS = ("mlp", "resnet110", "resnet18")
DATASETS = ("digits", "cifar10")


def build_model(name: str, split: Split, *, width: int, seed: int) -> nn.Sequential:
    """The base classifier ``name`` for ``split``'s inputs, led by its normalisation layer."""
    if name == "mlp":
        X = split.X_train.reshape(len(split.X_train), -1)
        body = mlp(X.shape[1], width, split.num_classes)
        norm = NormalizeLayer(X.mean(axis=0), X.std())
    else:
        body = resnet((16, 32, 64), 18) if name == "resnet110" else resnet((64, 128, 256, 512), 2)
        norm = NormalizeLayer(np.reshape(CIFAR10_MEAN, (3, 1, 1)), np.reshape(CIFAR10_STD, (3, 1, 1)))
    generator = torch.Generator().manual_seed(int(seed))
    return nn.Sequential(norm, _init_weights(body, generator))


# --------------------------------------------------------------------------- noise-augmented training


@dataclass(frozen=True, kw_only=True)
class NoiseTraining:
    """How a base classifier is trained: SGD on cross-entropy of (x + N(0, sigma^2 I), y)."""

    sigma: float = 0.25  # training noise level (input units); 0 trains on clean inputs
    epochs: int = 30  # passes over the training set
    batch_size: int = 64  # minibatch size
    lr: float = 0.1  # initial SGD learning rate
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 1e-4  # L2 penalty
    lr_step: int = 10  # multiply the learning rate by 0.1 every lr_step epochs
    augment: bool = False  # random crop (pad 4) + horizontal flip, for CIFAR-10 images
    seed: int = 0  # seeds initialisation, shuffling, augmentation and noise

    def __post_init__(self):
        check_float(self, "sigma", 0.0, 10.0)
        check_int(self, "epochs", 1, 10_000)
        check_int(self, "batch_size", 1, 1_000_000)
        check_float(self, "lr", 0.0, 10.0, low_open=True)
        check_float(self, "momentum", 0.0, 1.0, high_open=True)
        check_float(self, "weight_decay", 0.0, 1.0)
        check_int(self, "lr_step", 1, 10_000)
        check_bool(self, "augment")
        check_int(self, "seed", 0, 2**31 - 1)


def _augment(xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per image: a random HxW crop of the zero-padded (4 px) image and a random horizontal flip.
    (B, C, H, W) -> (B, C, H, W); the offsets and flips come from ``generator`` (CPU)."""
    b, c, h, w = xb.shape
    padded = nn.functional.pad(xb, (4, 4, 4, 4))
    dy, dx = (torch.randint(0, 9, (2, b), generator=generator)).to(xb.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(xb.device)
    cols = torch.arange(w, device=xb.device)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    rows = torch.arange(h, device=xb.device) + dy[:, None]
    batch = torch.arange(b, device=xb.device)[:, None, None, None]
    channel = torch.arange(c, device=xb.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def _save_atomic(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train_with_noise(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    settings: NoiseTraining,
    *,
    device: str = "cpu",
    checkpoint: Path | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> nn.Module:
    """Train ``model`` in place on Gaussian-noise-augmented inputs (the paper's recipe: train at
    the sigma you certify at). ``X`` (N, *input_shape) in raw input units, ``y`` (N,) ints.

    With ``checkpoint`` the model, optimiser, schedule and generator states are saved after every
    epoch and a later call with the same path resumes after the last finished epoch."""
    model.to(device).train()
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.int64, device=device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_step, gamma=0.1)
    shuffle = torch.Generator().manual_seed(settings.seed + 1)
    noise = torch.Generator(device=device).manual_seed(settings.seed + 2)
    first = _resume(checkpoint, model, optimizer, schedule, shuffle, noise)
    for epoch in range(first, settings.epochs):
        _train_epoch(model, Xt, yt, settings, optimizer, shuffle, noise)
        schedule.step()
        if checkpoint is not None:
            _save_atomic(
                {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "schedule": schedule.state_dict(), "shuffle": shuffle.get_state(), "noise": noise.get_state()},
                checkpoint,
            )
        if progress is not None:
            progress((epoch + 1) / settings.epochs, f"training epoch {epoch + 1}/{settings.epochs}")
    return model.eval()


def _resume(checkpoint, model, optimizer, schedule, shuffle, noise) -> int:
    """Load a checkpoint if there is one; return the first epoch still to train."""
    if checkpoint is None or not Path(checkpoint).exists():
        return 0
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    shuffle.set_state(state["shuffle"])
    noise.set_state(state["noise"])
    return int(state["epoch"]) + 1


def _train_epoch(model, Xt, yt, settings, optimizer, shuffle, noise) -> None:
    order = torch.randperm(len(Xt), generator=shuffle).to(Xt.device)
    for start in range(0, len(Xt), settings.batch_size):
        idx = order[start : start + settings.batch_size]
        xb = Xt[idx]
        if settings.augment:
            xb = _augment(xb, shuffle)
        if settings.sigma > 0:
            xb = xb + settings.sigma * torch.randn(xb.shape, generator=noise, device=xb.device)
        loss = nn.functional.cross_entropy(model(xb), yt[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


# --------------------------------------------------------------------------- empirical attack (extension)


def pgd_l2(
    scores: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, steps: int
) -> torch.Tensor:
    """Projected gradient ascent on cross-entropy inside L2 balls: x (B, ...), y (B,), eps (B,).

    Each step moves ``2.5 * eps / steps`` along the normalised gradient and projects back onto
    |delta| <= eps; starts from delta = 0; no box constraint (the certificate holds in all of R^d).
    Returns the adversarial inputs (B, ...)."""
    shape = (-1,) + (1,) * (x.ndim - 1)
    step = (2.5 * eps / steps).view(shape)
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = nn.functional.cross_entropy(scores(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
        grad_norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape)
        delta = delta.detach() + step * grad / grad_norm
        norm = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape)
        delta = delta * torch.clamp(eps.view(shape) / norm, max=1.0)
    return (x + delta).detach()


def soft_smoothed_scores(
    model: nn.Module, sigma: float, samples: int, generator: torch.Generator
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Log of the noise-averaged softmax of ``model`` (the SmoothAdv surrogate of g, Salman et al.
    2019): a differentiable stand-in for the smoothed classifier that PGD can attack."""

    def scores(x: torch.Tensor) -> torch.Tensor:
        noise = torch.randn((samples, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
        probs = torch.softmax(model((x.unsqueeze(0) + sigma * noise).flatten(0, 1)), dim=1)
        return probs.view(samples, x.shape[0], -1).mean(0).clamp_min(1e-12).log()

    return scores


def empirical_radius(
    succeeds: Callable[[torch.Tensor], torch.Tensor], batch: int, eps_max: float, iters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest attack radius that fools the classifier, by bisection on [0, eps_max].

    ``succeeds(eps)`` runs the attack at per-example radii eps (batch,) and returns a bool tensor.
    Returns ``(radius, found)``: radius is the smallest successful eps found (eps_max and
    found=False where even eps_max fails), to within eps_max / 2^iters; 0 where eps = 0 succeeds."""
    already = succeeds(torch.zeros(batch)).cpu()
    hi = torch.full((batch,), float(eps_max))
    found = succeeds(hi).cpu() | already
    lo = torch.zeros(batch)
    for _ in range(iters):
        mid = (lo + hi) / 2
        ok = succeeds(mid).cpu() & found
        hi, lo = torch.where(ok, mid, hi), torch.where(ok, lo, mid)
    hi = torch.where(already, torch.zeros(batch), hi)
    return hi.numpy().astype(np.float64), found.numpy()


# --------------------------------------------------------------------------- data and trained models


def load_split(dataset: str, seed: int) -> Split:
    """Digits: 8x8 images flattened to 64 pixels in [0, 1] (offline). CIFAR-10: (3, 32, 32) in
    [0, 1] via torchvision (raises :class:`engine.data.DataUnavailable` when absent offline)."""
    if dataset == "digits":
        return digits(seed=seed, flatten=True, standardize=False)
    X_train, y_train = torchvision_images("cifar10", train=True)
    X_test, y_test = torchvision_images("cifar10", train=False)
    return Split(X_train, y_train, X_test, y_test)


def paper_data_message() -> str | None:
    """None when CIFAR-10 is on disk, else the DataUnavailable text saying how to get it."""
    try:
        torchvision_images("cifar10", train=False, limit=1)
    except DataUnavailable as err:
        return str(err)
    return None


_TRAINED: dict[tuple, dict] = {}


def trained_model(
    dataset: str, model: str, width: int, settings: NoiseTraining, split: Split, *, device: str,
    progress: Callable[[float, str], None] | None = None,
) -> nn.Module:
    """A base classifier trained with ``settings``; kept in memory per process, and checkpointed
    per epoch under ``cache_dir()/smoothing-checkpoints`` for CIFAR-10 (resumed when rerun)."""
    key = (TRAIN_VERSION, dataset, model, width, tuple(sorted(asdict(settings).items())))
    net = build_model(model, split, width=width, seed=settings.seed)
    if key in _TRAINED:
        net.load_state_dict(_TRAINED[key])
        return net.to(device).eval()
    checkpoint = None
    if dataset != "digits":  # hours of GPU time: worth resuming
        name = f"{dataset}-{model}-sigma{settings.sigma:g}-{joblib.hash(key)[:12]}.pt"
        checkpoint = cache.cache_dir() / CHECKPOINT_FOLDER / name
    train_with_noise(net, split.X_train, split.y_train, settings, device=device, checkpoint=checkpoint,
                     progress=progress)
    _TRAINED[key] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return net.eval()


# --------------------------------------------------------------------------- experiment: toy picture


TOY_BOX = (-1.5, 2.5, -1.25, 1.75)  # x1 min, x1 max, x2 min, x2 max of the picture


@dataclass(frozen=True, kw_only=True)
class ToyConfig:
    """Two moons, an over-fitted small network, and its smoothed version."""

    sigma: float = 0.25  # smoothing noise level
    n0: int = 100  # samples that choose the top class
    n: int = 10_000  # samples that estimate its probability
    alpha: float = 0.001  # failure probability of each certificate
    num_points: int = 24  # test points certified (drawn as circles)
    grid: int = 64  # picture cells along x1
    train_points: int = 200  # training set size
    data_noise: float = 0.3  # noise of make_moons (label overlap)
    width: int = 64  # hidden width of the base network
    steps: int = 500  # full-batch Adam steps (long enough to over-fit)
    seed: int = 0  # data, initialisation and smoothing noise

    def __post_init__(self):
        check_float(self, "sigma", 0.0, 2.0, low_open=True)
        check_int(self, "n0", 1, 10**6)
        check_int(self, "n", 1, 10**7)
        check_float(self, "alpha", 0.0, 1.0, low_open=True, high_open=True)
        check_int(self, "num_points", 1, 500)
        check_int(self, "grid", 8, 256)
        check_int(self, "train_points", 10, 100_000)
        check_float(self, "data_noise", 0.0, 2.0)
        check_int(self, "width", 2, 1024)
        check_int(self, "steps", 1, 100_000)
        check_int(self, "seed", 0, 2**31 - 1)


def _moons(count: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=count, noise=noise, random_state=seed)
    return X.astype(np.float64), y.astype(np.int64)


_TOY_NETS: dict[tuple, dict] = {}


def toy_base_classifier(config: ToyConfig) -> nn.Module:
    """The 2-D base network (2 -> width -> width -> 2), trained full-batch with Adam on clean moons."""
    key = (config.train_points, config.data_noise, config.width, config.steps, config.seed)
    X, y = _moons(config.train_points, config.data_noise, config.seed)
    net = _init_weights(mlp(2, config.width, 2), torch.Generator().manual_seed(config.seed))
    if key not in _TOY_NETS:
        Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
        optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
        for _ in range(config.steps):
            loss = nn.functional.cross_entropy(net(Xt), yt)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _TOY_NETS[key] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    net.load_state_dict(_TOY_NETS[key])
    return net.eval()


def smoothed_probabilities(
    base: nn.Module, sigma: float, box: tuple[float, float, float, float], num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact-up-to-discretisation P(f(x + eps) = c) on a fine 2-D grid: the class indicators of
    ``f`` blurred by a Gaussian of std ``sigma`` (the grid reaches 4 sigma beyond ``box``).

    Returns ``(x1, x2, probs)`` with probs of shape (num_classes, len(x2), len(x1))."""
    step = min(0.02, sigma / 5)
    pad = 4 * sigma
    x1 = np.arange(box[0] - pad, box[1] + pad + step / 2, step)
    x2 = np.arange(box[2] - pad, box[3] + pad + step / 2, step)
    grid = np.stack(np.meshgrid(x1, x2), axis=-1).reshape(-1, 2)
    with torch.inference_mode():
        labels = base(torch.as_tensor(grid, dtype=torch.float32)).argmax(1).numpy().reshape(len(x2), len(x1))
    probs = np.stack([
        ndimage.gaussian_filter((labels == c).astype(np.float64), sigma / step, mode="nearest")
        for c in range(num_classes)
    ])
    return x1, x2, probs


def _interpolate(x1: np.ndarray, x2: np.ndarray, values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear values of a (len(x2), len(x1)) map at points (m, 2)."""
    coords = np.stack([(points[:, 1] - x2[0]) / (x2[1] - x2[0]), (points[:, 0] - x1[0]) / (x1[1] - x1[0])])
    return ndimage.map_coordinates(values, coords, order=1, mode="nearest")


def _base_classes(base: nn.Module, points: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return base(torch.as_tensor(points, dtype=torch.float32)).argmax(1).numpy().astype(np.int64)


def _smoothed_at(fine, points: np.ndarray) -> np.ndarray:
    """Smoothed class probabilities at points (m, 2) from :func:`smoothed_probabilities`: (C, m)."""
    x1, x2, probs = fine
    return np.stack([_interpolate(x1, x2, probs[c], points) for c in range(len(probs))])


def _toy_cells(config: ToyConfig, base: nn.Module, fine) -> pd.DataFrame:
    """Picture cells of side ``cell``: centre, base class, smoothed class, smoothed top probability."""
    step = (TOY_BOX[1] - TOY_BOX[0]) / config.grid
    c1 = TOY_BOX[0] + step * (np.arange(config.grid) + 0.5)
    c2 = np.arange(TOY_BOX[2] + step / 2, TOY_BOX[3], step)
    centres = np.stack(np.meshgrid(c1, c2), axis=-1).reshape(-1, 2)
    p = _smoothed_at(fine, centres)
    m = len(centres)
    return pd.DataFrame({
        "kind": "cell", "x1": centres[:, 0], "x2": centres[:, 1], "cell": step,
        "base_class": _base_classes(base, centres), "smooth_class": p.argmax(0).astype(np.int64),
        "p_top": p.max(0), "index": np.full(m, -1), "label": np.full(m, -1), "prediction": np.full(m, -1),
        "radius": np.nan, "exact_radius": np.nan, "correct": False, "seconds": np.nan,
    })


def _toy_points(config: ToyConfig, base: nn.Module, fine) -> pd.DataFrame:
    """Fresh test points, certified: prediction, radius, and the exact radius sigma Phi^-1(pA)."""
    X, y = _moons(config.num_points, config.data_noise, config.seed + 10_000)
    smooth = Smooth(base, 2, config.sigma, input_shape=(2,), seed=config.seed)
    frame = pd.DataFrame(list(certify_dataset(smooth, X, y, n0=config.n0, n=config.n, alpha=config.alpha,
                                              batch_size=10_000)))
    p = _smoothed_at(fine, X)
    return frame.assign(
        kind="point", x1=X[:, 0], x2=X[:, 1], cell=0.0, base_class=_base_classes(base, X),
        smooth_class=p.argmax(0).astype(np.int64), p_top=p.max(0),
        exact_radius=[radius_from_probability(q, config.sigma) for q in p.max(0)],
    )


def compute_toy(config: ToyConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows of kind "cell" (picture cells: base and smoothed class, smoothed top probability) and
    of kind "point" (certified test points: prediction, radius, exact radius sigma Phi^-1(pA))."""
    ctx.report(0.0, "training the base network")
    base = toy_base_classifier(config)
    ctx.report(0.3, "blurring the base classifier")
    fine = smoothed_probabilities(base, config.sigma, TOY_BOX, 2)
    ctx.report(0.5, "certifying test points")
    frame = pd.concat([_toy_cells(config, base, fine), _toy_points(config, base, fine)], ignore_index=True)
    ctx.report(1.0, "done")
    return frame.assign(sigma=config.sigma, n=config.n, n0=config.n0, alpha=config.alpha,
                        cap=max_certifiable_radius(config.sigma, config.n, config.alpha))


# --------------------------------------------------------------------------- experiment: certified accuracy


@dataclass(frozen=True, kw_only=True)
class CertifyConfig:
    """Train one base classifier per sigma (with noise at that sigma) and certify test inputs."""

    dataset: str = "digits"  # "digits" (offline, 8x8) or "cifar10" (torchvision, online once)
    model: str = "mlp"  # "mlp", "resnet110" (the paper's) or "resnet18" (faster)
    width: int = 64  # hidden width of the mlp (ignored by the ResNets)
    sigmas: tuple[float, ...] = (0.25, 0.5, 1.0)  # smoothing (and training) noise levels, input units
    train_noise: bool = True  # train at the sigma certified at; False trains on clean inputs
    n0: int = 100  # samples that choose the top class
    n: int = 10_000  # samples that estimate its probability
    alpha: float = 0.001  # failure probability of each certificate
    batch_size: int = 1000  # noisy samples per forward pass
    skip: int = 5  # certify every skip-th test input (paper: 20)
    max_points: int = 100  # at most this many test inputs (0: no limit)
    epochs: int = 30  # training epochs
    train_batch: int = 64  # training minibatch
    lr: float = 0.1  # initial SGD learning rate (momentum 0.9, weight decay 1e-4)
    lr_step: int = 10  # learning rate x0.1 every lr_step epochs
    seed: int = 0  # data split, initialisation, training and smoothing noise

    def __post_init__(self):
        check_choice(self, "dataset", DATASETS)
        check_choice(self, "model", MODELS)
        if (self.dataset == "digits") != (self.model == "mlp"):
            raise ConfigError(
                f"The 'model' parameter of {type(self).__name__} must be 'mlp' for digits and a ResNet "
                f"('resnet110', 'resnet18') for cifar10. Got {self.model!r} with {self.dataset!r} instead."
            )
        check_int(self, "width", 2, 4096)
        check_float_tuple(self, "sigmas", 0.01, 4.0, max_len=8, increasing=True)
        check_bool(self, "train_noise")
        check_int(self, "n0", 1, 10**6)
        check_int(self, "n", 1, 10**7)
        check_float(self, "alpha", 0.0, 1.0, low_open=True, high_open=True)
        check_int(self, "batch_size", 1, 10**6)
        check_int(self, "skip", 1, 10_000)
        check_int(self, "max_points", 0, 100_000)
        check_int(self, "epochs", 1, 1000)
        check_int(self, "train_batch", 1, 100_000)
        check_float(self, "lr", 0.0, 10.0, low_open=True)
        check_int(self, "lr_step", 1, 1000)
        check_int(self, "seed", 0, 2**31 - 1)

    def training(self, sigma: float) -> NoiseTraining:
        """The training recipe of the base classifier smoothed at ``sigma``."""
        return NoiseTraining(
            sigma=sigma if self.train_noise else 0.0, epochs=self.epochs, batch_size=self.train_batch,
            lr=self.lr, lr_step=self.lr_step, augment=self.dataset == "cifar10", seed=self.seed,
        )

    def test_indices(self, count: int) -> list[int]:
        """Every skip-th test input, at most max_points of them."""
        chosen = list(range(0, count, self.skip))
        return chosen[: self.max_points] if self.max_points else chosen


def _clean_correct(model: nn.Module, X: np.ndarray, y: np.ndarray, device: str) -> np.ndarray:
    with torch.inference_mode():
        scores = model(torch.as_tensor(X, dtype=torch.float32, device=device))
    return (scores.argmax(1).cpu().numpy() == y)


def compute_certify(config: CertifyConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (sigma, certified test input): index, label, prediction, radius, correct,
    seconds, base_correct (the base classifier on the clean input), cap (largest certifiable radius)."""
    split = load_split(config.dataset, config.seed)
    indices = config.test_indices(len(split.X_test))
    frames = []
    for s, sigma in enumerate(config.sigmas):
        share = 1.0 / len(config.sigmas)

        def report(fraction: float, message: str, s=s, sigma=sigma) -> None:
            ctx.report((s + fraction) * share, f"sigma={sigma:g}: {message}")

        net = trained_model(config.dataset, config.model, config.width, config.training(sigma), split,
                            device=ctx.device, progress=lambda f, m: report(0.2 * f, m))
        smooth = Smooth(net, split.num_classes, sigma, input_shape=split.X_test.shape[1:], device=ctx.device,
                        seed=config.seed)
        rows = certify_dataset(smooth, split.X_test, split.y_test, n0=config.n0, n=config.n, alpha=config.alpha,
                               batch_size=config.batch_size, indices=indices,
                               progress=lambda f, m: report(0.2 + 0.8 * f, m))
        frame = pd.DataFrame(list(rows))
        frame["base_correct"] = _clean_correct(net, split.X_test[indices], split.y_test[indices], ctx.device)
        frame["sigma"] = sigma
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["cap"] = [max_certifiable_radius(s, config.n, config.alpha) for s in out["sigma"]]
    return out.assign(dataset=config.dataset, model=config.model, train_noise=config.train_noise,
                      n=config.n, n0=config.n0, alpha=config.alpha)


def accuracy_curves(frame: pd.DataFrame, radii: Iterable[float] | None = None) -> pd.DataFrame:
    """Certified accuracy against radius per sigma: columns sigma, radius, certified_accuracy, cap.
    Default radii: 0 to the largest cap in 60 steps, plus every radius of the paper's table."""
    if radii is None:
        top = float(frame["cap"].max()) * 1.1
        radii = np.union1d(np.linspace(0.0, top, 61), np.array(list(PAPER_CIFAR10[0.25])))
    radii = np.asarray(list(radii), dtype=np.float64)
    parts = []
    for sigma, rows in frame.groupby("sigma", sort=True):
        parts.append(pd.DataFrame({
            "sigma": float(sigma), "radius": radii, "certified_accuracy": certified_accuracy(rows, radii),
            "cap": float(rows["cap"].iloc[0]),
        }))
    return pd.concat(parts, ignore_index=True)


def paper_vs_ours(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's CIFAR-10 table beside ours: one row per (sigma, radius) of the paper's table,
    with ``ours`` NaN where our frame (None: not computed) has no such sigma."""
    rows = []
    for sigma, table in PAPER_CIFAR10.items():
        ours = frame[np.isclose(frame["sigma"], sigma)] if frame is not None else ()
        values = certified_accuracy(ours, list(table)) if len(ours) else [float("nan")] * len(table)
        for (radius, paper), value in zip(table.items(), values):
            rows.append({"sigma": sigma, "radius": radius, "paper": paper, "ours": float(value)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- experiment: attack (extension)


@dataclass(frozen=True, kw_only=True)
class AttackConfig:
    """L2 PGD against the base and the smoothed classifier of one sigma, beside the certificate."""

    dataset: str = "digits"  # "digits" or "cifar10"
    model: str = "mlp"  # "mlp", "resnet110" or "resnet18"
    width: int = 64  # hidden width of the mlp
    sigma: float = 0.5  # smoothing and training noise level
    num_points: int = 40  # test inputs attacked (every skip-th)
    skip: int = 5  # attack every skip-th test input
    n0: int = 100  # certification: samples that choose the top class
    n: int = 10_000  # certification: samples that estimate its probability
    alpha: float = 0.001  # certification: failure probability
    eps_max: float = 4.0  # largest attack radius tried (input units)
    bisections: int = 7  # bisection steps on the attack radius
    steps: int = 20  # PGD steps per attack
    samples: int = 32  # noise samples per PGD step on the smoothed classifier
    n_check: int = 1000  # noise samples deciding the smoothed prediction at the attacked input
    epochs: int = 30  # training epochs
    train_batch: int = 64  # training minibatch
    lr: float = 0.1  # initial SGD learning rate
    lr_step: int = 10  # learning rate x0.1 every lr_step epochs
    seed: int = 0  # everything random

    def __post_init__(self):
        check_choice(self, "dataset", DATASETS)
        check_choice(self, "model", MODELS)
        check_int(self, "width", 2, 4096)
        check_float(self, "sigma", 0.01, 4.0)
        check_int(self, "num_points", 1, 10_000)
        check_int(self, "skip", 1, 10_000)
        check_int(self, "n0", 1, 10**6)
        check_int(self, "n", 1, 10**7)
        check_float(self, "alpha", 0.0, 1.0, low_open=True, high_open=True)
        check_float(self, "eps_max", 0.0, 100.0, low_open=True)
        check_int(self, "bisections", 1, 30)
        check_int(self, "steps", 1, 1000)
        check_int(self, "samples", 1, 10_000)
        check_int(self, "n_check", 1, 10**6)
        check_int(self, "epochs", 1, 1000)
        check_int(self, "train_batch", 1, 100_000)
        check_float(self, "lr", 0.0, 10.0, low_open=True)
        check_int(self, "lr_step", 1, 1000)
        check_int(self, "seed", 0, 2**31 - 1)

    def certify_config(self) -> CertifyConfig:
        """The certification run whose base classifier this attack targets."""
        return CertifyConfig(dataset=self.dataset, model=self.model, width=self.width, sigmas=(self.sigma,),
                             n0=self.n0, n=self.n, alpha=self.alpha, skip=self.skip, max_points=self.num_points,
                             epochs=self.epochs, train_batch=self.train_batch, lr=self.lr, lr_step=self.lr_step,
                             seed=self.seed)


def _base_attack(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int):
    def succeeds(eps: torch.Tensor) -> torch.Tensor:
        adv = pgd_l2(net, x, y, eps.to(x.device), steps)
        with torch.inference_mode():
            return net(adv).argmax(1) != y

    return succeeds


def _smooth_attack(net, smooth: Smooth, x, y, config: AttackConfig, generator: torch.Generator):
    surrogate = soft_smoothed_scores(net, config.sigma, config.samples, generator)

    def succeeds(eps: torch.Tensor) -> torch.Tensor:
        adv = pgd_l2(surrogate, x, y, eps.to(x.device), config.steps)
        top = [int(smooth.sample_counts(a, config.n_check, 10_000).argmax()) for a in adv]
        return torch.as_tensor(top) != y.cpu()

    return succeeds


def compute_attack(config: AttackConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per attacked test input: certified radius (and prediction), and the smallest L2 PGD
    radius that changes the base prediction (base_radius) and the smoothed one (smooth_radius);
    *_found is False where the attack failed up to eps_max. Misclassified inputs get radius 0."""
    cert = config.certify_config()
    split = load_split(config.dataset, config.seed)
    indices = cert.test_indices(len(split.X_test))
    net = trained_model(config.dataset, config.model, config.width, cert.training(config.sigma), split,
                        device=ctx.device, progress=lambda f, m: ctx.report(0.2 * f, m))
    smooth = Smooth(net, split.num_classes, config.sigma, input_shape=split.X_test.shape[1:], device=ctx.device,
                    seed=config.seed)
    rows = pd.DataFrame(list(certify_dataset(smooth, split.X_test, split.y_test, n0=config.n0, n=config.n,
                                             alpha=config.alpha, batch_size=1000, indices=indices)))
    ctx.report(0.4, "attacking the base classifier")
    x = torch.as_tensor(split.X_test[indices], dtype=torch.float32, device=ctx.device)
    y = torch.as_tensor(split.y_test[indices], device=ctx.device)
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    base_r, base_found = empirical_radius(_base_attack(net, x, y, config.steps), len(x), config.eps_max,
                                          config.bisections)
    ctx.report(0.5, "attacking the smoothed classifier")
    generator = torch.Generator(device=ctx.device).manual_seed(config.seed + 3)
    smooth_r, smooth_found = empirical_radius(_smooth_attack(net, smooth, x, y, config, generator), len(x),
                                              config.eps_max, config.bisections)
    rows["base_radius"], rows["base_found"] = base_r, base_found.astype(bool)
    rows["smooth_radius"], rows["smooth_found"] = smooth_r, smooth_found.astype(bool)
    ctx.report(1.0, "done")
    return rows.assign(sigma=config.sigma, dataset=config.dataset, model=config.model, n=config.n,
                       alpha=config.alpha, eps_max=config.eps_max,
                       cap=max_certifiable_radius(config.sigma, config.n, config.alpha))


# --------------------------------------------------------------------------- presets, sweeps, claims


PAGE_SIGMAS = (0.05, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0)  # the page's sigma slider
PAGE_N = (100, 1000, 10_000, 100_000)  # the page's n slider
PAGE_ALPHA = (0.1, 0.01, 0.001, 0.0001)  # the page's alpha slider
PAGE_N0 = (10, 100, 1000)  # the page's n0 slider

TOY_PRESETS = {"quick": ToyConfig(), "paper": ToyConfig(n=100_000)}
CERTIFY_PRESETS = {
    "quick": CertifyConfig(sigmas=(0.12, 0.25, 0.5, 1.0)),
    "paper": CertifyConfig(
        dataset="cifar10", model="resnet110", sigmas=(0.12, 0.25, 0.5, 1.0), n=100_000, skip=20, max_points=0,
        epochs=90, train_batch=400, lr=0.1, lr_step=30,
    ),
}
ATTACK_PRESETS = {
    "quick": AttackConfig(),
    "paper": AttackConfig(dataset="cifar10", model="resnet110", sigma=0.25, num_points=100, skip=100,
                          n=100_000, epochs=90, train_batch=400, lr_step=30, samples=16),
}


def _one_at_a_time(base: Any, options: dict[str, tuple]) -> list:
    """The base config plus every config that moves one field to one of its options."""
    grid = [base]
    for name, values in options.items():
        grid += [replace(base, **{name: v}) for v in values if v != getattr(base, name)]
    return grid


def _page_options(with_sigma: bool) -> dict[str, tuple]:
    """The page's slider grids (sigma for the toy; the train-noise toggle for certification)."""
    options = {"n": PAGE_N, "alpha": PAGE_ALPHA, "n0": PAGE_N0}
    return {"sigma": PAGE_SIGMAS, **options} if with_sigma else {**options, "train_noise": (True, False)}


def _acc(frame: pd.DataFrame, sigma: float, radius: float) -> float:
    rows = frame[np.isclose(frame["sigma"], sigma)]
    return float(certified_accuracy(rows, [radius])[0]) if len(rows) else float("nan")


def _clean_cost(frame: pd.DataFrame) -> float:
    sigmas = sorted(frame["sigma"].unique())
    return _acc(frame, sigmas[0], 0.0) - _acc(frame, sigmas[-1], 0.0)


def _radius_gain(frame: pd.DataFrame) -> float:
    sigmas = sorted(frame["sigma"].unique())
    return max(_acc(frame, s, 0.5) for s in sigmas[1:]) - _acc(frame, sigmas[0], 0.5)


def _attack_inside_certificate(frame: pd.DataFrame) -> float:
    certified = frame[frame["correct"] & (frame["radius"] > 0)]
    return float((certified["smooth_radius"] < certified["radius"]).mean()) if len(certified) else float("nan")


def _paper_claim(sigma: float, radius: float) -> Claim:
    paper = PAPER_CIFAR10[sigma][radius]
    return Claim(
        id=f"smoothing.cifar10_s{sigma:g}_r{radius:g}",
        text=f"CIFAR-10, sigma = {sigma:g}: certified accuracy {paper:.2f} at L2 radius {radius:g}.",
        experiment="smoothing.certify",
        measure=lambda frame: _acc(frame, sigma, radius),
        holds=lambda value: abs(value - paper) <= 0.05,
        paper_value=paper, unit="certified accuracy", preset="paper",
    )


CLAIMS_CERTIFY = (
    Claim(
        id="smoothing.clean_cost",
        text="A larger sigma costs clean accuracy: certified accuracy at radius 0 falls from the "
        "smallest to the largest sigma.",
        experiment="smoothing.certify", measure=_clean_cost, holds=lambda v: v > 0.05, unit="accuracy drop",
    ),
    Claim(
        id="smoothing.clean_cost_cifar10",
        text="CIFAR-10: clean accuracy of the smoothed classifier drops from 0.81 (sigma 0.12) to 0.47 (sigma 1).",
        experiment="smoothing.certify", measure=_clean_cost, holds=lambda v: abs(v - 0.34) <= 0.08,
        paper_value=0.34, unit="accuracy drop", preset="paper",
    ),
    Claim(
        id="smoothing.radius_gain",
        text="A larger sigma certifies radii the smallest cannot: at radius 0.5 some sigma > 0.12 "
        "certifies inputs where sigma = 0.12 certifies none.",
        experiment="smoothing.certify", measure=_radius_gain, holds=lambda v: v > 0.1,
        paper_value=0.43, unit="certified accuracy",
    ),
    Claim(
        id="smoothing.radius_cap",
        text="No certified radius exceeds sigma * Phi^-1(alpha^(1/n)), the most n samples can certify.",
        experiment="smoothing.certify",
        measure=lambda f: float((f["radius"] / f["cap"]).max()), holds=lambda v: v <= 1.0 + 1e-12,
        unit="max radius / cap",
    ),
    *(_paper_claim(s, r) for s, r in ((0.25, 0.25), (0.25, 0.5), (0.5, 0.75), (0.5, 1.0), (1.0, 1.25), (1.0, 1.5))),
)

CLAIMS_TOY = (
    Claim(
        id="smoothing.toy_sound",
        text="Certified radii never exceed the exact radius sigma * Phi^-1(pA) of the smoothed classifier.",
        experiment="smoothing.toy",
        measure=lambda f: float((f["radius"] > f["exact_radius"] + 0.02).sum() / (f["kind"] == "point").sum()),
        holds=lambda v: v <= 0.05, unit="fraction of points",
    ),
)

CLAIMS_ATTACK = (
    Claim(
        id="smoothing.attack_respects_certificate",
        text="An L2 PGD attack on the smoothed classifier finds no adversarial input inside a certified radius.",
        experiment="smoothing.attack", measure=_attack_inside_certificate, holds=lambda v: v <= 0.05,
        unit="fraction of certified points",
    ),
)


def _charts():
    """The chart module, imported on first use (altair is not needed to compute)."""
    from engine.phenomena.smoothing import charts

    return charts


EXPERIMENTS = (
    Experiment(
        name="smoothing.toy",
        title="Randomized smoothing in 2-D: base regions, smoothed regions, certified circles",
        config_cls=ToyConfig, compute=compute_toy, presets=TOY_PRESETS, version=1,
        charts={"regions": lambda f: _charts().toy_regions(f)},
        description="An over-fitted network on two moons and its Gaussian-smoothed version; each test point "
        "certified with n samples is drawn with its certified L2 ball.",
        sweeps={"quick": lambda: _one_at_a_time(TOY_PRESETS["quick"], _page_options(True))},
        claims=CLAIMS_TOY,
    ),
    Experiment(
        name="smoothing.certify",
        title="Certified accuracy against L2 radius for several sigmas",
        config_cls=CertifyConfig, compute=compute_certify, presets=CERTIFY_PRESETS, version=1,
        charts={"curves": lambda f: _charts().accuracy_curves_chart(f),
                "paper": lambda f: _charts().paper_curves_chart(f)},
        description="Base classifiers trained with Gaussian noise at each sigma, smoothed and certified "
        "(n0 selection samples, n estimation samples, level alpha) on every skip-th test input.",
        sweeps={"quick": lambda: _one_at_a_time(CERTIFY_PRESETS["quick"], _page_options(False))},
        claims=CLAIMS_CERTIFY,
    ),
    Experiment(
        name="smoothing.attack",
        title="Empirical (PGD) robustness radius against the certified radius",
        config_cls=AttackConfig, compute=compute_attack, presets=ATTACK_PRESETS, version=1,
        charts={"radii": lambda f: _charts().attack_chart(f)},
        description="Smallest L2 PGD radius that changes the base and the smoothed prediction, beside the "
        "certified radius of the smoothed classifier.",
        claims=CLAIMS_ATTACK,
    ),
)
