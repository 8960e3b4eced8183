"""Uniform convergence, derandomized: Negrea, Dziugaite, Roy: In Defense of Uniform Convergence (ICML 2020)."""

from engine.core.registry import Phenomenon

PHENOMENON = Phenomenon(
    name="generalization",
    title="Uniform convergence, derandomized",
    paper="Negrea, Dziugaite, Roy: In Defense of Uniform Convergence (ICML 2020)",
    summary="Interpolators escape two-sided uniform convergence, but a derandomized surrogate does not.",
    icon=":material/functions:",
    order=10,
)
