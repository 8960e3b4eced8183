"""Finite networks in the paper's NTK parameterisation and their empirical tangent kernels.

- :class:`NTKMLP`: the ReLU MLP whose empirical NTK converges to ``ntk_fc`` as width grows, with a
  structured (Jacobian-free) ``tangent_kernel``.
- :class:`CNTKNet`: the 3x3 ReLU CNN whose empirical NTK converges to ``cntk`` as channels grow.
- :func:`empirical_ntk`: the tangent kernel of any torch module (batched Jacobians, torch.func);
  :func:`ensemble_ntk`: the same for several initialisations at once (vmap over seeds).
- :func:`train_centered`: full-batch GD on the centred network f - f_0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from engine.core.params import Boolean, Interval, check_arg, fail
from engine.phenomena.ntk.science.cntk import CNTK_DEPTH
from engine.phenomena.ntk.science.fc import DEPTH, as_tensor

WIDTH = Interval(int, 1, 1 << 20)
#: bytes of Jacobian held at once by empirical_ntk / ensemble_ntk
JACOBIAN_BUDGET = 1 << 28


class NTKMLP(nn.Module):
    """ReLU MLP in the paper's NTK parameterisation: N(0, 1) weights, no bias,
    f^1 = W^1 x, g^h = sqrt(2 / width) relu(f^h), f^(h+1) = W^(h+1) g^h, output W^(L+1) g^L.

    Its empirical NTK converges to ``ntk_fc`` (depth = number of hidden layers) as width grows,
    with a relative error of order 1/sqrt(width). Input (n, in_dim) -> output (n, out_dim).
    """

    def __init__(
        self, in_dim: int, width: int, depth: int, out_dim: int = 1, *, seed: int = 0, dtype=torch.float64
    ):
        super().__init__()
        depth = check_arg("NTKMLP", "depth", depth, DEPTH)
        width = check_arg("NTKMLP", "width", width, WIDTH)
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
        dtype = self.weights[0].dtype
        device = self.weights[0].device
        with torch.no_grad():
            feats_x, deltas_x = self._features_and_deltas(
                as_tensor(X, "tangent_kernel", "X", 2, device, dtype)
            )
            same = Z is None
            feats_z, deltas_z = (
                (feats_x, deltas_x)
                if same
                else self._features_and_deltas(as_tensor(Z, "tangent_kernel", "Z", 2, device, dtype))
            )
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
        delta = torch.eye(k, dtype=x.dtype, device=x.device).expand(len(x), k, k)
        deltas = [delta]
        for W, mask in zip(reversed(layers[1:]), reversed(masks)):
            delta = (delta @ W) * mask[:, None, :]
            deltas.append(delta)
        return feats, deltas[::-1]


class CNTKNet(nn.Module):
    """The CNN whose NTK is the paper's CNTK (CNTK.py's normalisation), ``depth - 1`` conv layers.

    3x3 convs, stride 1, zero padding, no bias, N(0, 1) weights; f^1 = conv(W^1, x),
    g^h = sqrt(2 / (9 c)) relu(f^h), f^(h+1) = conv(W^(h+1), g^h) with c channels; readout
    GAP: f = v . mean_p g^L(p), v in R^c; vanilla: f = sum_p V(p) . g^L(p), V in R^(c x H x W).
    As c grows its empirical NTK (all parameters) tends to ``cntk(depth, gap, fix=False)``, and its
    NTK over the middle convs only (``trainable(fix=True)``) tends to ``cntk(depth, gap, fix=True)``.
    Input (n, C, H, W) -> output (n, 1).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        depth: int,
        *,
        gap: bool = True,
        image_shape: tuple[int, int] = (8, 8),
        seed: int = 0,
        dtype=torch.float32,
    ):
        super().__init__()
        depth = check_arg("CNTKNet", "depth", depth, CNTK_DEPTH)
        channels = check_arg("CNTKNet", "channels", channels, WIDTH)
        self.gap = check_arg("CNTKNet", "gap", gap, Boolean())
        gen = torch.Generator().manual_seed(int(seed))
        sizes = [in_channels] + [channels] * (depth - 1)
        self.convs = nn.ParameterList(
            nn.Parameter(torch.randn(b, a, 3, 3, generator=gen, dtype=dtype))
            for a, b in zip(sizes, sizes[1:])
        )
        shape = (channels,) if self.gap else (channels, *image_shape)
        self.readout = nn.Parameter(torch.randn(*shape, generator=gen, dtype=dtype))
        self.scale = math.sqrt(2.0 / (9.0 * channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        convs = list(self.convs)
        g = x
        for W in convs:
            g = torch.nn.functional.conv2d(g, W, padding=1)
            g = self.scale * torch.relu(g)
        if self.gap:
            return (g.mean(dim=(2, 3)) @ self.readout)[:, None]
        return (g * self.readout).sum(dim=(1, 2, 3))[:, None]

    def trainable(self, fix: bool) -> list[str]:
        """Names of the trained parameters: all, or (fix) all but the first conv and the readout."""
        names = [n for n, _ in self.named_parameters()]
        return [n for n in names if n not in ("convs.0", "readout")] if fix else names


def _inputs(model: nn.Module, X, Z, where: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    p = next(model.parameters())
    Xt = as_tensor(
        X, where, "X", np.ndim(X) if not isinstance(X, torch.Tensor) else X.ndim, p.device, p.dtype
    )
    if Z is None:
        return Xt, None
    Zt = as_tensor(Z, where, "Z", Xt.ndim, p.device, p.dtype)
    return Xt, Zt


def _jacobian_fn(model: nn.Module, names: Sequence[str]) -> Callable:
    """(trained params dict, fixed params dict, inputs (b, ...)) -> flat Jacobian (b, out, P)."""
    from torch.func import functional_call, jacrev, vmap

    buffers = dict(model.named_buffers())

    def single(trained, fixed, x):
        out = functional_call(model, ({**trained, **fixed}, buffers), (x[None],))
        return out.reshape(-1)

    def jac(trained, fixed, inputs):
        parts = vmap(jacrev(single), in_dims=(None, None, 0))(trained, fixed, inputs)
        return torch.cat([parts[k].reshape(len(inputs), parts[k].shape[1], -1) for k in names], dim=2)

    return jac


def _split_params(model: nn.Module, params: Sequence[str] | None) -> tuple[list[str], dict, dict]:
    all_names = [n for n, _ in model.named_parameters()]
    names = list(all_names if params is None else params)
    unknown = [n for n in names if n not in all_names]
    if unknown or not names:
        fail(
            "empirical_ntk",
            "params",
            f"a non-empty list of the model's parameter names ({', '.join(all_names)})",
            names,
        )
    trained = {k: v.detach() for k, v in model.named_parameters() if k in names}
    fixed = {k: v.detach() for k, v in model.named_parameters() if k not in names}
    return names, trained, fixed


def _kernel_from_jacobians(jac: Callable, trained, fixed, Xt, Zt, chunk: int) -> torch.Tensor:
    """(1/k) sum_o J_o(X) J_o(Z)^T, Jacobians ``chunk`` inputs at a time: (n, m) float64."""
    Jx_all = (
        [jac(trained, fixed, Xt[s : s + chunk]) for s in range(0, len(Xt), chunk)]
        if len(Xt) <= chunk
        else None
    )
    out_dim = None
    rows = []
    for s in range(0, len(Xt), chunk):
        Jx = Jx_all[0] if Jx_all is not None else jac(trained, fixed, Xt[s : s + chunk])
        out_dim = Jx.shape[1]
        if Zt is None and Jx_all is not None:
            rows.append(torch.einsum("iop,jop->ij", Jx, Jx))
            continue
        Zsrc = Xt if Zt is None else Zt
        cols = [
            torch.einsum("iop,jop->ij", Jx, jac(trained, fixed, Zsrc[t : t + chunk]))
            for t in range(0, len(Zsrc), chunk)
        ]
        rows.append(torch.cat(cols, dim=1))
    return torch.cat(rows, dim=0).to(torch.float64) / out_dim


def empirical_ntk(
    model: nn.Module, X, Z=None, *, params: Sequence[str] | None = None, chunk: int | None = None
) -> np.ndarray:
    """Empirical NTK <df(x)/dtheta, df(z)/dtheta> of any torch module at its current parameters.

    X: (n, ...), Z: (m, ...) (``None`` means X); returns (n, m) float64 numpy, computed in the
    model's dtype. For k outputs the kernel is averaged over them, (1/k) sum_o <df_o(x), df_o(z)>
    (the infinite-width NTK is Theta times the identity). ``params``: names of the parameters
    differentiated (default all; the rest held fixed). Per-sample Jacobians come batched from
    torch.func (vmap of jacrev), ``chunk`` inputs at a time so at most about
    :data:`JACOBIAN_BUDGET` bytes of Jacobian are held.
    """
    Xt, Zt = _inputs(model, X, Z, "empirical_ntk")
    names, trained, fixed = _split_params(model, params)
    n_params = sum(v.numel() for v in trained.values())
    with torch.no_grad():
        out_dim = model(Xt[:1]).numel()
    chunk = chunk or max(1, JACOBIAN_BUDGET // (n_params * out_dim * Xt.element_size()))
    return _kernel_from_jacobians(_jacobian_fn(model, names), trained, fixed, Xt, Zt, chunk).cpu().numpy()


def ensemble_ntk(models: Sequence[nn.Module], X, *, params: Sequence[str] | None = None) -> np.ndarray:
    """Empirical NTKs of several initialisations of one architecture, vmapped over the seeds.

    models: S modules with identical parameter shapes; X: (n, ...). Returns (S, n, n) float64.
    Falls back to one model at a time when S stacked Jacobians exceed :data:`JACOBIAN_BUDGET`.
    """
    from torch.func import stack_module_state, vmap

    models = list(models)
    Xt, _ = _inputs(models[0], X, None, "ensemble_ntk")
    names, _, _ = _split_params(models[0], params)
    n_params = sum(p.numel() for k, p in models[0].named_parameters() if k in names)
    with torch.no_grad():
        out_dim = models[0](Xt[:1]).numel()
    per_model = n_params * out_dim * len(Xt) * Xt.element_size()
    if len(models) * per_model > JACOBIAN_BUDGET:
        return np.stack([empirical_ntk(m, Xt, params=names) for m in models])
    stacked, _ = stack_module_state(models)
    trained = {k: v.detach() for k, v in stacked.items() if k in names}
    fixed = {k: v.detach() for k, v in stacked.items() if k not in names}
    jac = _jacobian_fn(models[0], names)

    def one(tr, fx):
        J = jac(tr, fx, Xt)
        return torch.einsum("iop,jop->ij", J, J) / J.shape[1]

    return vmap(one)(trained, fixed).to(torch.float64).cpu().numpy()


def train_centered(net: nn.Module, X, Y, steps: int, lr: float, device: str = "cpu") -> Callable:
    """Full-batch gradient descent on (1/2n) |f(X) - f_0(X) - Y|^2 (the centred network f - f_0
    starts at 0, as the kernel predictor assumes). Returns predict(X') -> f(X') - f_0(X') numpy.
    Raises FloatingPointError when the loss stops being finite."""
    net = net.to(device)
    dtype = next(net.parameters()).dtype
    Xt = torch.as_tensor(np.asarray(X), dtype=dtype, device=device)
    Yt = torch.as_tensor(np.asarray(Y), dtype=dtype, device=device).reshape(len(Xt), -1)
    initial = {k: v.detach().clone() for k, v in net.named_parameters()}

    def f0(inputs):
        with torch.no_grad():
            return torch.func.functional_call(net, initial, (inputs,))

    offset = f0(Xt)
    params = list(net.parameters())
    for _ in range(steps):
        loss = 0.5 * ((net(Xt) - offset - Yt) ** 2).sum() / len(Xt)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged (loss {loss.item()}); lower the learning rate")
        grads = torch.autograd.grad(loss, params)
        with (
            torch.no_grad()
        ):  # plain GD, as torch.optim.SGD(lr) (whose first use imports torch._dynamo, ~2 s)
            for p, g in zip(params, grads):
                p.add_(g, alpha=-lr)

    def predict(inputs) -> np.ndarray:
        Q = torch.as_tensor(np.asarray(inputs), dtype=Xt.dtype, device=device)
        with torch.no_grad():
            return (net(Q) - f0(Q)).to(torch.float64).cpu().numpy()

    return predict


def cnn_kernel_errors(
    images,
    channels: Sequence[int],
    seeds: int,
    depth: int,
    *,
    gap: bool = True,
    fix: bool = False,
    reference_fix: bool | None = None,
    seed: int = 0,
    dtype=torch.float32,
    progress: Callable[[float, str], None] | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """Relative Frobenius errors |Theta_CNN - CNTK| / |CNTK| of finite CNNs (:class:`CNTKNet`).

    images: (n, C, H, W). For each channel count, ``seeds`` initialisations (vmapped) are compared
    with ``cntk(images, depth, gap, fix=reference_fix)``; ``reference_fix=None`` means the matching
    kernel (``fix``). Returns (len(channels), seeds) float64. ``fix`` trains only the middle convs.
    The reference CNTK is float64 on every device; the nets run in ``dtype`` on ``device``.
    """
    from engine.phenomena.ntk.science.cntk import cntk
    from engine.phenomena.ntk.science.fc import relative_error

    X64 = as_tensor(images, "cnn_kernel_errors", "images", 4, device, torch.float64)
    reference = fix if reference_fix is None else reference_fix
    exact = cntk(X64, None, depth, gap=gap, fix=reference, device=device, dtype="float64")
    Xt = X64.to(dtype)
    out = np.empty((len(channels), seeds))
    for k, c in enumerate(channels):
        nets = [
            CNTKNet(
                Xt.shape[1],
                c,
                depth,
                gap=gap,
                image_shape=tuple(Xt.shape[2:]),
                seed=seed * 1000 + 97 * k + s,
                dtype=dtype,
            ).to(device)
            for s in range(seeds)
        ]
        kernels = ensemble_ntk(nets, Xt, params=nets[0].trainable(fix))
        out[k] = [relative_error(K, exact) for K in kernels]
        if progress is not None:
            progress((k + 1) / len(channels), f"{c} channels")
    return out
