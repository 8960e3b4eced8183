"""The claims scoreboard: every registered paper claim, measured on our results.

Each :class:`~engine.experiment.Claim` names an experiment, a preset and a ``measure`` that reads
our number from that preset's result frame. The scoreboard measures every claim at both scales:

- quick scale (the claim's preset if it is a quick-scale one, else ``quick``): read from the cache,
  or computed when asked (``compute=True``);
- paper scale (the claim's preset if its name starts with ``paper``, else ``paper``): read from the
  cache only, never computed here (paper runs are sized for a GPU).

Each scale gets its own status, judged on that scale's own measurement: ``reproduced`` when
``holds(ours)``, ``differs`` when not, ``not computed yet`` when that result is not in the cache,
``could not measure`` when the run or the measure failed or gave no number (nan; the note says
why), ``no such scale`` when the experiment has no preset at that scale. A claim's headline
``status`` is the status at its own preset's scale. Every number carries its setup (the
experiment's ``setups[preset]``; the paper's number ``Claim.paper_setup``), and sanity checks
(``Claim.kind == "sanity"``) are kept apart from claims about the phenomenon.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.core.experiment import Claim, Experiment, Progress
from engine.core.registry import phenomena
from engine.core.runner import experiments, load_cached, run

log = logging.getLogger(__name__)

REPRODUCED = "reproduced"
DIFFERS = "differs"
NOT_COMPUTED = "not computed yet"
FAILED = "could not measure"
NO_SCALE = "no such scale"
STATUSES = (REPRODUCED, DIFFERS, NOT_COMPUTED, FAILED)
SCALES = ("quick", "paper")
KINDS = ("phenomenon", "sanity")


def scale_of(preset: str) -> str:
    """``paper`` for presets whose name starts with "paper" (GPU-sized), else ``quick``."""
    return "paper" if preset.startswith("paper") else "quick"


def all_claims() -> list[Claim]:
    """Every registered claim, in the order of the phenomena list, then of registration."""
    order = {p.name: i for i, p in enumerate(phenomena())}
    exps = sorted(experiments().values(), key=lambda e: order.get(e.phenomenon, len(order)))
    return [claim for exp in exps for claim in exp.claims]


def presets_for(claim: Claim, exp: Experiment) -> dict[str, str | None]:
    """The preset measured at each scale: ``{"quick": ..., "paper": ...}`` (None where absent)."""
    if scale_of(claim.preset) == "paper":
        return {"paper": claim.preset, "quick": "quick" if "quick" in exp.presets else None}
    paper = claim.paper_preset or "paper"  # e.g. the paper's own small-final-step run for a 'scaled' claim
    return {"quick": claim.preset, "paper": paper if paper in exp.presets else None}


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
    """One row of the scoreboard: ours and a status at each scale, with the setup of each number."""

    claim: Claim
    phenomenon: str
    quick: float | None  # ours at quick scale (None: not available)
    paper: float | None  # ours at paper scale (None: not cached)
    statuses: dict[str, str]  # scale ("quick", "paper") -> one of STATUSES or NO_SCALE
    note: str = ""  # why a value is missing or could not be measured
    cache_keys: tuple[str, ...] = ()  # keys of the frames measured
    setups: dict[str, str] = field(default_factory=dict)  # scale -> "data set, model, scale" of ours
    presets: dict[str, str | None] = field(default_factory=dict)  # scale -> preset measured

    @property
    def status(self) -> str:
        """The status at the claim's own scale (its preset's)."""
        return self.statuses[scale_of(self.claim.preset)]

    @property
    def kind(self) -> str:
        return getattr(self.claim, "kind", "phenomenon") or "phenomenon"

    @property
    def page(self) -> str:
        """The app's URL path of the page that shows this claim."""
        return self.phenomenon


