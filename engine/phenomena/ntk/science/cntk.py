"""The paper's CNTK dynamic program (CNTK.py of ruosongwang/CNTK), batched over image pairs,
blocked, resumable and GPU-ready.

Normalisation (exactly that of CNTK.py): the first 3x3 conv layer sums its patch
(Sigma^(0) = sum over the 3x3 window of x . z); every ReLU layer (c_sigma = 2) divides by 9, the
patch size, before the next 3x3 sum. On 1x1 images this is ntk_fc(depth - 1) / 9^(depth - 1).
Readout: GAP = mean over all H^2 W^2 pixel pairs; vanilla = trace (sum over same-position pairs).
``fix`` (first and last layer not trained) starts Theta at 0 and subtracts the last Sigma.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.core import cache
from engine.core.params import Boolean, Interval, Options, Tuple, check_arg, fail
from engine.phenomena.ntk.science.fc import pair_inputs, safe_inverse

#: bump when the blocked CNTK's numbers change, so old cached blocks are never reused.
CNTK_BLOCK_VERSION = 1
CNTK_DEPTH = Interval(int, 2, 64)  # conv layers + 1

_NINE_PI = 9.0 * math.pi


def _box3(D: torch.Tensor) -> torch.Tensor:
    """3x3 zero-padded window sum over the last two axes of (..., H, W) (separable: rows then cols)."""
    rows = D.clone()
    rows[..., 1:, :] += D[..., :-1, :]
    rows[..., :-1, :] += D[..., 1:, :]
    out = rows.clone()
    out[..., 1:] += rows[..., :-1]
    out[..., :-1] += rows[..., 1:]
    return out


def _conv3_pairs(S: torch.Tensor) -> torch.Tensor:
    """The CNTK's 3x3 conv on pixel-pair tensors (P, H, W, H, W): the same shift on both images,
    out[a, b, c, d] = sum_{i, j in -1..1} S[a+i, b+j, c+i, d+j] (zero outside); separable."""
    rows = S.clone()
    rows[:, 1:, :, 1:, :] += S[:, :-1, :, :-1, :]
    rows[:, :-1, :, :-1, :] += S[:, 1:, :, 1:, :]
    out = rows.clone()
    out[:, :, 1:, :, 1:] += rows[:, :, :-1, :, :-1]
    out[:, :, :-1, :, :-1] += rows[:, :, 1:, :, 1:]
    return out


def _diag_norms(X: torch.Tensor, top: int) -> list[torch.Tensor]:
    """sqrt(Sigma^(h)(x, x)) at same-position pixel pairs, h = 1..top-1, each (n, H, W).

    The 3x3 same-shift conv maps same-position pairs to same-position pairs, so the diagonal is
    a 2-D recursion: D_1 = box3(|x_pixel|^2), D_(h+1) = box3(D_h) / 9 (ReLU at rho = 1 gives D/9).
    Index 0 is a placeholder so that ``norms[h]`` is layer h.
    """
    D = _box3((X * X).sum(dim=1))
    norms: list = [None]
    for _ in range(1, top):
        norms.append(D.sqrt())
        D = _box3(D) / 9.0
    return norms


def _relu_step(S, T, norm_outer, inv_outer):
    """One CNTK ReLU layer on pair tensors: returns (Sigma^h, Theta^h before the next conv).

    BS = (rho (pi - t) + sqrt(1 - rho^2)) Lx Lz / (9 pi),  T <- T (pi - t) / (9 pi) + BS.
    ``T`` is overwritten (it is a fresh tensor from the conv); few passes, no temporaries kept.
    """
    rho = torch.mul(S, inv_outer).clamp_(-1.0, 1.0)
    pi_minus_t = torch.acos(rho).neg_().add_(math.pi)
    sigma = torch.mul(rho, rho).neg_().add_(1.0).sqrt_()
    sigma.addcmul_(rho, pi_minus_t).mul_(norm_outer)
    T.mul_(pi_minus_t).mul_(1.0 / _NINE_PI).add_(sigma)
    return sigma, T


@dataclass(frozen=True)
class _Layout:
    """How pixel-pair tensors are laid out: all pairs (GAP) or same-position pairs only (vanilla)."""

    gram: Callable  # (xs, zs) (P, C, H, W) -> Sigma^(0) before the first conv
    conv: Callable  # the 3x3 same-shift conv
    outer: Callable  # (a, b) per-image (P, H, W) maps -> per-pair factor
    readout: Callable  # pair tensor -> (P,) kernel values


def _gram_all(xs, zs):
    P, C, H, W = xs.shape
    return torch.bmm(xs.reshape(P, C, H * W).transpose(1, 2), zs.reshape(P, C, H * W)).view(P, H, W, H, W)


_GAP = _Layout(
    gram=_gram_all,
    conv=_conv3_pairs,
    outer=lambda a, b: a[:, :, :, None, None] * b[:, None, None, :, :],
    readout=lambda t: t.mean(dim=(1, 2, 3, 4)),
)
# Vanilla needs only same-position pairs: the same-shift conv never mixes pixel offsets.
_VANILLA = _Layout(
    gram=lambda xs, zs: (xs * zs).sum(dim=1),
    conv=_box3,
    outer=lambda a, b: a * b,
    readout=lambda t: t.sum(dim=(1, 2)),
)


def _cntk_pairs(xs, zs, norms_x, norms_z, depths, fix: bool, layout: _Layout) -> torch.Tensor:
    """Kernel values of P image pairs at several depths: (len(depths), P).

    xs, zs: (P, C, H, W); norms_*: per-layer (P, H, W) diagonal norms of the same pairs.
    The state after ReLU layer h is the final state of depth h + 1, so all depths share one pass.
    """
    top = max(depths)
    S = layout.conv(layout.gram(xs, zs))
    T = torch.zeros_like(S) if fix else S.clone()
    out = S.new_empty(len(depths), xs.shape[0])
    for h in range(1, top):
        norm_outer = layout.outer(norms_x[h], norms_z[h]) / _NINE_PI
        inv_outer = layout.outer(safe_inverse(norms_x[h]), safe_inverse(norms_z[h]))
        S, T = _relu_step(S, T, norm_outer, inv_outer)
        for k, d in enumerate(depths):
            if d == h + 1:
                out[k] = layout.readout(T) - layout.readout(S) if fix else layout.readout(T)
        if h < top - 1:
            S, T = layout.conv(S), layout.conv(T)
    return out


def _check_depths(depths, where: str) -> tuple[int, ...]:
    if isinstance(depths, (int, np.integer)) and not isinstance(depths, bool):
        depths = (depths,)
    return check_arg(where, "depths", depths, Tuple(CNTK_DEPTH, min_len=1, max_len=32))


def _block_pairs(rows: int, cols: int, triangular: bool) -> tuple[np.ndarray, np.ndarray]:
    """Local (i, j) index pairs of one block: all of them, or i <= j on a symmetric diagonal block."""
    if triangular:
        return np.triu_indices(rows, m=cols)
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return i.ravel(), j.ravel()


def _pairs_per_batch(shape, gap: bool, device: str) -> int:
    """Pairs per batch so each pair tensor has about 2^21 (CPU, cache-sized) or 2^27 (GPU) entries."""
    H, W = shape[-2:]
    per_pair = (H * W) ** 2 if gap else H * W
    budget = 2**27 if str(device).startswith("cuda") else 2**21
    return max(1, budget // per_pair)


def _block_key(Xt, Zt, symmetric, depths, gap, fix, dtype, block_size) -> str:
    """Content hash naming a kernel's folder of cached blocks."""
    h = hashlib.sha256()
    h.update(Xt.cpu().numpy().tobytes())
    h.update(b"sym" if symmetric else Zt.cpu().numpy().tobytes())
    h.update(
        repr(
            (tuple(Xt.shape), tuple(Zt.shape), depths, gap, fix, str(dtype), block_size, CNTK_BLOCK_VERSION)
        ).encode()
    )
    return h.hexdigest()[:32]


