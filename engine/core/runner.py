"""``engine.run``: validate, look in the cache, else compute on the chosen device."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import cache
from .devices import resolve_device
from .experiment import Experiment, Progress, config_from_dict, config_to_dict
from .compute import compute_entry
from .registry import experiments, get_experiment
from .validation import ConfigError

def resolve_config(name: str, config: Any = None, *, preset: str = "quick") -> Any:
    """A validated config: ``None`` means the preset's default; a dict is merged onto it."""
    exp = get_experiment(name)
    if config is None:
        return exp.grid(preset)[0] if preset not in exp.presets else exp.presets[preset]
    if isinstance(config, dict):
        if preset not in exp.presets:
            exp.grid(preset)  # raises the clear message
        return config_from_dict(exp.config_cls, config, base=exp.presets[preset])
    if not isinstance(config, exp.config_cls):
        raise ConfigError(
            f"The 'config' parameter of {name} must be a {exp.config_cls.__name__}. "
            f"Got {type(config).__name__} instead."
        )
    return config


def run(
    name: str,
    config: Any = None,
    *,
    preset: str = "quick",
    device: str = "auto",
    progress: Progress | None = None,
    use_cache: bool = True,
) -> pd.DataFrame:
    """Run (or load) one experiment and return its tidy frame.

    ``config``: a Config instance, a dict of overrides on ``preset``'s default, or ``None``.
    The frame's ``attrs`` carry provenance: experiment, version, config, cache ("hit",
    "computed" or "recomputed (corrupt entry)"), seconds, device.
    """
    exp = get_experiment(name)
    cfg = resolve_config(name, config, preset=preset)
    values = config_to_dict(cfg)
    dev = resolve_device(device)
    if use_cache:
        entry, how = cache.load_or_compute(name, exp.version, values, device=dev, progress=progress)
    else:
        entry, how = compute_entry(name, values, device=dev, progress=progress), "computed"
    return _with_provenance(entry, exp, values, how)


def load_cached(name: str, config: Any = None, *, preset: str = "quick") -> pd.DataFrame | None:
    """Like :func:`run`, but only from the cache: None when the result is absent or damaged.

    Never computes, so a scoreboard or a talk preflight cannot start a paper-scale run by accident.
    """
    exp = get_experiment(name)
    values = config_to_dict(resolve_config(name, config, preset=preset))
    entry = cache.load_valid(name, exp.version, values)
    return None if entry is None else _with_provenance(entry, exp, values, "hit")


def _with_provenance(entry: dict[str, Any], exp: Experiment, values: dict[str, Any], how: str) -> pd.DataFrame:
    """The entry's frame (a copy) with ``attrs``: experiment, version, config, cache, cache_key,
    seconds, device, computed_at."""
    frame = entry["frame"].copy()
    frame.attrs = {
        "experiment": exp.name,
        "version": exp.version,
        "config": values,
        "cache": how,
        "cache_key": cache.entry_key(exp.name, exp.version, values),
        **{k: entry["meta"].get(k) for k in ("seconds", "device", "computed_at")},
    }
    return frame


def is_cached(name: str, config: Any = None, *, preset: str = "quick") -> bool:
    """Whether ``run(name, config, preset=preset)`` would be a cache hit."""
    exp = get_experiment(name)
    cfg = resolve_config(name, config, preset=preset)
    return cache.is_cached(name, exp.version, config_to_dict(cfg))
