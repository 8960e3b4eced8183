"""The shared sidebar: device, scale (quick or paper) and the cache's state."""

from __future__ import annotations

import streamlit as st

from engine.core import cache
from engine.core.devices import available_devices

from . import widgets

SCALES = ("quick", "paper")


def draw_sidebar() -> None:
    """Draw the shared controls; their values live in ``st.session_state['lab_device'|'lab_scale']``."""
    with st.sidebar:
        widgets.selectbox(
            "Device", "lab_device", ["auto", *available_devices()], "auto",
            help="auto picks cuda, then mps, then cpu.",
        )
        widgets.radio(
            "Scale", "lab_scale", SCALES, "quick", horizontal=True,
            help="quick runs live on a laptop CPU; paper shows the paper's setup when it is cached "
            "(fill it with `python -m engine precompute NAME --preset paper`).",
        )
        records = cache.index_records()
        st.caption(f"Cache: {len(records)} results in `{cache.cache_dir()}`")


def device() -> str:
    return st.session_state.get("lab_device", "auto")


def scale() -> str:
    return st.session_state.get("lab_scale", "quick")