def _measure(claim: Claim, frame: pd.DataFrame) -> tuple[float | None, str]:
    """Our number from ``frame``; ``(None, why)`` when the measure raised or gave no number."""
    try:
        value = float(claim.measure(frame))
    except (IndexError, KeyError) as err:  # a measure written for another preset's frame, an empty frame
        log.info("measure of %s: %s: %s", claim.experiment, type(err).__name__, err)
        return (
            None,
            "no number: this result lacks the rows or columns the claim reads (a preset with other settings)",
        )
    except Exception as err:
        return None, f"no number: the measure could not read this result ({type(err).__name__})"
    if math.isnan(value):
        return None, "the measure gave nan (no number to judge)"
    return value, ""


def _judge(claim: Claim, value: float) -> tuple[str, str]:
    try:
        return (REPRODUCED if bool(claim.holds(value)) else DIFFERS), ""
    except Exception as err:  # a holds() that cannot read this value
        return FAILED, f"judging failed: {type(err).__name__}: {err}"


def evaluate(claim: Claim, source: FrameSource) -> ClaimResult:
    """Measure one claim at both scales and judge each scale on its own measurement."""
    exp = experiments()[claim.experiment]
    values: dict[str, float | None] = {"quick": None, "paper": None}
    statuses: dict[str, str] = {}
    failures: dict[str, str] = {}
    setups: dict[str, str] = {}
    keys = []
    presets = presets_for(claim, exp)
    for scale in SCALES:
        preset = presets.get(scale)
        if preset is None:
            statuses[scale] = NO_SCALE
            continue
        setups[scale] = dict(getattr(exp, "setups", {}) or {}).get(preset, "")
        frame = source.get(claim.experiment, preset)
        if frame is None:
            error = source.errors.get((claim.experiment, preset))
            statuses[scale] = FAILED if error else NOT_COMPUTED
            if error:
                failures[scale] = f"{preset}: {error}"
            continue
        keys.append(frame.attrs.get("cache_key", ""))
        value, note = _measure(claim, frame)
        if value is None:
            statuses[scale] = FAILED
        else:
            values[scale] = value
            statuses[scale], note = _judge(claim, value)
        if note:
            failures[scale] = f"{preset}: {note}"
    return ClaimResult(
        claim,
        exp.phenomenon,
        values["quick"],
        values["paper"],
        statuses,
        "; ".join(failures.values()),
        tuple(keys),
        setups,
        dict(presets),
    )


def scoreboard(
    *, compute: bool = False, device: str = "auto", progress: Progress | None = None
) -> list[ClaimResult]:
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


COLUMNS = [
    "phenomenon",
    "kind",
    "claim",
    "id",
    "experiment",
    "preset",
    "unit",
    "paper",
    "paper setup",
    "ours (quick)",
    "status (quick)",
    "setup (quick)",
    "ours (paper)",
    "status (paper)",
    "setup (paper)",
    "status",
    "page",
    "note",
]


def scoreboard_frame(results: list[ClaimResult]) -> pd.DataFrame:
    """The scoreboard as a table: one row per claim, primitive columns (for st.dataframe and CSV).

    ``status`` is the status at the claim's own scale; ``status (quick|paper)`` judge each scale on
    its own number, whose setup stands beside it."""
    rows: list[dict[str, Any]] = []
    for r in results:
        rows.append(
            {
                "phenomenon": r.phenomenon,
                "kind": r.kind,
                "claim": r.claim.text,
                "id": r.claim.id,
                "experiment": r.claim.experiment,
                "preset": r.claim.preset,
                "unit": r.claim.unit,
                "paper": format_value(r.claim.paper_value),
                "paper setup": getattr(r.claim, "paper_setup", "") or "",
                "ours (quick)": format_value(r.quick),
                "status (quick)": r.statuses["quick"],
                "setup (quick)": r.setups.get("quick", ""),
                "ours (paper)": format_value(r.paper),
                "status (paper)": r.statuses["paper"],
                "setup (paper)": r.setups.get("paper", ""),
                "status": r.status,
                "page": f"/{r.page}",
                "note": r.note,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def status_counts(results: list[ClaimResult]) -> dict[str, dict[str, int]]:
    """``{scale: {status: count}}`` over every claim (sanity checks included)."""
    return {
        scale: {s: sum(r.statuses[scale] == s for r in results) for s in (*STATUSES, NO_SCALE)}
        for scale in SCALES
    }
