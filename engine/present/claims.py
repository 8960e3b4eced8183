"""The claims scoreboard: every registered paper claim, measured on our results.

Each :class:`~engine.experiment.Claim` names an experiment, a preset and a ``measure`` that reads
our number from that preset's result frame. The scoreboard measures every claim at both scales:

- quick scale (the claim's preset if it is a quick-scale one, else ``quick``): read from the cache,
  or computed when asked (``compute=True``);
- paper scale (the claim's preset if its name starts with ``paper``, else ``paper``): read from the
  cache only, never computed here (paper runs are sized for a GPU).

- real-data scale (the claim's ``real_preset``, default ``real``): real images sized for a CPU
  (Fashion-MNIST, the real MNIST sample), read from the cache only, like paper scale.

Each scale gets its own status, judged per (scale, data set) on that scale's own measurement
(:func:`judge`): a verdict, ``reproduced`` or ``differs``, only where our data set is the paper's
(``Claim.paper_data``; "" means the paper's own construction, which every preset reproduces).
Where the paper has a number, a verdict also compares magnitudes (``Claim.tolerance``, absolute
or ``relative``): a right-shaped but wrong-sized effect differs. On other data the status says so
in words: ``shown on <data>`` / ``not shown on <data>``, or, for a claim that is the paper's
number itself (``qualitative=False``), ``measured on <data>`` without a verdict. A stochastic
claim (``Claim.seeds``) is measured at each seed and holds when at least ``min_fraction`` of them
do; the fraction is shown. ``not computed yet`` when a result is not in the cache, ``could not
measure`` when the run or the measure failed or gave no number (nan; the note says why), ``no
such scale`` when the experiment has no preset at that scale (a paper preset identical to the
quick one is not paper scale). A claim's headline ``status`` is the status at its own preset's
scale. Every number carries its setup (the experiment's ``setups[preset]``; the paper's number
``Claim.paper_setup``), and sanity checks (``Claim.kind == "sanity"``) are kept apart from claims
about the phenomenon.
"""

from __future__ import annotations

import dataclasses
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
SHOWN = "shown on other data"  # the words name the data set: "shown on Fashion-MNIST"
NOT_SHOWN = "not shown on other data"
OTHER_DATA = "measured on other data"  # the paper's number itself, measured on a stand-in: no verdict
NOT_COMPUTED = "not computed yet"
FAILED = "could not measure"
NO_SCALE = "no such scale"
STATUSES = (REPRODUCED, DIFFERS, SHOWN, NOT_SHOWN, OTHER_DATA, NOT_COMPUTED, FAILED)
SCALES = ("quick", "paper", "real")
KINDS = ("phenomenon", "sanity")

#: A config's ``dataset`` value -> the data set's name on the scoreboard (a subset or a resized copy
#: of a data set is that data set; its size is in the setup beside the number).
DATA_NAMES = {
    "synthetic": "synthetic data",
    "digits": "digits",
    "mnist1d": "MNIST-1D",
    "mnist": "MNIST",
    "mnist_5k": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "fashion_mnist_14": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
}


def scale_of(preset: str) -> str:
    """``paper`` for presets whose name starts with "paper" (GPU-sized), ``real`` for "real..."
    (real images sized for a CPU), else ``quick``."""
    if preset.startswith("paper"):
        return "paper"
    return "real" if preset.startswith("real") else "quick"


def dataset_of(exp: Experiment, preset: str) -> str:
    """The data set a preset's results are measured on: its config's ``dataset`` field, else the
    experiment's ``datasets[preset]``, else synthetic data (named as in :data:`DATA_NAMES`)."""
    name = getattr(exp.presets[preset], "dataset", None) or dict(exp.datasets).get(preset, "synthetic")
    return DATA_NAMES.get(name, name)


def all_claims() -> list[Claim]:
    """Every registered claim, in the order of the phenomena list, then of registration."""
    order = {p.name: i for i, p in enumerate(phenomena())}
    exps = sorted(experiments().values(), key=lambda e: order.get(e.phenomenon, len(order)))
    return [claim for exp in exps for claim in exp.claims]


