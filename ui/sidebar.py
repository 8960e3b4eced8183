"""The shared sidebar: device, scale (quick or paper) and the cache's state."""

from __future__ import annotations

import streamlit as st

from engine.core import cache
from engine.core.devices import probe_devices

from . import widgets

SCALES = ("quick", "paper")
# Composite charts (facets, concatenations) keep their own size: scaled down to their box, never cut.
CHART_CSS = """<style>
[data-testid="stVegaLiteChart"] {max-width: 100%;}
[data-testid="stVegaLiteChart"] svg.marks {max-width: 100%; height: auto;}
</style>"""


def draw_sidebar():
    """Draw the shared controls; their values live in ``st.session_state['lab_device'|'lab_scale']``.

    Returns the slot of the cache's result count, which :func:`draw_cache_count` fills after the
    page ran (so results the page computed count)."""
    st.html(CHART_CSS)
    with st.sidebar:
        widgets.selectbox(
            "Device",
            "lab_device",
            ["auto", *probe_devices()],  # torch is not imported for this
            "auto",
            help="auto picks cuda, then mps, then cpu.",
        )
        widgets.radio(
            "Scale",
            "lab_scale",
            SCALES,
            "quick",
            horizontal=True,
            help="quick runs live on a laptop CPU; paper shows the paper's setup when it is cached "
            "(fill it with `python -m engine precompute NAME --preset paper`).",
        )
        slot = st.empty()
        slot.caption(f"Cache: {len(cache.index_records())} results in `{cache.cache_dir()}`")
    return slot


def draw_cache_count(slot) -> None:
    """The sidebar's result count again, after the page ran (so results it computed count)."""
    if slot is not None:
        slot.caption(f"Cache: {len(cache.index_records())} results in `{cache.cache_dir()}`")


def device() -> str:
    return st.session_state.get("lab_device", "auto")


def scale() -> str:
    return st.session_state.get("lab_scale", "quick")
