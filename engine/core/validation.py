"""Config validation with scikit-learn's message shape.

Every check raises :class:`ConfigError` with one line that names the parameter, the class,
what is allowed and what was given, for example::

    The 'width' parameter of DoubleDescentConfig must be an int in [1, 4096]. Got 0 instead.

The constraints themselves are declared beside each config field (:mod:`engine.core.params`),
which raises these errors; this module holds only the error type and the message helpers.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A parameter is out of range or of the wrong type; the message is meant for users."""


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a message never echoes a huge input whole."""
    try:
        text = repr(value)
    except ValueError:  # int too large to print in full
        text = f"<int with over {limit} digits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
