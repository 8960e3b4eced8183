"""Linear autoencoders: Bao, Lucas, Sachdeva, Grosse: Regularized linear autoencoders recover the principal components, eventually (NeurIPS 2020)."""

from engine.core.registry import Phenomenon

PHENOMENON = Phenomenon(
    name="linear_ae",
    title="Linear autoencoders",
    paper="Bao, Lucas, Sachdeva, Grosse: Regularized linear autoencoders recover the principal components, eventually (NeurIPS 2020)",
    summary="Non-uniform L2 picks out the principal axes, slowly; a rotation-augmented gradient is fast.",
    icon=":material/compress:",
    order=50,
)
