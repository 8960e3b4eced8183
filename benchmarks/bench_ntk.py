"""Speed of the NTK science and page: ``python benchmarks/bench_ntk.py [repeats] [--page-only]``.

- the page's first view (AppTest) on an empty cache, then warm; wall and CPU seconds, load average.
  As in the app (one server process), streamlit's component scan and vl-convert's engine start
  are paid once by a throw-away script before the cold view is timed;
- the empirical NTK of a CNN (torch.func batched Jacobians, float32, vmapped over 4 seeds) against
  the previous per-output vjp/jvp loop in float64;
- ntk_fc on all 1797 digits, depth 3; CNTK-GAP depth 3 on 60 digits (float64 / float32), the
  figures compared with neural-tangents in the README; CNTK-V on 300 digits.
Prints medians (s). Torch threads are set per line (1 and 2).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import median_seconds, use_scratch_cache  # noqa: E402

from engine.core import data  # noqa: E402
from engine.phenomena.ntk import science as ntk  # noqa: E402


def page(repeats: int) -> None:
    from streamlit.testing.v1 import AppTest

    import engine
    from engine.present import figures

    use_scratch_cache()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write("import streamlit as st\nst.write('warm-up')\n")
    AppTest.from_file(fh.name).run()  # once per process: streamlit's import-time work
    base = time.process_time()
    AppTest.from_file(fh.name).run()  # what AppTest itself costs on every run (component scan)
    base = time.process_time() - base
    figures.chart_bytes(
        {"mark": "point", "data": {"values": [{"a": 1}]}, "encoding": {}}, "png"
    )  # vl-convert
    engine.EXPERIMENTS  # noqa: B018 (registry import, done at app start)
    path = str(ROOT / "pages" / "ntk.py")
    wall, cpu = time.perf_counter(), time.process_time()
    at = AppTest.from_file(path, default_timeout=300).run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert not at.exception, at.exception
    print(
        f"ntk page first view, empty cache: {wall:6.2f} s wall, {cpu:5.2f} s CPU (load {os.getloadavg()[0]:.1f}); "
        f"AppTest's own overhead on a one-line script: {base:.2f} s CPU"
    )
    wall = median_seconds(lambda: AppTest.from_file(path, default_timeout=300).run(), repeats)
    print(f"ntk page first view, warm cache:  {wall:6.2f} s wall (median of {repeats})")


def empirical(repeats: int) -> None:
    X = data.digits(flatten=False).X_train[:8]
    nets = [ntk.CNTKNet(1, 128, 3, seed=s) for s in range(4)]
    ntk.ensemble_ntk(nets, X)  # first torch.func use imports torch._dynamo (about 2 s, once)
    t = median_seconds(lambda: ntk.ensemble_ntk(nets, X), repeats)
    print(f"CNN (128 channels, depth 3) empirical NTK, 4 seeds x 8 digits, vmap float32: {t:.3f} s")
    nets64 = [ntk.CNTKNet(1, 128, 3, seed=s, dtype=torch.float64) for s in range(4)]
    t = median_seconds(lambda: [_vjp_jvp_ntk(m, X) for m in nets64], repeats)
    print(f"  the same, per seed, float64 vjp/jvp loop (the previous empirical_ntk):   {t:.3f} s")


def _vjp_jvp_ntk(model, X) -> np.ndarray:
    """The previous implementation: one vjp per input and output, pushed through a jvp."""
    from torch.func import functional_call, jvp, vjp, vmap

    Xt = torch.as_tensor(X, dtype=torch.float64)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, inputs):
        return functional_call(model, p, (inputs,)).reshape(len(inputs), -1)

    _, pullback = vjp(lambda p: f(p, Xt), params)
    tangents = vmap(pullback)(torch.eye(len(Xt), dtype=torch.float64)[:, :, None])[0]
    return vmap(lambda v: jvp(lambda p: f(p, Xt), (params,), (v,))[1])(tangents)[:, :, 0].T.numpy()


def kernels(repeats: int) -> None:
    split = data.digits(flatten=False)
    images = np.concatenate([split.X_train, split.X_test])
    flat = images.reshape(len(images), -1)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = median_seconds(lambda: ntk.ntk_fc(flat, flat, 3), repeats)
        print(f"threads={threads} ntk_fc 1797x1797 depth 3: {t:.3f} s")
        for dtype in ("float64", "float32"):
            t = median_seconds(lambda dtype=dtype: ntk.cntk(images[:60], None, 3, dtype=dtype), repeats)
            print(f"threads={threads} cntk GAP depth 3, 60 digits, {dtype}: {t:.3f} s")
        t = median_seconds(lambda: ntk.cntk(images[:300], None, 3, gap=False), repeats)
        print(f"threads={threads} cntk vanilla depth 3, 300 digits: {t:.3f} s")
    torch.set_num_threads(1)


def gpu() -> None:
    """CUDA checks and timings (``--gpu``; needs no streamlit or altair): CNN vs CNTK on the GPU
    against the CPU, the CNTK DP in float32/float64, and CIFAR-sized (32x32) CNTK blocks with the
    full 60,000-image kernel extrapolated."""
    dev = "cuda"

    def timed(fn):
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        return out, time.perf_counter() - start

    print(torch.cuda.get_device_name(), torch.__version__)
    X = data.digits(flatten=False).X_train
    e, t = timed(lambda: ntk.cnn_kernel_errors(X[:8], (16, 64), 2, 3, device=dev))
    print(
        f"first CUDA call {t:.2f} s; |CPU - GPU| errors: {np.abs(ntk.cnn_kernel_errors(X[:8], (16, 64), 2, 3) - e).max():.2e}"
    )
    for fix in (False, True):
        for ch in ((16, 32, 64, 128, 256), (512, 1024, 2048)):
            e, t = timed(lambda ch=ch, fix=fix: ntk.cnn_kernel_errors(X[:8], ch, 4, 3, fix=fix, device=dev))
            m = e.mean(axis=1)
            print(
                f"CNN vs CNTK fix={fix} channels {ch}: mean error {m.round(4)}, x sqrt(c) {(m * np.sqrt(ch)).round(3)}, {t:.2f} s"
            )
    e, t = timed(lambda: ntk.cnn_kernel_errors(X[:16], (16, 32, 64, 128, 256, 512, 1024), 8, 3, device=dev))
    print(f"paper preset (16 digits, 16..1024 channels x 8 seeds): {e.mean(axis=1).round(4)}, {t:.2f} s")
    images = X[:300]
    for dtype in ("float32", "float64"):
        ntk.cntk(images[:20], None, 3, device=dev, dtype=dtype)
        _, t = timed(lambda dtype=dtype: ntk.cntk(images, None, 3, device=dev, dtype=dtype))
        print(f"cntk GAP depth 3, 300 digits, {dtype}: {t:.3f} s")
    cpu = ntk.cntk(images[:60], None, 3)
    for dtype in ("float64", "float32"):
        print(
            f"GPU {dtype} vs CPU float64 CNTK, relative: {ntk.relative_error(ntk.cntk(images[:60], None, 3, device=dev, dtype=dtype), cpu):.2e}"
        )
    C = np.random.default_rng(0).standard_normal((64, 3, 32, 32))
    pairs, full = 64 * 65 / 2, 60000 * 60001 / 2
    for depth in (3, 11, 21):
        for gap in (True, False):
            _, t = timed(lambda d=depth, g=gap: ntk.cntk(C, None, d, gap=g, device=dev, dtype="float32"))
            print(
                f"CIFAR-sized CNTK depth {depth} gap={gap}: {t:.3f} s for {pairs:.0f} pairs -> 60k images "
                f"{t / pairs * full / 3600:.1f} GPU-hours"
            )


if __name__ == "__main__":
    if "--gpu" in sys.argv:
        gpu()
        sys.exit()
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    repeats = int(args[0]) if args else 3
    page(repeats)
    if "--page-only" not in sys.argv:
        empirical(repeats)
        kernels(repeats)
