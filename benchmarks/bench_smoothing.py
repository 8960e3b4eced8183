"""Speed of randomized smoothing: certification overhead over raw forward passes, the quick digits
curve, the toy picture, and each experiment's quick preset cold (wall and CPU seconds beside its
``estimate``). Prints medians; run `python benchmarks/bench_smoothing.py`."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import median_seconds  # noqa: E402

from engine.core.experiment import RunContext  # noqa: E402
from engine.phenomena.smoothing import experiments as ex  # noqa: E402
from engine.phenomena.smoothing import models as md  # noqa: E402
from engine.phenomena.smoothing import science as sm  # noqa: E402


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


def overhead(
    label: str, model: torch.nn.Module, x: torch.Tensor, n0: int, n: int, batch: int, repeats: int
) -> None:
    """Median certify time against the median raw forward time of n0 + n samples (interleaved);
    'bookkeeping' is what is left after the forward passes and the noise draws."""
    model.eval()
    smooth = sm.Smooth(model, 10, 0.25, input_shape=tuple(x.shape), seed=0)
    generator = torch.Generator().manual_seed(1)
    sizes = [min(batch, n0 - i) for i in range(0, n0, batch)] + [
        min(batch, n - i) for i in range(0, n, batch)
    ]
    raw, noise, cert = [], [], []
    for _ in range(repeats):
        raw.append(_raw_forward(model, x, sizes))
        noise.append(_noise_only(x, sizes, generator))
        start = time.perf_counter()
        smooth.certify(x, n0, n, 0.001, batch)
        cert.append(time.perf_counter() - start)
    r, z, c = statistics.median(raw), statistics.median(noise), statistics.median(cert)
    print(
        f"{label}: raw forward {r * 1e3:.1f} ms, noise draws {z * 1e3:.1f} ms, certify {c * 1e3:.1f} ms; "
        f"overhead over raw {100 * (c / r - 1):+.1f}%, bookkeeping {100 * (c - r - z) / r:+.1f}% "
        f"({(n0 + n) / c:,.0f} samples/s)"
    )


def main() -> None:
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}"
    )
    split = md.load_split("digits", 0)
    mlp = md.build_model("mlp", split, width=64, seed=0)
    x = torch.as_tensor(split.X_test[0], dtype=torch.float32)
    overhead("digits MLP 64-64-64-10, n0=100, n=10^4, batch 1000", mlp, x, 100, 10_000, 1000, 15)
    cnn = torch.nn.Sequential(sm.NormalizeLayer(0.5, 0.25), md.resnet((16, 32, 64), 1))
    image = torch.rand(3, 32, 32)
    overhead("CIFAR-shaped ResNet-8, n0=100, n=2000, batch 250", cnn, image, 100, 2000, 250, 5)

    def digits_curve() -> None:
        md.forget_trained_models()  # cold: train the base classifier too
        ex.compute_certify(ex.CertifyConfig(sigmas=(0.25,)), RunContext())

    print(
        f"quick digits curve (1 sigma, 100 points, n=10^4, training included): "
        f"{median_seconds(digits_curve, 3):.2f} s"
    )
    ex.compute_toy(ex.ToyConfig(num_points=1), RunContext())  # trains the toy base network
    sigmas = iter([0.25, 0.5, 1.0, 0.1, 0.3] * 2)
    warm = median_seconds(lambda: ex.compute_toy(ex.ToyConfig(sigma=next(sigmas)), RunContext()), 5)
    print(f"toy picture (sigma moved, trained base reused): {warm:.2f} s")

    def toy_cold() -> None:
        md.forget_trained_models()
        ex.compute_toy(ex.ToyConfig(), RunContext())

    print(f"toy picture cold (base network trained too): {median_seconds(toy_cold, 3):.2f} s")
    views()


def first_view() -> None:
    """What the page computes on a first view (the toy and the linear view, on the experiments'
    one-thread wrappers), in this fresh process: wall and CPU seconds, and whether it imported the
    slow modules the page avoids (torch._dynamo via torch.optim, scikit-learn): 1.5-3 s of imports."""
    wall, cpu = time.perf_counter(), time.process_time()
    for exp in ex.EXPERIMENTS:
        if exp.name in ("smoothing.toy", "smoothing.linear"):
            exp.compute(exp.presets["quick"], RunContext())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    slow = [m for m in ("torch._dynamo", "sklearn") if m in sys.modules]
    print(
        f"first view's computes (toy + linear), fresh process: wall {wall:.2f} s, CPU {cpu:.2f} s; "
        f"slow imports made: {', '.join(slow) or 'none'}"
    )


def views() -> None:
    """Each experiment's quick preset from cold (no trained network in memory): wall and CPU time
    against the experiment's own estimate (seconds on one laptop core), for the page's labels."""
    for exp in ex.EXPERIMENTS:
        md.forget_trained_models()
        config = exp.presets["quick"]
        wall, cpu = time.perf_counter(), time.process_time()
        exp.compute(config, RunContext())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{exp.name} quick, cold: wall {wall:.1f} s, CPU {cpu:.1f} s, estimate {exp.estimate(config).seconds:.1f} s"
        )


if __name__ == "__main__":
    first_view()  # first: a fresh process, nothing trained or imported yet
    main()
