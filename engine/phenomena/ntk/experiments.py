"""Neural tangent kernels: Arora, Du, Hu, Li, Salakhutdinov, Wang, "On Exact Computation with an
Infinitely Wide Neural Net" (NeurIPS 2019).

Science API (inputs numpy or torch, outputs float64 numpy):

- :func:`ntk_fc`, :func:`nngp_fc`: exact kernels of a fully connected ReLU net (paper convention).
- :func:`cntk`, :func:`cntk_depths`: the paper's CNTK dynamic program (3x3 conv, GAP or vanilla),
  batched over image pairs, blocked, resumable and GPU-ready.
- :func:`empirical_ntk`: the tangent kernel of any torch module (torch.func vjp/jvp);
  :class:`NTKMLP`: the finite network whose empirical kernel converges to :func:`ntk_fc`.
- :func:`kernel_regression`: the kernel predictor (stable solve, optional relative ridge).

The experiments registered at the bottom (``EXPERIMENTS``) are what the page and the CLI run.
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
import pandas as pd
import scipy.linalg
import torch
from torch import nn

from engine.core import cache
from engine.core.devices import on_small_model_threads
from engine.core.experiment import Claim, Experiment, RunContext
from engine.core.validation import (
    ConfigError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_int_tuple,
)

#: bump when the blocked CNTK's numbers change, so old cached blocks are never reused.
CNTK_BLOCK_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _as_tensor(A, name: str, ndim: int, device: str = "cpu", dtype=torch.float64) -> torch.Tensor:
    """``A`` (numpy or torch) as a finite tensor of ``ndim`` dimensions, or a clear ValueError."""
    arr = A.detach().cpu().numpy() if isinstance(A, torch.Tensor) else np.asarray(A)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"The '{name}' parameter must hold real numbers. Got dtype {arr.dtype} instead.")
    if arr.ndim != ndim:
        raise ValueError(f"The '{name}' parameter must be a {ndim}-d array. Got shape {arr.shape} instead.")
    if not np.isfinite(arr).all():
        raise ValueError(f"The '{name}' parameter must hold finite values. Got NaN or inf instead.")
    return torch.as_tensor(arr).to(device=device, dtype=dtype)


def _check_depth(depth, low: int = 1) -> int:
    if not isinstance(depth, (int, np.integer)) or isinstance(depth, bool) or depth < low:
        raise ValueError(f"The 'depth' parameter must be an int >= {low}. Got {depth!r} instead.")
    return int(depth)


def _pair_inputs(X, Z, ndim: int, device: str, dtype) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Both inputs as tensors with matching trailing shapes; ``Z=None`` means ``Z = X`` (symmetric)."""
    Xt = _as_tensor(X, "X", ndim, device, dtype)
    symmetric = Z is None or Z is X
    Zt = Xt if symmetric else _as_tensor(Z, "Z", ndim, device, dtype)
    if Xt.shape[1:] != Zt.shape[1:]:
        raise ValueError(
            f"X and Z must have the same feature shape. Got {tuple(Xt.shape[1:])} and {tuple(Zt.shape[1:])} instead."
        )
    return Xt, Zt, symmetric


def _safe_inverse(t: torch.Tensor) -> torch.Tensor:
    """1/t where t > 0, else 0 (a zero-variance unit has correlation 0 with everything)."""
    return torch.where(t > 0, 1.0 / torch.where(t > 0, t, 1.0), 0.0)


# ---------------------------------------------------------------------------------------------
# Fully connected NTK and NNGP (c_sigma = 2, no bias)
# ---------------------------------------------------------------------------------------------


