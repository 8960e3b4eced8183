"""Randomized smoothing: Cohen, Rosenfeld, Kolter: Certified Adversarial Robustness via Randomized Smoothing (ICML 2019)."""

from engine.core.registry import Phenomenon

PHENOMENON = Phenomenon(
    name="smoothing",
    title="Randomized smoothing",
    paper="Cohen, Rosenfeld, Kolter: Certified Adversarial Robustness via Randomized Smoothing (ICML 2019)",
    summary="Gaussian noise turns any classifier into one with a certified L2 radius.",
    icon=":material/shield:",
    order=40,
)
