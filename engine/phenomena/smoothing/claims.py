"""The paper's claims that the smoothing experiments check: measures (frame -> number) and claims.

Phenomenon claims can fail when the effect is absent (each has a test where it does); sanity claims
(``kind="sanity"``: radius caps, soundness, "the attack never enters a certified ball") fail only
on a bug."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.experiment import Claim
from engine.phenomena.smoothing.paper import (
    PAPER_CIFAR10,
    PAPER_SETUP_CIFAR10,
    PAPER_SETUP_LINEAR,
    PAPER_SETUP_TRAIN_SIGMA,
)
from engine.phenomena.smoothing.readouts import average_certified_radius, certified_accuracy

# --------------------------------------------------------------------------- measures


def accuracy_at(frame: pd.DataFrame, sigma: float, radius: float) -> float:
    """Certified accuracy of the rows at ``sigma`` at ``radius``; NaN without such rows."""
    rows = frame[np.isclose(frame["sigma"], sigma)]
    return float(certified_accuracy(rows, [radius])[0]) if len(rows) else float("nan")


def clean_cost(frame: pd.DataFrame) -> float:
    """Certified accuracy at radius 0: smallest sigma minus largest sigma."""
    sigmas = sorted(frame["sigma"].unique())
    return accuracy_at(frame, sigmas[0], 0.0) - accuracy_at(frame, sigmas[-1], 0.0)


def radius_gain(frame: pd.DataFrame) -> float:
    """At radius 0.5: the best larger sigma's certified accuracy minus the smallest sigma's."""
    sigmas = sorted(frame["sigma"].unique())
    if len(sigmas) < 2:
        return float("nan")
    return max(accuracy_at(frame, s, 0.5) for s in sigmas[1:]) - accuracy_at(frame, sigmas[0], 0.5)


def radius_over_cap(frame: pd.DataFrame) -> float:
    """The largest certified radius as a fraction of its cap sigma Phi^-1(alpha^(1/n))."""
    return float((frame["radius"] / frame["cap"]).max())


def toy_unsound(frame: pd.DataFrame) -> float:
    """Fraction of certified toy points whose radius exceeds the exact radius by more than 0.02."""
    points = frame[frame["kind"] == "point"]
    return float((points["radius"] > points["exact_radius"] + 0.02).mean())


def attack_inside_certificate(frame: pd.DataFrame) -> float:
    """Fraction of certified, correct inputs where PGD on g found an adversarial input inside the ball."""
    certified = frame[frame["correct"] & (frame["radius"] > 0)]
    return (
        float((certified["smooth_radius"] < certified["radius"]).mean()) if len(certified) else float("nan")
    )


def linear_gap(frame: pd.DataFrame) -> float:
    """At the largest n: mean (true radius - certified radius) / sigma over the points whose true
    radius is at most 0.8 of the cap (beyond it no n-sample certificate can reach)."""
    last = frame[frame["n"] == frame["n"].max()]
    inside = last[last["true_radius"] <= 0.8 * last["cap"]]
    if not len(inside):
        return float("nan")
    return float(((inside["true_radius"] - inside["radius"]) / inside["sigma"]).mean())


def linear_unsound(frame: pd.DataFrame) -> float:
    """Fraction of certificates that name a wrong class or exceed the true radius (1e-9 slack)."""
    wrong = (frame["prediction"] >= 0) & (frame["prediction"] != frame["label"])
    return float((wrong | (frame["radius"] > frame["true_radius"] + 1e-9)).mean())


def acr_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Average certified radius per (train_sigma, sigma): columns train_sigma, sigma, acr, clean."""
    rows = [
        {
            "train_sigma": t,
            "sigma": s,
            "acr": average_certified_radius(g),
            "clean": float(certified_accuracy(g, [0.0])[0]),
        }
        for (t, s), g in frame.groupby(["train_sigma", "sigma"], sort=True)
    ]
    return pd.DataFrame(rows)


def matched_over_clean(frame: pd.DataFrame) -> float:
    """Mean, over certification sigmas s, of ACR(trained at s) - ACR(trained clean); NaN when the
    grid lacks the clean row or a matched cell."""
    table = acr_table(frame)
    gains = []
    for s in sorted(table["sigma"].unique()):
        column = table[np.isclose(table["sigma"], s)]
        matched = column[np.isclose(column["train_sigma"], s)]["acr"]
        clean = column[column["train_sigma"] == 0.0]["acr"]
        if not len(matched) or not len(clean):
            return float("nan")
        gains.append(float(matched.iloc[0]) - float(clean.iloc[0]))
    return float(np.mean(gains))


# --------------------------------------------------------------------------- claims


