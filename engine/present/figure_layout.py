"""Sizing a chart for where it is used: the screen, a file, a talk slide (one pipeline, three targets).

A Vega-Lite chart made for the screen has sizes only a browser understands (``"container"``,
``autosize: fit`` on compound charts) and text sized for a monitor. For a file or a slide this
module gives every view an explicit size, so that the *whole picture* (plot, axes, legends,
titles) is the size asked for:

1. the theme of the target (one font family, text sizes, line widths) is set;
2. titles are wrapped to the picture's width, legends go below the plot in as many columns as
   fit, and long axis titles wrap to the plot's height (nothing is ever truncated with "…");
3. every view (single, layered, concatenated, faceted or repeated) gets a width and height
   factor; the picture's size is measured on Vega's own scenegraph (vl-convert, no browser) and
   the factors are solved for (the size is affine in them), then checked once more.

``autosize: pad`` grows the picture around everything drawn, so no text can fall outside it; the
fit only decides how big the plots are. Sizes are CSS pixels (96 per inch).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, replace
from typing import Any

CSS_PX_PER_INCH = 96.0
FONT = "Source Sans Pro"  # registered with the renderer (engine.present.fonts); Streamlit's own family
# Unquoted names only (a name starting with a digit voids the whole list); DejaVu Sans draws the few
# symbols Source Sans lacks (superscript plus, set membership) instead of a random serif font.
FONT_STACK = f"{FONT}, Source Sans, DejaVu Sans, Helvetica, Arial, sans-serif"
CHAR_WIDTH = 0.56  # average glyph width of Source Sans (bold titles included), in ems: for wrapping
COMPOSITE_KEYS = ("facet", "hconcat", "vconcat", "concat", "repeat")


@dataclass(frozen=True)
class Target:
    """Where a figure goes: the whole picture's size in CSS pixels and its type size.

    ``font`` is the tick-label size in CSS pixels; titles are set a little larger. ``stroke`` is the
    line width of line marks that do not set their own; ``max_legend_entries`` is advisory (the
    lint reports charts above it for talks)."""

    name: str
    width: float
    height: float
    font: float
    stroke: float = 2.0
    max_legend_entries: int | None = None

    def at(
        self, width: float | None = None, height: float | None = None, font: float | None = None
    ) -> Target:
        """This target with another size (CSS pixels) or type size."""
        return replace(
            self,
            width=float(width or self.width),
            height=float(height or self.height),
            font=float(font or self.font),
        )


#: A report column: 6.5 x 4 in, 9 pt tick labels (12 CSS px) once printed at that size.
REPORT = Target("file", 6.5 * CSS_PX_PER_INCH, 4.0 * CSS_PX_PER_INCH, font=12.0, stroke=2.0)
#: A talk slide's chart box at 1920x1080 (the chart column beside the bullets); the page scales the
#: picture to its box, so type drawn at 33 px measures about 33 px at 1920x1080 and 21-22 px at
#: 1280x720 (the browser test measures it). Legends beyond about five entries are hard to read from the back of a room.
SLIDE = Target("talk", 1060.0, 760.0, font=33.0, stroke=5.0, max_legend_entries=6)
#: A slide without bullets: the chart spans the slide's width.
SLIDE_WIDE = replace(SLIDE, width=1800.0, height=760.0)


def text_sizes(font: float) -> dict[str, dict[str, Any]]:
    """Vega-Lite config sections for a type size: ticks and legend labels at ``font``."""
    return {
        "axis": {
            "labelFontSize": font,
            "titleFontSize": round(font * 1.1, 1),
            "titleLimit": 0,
            "labelLimit": 0,
            "labelOverlap": "greedy",
            "titlePadding": round(font * 0.5, 1),
            "labelFont": FONT_STACK,
            "titleFont": FONT_STACK,
        },
        "legend": {
            "labelFontSize": font,
            "titleFontSize": round(font * 1.05, 1),
            "labelLimit": 0,
            "titleLimit": 0,
            "symbolSize": round(font * font * 0.9),
            "labelFont": FONT_STACK,
            "titleFont": FONT_STACK,
        },
        "header": {
            "labelFontSize": font,
            "titleFontSize": round(font * 1.1, 1),
            "labelLimit": 0,
            "labelFont": FONT_STACK,
            "titleFont": FONT_STACK,
        },
        "title": {
            "fontSize": round(font * 1.2, 1),
            "subtitleFontSize": font,
            "limit": 0,
            "font": FONT_STACK,
            "subtitleFont": FONT_STACK,
        },
        "text": {"font": FONT_STACK, "fontSize": font},
    }


# ----------------------------------------------------------------------------- walking a spec


def views(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes of a spec that carry a size: single and layered views, inside any composition."""
    if "facet" in spec or "repeat" in spec:
        inner = spec.get("spec")
        return views(inner) if isinstance(inner, dict) else []
    found: list[dict[str, Any]] = []
    for key in ("hconcat", "vconcat", "concat"):
        for member in spec.get(key, []):
            found.extend(views(member))
    if found or any(k in spec for k in ("hconcat", "vconcat", "concat")):
        return found
    return [spec] if ("mark" in spec or "layer" in spec) else []


