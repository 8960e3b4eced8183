"""Epoch-wise double descent, the torch part: per-layer step sizes, the paper's networks, training.

* the two-layer ReLU network of the paper's Fig. 3, trained by full-batch GD (:func:`train_two_layer`);
* the paper's 5-layer CNN (:func:`make_cnn`) and an MLP stand-in, trained with symmetric label
  noise by SGD with per-layer step sizes and ``lr0 / sqrt(1 + iteration / 512)``
  (:func:`train_classifier`, with checkpoint/resume for the hours-long CIFAR-10 runs).

Training functions take their settings as a config object (a ``TwoLayerConfig`` / ``NetworkConfig``
of :mod:`.experiments`, or anything with the same fields) and a ``progress(fraction, message)``
callback; they return tidy ``pandas.DataFrame`` histories.  torch is imported inside functions so
that importing this module stays cheap.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.core.params import Interval, check_arg
from engine.phenomena.double_descent.science import log_time_grid

Progress = Callable[[float, str], None]


def _quiet(fraction: float, message: str) -> None:
    """The default progress callback: ignore."""


def small_model_threads(device: str, dataset: str = "") -> int | None:
    """1 for the quick models on a CPU, None (leave torch's default) for CIFAR-10 or accelerators."""
    return 1 if device == "cpu" and dataset != "cifar10" else None


# ---------------------------------------------------------------------------------------------
# Per-layer step sizes
# ---------------------------------------------------------------------------------------------


def layer_param_groups(
    body: Any, final: Any, lr: float, final_lr: float, weights_lr: float | None = None
) -> list[dict[str, Any]]:
    """SGD param groups: every parameter of ``body`` at ``lr``, of the ``final`` layer at ``final_lr``.

    With ``weights_lr`` (the paper's "ff_large_lr": conv 0.05, BatchNorm 0.1, final 0.2) the body's
    weight layers take ``weights_lr`` and its normalisation layers keep ``lr``. Each group carries a
    ``name`` ("body" / "norm" / "final") so a schedule or a test can find it.
    """
    import torch

    for name, value in (("lr", lr), ("final_lr", final_lr)) + (
        (("weights_lr", weights_lr),) if weights_lr else ()
    ):
        check_arg("layer_param_groups", name, value, Interval(float, 0.0, None, closed="neither"))
    final_group = {"params": list(final.parameters()), "lr": float(final_lr), "name": "final"}
    if weights_lr is None or weights_lr == lr:
        return [{"params": list(body.parameters()), "lr": float(lr), "name": "body"}, final_group]
    norm_types = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm)
    norm = [p for m in body.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)]
    norm_ids = {id(p) for p in norm}
    weights = [p for p in body.parameters() if id(p) not in norm_ids]
    return [
        {"params": weights, "lr": float(weights_lr), "name": "body"},
        {"params": norm, "lr": float(lr), "name": "norm"},
        final_group,
    ]


def inverse_sqrt_factor(iteration: int, decay_iters: int) -> float:
    """The paper's schedule: lr(iteration) = lr0 / sqrt(1 + iteration / decay_iters)."""
    return 1.0 / math.sqrt(1.0 + iteration / decay_iters)


def make_optimizer(
    body: Any,
    final: Any,
    lr: float,
    final_lr: float,
    decay_iters: int | None = None,
    weights_lr: float | None = None,
):
    """Plain SGD (no momentum, no weight decay) with per-layer groups and, optionally, the
    inverse-square-root schedule stepped once per iteration.  Returns (optimizer, scheduler|None)."""
    import torch

    groups = layer_param_groups(body, final, lr, final_lr, weights_lr)
    opt = torch.optim.SGD(groups, lr=float(lr), momentum=0.0)
    if decay_iters is None:
        return opt, None
    check_arg("make_optimizer", "decay_iters", decay_iters, Interval(int, 1, None))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: inverse_sqrt_factor(it, decay_iters))
    return opt, sched


# ---------------------------------------------------------------------------------------------
# The two-layer network of Fig. 3
# ---------------------------------------------------------------------------------------------


def two_layer_data(config: Any, device: str = "cpu"):
    """x ~ N(0, diag(s^2)) with s geometric in [1, s_max], beta ~ N(0, I), y = <x, beta> + noise.

    Reads ``d, n, n_test, s_max, noise_std, seed`` of ``config``.  Returns float64 tensors
    (X (n, d), y (n,), X_test (n_test, d), y_test (n_test,)).
    """
    import torch

    gen = torch.Generator().manual_seed(config.seed)
    s = torch.tensor(np.geomspace(1.0, config.s_max, config.d), dtype=torch.float64)
    beta = torch.randn(config.d, generator=gen, dtype=torch.float64)

    def sample(m: int):
        X = torch.randn(m, config.d, generator=gen, dtype=torch.float64) * s
        return X, X @ beta + config.noise_std * torch.randn(m, generator=gen, dtype=torch.float64)

    X, y = sample(config.n)
    Xt, yt = sample(config.n_test)
    return X.to(device), y.to(device), Xt.to(device), yt.to(device)


