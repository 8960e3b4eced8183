"""The experiment ``smoothing.noise`` (an extension): base classifiers trained and smoothed with
Gaussian, Laplace and uniform noise of the same per-coordinate std, certified in L1.

It composes ``smoothing.certify``: the Gaussian rows are that experiment's own result, read
through the cache with ``ctx.run`` (a hit when the certify view computed it), and only the other
distributions are trained and certified here. A Gaussian L2 radius is also an L1 radius (the L1
ball of radius r lies in the L2 ball of radius r), so the three share one axis. Config, compute
function and cost estimate; registered in :mod:`.experiments`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.core.experiment import Cost, RunContext
from engine.core.params import Options, Tuple, param
from engine.phenomena.smoothing.certify import CertifyConfig, certify_rows, estimate_certify
from engine.phenomena.smoothing.settings import NOISES

#: The columns every noise's rows share (those of smoothing.certify's frame that this one keeps).
COLUMNS = ["noise", "sigma", "index", "label", "prediction", "radius", "correct", "base_correct"]


@dataclass(frozen=True, kw_only=True)
class NoiseConfig(CertifyConfig):
    """smoothing.certify's setup, once per noise distribution (each trained with its own noise)."""

    noises: tuple[str, ...] = param(NOISES, Tuple(Options(NOISES), max_len=len(NOISES)))  # distributions

    def check(self) -> None:
        super().check()
        if len(set(self.noises)) != len(self.noises):
            self.fail("noises", f"a tuple of distinct names out of {', '.join(map(repr, NOISES))}")

    def certify_config(self) -> CertifyConfig:
        """The Gaussian run: smoothing.certify with the same fields."""
        fields = {f: getattr(self, f) for f in CertifyConfig.__dataclass_fields__}
        return CertifyConfig(**fields)


def compute_noise(config: NoiseConfig, ctx: RunContext) -> pd.DataFrame:
    """One row per (noise, sigma, certified test input): index, label, prediction, radius (the
    certified L1 radius, input units), correct, base_correct, norm (the norm of the noise's own
    certificate), scale (sigma, b or lam) and cap (the largest L1 radius n samples can certify)."""
    from engine.phenomena.smoothing.models import load_split
    from engine.phenomena.smoothing.noises import make_noise
    from engine.phenomena.smoothing.science import max_certifiable_radius

    shares = 1.0 / len(config.noises)
    cert = config.certify_config()
    frames = []
    split = None
    for k, noise in enumerate(config.noises):
        start = k * shares
        if noise == "gaussian":
            rows = ctx.run("smoothing.certify", cert, share=(start, shares)).assign(noise=noise)
        else:
            split = split if split is not None else load_split(config.dataset, config.seed)
            per_sigma = shares / len(config.sigmas)
            rows = pd.concat(
                [
                    certify_rows(
                        cert, split, s, s, ctx, (start + j * per_sigma, per_sigma), noise=noise
                    ).assign(sigma=s, noise=noise)
                    for j, s in enumerate(config.sigmas)
                ],
                ignore_index=True,
            )
        frames.append(rows[COLUMNS])
    out = pd.concat(frames, ignore_index=True)
    out["norm"] = [make_noise(noise, s).norm for noise, s in zip(out["noise"], out["sigma"])]
    out["scale"] = [make_noise(noise, s).scale for noise, s in zip(out["noise"], out["sigma"])]
    out["cap"] = [
        max_certifiable_radius(s, config.n, config.alpha, noise)
        for noise, s in zip(out["noise"], out["sigma"])
    ]
    ctx.report(1.0, "done")
    return out.assign(dataset=config.dataset, model=config.model, train_noise=config.train_noise, n=config.n)


def estimate_noise(c: NoiseConfig) -> Cost:
    """smoothing.certify's cost once per distribution (the Gaussian share is free when cached)."""
    one = estimate_certify(c)
    return Cost(bytes=one.bytes, seconds=one.seconds * len(c.noises), drivers=("noises",) + one.drivers)