def _propagate_relu_layers(rho: torch.Tensor, depth: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised (Sigma^depth, Theta^depth) / (|x||x'|) from the input correlations ``rho``.

    One ReLU layer (c_sigma = 2) with t = arccos(rho) maps rho to
    Sigma = (sqrt(1 - rho^2) + (pi - t) rho) / pi and SigmaDot = (pi - t) / pi, and
    Theta <- Theta * SigmaDot + Sigma. Works in place on ``rho`` (any shape): the arccos and a
    dozen memory passes per layer are the whole cost, so no temporary is made twice.
    """
    theta = rho.clone()  # Theta^0 / (|x||z|): Sigma^h(x, x) = |x|^2 at every layer when c_sigma = 2
    for _ in range(depth):
        rho.clamp_(-1.0, 1.0)
        dot = torch.acos(rho).neg_().add_(math.pi).div_(math.pi)  # (pi - t) / pi
        sigma = (rho * rho).neg_().add_(1.0).sqrt_().div_(math.pi).addcmul_(dot, rho)
        theta.mul_(dot).add_(sigma)
        rho = sigma
    return rho, theta


def _fc_kernels(X, Z, depth: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(NNGP Sigma^depth, NTK Theta^depth), each (n, m), float64 on ``device``.

    For Z = X only the upper triangle is computed (half the arccos calls) and mirrored.
    """
    depth = _check_depth(depth)
    Xt, Zt, symmetric = _pair_inputs(X, Z, 2, device, torch.float64)
    norm_x, norm_z = Xt.norm(dim=1), Zt.norm(dim=1)
    scale = torch.outer(norm_x, norm_z)
    rho = (Xt @ Zt.T).mul_(torch.outer(_safe_inverse(norm_x), _safe_inverse(norm_z)))
    if not symmetric:
        sigma, theta = _propagate_relu_layers(rho, depth)
        return sigma.mul_(scale), theta.mul_(scale)
    n = rho.shape[0]
    rows, cols = torch.triu_indices(n, n, device=rho.device)
    upper = rho[rows, cols]
    upper[rows == cols] = (norm_x > 0).to(rho.dtype)  # rho(x, x) = 1 exactly: arccos is ill-conditioned at 1
    sigma_upper, theta_upper = _propagate_relu_layers(upper, depth)
    out = []
    for values in (sigma_upper, theta_upper):
        full = torch.empty_like(rho)
        full[rows, cols] = values
        full[cols, rows] = values
        out.append(full.mul_(scale))
    return out[0], out[1]


def ntk_fc(X, Z=None, depth: int = 3, *, device: str = "cpu") -> np.ndarray:
    """Exact NTK Theta^depth of a ReLU MLP with ``depth`` hidden layers (paper's convention).

    X: (n, d), Z: (m, d) (``None`` means X); returns (n, m) float64 numpy.
    Guarantees Theta(x, x) = (depth + 1) |x|^2, symmetry, positive semi-definiteness.
    """
    return _fc_kernels(X, Z, depth, device)[1].cpu().numpy()


def nngp_fc(X, Z=None, depth: int = 3, *, device: str = "cpu") -> np.ndarray:
    """Exact NNGP kernel Sigma^depth (the output covariance at init) of the same ReLU MLP.

    X: (n, d), Z: (m, d); returns (n, m) float64 numpy; Sigma(x, x) = |x|^2.
    """
    return _fc_kernels(X, Z, depth, device)[0].cpu().numpy()


# ---------------------------------------------------------------------------------------------
# CNTK: the paper's dynamic program, batched over image pairs
# ---------------------------------------------------------------------------------------------
#
# Normalisation (exactly that of the paper's CNTK.py): the first 3x3 conv layer sums its patch
# (Sigma^(0) = sum over the 3x3 window of x . z); every ReLU layer (c_sigma = 2) divides by 9, the
# patch size, before the next 3x3 sum. On 1x1 images this is ntk_fc(depth - 1) / 9^(depth - 1).
# Readout: GAP = mean over all H^2 W^2 pixel pairs; vanilla = trace (sum over same-position pairs).
# ``fix`` (first and last layer not trained) starts Theta at 0 and subtracts the last Sigma.

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
        inv_outer = layout.outer(_safe_inverse(norms_x[h]), _safe_inverse(norms_z[h]))
        S, T = _relu_step(S, T, norm_outer, inv_outer)
        for k, d in enumerate(depths):
            if d == h + 1:
                out[k] = layout.readout(T) - layout.readout(S) if fix else layout.readout(T)
        if h < top - 1:
            S, T = layout.conv(S), layout.conv(T)
    return out


def _check_depths(depths) -> tuple[int, ...]:
    depths = (depths,) if isinstance(depths, (int, np.integer)) and not isinstance(depths, bool) else tuple(depths)
    if not depths:
        raise ValueError("The 'depth' parameter must name at least one depth.")
    return tuple(_check_depth(d, low=2) for d in depths)


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
    h.update(repr((tuple(Xt.shape), tuple(Zt.shape), depths, gap, fix, str(dtype), block_size,
                   CNTK_BLOCK_VERSION)).encode())
    return h.hexdigest()[:32]


def cntk_block_dir(key: str) -> Path:
    """Where the finished blocks of one kernel live: cache_dir()/ntk-blocks/<key>/."""
    return cache.cache_dir() / "ntk-blocks" / key


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
        values = _cntk_pairs(
            Xt[gi], Zt[gj], _take(norms_x, gi), _take(norms_z, gj), depths, fix, layout
        )
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
    depths = _check_depths(depths)
    fix = gap if fix is None else bool(fix)
    if fix and min(depths) < 3:
        raise ValueError(
            f"The 'depth' parameter must be >= 3 when fix=True (depth 2 has no trainable layer). Got {min(depths)} instead."
        )
    dtype = dtype or ("float32" if str(device).startswith("cuda") else "float64")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"The 'dtype' parameter must be 'float32' or 'float64'. Got {dtype!r} instead.")
    if int(block_size) < 1:
        raise ValueError(f"The 'block_size' parameter must be an int >= 1. Got {block_size!r} instead.")
    Xt, Zt, symmetric = _pair_inputs(X, Z, 4, device, getattr(torch, dtype))
    layout = _GAP if gap else _VANILLA
    norms_x = _diag_norms(Xt, max(depths))
    norms_z = norms_x if symmetric else _diag_norms(Zt, max(depths))
    batch = _pairs_per_batch(Xt.shape, gap, device)
    folder = cntk_block_dir(_block_key(Xt, Zt, symmetric, depths, gap, fix, dtype, block_size)) if cache_blocks else None
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
    return cntk_depths(X, Z, (_check_depth(depth, low=2),), gap=gap, fix=fix, **options)[depth]


# ---------------------------------------------------------------------------------------------
# Finite networks and their empirical tangent kernels
# ---------------------------------------------------------------------------------------------


class NTKMLP(nn.Module):
    """ReLU MLP in the paper's NTK parameterisation: N(0, 1) weights, no bias,
    f^1 = W^1 x, g^h = sqrt(2 / width) relu(f^h), f^(h+1) = W^(h+1) g^h, output W^(L+1) g^L.

    Its empirical NTK converges to :func:`ntk_fc` (depth = number of hidden layers) as width grows,
    with a relative error of order 1/sqrt(width). Input (n, in_dim) -> output (n, out_dim).
    """

    def __init__(self, in_dim: int, width: int, depth: int, out_dim: int = 1, *, seed: int = 0,
                 dtype=torch.float64):
        super().__init__()
        depth = _check_depth(depth)
        gen = torch.Generator().manual_seed(int(seed))
        sizes = [in_dim] + [width] * depth + [out_dim]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(b, a, generator=gen, dtype=dtype)) for a, b in zip(sizes, sizes[1:])
        )
        self.scale = math.sqrt(2.0 / width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x
        layers = list(self.weights)  # (slicing a ParameterList would bypass torch.func's swap)
        for W in layers[:-1]:
            g = self.scale * torch.relu(g @ W.T)
        return g @ layers[-1].T


    def tangent_kernel(self, X, Z=None) -> np.ndarray:
        """The same empirical NTK as :func:`empirical_ntk`, from the layer-wise factorisation
        Theta(x, z) = sum_h (delta^h(x) . delta^h(z)) (g^(h-1)(x) . g^(h-1)(z)), delta^h = df/df^h,
        averaged over outputs. Cost O(n width^2), no Jacobian: (n, m) float64 numpy."""
        with torch.no_grad():
            feats_x, deltas_x = self._features_and_deltas(_as_tensor(X, "X", 2, dtype=self.weights[0].dtype))
            same = Z is None
            feats_z, deltas_z = (feats_x, deltas_x) if same else self._features_and_deltas(
                _as_tensor(Z, "Z", 2, dtype=self.weights[0].dtype))
            K = 0.0
            for gx, gz, dx, dz in zip(feats_x, feats_z, deltas_x, deltas_z):
                K = K + (gx @ gz.T) * torch.einsum("nkw,mkw->nm", dx, dz)
            return (K / deltas_x[0].shape[1]).to(torch.float64).cpu().numpy()

    def _features_and_deltas(self, x: torch.Tensor):
        """Layer inputs g^(h-1) (n, d_h) and backward vectors df_o/df^h (n, k, width_h) per layer."""
        layers = list(self.weights)
        feats, masks = [x], []
        for W in layers[:-1]:
            pre = feats[-1] @ W.T
            masks.append(self.scale * (pre > 0).to(pre.dtype))
            feats.append(self.scale * torch.relu(pre))
        k = layers[-1].shape[0]
        delta = torch.eye(k, dtype=x.dtype).expand(len(x), k, k)
        deltas = [delta]
        for W, mask in zip(reversed(layers[1:]), reversed(masks)):
            delta = (delta @ W) * mask[:, None, :]
            deltas.append(delta)
        return feats, deltas[::-1]


def empirical_ntk(model: nn.Module, X, Z=None, *, chunk: int | None = None) -> np.ndarray:
    """Empirical NTK <df(x)/dtheta, df(z)/dtheta> of any torch module at its current parameters.

    X: (n, ...), Z: (m, ...) (``None`` means X); returns (n, m) float64 numpy. For k outputs the
    kernel is averaged over them, (1/k) sum_o <df_o(x), df_o(z)> (the infinite-width NTK is
    Theta times the identity). Uses torch.func: vjp gives J(z)^T e for a batch of cotangents,
    jvp pushes them through J(x), so memory is O(chunk x parameters), never O(n x parameters).
    """
    from torch.func import functional_call, jvp, vjp, vmap

    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    Xt = torch.as_tensor(X.detach() if isinstance(X, torch.Tensor) else np.asarray(X)).to(device, dtype)
    Zt = Xt if Z is None else torch.as_tensor(Z.detach() if isinstance(Z, torch.Tensor) else np.asarray(Z)).to(device, dtype)
    if not (torch.isfinite(Xt).all() and torch.isfinite(Zt).all()):
        raise ValueError("The 'X' and 'Z' parameters must hold finite values. Got NaN or inf instead.")
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def f(p, inputs):
        out = functional_call(model, (p, buffers), (inputs,))
        return out.reshape(len(inputs), -1)

    out_dim = f(params, Zt[:1]).shape[1]
    n_params = sum(v.numel() for v in params.values())
    chunk = chunk or max(1, min(len(Zt), 2**25 // max(n_params, 1)))
    _, pullback = vjp(lambda p: f(p, Zt), params)
    push = vmap(lambda v: jvp(lambda p: f(p, Xt), (params,), (v,))[1])
    K = torch.zeros(len(Xt), len(Zt), dtype=torch.float64, device=device)
    eye = torch.eye(len(Zt), dtype=dtype, device=device)
    for o in range(out_dim):
        for s in range(0, len(Zt), chunk):
            cot = torch.zeros(min(chunk, len(Zt) - s), len(Zt), out_dim, dtype=dtype, device=device)
            cot[:, :, o] = eye[s : s + chunk]
            tangents = vmap(pullback)(cot)[0]
            K[:, s : s + chunk] += push(tangents)[:, :, o].T.to(torch.float64)
    return (K / out_dim).cpu().numpy()


# ---------------------------------------------------------------------------------------------
# Kernel regression
# ---------------------------------------------------------------------------------------------


def kernel_regression(K_train, y_train, K_test, ridge: float = 0.0) -> np.ndarray:
    """Kernel predictor K_test (K_train + ridge * mean(diag K_train) I)^-1 y_train.

    K_train: (n, n) symmetric PSD; y_train: (n,) or (n, k); K_test: (m, n). Returns (m,) or (m, k)
    float64. ``ridge`` is relative to the mean diagonal, so it means the same for any kernel scale
    (the CNTK's values shrink like 9^-depth); the paper uses none. Cholesky when the matrix is
    positive definite, else a minimum-norm least-squares solve.
    """
    Kt = np.asarray(K_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64)
    Ks = np.asarray(K_test, dtype=np.float64)
    if Kt.ndim != 2 or Kt.shape[0] != Kt.shape[1]:
        raise ValueError(f"The 'K_train' parameter must be a square matrix. Got shape {Kt.shape} instead.")
    if y.ndim not in (1, 2) or y.shape[0] != Kt.shape[0]:
        raise ValueError(f"The 'y_train' parameter must have {Kt.shape[0]} rows. Got shape {y.shape} instead.")
    if Ks.ndim != 2 or Ks.shape[1] != Kt.shape[0]:
        raise ValueError(f"The 'K_test' parameter must have {Kt.shape[0]} columns. Got shape {Ks.shape} instead.")
    if not (math.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"The 'ridge' parameter must be a finite float >= 0. Got {ridge!r} instead.")
    for name, a in (("K_train", Kt), ("y_train", y), ("K_test", Ks)):
        if not np.isfinite(a).all():
            raise ValueError(f"The '{name}' parameter must hold finite values. Got NaN or inf instead.")
    A = Kt + ridge * np.mean(np.diag(Kt)) * np.eye(len(Kt))
    try:
        coef = scipy.linalg.cho_solve(scipy.linalg.cho_factor(A), y)
    except np.linalg.LinAlgError:
        coef = scipy.linalg.lstsq(A, y)[0]
    return Ks @ coef


# ---------------------------------------------------------------------------------------------
# Experiments: shared helpers
# ---------------------------------------------------------------------------------------------

#: Arora et al. 2019, Table 1 (CIFAR-10 test accuracy, %), depth -> accuracy.
PAPER_CIFAR = {
    "CNTK-V": {3: 64.47, 4: 65.52, 6: 66.03, 11: 65.90, 21: 64.09},
    "CNTK-GAP": {3: 70.47, 4: 75.93, 6: 76.73, 11: 77.43, 21: 77.0},
    "CNN-V": {3: 59.97, 4: 60.20, 6: 64.11, 11: 69.48, 21: 75.57},
    "CNN-GAP": {3: 63.81, 4: 80.93, 6: 83.75, 11: 82.92, 21: 83.30},
}
#: Relative Frobenius error of the empirical NTK at init (paper's Figure 1, read off the plot).
PAPER_CONVERGENCE = {64: 0.38, 512: 0.12, 4096: 0.055}


def circle_points(n: int, *, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n unit-norm inputs x = (cos a, sin a) at equally spaced angles a in [-pi, pi): (angles, X)."""
    angles = -math.pi + offset + 2 * math.pi * np.arange(n) / n
    return angles, np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sphere_points(n: int, dim: int, seed: int) -> np.ndarray:
    """n inputs uniform on the unit sphere in R^dim, seeded: (n, dim)."""
    X = np.random.default_rng(seed).standard_normal((n, dim))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def relative_error(K: np.ndarray, reference: np.ndarray) -> float:
    """|K - reference|_F / |reference|_F."""
    return float(np.linalg.norm(K - reference) / np.linalg.norm(reference))


def train_centered(net: NTKMLP, X, Y, steps: int, lr: float, device: str = "cpu") -> Callable:
    """Full-batch gradient descent on (1/2n) |f(X) - f_0(X) - Y|^2 (the centred network f - f_0
    starts at 0, as the kernel predictor assumes). Returns predict(X') -> f(X') - f_0(X') numpy.
    Raises FloatingPointError when the loss stops being finite."""
    net = net.to(device)
    Xt = torch.as_tensor(np.asarray(X), dtype=net.weights[0].dtype, device=device)
    Yt = torch.as_tensor(np.asarray(Y), dtype=net.weights[0].dtype, device=device).reshape(len(Xt), -1)
    initial = {k: v.detach().clone() for k, v in net.named_parameters()}

    def f0(inputs):
        with torch.no_grad():
            return torch.func.functional_call(net, initial, (inputs,))

    offset = f0(Xt)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * ((net(Xt) - offset - Yt) ** 2).sum() / len(Xt)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged (loss {loss.item()}); lower the learning rate")
        loss.backward()
        opt.step()

    def predict(inputs) -> np.ndarray:
        Q = torch.as_tensor(np.asarray(inputs), dtype=Xt.dtype, device=device)
        with torch.no_grad():
            return (net(Q) - f0(Q)).to(torch.float64).cpu().numpy()

    return predict


def stable_lr(K_train: np.ndarray, factor: float = 1.0) -> float:
    """Step size factor * n / lambda_max(K): GD on (1/2n)|f - y|^2 moves f by -(lr/n) K (f - y)."""
    return float(factor * len(K_train) / np.linalg.eigvalsh(K_train)[-1])


# ---------------------------------------------------------------------------------------------
# Experiment 1: the empirical NTK converges to the exact one; lazy training
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConvergenceConfig:
    depth: int = 3  # hidden layers of the ReLU MLP (the paper's figure uses 3)
    widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512)  # hidden widths, log-spaced
    seeds: int = 3  # independent initialisations per width
    n_points: int = 8  # inputs on the unit sphere where the kernels are compared
    in_dim: int = 16  # input dimension
    train_steps: int = 20  # gradient-descent steps for the lazy-training measurement (0: skip)
    seed: int = 0  # base seed: inputs, targets and networks

    def __post_init__(self):
        check_int(self, "depth", 1, 8)
        check_int_tuple(self, "widths", 4, 16384, max_len=12)
        check_int(self, "seeds", 1, 20)
        check_int(self, "n_points", 2, 64)
        check_int(self, "in_dim", 1, 1024)
        check_int(self, "train_steps", 0, 5000)
        check_int(self, "seed", 0, 2**31 - 1)


@on_small_model_threads
def compute_convergence(config: ConvergenceConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows per (width, seed): relative Frobenius error of the empirical NTK against ntk_fc at init,
    error x sqrt(width), and the relative change of the empirical NTK after lazy training."""
    X = sphere_points(config.n_points, config.in_dim, config.seed)
    y = np.random.default_rng(config.seed + 1).standard_normal(config.n_points)
    exact = ntk_fc(X, X, config.depth)
    lr = stable_lr(exact, 0.5)
    rows, total = [], len(config.widths) * config.seeds
    for w_index, width in enumerate(config.widths):
        for s in range(config.seeds):
            net = NTKMLP(config.in_dim, width, config.depth, seed=config.seed * 1000 + s).to(ctx.device)
            K0 = net.tangent_kernel(X)
            change = math.nan
            if config.train_steps:
                train_centered(net, X, y, config.train_steps, lr, ctx.device)
                change = relative_error(net.tangent_kernel(X), K0)
            err = relative_error(K0, exact)
            rows.append(dict(width=width, seed=s, depth=config.depth, n_points=config.n_points,
                             rel_error=err, scaled_error=err * math.sqrt(width), kernel_change=change,
                             train_steps=config.train_steps))
            ctx.report((w_index * config.seeds + s + 1) / total, f"width {width}, seed {s}")
    return pd.DataFrame(rows)


def loglog_slope(frame: pd.DataFrame, column: str = "rel_error") -> float:
    """Least-squares slope of log(mean column) against log(width)."""
    means = frame.groupby("width")[column].mean()
    return float(np.polyfit(np.log(means.index.to_numpy(float)), np.log(means.to_numpy()), 1)[0])


# ---------------------------------------------------------------------------------------------
# Experiment 2: kernel heatmaps, exact against one finite network
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HeatmapConfig:
    width: int = 256  # hidden width of the finite network
    depth: int = 3  # hidden layers
    n_points: int = 24  # inputs on the unit circle, equally spaced in angle
    seed: int = 0  # network initialisation

    def __post_init__(self):
        check_int(self, "width", 4, 16384)
        check_int(self, "depth", 1, 8)
        check_int(self, "n_points", 4, 64)
        check_int(self, "seed", 0, 2**31 - 1)


@on_small_model_threads
def compute_heatmap(config: HeatmapConfig, ctx: RunContext) -> pd.DataFrame:
    """Long frame of the exact NTK, the NNGP and the empirical NTK on points of the unit circle:
    rows (kernel, i, j, angle_i, angle_j, value)."""
    angles, X = circle_points(config.n_points)
    net = NTKMLP(2, config.width, config.depth, seed=config.seed).to(ctx.device)
    kernels = {"exact NTK": ntk_fc(X, X, config.depth), "empirical NTK": net.tangent_kernel(X),
               "NNGP": nngp_fc(X, X, config.depth)}
    i, j = np.meshgrid(np.arange(config.n_points), np.arange(config.n_points), indexing="ij")
    frames = [
        pd.DataFrame(dict(kernel=name, i=i.ravel(), j=j.ravel(), angle_i=angles[i.ravel()],
                          angle_j=angles[j.ravel()], value=K.ravel(), width=config.width, depth=config.depth))
        for name, K in kernels.items()
    ]
    ctx.report(1.0, "kernels")
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Experiment 3: trained networks predict like NTK regression (1-D curve and digits)
# ---------------------------------------------------------------------------------------------


def curve_target(angles: np.ndarray) -> np.ndarray:
    """The 1-D regression target on the circle: a smooth periodic function of the angle."""
    return np.sin(2 * angles) + 0.5 * np.cos(3 * angles)


@dataclass(frozen=True, kw_only=True)
class CurveConfig:
    depth: int = 1  # hidden layers (1 keeps wide networks cheap to train)
    widths: tuple[int, ...] = (16, 64, 256, 1024)  # widths of the trained networks
    n_train: int = 8  # training points, equally spaced angles on the circle
    ridge: float = 0.0  # ridge of the kernel predictor, relative to mean diag(K) (0: interpolate)
    steps: int = 500  # full-batch gradient-descent steps (lr = n / lambda_max(K))
    n_test: int = 90  # test angles where the predictions are drawn
    seed: int = 0  # network initialisation

    def __post_init__(self):
        check_int(self, "depth", 1, 4)
        check_int_tuple(self, "widths", 4, 16384, max_len=8)
        check_int(self, "n_train", 2, 64)
        check_float(self, "ridge", 0.0, 10.0)
        check_int(self, "steps", 1, 20000)
        check_int(self, "n_test", 10, 500)
        check_int(self, "seed", 0, 2**31 - 1)


@on_small_model_threads
def compute_curve(config: CurveConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows (model, width, angle, prediction, target, distance): NTK regression, each trained centred
    network and the training points; ``distance`` is the network's RMS gap to the kernel predictor."""
    train_angles, X = circle_points(config.n_train, offset=0.3)
    test_angles, Xs = circle_points(config.n_test)
    y = curve_target(train_angles)
    K = ntk_fc(X, X, config.depth)
    kernel_pred = kernel_regression(K, y, ntk_fc(Xs, X, config.depth), config.ridge)
    frames = [pd.DataFrame(dict(model="NTK regression", width=0, angle=test_angles, prediction=kernel_pred,
                                target=curve_target(test_angles), distance=0.0)),
              pd.DataFrame(dict(model="training data", width=0, angle=train_angles, prediction=y,
                                target=y, distance=0.0))]
    for k, width in enumerate(config.widths):
        net = NTKMLP(2, width, config.depth, seed=config.seed + k)
        pred = train_centered(net, X, y, config.steps, stable_lr(K), ctx.device)(Xs)[:, 0]
        gap = float(np.sqrt(np.mean((pred - kernel_pred) ** 2)))
        frames.append(pd.DataFrame(dict(model=f"width {width}", width=width, angle=test_angles,
                                        prediction=pred, target=curve_target(test_angles), distance=gap)))
        ctx.report((k + 1) / len(config.widths), f"trained width {width}")
    frame = pd.concat(frames, ignore_index=True)
    frame["depth"], frame["ridge"], frame["n_train"] = config.depth, config.ridge, config.n_train
    return frame


def one_hot_targets(labels: np.ndarray, classes: int) -> np.ndarray:
    """The paper's regression targets: 0.9 for the class, -0.1 elsewhere: (n, classes)."""
    Y = np.full((len(labels), classes), -0.1)
    Y[np.arange(len(labels)), labels] = 0.9
    return Y


@dataclass(frozen=True, kw_only=True)
class DigitsAgreementConfig:
    depth: int = 1  # hidden layers
    widths: tuple[int, ...] = (16, 64, 256, 1024)  # widths of the trained networks
    n_train: int = 100  # training digits
    steps: int = 100  # full-batch gradient-descent steps (lr = n / lambda_max(K))
    seed: int = 0  # split and network initialisation

    def __post_init__(self):
        check_int(self, "depth", 1, 4)
        check_int_tuple(self, "widths", 4, 16384, max_len=8)
        check_int(self, "n_train", 10, 1300)
        check_int(self, "steps", 1, 20000)
        check_int(self, "seed", 0, 2**31 - 1)


def gd_kernel_predictor(K_train, Y, K_test, steps: int, lr: float) -> np.ndarray:
    """What the linearised network predicts after ``steps`` of the same gradient descent:
    K_test K^-1 (I - (I - lr K / n)^steps) Y, by the eigendecomposition of K."""
    evals, evecs = np.linalg.eigh(K_train)
    shrink = 1 - (1 - lr * evals / len(K_train)) ** steps
    Y2 = np.asarray(Y, dtype=np.float64).reshape(len(K_train), -1)
    coef = evecs @ ((shrink / np.where(evals > 1e-12 * evals[-1], evals, np.inf))[:, None] * (evecs.T @ Y2))
    return (K_test @ coef).reshape((len(K_test),) + np.shape(Y)[1:])


@on_small_model_threads
def compute_digits_agreement(config: DigitsAgreementConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows per width: how close a trained centred network's test outputs are to the NTK predictor
    after the same number of GD steps (relative distance, argmax agreement) and both accuracies."""
    from engine.core import data

    split = data.digits(seed=config.seed)
    X, labels = split.X_train[: config.n_train], split.y_train[: config.n_train]
    Y = one_hot_targets(labels, 10)
    K = ntk_fc(X, X, config.depth)
    Ks = ntk_fc(split.X_test, X, config.depth)
    lr = stable_lr(K)
    kernel_pred = gd_kernel_predictor(K, Y, Ks, config.steps, lr)
    kernel_acc = float(np.mean(kernel_pred.argmax(1) == split.y_test))
    rows = []
    for k, width in enumerate(config.widths):
        net = NTKMLP(64, width, config.depth, out_dim=10, seed=config.seed + k)
        pred = train_centered(net, X, Y, config.steps, lr, ctx.device)(split.X_test)
        rows.append(dict(width=width, depth=config.depth, n_train=config.n_train, steps=config.steps,
                         rel_distance=relative_error(pred, kernel_pred),
                         agreement=float(np.mean(pred.argmax(1) == kernel_pred.argmax(1))),
                         net_accuracy=float(np.mean(pred.argmax(1) == split.y_test)),
                         kernel_accuracy=kernel_acc))
        ctx.report((k + 1) / len(config.widths), f"trained width {width}")
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Experiment 4: classification with FC-NTK, NNGP and CNTK (digits quick, CIFAR-10 paper)
# ---------------------------------------------------------------------------------------------

KERNELS = ("FC-NTK", "FC-NNGP", "CNTK-V", "CNTK-GAP")


@dataclass(frozen=True, kw_only=True)
class ClassifyConfig:
    dataset: str = "digits"  # "digits" (8x8, offline) or "cifar10" (torchvision files in data/)
    n_train: int = 200  # training images (the first of the split)
    n_test: int = 200  # test images
    depths: tuple[int, ...] = (3, 5)  # CNTK depth = conv layers + 1; FC kernels use depth - 1 hidden layers
    kernels: tuple[str, ...] = ("FC-NTK", "FC-NNGP", "CNTK-V")  # which kernels to evaluate
    ridge: float = 0.0  # relative ridge of the kernel regression (the paper uses 0)
    cache_blocks: bool = False  # save finished CNTK blocks so an interrupted run resumes
    seed: int = 0  # digits split

    def __post_init__(self):
        check_choice(self, "dataset", ("digits", "cifar10"))
        check_int(self, "n_train", 10, 50000)
        check_int(self, "n_test", 10, 10000)
        check_int_tuple(self, "depths", 3, 21, max_len=6)
        if not isinstance(self.kernels, tuple) or not self.kernels or any(k not in KERNELS for k in self.kernels):
            raise ConfigError(
                f"The 'kernels' parameter of ClassifyConfig must be a non-empty tuple of "
                f"{', '.join(map(repr, KERNELS))}. Got {self.kernels!r} instead."
            )
        check_float(self, "ridge", 0.0, 10.0)
        check_bool(self, "cache_blocks")
        check_int(self, "seed", 0, 2**31 - 1)


def load_images(config: ClassifyConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) images (n, C, H, W): digits standardised, or CIFAR-10 /255
    then per-channel standardised with training statistics (the paper's preprocessing)."""
    from engine.core import data

    if config.dataset == "digits":
        split = data.digits(seed=config.seed, flatten=False)
        if config.n_train > len(split.X_train) or config.n_test > len(split.X_test):
            raise ConfigError(
                f"The 'n_train' and 'n_test' parameters of ClassifyConfig must be at most "
                f"{len(split.X_train)} and {len(split.X_test)} on digits. Got {config.n_train} and {config.n_test} instead."
            )
        return (split.X_train[: config.n_train], split.y_train[: config.n_train],
                split.X_test[: config.n_test], split.y_test[: config.n_test])
    Xtr, ytr = data.torchvision_images("cifar10", train=True, limit=config.n_train)
    Xte, yte = data.torchvision_images("cifar10", train=False, limit=config.n_test)
    mean, std = Xtr.mean(axis=(0, 2, 3))[:, None, None], Xtr.std(axis=(0, 2, 3))[:, None, None]
    return (Xtr - mean) / std, ytr, (Xte - mean) / std, yte


def _kernel_matrices(name: str, images: np.ndarray, depths, config, ctx) -> dict[int, np.ndarray]:
    """{depth: full (n_all, n_all) kernel} of one kernel family over train + test images."""
    flat = images.reshape(len(images), -1)
    if name == "FC-NTK":
        return {d: ntk_fc(flat, None, d - 1, device=ctx.device) for d in depths}
    if name == "FC-NNGP":
        return {d: nngp_fc(flat, None, d - 1, device=ctx.device) for d in depths}
    return cntk_depths(images, None, depths, gap=name == "CNTK-GAP", device=ctx.device,
                       cache_blocks=config.cache_blocks,
                       progress=lambda f, m: ctx.report(f, f"{name}: {m}"))


@on_small_model_threads
def compute_classify(config: ClassifyConfig, ctx: RunContext) -> pd.DataFrame:
    """Rows per (kernel, depth): test accuracy of kernel regression on 0.9/-0.1 targets, beside the
    paper's CIFAR-10 number for that kernel and depth (NaN where the paper has none)."""
    Xtr, ytr, Xte, yte = load_images(config)
    images, n = np.concatenate([Xtr, Xte]), len(Xtr)
    Y = one_hot_targets(ytr, int(max(ytr.max(), yte.max()) + 1))
    rows = []
    for name in config.kernels:
        for depth, K in _kernel_matrices(name, images, config.depths, config, ctx).items():
            scores = kernel_regression(K[:n, :n], Y, K[n:, :n], config.ridge)
            rows.append(dict(kernel=name, depth=depth, accuracy=float(np.mean(scores.argmax(1) == yte)),
                             paper_accuracy=PAPER_CIFAR.get(name, {}).get(depth, math.nan) / 100,
                             dataset=config.dataset, n_train=config.n_train, n_test=config.n_test,
                             ridge=config.ridge))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


def _charts():
    from engine.phenomena.ntk import charts as ntk_charts

    return ntk_charts


def _chart(name: str) -> Callable[[pd.DataFrame], object]:
    return lambda frame: getattr(_charts(), name)(frame)


EXPERIMENTS = (
    Experiment(
        name="ntk.convergence",
        title="The empirical NTK converges to the exact NTK as width grows",
        config_cls=ConvergenceConfig,
        compute=compute_convergence,
        presets={"quick": ConvergenceConfig(),
                 "paper": ConvergenceConfig(widths=(64, 128, 256, 512, 1024, 2048, 4096), seeds=5, train_steps=100)},
        version=1,
        charts={"main": _chart("convergence_chart"), "lazy": _chart("lazy_chart")},
        description="Relative Frobenius error of a finite network's tangent kernel against ntk_fc at "
        "initialisation, and how far the kernel moves during training (lazy training).",
        sweeps={"quick": lambda: [ConvergenceConfig(depth=d) for d in range(1, 6)]},
        claims=(
            Claim("ntk.error_rate", "The empirical NTK's error shrinks like 1/sqrt(width) (log-log slope -1/2).",
                  "ntk.convergence", measure=loglog_slope, holds=lambda v: -0.7 <= v <= -0.3,
                  paper_value=-0.5, unit="slope"),
            Claim("ntk.lazy", "Training moves the tangent kernel less the wider the network.",
                  "ntk.convergence", measure=lambda f: loglog_slope(f, "kernel_change"),
                  holds=lambda v: v < -0.25, unit="slope"),
            Claim("ntk.error_4096", "Relative error at width 4096 is about 0.055 (paper's Figure 1).",
                  "ntk.convergence", measure=lambda f: float(f[f.width == 4096].rel_error.mean()),
                  holds=lambda v: 0.02 <= v <= 0.1, paper_value=0.055, preset="paper"),
        ),
    ),
    Experiment(
        name="ntk.heatmap",
        title="Exact and empirical kernels on the unit circle",
        config_cls=HeatmapConfig,
        compute=compute_heatmap,
        presets={"quick": HeatmapConfig(), "paper": HeatmapConfig(width=4096)},
        version=1,
        charts={"main": _chart("heatmap_chart")},
        description="Kernel matrices over 24 points of the unit circle: exact NTK, one finite network, NNGP.",
    ),
    Experiment(
        name="ntk.curve",
        title="Wide networks predict like NTK regression (1-D)",
        config_cls=CurveConfig,
        compute=compute_curve,
        presets={"quick": CurveConfig(), "paper": CurveConfig(widths=(16, 64, 256, 1024, 4096, 16384), steps=2000)},
        version=1,
        charts={"main": _chart("curve_chart"), "distance": _chart("curve_distance_chart")},
        description="Centred ReLU networks trained by full-batch GD on points of a 1-D curve, against "
        "the NTK kernel-regression predictor.",
        claims=(
            Claim("ntk.curve_agrees", "The widest trained network's predictions are within 0.05 RMS of NTK regression.",
                  "ntk.curve", measure=lambda f: float(f[f.width == f.width.max()].distance.iloc[0]),
                  holds=lambda v: v < 0.05, unit="RMS"),
        ),
    ),
    Experiment(
        name="ntk.digits",
        title="Wide networks predict like the NTK on digits",
        config_cls=DigitsAgreementConfig,
        compute=compute_digits_agreement,
        presets={"quick": DigitsAgreementConfig(),
                 "paper": DigitsAgreementConfig(widths=(64, 256, 1024, 4096, 16384), n_train=1000, steps=1000)},
        version=1,
        charts={"main": _chart("digits_chart")},
        description="Distance between a trained network's test outputs and the NTK predictor after the same GD steps.",
        claims=(
            Claim("ntk.digits_agree", "The widest network agrees with the NTK predictor's class on >= 95% of test digits.",
                  "ntk.digits", measure=lambda f: float(f.sort_values("width").agreement.iloc[-1]),
                  holds=lambda v: v >= 0.95, unit="fraction"),
        ),
    ),
    Experiment(
        name="ntk.classify",
        title="Classification with exact kernels: FC-NTK, NNGP, CNTK",
        config_cls=ClassifyConfig,
        compute=compute_classify,
        presets={"quick": ClassifyConfig(),
                 "paper": ClassifyConfig(dataset="cifar10", n_train=50000, n_test=10000, depths=(3, 4, 6, 11, 21),
                                         kernels=("CNTK-V", "CNTK-GAP"), cache_blocks=True)},
        version=1,
        charts={"main": _chart("classify_chart")},
        description="Kernel regression with 0.9/-0.1 targets and no ridge, as in the paper.",
        sweeps={"paper": lambda: [
            ClassifyConfig(dataset="cifar10", n_train=n, n_test=10000, depths=(3, 4, 6, 11, 21),
                           kernels=("CNTK-V", "CNTK-GAP"), cache_blocks=True)
            for n in (1000, 2000, 5000, 10000, 20000, 50000)]},
        claims=(
            Claim("ntk.cntk_gap_cifar", "CNTK-GAP depth 11 reaches 77.43% on CIFAR-10.", "ntk.classify",
                  measure=lambda f: float(f[(f.kernel == "CNTK-GAP") & (f.depth == 11)].accuracy.iloc[0] * 100),
                  holds=lambda v: v >= 75.0, paper_value=77.43, unit="%", preset="paper"),
            Claim("ntk.cntk_v_cifar", "CNTK-V depth 11 reaches about 65.9% on CIFAR-10.", "ntk.classify",
                  measure=lambda f: float(f[(f.kernel == "CNTK-V") & (f.depth == 11)].accuracy.iloc[0] * 100),
                  holds=lambda v: 63.0 <= v <= 68.0, paper_value=65.90, unit="%", preset="paper"),
            Claim("ntk.digits_kernels", "Exact kernels classify digits well from 200 examples (>= 85%).",
                  "ntk.classify", measure=lambda f: float(f.accuracy.max() * 100),
                  holds=lambda v: v >= 85.0, unit="%"),
        ),
    ),
)
