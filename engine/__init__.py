"""Phenomena Lab's engine: every computation, cached, callable from pages, the CLI and notebooks.

>>> import engine
>>> frame = engine.run("linear_ae.dynamics")            # the quick preset's default
>>> engine.is_cached("linear_ae.dynamics", {"k": 6})     # a dict overrides the preset's fields

The names below load on first use: ``import engine`` itself imports nothing heavy, so that
``python -m engine figure`` can start its drawing helper before pandas loads
(:mod:`engine.present.vl_helper`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for editors and type checkers; at run time see __getattr__
    from engine.core.experiment import (
        Claim,
        Cost,
        Experiment,
        RunContext,
        config_from_dict,
        config_to_dict,
    )
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

_HOMES = ("engine.core.experiment", "engine.core.runner", "engine.core.validation")  # where __all__ lives


def __getattr__(name: str):
    if name == "EXPERIMENTS":  # every phenomenon's registry: loaded when asked for
        return __getattr__("experiments")()
    if name in __all__:
        for home in _HOMES:
            module = importlib.import_module(home)
            if hasattr(module, name):
                globals()[name] = value = getattr(module, name)  # the next access is a plain attribute
                return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
