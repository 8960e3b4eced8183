"""``engine.run``: validate, look in the cache, else check the cost and compute on the chosen device."""

from __future__ import annotations

import functools
import logging
import os
import typing
from numbers import Integral, Real
from typing import Any

import pandas as pd

from . import cache
from .compute import compute_entry
from .devices import check_device_choice, resolve_device
from .experiment import Experiment, Progress, config_from_dict, config_to_dict
from .fingerprint import is_current
from .registry import experiments, get_experiment  # noqa: F401 (experiments: re-exported)
from .validation import ConfigError, short_repr

log = logging.getLogger("engine")


class RunError(RuntimeError):
    """A run failed inside its computation (out of memory, a numerical or device error).

    The message is one line meant for users: the experiment, the config fields that drive its cost
    and the underlying error, cut short. The original exception is chained as ``__cause__``.
    """


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


def canonical_values(config: Any) -> dict[str, Any]:
    """A config's fields as the plain values its cache key is computed from.

    Validated configs are already coerced (``np.int64(2)`` -> 2, 1 -> 1.0 for a float field); for a
    config class that is not, ints, floats and bools are coerced here from the declared types, so
    equal configs share one key whatever numeric types the caller used.
    """
    values = config_to_dict(config)
    try:
        hints = _type_hints(type(config))
    except Exception:  # unresolvable annotations: keep the values as they are
        return values
    for name, value in values.items():
        values[name] = _coerce(hints.get(name), value)
    return values


@functools.lru_cache(maxsize=256)
def _type_hints(config_cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` of a config class, resolved once per class (an import checks
    hundreds of configs of a handful of classes)."""
    return typing.get_type_hints(config_cls)


def _coerce(kind: Any, value: Any) -> Any:
    if kind is bool and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    if kind is int and isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    if kind is float and isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(kind) is tuple and isinstance(value, (list, tuple)):
        inner = typing.get_args(kind)[0] if typing.get_args(kind) else None
        return [_coerce(inner, v) for v in value]
    return value


def available_memory() -> int | None:
    """Bytes of memory this machine can still give a run (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_cost(exp: Experiment, config: Any) -> None:
    """Refuse (ConfigError) a run whose estimated peak memory exceeds the memory available now."""
    if exp.estimate is None:
        return
    try:
        cost = exp.estimate(config)
        needed = float(cost.bytes)
    except Exception as err:  # a broken estimate must not block runs; say so once
        log.warning("cost estimate of %s failed (%s); running without the guard", exp.name, short_repr(err))
        return
    available = available_memory()
    if available is None or needed <= available:
        return
    drivers = (
        ", ".join(f"{d}={short_repr(getattr(config, d, '?'), 20)}" for d in cost.drivers) or "its config"
    )
    raise ConfigError(
        f"{exp.name} with {drivers} needs about {_gib(needed)} of memory, but {_gib(available)} is "
        f"available; lower {' or '.join(cost.drivers) or 'the config sizes'}."
    )


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


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
    "computed", "recomputed (corrupt entry)" or "recomputed (code changed)"), seconds, device,
    source, and ``cache_notice`` (one line) when a computed result could not be stored (a full disk,
    a read-only cache).
    Raises ConfigError for a bad config or one whose estimated memory exceeds what is available
    (only when it would be computed), and :class:`RunError` for MemoryError and RuntimeError inside
    the computation.
    """
    exp = get_experiment(name)
    cfg = resolve_config(name, config, preset=preset)
    values = canonical_values(cfg)
    check_device_choice(device)  # which devices exist is asked only when something is computed

    def before_compute() -> None:
        check_cost(exp, cfg)
        if device not in ("auto", "cpu"):
            resolve_device(device)  # a GPU asked for by name: a clear error now if it is absent

    def chosen_device() -> str:  # called when the computation first reads ctx.device
        return resolve_device(device)

    notice = ""
    try:
        if use_cache:
            entry, how, notice = cache.load_or_compute(
                name,
                exp.version,
                values,
                device=chosen_device,
                progress=progress,
                before_compute=before_compute,
            )
        else:
            before_compute()
            entry = compute_entry(name, values, device=chosen_device, progress=progress)
            how = "computed"
    except MemoryError as err:
        raise RunError(
            f"{name} ran out of memory{_driven_by(exp, cfg)}; try smaller values. "
            f"({type(err).__name__}: {_cut(str(err), 80)})"
        ) from err
    except RuntimeError as err:
        if isinstance(err, RunError):
            raise
        what = "ran out of memory" if "out of memory" in str(err).lower() else "failed"
        raise RunError(
            f"{name} {what}{_driven_by(exp, cfg)}: {type(err).__name__}: {_cut(str(err), 120)}"
        ) from err
    frame = _with_provenance(entry, exp, values, how)
    if notice:
        frame.attrs["cache_notice"] = notice
    return frame


def _cut(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _driven_by(exp: Experiment, cfg: Any) -> str:
    """`` (n=..., d=...)`` naming the estimate's drivers, or ''."""
    if exp.estimate is None:
        return ""
    try:
        drivers = exp.estimate(cfg).drivers
    except Exception:
        return ""
    return (
        " (" + ", ".join(f"{d}={short_repr(getattr(cfg, d, '?'), 20)}" for d in drivers) + ")"
        if drivers
        else ""
    )


def load_cached(
    name: str, config: Any = None, *, preset: str = "quick", stale_ok: bool = False
) -> pd.DataFrame | None:
    """Like :func:`run`, but only from the cache: None when the result is absent, damaged or was
    computed by other code of its phenomenon (:mod:`engine.core.fingerprint`).

    With ``stale_ok`` such a result is returned all the same, marked: ``attrs["cache"]`` is
    "stale (computed by other code)". Never computes, so a scoreboard or a talk preflight cannot
    start a paper-scale run by accident.
    """
    exp = get_experiment(name)
    values = canonical_values(resolve_config(name, config, preset=preset))
    entry = cache.load_valid(name, exp.version, values, stale_ok=stale_ok)
    if entry is None:
        return None
    how = "hit" if is_current(name, entry.get("meta")) else "stale (computed by other code)"
    return _with_provenance(entry, exp, values, how)


def _with_provenance(
    entry: dict[str, Any], exp: Experiment, values: dict[str, Any], how: str
) -> pd.DataFrame:
    """The entry's frame (a copy) with ``attrs``: experiment, version, config, cache, cache_key,
    seconds, device, computed_at, host, source (the code's fingerprint) (and imported_from,
    imported_at for an imported entry)."""
    frame = entry["frame"].copy()
    meta = entry.get("meta", {})
    frame.attrs = {
        "experiment": exp.name,
        "version": exp.version,
        "config": values,
        "cache": how,
        "cache_key": cache.entry_key(exp.name, exp.version, values),
        **{k: meta.get(k) for k in ("seconds", "device", "computed_at", "host", "source")},
        **{k: meta[k] for k in ("imported_from", "imported_at") if k in meta},
    }
    return frame


def is_cached(name: str, config: Any = None, *, preset: str = "quick") -> bool:
    """Whether ``run(name, config, preset=preset)`` would be a cache hit."""
    exp = get_experiment(name)
    cfg = resolve_config(name, config, preset=preset)
    return cache.is_cached(name, exp.version, canonical_values(cfg))
