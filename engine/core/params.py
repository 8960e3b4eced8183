"""Constraints declared once, beside each config field's default, and one validator for all.

In the spirit of scikit-learn's ``_parameter_constraints``: a Config declares every field with
:func:`param` (its default and its constraint), inherits :class:`Validated`, and gets

* validation and type coercion in ``__post_init__`` (``np.int64(2)`` -> ``2``, ``1`` -> ``1.0`` for a
  float field, lists -> tuples), so equal configs hash to one cache key whatever types the caller
  used, and a bad value fails before any cache look-up or compute, with one message::

      The 'width' parameter of NetworkConfig must be an int in [1, 4096]. Got 0 instead.

* the same declarations for the CLI's ``list`` (:func:`describe_fields`), the pages' widget bounds
  (:func:`bounds`) and the generic invalid-value test (:meth:`Constraint.invalid_examples`).

Cross-field rules go in an optional ``check(self)`` method that calls :meth:`Validated.fail`.
Science functions check their arguments with :func:`check_arg` (same constraints, same error).

    @dataclass(frozen=True, kw_only=True)
    class NetworkConfig(Validated):
        width: int = param(64, Interval(int, 1, 4096))  # hidden units per layer
        optimizer: str = param("sgd", Options(("sgd", "adam")))  # update rule
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from .validation import ConfigError, short_repr

_KEY = "constraint"


class Constraint:
    """What a field may hold. ``coerce`` returns the canonical value or raises ``ValueError``."""

    def coerce(self, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def invalid_examples(self) -> list[Any]:
        """Values this constraint must refuse (for the generic test)."""
        return [None, object()]


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError
    if isinstance(value, Integral):
        return int(value)
    if not math.isfinite(float(value)) or float(value) != int(value):
        raise ValueError
    return int(value)


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError
    try:
        out = float(value)
    except OverflowError:  # a 400-digit int
        raise ValueError from None
    if not math.isfinite(out):
        raise ValueError
    return out


def _fmt(bound: Any) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


@dataclass(frozen=True)
class Interval(Constraint):
    """An int or a finite float in an interval; ``closed`` is "both", "left", "right" or "neither"."""

    kind: type  # int or float
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def coerce(self, value: Any) -> Any:
        out = _as_int(value) if self.kind is int else _as_float(value)
        low_ok = self.low is None or (out >= self.low if self.closed in ("both", "left") else out > self.low)
        high_ok = self.high is None or (
            out <= self.high if self.closed in ("both", "right") else out < self.high
        )
        if not (low_ok and high_ok):
            raise ValueError
        return out

    def interval(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        return f"{left}{lo}, {hi}{right}"

    def describe(self) -> str:
        return f"{'an int' if self.kind is int else 'a float'} in {self.interval()}"

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = ["3", True, None, float("nan")]
        if self.low is not None:
            out.append(self.low - 1 if self.kind is int else self.low - 1.0)
        if self.high is not None:
            out.append(self.high + 1 if self.kind is int else self.high * 2 + 1.0)
        if self.kind is int:
            out += [0.5 + (self.low or 0), 10**400]
        return out


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values (strings, usually)."""

    values: tuple

    def coerce(self, value: Any) -> Any:
        for option in self.values:
            if type(value) is not bool and value == option and isinstance(value, type(option)):
                return option
        raise ValueError

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def invalid_examples(self) -> list[Any]:
        return [v for v in ("no-such-option", None, 3, -1) if v not in self.values]


@dataclass(frozen=True)
class Boolean(Constraint):
    """True or False (numpy's bool too)."""

    def coerce(self, value: Any) -> bool:
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
        raise ValueError

    def describe(self) -> str:
        return "a bool"

    def invalid_examples(self) -> list[Any]:
        return ["yes", 2, None]


