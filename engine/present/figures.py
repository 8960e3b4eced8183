"""Figure export without a browser: an experiment's chart as PNG or SVG (vl-convert), its data as CSV.

>>> from engine import figures
>>> png = figures.chart_bytes(chart, "png")                     # any altair chart
>>> figures.export_figure("linear_ae.dynamics", "fig.svg", chart="subspace", overrides={"k": 6})

``python -m engine figure NAME [--preset P] [--set f=v] [--chart C] --out file.png|svg|csv``.
"""

from __future__ import annotations

import re
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


def chart_bytes(chart: Any, fmt: str, *, scale: float = PNG_SCALE) -> bytes:
    """Render an altair chart (or a Vega-Lite dict) to PNG or SVG bytes, with no browser."""
    import vl_convert

    spec = chart if isinstance(chart, dict) else chart.to_dict()
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
        raise ConfigError(f"{name} [{preset}] with {overrides or 'the preset defaults'} is not in the "
                          f"cache; run `python -m engine run {name} --preset {preset}` first.")
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
    """The chart's Vega-Lite spec with type large enough for a projector.

    Font sizes the chart sets itself are kept; only the missing ones are added.
    """
    spec = chart if isinstance(chart, dict) else chart.to_dict()
    config = spec.setdefault("config", {})
    for section, fonts in PROJECTOR_FONTS.items():
        current = config.setdefault(section, {})
        for key, size in fonts.items():
            current.setdefault(key, size)
    return spec
