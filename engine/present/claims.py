"""The claims scoreboard: every registered paper claim, measured on our results.

Each :class:`~engine.experiment.Claim` names an experiment, a preset and a ``measure`` that reads
our number from that preset's result frame. The scoreboard measures every claim at both scales:

- quick scale (the claim's preset if it is a quick-scale one, else ``quick``): read from the cache,
  or computed when asked (``compute=True``);
- paper scale (the claim's preset if its name starts with ``paper``, else ``paper``): read from the
  cache only, never computed here (paper runs are sized for a GPU).

A claim's status is decided at its own preset: ``reproduced`` when ``holds(ours)``, ``differs``
when not, ``not computed yet`` when that result is not in the cache, ``could not measure`` when the
run or the measure failed (the note says why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.core.experiment import Claim, Experiment, Progress
from engine.core.registry import PHENOMENA
from engine.core.runner import experiments, load_cached, run

REPRODUCED = "reproduced"
DIFFERS = "differs"
NOT_COMPUTED = "not computed yet"
FAILED = "could not measure"
STATUSES = (REPRODUCED, DIFFERS, NOT_COMPUTED, FAILED)

def scale_of(preset: str) -> str:
    """``paper`` for presets whose name starts with "paper" (GPU-sized), else ``quick``."""
    return "paper" if preset.startswith("paper") else "quick"


def all_claims() -> list[Claim]:
    """Every registered claim, in the order of the phenomena list, then of registration."""
    order = {p.name: i for i, p in enumerate(PHENOMENA)}
    exps = sorted(experiments().values(), key=lambda e: order.get(e.phenomenon, len(order)))
    return [claim for exp in exps for claim in exp.claims]


def presets_for(claim: Claim, exp: Experiment) -> dict[str, str | None]:
    """The preset measured at each scale: ``{"quick": ..., "paper": ...}`` (None where absent)."""
    own = scale_of(claim.preset)
    other = "paper" if own == "quick" else "quick"
    return {own: claim.preset, other: other if other in exp.presets else None}


@dataclass
class FrameSource:
    """Loads each (experiment, preset) default frame at most once; computes only quick scale, and
    only with ``compute=True``. Failures are remembered as text, never raised."""

    compute: bool = False
    device: str = "auto"
    progress: Progress | None = None  # forwarded to a computing run
    frames: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(self, name: str, preset: str) -> pd.DataFrame | None:
        """The default frame of ``name`` at ``preset``, or None (not cached, or failed: see errors)."""
        key = (name, preset)
        if key in self.frames or key in self.errors:
            return self.frames.get(key)
        try:
            frame = load_cached(name, preset=preset)
            if frame is None and self.compute and scale_of(preset) == "quick":
                frame = run(name, None, preset=preset, device=self.device, progress=self.progress)
        except Exception as err:  # a missing data set, a diverged run: reported, the board goes on
            self.errors[key] = f"{type(err).__name__}: {err}"
            return None
        if frame is not None:
            self.frames[key] = frame
        return frame


@dataclass(frozen=True)
class ClaimResult:
    """One row of the scoreboard."""

    claim: Claim
    phenomenon: str
    quick: float | None  # ours at quick scale (None: not available)
    paper: float | None  # ours at paper scale (None: not cached)
    status: str  # one of STATUSES
    note: str = ""  # why a value is missing or could not be measured
    cache_keys: tuple[str, ...] = ()  # keys of the frames measured

    @property
    def page(self) -> str:
        """The app's URL path of the page that shows this claim."""
        return self.phenomenon


def _measure(claim: Claim, frame: pd.DataFrame) -> tuple[float | None, str]:
    try:
        return float(claim.measure(frame)), ""
    except Exception as err:  # a measure written for another preset's frame, an empty frame
        return None, f"measure failed: {type(err).__name__}: {err}"


def evaluate(claim: Claim, source: FrameSource) -> ClaimResult:
    """Measure one claim at both scales and decide its status at the claim's own preset."""
    exp = experiments()[claim.experiment]
    values: dict[str, float | None] = {"quick": None, "paper": None}
    failures: dict[str, str] = {}
    keys = []
    for scale, preset in presets_for(claim, exp).items():
        frame = source.get(claim.experiment, preset) if preset else None
        if frame is None:
            if (claim.experiment, preset) in source.errors:
                failures[scale] = f"{preset}: {source.errors[(claim.experiment, preset)]}"
            continue
        keys.append(frame.attrs.get("cache_key", ""))
        values[scale], note = _measure(claim, frame)
        if note:
            failures[scale] = f"{preset}: {note}"
    own_scale = scale_of(claim.preset)
    own = values[own_scale]
    if own is not None:
        status = REPRODUCED if bool(claim.holds(own)) else DIFFERS
    else:
        status = FAILED if own_scale in failures else NOT_COMPUTED
    return ClaimResult(claim, exp.phenomenon, values["quick"], values["paper"], status,
                       "; ".join(failures.values()), tuple(keys))


def scoreboard(*, compute: bool = False, device: str = "auto",
               progress: Progress | None = None) -> list[ClaimResult]:
    """Every claim measured. ``compute=True`` fills missing quick-scale results (never paper);
    ``progress(fraction, message)`` follows the claims and any run in between."""
    claims = all_claims()
    source = FrameSource(compute=compute, device=device)
    results = []
    for index, claim in enumerate(claims):
        if progress is not None:
            def forward(fraction: float, message: str, index=index, claim=claim) -> None:
                progress((index + fraction) / len(claims), f"{claim.experiment}: {message}")

            source.progress = forward
            forward(0.0, claim.id)
        results.append(evaluate(claim, source))
    return results


def format_value(value: float | None) -> str:
    """A number for a table: 3 significant digits, "—" when absent."""
    if value is None:
        return "—"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def scoreboard_frame(results: list[ClaimResult]) -> pd.DataFrame:
    """The scoreboard as a table: one row per claim, primitive columns (for st.dataframe and CSV)."""
    rows: list[dict[str, Any]] = []
    for r in results:
        rows.append({
            "phenomenon": r.phenomenon,
            "claim": r.claim.text,
            "id": r.claim.id,
            "experiment": r.claim.experiment,
            "preset": r.claim.preset,
            "unit": r.claim.unit,
            "paper": format_value(r.claim.paper_value),
            "ours (quick)": format_value(r.quick),
            "ours (paper)": format_value(r.paper),
            "status": r.status,
            "page": f"/{r.page}",
            "note": r.note,
        })
    columns = ["phenomenon", "claim", "id", "experiment", "preset", "unit", "paper", "ours (quick)",
               "ours (paper)", "status", "page", "note"]
    return pd.DataFrame(rows, columns=columns)
