"""Config validation with scikit-learn's message shape.

Every check raises :class:`ConfigError` with one line that names the parameter, the class,
what is allowed and what was given, for example::

    The 'width' parameter of DoubleDescentConfig must be an int in [1, 4096]. Got 0 instead.

Use these helpers from a frozen dataclass's ``__post_init__`` so that a bad value fails before
any cache look-up or computation.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Iterable


class ConfigError(ValueError):
    """A parameter is out of range or of the wrong type; the message is meant for users."""


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a message never echoes a huge input whole."""
    try:
        text = repr(value)
    except ValueError:  # int too large to print in full
        text = f"<int with over {limit} digits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(config: Any, field: str, allowed: str, value: Any) -> None:
    raise ConfigError(
        f"The '{field}' parameter of {type(config).__name__} must be {allowed}. Got {short_repr(value)} instead."
    )


def check_int(config: Any, field: str, low: int | None = None, high: int | None = None) -> None:
    """Require an int in the closed interval [low, high] (either bound may be None)."""
    value = getattr(config, field)
    ok = isinstance(value, Integral) and not isinstance(value, bool)
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        _fail(config, field, f"an int in {_interval(low, high, True, True)}", value)


def check_float(
    config: Any,
    field: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Require a finite real number in [low, high]; ``low_open``/``high_open`` exclude a bound."""
    value = getattr(config, field)
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        v = float(value)
        if low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v < high if high_open else v <= high
    if not ok:
        _fail(config, field, f"a float in {_interval(low, high, not low_open, not high_open)}", value)


def check_choice(config: Any, field: str, choices: Iterable[Any]) -> None:
    """Require one of ``choices``."""
    value = getattr(config, field)
    choices = tuple(choices)
    if value not in choices:
        _fail(config, field, "one of " + ", ".join(repr(c) for c in choices), value)


def check_bool(config: Any, field: str) -> None:
    """Require a bool."""
    value = getattr(config, field)
    if not isinstance(value, bool):
        _fail(config, field, "a bool", value)


def check_float_tuple(
    config: Any,
    field: str,
    low: float | None = None,
    high: float | None = None,
    *,
    min_len: int = 1,
    max_len: int | None = None,
    increasing: bool = False,
) -> None:
    """Require a tuple of finite floats in [low, high], of length in [min_len, max_len]."""
    value = getattr(config, field)
    allowed = f"a tuple of {min_len}..{max_len or 'any'} floats in {_interval(low, high, True, True)}"
    if increasing:
        allowed += ", strictly increasing"
    if not isinstance(value, tuple) or len(value) < min_len or (max_len and len(value) > max_len):
        _fail(config, field, allowed, value)
    for v in value:
        if not isinstance(v, Real) or isinstance(v, bool) or not math.isfinite(float(v)):
            _fail(config, field, allowed, value)
        if (low is not None and v < low) or (high is not None and v > high):
            _fail(config, field, allowed, value)
    if increasing and any(b <= a for a, b in zip(value, value[1:])):
        _fail(config, field, allowed, value)


def check_int_tuple(
    config: Any, field: str, low: int | None = None, high: int | None = None, *, min_len: int = 1,
    max_len: int | None = None,
) -> None:
    """Require a non-empty tuple of ints in [low, high]."""
    value = getattr(config, field)
    allowed = f"a tuple of {min_len}..{max_len or 'any'} ints in {_interval(low, high, True, True)}"
    if not isinstance(value, tuple) or len(value) < min_len or (max_len and len(value) > max_len):
        _fail(config, field, allowed, value)
    for v in value:
        if not isinstance(v, Integral) or isinstance(v, bool):
            _fail(config, field, allowed, value)
        if (low is not None and v < low) or (high is not None and v > high):
            _fail(config, field, allowed, value)


def _interval(low: Any, high: Any, low_closed: bool, high_closed: bool) -> str:
    left = "[" if low_closed and low is not None else "("
    right = "]" if high_closed and high is not None else ")"
    lo = "-inf" if low is None else f"{low:g}" if isinstance(low, float) else str(low)
    hi = "inf" if high is None else f"{high:g}" if isinstance(high, float) else str(high)
    return f"{left}{lo}, {hi}{right}"
