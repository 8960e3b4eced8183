"""Phenomena Lab's engine: every computation, cached, callable from pages, the CLI and notebooks.

>>> import engine
>>> frame = engine.run("linear_ae.dynamics")            # the quick preset's default
>>> engine.is_cached("linear_ae.dynamics", {"k": 6})     # a dict overrides the preset's fields
"""

from __future__ import annotations

from engine.core.experiment import Claim, Cost, Experiment, RunContext, config_from_dict, config_to_dict
from engine.core.runner import (
    RunError,
    experiments,
    get_experiment,
    is_cached,
    load_cached,
    resolve_config,
    run,
)
from engine.core.validation import ConfigError


def __getattr__(name: str):
    if name == "EXPERIMENTS":  # lazy: importing engine must not import every phenomenon
        return experiments()
    raise AttributeError(name)


__all__ = [
    "EXPERIMENTS",
    "Claim",
    "Cost",
    "ConfigError",
    "Experiment",
    "RunContext",
    "RunError",
    "config_from_dict",
    "config_to_dict",
    "experiments",
    "get_experiment",
    "is_cached",
    "load_cached",
    "resolve_config",
    "run",
]