def _columns_of(spec: dict[str, Any]) -> int:
    """How many views sit side by side at most (for wrapping sub-titles)."""
    if "hconcat" in spec:
        return max(1, sum(_columns_of(m) for m in spec["hconcat"]))
    if "concat" in spec:
        return max(1, int(spec.get("columns") or len(spec["concat"])))
    if "vconcat" in spec:
        return max([_columns_of(m) for m in spec["vconcat"]] or [1])
    if "facet" in spec or "repeat" in spec:
        return max(1, int(spec.get("columns") or 1))
    return 1


def _walk(node: Any):
    """Every dict in a spec, depth first (``datasets`` skipped: data, not layout)."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key != "datasets":
                yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def legends(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """(channel definition) for every channel of every view that draws a legend."""
    found = []
    for node in _walk(spec):
        encoding = node.get("encoding")
        if not isinstance(encoding, dict):
            continue
        for channel in ("color", "fill", "stroke", "shape", "size", "opacity", "strokeDash"):
            definition = encoding.get(channel)
            if (
                isinstance(definition, dict)
                and definition.get("legend", {}) is not None
                and "field" in definition
            ):
                found.append(definition)
    return found


# ----------------------------------------------------------------------------- text that fits


def wrap(text: str, width_px: float, font: float) -> list[str]:
    """``text`` broken at spaces into lines at most ``width_px`` wide (estimated) at ``font`` px."""
    per_line = max(8, int(width_px / (CHAR_WIDTH * font)))
    lines: list[str] = []
    for word in str(text).split():
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [str(text)]


def _text_lines(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _wrap_titles(spec: dict[str, Any], width: float, font: float) -> None:
    """Chart titles (top level and inside compositions) wrapped to the width they have."""
    size = font * 1.2
    per_view = width / _columns_of(spec)
    for node in _walk(spec):
        title = node.get("title")
        available = width if node is spec else per_view
        if isinstance(title, str) and (
            "mark" in node or "layer" in node or any(k in node for k in COMPOSITE_KEYS)
        ):
            node["title"] = {"text": wrap(title, available, size)}
        elif isinstance(title, dict) and "text" in title and isinstance(title["text"], (str, list)):
            title["text"] = wrap(" ".join(_text_lines(title["text"])), available, size)


def _wrap_axis_titles(spec: dict[str, Any], width: float, height: float, font: float) -> None:
    """Axis titles longer than their plot (x: the view's width, y: its height) become two or more lines."""
    size = font * 1.1
    for node in _walk(spec):
        encoding = node.get("encoding")
        if not isinstance(encoding, dict):
            continue
        for channel, room in (("x", width), ("y", height)):
            definition = encoding.get(channel)
            title = definition.get("title") if isinstance(definition, dict) else None
            if isinstance(title, str) and len(title) * CHAR_WIDTH * size > room * 0.95:
                definition["title"] = wrap(title, room * 0.9, size)


def legend_columns(labels: list[str], title: str, width: float, font: float) -> int:
    """How many legend columns fit in ``width`` px for these labels (at least 1)."""
    if not labels:
        return 1
    entry = font * 1.6 + CHAR_WIDTH * font * max(len(s) for s in labels) + font  # symbol, label, gap
    columns = max(1, int(width // entry))
    return min(columns, len(labels))


def _labels_of(definition: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """The legend's entries when the chart names them (a scale domain), else the data's values."""
    domain = (definition.get("scale") or {}).get("domain")
    if isinstance(domain, list) and definition.get("type") in ("nominal", "ordinal"):
        return [str(v) for v in domain]
    field = definition.get("field")
    values: list[str] = []
    for rows in (spec.get("datasets") or {}).values():
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and field in row and str(row[field]) not in values:
                values.append(str(row[field]))
                if len(values) > 40:
                    return values
    return values


def _place_legends(spec: dict[str, Any], width: float, font: float) -> None:
    """Every legend below the plot, horizontal, in as many columns as fit the picture's width."""
    for definition in legends(spec):
        legend = definition.get("legend")
        legend = dict(legend) if isinstance(legend, dict) else {}
        if definition.get("type") == "quantitative":
            legend.update(orient="bottom", direction="horizontal", labelLimit=0, titleLimit=0)
            legend.pop("columns", None)
        else:
            labels = _labels_of(definition, spec)
            legend.update(
                orient="bottom",
                direction="horizontal",
                columns=legend_columns(labels, str(definition.get("title", "")), width * 0.95, font),
                labelLimit=0,
                titleLimit=0,
            )
        definition["legend"] = legend
    config = spec.setdefault("config", {})
    config.setdefault("legend", {})["layout"] = {"bottom": {"anchor": "start", "direction": "vertical"}}


# ----------------------------------------------------------------------------- fitting


def _strip_sizes(node: Any) -> None:
    """Remove screen-only sizes: "container", autosize on inner specs, sizes on layer members."""
    if isinstance(node, dict):
        for key in ("width", "height"):
            if node.get(key) == "container":
                del node[key]
        for member in node.get("layer", []) if isinstance(node.get("layer"), list) else []:
            if isinstance(member, dict):
                member.pop("width", None)
                member.pop("height", None)
        for key, value in node.items():
            if key != "datasets":
                _strip_sizes(value)
    elif isinstance(node, list):
        for value in node:
            _strip_sizes(value)


def _base_size(view: dict[str, Any], key: str, default: float) -> Any:
    value = view.get(key)
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    if isinstance(value, dict) and isinstance(value.get("step"), (int, float)):
        return {"step": float(value["step"])}
    return default


def _scaled(base: Any, factor: float) -> Any:
    if isinstance(base, dict):
        return {"step": max(1.0, round(base["step"] * factor, 2))}
    return max(8.0, round(base * factor, 1))


def keeps_aspect(spec: dict[str, Any]) -> bool:
    """Charts that mark themselves ``usermeta.keep_aspect`` (images, heatmaps) scale uniformly."""
    return bool((spec.get("usermeta") or {}).get("keep_aspect"))


def fit(
    spec: dict[str, Any], target: Target, measure, hint: tuple[float, float] | None = None
) -> dict[str, Any]:
    """A copy of ``spec`` whose picture is ``target.width`` x ``target.height`` CSS pixels.

    ``measure(spec) -> (width, height)`` renders the picture's size (Vega's scenegraph). The
    picture's size is affine in the views' size factors; two measurements solve for them, a third
    corrects the estimate where the layout is not exactly affine (legend rows, tick counts). One
    view with sizes in pixels needs one measurement less: its own size is the slope, so the second
    measurement is at the guess (see :func:`_single_view_guess`), usually the last.
    ``hint``: the size factors that fitted this spec before; one measurement confirms them (else
    the fit runs as without). The factors used are in ``usermeta.fit_factors`` of the result.
    """
    spec = copy.deepcopy(spec)
    _strip_sizes(spec)
    spec.pop("autosize", None)
    spec["autosize"] = {"type": "pad", "contains": "padding"}
    spec.setdefault("padding", round(target.font * 0.75))  # slack for the last tick label of an axis
    found = views(spec)
    if not found:
        return spec
    columns = _columns_of(spec)
    default_w = max(60.0, target.width * 0.8 / columns)
    default_h = max(40.0, target.height * 0.6 / max(1, len(found) // columns or 1))
    bases = [(_base_size(v, "width", default_w), _base_size(v, "height", default_h)) for v in found]

    used = [1.0, 1.0]

    def sized(fx: float, fy: float) -> tuple[float, float]:
        for view, (w0, h0) in zip(found, bases):
            view["width"], view["height"] = _scaled(w0, fx), _scaled(h0, fy)
        used[:] = [fx, fy]
        return measure(spec)

    def done() -> dict[str, Any]:
        spec.setdefault("usermeta", {})["fit_factors"] = [float(used[0]), float(used[1])]
        return spec

    uniform = keeps_aspect(spec)

    def close(w: float, h: float, goal_w: float, goal_h: float) -> bool:
        return (
            abs(w - goal_w) <= 2
            and abs(h - goal_h) <= 2
            or uniform
            and (abs(w - goal_w) <= 2 or abs(h - goal_h) <= 2)
        )

    if hint is not None and close(*sized(*hint), target.width, target.height):
        return done()
    # The top-level title is wrapped to the target's width; measured apart, it cannot hide the
    # plots' share of the width (a title wider than the plots would make the width look fixed).
    title = spec.pop("title", None)
    title_height = 0.0
    w1, h1 = sized(1.0, 1.0)  # without the title (each measurement is a whole Vega layout: ~0.1 s)
    if title is not None:
        spec["title"] = title
        title_height = max(0.0, sized(1.0, 1.0)[1] - h1)
        spec.pop("title")
    goal_w, goal_h = target.width, max(target.height * 0.3, target.height - title_height)
    guess = _single_view_guess(spec, bases, (w1, h1), (goal_w, goal_h))
    probe = guess or (0.5, 0.5)
    w2, h2 = sized(*probe)
    xs, ys = [(probe[0], w2), (1.0, w1)], [(probe[1], h2), (1.0, h1)]
    for _ in range(0 if guess is not None and close(w2, h2, goal_w, goal_h) else 4):
        # secant steps; the size is affine in the factor once the plots dominate it
        fx, fy = _next_factor(xs, goal_w), _next_factor(ys, goal_h)
        if uniform:
            fx = fy = min(fx, fy)
        w, h = sized(fx, fy)
        xs.append((fx, w))
        ys.append((fy, h))
        if close(w, h, goal_w, goal_h):
            break
    if title is not None:
        spec["title"] = title
    return done()


def _single_view_guess(
    spec: dict[str, Any],
    bases: list[tuple[Any, Any]],
    size: tuple[float, float],
    goal: tuple[float, float],
) -> tuple[float, float] | None:
    """The size factors that reach ``goal`` from the picture's ``size`` at factors (1, 1) when the
    spec is one view with sizes in pixels: its picture grows by the view's own width and height per
    unit of factor (axes, legends and titles stay), so one layout at the guess usually confirms it.
    None for anything else (a composition, a band scale's step, a factor of 1 already: the
    secant's two probes then)."""
    if len(bases) != 1 or any(key in spec for key in COMPOSITE_KEYS) or keeps_aspect(spec):
        return None
    guess = []
    for base, now, want in zip(bases[0], size, goal):
        if not isinstance(base, (int, float)) or base <= 0:
            return None
        guess.append(min(20.0, max(0.05, 1.0 + (want - now) / float(base))))
    return None if any(abs(f - 1.0) < 1e-3 for f in guess) else (guess[0], guess[1])


def _next_factor(points: list[tuple[float, float]], goal: float) -> float:
    """The next size factor to try: a secant through the last two (factor, size) points, or twice
    the largest factor where the size did not grow (something wider than the plots sets it)."""
    (f1, s1), (f2, s2) = points[-2], points[-1]
    if abs(s2 - goal) <= 2:
        return f2
    slope = (s2 - s1) / (f2 - f1) if f1 != f2 else 0.0
    if not math.isfinite(slope) or slope <= 1e-3:
        return min(20.0, 2 * max(f for f, _ in points)) if s2 < goal else max(0.05, f2 / 2)
    return min(20.0, max(0.05, f2 + (goal - s2) / slope))


def for_target(
    spec: dict[str, Any], target: Target, measure, hint: tuple[float, float] | None = None
) -> dict[str, Any]:
    """The spec drawn for ``target``: its theme, text that fits, and an explicit size (``hint``:
    see :func:`fit`)."""
    spec = copy.deepcopy(spec)
    config = spec.setdefault("config", {})
    for section, values in text_sizes(target.font).items():
        config[section] = {**config.get(section, {}), **values}
    config["font"] = FONT_STACK
    config.setdefault("line", {})["strokeWidth"] = target.stroke
    config.setdefault("point", {}).setdefault("size", round((target.font * 0.6) ** 2))
    _scale_mark_sizes(spec, target)
    if target.max_legend_entries is not None:
        _keep_talk_series(spec)
    _wrap_titles(spec, target.width, target.font)
    _place_legends(spec, target.width, target.font)
    _wrap_axis_titles(spec, target.width * 0.8 / _columns_of(spec), target.height * 0.6, target.font)
    return fit(spec, target, measure, hint)


def _keep_talk_series(spec: dict[str, Any]) -> None:
    """On a slide, only the series a chart names in ``usermeta.talk_keep`` (``{"field": f, "values":
    [...]}``): a legend of more than about five entries cannot be read from the back of a room. The
    subtitle says how many series the slide leaves out (the report and the page draw them all)."""
    keep = (spec.get("usermeta") or {}).get("talk_keep")
    if not isinstance(keep, dict) or not keep.get("values"):
        return
    field, values = keep["field"], [str(v) for v in keep["values"]]
    total = None
    for node in _walk(spec):
        encoding = node.get("encoding")
        if not isinstance(encoding, dict):
            continue
        uses = [d for d in encoding.values() if isinstance(d, dict) and d.get("field") == field]
        if not uses:
            continue
        node.setdefault("transform", []).append({"filter": {"field": field, "oneOf": values}})
        for definition in uses:
            scale = definition.get("scale")
            if isinstance(scale, dict) and isinstance(scale.get("domain"), list):
                total = max(total or 0, len(scale["domain"]))
                kept = [i for i, v in enumerate(scale["domain"]) if str(v) in values]
                scale["domain"] = [scale["domain"][i] for i in kept]
                if isinstance(scale.get("range"), list) and len(scale["range"]) >= len(kept):
                    scale["range"] = [scale["range"][i] for i in kept if i < len(scale["range"])]
            if isinstance(definition.get("sort"), list):
                total = max(total or 0, len(definition["sort"]))
                definition["sort"] = [v for v in definition["sort"] if str(v) in values]
    if total and total > len(values):
        title = spec.get("title")
        text = title.get("text") if isinstance(title, dict) else title
        spec["title"] = {
            "text": text or "",
            "subtitle": f"{len(values)} of {total} series (all in the report)",
        }


def _scale_mark_sizes(spec: dict[str, Any], target: Target) -> None:
    """Marks that fix their own line width or size are scaled with the type (12 px is the unit)."""
    factor = target.font / 12.0
    if abs(factor - 1.0) < 0.05:
        return
    for node in _walk(spec):
        mark = node.get("mark")
        if isinstance(mark, dict):
            if isinstance(mark.get("strokeWidth"), (int, float)):
                mark["strokeWidth"] = round(mark["strokeWidth"] * factor, 2)
            if isinstance(mark.get("size"), (int, float)) and mark.get("type") in (
                "point",
                "circle",
                "square",
            ):
                mark["size"] = round(mark["size"] * factor * factor, 1)
            if isinstance(mark.get("fontSize"), (int, float)):
                mark["fontSize"] = max(round(mark["fontSize"] * factor, 1), target.font)


_SCREEN_TITLE_WIDTH = 640.0  # CSS px: narrowest chart column a page gives a chart


def for_screen(spec: dict[str, Any]) -> dict[str, Any]:
    """Screen adjustments: titles wrapped for a narrow column, y-axis titles to the plot's height
    (a title longer than the plot squashes it), tick labels that never collide."""
    _wrap_titles(spec, _SCREEN_TITLE_WIDTH, 12.0)
    heights = [v.get("height") for v in views(spec) if isinstance(v.get("height"), (int, float))]
    _wrap_axis_titles(spec, 10_000.0, min(heights or [300.0]) * 0.8, 12.0)
    axis = spec.setdefault("config", {}).setdefault("axis", {})
    axis.setdefault("labelOverlap", "greedy")
    spec["config"]["font"] = FONT_STACK
    return spec


def svg_size_in_points(svg: str) -> str:
    """The SVG with a width and height in points (0.75 per CSS px) for the PDF converter, which
    reads user units as points: the page is then the picture's size in inches."""

    def points(match: re.Match) -> str:
        return f'{match.group(1)}="{float(match.group(2)) * 72.0 / CSS_PX_PER_INCH:.2f}"'

    head, sep, rest = svg.partition(">")
    return re.sub(r'\b(width|height)="([0-9.]+)"', points, head, count=2) + sep + rest


def svg_size_in_inches(svg: str) -> str:
    """The SVG with its width and height in inches (96 CSS px each), so documents place it at size."""

    def inches(match: re.Match) -> str:
        return f'{match.group(1)}="{float(match.group(2)) / CSS_PX_PER_INCH:.3f}in"'

    head, sep, rest = svg.partition(">")
    head = re.sub(r'\b(width|height)="([0-9.]+)"', inches, head, count=2)
    return head + sep + rest
