"""Figure export without a browser: an experiment's chart as PNG or SVG (vl-convert), its data as CSV.

>>> from engine import figures
>>> png = figures.chart_bytes(chart, "png")                     # any altair chart
>>> figures.export_figure("linear_ae.dynamics", "fig.svg", chart="subspace", overrides={"k": 6})

``python -m engine figure NAME [--preset P] [--set f=v] [--chart C] --out file.png|svg|csv``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pandas as pd

from engine.core.experiment import Progress
from engine.core.runner import get_experiment, is_cached, run
from engine.core.validation import ConfigError

FORMATS = ("png", "svg", "csv")
MIME = {"png": "image/png", "svg": "image/svg+xml", "csv": "text/csv"}
PNG_SCALE = 2.0  # pixels per CSS pixel: sharp on slides and in print


def format_of(path: str | Path) -> str:
    """The export format named by a file's suffix, or a ConfigError listing the allowed ones."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ConfigError(
            f"The 'out' parameter must end in one of {', '.join('.' + f for f in FORMATS)}. "
            f"Got {str(path)!r} instead."
        )
    return suffix


def _vega_lite_version(spec: dict[str, Any]) -> str | None:
    """'6.4' from the spec's "$schema" URL (vl-convert bundles several Vega-Lite versions)."""
    match = re.search(r"/v(\d+)\.(\d+)", spec.get("$schema", ""))
    return f"{match.group(1)}.{match.group(2)}" if match else None


#: The lab's chart theme, the same in the app (``theme=None`` + this config), in exports and in the
#: report: Vega's own colours (so a download has the colours on screen), legends never truncated.
LAB_CONFIG: dict[str, dict[str, Any]] = {
    "axis": {"labelFontSize": 12, "titleFontSize": 13, "titleLimit": 0},
    "legend": {"labelFontSize": 12, "titleFontSize": 13, "labelLimit": 0, "titleLimit": 0},
    "header": {"labelFontSize": 12, "titleFontSize": 13},
    "title": {"fontSize": 15, "limit": 0},
}
EXPORT_WIDTH = 640  # CSS pixels of a view whose width follows its container on screen
EXPORT_HEIGHT = 360


def _spec(chart: Any) -> dict[str, Any]:
    return copy.deepcopy(chart) if isinstance(chart, dict) else chart.to_dict()


