"""Figure export without a browser: an experiment's chart as PNG, SVG or PDF (vl-convert), its data as CSV.

One pipeline, three targets (:mod:`engine.present.figure_layout`): the screen (container width,
:func:`themed`), a file (a report column, 6.5 x 4 in at 300 dpi by default: :func:`file_spec`) and
a talk slide (:func:`talk_spec`, type that scales with the slide). One font family everywhere
(Source Sans Pro, registered with the renderer; Streamlit's own family on screen).

>>> from engine.present import figures
>>> pdf = figures.chart_bytes(chart, "pdf")                               # any altair chart
>>> figures.export_figure("linear_ae.dynamics", "fig.svg", chart="subspace", overrides={"k": 6})
>>> figures.chart_bytes(chart, "png", size=figures.FileSize(3.2, 2.4, dpi=600))  # half a column

``python -m engine figure NAME [--preset P] [--set f=v] [--chart C|--all] --out file.png|svg|pdf|csv``.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.core.experiment import Progress
from engine.core.runner import get_experiment, is_cached, run
from engine.core.validation import ConfigError
from engine.present import figure_layout as layout
from engine.present import fit_hints
from engine.present.vl_helper import converter

FORMATS = ("png", "svg", "pdf", "csv")
CHART_FORMATS = ("png", "svg", "pdf")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "csv": "text/csv"}
PNG_SCALE = 2.0  # pixels per CSS pixel of a screen-sized picture (app downloads of a given spec)


@dataclass(frozen=True)
class FileSize:
    """A figure file's size: inches wide and high, dots per inch (PNG), tick-label size in points."""

    width_in: float = 6.5
    height_in: float = 4.0
    dpi: float = 300.0
    font_pt: float = 9.0

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("width", self.width_in, 1.0, 40.0),
            ("height", self.height_in, 1.0, 40.0),
            ("dpi", self.dpi, 36.0, 1200.0),
            ("font", self.font_pt, 4.0, 72.0),
        ):
            if not isinstance(value, (int, float)) or not low <= float(value) <= high:
                raise ConfigError(
                    f"The '{name}' parameter of a figure must be a number in [{low:g}, {high:g}]. "
                    f"Got {str(value)[:80]!r} instead."
                )

    @property
    def target(self) -> layout.Target:
        px = layout.CSS_PX_PER_INCH
        return layout.REPORT.at(self.width_in * px, self.height_in * px, self.font_pt * px / 72.0)


REPORT_SIZE = FileSize()


def format_of(path: str | Path) -> str:
    """The export format named by a file's suffix, or a ConfigError listing the allowed ones."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ConfigError(
            f"The 'out' parameter must end in one of {', '.join('.' + f for f in FORMATS)}. "
            f"Got {str(path)[:80]!r} instead."
        )
    return suffix


def _vega_lite_version(spec: dict[str, Any]) -> str | None:
    """'6.4' from the spec's "$schema" URL (vl-convert bundles several Vega-Lite versions)."""
    match = re.search(r"/v(\d+)\.(\d+)", spec.get("$schema", ""))
    return f"{match.group(1)}.{match.group(2)}" if match else None


#: The lab's chart theme on screen (``theme=None`` + this config): Vega's own colours (so a
#: download has the colours on screen), legends and titles never truncated.
LAB_CONFIG: dict[str, dict[str, Any]] = {
    "axis": {"labelFontSize": 12, "titleFontSize": 13, "titleLimit": 0},
    "legend": {"labelFontSize": 12, "titleFontSize": 13, "labelLimit": 0, "titleLimit": 0},
    "header": {"labelFontSize": 12, "titleFontSize": 13, "labelLimit": 0},
    "title": {"fontSize": 15, "limit": 0},
}


def _spec(chart: Any) -> dict[str, Any]:
    # Not validated here: jsonschema took 0.1-0.2 s a chart on every page view; every registered
    # chart is validated against the Vega-Lite schema in tests/test_figures.py instead.
    return copy.deepcopy(chart) if isinstance(chart, dict) else chart.to_dict(validate=False)


