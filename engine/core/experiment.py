"""Experiment specs, the registry, and the one entry point :func:`run` that everybody calls.

An :class:`Experiment` ties a frozen Config class to a compute function, presets, an explicit
science version, charts and the paper's claims.  Phenomenon modules build their experiments and
list them in a module-level ``EXPERIMENTS`` tuple; :mod:`engine.phenomena` collects them.

Flow: ``run(name, config)`` -> validate -> cache hit? load : compute on the chosen device -> tidy
``pandas.DataFrame``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .validation import ConfigError

#: progress(fraction in [0, 1], message) -- a callback the page or the CLI passes in.
Progress = Callable[[float, str], None]


class RunContext:
    """What a compute function gets besides its config.

    ``device``: a torch device string, or a function that chooses one (``engine.devices.
    resolve_device``), called the first time :attr:`device` is read: an experiment that never reads
    it (numpy science) never imports torch to learn which devices exist.
    """

    __slots__ = ("_device", "progress")

    def __init__(self, device: str | Callable[[], str] = "cpu", progress: Progress | None = None):
        self._device = device
        self.progress = progress

    @property
    def device(self) -> str:
        """The torch device this run computes on, chosen on first use."""
        if callable(self._device):
            self._device = self._device()
        return self._device

    @property
    def device_used(self) -> str:
        """The device the run read (``cpu`` when it never asked: its science ran in numpy)."""
        return "cpu" if callable(self._device) else self._device

    def __repr__(self) -> str:
        return f"RunContext(device={self._device!r}, progress={self.progress!r})"

    def report(self, fraction: float, message: str = "") -> None:
        """Forward progress, clipped to [0, 1]; a no-op without a callback."""
        if self.progress is not None:
            self.progress(min(max(float(fraction), 0.0), 1.0), message)

    def run(
        self,
        name: str,
        config: Any = None,
        *,
        preset: str = "quick",
        share: tuple[float, float] = (0.0, 1.0),
    ) -> pd.DataFrame:
        """Another registered experiment's frame, through the cache: how an experiment that
        composes others reads their results (a hit when they were computed before, by anyone;
        computed and stored for the next reader when not).

        ``config``: a Config, a dict of overrides on ``preset``'s default, or None (as
        :func:`engine.run`). It runs on this context's device; its progress fills the slice
        ``share = (start, width)`` of this run's progress bar. The inner run always uses the cache,
        also when the outer one was asked to recompute (``use_cache=False`` concerns the outer
        result only). The frame's ``attrs["cache"]`` says "hit" or "computed".
        """
        from .runner import run  # runner imports this module: imported at call time

        start, width = (float(share[0]), float(share[1]))

        def forward(fraction: float, message: str) -> None:
            self.report(start + fraction * width, f"{name}: {message}" if message else name)

        return run(name, config, preset=preset, device=self.device, progress=forward)


@dataclass(frozen=True)
class Claim:
    """One claim of a paper that an experiment checks.

    ``measure(frame) -> float`` reads our number from the experiment's result frame;
    ``holds(value) -> bool`` says whether our number reproduces the claim.
    """

    id: str  # short unique slug, e.g. "lae.rag_aligns"
    text: str  # the claim in words, as a student would put it in a report
    experiment: str  # registered experiment name whose frame is measured
    measure: Callable[[pd.DataFrame], float]
    holds: Callable[[float], bool]
    paper_value: float | None = None  # the paper's number, where it has one
    unit: str = ""
    preset: str = "quick"  # the preset whose default config is measured
    paper_preset: str = "paper"  # the preset measured at paper scale when ``preset`` is a quick one
    kind: str = (
        "phenomenon"  # "phenomenon" (can fail if the effect is absent) or "sanity" (fails only on a bug)
    )
    paper_setup: str = ""  # what the paper's number measured: data set, model, scale ("CIFAR-10, ResNet-110")
    # Verdicts (engine.present.claims): "reproduced"/"differs" only on the paper's own data set.
    paper_data: str = ""  # the data set of the paper's claim ("CIFAR-10", "MNIST"); "" = its own construction
    qualitative: bool = True  # False: the claim is the paper's number itself (no verdict on other data)
    tolerance: float | None = None  # where paper_value is given: |ours - paper| allowed for a verdict
    relative: bool = False  # tolerance as a fraction of |paper_value|
    seeds: tuple[int, ...] = ()  # stochastic: judged on the preset's config at each of these seeds
    min_fraction: float = 1.0  # ... and holds when at least this fraction of the seeds hold
    real_preset: str | None = "real"  # the preset measured on real data at CPU scale (None: not judged there)


@dataclass(frozen=True)
class Cost:
    """A run's estimated cost before it starts: peak memory (bytes) and a rough time (seconds on
    one laptop core), with the config fields that drive it (named in a refusal)."""

    bytes: float
    seconds: float = 0.0
    drivers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: config class, compute function, presets, version and charts."""

    name: str  # unique, "<phenomenon>.<what>", e.g. "linear_ae.dynamics"
    title: str
    config_cls: type
    compute: Callable[[Any, RunContext], pd.DataFrame]  # (config, ctx) -> tidy frame
    presets: Mapping[str, Any]  # "quick" and "paper" -> the preset's default config
    version: int  # bump when the science changes: old cache entries are never served
    charts: Mapping[str, Callable[[pd.DataFrame], Any]]  # name -> frame -> alt.Chart; first = default
    description: str = ""
    sweeps: Mapping[str, Callable[[], list]] = field(default_factory=dict)  # preset -> grid of configs
    claims: tuple[Claim, ...] = ()
    setups: Mapping[str, str] = field(default_factory=dict)  # preset -> "data set, model, scale" in words
    estimate: Callable[[Any], Cost] | None = None  # config -> Cost, checked before a run starts
    datasets: Mapping[str, str] = field(
        default_factory=dict
    )  # preset -> data set, where no config field says

    @property
    def phenomenon(self) -> str:
        return self.name.split(".", 1)[0]

    def grid(self, preset: str) -> list:
        """The configs that ``precompute --preset`` fills: the sweep if any, else the preset alone."""
        if preset not in self.presets:
            raise ConfigError(
                f"The 'preset' parameter of {self.name} must be one of "
                f"{', '.join(repr(p) for p in self.presets)}. Got {preset!r} instead."
            )
        if preset in self.sweeps:
            return list(self.sweeps[preset]())
        return [self.presets[preset]]

    def chart(self, frame: pd.DataFrame, which: str | None = None) -> Any:
        """The named chart (default: the first) of a result frame."""
        key = which or next(iter(self.charts))
        if key not in self.charts:
            raise ConfigError(
                f"The 'chart' parameter of {self.name} must be one of "
                f"{', '.join(repr(c) for c in self.charts)}. Got {which!r} instead."
            )
        return self.charts[key](frame)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config's fields as plain JSON-able values (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def config_from_dict(config_cls: type, values: Mapping[str, Any], base: Any = None) -> Any:
    """Build (and so validate) a config from plain values, starting from ``base`` or the defaults.

    Unknown field names raise :class:`ConfigError` naming the allowed ones; lists become tuples.
    """
    names = [f.name for f in dataclasses.fields(config_cls)]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ConfigError(
            f"{config_cls.__name__} has no parameter {unknown[0]!r}; allowed: {', '.join(names)}."
        )
    merged = config_to_dict(base) if base is not None else {}
    merged.update(values)
    merged = {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()}
    return config_cls(**merged)


def parse_field_value(config_cls: type, name: str, text: str) -> Any:
    """Parse a command-line ``field=value`` string into the field's declared type."""
    hints = typing.get_type_hints(config_cls)
    if name not in hints:
        names = ", ".join(f.name for f in dataclasses.fields(config_cls))
        raise ConfigError(f"{config_cls.__name__} has no parameter {name!r}; allowed: {names}.")
    kind = hints[name]
    origin = typing.get_origin(kind)
    try:
        if origin is tuple:
            inner = typing.get_args(kind)[0]
            parts = [p for p in text.replace(" ", "").split(",") if p]
            return tuple(_parse_scalar(inner, p) for p in parts)
        return _parse_scalar(kind, text)
    except ValueError:
        raise ConfigError(
            f"The '{name}' parameter of {config_cls.__name__} must be a {getattr(kind, '__name__', kind)}. "
            f"Got {text!r} instead."
        ) from None


def _parse_scalar(kind: Any, text: str) -> Any:
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    return text
