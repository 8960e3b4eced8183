"""Constraints declared once (engine.core.params): every field of every config refuses bad values
with the one message shape, coerces equal values to one cache key, and feeds widgets and the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest

import engine
from engine.core.experiment import config_to_dict
from engine.core.params import (
    Boolean,
    Interval,
    Options,
    Tuple,
    Validated,
    all_constraints,
    bounds,
    check_arg,
    describe_fields,
    param,
    undeclared_fields,
)
from engine.core.validation import ConfigError


def _config_classes():
    """(experiment name, Config class, preset config) for every registered experiment."""
    seen = {}
    for name, exp in sorted(engine.EXPERIMENTS.items()):
        seen.setdefault(exp.config_cls, (name, exp.config_cls, exp.presets["quick"]))
    return list(seen.values())


CONFIGS = _config_classes()


@pytest.mark.parametrize("name, cls, preset", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_every_field_declares_a_constraint(name, cls, preset):
    assert issubclass(cls, Validated), f"{cls.__name__} does not use the shared validator"
    assert undeclared_fields(cls) == []


@pytest.mark.parametrize("name, cls, preset", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_every_invalid_value_is_one_clean_error(name, cls, preset):
    checked = 0
    for field, constraint in all_constraints(cls):
        for bad in constraint.invalid_examples():
            with pytest.raises(ConfigError) as err:
                dataclasses.replace(preset, **{field: bad})
            message = str(err.value)
            assert f"'{field}' parameter of {cls.__name__} must be" in message
            assert message.endswith("instead.") and len(message) < 400
            checked += 1
    assert checked >= 2 * len(dataclasses.fields(cls))


@pytest.mark.parametrize("name, cls, preset", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_equal_values_of_other_types_give_one_cache_key(name, cls, preset):
    """np.int64 for an int, an int for a float, a list for a tuple: the same canonical config."""
    retyped = {}
    for field, constraint in all_constraints(cls):
        value = getattr(preset, field)
        if isinstance(constraint, Interval) and constraint.kind is int:
            retyped[field] = np.int64(value)
        elif isinstance(constraint, Interval) and float(value).is_integer():
            retyped[field] = int(value)
        elif isinstance(constraint, Tuple):
            retyped[field] = list(value)
    again = dataclasses.replace(preset, **retyped)
    assert config_to_dict(again) == config_to_dict(preset)
    assert engine.core.cache.entry_key(name, 1, config_to_dict(again)) == engine.core.cache.entry_key(
        name, 1, config_to_dict(preset)
    )


@dataclass(frozen=True, kw_only=True)
class _Demo(Validated):
    width: int = param(64, Interval(int, 1, 4096))  # hidden units
    lr: float = param(0.1, Interval(float, 0.0, 10.0, closed="right"))  # step size
    optimizer: str = param("sgd", Options(("sgd", "adam")))  # update rule
    noisy: bool = param(False, Boolean())  # label noise on or off
    ladder: tuple[float, ...] = param((0.1, 0.5), Tuple(Interval(float, 0, 1), increasing=True))

    def check(self) -> None:
        if self.optimizer == "adam" and self.lr > 1:
            self.fail("lr", "a float in (0, 1] with adam")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 0}, "The 'width' parameter of _Demo must be an int in [1, 4096]. Got 0 instead."),
        ({"width": 2.5}, "The 'width' parameter of _Demo must be an int in [1, 4096]. Got 2.5 instead."),
        ({"lr": 0.0}, "The 'lr' parameter of _Demo must be a float in (0, 10]. Got 0.0 instead."),
        ({"lr": float("inf")}, "The 'lr' parameter of _Demo must be a float in (0, 10]. Got inf instead."),
        (
            {"optimizer": "Adam"},
            "The 'optimizer' parameter of _Demo must be one of 'sgd', 'adam'. Got 'Adam' instead.",
        ),
        ({"noisy": 1}, "The 'noisy' parameter of _Demo must be a bool. Got 1 instead."),
        (
            {"optimizer": "adam", "lr": 2.0},
            "The 'lr' parameter of _Demo must be a float in (0, 1] with adam. Got 2.0 instead.",
        ),
        (
            {"ladder": (0.5, 0.1)},
            "The 'ladder' parameter of _Demo must be a tuple of 1..any floats in [0, 1], strictly increasing. "
            "Got (0.5, 0.1) instead.",
        ),
    ],
)
def test_message_shape(kwargs, message):
    with pytest.raises(ConfigError) as err:
        _Demo(**kwargs)
    assert str(err.value) == message


def test_huge_inputs_are_quoted_short():
    with pytest.raises(ConfigError) as err:
        _Demo(width=10**5000)
    assert len(str(err.value)) < 200
    with pytest.raises(ConfigError) as err:
        _Demo(optimizer="x" * 10_000)
    assert len(str(err.value)) < 200


def test_coercion_and_metadata_feed_widgets_and_cli():
    demo = _Demo(width=np.int64(8), lr=1, ladder=[0, 1])
    assert type(demo.width) is int and type(demo.lr) is float and demo.ladder == (0.0, 1.0)
    assert bounds(_Demo, "width") == (1, 4096)
    assert ("optimizer", "sgd", "one of 'sgd', 'adam'") in describe_fields(_Demo)


def test_science_arguments_use_the_same_error():
    assert check_arg("fit", "k", np.int64(3), Interval(int, 1, 8)) == 3
    with pytest.raises(
        ConfigError, match=r"The 'k' parameter of fit must be an int in \[1, 8\]. Got 9 instead."
    ):
        check_arg("fit", "k", 9, Interval(int, 1, 8))
