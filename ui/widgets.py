"""Widgets whose values live in the URL (``?k=6&lr=0.01``) so that any page state can be shared.

Each helper takes the value from the query string when it is valid, else from the session, else
the default; a value outside the widget's range (a hand-edited URL, a key another page used) falls
back to the default instead of raising. After the widget is drawn its value is written back to
``st.query_params`` unless it is the default, so a shared link holds only what was changed.
"""

from __future__ import annotations

from typing import Any, Sequence

import streamlit as st


def _parse(raw: Any, like: Any) -> Any:
    if isinstance(like, bool):
        return str(raw).lower() in ("1", "true", "yes", "on")
    if isinstance(like, int):
        return int(float(raw))
    if isinstance(like, float):
        return float(raw)
    return str(raw)


def _seed(key: str, default: Any, valid) -> None:
    """Put a valid starting value into ``st.session_state[key]`` before the widget is created."""
    if key in st.session_state and valid(st.session_state[key]):
        return
    raw = st.query_params.get(key)
    value = default
    if raw is not None:
        try:
            parsed = _parse(raw, default)
            if valid(parsed):
                value = parsed
        except (TypeError, ValueError):
            pass
    st.session_state[key] = value


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
    _seed(key, value, lambda v: isinstance(v, type(value)) and min_value <= v <= max_value)
    out = st.slider(label, min_value=min_value, max_value=max_value, step=step, key=key, **kwargs)
    _publish(key, out, value)
    return out


def select_slider(label: str, key: str, options: Sequence, value, **kwargs):
    """``st.select_slider`` over ``options`` (e.g. a log grid of widths) with URL state."""
    options = list(options)
    _seed(key, value, lambda v: v in options)
    out = st.select_slider(label, options=options, key=key, **kwargs)
    _publish(key, out, value)
    return out


def selectbox(label: str, key: str, options: Sequence, value, **kwargs):
    """``st.selectbox`` with URL state."""
    options = list(options)
    _seed(key, value, lambda v: v in options)
    out = st.selectbox(label, options=options, key=key, **kwargs)
    _publish(key, out, value)
    return out


def radio(label: str, key: str, options: Sequence, value, **kwargs):
    """``st.radio`` with URL state."""
    options = list(options)
    _seed(key, value, lambda v: v in options)
    out = st.radio(label, options=options, key=key, **kwargs)
    _publish(key, out, value)
    return out


def toggle(label: str, key: str, value: bool, **kwargs) -> bool:
    """``st.toggle`` with URL state."""
    _seed(key, value, lambda v: isinstance(v, bool))
    out = st.toggle(label, key=key, **kwargs)
    _publish(key, out, value)
    return out


def number_input(label: str, key: str, min_value, max_value, value, step=None, **kwargs):
    """``st.number_input`` with URL state."""
    _seed(key, value, lambda v: isinstance(v, type(value)) and min_value <= v <= max_value)
    out = st.number_input(label, min_value=min_value, max_value=max_value, step=step, key=key, **kwargs)
    _publish(key, out, value)
    return out
