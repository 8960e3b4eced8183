"""The list of phenomena: one engine module, one page and one test file each.

Adding a phenomenon: write ``engine/<name>.py`` with a module-level ``EXPERIMENTS`` tuple, add a
:class:`Phenomenon` line below, add ``pages/<name>.py`` and ``tests/test_<name>.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path
from dataclasses import dataclass


@dataclass(frozen=True)
class Phenomenon:
    name: str  # module name in engine/ and pages/
    title: str  # short title shown in the navigation
    paper: str  # authors, title, venue
    summary: str  # one sentence: what the student sees
    icon: str = ":material/science:"


PHENOMENA: tuple[Phenomenon, ...] = (
    Phenomenon(
        "generalization",
        "Uniform convergence, derandomized",
        "Negrea, Dziugaite, Roy: In Defense of Uniform Convergence (ICML 2020)",
        "Interpolators escape two-sided uniform convergence, but a derandomized surrogate does not.",
        ":material/functions:",
    ),
    Phenomenon(
        "double_descent",
        "Epoch-wise double descent",
        "Heckel, Yilmaz: Early Stopping in Deep Networks: Double Descent and How to Eliminate it (ICLR 2021)",
        "A bump in test risk over training time appears and vanishes with per-layer step sizes.",
        ":material/show_chart:",
    ),
    Phenomenon(
        "ntk",
        "Neural tangent kernels",
        "Arora, Du, Hu, Li, Salakhutdinov, Wang: On Exact Computation with an Infinitely Wide Neural Net (NeurIPS 2019)",
        "Wide networks become kernel machines; the exact NTK and CNTK classify images.",
        ":material/grid_on:",
    ),
    Phenomenon(
        "smoothing",
        "Randomized smoothing",
        "Cohen, Rosenfeld, Kolter: Certified Adversarial Robustness via Randomized Smoothing (ICML 2019)",
        "Gaussian noise turns any classifier into one with a certified L2 radius.",
        ":material/shield:",
    ),
    Phenomenon(
        "linear_ae",
        "Linear autoencoders",
        "Bao, Lucas, Sachdeva, Grosse: Regularized linear autoencoders recover the principal components, eventually (NeurIPS 2020)",
        "Non-uniform L2 picks out the principal axes, slowly; a rotation-augmented gradient is fast.",
        ":material/compress:",
    ),
)


def available() -> list[Phenomenon]:
    """The phenomena whose engine module imports and whose page exists (the others are coming)."""
    load_experiments()
    return [p for p in PHENOMENA if p.name in _LOADED and page_path(p.name).exists()]


def page_path(name: str) -> Path:
    """The Streamlit page file of a phenomenon."""
    return Path(__file__).resolve().parent.parent / "pages" / f"{name}.py"


#: name -> one-line reason, for phenomena whose module exists but failed to load.
BROKEN: dict[str, str] = {}
_LOADED: dict[str, tuple] = {}


def load_experiments(only: str | None = None) -> dict:
    """Import the phenomenon modules that exist (or just ``only``) and collect their experiments.

    A module that fails to import is recorded in :data:`BROKEN` and skipped, so one broken page
    never takes the whole lab down; ``tests/test_engine.py`` insists that BROKEN is empty.
    """
    for p in PHENOMENA:
        if (only and p.name != only) or p.name in _LOADED or p.name in BROKEN:
            continue
        if importlib.util.find_spec(f"engine.{p.name}") is None:
            continue
        try:
            module = importlib.import_module(f"engine.{p.name}")
            _LOADED[p.name] = tuple(module.EXPERIMENTS)
        except Exception as err:  # report, never crash the app
            BROKEN[p.name] = f"{type(err).__name__}: {err}"
            logging.getLogger("engine").error("phenomenon %s failed to load: %s", p.name, BROKEN[p.name])
    found = {}
    for experiments in _LOADED.values():
        for exp in experiments:
            if exp.name in found:
                raise RuntimeError(f"experiment name {exp.name!r} registered twice")
            found[exp.name] = exp
    return found