def cntk_block_dir(key: str) -> Path:
    """Where the finished blocks of one kernel live: cache_dir()/ntk-blocks/<key>/."""
    return cache.lab_folder("ntk-blocks") / key


def _save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npy")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)


def _take(norms: list, index: torch.Tensor) -> list:
    """The per-layer diagonal norms of the images at ``index`` (layer 0 stays a placeholder)."""
    return [None] + [n[index] for n in norms[1:]]


def _compute_block(Xt, Zt, rows, cols, triangular, norms_x, norms_z, depths, fix, layout, batch):
    """One block (len(depths), len(rows), len(cols)) of the kernel, batch pairs at a time."""
    li, lj = _block_pairs(len(rows), len(cols), triangular)
    block = torch.zeros(len(depths), len(rows), len(cols), dtype=torch.float64)
    for s in range(0, len(li), batch):
        bi, bj = torch.as_tensor(li[s : s + batch]), torch.as_tensor(lj[s : s + batch])
        gi, gj = rows[bi].to(Xt.device), cols[bj].to(Zt.device)
        values = _cntk_pairs(Xt[gi], Zt[gj], _take(norms_x, gi), _take(norms_z, gj), depths, fix, layout)
        block[:, bi, bj] = values.to("cpu", torch.float64)
        if triangular:
            block[:, bj, bi] = values.to("cpu", torch.float64)
    return block.numpy()