def two_layer_net(d: int, hidden: int, init_second: float, seed: int):
    """(first, second) float64 Linear layers of the Fig. 3 network; second-layer init scaled."""
    import torch

    torch.manual_seed(seed)  # nn.Linear's init takes no generator; seeding keeps it reproducible
    first, second = torch.nn.Linear(d, hidden).double(), torch.nn.Linear(hidden, 1).double()
    with torch.no_grad():
        second.weight.mul_(init_second)
        second.bias.mul_(init_second)
    return first, second


def train_two_layer(
    config: Any, lr_first: float, device: str = "cpu", progress: Progress = _quiet, label: str = ""
) -> pd.DataFrame:
    """Full-batch GD on sum_i (f(x_i) - y_i)^2; L1 and squared test risk at log-spaced steps.

    Reads ``d, hidden, n, n_test, s_max, noise_std, lr_second, init_second, steps, points, seed``
    of ``config``; the first layer steps with ``lr_first``.  Returns rows (step, l1_risk,
    mse_risk, train_loss, diverged); stops at the first non-finite loss, adding a flagged row.
    """
    import torch

    check_arg("train_two_layer", "lr_first", lr_first, Interval(float, 0.0, None, closed="neither"))
    X, y, Xt, yt = two_layer_data(config, device)
    first, second = two_layer_net(config.d, config.hidden, config.init_second, config.seed)
    first, second = first.to(device), second.to(device)
    body = torch.nn.Sequential(first, torch.nn.ReLU())
    opt, _ = make_optimizer(body, second, lr_first, config.lr_second)
    marks = set(log_time_grid(config.steps, config.points).astype(int).tolist())
    rows, diverged = [], False
    for step in range(config.steps + 1):
        loss = ((second(body(X))[:, 0] - y) ** 2).sum()
        if not torch.isfinite(loss):
            diverged = True
            break
        if step in marks:
            with torch.no_grad():
                err = second(body(Xt))[:, 0] - yt
            rows.append((step, err.abs().mean().item(), (err**2).mean().item(), loss.item()))
            if len(rows) % 10 == 0:
                progress(step / config.steps, f"{label}: step {step}")
        if step == config.steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    frame = pd.DataFrame(rows, columns=["step", "l1_risk", "mse_risk", "train_loss"])
    frame["diverged"] = diverged
    return append_divergence_row(frame, step) if diverged else frame


def append_divergence_row(frame: pd.DataFrame, step: int) -> pd.DataFrame:
    """Add the flagged row at the step where training blew up (measures NaN: charts skip them)."""
    flagged = dict.fromkeys(frame.columns, np.nan)
    flagged.update({frame.columns[0]: step, "diverged": True})
    out = pd.concat([frame, pd.DataFrame([flagged])], ignore_index=True)
    out["diverged"] = True
    return out.astype({frame.columns[0]: "int64"})


# ---------------------------------------------------------------------------------------------
# Classifiers with label noise: the paper's 5-layer CNN and its quick stand-ins
# ---------------------------------------------------------------------------------------------


def make_cnn(width: int, in_channels: int = 3, num_classes: int = 10):
    """The paper's 5-layer CNN as (body, final).

    body: four [Conv3x3(padding 1, bias) -> BatchNorm -> ReLU] blocks of widths w, 2w, 4w, 8w,
    MaxPool2d(2) after blocks 1-3, then a global max-pool (= MaxPool2d(4) on 32x32 inputs) and
    Flatten; final: Linear(8w, num_classes).  Input (B, in_channels, H, W) with H, W >= 8.
    """
    from torch import nn

    width = check_arg("make_cnn", "width", width, Interval(int, 1, None))
    layers, c_in = [], in_channels
    for i, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers.append(nn.MaxPool2d(2) if i < 3 else nn.AdaptiveMaxPool2d(1))
        c_in = c_out
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), nn.Linear(8 * width, num_classes)


def make_mlp(in_features: int, width: int, num_classes: int = 10, depth: int = 2):
    """An MLP as (body, final): ``depth`` [Linear -> ReLU] blocks of ``width``, then Linear(width, classes)."""
    from torch import nn

    width = check_arg("make_mlp", "width", width, Interval(int, 1, None))
    layers, c_in = [nn.Flatten()], in_features
    for _ in range(depth):
        layers += [nn.Linear(c_in, width), nn.ReLU()]
        c_in = width
    return nn.Sequential(*layers), nn.Linear(width, num_classes)


