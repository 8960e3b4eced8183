"""Smoothing noise distributions and their certified radii: what :class:`~.science.Smooth` samples
to certify and what :func:`~.models.train_with_noise` trains with.

Every distribution is i.i.d. over coordinates and is named by ``sigma``, the standard deviation
of one coordinate (the convention of Yang et al.'s code, rs4a), so that three distributions at one
sigma perturb an input by the same amount on average. Each knows its certified radius: the ball
(in its norm) on which the smoothed classifier g is constant when the top class has probability
at least ``pA > 1/2`` and every other class at most ``pB = 1 - pA``.

============ =========================== ===================== ===== =====================================
name         one coordinate              scale                 norm  certified radius
============ =========================== ===================== ===== =====================================
``gaussian`` N(0, sigma^2)               sigma                 L2    sigma Phi^-1(pA) (Cohen et al. 2019)
``laplace``  exp(-abs(z) / b) / (2 b)    b = sigma / sqrt(2)   L1    b log(1 / (2 (1 - pA)))
``uniform``  1 / (2 lam) on [-lam, lam]  lam = sqrt(3) sigma   L1    2 lam (pA - 1/2)
============ =========================== ===================== ===== =====================================

Laplace: Teng, Lee, Yuan (ICLR 2020) certify ``max(b/2 log(pA/pB), -b log(1 - pA + pB))``; with
pB = 1 - pA the second term is the larger and equals the tabled value, which is also rs4a's
``Laplace.certify_l1``. It follows from Neyman-Pearson in one coordinate: against a shift of r
along one axis the worst set of probability pA is a half-line {z_1 <= t}, t = b log(1 / (2 (1 - pA))),
and the shifted noise still gives it probability > 1/2 exactly when r < t. Uniform: Yang, Duan,
Hu, Salman, Razenshteyn, Li (ICML 2020, "Randomized smoothing of all shapes and sizes"; rs4a's
``Uniform.certify_l1``): a shift delta moves at most |delta|_1 / (2 lam) of the cube's mass, so
pA - |delta|_1 / (2 lam) > 1/2 keeps the top class. Gaussian in L1: the L1 ball of radius r lies
in the L2 ball of radius r, so the L2 radius certifies L1 too (:meth:`Noise.l1_radius`).

All three radii are exact for an axis-aligned half-space f(x) = 1[x_1 > 0] at x = (a, 0, ...)
(the uniform one while a < lam; beyond, pA = 1 and the radius stops at lam).
"""

from __future__ import annotations

import math

import torch
from scipy import stats

from engine.core.params import Interval, Options, check_arg
from engine.core.validation import ConfigError
from engine.phenomena.smoothing.settings import NOISES

_SIGMA = Interval(float, 0.0, None, closed="right")


class Noise:
    """A noise distribution of per-coordinate standard deviation ``sigma`` (input units).

    ``fill_(buffer, generator)`` overwrites a tensor in place with draws (certification reuses
    one buffer); ``draw(shape, ...)`` returns a new tensor (training). ``radius(p)`` is the
    certified radius in ``norm`` for a lower bound ``p`` on pA (0 when p <= 1/2);
    ``l1_radius(p)`` is the certified L1 radius (what the three distributions share).
    """

    name = ""
    norm = ""

    def __init__(self, sigma: float):
        self.sigma = check_arg(type(self).__name__, "sigma", sigma, _SIGMA)

    @property
    def scale(self) -> float:
        """The distribution's own scale parameter (sigma, b or lam)."""
        raise NotImplementedError

    def fill_(self, buffer: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def draw(
        self, shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str, dtype=None
    ) -> torch.Tensor:
        buffer = torch.empty(shape, device=device, dtype=dtype or torch.float32)
        return self.fill_(buffer, generator)

    def radius(self, p_lower: float) -> float:
        raise NotImplementedError

    def l1_radius(self, p_lower: float) -> float:
        return self.radius(p_lower)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sigma={self.sigma:g})"


class Gaussian(Noise):
    """N(0, sigma^2 I); certified L2 radius sigma Phi^-1(pA), also an L1 radius."""

    name, norm = "gaussian", "l2"

    @property
    def scale(self) -> float:
        return self.sigma

    def fill_(self, buffer: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return buffer.normal_(0.0, self.sigma, generator=generator)  # 20% faster than randn then scale

    def draw(self, shape, generator, device, dtype=None) -> torch.Tensor:
        # the training draw as it always was (bit for bit): trained networks and results stay valid
        return self.sigma * torch.randn(shape, generator=generator, device=device, dtype=dtype)

    def radius(self, p_lower: float) -> float:
        return float(self.sigma * stats.norm.ppf(p_lower)) if p_lower > 0.5 else 0.0


class Laplace(Noise):
    """i.i.d. Laplace(0, b), b = sigma / sqrt(2); certified L1 radius b log(1 / (2 (1 - pA)))."""

    name, norm = "laplace", "l1"

    @property
    def scale(self) -> float:
        return self.sigma / math.sqrt(2.0)

    def fill_(self, buffer: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # b (E1 - E2) with E1, E2 ~ Exp(1) is Laplace(0, b), tails and all (no inverse-CDF clipping)
        other = torch.empty_like(buffer).exponential_(1.0, generator=generator)
        return buffer.exponential_(1.0, generator=generator).sub_(other).mul_(self.scale)

    def radius(self, p_lower: float) -> float:
        if p_lower <= 0.5:
            return 0.0
        if p_lower >= 1.0:
            return math.inf
        return float(-self.scale * math.log(2.0 * (1.0 - p_lower)))


class Uniform(Noise):
    """i.i.d. uniform on [-lam, lam], lam = sqrt(3) sigma; certified L1 radius 2 lam (pA - 1/2)."""

    name, norm = "uniform", "l1"

    @property
    def scale(self) -> float:
        return math.sqrt(3.0) * self.sigma

    def fill_(self, buffer: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return buffer.uniform_(-self.scale, self.scale, generator=generator)

    def radius(self, p_lower: float) -> float:
        return float(2.0 * self.scale * (p_lower - 0.5)) if p_lower > 0.5 else 0.0


_CLASSES = {cls.name: cls for cls in (Gaussian, Laplace, Uniform)}


def make_noise(noise: str | Noise, sigma: float) -> Noise:
    """The named distribution at per-coordinate std ``sigma`` (a :class:`Noise` passes through;
    its own sigma must then equal ``sigma``)."""
    if isinstance(noise, Noise):
        if not math.isclose(noise.sigma, float(sigma)):
            raise ConfigError(
                f"The 'sigma' parameter of make_noise must equal the sigma of {noise!r}. Got {sigma!r} instead."
            )
        return noise
    name = check_arg("make_noise", "noise", noise, Options(NOISES))
    return _CLASSES[name](sigma)
