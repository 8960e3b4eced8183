"""The worker side of ``benchmarks/gpu.py``: one process that runs one experiment at a time and
never raises, and the parent's handle on it (started ahead, killed and restarted on a timeout).

Probes may run with random stand-in images where CIFAR-10 / MNIST files are absent; such a
worker gets a scratch cache, so nothing computed on stand-in data can reach a bundle.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable


def _install_stand_in_data(used: set) -> None:
    """Make torchvision's CIFAR10 and MNIST fall back to random images of the real sizes when their
    files are absent (timing probes only)."""
    import numpy as np
    import torchvision

    sizes = {"CIFAR10": ((50_000, 10_000), (32, 32, 3)), "MNIST": ((60_000, 10_000), (28, 28))}
    memo: dict = {}
    for attr, ((n_train, n_test), shape) in sizes.items():
        real = getattr(torchvision.datasets, attr)

        class StandIn:
            def __init__(
                self,
                root,
                train=True,
                download=False,
                _real=real,
                _attr=attr,
                _shape=shape,
                _n=(n_train, n_test),
                **kwargs,
            ):
                try:
                    ds = _real(root, train=train, download=False)
                    self.data, self.targets = ds.data, ds.targets
                    return
                except Exception:  # files absent: random images of the real shape
                    used.add(_attr)
                key = (_attr, bool(train))
                if key not in memo:
                    rng = np.random.default_rng(int(train))
                    n = _n[0] if train else _n[1]
                    memo[key] = (
                        rng.integers(0, 256, size=(n, *_shape), dtype=np.uint8),
                        rng.integers(0, 10, size=n).tolist(),
                    )
                self.data, self.targets = memo[key]

        setattr(torchvision.datasets, attr, StandIn)


def _frame_difference(a, b) -> str:
    """The largest relative difference over the numeric columns of two frames of one config."""
    import numpy as np
    import pandas as pd

    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"frames differ in shape: {a.shape} vs {b.shape}"
    worst, where = 0.0, ""
    for col in a.columns:
        if any(s in str(col).lower() for s in ("second", "time")):
            continue
        if not (pd.api.types.is_numeric_dtype(a[col]) and pd.api.types.is_numeric_dtype(b[col])):
            continue
        x, y = a[col].to_numpy(dtype=float), b[col].to_numpy(dtype=float)
        nan_x, nan_y = np.isnan(x), np.isnan(y)
        if (nan_x != nan_y).any():
            return f"NaN in one frame only (column {col})"
        keep = ~nan_x
        if not keep.any():
            continue
        scale = max(float(np.max(np.abs(y[keep]))), 1e-12)
        rel = float(np.max(np.abs(x[keep] - y[keep]))) / scale
        if rel > worst:
            worst, where = rel, str(col)
    return f"max rel. diff vs cpu {worst:.1e}" + (f" ({where})" if where else "")


def _task(task: dict, state: dict) -> dict:
    import engine
    from engine.core.data import DataUnavailable

    if task["kind"] == "info":
        import torch

        from engine.core.devices import resolve_device

        device = resolve_device(task["device"])
        torch.zeros(1, device=device).sum().item()  # initialise the device before anything is timed
        name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
        return {
            "status": "ok",
            "device": device,
            "note": f"{name}; torch {torch.__version__}; {os.cpu_count()} CPUs",
            "gpu": name,
            "torch": torch.__version__,
        }
    cuda = str(task["device"]).startswith("cuda")
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    start = time.perf_counter()
    try:
        frame = engine.run(
            task["name"],
            task.get("overrides") or None,
            preset=task["preset"],
            device=task["device"],
            use_cache=task["use_cache"],
        )
    except Exception as err:
        cause = err
        while cause is not None and not isinstance(cause, DataUnavailable):
            cause = cause.__cause__  # the runner wraps compute errors in RunError
        if cause is None:
            raise
        return {"status": "no data", "seconds": time.perf_counter() - start, "note": str(cause)[:200]}
    seconds = time.perf_counter() - start
    note = f"{len(frame)} rows"
    if task.get("keep"):
        state[task["keep"]] = frame
    if task.get("compare") in state:
        note = _frame_difference(frame, state.pop(task["compare"]))
    if cuda:  # did the run use the GPU at all? (numpy-only experiments do not)
        peak = torch.cuda.max_memory_allocated() - before
        note += f"; GPU peak {peak / 2**20:.1f} MiB" if peak > 0 else "; GPU not used"
    if state.get("stand_in"):
        note += "; random stand-in for " + "/".join(sorted(state["stand_in"])) + " (files absent)"
        state["stand_in"].clear()
    return {"status": "ok", "seconds": seconds, "note": note}


def _worker(conn, cache_dir: str, stand_in: bool) -> None:
    os.environ["PHENOMENA_CACHE"] = cache_dir
    state: dict = {}
    if stand_in:
        state["stand_in"] = set()
        _install_stand_in_data(state["stand_in"])
    while True:
        task = conn.recv()
        if task is None:
            return
        try:
            result = _task(task, state)
        except BaseException as err:  # every failure becomes a row, with where it happened
            origin = err.__cause__ or err  # the runner wraps compute errors in RunError
            frames = traceback.extract_tb(origin.__traceback__)
            where = f" [at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}]" if frames else ""
            result = {"status": "failed", "note": f"{type(err).__name__}: {err}"[:300] + where}
        conn.send(result)


class Worker:
    """One worker process, restarted (and waited for) after a crash or a timeout.

    ``start()`` launches it and asks it to initialise the device without waiting; ``ready()``
    waits for that, so a worker's start-up is never charged to the first task it runs.
    """

    def __init__(self, cache_dir: str, stand_in: bool, device: str, start_timeout: Callable[[], float]):
        self.cache_dir, self.stand_in, self.device = cache_dir, stand_in, device
        self.start_timeout = start_timeout
        self.proc = self.conn = None
        self.info: dict | None = None

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, self.cache_dir, self.stand_in), daemon=True)
        self.proc.start()
        self.conn.send({"kind": "info", "device": self.device})
        self.info = None

    def ready(self) -> dict:
        """The worker's info (device, torch, ...) once it is up; status "timeout"/"crashed" if not."""
        if self.proc is None:
            self.start()
        if self.info is None:
            self.info = self._receive(self.start_timeout())
        return self.info

    def call(self, task: dict, timeout: float) -> dict:
        info = self.ready()
        if info.get("status") != "ok":
            self.kill()
            return {
                "status": info.get("status", "failed"),
                "note": "worker did not start: " + info.get("note", ""),
            }
        self.conn.send(task)
        return self._receive(timeout)

    def _receive(self, timeout: float) -> dict:
        try:
            if self.conn.poll(max(timeout, 0.1)):
                return self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(5)
            code = self.proc.exitcode
            self.proc = None
            return {"status": "crashed", "note": f"worker died (exit code {code})"}
        self.kill()
        return {"status": "timeout", "note": f"stopped after {timeout:.0f} s (its share of the budget)"}

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join(10)
        self.proc, self.info = None, None

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
                self.proc.join(10)
            except OSError:
                pass
        self.kill()