def _paper_claim(sigma: float, radius: float) -> Claim:
    paper = PAPER_CIFAR10[sigma][radius]
    return Claim(
        id=f"smoothing.cifar10_s{sigma:g}_r{radius:g}",
        text=f"CIFAR-10, sigma = {sigma:g}: certified accuracy {paper:.2f} at L2 radius {radius:g}.",
        experiment="smoothing.certify",
        measure=lambda frame: accuracy_at(frame, sigma, radius),
        holds=lambda value: abs(value - paper) <= 0.05,
        paper_value=paper,
        tolerance=0.05,
        unit="certified accuracy",
        preset="paper",
        paper_setup=PAPER_SETUP_CIFAR10,
        paper_data="CIFAR-10",
        qualitative=False,
    )


CLAIMS_CERTIFY = (
    Claim(
        id="smoothing.clean_cost",
        text="A larger sigma costs clean accuracy: certified accuracy at radius 0 falls from the "
        "smallest to the largest sigma.",
        experiment="smoothing.certify",
        measure=clean_cost,
        holds=lambda v: v > 0.05,
        unit="accuracy drop",
        paper_value=0.34,
        tolerance=0.08,
        paper_setup=PAPER_SETUP_CIFAR10,
        paper_data="CIFAR-10",
    ),
    Claim(
        id="smoothing.clean_cost_cifar10",
        text="CIFAR-10: clean accuracy of the smoothed classifier drops from 0.81 (sigma 0.12) to 0.47 (sigma 1).",
        experiment="smoothing.certify",
        measure=clean_cost,
        holds=lambda v: abs(v - 0.34) <= 0.08,
        paper_value=0.34,
        tolerance=0.08,
        unit="accuracy drop",
        preset="paper",
        paper_setup=PAPER_SETUP_CIFAR10,
        paper_data="CIFAR-10",
        qualitative=False,
    ),
    Claim(
        id="smoothing.radius_gain",
        text="A larger sigma certifies radii the smallest cannot: at radius 0.5 some sigma > 0.12 "
        "certifies inputs where sigma = 0.12 certifies none.",
        experiment="smoothing.certify",
        measure=radius_gain,
        holds=lambda v: v > 0.1,
        paper_value=0.43,
        tolerance=0.1,
        unit="certified accuracy",
        paper_setup=PAPER_SETUP_CIFAR10,
        paper_data="CIFAR-10",
    ),
    Claim(
        id="smoothing.radius_cap",
        text="No certified radius exceeds sigma * Phi^-1(alpha^(1/n)), the most n samples can certify.",
        experiment="smoothing.certify",
        measure=radius_over_cap,
        holds=lambda v: v <= 1.0 + 1e-12,
        unit="max radius / cap",
        kind="sanity",
    ),
    *(
        _paper_claim(s, r)
        for s, r in ((0.25, 0.25), (0.25, 0.5), (0.5, 0.75), (0.5, 1.0), (1.0, 1.25), (1.0, 1.5))
    ),
)

CLAIMS_TOY = (
    Claim(
        id="smoothing.toy_sound",
        text="Certified radii never exceed the exact radius sigma * Phi^-1(pA) of the smoothed classifier.",
        experiment="smoothing.toy",
        measure=toy_unsound,
        holds=lambda v: v <= 0.05,
        unit="fraction of points",
        kind="sanity",
    ),
)

CLAIMS_ATTACK = (
    Claim(
        id="smoothing.attack_respects_certificate",
        text="An L2 PGD attack on the smoothed classifier finds no adversarial input inside a certified radius.",
        experiment="smoothing.attack",
        measure=attack_inside_certificate,
        holds=lambda v: v <= 0.05,
        unit="fraction of certified points",
        kind="sanity",
    ),
)

CLAIMS_LINEAR = (
    Claim(
        id="smoothing.linear_tight",
        text="For a linear base classifier the certificate is tight: with n = 100,000 samples the certified "
        "radius is within 0.06 sigma (mean) of the true distance |w.x + b| / |w| to the boundary.",
        experiment="smoothing.linear",
        measure=linear_gap,
        holds=lambda v: 0.0 <= v <= 0.06,
        paper_value=0.0,
        tolerance=0.06,
        unit="mean gap / sigma",
        paper_setup=PAPER_SETUP_LINEAR,
    ),
    Claim(
        id="smoothing.linear_sound",
        text="No certificate names a wrong class or a radius beyond the true distance to g's boundary.",
        experiment="smoothing.linear",
        measure=linear_unsound,
        holds=lambda v: v <= 0.05,
        unit="fraction of certificates",
        kind="sanity",
    ),
)

CLAIMS_GRID = (
    Claim(
        id="smoothing.train_at_certify_sigma",
        text="Train with the noise you certify at: averaged over the certification sigmas, the base trained "
        "at that sigma has a larger average certified radius (by > 0.03) than the base trained on clean inputs.",
        experiment="smoothing.grid",
        measure=matched_over_clean,
        holds=lambda v: v > 0.03,
        unit="ACR gain (input units)",
        paper_setup=PAPER_SETUP_TRAIN_SIGMA,
        paper_data="CIFAR-10",
    ),
)
