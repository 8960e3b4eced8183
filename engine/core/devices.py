"""Device choice: ``auto`` picks cuda, then mps, then cpu. Nothing else in the engine names a device."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """The concrete devices usable in this process, cpu always last."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def resolve_device(device: str = "auto") -> str:
    """Map ``auto|cpu|cuda|mps`` to a usable torch device string, or raise ``ValueError``."""
    from .validation import ConfigError

    if device not in DEVICE_CHOICES:
        raise ConfigError(
            f"The 'device' parameter must be one of {', '.join(map(repr, DEVICE_CHOICES))}. "
            f"Got {device!r} instead."
        )
    usable = available_devices()
    if device == "auto":
        return usable[0]
    if device not in usable:
        raise ConfigError(
            f"The 'device' parameter asks for {device!r}, which this machine does not have; "
            f"available: {', '.join(usable)}."
        )
    return device


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run a block with ``count`` intra-op torch threads (None: unchanged), restoring the old value.

    Tiny CPU models (the quick presets' MLPs, NTK widths of a few hundred) run several times faster
    on one thread: on a busy 2-core machine two OpenMP threads waiting on each other made them
    5-10x slower (measured).
    """
    import torch

    old = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def small_model_threads(device: str) -> int | None:
    """1 for small models on a CPU; None (torch's default) on an accelerator."""
    return 1 if str(device) == "cpu" else None


def on_small_model_threads(compute: Callable, when: Callable | None = None) -> Callable:
    """Decorate an experiment's ``compute(config, ctx)`` to run on ``small_model_threads(ctx.device)``;
    with ``when(config) -> bool``, only the configs whose models are small (others keep torch's default)."""

    @functools.wraps(compute)
    def wrapped(config, ctx):
        small = when is None or when(config)
        with torch_threads(small_model_threads(ctx.device) if small else None):
            return compute(config, ctx)

    return wrapped
