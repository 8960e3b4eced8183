"""Speed of the exact kernels: ``python benchmarks/bench_ntk.py [repeats]``. Prints medians (s).

- ntk_fc on all 1797 digits x 1797 digits, depth 3 (target < 0.3 s on 2 cores);
- cntk GAP depth 3 on 300 digit images (8x8) (target < 10 s on 2 cores), float64 and float32;
- scaling of the CNTK in n (GAP, depth 3) and in image size H = W (GAP, depth 3, n = 60).
Torch threads are set per line (1 and 2) because OpenMP threads on a busy machine can be slower.
"""

from __future__ import annotations

import sys

from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import median_seconds  # noqa: E402
from engine.core import data
from engine.phenomena.ntk import experiments as ntk  # noqa: E402


def main(repeats: int = 3) -> None:
    split = data.digits(flatten=False)
    images = np.concatenate([split.X_train, split.X_test])
    flat = images.reshape(len(images), -1)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = median_seconds(lambda: ntk.ntk_fc(flat, flat, 3), repeats)
        print(f"threads={threads} ntk_fc 1797x1797 depth 3: {t:.3f} s")
        for dtype in ("float64", "float32"):
            t = median_seconds(lambda: ntk.cntk(images[:300], None, 3, dtype=dtype), 1)
            print(f"threads={threads} cntk GAP depth 3, 300 digits, {dtype}: {t:.2f} s")
        t = median_seconds(lambda: ntk.cntk(images[:300], None, 3, gap=False), repeats)
        print(f"threads={threads} cntk vanilla depth 3, 300 digits: {t:.3f} s")
    torch.set_num_threads(1)
    for n in (75, 150, 300):
        t = median_seconds(lambda: ntk.cntk(images[:n], None, 3), 1)
        print(f"scaling n={n}: {t:.2f} s ({n * (n + 1) // 2} pairs, {t / (n * (n + 1) / 2) * 1e6:.1f} us/pair)")
    rng = np.random.default_rng(0)
    for size in (4, 8, 12, 16):
        X = rng.standard_normal((60, 1, size, size))
        t = median_seconds(lambda: ntk.cntk(X, None, 3), 1)
        print(f"scaling H=W={size}: {t:.2f} s for 60 images ({t / 1830 * 1e6:.1f} us/pair, H^4 = {size**4})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