@dataclass(frozen=True)
class Tuple(Constraint):
    """A tuple (a list is accepted) of items that each satisfy ``item``."""

    item: Constraint
    min_len: int = 1
    max_len: int | None = None
    increasing: bool = False

    def coerce(self, value: Any) -> tuple:
        if not isinstance(value, (tuple, list)):
            raise ValueError
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            raise ValueError
        out = tuple(self.item.coerce(v) for v in value)
        if self.increasing and any(b <= a for a, b in zip(out, out[1:])):
            raise ValueError
        return out

    def describe(self) -> str:
        if self.min_len == self.max_len:
            size = str(self.min_len)
        else:
            size = f"{self.min_len}..{self.max_len if self.max_len is not None else 'any'}"
        inner = self.item.describe().replace("an int", "ints").replace("a float", "floats")
        text = f"a tuple of {size} {inner}"
        return text + (", strictly increasing" if self.increasing else "")

    def invalid_examples(self) -> list[Any]:
        bad_item = self.item.invalid_examples()[0]
        out: list[Any] = ["1,2", None, (bad_item,) * max(self.min_len, 1)]
        if self.min_len > 0:
            out.append(())
        return out


def param(default: Any, constraint: Constraint) -> Any:
    """A dataclass field with its default and its constraint (kept in the field's metadata)."""
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(default=default, metadata={_KEY: constraint})


def constraint_of(config_cls: type, name: str) -> Constraint | None:
    """The declared constraint of one field, or None."""
    for f in dataclasses.fields(config_cls):
        if f.name == name:
            return f.metadata.get(_KEY)
    return None


def bounds(config_cls: type, name: str) -> tuple[float | None, float | None]:
    """``(low, high)`` of an interval field (for a widget's range); ``(None, None)`` otherwise."""
    c = constraint_of(config_cls, name)
    if isinstance(c, Tuple):
        c = c.item
    return (c.low, c.high) if isinstance(c, Interval) else (None, None)


def options(config_cls: type, name: str) -> tuple:
    """The allowed values of an :class:`Options` field (for a select box)."""
    c = constraint_of(config_cls, name)
    return c.values if isinstance(c, Options) else ()


def describe_fields(config_cls: type) -> list[tuple[str, Any, str]]:
    """``[(field, default, "an int in [1, 64]"), ...]`` for the CLI's ``list``."""
    out = []
    for f in dataclasses.fields(config_cls):
        c = f.metadata.get(_KEY)
        out.append((f.name, f.default, c.describe() if c else "any"))
    return out


def fail(where: str, name: str, allowed: str, value: Any) -> None:
    """Raise the one message shape: The 'name' parameter of where must be allowed. Got value instead."""
    raise ConfigError(
        f"The '{name}' parameter of {where} must be {allowed}. Got {short_repr(value)} instead."
    )


def check_arg(where: str, name: str, value: Any, constraint: Constraint) -> Any:
    """Validate (and coerce) one science-function argument; ``where`` is the function's name."""
    try:
        return constraint.coerce(value)
    except (ValueError, TypeError):
        fail(where, name, constraint.describe(), value)


class Validated:
    """Base of every Config: validates and coerces each declared field, then runs ``check()``."""

    def __post_init__(self) -> None:
        where = type(self).__name__
        for f in dataclasses.fields(self):
            c = f.metadata.get(_KEY)
            if c is None:
                continue
            value = getattr(self, f.name)
            try:
                canonical = c.coerce(value)
            except (ValueError, TypeError):
                fail(where, f.name, c.describe(), value)
            object.__setattr__(self, f.name, canonical)
        self.check()

    def check(self) -> None:
        """Cross-field rules (override; call :meth:`fail`)."""

    def fail(self, name: str, allowed: str) -> None:
        """Refuse field ``name`` with the shared message shape."""
        fail(type(self).__name__, name, allowed, getattr(self, name))


def undeclared_fields(config_cls: type) -> list[str]:
    """Fields of a Validated config that carry no constraint (the generic test wants none)."""
    return [f.name for f in dataclasses.fields(config_cls) if _KEY not in f.metadata]


def all_constraints(config_cls: type) -> Iterable[tuple[str, Constraint]]:
    """``(field, constraint)`` for every declared field."""
    for f in dataclasses.fields(config_cls):
        if _KEY in f.metadata:
            yield f.name, f.metadata[_KEY]
