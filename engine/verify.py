"""Check results by recomputing them: which entries are cheap enough to recompute here, which
ones ``--verify N`` picks (every scale first), what it leaves unverified and why, and whether two
frames agree within tolerance. Used by ``python -m engine import B --verify N``."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.core.experiment import config_from_dict, config_to_dict
from engine.core.registry import get_experiment
from engine.core.runner import canonical_values
from engine.core.validation import short_repr

RTOL, ATOL = 1e-4, 1e-6  # --verify tolerance on numeric columns
MAX_VERIFY_SECONDS = 30.0  # an entry estimated to take longer to recompute is not recomputed


def scale_of(experiment: str, config: dict, grids: dict | None = None) -> str:
    """The preset whose grid holds ``config`` ("quick", "paper", ...), else "custom".

    ``grids`` memoises each (experiment, preset) grid across calls."""
    exp = get_experiment(experiment)
    grids = {} if grids is None else grids
    for preset in sorted(exp.presets, key=lambda p: (p != "quick", p != "paper", p)):
        if (experiment, preset) not in grids:
            try:
                grids[experiment, preset] = [canonical_values(c) for c in exp.grid(preset)]
            except Exception:  # a grid that cannot be built says nothing about this entry
                grids[experiment, preset] = []
        if config in grids[experiment, preset]:
            return preset
    return "custom"


def recompute_cost(experiment: str, config: dict, scale: str) -> tuple[bool, str]:
    """Whether an entry is cheap enough to recompute here, and if not, why (one phrase).

    Cheap: a quick-scale entry, or one whose cost model estimates at most MAX_VERIFY_SECONDS."""
    if scale == "quick":
        return True, ""
    exp = get_experiment(experiment)
    if exp.estimate is None:
        return False, "no cost estimate to tell whether it is cheap to recompute"
    try:
        seconds = float(exp.estimate(config_from_dict(exp.config_cls, config)).seconds)
    except Exception:
        return False, "its cost estimate failed"
    if seconds <= MAX_VERIFY_SECONDS:
        return True, ""
    return (
        False,
        f"estimated {_duration(seconds)} to recompute, over the {MAX_VERIFY_SECONDS:.0f} s limit of --verify",
    )


def is_quick_scale(experiment: str, config: dict) -> bool:
    """Quick scale or cheap: one of the quick preset's grid configs, or estimated under 30 s."""
    return recompute_cost(experiment, config, scale_of(experiment, config))[0]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _differs_from_quick(experiment: str, config: dict) -> str:
    """The fields of ``config`` that differ from the quick preset, as ``k=13, n=1000000000``."""
    exp = get_experiment(experiment)
    base = config_to_dict(exp.presets["quick"]) if "quick" in exp.presets else {}
    text = ", ".join(f"{k}={v}" for k, v in config.items() if base.get(k) != v) or "the quick preset"
    return short_repr(text, 100).strip("'")


@dataclass
class VerifyPlan:
    """Which entries ``--verify N`` recomputes, and which it leaves unverified (and why)."""

    items: list[tuple[str, dict]]  # (experiment, canonical config) per staged entry
    chosen: list[int] = field(default_factory=list)  # indices into items, to recompute
    scales: dict[int, str] = field(default_factory=dict)  # index -> scale
    costly: dict[int, str] = field(default_factory=dict)  # index -> why it is not recomputed
    unsampled: list[int] = field(default_factory=list)  # cheap, but over N

    def unverified_lines(self) -> list[str]:
        """One line per group of entries left unverified: each costly entry named when alone in
        its (experiment, scale, reason) group, else counted."""
        groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for i, why in self.costly.items():
            groups[self.items[i][0], self.scales[i], why].append(i)
        out = []
        for (experiment, scale, why), members in sorted(groups.items()):
            if len(members) == 1:
                config = _differs_from_quick(experiment, self.items[members[0]][1])
                out.append(f"{experiment} {config} ({scale} scale): {why}")
            else:
                out.append(f"{len(members)} {scale}-scale entries of {experiment}: {why}")
        if self.unsampled:
            n = len(self.unsampled)
            out.append(
                f"{n} {'entry' if n == 1 else 'entries'} not sampled (cheap enough to recompute; "
                "a larger --verify N checks them)"
            )
        return out


def verify_plan(items: list[tuple[str, dict]], count: int, rng: random.Random) -> VerifyPlan:
    """Pick up to ``count`` cheap entries to recompute: one of each scale in turn (quick, paper,
    then others), at random within a scale; everything else is recorded as unverified."""
    plan = VerifyPlan(items)
    grids: dict = {}
    by_scale: dict[str, list[int]] = defaultdict(list)
    for i, (experiment, config) in enumerate(items):
        scale = plan.scales[i] = scale_of(experiment, config, grids)
        cheap, why = recompute_cost(experiment, config, scale)
        if cheap:
            by_scale[scale].append(i)
        else:
            plan.costly[i] = why
    order = sorted(by_scale, key=lambda p: (p != "quick", p != "paper", p))
    for scale in order:
        rng.shuffle(by_scale[scale])
    while len(plan.chosen) < count and any(by_scale.values()):
        for scale in order:
            if by_scale[scale] and len(plan.chosen) < count:
                plan.chosen.append(by_scale[scale].pop())
    plan.unsampled = sorted(i for group in by_scale.values() for i in group)
    return plan


def frames_differ(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """'' if two frames agree (numeric columns within RTOL/ATOL, others exactly), else why not."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"shape {a.shape} vs {b.shape} or other columns"
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xa, ya = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
            if not np.allclose(xa, ya, rtol=RTOL, atol=ATOL, equal_nan=True):
                gap = np.nanmax(np.abs(xa - ya)) if len(xa) else 0.0
                return f"column {short_repr(col, 40)} differs by up to {gap:.3g}"
        elif not x.astype(str).equals(y.astype(str)):
            return f"column {short_repr(col, 40)} differs"
    return ""