def cntk_depths(
    X,
    Z=None,
    depths: Sequence[int] = (3,),
    *,
    gap: bool = True,
    fix: bool | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    block_size: int = 256,
    cache_blocks: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> dict[int, np.ndarray]:
    """CNTK of images at several depths in one pass: {depth: (n, m) float64 numpy}.

    X: (n, C, H, W), Z: (m, C, H, W) or ``None`` for Z = X (then only blocks with j >= i and,
    inside diagonal blocks, pairs i <= j are computed). ``depth`` counts conv layers + 1 (>= 2).
    ``fix=None`` follows the paper: fixed first/last layer for GAP, trained for vanilla.
    ``dtype``: "float64" (default on CPU) or "float32" (default on CUDA). The kernel is computed in
    ``block_size`` x ``block_size`` blocks, so memory stays bounded; with ``cache_blocks`` each
    finished block is saved under :func:`cntk_block_dir` and a rerun resumes from the saved ones.
    ``progress(fraction, message)`` is called after every block.
    """
    where = "cntk_depths"
    depths = _check_depths(depths, where)
    gap = check_arg(where, "gap", gap, Boolean())
    fix = gap if fix is None else check_arg(where, "fix", fix, Boolean())
    if fix and min(depths) < 3:
        fail(where, "depths", "depths >= 3 when fix=True (depth 2 has no trainable layer)", depths)
    dtype = dtype or ("float32" if str(device).startswith("cuda") else "float64")
    dtype = check_arg(where, "dtype", dtype, Options(("float32", "float64")))
    block_size = check_arg(where, "block_size", block_size, Interval(int, 1, None))
    Xt, Zt, symmetric = pair_inputs(X, Z, where, 4, device, getattr(torch, dtype))
    layout = _GAP if gap else _VANILLA
    norms_x = _diag_norms(Xt, max(depths))
    norms_z = norms_x if symmetric else _diag_norms(Zt, max(depths))
    batch = _pairs_per_batch(Xt.shape, gap, device)
    folder = (
        cntk_block_dir(_block_key(Xt, Zt, symmetric, depths, gap, fix, dtype, block_size))
        if cache_blocks
        else None
    )
    n, m = len(Xt), len(Zt)
    starts_i, starts_j = range(0, n, block_size), range(0, m, block_size)
    todo = [(i, j) for i in starts_i for j in starts_j if not symmetric or j >= i]
    K = np.zeros((len(depths), n, m))
    for done, (i, j) in enumerate(todo):
        rows, cols = torch.arange(i, min(i + block_size, n)), torch.arange(j, min(j + block_size, m))
        path = folder / f"{i}_{j}.npy" if folder is not None else None
        if path is not None and path.exists():
            block = np.load(path)
        else:
            block = _compute_block(
                Xt, Zt, rows, cols, symmetric and i == j, norms_x, norms_z, depths, fix, layout, batch
            )
            if path is not None:
                _save_atomic(path, block)
        K[:, i : i + len(rows), j : j + len(cols)] = block
        if symmetric and i != j:
            K[:, j : j + len(cols), i : i + len(rows)] = block.transpose(0, 2, 1)
        if progress is not None:
            progress((done + 1) / len(todo), f"CNTK block {done + 1}/{len(todo)}")
    return {d: K[k] for k, d in enumerate(depths)}


def cntk(X, Z=None, depth: int = 3, *, gap: bool = True, fix: bool | None = None, **options) -> np.ndarray:
    """The paper's CNTK (3x3 conv, stride 1, zero padding, no bias, ReLU) of images.

    X: (n, C, H, W), Z: (m, C, H, W) or ``None``; returns (n, m) float64 numpy. ``depth`` = conv
    layers + 1 (>= 2); ``gap`` global average pooling (else vanilla: trace over same-position pixel
    pairs); ``fix=None`` means the paper's choice (``fix = gap``). ``options`` go to :func:`cntk_depths`
    (device, dtype, block_size, cache_blocks, progress).
    """
    depth = check_arg("cntk", "depth", depth, CNTK_DEPTH)
    return cntk_depths(X, Z, (depth,), gap=gap, fix=fix, **options)[depth]