def symmetric_label_noise(labels: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """Relabel a random ``round(fraction * n)`` of the labels to a uniformly drawn *other* class.

    Seeded (``np.random.default_rng(seed)``) and random, unlike the reference code's fixed count
    per class pair.  Returns a new int64 array (n,); exactly that many labels differ.
    """
    fraction = check_arg("symmetric_label_noise", "fraction", fraction, Interval(float, 0.0, 1.0))
    num_classes = check_arg("symmetric_label_noise", "num_classes", num_classes, Interval(int, 2, None))
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    flip = rng.choice(labels.size, size=int(round(fraction * labels.size)), replace=False)
    noisy = labels.copy()
    noisy[flip] = (labels[flip] + rng.integers(1, num_classes, size=flip.size)) % num_classes
    return noisy


def random_crop_flip(images, pad: int, generator):
    """Random crop with zero padding ``pad`` and random horizontal flip, per image, on the images' device.

    ``images`` (B, C, H, W) tensor; ``generator`` a CPU torch.Generator (draws stay reproducible
    across devices).  Returns a tensor of the same shape.
    """
    import torch
    import torch.nn.functional as F

    pad = check_arg("random_crop_flip", "pad", pad, Interval(int, 0, None))
    B, C, H, W = images.shape
    dev = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=generator).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=generator).to(dev)
    rows = (dy[:, None] + torch.arange(H, device=dev))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(W, device=dev))[:, None, None, :]
    out = padded[
        torch.arange(B, device=dev)[:, None, None, None],
        torch.arange(C, device=dev)[None, :, None, None],
        rows,
        cols,
    ]
    flip = (torch.rand(B, generator=generator) < 0.5).to(dev)
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def load_classification_data(config: Any):
    """Train/test tensors (float32 inputs, int64 labels) with the noisy training labels.

    Reads ``dataset, train_size, label_noise, seed``.  Images keep (n, C, H, W); CIFAR-10 and
    Fashion-MNIST are standardised per channel with training statistics (of all training images).  Returns (X_train, y_train_noisy,
    y_train_clean, X_test, y_test).  CIFAR-10 raises :class:`engine.core.data.DataUnavailable`
    when its files are absent.
    """
    import torch

    from engine.core import data

    if config.dataset == "digits":
        split = data.digits(flatten=False, seed=config.seed)
        Xtr, ytr, Xte, yte = split.X_train, split.y_train, split.X_test, split.y_test
    elif config.dataset == "mnist1d":
        split = data.mnist1d(seed=42)
        Xtr, ytr, Xte, yte = split.X_train, split.y_train, split.X_test, split.y_test
    else:  # cifar10 or fashion_mnist: the same path, only the images differ
        Xtr, ytr = data.images(config.dataset, train=True)
        Xte, yte = data.images(config.dataset, train=False)
        mean, std = Xtr.mean(axis=(0, 2, 3), keepdims=True), Xtr.std(axis=(0, 2, 3), keepdims=True)
        Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    if config.train_size:
        Xtr, ytr = Xtr[: config.train_size], ytr[: config.train_size]
    noisy = symmetric_label_noise(ytr, config.label_noise, 10, config.seed)
    as_x = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    return as_x(Xtr), as_y(noisy), as_y(ytr), as_x(Xte), as_y(yte)


def build_classifier(config: Any, example):
    """(body, final) for ``config.arch`` ("cnn"/"mlp") of ``config.width``, initialised from
    ``config.seed``; ``example`` one input batch (B, ...)."""
    import torch

    torch.manual_seed(config.seed)
    if config.arch == "cnn":
        return make_cnn(config.width, in_channels=example.shape[1])
    return make_mlp(int(np.prod(example.shape[1:])), config.width)


# ---------------------------------------------------------------------------------------------
# Checkpoints: one folder per run, written atomically
# ---------------------------------------------------------------------------------------------


def read_history(folder: Path) -> pd.DataFrame | None:
    """The per-epoch history a (possibly still running) checkpointed run wrote to ``folder``, or None."""
    try:
        record = json.loads((Path(folder) / "history.json").read_text())
    except (OSError, ValueError):
        return None
    frame = pd.DataFrame(record.get("rows", []))
    return frame if len(frame) else None


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _save_checkpoint(folder: Path, record: dict, state: dict[str, Any], done: bool) -> None:
    import torch

    _atomic_write(folder / "checkpoint.pt", lambda p: torch.save(state, p))
    record = {**record, "epoch": state["epoch"], "done": done, "rows": state["rows"]}
    _atomic_write(folder / "history.json", lambda p: Path(p).write_text(json.dumps(record)))