def _merge_config(spec: dict[str, Any], sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Add ``sections`` to the spec's config; settings the chart makes itself win."""
    config = spec.setdefault("config", {})
    for section, values in sections.items():
        current = config.setdefault(section, {})
        for key, value in values.items():
            current.setdefault(key, value)
    return spec


def is_composite(spec: dict[str, Any]) -> bool:
    """Facets and concatenations: their views keep their own sizes (Vega-Lite cannot fit them)."""
    return any(key in spec for key in layout.COMPOSITE_KEYS)


def themed(chart: Any) -> dict[str, Any]:
    """The chart's Vega-Lite spec in the lab's theme for the screen (what the app draws).

    A single view is fitted to its width *including* its legend and axis titles, so a legend
    beside the plot is never cut off by the box the chart is given; a composite chart is drawn as
    SVG, which the app scales down to its box. Titles are wrapped for a narrow column."""
    spec = layout.for_screen(_merge_config(_spec(chart), LAB_CONFIG))
    if is_composite(spec):
        usermeta = spec.setdefault("usermeta", {})
        usermeta["embedOptions"] = {**usermeta.get("embedOptions", {}), "renderer": "svg"}
    else:
        spec.setdefault("autosize", {"type": "fit", "contains": "padding"})
    return spec


# ----------------------------------------------------------------------------- the renderer

_FONTS_READY = False


def _fonts() -> None:
    """Register the lab's font with vl-convert once (offline: the font ships in a wheel)."""
    global _FONTS_READY
    if _FONTS_READY:
        return
    vl_convert = converter()
    try:
        import font_source_sans_pro
    except ImportError:  # the renderer falls back along the font stack (Helvetica, Arial, sans-serif)
        pass
    else:
        vl_convert.register_font_directory(font_source_sans_pro.font_directory)
    # DejaVu Sans, the fallback for symbols: matplotlib's copy (found, not imported) where the system has none
    spec = importlib.util.find_spec("matplotlib")
    for folder in spec.submodule_search_locations or [] if spec else []:
        if (Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf").is_file():
            vl_convert.register_font_directory(str(Path(folder) / "mpl-data" / "fonts" / "ttf"))
    _FONTS_READY = True


_VEGALITE_VERSIONS: list[str] = []


def _vl_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    if not _VEGALITE_VERSIONS:
        _VEGALITE_VERSIONS.extend(converter().get_vegalite_versions())
    version = _vega_lite_version(spec)
    return {"vl_version": version} if version and version in _VEGALITE_VERSIONS else {}


def measure(spec: dict[str, Any]) -> tuple[float, float]:
    """The whole picture's width and height in CSS pixels, as Vega lays it out."""
    _fonts()
    scene = converter().vegalite_to_scenegraph(spec, **_vl_kwargs(spec))
    return float(scene["width"]), float(scene["height"])


_FITTED: OrderedDict[str, dict[str, Any]] = OrderedDict()  # (spec, target) hash -> fitted spec
_RENDERED: OrderedDict[str, bytes] = OrderedDict()  # (fitted spec, format, scale) hash -> bytes
_KEEP = 256


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _remember(store: OrderedDict, key: str, make):
    if key in store:
        store.move_to_end(key)
        return store[key]
    value = store[key] = make()
    while len(store) > _KEEP:
        store.popitem(last=False)
    return value


def sized_spec(chart: Any, target: layout.Target) -> dict[str, Any]:
    """The chart fitted to ``target`` (a file or a slide): explicit sizes, the target's type.

    The size factors that fitted a spec are kept in the cache folder (:mod:`.fit_hints`), so the
    same figure exported again (a report rebuilt, a talk redrawn) is confirmed with one layout
    instead of fitted with two to five."""
    spec = _merge_config(_spec(chart), LAB_CONFIG)
    key = _digest(spec, target)

    def fitted() -> dict[str, Any]:
        out = layout.for_target(spec, target, measure, fit_hints.recall(key))
        fit_hints.remember(key, out.get("usermeta", {}).get("fit_factors"))
        return out

    return _remember(_FITTED, key, fitted)


def file_spec(chart: Any, size: FileSize = REPORT_SIZE) -> dict[str, Any]:
    """The spec a file export renders: the report column's size and type unless ``size`` says."""
    return sized_spec(chart, size.target)


def talk_spec(chart: Any, *, wide: bool = False) -> dict[str, Any]:
    """The spec a talk slide draws: projector type (33 px at 1920x1080), thick lines, legends below."""
    return sized_spec(chart, layout.SLIDE_WIDE if wide else layout.SLIDE)


def for_projector(chart: Any) -> dict[str, Any]:
    """The chart for a talk slide (the chart column beside bullets); see :func:`talk_spec`."""
    return talk_spec(chart)


def render(spec: dict[str, Any], fmt: str, *, dpi: float = REPORT_SIZE.dpi) -> bytes:
    """Draw an already sized spec as PNG (``dpi`` dots per inch), SVG or PDF (its size in inches)."""
    if fmt not in CHART_FORMATS:
        raise ConfigError(
            f"The 'format' parameter must be one of {', '.join(map(repr, CHART_FORMATS))}. Got {str(fmt)[:80]!r} instead."
        )
    key = _digest(spec, fmt, dpi)
    return _remember(_RENDERED, key, lambda: _render(spec, fmt, dpi))


def _render(spec: dict[str, Any], fmt: str, dpi: float) -> bytes:
    _fonts()
    vl_convert = converter()
    kwargs = _vl_kwargs(spec)
    if fmt == "png":
        return vl_convert.vegalite_to_png(spec, scale=dpi / layout.CSS_PX_PER_INCH, **kwargs)
    svg = vl_convert.vegalite_to_svg(spec, **kwargs)
    if fmt == "pdf":  # the page in points (72 per inch) around the same vector drawing, fonts embedded
        return vl_convert.svg_to_pdf(layout.svg_size_in_points(svg))
    return layout.svg_size_in_inches(svg).encode()


def chart_bytes(chart: Any, fmt: str, *, size: FileSize = REPORT_SIZE) -> bytes:
    """Render an altair chart (or a Vega-Lite dict) to PNG, SVG or PDF bytes as a file: fitted to
    ``size`` (a report column by default), with no browser. Bytes are kept per spec, so asking
    again for the same chart (a second click, the next rerun) costs nothing."""
    if fmt not in CHART_FORMATS:
        raise ConfigError(
            f"The 'format' parameter must be one of {', '.join(map(repr, CHART_FORMATS))}. Got {str(fmt)[:80]!r} instead."
        )
    return render(file_spec(chart, size), fmt, dpi=size.dpi)


def talk_svg(chart: Any, *, wide: bool = False) -> str:
    """The chart as a slide draws it: an SVG at the slide's design size that the page scales to
    its box, so its type grows and shrinks with the screen."""
    return render(talk_spec(chart, wide=wide), "svg").decode()


def figure_bytes(
    name: str, frame: pd.DataFrame, fmt: str, which: str | None = None, *, size: FileSize = REPORT_SIZE
) -> bytes:
    """One experiment chart of ``frame`` as PNG/SVG/PDF bytes, or the frame itself as CSV."""
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    return chart_bytes(get_experiment(name).chart(frame, which), fmt, size=size)


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
    size: FileSize = REPORT_SIZE,
) -> pd.DataFrame:
    """Write ``name``'s chart (or its data, by the suffix of ``out``) to ``out``; return the frame.

    The result comes from the cache or is computed (``cached_only=True`` refuses to compute).
    """
    fmt = format_of(out)
    frame = _result(name, chart, preset, overrides, cached_only, device, progress)
    Path(out).write_bytes(figure_bytes(name, frame, fmt, chart, size=size))
    return frame


def _result(name, chart, preset, overrides, cached_only, device, progress) -> pd.DataFrame:
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
    return run(name, config, preset=preset, device=device, progress=progress)


def export_all(
    names: list[str],
    out_dir: str | Path,
    fmt: str,
    *,
    preset: str = "quick",
    cached_only: bool = False,
    device: str = "auto",
    size: FileSize = REPORT_SIZE,
    progress: Progress | None = None,
) -> list[Path]:
    """Every chart of every experiment in ``names`` as ``out_dir/<experiment>.<chart>.<fmt>``.

    ``fmt`` 'csv' writes each experiment's data once. Returns the files written, in order."""
    if fmt not in FORMATS:
        raise ConfigError(
            f"The 'format' parameter must be one of {', '.join(map(repr, FORMATS))}. Got {str(fmt)[:80]!r} instead."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(n, c) for n in names for c in ([None] if fmt == "csv" else list(get_experiment(n).charts))]
    written: list[Path] = []
    frames: dict[str, pd.DataFrame] = {}
    for i, (name, chart) in enumerate(jobs):
        if progress is not None:
            progress(i / max(1, len(jobs)), f"{name}{'.' + chart if chart else ''}")
        if name not in frames:
            frames[name] = _result(name, None, preset, None, cached_only, device, None)
        path = out / (f"{name}.{chart}.{fmt}" if chart else f"{name}.{fmt}")
        path.write_bytes(figure_bytes(name, frames[name], fmt, chart, size=size))
        written.append(path)
    if progress is not None:
        progress(1.0, "done")
    return written
