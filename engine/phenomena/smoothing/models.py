"""Randomized smoothing, the models: base classifiers, noise training, the 2-D toy's exact
smoothing, and the L2 PGD attack (science: numpy/torch in and out; no charts, no registry).

The certificate itself (:class:`Smooth`, the statistics) is in :mod:`engine.phenomena.smoothing.science`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch
from scipy import ndimage
from torch import nn

from engine.core import cache
from engine.core.data import DataUnavailable, Split, digits, images, torchvision_images
from engine.core.params import Boolean, Interval, Options, Validated, check_arg, param
from engine.core.validation import ConfigError
from engine.phenomena.smoothing.lean import adam_steps, moons
from engine.phenomena.smoothing.noises import make_noise
from engine.phenomena.smoothing.science import NormalizeLayer
from engine.phenomena.smoothing.settings import (  # noqa: F401 (re-exported: configs and tests read them here)
    ALPHA,
    DATASETS,
    MODELS,
    N0,
    NOISES,
    SEED,
    SIGMA,
    SIGMAS,
    N,
)

#: The CIFAR-10 channel statistics the normalisation layer uses (train set, [0, 1] pixels).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)

CHECKPOINT_FOLDER = "smoothing-checkpoints"
TRAIN_VERSION = 1  # bump when training changes: old checkpoints are then never resumed

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
        nn.Linear(in_features, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, num_classes),
    )


class _BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a (projected where the shape changes) shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet(widths: tuple[int, ...], blocks: int, num_classes: int = 10) -> nn.Sequential:
    """A CIFAR ResNet: 3x3 stem, stages of ``blocks`` basic blocks at ``widths`` (stride 2 between
    stages), global average pooling, linear head. (B, 3, 32, 32) -> (B, num_classes).

    ResNet-110 (the paper's): widths (16, 32, 64), 18 blocks. ResNet-18: (64, 128, 256, 512), 2."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    c_in = widths[0]
    for stage, c_out in enumerate(widths):
        for b in range(blocks):
            layers.append(_BasicBlock(c_in, c_out, 2 if (stage > 0 and b == 0) else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)


def small_cnn(in_channels: int, num_classes: int) -> nn.Sequential:
    """A small CNN for 28x28 images (about 0.6 MFLOP a forward pass): [Conv3x3 -> ReLU ->
    MaxPool2] with 8, then 16 channels, Flatten, Linear(16 * 7 * 7, num_classes).
    (B, in_channels, 28, 28) -> (B, num_classes)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, num_classes),
    )


def build_model(name: str, split: Split, *, width: int, seed: int) -> nn.Sequential:
    """The base classifier ``name`` for ``split``'s inputs, led by its normalisation layer."""
    name = check_arg("build_model", "name", name, Options(MODELS))
    if name == "mlp":
        width = check_arg("build_model", "width", width, Interval(int, 1, 1 << 16))
        X = split.X_train.reshape(len(split.X_train), -1)
        body = mlp(X.shape[1], width, split.num_classes)
        norm = NormalizeLayer(X.mean(axis=0), X.std())
    elif name == "cnn":  # Fashion-MNIST: one channel, normalised with its training statistics
        body = small_cnn(split.X_train.shape[1], split.num_classes)
        norm = NormalizeLayer(split.X_train.mean(), split.X_train.std())
    else:
        body = resnet((16, 32, 64), 18) if name == "resnet110" else resnet((64, 128, 256, 512), 2)
        norm = NormalizeLayer(np.reshape(CIFAR10_MEAN, (3, 1, 1)), np.reshape(CIFAR10_STD, (3, 1, 1)))
    generator = torch.Generator().manual_seed(int(seed))
    return nn.Sequential(norm, _init_weights(body, generator))


# --------------------------------------------------------------------------- noise-augmented training


@dataclass(frozen=True, kw_only=True)
class NoiseTraining(Validated):
    """How a base classifier is trained: SGD on cross-entropy of (x + eps, y), eps ~ N(0, sigma^2 I)
    (or the Laplace or uniform distribution of per-coordinate std sigma: ``noise``)."""

    sigma: float = param(
        0.25, Interval(float, 0.0, 10.0)
    )  # training noise level (input units); 0 trains on clean inputs
    epochs: int = param(30, Interval(int, 1, 10_000))  # passes over the training set
    batch_size: int = param(64, Interval(int, 1, 1_000_000))  # minibatch size
    lr: float = param(0.1, Interval(float, 0.0, 10.0, closed="right"))  # initial SGD learning rate
    momentum: float = param(0.9, Interval(float, 0.0, 1.0, closed="left"))  # SGD momentum
    weight_decay: float = param(1e-4, Interval(float, 0.0, 1.0))  # L2 penalty
    lr_step: int = param(
        10, Interval(int, 1, 10_000)
    )  # multiply the learning rate by 0.1 every lr_step epochs
    augment: bool = param(False, Boolean())  # random crop (pad 4) + horizontal flip, for CIFAR-10 images
    seed: int = param(0, SEED)  # seeds initialisation, shuffling, augmentation and noise
    noise: str = param("gaussian", Options(NOISES))  # the training noise's distribution (std sigma)

    def identity(self) -> tuple:
        """The recipe as sorted (field, value) pairs, without ``noise`` when it is Gaussian: the key
        of a trained network, so Gaussian checkpoints written before there was a choice are resumed."""
        items = asdict(self)
        if items["noise"] == "gaussian":
            del items["noise"]
        return tuple(sorted(items.items()))


def random_crop_flip(xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
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
    """Train ``model`` in place on noise-augmented inputs (the paper's recipe: train with the
    noise you certify with, Gaussian unless ``settings.noise`` says otherwise). ``X`` (N,
    *input_shape) in raw input units, ``y`` (N,) ints.

    With ``checkpoint`` the model, optimiser, schedule and generator states are saved after every
    epoch and a later call with the same path resumes after the last finished epoch."""
    if not isinstance(settings, NoiseTraining):
        raise ConfigError(
            f"The 'settings' parameter of train_with_noise must be a NoiseTraining. Got {type(settings).__name__} instead."
        )
    if len(X) != len(y) or len(X) == 0:
        raise ConfigError(
            f"The 'y' parameter of train_with_noise must have one label per row of X ({len(X)}). Got {len(y)} instead."
        )
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
    distribution = make_noise(settings.noise, settings.sigma) if settings.sigma > 0 else None
    for epoch in range(first, settings.epochs):
        _train_epoch(model, Xt, yt, settings, distribution, optimizer, shuffle, noise)
        schedule.step()
        if checkpoint is not None:
            _save_atomic(
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "shuffle": shuffle.get_state(),
                    "noise": noise.get_state(),
                },
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


def _train_epoch(model, Xt, yt, settings, distribution, optimizer, shuffle, noise) -> None:
    order = torch.randperm(len(Xt), generator=shuffle).to(Xt.device)
    for start in range(0, len(Xt), settings.batch_size):
        idx = order[start : start + settings.batch_size]
        xb = Xt[idx]
        if settings.augment:
            xb = random_crop_flip(xb, shuffle)
        if distribution is not None:
            xb = xb + distribution.draw(xb.shape, noise, xb.device)
        loss = nn.functional.cross_entropy(model(xb), yt[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


# --------------------------------------------------------------------------- data and trained models


def load_split(dataset: str, seed: int) -> Split:
    """Digits: 8x8 images flattened to 64 pixels in [0, 1] (offline). CIFAR-10: (3, 32, 32) in
    [0, 1] via torchvision; Fashion-MNIST: (1, 28, 28) in [0, 1] from its IDX files (both raise
    :class:`engine.data.DataUnavailable` when absent)."""
    dataset = check_arg("load_split", "dataset", dataset, Options(DATASETS))
    if dataset == "digits":
        return digits(seed=seed, flatten=True, standardize=False)
    X_train, y_train = images(dataset, train=True)
    X_test, y_test = images(dataset, train=False)
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
    dataset: str,
    model: str,
    width: int,
    settings: NoiseTraining,
    split: Split,
    *,
    device: str,
    progress: Callable[[float, str], None] | None = None,
) -> nn.Module:
    """A base classifier trained with ``settings``; kept in memory per process, and checkpointed
    per epoch under ``cache_dir()/smoothing-checkpoints`` for CIFAR-10 (resumed when rerun)."""
    key = (TRAIN_VERSION, dataset, model, width, settings.identity())
    net = build_model(model, split, width=width, seed=settings.seed)
    if key in _TRAINED:
        net.load_state_dict(_TRAINED[key])
        return net.to(device).eval()
    checkpoint = None
    if dataset == "cifar10":  # hours of GPU time: worth resuming
        noise = "" if settings.noise == "gaussian" else f"-{settings.noise}"
        name = f"{dataset}-{model}{noise}-sigma{settings.sigma:g}-{joblib.hash(key)[:12]}.pt"
        checkpoint = cache.lab_folder(CHECKPOINT_FOLDER) / name
    train_with_noise(
        net, split.X_train, split.y_train, settings, device=device, checkpoint=checkpoint, progress=progress
    )
    _TRAINED[key] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return net.eval()


# --------------------------------------------------------------------------- the 2-D toy


_TOY_NETS: dict[tuple, dict] = {}


def toy_base_classifier(train_points: int, data_noise: float, width: int, steps: int, seed: int) -> nn.Module:
    """The 2-D base network (2 -> width -> width -> 2), trained full-batch with Adam (lr 0.02) for
    ``steps`` steps on ``train_points`` clean moons: long enough to over-fit (islands). Kept in
    memory per process."""
    key = (train_points, data_noise, width, steps, seed)
    X, y = moons(train_points, data_noise, seed)
    net = _init_weights(mlp(2, width, 2), torch.Generator().manual_seed(seed))
    if key not in _TOY_NETS:
        Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
        adam_steps(net, lambda: nn.functional.cross_entropy(net(Xt), yt), steps, lr=0.02)
        _TOY_NETS[key] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    net.load_state_dict(_TOY_NETS[key])
    return net.eval()


def forget_trained_models() -> None:
    """Drop the trained networks this process keeps in memory (checkpoints on disk stay)."""
    _TRAINED.clear()
    _TOY_NETS.clear()


def smoothed_probabilities(
    base: nn.Module, sigma: float, box: tuple[float, float, float, float], num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact-up-to-discretisation P(f(x + eps) = c) on a fine 2-D grid: the class indicators of
    ``f`` blurred by a Gaussian of std ``sigma`` (the grid reaches 4 sigma beyond ``box``).

    Returns ``(x1, x2, probs)`` with probs of shape (num_classes, len(x2), len(x1))."""
    sigma = check_arg("smoothed_probabilities", "sigma", sigma, Interval(float, 0.0, 10.0, closed="right"))
    step = min(0.02, sigma / 5)
    pad = 4 * sigma
    x1 = np.arange(box[0] - pad, box[1] + pad + step / 2, step)
    x2 = np.arange(box[2] - pad, box[3] + pad + step / 2, step)
    grid = np.stack(np.meshgrid(x1, x2), axis=-1).reshape(-1, 2)
    with torch.inference_mode():
        labels = base(torch.as_tensor(grid, dtype=torch.float32)).argmax(1).numpy().reshape(len(x2), len(x1))
    probs = np.stack(
        [
            ndimage.gaussian_filter((labels == c).astype(np.float64), sigma / step, mode="nearest")
            for c in range(num_classes)
        ]
    )
    return x1, x2, probs


def _interpolate(x1: np.ndarray, x2: np.ndarray, values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear values of a (len(x2), len(x1)) map at points (m, 2)."""
    coords = np.stack([(points[:, 1] - x2[0]) / (x2[1] - x2[0]), (points[:, 0] - x1[0]) / (x1[1] - x1[0])])
    return ndimage.map_coordinates(values, coords, order=1, mode="nearest")


def smoothed_at(fine: tuple[np.ndarray, np.ndarray, np.ndarray], points: np.ndarray) -> np.ndarray:
    """Smoothed class probabilities at points (m, 2) from :func:`smoothed_probabilities`: (C, m)."""
    x1, x2, probs = fine
    return np.stack([_interpolate(x1, x2, probs[c], points) for c in range(len(probs))])


def base_classes(base: nn.Module, points: np.ndarray) -> np.ndarray:
    """f's class at points (m, 2): int64 (m,)."""
    with torch.inference_mode():
        return base(torch.as_tensor(points, dtype=torch.float32)).argmax(1).numpy().astype(np.int64)


# --------------------------------------------------------------------------- empirical attack (extension)


def pgd_l2(
    scores: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: torch.Tensor,
    steps: int,
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
    batch = check_arg("empirical_radius", "batch", batch, Interval(int, 1, None))
    eps_max = check_arg("empirical_radius", "eps_max", eps_max, Interval(float, 0.0, None, closed="right"))
    iters = check_arg("empirical_radius", "iters", iters, Interval(int, 0, 60))
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


def base_attack_succeeds(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> Callable:
    """``succeeds(eps)`` for :func:`empirical_radius`: PGD on f's cross-entropy changes f's answer."""

    def succeeds(eps: torch.Tensor) -> torch.Tensor:
        adv = pgd_l2(net, x, y, eps.to(x.device), steps)
        with torch.inference_mode():
            return net(adv).argmax(1) != y

    return succeeds


def smooth_attack_succeeds(
    net: nn.Module,
    smooth: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    samples: int,
    n_check: int,
    generator: torch.Generator,
) -> Callable:
    """``succeeds(eps)`` for :func:`empirical_radius` on g: PGD on the noise-averaged softmax
    (``samples`` draws per step), then g's answer at the attacked input by a vote of ``n_check``
    noisy samples of ``smooth`` (a :class:`Smooth`)."""
    surrogate = soft_smoothed_scores(net, smooth.sigma, samples, generator)

    def succeeds(eps: torch.Tensor) -> torch.Tensor:
        adv = pgd_l2(surrogate, x, y, eps.to(x.device), steps)
        top = [int(smooth.sample_counts(a, n_check, 10_000).argmax()) for a in adv]
        return torch.as_tensor(top) != y.cpu()

    return succeeds
