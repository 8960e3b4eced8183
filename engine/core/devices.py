"""Device choice: ``auto`` picks cuda, then mps, then cpu. Nothing else in the engine names a device."""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


def probe_devices() -> list[str]:
    """The devices to offer, without importing torch when it is not loaded yet (the home page's
    sidebar): torch's own answer once torch is loaded, else a guess from files on disk: cuda where
    torch was built for CUDA or ROCm and the GPU driver is present, mps on Apple silicon; cpu last.

    A wrong guess costs nothing: :func:`resolve_device` asks torch before anything runs and names
    the devices this machine really has."""
    if "torch" in sys.modules:
        return available_devices()
    found = []
    if _torch_gpu_build() and _gpu_driver():
        found.append("cuda")
    if sys.platform == "darwin" and platform.machine() == "arm64":
        found.append("mps")
    return found + ["cpu"]


def _torch_gpu_build() -> bool:
    """Whether the installed torch was built for CUDA or ROCm (its ``version.py``, read as text)."""
    try:
        spec = importlib.util.find_spec("torch")
        folder = Path(next(iter(spec.submodule_search_locations or ())))
        text = (folder / "version.py").read_text()
    except (ImportError, ValueError, StopIteration, AttributeError, OSError):
        return False
    return bool(re.search(r"^(cuda|hip)\b[^=]*=\s*['\"]", text, flags=re.MULTILINE))


def _gpu_driver() -> bool:
    """Whether an NVIDIA or AMD GPU driver is installed (Linux: /proc, /dev; Windows: the CUDA DLL)."""
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/kfd")
    if sys.platform == "win32":
        return os.path.exists(
            os.path.join(os.environ.get("SYSTEMROOT", r"C:\Windows"), "System32", "nvcuda.dll")
        )
    return False


def check_device_choice(device: str) -> str:
    """``device`` if it is one of :data:`DEVICE_CHOICES`, else ConfigError (torch is not imported)."""
    from .validation import ConfigError

    if device not in DEVICE_CHOICES:
        raise ConfigError(
            f"The 'device' parameter must be one of {', '.join(map(repr, DEVICE_CHOICES))}. "
            f"Got {device!r} instead."
        )
    return device


def resolve_device(device: str = "auto") -> str:
    """Map ``auto|cpu|cuda|mps`` to a usable torch device string, or raise ``ValueError``."""
    from .validation import ConfigError

    check_device_choice(device)
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
