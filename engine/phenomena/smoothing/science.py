"""Randomized smoothing, the certificate (Cohen, Rosenfeld, Kolter, ICML 2019): what a notebook imports.

A base classifier ``f`` (any torch module mapping a batch of inputs to class scores) becomes the
smoothed classifier

    g(x) = argmax_c P(f(x + eps) = c),   eps ~ N(0, sigma^2 I),

and if the top class has probability at least ``pA > 1/2`` then ``g`` is constant on the L2 ball of
radius ``sigma * Phi^-1(pA)`` around ``x`` (Theorem 1 with pB = 1 - pA). :class:`Smooth` estimates
``g`` by Monte Carlo, with the interface of locuslab/smoothing's ``core.py``: :meth:`Smooth.certify`
returns a radius that is correct with probability at least ``1 - alpha`` over the noise,
:meth:`Smooth.predict` abstains unless the top class wins a binomial test at level ``alpha``. The
noise is added in input space (for images: [0, 1] pixels), before any :class:`NormalizeLayer` that
the base classifier starts with. Other noise distributions (Laplace, uniform: certified L1 radii)
plug in through ``Smooth(..., noise=...)``; they live in :mod:`engine.phenomena.smoothing.noises`.

Also here: the statistics (Clopper-Pearson bound, the radius cap), certified-accuracy curves, and
two base classifiers whose smoothed decision boundary is known in closed form: a half-space (where
the certificate is exact, the paper's tightness result) and a quadrant (where it is not).
Models, noise training and the attack live in :mod:`engine.phenomena.smoothing.models`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from scipy import optimize, special, stats
from torch import nn

from engine.core.params import Interval, check_arg
from engine.core.validation import ConfigError
from engine.phenomena.smoothing.noises import Noise, make_noise
from engine.phenomena.smoothing.readouts import (  # noqa: F401 (re-exported: part of the science API)
    accuracy_curves,
    average_certified_radius,
    certified_accuracy,
)

#: The label :meth:`Smooth.certify` and :meth:`Smooth.predict` return when they abstain.
ABSTAIN = -1

#: Noise tensor budget per forward chunk; larger batches are split (see :meth:`Smooth.sample_counts`).
DEFAULT_MAX_BATCH_BYTES = 256 * 2**20

_COUNT = Interval(int, 1, None)
_SIGMA = Interval(float, 0.0, None, closed="right")
_ALPHA = Interval(float, 0.0, 1.0, closed="neither")

# --------------------------------------------------------------------------- statistics


def lower_confidence_bound(count: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion.

    The largest ``p`` with ``P(Binomial(n, p) >= count) <= alpha``: the ``alpha`` quantile of
    Beta(count, n - count + 1), and 0 when ``count`` is 0. Computed in float64.
    """
    n = check_arg("lower_confidence_bound", "n", n, _COUNT)
    alpha = check_arg("lower_confidence_bound", "alpha", alpha, _ALPHA)
    count = check_arg("lower_confidence_bound", "count", count, Interval(int, 0, n))
    if count == 0:
        return 0.0
    return float(special.betaincinv(float(count), float(n - count + 1), alpha))


def radius_from_probability(p_lower: float, sigma: float) -> float:
    """The certified L2 radius ``sigma * Phi^-1(p_lower)`` (0 when ``p_lower <= 1/2``)."""
    return float(sigma * stats.norm.ppf(p_lower)) if p_lower > 0.5 else 0.0


def max_certifiable_radius(sigma: float, n: int, alpha: float, noise: str | Noise = "gaussian") -> float:
    """The largest radius ``n`` samples can certify: the noise's radius at pA_lower = alpha^(1/n)
    (all n samples agree); ``sigma * Phi^-1(alpha^(1/n))`` for Gaussian noise."""
    sigma = check_arg("max_certifiable_radius", "sigma", sigma, _SIGMA)
    n = check_arg("max_certifiable_radius", "n", n, _COUNT)
    alpha = check_arg("max_certifiable_radius", "alpha", alpha, _ALPHA)
    return make_noise(noise, sigma).radius(alpha ** (1.0 / n))


def top_class_wins(top: int, second: int, alpha: float) -> bool:
    """Whether ``top`` beats ``second`` in a two-sided binomial test (p = 1/2) at level ``alpha``."""
    if top + second == 0:
        return False
    return bool(stats.binomtest(int(top), int(top + second), 0.5).pvalue <= alpha)


