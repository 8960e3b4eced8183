"""Neural tangent kernels: Arora, Du, Hu, Li, Salakhutdinov, Wang: On Exact Computation with an Infinitely Wide Neural Net (NeurIPS 2019)."""

from engine.core.registry import Phenomenon

PHENOMENON = Phenomenon(
    name="ntk",
    title="Neural tangent kernels",
    paper="Arora, Du, Hu, Li, Salakhutdinov, Wang: On Exact Computation with an Infinitely Wide Neural Net (NeurIPS 2019)",
    summary="Wide networks become kernel machines; the exact NTK and CNTK classify images.",
    icon=":material/grid_on:",
    order=30,
)