def presets_for(claim: Claim, exp: Experiment) -> dict[str, str | None]:
    """The preset measured at each scale: ``{"quick": ..., "paper": ..., "real": ...}`` (None where
    absent). A paper preset identical to the quick one is no paper scale."""
    default = {
        "quick": "quick",
        "paper": claim.paper_preset or "paper",  # e.g. the paper's own small-final-step run
        "real": claim.real_preset,
    }
    default[scale_of(claim.preset)] = claim.preset
    out = {scale: (p if p and p in exp.presets else None) for scale, p in default.items()}
    if out["paper"] and out["quick"] and exp.presets[out["paper"]] == exp.presets[out["quick"]]:
        out["paper"] = None
    return out


@dataclass
class FrameSource:
    """Loads each (experiment, preset) default frame at most once; computes only quick scale, and
    only with ``compute=True``. Failures are remembered as text, never raised."""

    compute: bool = False
    device: str = "auto"
    progress: Progress | None = None  # forwarded to a computing run
    frames: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(self, name: str, preset: str, seed: int | None = None) -> pd.DataFrame | None:
        """The default frame of ``name`` at ``preset`` (with its config's ``seed`` replaced when
        given), or None (not cached, or failed: see errors)."""
        key = (name, preset) if seed is None else (name, preset, seed)
        if key in self.frames or key in self.errors:
            return self.frames.get(key)
        config = experiments()[name].presets[preset]
        if seed is not None:
            config = dataclasses.replace(config, seed=seed)
        try:
            frame = load_cached(name, config, preset=preset)
            if frame is None and self.compute and scale_of(preset) == "quick":
                frame = run(name, config, preset=preset, device=self.device, progress=self.progress)
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
    statuses: dict[str, str]  # scale ("quick", "paper", "real") -> one of STATUSES or NO_SCALE
    note: str = ""  # why a value is missing or could not be measured
    cache_keys: tuple[str, ...] = ()  # keys of the frames measured
    setups: dict[str, str] = field(default_factory=dict)  # scale -> "data set, model, scale" of ours
    presets: dict[str, str | None] = field(default_factory=dict)  # scale -> preset measured
    real: float | None = None  # ours at the real-data CPU scale (None: not cached)
    words: dict[str, str] = field(default_factory=dict)  # scale -> the status in words ("shown on digits")
    data: dict[str, str] = field(default_factory=dict)  # scale -> the data set measured

    def value(self, scale: str) -> float | None:
        return {"quick": self.quick, "paper": self.paper, "real": self.real}[scale]

    def words_at(self, scale: str) -> str:
        """The status at ``scale`` in words (the data set named where it is not the paper's)."""
        return self.words.get(scale) or self.statuses[scale]

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


def within_tolerance(claim: Claim, value: float) -> tuple[bool, str]:
    """Whether ``value`` is within the claim's stated tolerance of the paper's number (True when
    the paper has none), and, when not, why in words. A claim with a number and no tolerance
    cannot be judged (ValueError)."""
    if claim.paper_value is None:
        return True, ""
    if claim.tolerance is None:
        raise ValueError(f"{claim.id} has the paper's number {claim.paper_value:g} but states no tolerance")
    allowed = claim.tolerance * (abs(claim.paper_value) if claim.relative else 1.0)
    if abs(value - claim.paper_value) <= allowed * (1 + 1e-9):
        return True, ""
    stated = f"{claim.tolerance:.0%} of it" if claim.relative else f"{claim.tolerance:g}"
    return (
        False,
        f"ours {format_value(value)} vs the paper's {format_value(claim.paper_value)}: further than {stated}",
    )


@dataclass(frozen=True)
class Verdict:
    """One scale's status (one of :data:`STATUSES`), in words, and why where it differs."""

    status: str
    words: str
    note: str = ""


def judge(
    claim: Claim, holds: bool, value: float, data: str, seeds: tuple[int, int] | None = None
) -> Verdict:
    """The status of a claim whose measure gave ``value`` on ``data`` (a :data:`DATA_NAMES` name);
    ``holds`` is ``claim.holds(value)``, or for a stochastic claim whether enough seeds held
    (``seeds`` = (held, measured), shown in the words)."""
    count = f" ({seeds[0]} of {seeds[1]} seeds hold)" if seeds else ""
    if claim.paper_data and data != claim.paper_data:
        if not claim.qualitative:
            return Verdict(OTHER_DATA, f"measured on {data}; the paper's number is on {claim.paper_data}")
        return (
            Verdict(SHOWN, f"shown on {data}{count}")
            if holds
            else Verdict(NOT_SHOWN, f"not shown on {data}{count}")
        )
    within, why = within_tolerance(claim, value)
    if holds and within:
        return Verdict(REPRODUCED, REPRODUCED + count)
    return Verdict(DIFFERS, DIFFERS + count, why)


