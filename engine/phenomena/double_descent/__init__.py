"""Epoch-wise double descent: Heckel, Yilmaz: Early Stopping in Deep Networks: Double Descent and How to Eliminate it (ICLR 2021)."""

from engine.core.registry import Phenomenon

PHENOMENON = Phenomenon(
    name="double_descent",
    title="Epoch-wise double descent",
    paper="Heckel, Yilmaz: Early Stopping in Deep Networks: Double Descent and How to Eliminate it (ICLR 2021)",
    summary="A bump in test risk over training time appears and vanishes with per-layer step sizes.",
    icon=":material/show_chart:",
    order=20,
)
