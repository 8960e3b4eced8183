"""Run an experiment for a page and show its chart, with errors as one clear message."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

import engine
from engine.present import figures
from engine.core.data import DataUnavailable
from engine.core.validation import ConfigError

from .sidebar import device, scale

log = logging.getLogger("phenomena.ui")


def run(name: str, overrides: dict[str, Any] | None = None, *, preset: str | None = None) -> pd.DataFrame | None:
    """Run ``name`` with ``overrides`` on the preset's default config; ``None`` after showing an error.

    At paper scale, an uncached result is not computed on the spot: the page says which CLI
    command fills it and falls back to the quick preset.
    """
    preset = preset or scale()
    try:
        if preset == "paper":
            if engine.is_cached(name, None, preset="paper"):
                return engine.run(name, None, preset="paper", device=device())
            st.info(
                f"No paper-scale result for **{name}** in the cache yet. Fill it on a GPU machine with "
                f"`python -m engine precompute {name} --preset paper`, then carry the cache over "
                f"(`python -m engine export` / `import`). Showing the quick scale meanwhile."
            )
        bar = st.progress(0.0, text=f"{name}: looking in the cache")

        def progress(fraction: float, message: str) -> None:
            bar.progress(fraction, text=f"{name}: {message}" if message else name)

        frame = engine.run(name, overrides or None, preset="quick", device=device(), progress=progress)
        bar.empty()
        if frame.attrs.get("cache", "").startswith("recomputed"):
            st.warning("A damaged cache entry was found for this view; it was recomputed and replaced.")
        return frame
    except (ConfigError, DataUnavailable) as err:
        st.error(str(err))
    except FloatingPointError as err:
        st.error(f"The run diverged: {err}")
    except Exception as err:  # on stage, a failing run is a message, never a traceback
        log.exception("run of %s failed", name)
        st.error(f"{name} failed: {type(err).__name__}: {err}")
    return None


def chart(name: str, frame: pd.DataFrame, which: str | None = None, *, key: str | None = None) -> None:
    """Draw one of the experiment's charts with downloads: its data (CSV), the chart (PNG, SVG)."""
    exp = engine.get_experiment(name)
    figure = exp.chart(frame, which)
    st.altair_chart(figure, width="stretch")
    label = which or next(iter(exp.charts))
    with st.container(horizontal=True):
        st.download_button(
            "Download data (CSV)",
            lambda: frame.to_csv(index=False).encode(),  # like the images: built only when clicked
            file_name=f"{name}.{label}.csv",
            mime="text/csv",
            key=f"csv-{key or name}-{label}",
        )
        for fmt in ("png", "svg"):  # rendered only when clicked (vl-convert, no browser)
            st.download_button(
                f"Chart ({fmt.upper()})",
                lambda fmt=fmt: figures.chart_bytes(figure, fmt),
                file_name=f"{name}.{label}.{fmt}",
                mime=figures.MIME[fmt],
                key=f"{fmt}-{key or name}-{label}",
            )


def run_on_demand(name: str, overrides: dict[str, Any] | None = None, *, seconds: str = "a few seconds",
                  key: str | None = None) -> pd.DataFrame | None:
    """Like :func:`run`, but an uncached result waits for a button press (for slow side views)."""
    try:
        cached = engine.is_cached(name, overrides or None) or (
            scale() == "paper" and engine.is_cached(name, None, preset="paper"))
    except ConfigError as err:
        st.error(str(err))
        return None
    if cached or st.button(f"Compute ({seconds})", key=key or f"compute-{name}"):
        return run(name, overrides)
    st.caption("Not in the cache yet; `python -m engine precompute "
               f"{name}` fills it ahead of a talk.")
    return None
