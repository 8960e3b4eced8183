"""Speed of randomized smoothing: certification overhead over raw forward passes, the quick digits
curve, the toy picture. Prints medians; run `python benchmarks/bench_smoothing.py`."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from engine.phenomena.smoothing import experiments as sm  # noqa: E402
from engine.core.experiment import RunContext  # noqa: E402
from common import median_seconds  # noqa: E402


def _raw_forward(model: torch.nn.Module, x: torch.Tensor, sizes: list[int]) -> float:
    """The floor: the same number of forward passes on batches built before timing."""
    batches = [x + torch.randn((s, *x.shape)) for s in sizes]
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model(batch).argmax(1)
    return time.perf_counter() - start


def _noise_only(x: torch.Tensor, sizes: list[int], generator: torch.Generator) -> float:
    """Drawing the Gaussian noise alone, as certify draws it."""
    start = time.perf_counter()
    for s in sizes:
        torch.randn((s, *x.shape), generator=generator).mul_(0.25).add_(x)
    return time.perf_counter() - start


def overhead(label: str, model: torch.nn.Module, x: torch.Tensor, n0: int, n: int, batch: int, repeats: int) -> None:
    """Median certify time against the median raw forward time of n0 + n samples (interleaved);
    'bookkeeping' is what is left after the forward passes and the noise draws."""
    model.eval()
    smooth = sm.Smooth(model, 10, 0.25, input_shape=tuple(x.shape), seed=0)
    generator = torch.Generator().manual_seed(1)
    sizes = [min(batch, n0 - i) for i in range(0, n0, batch)] + [min(batch, n - i) for i in range(0, n, batch)]
    raw, noise, cert = [], [], []
    for _ in range(repeats):
        raw.append(_raw_forward(model, x, sizes))
        noise.append(_noise_only(x, sizes, generator))
        start = time.perf_counter()
        smooth.certify(x, n0, n, 0.001, batch)
        cert.append(time.perf_counter() - start)
    r, z, c = statistics.median(raw), statistics.median(noise), statistics.median(cert)
    print(f"{label}: raw forward {r * 1e3:.1f} ms, noise draws {z * 1e3:.1f} ms, certify {c * 1e3:.1f} ms; "
          f"overhead over raw {100 * (c / r - 1):+.1f}%, bookkeeping {100 * (c - r - z) / r:+.1f}% "
          f"({(n0 + n) / c:,.0f} samples/s)")


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    split = sm.load_split("digits", 0)
    mlp = sm.build_model("mlp", split, width=64, seed=0)
    x = torch.as_tensor(split.X_test[0], dtype=torch.float32)
    overhead("digits MLP 64-64-64-10, n0=100, n=10^4, batch 1000", mlp, x, 100, 10_000, 1000, 15)
    cnn = torch.nn.Sequential(sm.NormalizeLayer(0.5, 0.25), sm.resnet((16, 32, 64), 1))
    image = torch.rand(3, 32, 32)
    overhead("CIFAR-shaped ResNet-8, n0=100, n=2000, batch 250", cnn, image, 100, 2000, 250, 5)

    def digits_curve() -> None:
        sm._TRAINED.clear()  # cold: train the base classifier too
        sm.compute_certify(sm.CertifyConfig(sigmas=(0.25,)), RunContext())

    print(f"quick digits curve (1 sigma, 100 points, n=10^4, training included): "
          f"{median_seconds(digits_curve, 3):.2f} s")
    sm.toy_base_classifier(sm.ToyConfig())
    sigmas = iter([0.25, 0.5, 1.0, 0.1, 0.3] * 2)
    warm = median_seconds(lambda: sm.compute_toy(sm.ToyConfig(sigma=next(sigmas)), RunContext()), 5)
    print(f"toy picture (sigma moved, trained base reused): {warm:.2f} s")

    def toy_cold() -> None:
        sm._TOY_NETS.clear()
        sm.compute_toy(sm.ToyConfig(), RunContext())

    print(f"toy picture cold (base network trained too): {median_seconds(toy_cold, 3):.2f} s")


if __name__ == "__main__":
    main()