# --------------------------------------------------------------------------- the smoothed classifier


class NormalizeLayer(nn.Module):
    """``(x - mean) / std`` as the first layer of a base classifier, so that smoothing noise is
    added in raw input units. ``mean``/``std`` broadcast against one input (e.g. shape (C, 1, 1))."""

    def __init__(self, mean: Any, std: Any):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class Smooth:
    """The smoothed classifier ``g`` of a base classifier ``f`` under N(0, sigma^2 I) noise (or
    another distribution of per-coordinate std ``sigma``: ``noise``).

    ``base_classifier`` maps a batch (B, *input_shape) to scores (B, num_classes); its argmax is
    ``f``. ``sigma`` is in input units. ``noise``: "gaussian" (the paper's; certified L2 radius),
    "laplace" or "uniform" (certified L1 radii), or a :class:`~.noises.Noise` of this sigma; see
    :mod:`engine.phenomena.smoothing.noises`. Sampling runs on ``device`` (default: the device of
    the classifier's parameters) with a ``torch.Generator`` seeded by ``seed`` unless a generator
    is passed to a call. ``input_shape`` (optional) makes a wrongly shaped input fail clearly.
    """

    def __init__(
        self,
        base_classifier: nn.Module,
        num_classes: int,
        sigma: float,
        *,
        input_shape: tuple[int, ...] | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        noise: str | Noise = "gaussian",
    ):
        if not callable(base_classifier):
            raise ConfigError(
                f"The 'base_classifier' parameter of Smooth must be a callable torch module. "
                f"Got {type(base_classifier).__name__} instead."
            )
        self.base_classifier = base_classifier
        self.num_classes = check_arg("Smooth", "num_classes", num_classes, Interval(int, 2, None))
        self.sigma = check_arg("Smooth", "sigma", sigma, _SIGMA)
        self.noise = make_noise(noise, self.sigma)
        self.input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        self.device = torch.device(device) if device is not None else _module_device(base_classifier)
        self.dtype = _module_dtype(base_classifier)
        self.max_batch_bytes = check_arg("Smooth", "max_batch_bytes", max_batch_bytes, _COUNT)
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))

    # -- public API (the reference code's interface) --

    def certify(
        self,
        x: Any,
        n0: int,
        n: int,
        alpha: float,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[int, float]:
        """``(prediction, radius)``: ``n0`` samples choose the top class cA, ``n`` fresh samples
        count it, pA_lower is the one-sided (1 - alpha) Clopper-Pearson bound; ``(ABSTAIN, 0.0)``
        if pA_lower < 1/2, else the noise's radius at pA_lower (input units): ``sigma *
        Phi^-1(pA_lower)`` in L2 for Gaussian noise, an L1 radius for Laplace and uniform noise
        (``self.noise.norm``). With probability >= 1 - alpha over the noise, g(x + delta) = cA for
        every delta shorter than the radius in that norm."""
        prediction, p_lower = self.certify_probability(x, n0, n, alpha, batch_size, generator=generator)
        if p_lower < 0.5:
            return ABSTAIN, 0.0
        return prediction, self.noise.radius(p_lower)

    def certify_probability(
        self,
        x: Any,
        n0: int,
        n: int,
        alpha: float,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[int, float]:
        """``(cA, pA_lower)``: the class that ``n0`` samples choose and the (1 - alpha) lower bound
        on its probability from ``n`` fresh samples (the two numbers :meth:`certify` turns into a radius)."""
        n0 = check_arg("Smooth.certify", "n0", n0, _COUNT)
        n = check_arg("Smooth.certify", "n", n, _COUNT)
        alpha = check_arg("Smooth.certify", "alpha", alpha, _ALPHA)
        x = self._check_input(x, "Smooth.certify")
        selection = self.sample_counts(x, n0, batch_size, generator=generator)
        top = int(selection.argmax())
        counts = self.sample_counts(x, n, batch_size, generator=generator)
        return top, lower_confidence_bound(int(counts[top]), n, alpha)

    def predict(
        self, x: Any, n: int, alpha: float, batch_size: int, *, generator: torch.Generator | None = None
    ) -> int:
        """The top class of ``n`` noisy samples, or ``ABSTAIN`` unless a two-sided binomial test of
        the top two counts rejects equality at level ``alpha`` (then P(answer != g(x)) <= alpha)."""
        n = check_arg("Smooth.predict", "n", n, _COUNT)
        alpha = check_arg("Smooth.predict", "alpha", alpha, _ALPHA)
        x = self._check_input(x, "Smooth.predict")
        counts = self.sample_counts(x, n, batch_size, generator=generator)
        second, top = np.argsort(counts, kind="stable")[-2:]
        return int(top) if top_class_wins(int(counts[top]), int(counts[second]), alpha) else ABSTAIN

    def sample_counts(
        self, x: Any, num: int, batch_size: int, *, generator: torch.Generator | None = None
    ) -> np.ndarray:
        """How often f(x + eps) says each class over ``num`` noise draws; int64 array (num_classes,).

        Draws in chunks of at most ``batch_size`` (further capped so one chunk's noise stays under
        ``max_batch_bytes``, and halved on an out-of-memory error)."""
        num = check_arg("Smooth.sample_counts", "num", num, _COUNT)
        batch_size = check_arg("Smooth", "batch_size", batch_size, _COUNT)
        x = self._check_input(x, "Smooth.sample_counts")
        gen = generator if generator is not None else self.generator
        per_sample = max(1, x.numel() * x.element_size())
        chunk = max(1, min(batch_size, num, self.max_batch_bytes // per_sample))
        counts = torch.zeros(self.num_classes, dtype=torch.int64, device=self.device)
        remaining = num
        with torch.inference_mode():
            buffer = torch.empty((chunk, *x.shape), device=self.device, dtype=x.dtype)
            while remaining > 0:
                size = min(chunk, remaining)
                try:
                    counts += self._count_chunk(x, buffer[:size], gen)
                except (RuntimeError, MemoryError) as err:
                    if not _is_out_of_memory(err) or size == 1:
                        raise
                    chunk = max(1, size // 2)
                    continue
                remaining -= size
        return counts.cpu().numpy()

    # -- helpers --

    def _count_chunk(self, x: torch.Tensor, batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Class counts of f on ``batch`` (overwritten in place with x + noise draws)."""
        self.noise.fill_(batch, gen).add_(x)
        scores = self.base_classifier(batch)
        if scores.ndim != 2 or scores.shape[1] != self.num_classes:
            raise ConfigError(
                f"The base classifier must return scores of shape (batch, {self.num_classes}). "
                f"Got {tuple(scores.shape)} instead."
            )
        return torch.bincount(scores.argmax(dim=1), minlength=self.num_classes)

    def _check_input(self, x: Any, owner: str) -> torch.Tensor:
        """One input (no batch dimension) as a float tensor on the device, finite, right shape."""
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        x = x.to(self.dtype)
        if self.input_shape is not None and tuple(x.shape) != self.input_shape:
            raise ConfigError(
                f"The 'x' parameter of {owner} must be one input of shape {self.input_shape} "
                f"(no batch dimension). Got shape {tuple(x.shape)} instead."
            )
        if x.ndim == 0:
            raise ConfigError(f"The 'x' parameter of {owner} must be one input tensor. Got a scalar instead.")
        if not bool(torch.isfinite(x).all()):
            raise ConfigError(f"The 'x' parameter of {owner} must be finite. Got NaN or inf entries.")
        return x.to(self.device)


def _module_device(module: Any) -> torch.device:
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    return params[0].device if params else torch.device("cpu")


def _module_dtype(module: Any) -> torch.dtype:
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    return params[0].dtype if params and params[0].is_floating_point() else torch.float32


def certify_dataset(
    smooth: Smooth,
    X: Any,
    y: Any,
    *,
    n0: int,
    n: int,
    alpha: float,
    batch_size: int,
    indices: Iterable[int] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Iterator[dict]:
    """Certify ``X[i]`` for each i in ``indices`` (default: all), yielding one row per input:
    ``{index, label, prediction, radius, correct, seconds}`` (radius in input units; seconds of
    wall time for that input). A generator, so rows stream as they are computed."""
    indices = list(range(len(X))) if indices is None else [int(i) for i in indices]
    for k, i in enumerate(indices):
        start = time.perf_counter()
        prediction, radius = smooth.certify(X[i], n0, n, alpha, batch_size)
        label = int(y[i])
        yield {
            "index": i,
            "label": label,
            "prediction": int(prediction),
            "radius": float(radius),
            "correct": bool(prediction == label),
            "seconds": time.perf_counter() - start,
        }
        if progress is not None:
            progress((k + 1) / len(indices), f"certified {k + 1}/{len(indices)}")


# --------------------------------------------------------------------------- closed-form base classifiers


class Halfspace(nn.Module):
    """f(x) = 1[w . x + b > 0] as two-class scores [-z, z], z = w . x + b: (B, d) -> (B, 2), float64.

    Its smoothed classifier is itself: P(f(x + eps) = 1) = Phi((w . x + b) / (sigma |w|)), so
    ``sigma * Phi^-1(pA)`` equals the distance |w . x + b| / |w| to the boundary (the paper's
    tightness example: no larger radius can be certified)."""

    def __init__(self, w: Any, b: float):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(np.asarray(w, dtype=np.float64)), requires_grad=False)
        self.b = float(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.to(self.w.dtype) @ self.w + self.b
        return torch.stack([-z, z], dim=1)

    def probability(self, X: np.ndarray, sigma: float) -> np.ndarray:
        """Exact P(f(x + eps) = 1) for each row of X (m, d): Phi((w . x + b) / (sigma |w|)), (m,)."""
        w = self.w.detach().cpu().numpy()
        return stats.norm.cdf((np.asarray(X, np.float64) @ w + self.b) / (sigma * np.linalg.norm(w)))

    def boundary_distance(self, X: np.ndarray, sigma: float) -> np.ndarray:
        """Distance of each row of X (m, d) to g's decision boundary: |w . x + b| / |w| (any sigma), (m,)."""
        w = self.w.detach().cpu().numpy()
        return np.abs(np.asarray(X, np.float64) @ w + self.b) / np.linalg.norm(w)


class Quadrant(nn.Module):
    """f(x) = 1[x_1 > 0 and x_2 > 0] (other coordinates ignored): (B, d) -> (B, 2) scores, float64.

    P(f(x + eps) = 1) = Phi(x_1 / sigma) Phi(x_2 / sigma); g's boundary is the curve where that
    product is 1/2, which bends away from the corner, so ``sigma * Phi^-1(pA)`` is strictly below
    the distance to it for points of class 1: the certificate is sound but not tight."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1, dtype=torch.float64), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        z = torch.minimum(x[:, 0], x[:, 1])
        return torch.stack([-z, z], dim=1)

    def probability(self, X: np.ndarray, sigma: float) -> np.ndarray:
        """Exact P(f(x + eps) = 1) for each row of X (m, d), (m,)."""
        X = np.asarray(X, np.float64)
        return stats.norm.cdf(X[:, 0] / sigma) * stats.norm.cdf(X[:, 1] / sigma)

    def boundary_distance(self, X: np.ndarray, sigma: float) -> np.ndarray:
        """Distance of each row of X (m, d) with P(class 1) > 1/2 to g's boundary, (m,), to 1e-9 sigma.

        The boundary is {(t, h(t)) : t > 0}, h(t) = sigma Phi^-1(1 / (2 Phi(t / sigma))); the
        nearest point is found by a grid search over t then a bounded scalar minimisation."""
        X = np.asarray(X, np.float64)
        if np.any(self.probability(X, sigma) <= 0.5):
            raise ConfigError("Quadrant.boundary_distance needs points that g classifies as 1 (pA > 1/2).")
        return np.array([_quadrant_distance(x1, x2, sigma) for x1, x2 in X[:, :2]])


def _quadrant_boundary(t: np.ndarray, sigma: float) -> np.ndarray:
    return sigma * stats.norm.ppf(0.5 / stats.norm.cdf(t / sigma))


def _quadrant_distance(x1: float, x2: float, sigma: float) -> float:
    """Nearest point of {(t, h(t))} to (x1, x2); the curve is symmetric, so t in (0, 12 sigma] suffices."""

    def squared(t: float) -> float:
        return (x1 - t) ** 2 + (x2 - float(_quadrant_boundary(np.asarray(t), sigma))) ** 2

    grid = np.linspace(1e-6 * sigma, max(12 * sigma, 2 * max(x1, x2)), 4001)
    values = (x1 - grid) ** 2 + (x2 - _quadrant_boundary(grid, sigma)) ** 2
    k = int(np.nanargmin(values))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    best = optimize.minimize_scalar(squared, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    return float(np.sqrt(min(best.fun, values[k])))
