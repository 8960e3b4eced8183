"""Widgets whose values live in the URL (``?k=6&lr=0.01``) so that any page state can be shared.

Each helper takes the value from the session when it is valid, else from the query string, else
the default; a URL value that is not a valid value of the widget (text for a number, inf, 1e309, a
5,000-digit number, out of range, not an option) falls back to the default with a one-line notice
naming it, never an exception. After the widget is drawn its value is written back to
``st.query_params`` unless it is the default, so a shared link holds only what was changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import streamlit as st

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
MAX_URL_TEXT = 40  # characters of a bad URL value quoted in the notice


def _parse(raw: Any, like: Any) -> Any:
    """``raw`` (URL text) as a value of ``like``'s type; ValueError when it is not one."""
    text = str(raw).strip()
    if isinstance(like, bool):
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ValueError(text)
    if isinstance(like, int):
        if len(text) > 30:  # beyond any widget's range; int() of 5,000 digits raises, slowly
            raise ValueError(text)
        number = float(text)  # "3", "3.0", "3e0"; inf and nan are refused below
        if not math.isfinite(number) or number != int(number):
            raise ValueError(text)
        return int(number)
    if isinstance(like, float):
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    return text


def _quoted(raw: Any) -> str:
    text = str(raw)
    return repr(text if len(text) <= MAX_URL_TEXT else text[:MAX_URL_TEXT] + "...")


def _seed(key: str, default: Any, valid, allowed: str = "") -> None:
    """Put a valid starting value into ``st.session_state[key]`` before the widget is created.

    A URL value that is not a valid value of this widget (wrong type, out of range, not an option,
    inf, a 5,000-digit number) is dropped with a short notice and the default is used."""
    if key in st.session_state and _safe(valid, st.session_state[key]):
        return
    raw = st.query_params.get(key)
    value = default
    if raw is not None:
        try:
            parsed = _parse(raw, default)
        except (TypeError, ValueError, OverflowError):
            parsed, ok = None, False
        else:
            ok = _safe(valid, parsed)
        if ok:
            value = parsed
        else:
            notice(
                f"Ignored `{key}={_quoted(raw)}` from the URL: not {allowed or 'a valid value'}. "
                f"Using the default, {default!r}."
            )
    st.session_state[key] = value


def _safe(valid, value: Any) -> bool:
    try:
        return bool(valid(value))
    except Exception:  # a comparison that a value of the wrong type cannot make
        return False


def notice(text: str) -> None:
    """A short notice about the page's state (e.g. a dropped URL value); never an exception."""
    st.warning(text, icon=":material/link_off:")


def _range(kind: type, low: Any, high: Any) -> str:
    return f"{'an int' if kind is int else 'a number'} in [{low}, {high}]"


def _options(options: Sequence) -> str:
    shown = ", ".join(repr(o) for o in list(options)[:8])
    return f"one of {shown}" + (", ..." if len(options) > 8 else "")


def _publish(key: str, value: Any, default: Any) -> None:
    """Write a non-default value to the URL; a default value leaves the URL (short links)."""
    if value == default:
        if key in st.query_params:
            del st.query_params[key]
        return
    text = str(value)
    if st.query_params.get(key) != text:
        st.query_params[key] = text


def slider(label: str, key: str, min_value, max_value, value, step=None, **kwargs):
    """``st.slider`` over [min_value, max_value] with URL state."""
    _seed(
        key,
        value,
        lambda v: isinstance(v, type(value)) and min_value <= v <= max_value,
        _range(type(value), min_value, max_value),
    )
    out = st.slider(label, min_value=min_value, max_value=max_value, step=step, key=key, **kwargs)
    _publish(key, out, value)
    return out


def select_slider(label: str, key: str, options: Sequence, value, **kwargs):
    """``st.select_slider`` over ``options`` (e.g. a log grid of widths) with URL state."""
    options = list(options)
    _seed(key, value, lambda v: v in options, _options(options))
    out = st.select_slider(label, options=options, key=key, **kwargs)
    _publish(key, out, value)
    return out


def selectbox(label: str, key: str, options: Sequence, value, **kwargs):
    """``st.selectbox`` with URL state."""
    options = list(options)
    _seed(key, value, lambda v: v in options, _options(options))
    out = st.selectbox(label, options=options, key=key, **kwargs)
    _publish(key, out, value)
    return out


def radio(label: str, key: str, options: Sequence, value, **kwargs):
    """``st.radio`` with URL state."""
    options = list(options)
    _seed(key, value, lambda v: v in options, _options(options))
    out = st.radio(label, options=options, key=key, **kwargs)
    _publish(key, out, value)
    return out


def toggle(label: str, key: str, value: bool, **kwargs) -> bool:
    """``st.toggle`` with URL state."""
    _seed(key, value, lambda v: isinstance(v, bool), "true or false")
    out = st.toggle(label, key=key, **kwargs)
    _publish(key, out, value)
    return out


def number_input(label: str, key: str, min_value, max_value, value, step=None, **kwargs):
    """``st.number_input`` with URL state."""
    _seed(
        key,
        value,
        lambda v: isinstance(v, type(value)) and min_value <= v <= max_value,
        _range(type(value), min_value, max_value),
    )
    out = st.number_input(label, min_value=min_value, max_value=max_value, step=step, key=key, **kwargs)
    _publish(key, out, value)
    return out