def _merge_config(spec: dict[str, Any], sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Add ``sections`` to the spec's config; settings the chart makes itself win."""
    config = spec.setdefault("config", {})
    for section, values in sections.items():
        current = config.setdefault(section, {})
        for key, value in values.items():
            current.setdefault(key, value)
    return spec


COMPOSITE_KEYS = ("facet", "hconcat", "vconcat", "concat", "repeat")


def is_composite(spec: dict[str, Any]) -> bool:
    """Facets and concatenations: their views keep their own sizes (Vega-Lite cannot fit them)."""
    return any(key in spec for key in COMPOSITE_KEYS)


def themed(chart: Any) -> dict[str, Any]:
    """The chart's Vega-Lite spec in the lab's theme: what the app draws (``theme=None``).

    A single view is fitted to its width *including* its legend and axis titles, so a legend
    beside the plot is never cut off by the box the chart is given; a composite chart is drawn as
    SVG, which the app scales down to its box."""
    spec = _merge_config(_spec(chart), LAB_CONFIG)
    if is_composite(spec):
        usermeta = spec.setdefault("usermeta", {})
        usermeta["embedOptions"] = {**usermeta.get("embedOptions", {}), "renderer": "svg"}
    else:
        spec.setdefault("autosize", {"type": "fit", "contains": "padding"})
    return spec


def _fixed_size(node: Any) -> None:
    """Replace ``"container"`` widths and heights (no container off screen) by fixed sizes."""
    if isinstance(node, dict):
        for key, size in (("width", EXPORT_WIDTH), ("height", EXPORT_HEIGHT)):
            if node.get(key) == "container":
                node[key] = size
        for value in node.values():
            _fixed_size(value)
    elif isinstance(node, list):
        for value in node:
            _fixed_size(value)


def export_spec(chart: Any) -> dict[str, Any]:
    """The spec a file export renders: the app's theme, and a fixed size where the screen uses the
    container's (views without a width get ``EXPORT_WIDTH``, as wide as a report column)."""
    spec = themed(chart)
    _fixed_size(spec)
    view = spec["config"].setdefault("view", {})
    view.setdefault("continuousWidth", EXPORT_WIDTH)
    return spec


_RENDERED: OrderedDict[str, bytes] = OrderedDict()  # spec hash -> bytes, most recent last
_RENDERED_MAX = 256


def chart_bytes(chart: Any, fmt: str, *, scale: float = PNG_SCALE) -> bytes:
    """Render an altair chart (or a Vega-Lite dict) to PNG or SVG bytes, with no browser.

    The chart is drawn in the app's theme (:func:`export_spec`). Bytes are kept per spec hash, so
    asking again for the same chart (a second click, the next rerun) costs nothing."""
    if fmt not in ("png", "svg"):
        raise ConfigError(f"The 'format' parameter must be one of 'png', 'svg'. Got {fmt!r} instead.")
    spec = export_spec(chart)
    key = hashlib.sha256(json.dumps([spec, fmt, scale], sort_keys=True, default=str).encode()).hexdigest()
    if key in _RENDERED:
        _RENDERED.move_to_end(key)
        return _RENDERED[key]
    data = _render(spec, fmt, scale)
    _RENDERED[key] = data
    while len(_RENDERED) > _RENDERED_MAX:
        _RENDERED.popitem(last=False)
    return data


def _render(spec: dict[str, Any], fmt: str, scale: float) -> bytes:
    import vl_convert

    kwargs = {}
    version = _vega_lite_version(spec)
    if version and version in vl_convert.get_vegalite_versions():
        kwargs["vl_version"] = version
    if fmt == "png":
        return vl_convert.vegalite_to_png(spec, scale=scale, **kwargs)
    if fmt == "svg":
        return vl_convert.vegalite_to_svg(spec, **kwargs).encode()
    raise ConfigError(f"The 'format' parameter must be one of 'png', 'svg'. Got {fmt!r} instead.")


def figure_bytes(name: str, frame: pd.DataFrame, fmt: str, which: str | None = None) -> bytes:
    """One experiment chart of ``frame`` as PNG/SVG bytes, or the frame itself as CSV."""
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    return chart_bytes(get_experiment(name).chart(frame, which), fmt)


def export_figure(
    name: str,
    out: str | Path,
    *,
    chart: str | None = None,
    preset: str = "quick",
    overrides: dict[str, Any] | None = None,
    cached_only: bool = False,
    device: str = "auto",
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Write ``name``'s chart (or its data, by the suffix of ``out``) to ``out``; return the frame.

    The result comes from the cache or is computed (``cached_only=True`` refuses to compute).
    """
    fmt = format_of(out)
    exp = get_experiment(name)
    exp.grid(preset)  # validates the preset name
    if chart is not None and chart not in exp.charts:
        exp.chart(pd.DataFrame(), chart)  # raises the clear message naming the charts
    config = overrides or None
    if cached_only and not is_cached(name, config, preset=preset):
        raise ConfigError(
            f"{name} [{preset}] with {overrides or 'the preset defaults'} is not in the "
            f"cache; run `python -m engine run {name} --preset {preset}` first."
        )
    frame = run(name, config, preset=preset, device=device, progress=progress)
    Path(out).write_bytes(figure_bytes(name, frame, fmt, chart))
    return frame


PROJECTOR_FONTS = {  # config section -> font sizes, in pixels
    "axis": {"labelFontSize": 15, "titleFontSize": 17},
    "legend": {"labelFontSize": 15, "titleFontSize": 16},
    "header": {"labelFontSize": 15, "titleFontSize": 17},
    "title": {"fontSize": 20},
}


def for_projector(chart: Any) -> dict[str, Any]:
    """The chart's Vega-Lite spec with type large enough for a projector, in the lab's theme.

    Font sizes the chart sets itself are kept; only the missing ones are added. Legends go below
    the plot (never beside it, where they would take the plot's width or cover text), and the
    chart fills the height and width the slide gives it.
    """
    spec = _merge_config(_spec(chart), PROJECTOR_FONTS)
    spec = _merge_config(spec, {"legend": {"orient": "bottom", "direction": "horizontal", "columns": 3}})
    return themed(spec)
