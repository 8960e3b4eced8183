"""The figure lint: an SVG as Chromium draws it, checked for what breaks a figure in a report or on a slide.

For every picture: each text element lies inside the picture (1 px of slack), no text is cut with
"…", the plots' x-axes span at least 40% of the picture's width (a collapsed axis draws every
point on one vertical line), marks are drawn, and the type is at least ``min_font`` px. The
lab's font is loaded from the wheel the renderer uses, so Chromium lays text out as vl-convert did.
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

FONT_FACE = ""
try:
    import font_source_sans_pro

    _regular = Path(font_source_sans_pro.font_directory) / "SourceSansPro-Regular.ttf"
    _bold = Path(font_source_sans_pro.font_directory) / "SourceSansPro-Bold.ttf"
    FONT_FACE = "".join(
        f"@font-face {{font-family: 'Source Sans Pro'; font-weight: {weight}; "
        f"src: url(data:font/ttf;base64,{base64.b64encode(path.read_bytes()).decode()});}}"
        for weight, path in (("normal", _regular), ("bold", _bold))
    )
except ImportError:  # pragma: no cover - the font ships in requirements.txt
    pass
try:  # the renderer's fallback for symbols Source Sans lacks (matplotlib's DejaVu Sans), found as it does
    import importlib.util

    for _folder in importlib.util.find_spec("matplotlib").submodule_search_locations:
        _dejavu = Path(_folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if _dejavu.is_file():
            FONT_FACE += (
                "@font-face {font-family: 'DejaVu Sans'; "
                f"src: url(data:font/ttf;base64,{base64.b64encode(_dejavu.read_bytes()).decode()});}}"
            )
except (ImportError, AttributeError):  # pragma: no cover - no matplotlib: the system's fonts
    pass

GEOMETRY = """(svg) => {
  const root = document.querySelector('svg');
  const box = root.getBoundingClientRect();
  const vb = root.viewBox.baseVal;
  const sx = vb && vb.width ? vb.width / box.width : 1, sy = vb && vb.height ? vb.height / box.height : 1;
  const W = vb && vb.width ? vb.width : box.width, H = vb && vb.height ? vb.height : box.height;
  const texts = [];
  for (const t of root.querySelectorAll('text')) {
    const s = t.textContent.trim();
    if (!s) continue;
    const r = t.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    texts.push({text: s, x1: (r.left - box.left) * sx, y1: (r.top - box.top) * sy,
                x2: (r.right - box.left) * sx, y2: (r.bottom - box.top) * sy,
                size: parseFloat(getComputedStyle(t).fontSize) || parseFloat(t.getAttribute('font-size'))});
  }
  const xdomains = [];
  for (const g of root.querySelectorAll('g.role-axis')) {
    const label = g.getAttribute('aria-label') || '';
    if (!label.startsWith('X-axis')) continue;
    const d = g.querySelector('.role-axis-domain path, .role-axis-domain line');
    if (!d) continue;
    const r = d.getBoundingClientRect();
    xdomains.push({x1: (r.left - box.left) * sx, x2: (r.right - box.left) * sx, y: Math.round((r.top - box.top) * sy)});
  }
  let marks = 0;
  for (const g of root.querySelectorAll('g.role-mark')) {
    if (g.closest('.role-axis, .role-legend, .role-title, .role-axis-title, .role-legend-title')) continue;
    marks += g.querySelectorAll('path, rect, circle, image, line, text').length;
  }
  let legendEntries = 0;  // the largest legend's entries
  for (const g of root.querySelectorAll('g.role-legend')) {
    let n = 0; for (const s of g.querySelectorAll('g.role-legend-symbol')) n += s.querySelectorAll('path').length;
    legendEntries = Math.max(legendEntries, n);
  }
  return {width: W, height: H, texts, xdomains, marks, legendEntries};
}"""


@dataclass
class Verdict:
    """What the lint found in one picture (``problems`` empty when it passes)."""

    name: str
    width: float
    height: float
    problems: list[str] = field(default_factory=list)
    min_text: float = 0.0
    legend_entries: int = 0


def check(
    page, name: str, svg: str, *, min_font: float = 0.0, max_legend_entries: int | None = None
) -> Verdict:
    """Open ``svg`` in ``page`` (a Playwright page) and check its geometry."""
    page.set_content(
        f"<html><head><style>{FONT_FACE} body{{margin:0}}</style></head><body>{svg}</body></html>"
    )
    with contextlib.suppress(Exception):
        page.evaluate("document.fonts.ready")
    g = page.evaluate(GEOMETRY)
    verdict = Verdict(name, g["width"], g["height"], legend_entries=g["legendEntries"])
    for t in g["texts"]:
        if "…" in t["text"]:
            verdict.problems.append(f"text cut with an ellipsis: {t['text']!r}")
        if t["x1"] < -1 or t["y1"] < -1 or t["x2"] > g["width"] + 1 or t["y2"] > g["height"] + 1:
            verdict.problems.append(
                f"text outside the picture ({g['width']:.0f}x{g['height']:.0f}): {t['text'][:40]!r} at "
                f"[{t['x1']:.0f}, {t['y1']:.0f}, {t['x2']:.0f}, {t['y2']:.0f}]"
            )
    sizes = [t["size"] for t in g["texts"] if t["size"]]
    verdict.min_text = min(sizes) if sizes else 0.0
    if min_font and verdict.min_text < min_font - 0.05:
        verdict.problems.append(f"text of {verdict.min_text:g} px, smaller than {min_font:g} px")
    if g["xdomains"]:
        rows: dict[int, float] = {}
        for d in g["xdomains"]:
            rows[d["y"]] = rows.get(d["y"], 0.0) + (d["x2"] - d["x1"])
        widest = max(rows.values())
        if widest < 0.4 * g["width"]:
            verdict.problems.append(f"x-axes span {widest:.0f} px of {g['width']:.0f} (under 40%)")
    if g["marks"] == 0:
        verdict.problems.append("no marks drawn")
    if max_legend_entries is not None and verdict.legend_entries > max_legend_entries:
        verdict.problems.append(f"{verdict.legend_entries} legend entries (at most {max_legend_entries})")
    return verdict
