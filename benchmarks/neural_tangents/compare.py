"""Our exact kernels beside neural-tangents (JAX, jit) on the same inputs.

    .venv/bin/python benchmarks/neural_tangents/compare.py --nt-python /tmp/nt-venv/bin/python

JAX and neural-tangents live in their own environment (they are no dependency of the app):
``python3 -m venv /tmp/nt-venv && /tmp/nt-venv/bin/pip install neural-tangents==0.6.5 jax==0.4.30
jaxlib==0.4.30 tf2jax==0.3.6`` (0.6.5, the newest release, fails to import with today's jax).
This script, run with the project's Python, writes the inputs once (scikit-learn's 1797 digits,
standardised as ``engine.core.data.digits`` does, train + test), times our kernels, then runs
itself under ``--nt-python`` to time neural-tangents on the very same arrays, and prints one
Markdown table with versions, inputs, medians and how far the two kernels are apart:

- FC NTK, all 1797 digits x 1797 digits (flattened, 64 features), 3 hidden ReLU layers;
- CNTK with global average pooling, depth 3 (2 conv layers, 3x3, SAME padding), first 60 digits
  as (1, 8, 8) images; ours with ``fix=False`` (every layer trained, as neural-tangents does) for
  the agreement check, timed in float64 and float32.

neural-tangents is timed after one warm-up call (jit compilation, reported separately) with
``block_until_ready``; ours calls the public science functions, with one torch thread and with
torch's default (JAX uses its own default thread pool). Agreement: neural-tangents scales each layer by 1/fan-in, so its kernel is a
constant multiple of ours; we fit that constant and report the relative Frobenius distance.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))  # common.py needs only the standard library (both envs)
from common import median_seconds as medians  # noqa: E402

N_CNTK, DEPTH = 60, 3


def write_inputs(path: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from engine.core import data

    split = data.digits(flatten=False)
    images = np.concatenate([split.X_train, split.X_test])  # (1797, 1, 8, 8) float64
    np.savez(path, images=images)
    return {"images": list(images.shape)}


def ours(path: Path, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from engine.phenomena.ntk.science import cntk, ntk_fc

    images = np.load(path)["images"]
    flat = images.reshape(len(images), -1)
    small = images[:N_CNTK]
    default = torch.get_num_threads()
    out = {"torch": torch.__version__, "threads": default}
    for threads in sorted({1, default}):  # one thread is often faster on a busy machine
        torch.set_num_threads(threads)
        out[threads] = {
            "fc": medians(lambda: ntk_fc(flat, None, DEPTH), repeats),
            "cntk64": medians(
                lambda: cntk(small, None, DEPTH, gap=True, fix=False, dtype="float64"), repeats
            ),
            "cntk32": medians(
                lambda: cntk(small, None, DEPTH, gap=True, fix=False, dtype="float32"), repeats
            ),
            "cntk_fix": medians(lambda: cntk(small, None, DEPTH, gap=True), repeats),  # the paper's CNTK-GAP
        }
    torch.set_num_threads(default)
    np.savez(
        path.with_name("ours.npz"),
        fc=ntk_fc(flat, None, DEPTH),
        cntk=cntk(small, None, DEPTH, gap=True, fix=False, dtype="float64"),
    )
    return out


def theirs(path: Path, repeats: int, x64: bool) -> dict:
    import jax

    jax.config.update("jax_enable_x64", x64)
    import jax.numpy as jnp
    import neural_tangents as nt
    import numpy as np
    from neural_tangents import stax

    images = np.load(path)["images"]
    dtype = jnp.float64 if x64 else jnp.float32
    flat = jnp.asarray(images.reshape(len(images), -1), dtype=dtype)
    nhwc = jnp.asarray(images[:N_CNTK].transpose(0, 2, 3, 1), dtype=dtype)  # NT wants NHWC
    w = 2.0**0.5
    layers = []
    for _ in range(DEPTH):
        layers += [stax.Dense(512, W_std=w, b_std=None), stax.Relu()]
    _, _, fc_fn = stax.serial(*layers, stax.Dense(1, W_std=w, b_std=None))
    conv = []
    for _ in range(DEPTH - 1):
        conv += [stax.Conv(256, (3, 3), padding="SAME", W_std=w, b_std=None), stax.Relu()]
    _, _, cntk_fn = stax.serial(*conv, stax.GlobalAvgPool(), stax.Dense(1, W_std=w, b_std=None))
    fc_jit = jax.jit(lambda x: fc_fn(x, None, "ntk"))
    cntk_jit = jax.jit(lambda x: cntk_fn(x, None, "ntk"))
    out = {
        "jax": jax.__version__,
        "neural_tangents": getattr(nt, "__version__", "?"),
        "devices": str(jax.devices()),
        "dtype": "float64" if x64 else "float32",
    }
    for key, fn, x in (("fc", fc_jit, flat), ("cntk", cntk_jit, nhwc)):
        start = time.perf_counter()
        first = fn(x).block_until_ready()
        out[key + "_first"] = time.perf_counter() - start
        out[key] = medians(lambda fn=fn, x=x: fn(x).block_until_ready(), repeats)
        out[key + "_rel_diff"] = None
        ours_file = path.with_name("ours.npz")
        if ours_file.exists():
            mine = np.load(ours_file)[key]
            K = np.asarray(first, dtype=np.float64)
            alpha = float((K * mine).sum() / (mine * mine).sum())
            out[key + "_rel_diff"] = float(np.linalg.norm(K - alpha * mine) / np.linalg.norm(K))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nt-python", default="/tmp/nt-venv/bin/python", help="Python with jax + neural-tangents"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--side", choices=("nt32", "nt64"), help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(theirs(Path(args.inputs), args.repeats, args.side == "nt64")))
        return 0

    folder = Path(tempfile.mkdtemp(prefix="nt-compare-"))
    inputs = folder / "inputs.npz"
    shapes = write_inputs(inputs)
    mine = ours(inputs, args.repeats)
    nt = {}
    for side in ("nt32", "nt64"):
        proc = subprocess.run(
            [
                args.nt_python,
                __file__,
                "--side",
                side,
                "--inputs",
                str(inputs),
                "--repeats",
                str(args.repeats),
            ],
            capture_output=True,
            text=True,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        nt[side] = json.loads(lines[-1]) if lines else {"error": (proc.stderr or proc.stdout)[-600:]}
    print(
        f"Inputs: digits {shapes['images']} (engine.core.data.digits, standardised, train + test); "
        f"FC on all {shapes['images'][0]} flattened, CNTK-GAP on the first {N_CNTK} images; depth {DEPTH}."
    )
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; ours: torch {mine['torch']} "
        f"(default {mine['threads']} threads), Python {sys.version.split()[0]}."
    )
    for side, result in nt.items():
        if "error" in result:
            print(f"neural-tangents ({side}) failed: {result['error']}")
        else:
            print(
                f"neural-tangents {result['neural_tangents']}, jax {result['jax']} ({result['dtype']}, "
                f"{result['devices']})."
            )
    print()
    print(
        "| kernel | ours (s) | neural-tangents float32 (s, warm; first call) | neural-tangents float64 (s, warm; "
        "first call) | rel. distance after scaling |"
    )
    print("| --- | --- | --- | --- | --- |")

    def cell(side: str, key: str) -> str:
        r = nt[side]
        return "n/a" if key not in r else f"{r[key]:.3f}; {r[key + '_first']:.2f}"

    def diff(key: str) -> str:
        values = [
            nt[s].get(key + "_rel_diff") for s in ("nt64", "nt32") if nt[s].get(key + "_rel_diff") is not None
        ]
        return "n/a" if not values else f"{values[0]:.1e}"

    def threads(key: str) -> str:
        return ", ".join(
            f"{mine[t][key]:.3f} ({t} thread{'s' if t > 1 else ''})"
            for t in sorted(k for k in mine if isinstance(k, int))
        )

    print(
        f"| FC NTK, 1797 x 1797, depth {DEPTH} | float64: {threads('fc')} | {cell('nt32', 'fc')} | "
        f"{cell('nt64', 'fc')} | {diff('fc')} |"
    )
    print(
        f"| CNTK-GAP, {N_CNTK} x {N_CNTK} digits, depth {DEPTH} | float64: {threads('cntk64')}; float32: "
        f"{threads('cntk32')}; paper's fixed first/last layer, float64: {threads('cntk_fix')} | "
        f"{cell('nt32', 'cntk')} | {cell('nt64', 'cntk')} | {diff('cntk')} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