def _judge(claim: Claim, values: list[float], data: str) -> Verdict:
    try:
        if claim.seeds:
            held = sum(bool(claim.holds(v)) for v in values)
            enough = held >= claim.min_fraction * len(values) - 1e-12
            return judge(claim, enough, values[0], data, (held, len(values)))
        return judge(claim, bool(claim.holds(values[0])), values[0], data)
    except Exception as err:  # a holds() that cannot read this value, a missing tolerance
        return Verdict(FAILED, FAILED, f"judging failed: {type(err).__name__}: {err}")


def _frames(claim: Claim, source: FrameSource, preset: str) -> tuple[list[pd.DataFrame], str]:
    """The frames a claim is measured on at ``preset`` (one per seed for a stochastic claim), or
    ([], why) when one is missing ("" when merely not cached)."""
    seeds = claim.seeds or (None,)
    frames, missing, errors = [], 0, []
    for seed in seeds:
        frame = source.get(claim.experiment, preset, seed)
        key = (claim.experiment, preset) if seed is None else (claim.experiment, preset, seed)
        if frame is None:
            missing += 1
            if key in source.errors:
                errors.append(source.errors[key])
        else:
            frames.append(frame)
    if errors:
        return [], "; ".join(errors)
    if missing:
        return [], "" if not claim.seeds else f"{len(frames)} of {len(seeds)} seeds cached"
    return frames, ""


def evaluate(claim: Claim, source: FrameSource) -> ClaimResult:
    """Measure one claim at every scale and judge each on its own measurement and data set."""
    exp = experiments()[claim.experiment]
    values: dict[str, float | None] = dict.fromkeys(SCALES)
    statuses: dict[str, str] = {}
    words: dict[str, str] = {}
    failures: dict[str, str] = {}
    setups: dict[str, str] = {}
    data: dict[str, str] = {}
    keys = []
    presets = presets_for(claim, exp)
    for scale in SCALES:
        preset = presets.get(scale)
        if preset is None:
            statuses[scale] = NO_SCALE
            continue
        setups[scale] = dict(getattr(exp, "setups", {}) or {}).get(preset, "")
        data[scale] = dataset_of(exp, preset)
        frames, error = _frames(claim, source, preset)
        if not frames:
            statuses[scale] = FAILED if error and "seeds cached" not in error else NOT_COMPUTED
            if error:
                failures[scale] = f"{preset}: {error}"
            continue
        keys += [frame.attrs.get("cache_key", "") for frame in frames]
        measured = [_measure(claim, frame) for frame in frames]
        bad = [note for value, note in measured if value is None]
        if bad:
            statuses[scale], note = FAILED, bad[0]
        else:
            values[scale] = measured[0][0]
            verdict = _judge(claim, [value for value, _ in measured], data[scale])
            statuses[scale], words[scale], note = verdict.status, verdict.words, verdict.note
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
        real=values["real"],
        words=words,
        data=data,
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
    "ours (real)",
    "status (real)",
    "setup (real)",
    "words (quick)",
    "words (paper)",
    "words (real)",
    "status",
    "page",
    "note",
]


def scoreboard_frame(results: list[ClaimResult]) -> pd.DataFrame:
    """The scoreboard as a table: one row per claim, primitive columns (for st.dataframe and CSV).

    ``status`` is the status at the claim's own scale; ``status (quick|paper|real)`` judge each
    scale on its own number (one of :data:`STATUSES`), ``words (scale)`` say it with the data set
    named ("shown on Fashion-MNIST", "reproduced (3 of 3 seeds hold)"), the setup stands beside it."""
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
                "ours (real)": format_value(r.real),
                "status (real)": r.statuses["real"],
                "setup (real)": r.setups.get("real", ""),
                **{f"words ({scale})": r.words_at(scale) for scale in SCALES},
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
