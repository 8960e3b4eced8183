"""Linear-autoencoder claims: the measures read from result frames and the claims on the scoreboard
(phenomenon or sanity, with the setup the paper's number measured)."""

from __future__ import annotations

import pandas as pd

from engine.core.experiment import Claim
from engine.phenomena.linear_ae import paper


def final(frame: pd.DataFrame, variant: str, column: str = "axis_alignment") -> float:
    """The last finite value of ``column`` for one variant (NaN when it has none)."""
    rows = frame[(frame["variant"] == variant) & ~frame["diverged"].astype(bool)].sort_values("step")
    values = rows[column].dropna()
    return float(values.iloc[-1]) if len(values) else float("nan")


def first_step_below(frame: pd.DataFrame, variant: str, column: str, threshold: float) -> float:
    """The first recorded step where ``column`` < threshold for one variant (inf: never)."""
    rows = frame[(frame["variant"] == variant) & (frame[column] < threshold)]
    return float(rows["step"].min()) if len(rows) else float("inf")


def aligned_out_of_order(frame: pd.DataFrame, variant: str = "non_uniform", far: float = 0.5) -> float:
    """The lowest axis alignment a variant reaches while its ordered distance is still > ``far``:
    small means it sat at a wrongly ordered saddle that looks aligned (inf: never that far)."""
    rows = frame[(frame["variant"] == variant) & (frame["minimum_distance"] > far) & (frame["step"] > 0)]
    return float(rows["axis_alignment"].min()) if len(rows) else float("inf")


def slowdown(frame: pd.DataFrame, variant: str = "non_uniform") -> float:
    """Steps to the threshold at the largest k over those at the smallest k (a budget-capped lower bound)."""
    rows = frame[frame["variant"] == variant].sort_values("k")
    return float(rows["steps"].iloc[-1]) / max(float(rows["steps"].iloc[0]), 1.0)


def dynamics_claims(mnist: str) -> tuple[Claim, ...]:
    name = "linear_ae.dynamics"
    return (
        Claim(
            "lae.uniform_not_aligned",
            "Uniform L2 recovers the principal subspace but not the axes (axis alignment stays far from 0).",
            name,
            measure=lambda f: final(f, "uniform"),
            holds=lambda v: v > 0.1,
            unit="axis alignment",
            paper_setup=mnist,
            paper_data="MNIST",
        ),
        Claim(
            "lae.uniform_subspace",
            "Uniform L2 still reaches the principal subspace.",
            name,
            measure=lambda f: final(f, "uniform", "subspace_distance"),
            holds=lambda v: v < 1e-4,
            unit="subspace distance",
            kind="sanity",
            paper_setup=mnist,
            paper_data="MNIST",
        ),
        Claim(
            "lae.rag_fast",
            "RAG alone (no penalty) reaches the ordered principal axes within a few thousand "
            "steps (distance to the ordered minimum < 0.2).",
            name,
            measure=lambda f: first_step_below(f, "rotation", "minimum_distance", 0.2),
            holds=lambda v: v <= 5000,
            unit="steps to distance < 0.2",
            paper_setup=mnist,
            paper_data="MNIST",
        ),
        Claim(
            "lae.non_uniform_slow",
            "Non-uniform L2 alone is slow: after the whole run it is still far from "
            "the ordered minimum (distance > 0.5).",
            name,
            measure=lambda f: final(f, "non_uniform", "minimum_distance"),
            holds=lambda v: v > 0.5,
            unit="distance to the ordered minimum",
            paper_setup=mnist,
            paper_data="MNIST",
        ),
        Claim(
            "lae.mnist_uniform",
            "MNIST, k = 20: uniform L2 stays at axis alignment about 0.73.",
            name,
            measure=lambda f: final(f, "uniform"),
            holds=lambda v: abs(v - paper.MNIST_UNIFORM_ALIGNMENT) < 0.1,
            paper_value=paper.MNIST_UNIFORM_ALIGNMENT,
            unit="axis alignment",
            preset="paper",
            paper_setup=mnist,
            paper_data="MNIST",
            qualitative=False,
            tolerance=0.1,
        ),
        Claim(
            "lae.mnist_rotation",
            "MNIST, k = 20: RAG (SGD) reaches axis alignment about 0.",
            name,
            measure=lambda f: final(f, "rotation"),
            holds=lambda v: v < 0.05,
            paper_value=paper.MNIST_ROTATION_ALIGNMENT,
            unit="axis alignment",
            preset="paper",
            paper_setup=mnist,
            paper_data="MNIST",
            qualitative=False,
            tolerance=0.05,
        ),
    )


#: The saddle story depends on the draw (seed 1 never comes near a saddle): judged on three seeds,
#: it holds when two of them show it.
SADDLE_SEEDS = (0, 1, 2)


def saddle_claims(setup: str) -> tuple[Claim, ...]:
    name = "linear_ae.saddle"
    return (
        Claim(
            "lae.saddle_visit",
            "Non-uniform L2 approaches a saddle with latents swapped: axis alignment "
            "below 0.02 while the ordered distance is still above 0.5 (in at least 2 of 3 seeds).",
            name,
            measure=aligned_out_of_order,
            holds=lambda v: v < 0.02,
            unit="axis alignment while out of order",
            paper_setup=setup,
            seeds=SADDLE_SEEDS,
            min_fraction=2 / 3,
        ),
        Claim(
            "lae.saddle_escape",
            "It reaches the ordered minimum eventually: the ordered distance ends below 0.1 (in at least 2 of 3 seeds).",
            name,
            measure=lambda f: final(f, "non_uniform", "minimum_distance"),
            holds=lambda v: v < 0.1,
            unit="distance to the ordered minimum",
            paper_setup=setup,
            seeds=SADDLE_SEEDS,
            min_fraction=2 / 3,
        ),
    )


def scaling_claims(setup: str) -> tuple[Claim, ...]:
    name = "linear_ae.scaling"
    return (
        Claim(
            "lae.scaling_rag_all_k",
            "RAG alone reaches the axes at every k.",
            name,
            measure=lambda f: float(f[f["variant"] == "rotation"]["reached"].mean()),
            holds=lambda v: v == 1.0,
            unit="fraction of k reached",
            paper_setup=setup,
        ),
        Claim(
            "lae.scaling_slowdown",
            "Non-uniform L2 needs at least 4 times more steps at the largest k than at the smallest.",
            name,
            measure=slowdown,
            holds=lambda v: v >= 4.0,
            unit="steps ratio (largest k / smallest k)",
            paper_setup=setup,
        ),
    )