def _load_checkpoint(folder: Path) -> dict[str, Any] | None:
    import torch

    path = folder / "checkpoint.pt"
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a damaged checkpoint is ignored: the run starts over
        return None


# ---------------------------------------------------------------------------------------------
# SGD training of a classifier
# ---------------------------------------------------------------------------------------------


def error_rate(model, X, y, batch: int = 2048) -> tuple[float, float]:
    """(error rate, mean cross-entropy) of ``model`` in eval mode on (X, y), batched."""
    import torch
    import torch.nn.functional as F

    model.eval()
    wrong, loss = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(X), batch):
            out = model(X[i : i + batch])
            wrong += (out.argmax(1) != y[i : i + batch]).sum().item()
            loss += F.cross_entropy(out, y[i : i + batch], reduction="sum").item()
    model.train()
    return wrong / len(X), loss / len(X)


def _train_epoch(model, opt, sched, X, y, config: Any, gen) -> tuple[float, float]:
    """One SGD pass in shuffled mini-batches; returns (mean loss, error on the noisy labels) or nan."""
    import torch
    import torch.nn.functional as F

    order = torch.randperm(len(X), generator=gen).to(X.device)
    total, wrong = 0.0, 0.0
    for i in range(0, len(X), config.batch_size):
        idx = order[i : i + config.batch_size]
        xb = random_crop_flip(X[idx], 4, gen) if config.augment else X[idx]
        out = model(xb)
        loss = F.cross_entropy(out, y[idx])
        if not torch.isfinite(loss):
            return float("nan"), float("nan")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(idx)
        wrong += (out.argmax(1) != y[idx]).sum().item()
    return total / len(X), wrong / len(X)


def _diverged_row(epoch: int) -> dict[str, Any]:
    nan = float("nan")
    return {
        "epoch": epoch,
        "test_error": nan,
        "test_loss": nan,
        "train_error": nan,
        "train_loss": nan,
        "lr_final": nan,
        "diverged": True,
    }


def train_classifier(
    config: Any,
    device: str = "cpu",
    progress: Progress = _quiet,
    folder: Path | None = None,
    record: dict | None = None,
) -> pd.DataFrame:
    """Train ``config``'s classifier; one row per evaluated epoch.

    Reads ``dataset, arch, width, label_noise, lr, final_lr_scale, conv_lr_scale, lr_decay_iters,
    epochs, batch_size, augment, train_size, eval_every, checkpoint_every, seed``.  Columns:
    epoch, test_error, test_loss, train_error (on the noisy labels, during the epoch), train_loss,
    lr_final (the final layer's step size at the epoch's end), diverged.  With ``folder`` and
    ``checkpoint_every > 0`` the model, optimizer, schedule, RNG state and history are saved there
    (``record`` is stored beside the history) and a rerun resumes from the last checkpoint.
    """
    import torch

    X, y, _, Xt, yt = load_classification_data(config)
    X, y, Xt, yt = X.to(device), y.to(device), Xt.to(device), yt.to(device)
    body, final = build_classifier(config, X[:2])
    model = torch.nn.Sequential(body, final).to(device)
    opt, sched = make_optimizer(
        body,
        final,
        config.lr,
        config.lr * config.final_lr_scale,
        config.lr_decay_iters,
        weights_lr=config.lr * config.conv_lr_scale,
    )
    gen = torch.Generator().manual_seed(config.seed)
    start, rows = 0, []
    keep = folder is not None and config.checkpoint_every > 0
    saved = _load_checkpoint(Path(folder)) if keep else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        gen.set_state(saved["generator"])
        start, rows = saved["epoch"], saved["rows"]
    for epoch in range(start + 1, config.epochs + 1):
        train_loss, train_error = _train_epoch(model, opt, sched, X, y, config, gen)
        if not math.isfinite(train_loss):
            rows.append(_diverged_row(epoch))
            break
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            test_error, test_loss = error_rate(model, Xt, yt)
            rows.append(
                {
                    "epoch": epoch,
                    "test_error": test_error,
                    "test_loss": test_loss,
                    "train_error": train_error,
                    "train_loss": train_loss,
                    "lr_final": opt.param_groups[-1]["lr"],
                    "diverged": False,
                }
            )
        if keep and (epoch % config.checkpoint_every == 0 or epoch == config.epochs):
            state = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": gen.get_state(),
                "epoch": epoch,
                "rows": rows,
            }
            _save_checkpoint(Path(folder), record or {}, state, done=epoch == config.epochs)
        progress(epoch / config.epochs, f"epoch {epoch}/{config.epochs}")
    frame = pd.DataFrame(rows)
    if frame["diverged"].any():
        frame["diverged"] = True
    return frame
