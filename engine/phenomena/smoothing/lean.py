"""Light stand-ins for heavy imports on the page's first view: scikit-learn's two moons and
``torch.optim.Adam`` (whose first step imports ``torch._dynamo``), each giving the same numbers bit
for bit (checked against the originals in the tests). Used by the 2-D toy in :mod:`.models`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def moons(count: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``make_moons(count, noise=noise, random_state=seed)``, bit for bit (the same
    RandomState draws: a shuffle, then the noise), without importing scikit-learn (about 0.8 s on a
    page's first view): X (count, 2) float64, y (count,) int64 in {0, 1}."""
    outer, inner = count // 2, count - count // 2
    rng = np.random.RandomState(seed)
    X = np.vstack(
        [
            np.append(np.cos(np.linspace(0, np.pi, outer)), 1 - np.cos(np.linspace(0, np.pi, inner))),
            np.append(np.sin(np.linspace(0, np.pi, outer)), 1 - np.sin(np.linspace(0, np.pi, inner)) - 0.5),
        ]
    ).T
    y = np.hstack([np.zeros(outer, dtype=np.int64), np.ones(inner, dtype=np.int64)])
    order = np.arange(count)
    rng.shuffle(order)
    X, y = X[order], y[order]
    X += rng.normal(scale=noise, size=X.shape)
    return X.astype(np.float64), y


def adam_steps(net: nn.Module, loss_fn: Callable[[], torch.Tensor], steps: int, lr: float) -> None:
    """``steps`` steps of Adam (betas 0.9, 0.999, eps 1e-8), the same arithmetic as
    ``torch.optim.Adam``'s single-tensor CPU path, so the same weights bit for bit; written out
    because the first ``torch.optim`` step imports ``torch._dynamo`` (1.5-3 s on a first view)."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    params = [p for p in net.parameters() if p.requires_grad]
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        for p in params:
            p.grad = None
        loss_fn().backward()
        correction1, correction2 = 1 - beta1**step, 1 - beta2**step
        with torch.no_grad():
            for p, m, v in zip(params, first, second):
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (v.sqrt() / correction2**0.5).add_(eps)
                p.addcdiv_(m, denom, value=-(lr / correction1))
