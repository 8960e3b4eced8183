"""Run an experiment for a page and show its chart, with errors as one clear message."""

from __future__ import annotations

import logging
import math
import statistics
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

import engine
from engine.core import cache
from engine.core.data import DataUnavailable
from engine.core.experiment import config_to_dict
from engine.core.validation import ConfigError
from engine.present import figures

from .progress import throttled
from .sidebar import device, scale

log = logging.getLogger("phenomena.ui")
SHOW_ESTIMATE_FROM_S = 2.0  # a slider position estimated to take longer says so while it computes


def run(
    name: str, overrides: dict[str, Any] | None = None, *, preset: str | None = None
) -> pd.DataFrame | None:
    """Run ``name`` with ``overrides`` on the preset's default config; ``None`` after showing an error.

    At paper scale, the cached paper result is shown with a note saying which settings it used
    (the page's controls apply at quick scale only). An uncached paper result is not computed on
    the spot: the page says which CLI command fills it and falls back to the quick preset.
    """
    preset = preset or scale()
    try:
        if preset == "paper":
            if engine.is_cached(name, None, preset="paper"):
                frame = engine.run(name, None, preset="paper", device=device())
                paper_note(name, overrides or {})
                return frame
            st.info(
                f"No paper-scale result for **{name}** in the cache yet. Fill it on a GPU machine with "
                f"`python -m engine precompute {name} --preset paper`, then carry the cache over "
                f"(`python -m engine export` / `import`). Showing the quick scale meanwhile."
            )
        seconds = None if engine.is_cached(name, overrides or None) else estimate_seconds(name, overrides)
        eta = (
            f" (estimated {duration(seconds)})"
            if seconds is not None and seconds >= SHOW_ESTIMATE_FROM_S
            else ""
        )
        bar = st.progress(0.0, text=f"{name}: computing{eta}" if eta else f"{name}: looking in the cache")

        progress = throttled(bar, lambda message: (f"{name}: {message}" if message else name) + eta)

        frame = engine.run(name, overrides or None, preset="quick", device=device(), progress=progress)
        bar.empty()
        if frame.attrs.get("cache", "").startswith("recomputed"):
            st.warning("A damaged cache entry was found for this view; it was recomputed and replaced.")
        if frame.attrs.get("cache_notice"):
            st.warning(
                f"This result was computed but {frame.attrs['cache_notice']}; it will be computed again "
                "next time."
            )
        return frame
    except (ConfigError, DataUnavailable) as err:
        st.error(str(err))
    except FloatingPointError as err:
        st.error(f"The run diverged: {err}")
    except MemoryError:
        st.error(f"{name} ran out of memory with these settings: choose smaller values.")
    except engine.RunError as err:  # out of memory or a runtime failure inside the run: one line
        st.error(str(err))
    except Exception as err:  # on stage, a failing run is a message, never a traceback
        log.exception("run of %s failed", name)
        st.error(f"{name} failed: {type(err).__name__}: {err}")
    return None


def _short(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def paper_note(name: str, overrides: dict[str, Any]) -> None:
    """Say that the chart is the precomputed paper result, its setup, and the settings it used
    where they differ from the page's controls (which then do not change this chart)."""
    exp = engine.get_experiment(name)
    paper = config_to_dict(engine.resolve_config(name, None, preset="paper"))
    differs = [
        f"{k} = {_short(paper[k])} (controls: {_short(v)})"
        for k, v in overrides.items()
        if k in paper and paper[k] != (list(v) if isinstance(v, tuple) else v)
    ]
    setup = dict(getattr(exp, "setups", {}) or {}).get("paper", "")
    text = f"**Paper scale**: the precomputed paper result of {name}" + (f" ({setup})" if setup else "") + "."
    if differs:
        text += (
            " It used " + "; ".join(differs) + ". The controls apply at the quick scale only; "
            "choose *quick* in the sidebar to explore."
        )
    st.info(text)


_SPECS: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_SPECS_MAX = 64


def chart(name: str, frame: pd.DataFrame, which: str | None = None, *, key: str | None = None) -> None:
    """Draw one of the experiment's charts with downloads: its data (CSV), the chart (PNG, SVG).

    The Vega-Lite spec is kept per (experiment, version, chart, frame content), so a rerun or a
    second visitor draws an unchanged chart without building it again (Altair's validation is
    most of a warm view's cost)."""
    exp = engine.get_experiment(name)
    label = which or next(iter(exp.charts))
    try:
        content = int(pd.util.hash_pandas_object(frame, index=False).sum()) if len(frame) else 0
    except TypeError:  # unhashable cells (lists): build the chart every time
        content = object()
    fingerprint = (name, exp.version, label, tuple(map(str, frame.columns)), len(frame), content)
    spec = _SPECS.get(fingerprint)
    if spec is None:
        spec = figures.themed(exp.chart(frame, which))
        _SPECS[fingerprint] = spec
        while len(_SPECS) > _SPECS_MAX:
            _SPECS.popitem(last=False)
    else:
        _SPECS.move_to_end(fingerprint)
    _draw(spec, f"{name}.{label}", frame, key=f"{key or name}-{label}")


def figure(chart_obj: Any, stem: str, frame: pd.DataFrame | None = None, *, key: str | None = None) -> None:
    """Draw any Altair chart in the lab's theme with PNG and SVG downloads (and CSV of ``frame``).

    The screen and the files use one spec in one theme (:func:`figures.themed`), so a download is
    the chart on screen. The files are rendered only when clicked (a first view pays nothing for
    them; bytes are then cached per spec), and a click does not rerun the page, so the deferred
    file stays valid and a second click at once gets the same file.
    """
    _draw(figures.themed(chart_obj), stem, frame, key=key)


def _draw(spec: dict[str, Any], stem: str, frame: pd.DataFrame | None, *, key: str | None) -> None:
    """Draw an already themed Vega-Lite spec with its downloads (see :func:`figure`)."""
    st.vega_lite_chart(spec, theme=None, width="stretch")
    key = key or stem
    with st.container(horizontal=True):
        if frame is not None:
            st.download_button(
                "Download data (CSV)",
                lambda: frame.to_csv(index=False).encode(),
                file_name=f"{stem}.csv",
                mime="text/csv",
                key=f"csv-{key}",
                on_click="ignore",
            )
        for fmt in figures.CHART_FORMATS:
            st.download_button(
                f"Chart ({fmt.upper()})",
                lambda fmt=fmt: figures.chart_bytes(spec, fmt),
                file_name=f"{stem}.{fmt}",
                mime=figures.MIME[fmt],
                key=f"{fmt}-{key}",
                on_click="ignore",
            )


def estimate_seconds(name: str, overrides: dict[str, Any] | None = None) -> float | None:
    """Seconds a quick-scale run of ``name`` should take: the experiment's own cost model
    (``Experiment.estimate``), else the median measured time of its cached runs; None if unknown."""
    exp = engine.get_experiment(name)
    estimate = getattr(exp, "estimate", None)
    if estimate is not None:
        try:
            seconds = float(estimate(engine.resolve_config(name, overrides or None)).seconds)
            if math.isfinite(seconds) and seconds > 0:
                return seconds
        except Exception:  # a cost model that cannot read this config: fall back to measurements
            log.exception("estimate of %s failed", name)
    measured = [
        float(r.get("meta", {}).get("seconds") or 0)
        for r in cache.index_records(name)
        if r.get("version") == exp.version
    ]
    measured = [s for s in measured if s > 0]
    return statistics.median(measured) if measured else None


def duration(seconds: float | None) -> str:
    """``about 20 s`` / ``about 3 min``; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {max(1, round(seconds)):d} s"
    return f"about {round(seconds / 60):d} min"


def run_on_demand(
    name: str,
    overrides: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    *,
    seconds: str | None = None,
    key: str | None = None,
) -> Any:
    """Like :func:`run`, but an uncached result waits for a button press (for slow side views).

    ``overrides`` may be a list of override dicts: one button then computes them all and a list
    of frames (or None) comes back. The button is labelled with the time the experiment's cost
    model predicts (``seconds`` is an old fixed label, ignored) and disappears once pressed.
    """
    many = isinstance(overrides, (list, tuple))
    runs = list(overrides) if many else [overrides]
    try:
        cached = all(engine.is_cached(name, o or None) for o in runs) or (
            scale() == "paper" and engine.is_cached(name, None, preset="paper")
        )
        if not cached:
            total = [estimate_seconds(name, o) for o in runs if not engine.is_cached(name, o or None)]
            known = None if any(t is None for t in total) else sum(total)
    except ConfigError as err:
        st.error(str(err))
        return None
    if not cached:
        slot = st.empty()
        details = [f"{len(runs)} runs"] if many else []
        if when := duration(known):
            details.append(f"{when} on one core")
        label = f"Compute {name}" + (f" ({', '.join(details)})" if details else "")
        if not slot.button(
            label,
            key=key or f"compute-{name}",
            help=f"Not in the cache yet; `python -m engine precompute {name}` fills it ahead of a talk.",
        ):
            return None
        slot.empty()
    frames = [run(name, o) for o in runs]
    return frames if many else frames[0]


def table(frame: pd.DataFrame) -> None:
    """A small summary table drawn whole, its text wrapped (a data grid would cut its columns)."""
    st.table(frame.set_index(frame.columns[0]) if len(frame.columns) > 1 else frame)
