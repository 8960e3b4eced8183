"""The reproducibility report: ``python -m engine report --out DIR`` (Markdown + HTML + figure files).

Per paper: its claims, the setup (every experiment's quick and paper configs), the figures (PNG,
SVG and the CSV behind them, for every result available), the paper-vs-ours table and provenance
(package versions, device, seeds, compute time, cache keys, git commit). Quick-scale results that
are missing are computed (``cached_only=False``); paper-scale results are only read from the cache.

The report is built as a list of blocks rendered twice (Markdown and HTML), so both always agree.
"""

from __future__ import annotations

import html
import importlib.metadata
import io
import platform
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from engine.core import cache
from engine.core.devices import available_devices
from engine.core.experiment import Experiment, Progress, config_to_dict
from engine.core.registry import available, phenomena
from engine.core.runner import experiments
from engine.core.validation import ConfigError
from engine.present.claims import (
    NO_SCALE,
    STATUSES,
    ClaimResult,
    FrameSource,
    evaluate,
    format_value,
    scale_of,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "torch",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "joblib",
    "altair",
    "vl-convert-python",
    "streamlit",
)
FIGURE_FORMATS = ("png", "svg", "pdf")

# ----------------------------------------------------------------------------- document blocks


@dataclass(frozen=True)
class Block:
    """One piece of the report: kind in {"h", "p", "ul", "table", "figure", "links"}."""

    kind: str
    text: str = ""
    level: int = 2
    items: tuple = ()  # ul: strings; table: rows; links: (label, href); figure: (src, alt)
    header: tuple = ()


FIGURE_WIDTH = 624  # CSS pixels every report figure is shown at: its own size (6.5 in at 96 px per inch)


def render_markdown(blocks: list[Block]) -> str:
    """The report as GitHub-flavoured Markdown."""
    out = []
    for b in blocks:
        if b.kind == "h":
            out.append(f"{'#' * b.level} {b.text}")
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "ul":
            out.append("\n".join(f"- {item}" for item in b.items))
        elif b.kind == "table":
            cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
            lines = ["| " + " | ".join(cell(h) for h in b.header) + " |", "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in b.items]
            out.append("\n".join(lines))
        elif b.kind == "figure":
            src, alt = b.items
            out.append(f'<img src="{src}" alt="{alt}" width="{FIGURE_WIDTH}">')  # one size for every figure
        elif b.kind == "links":
            out.append(" · ".join(f"[{label}]({href})" for label, href in b.items))
    return "\n\n".join(out) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "line-height:1.45}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:4px 8px;text-align:left;vertical-align:top}img{width:100%;max-width:624px;height:auto;display:block}"
    "code{background:#f4f4f4;padding:0 3px}"
)


def render_html(blocks: list[Block], title: str) -> str:
    """The report as one HTML page (figures referenced as files next to it)."""
    e = html.escape
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"<style>{_CSS}</style></head><body>"
    ]
    for b in blocks:
        if b.kind == "h":
            out.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif b.kind == "p":
            out.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(str(i))}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in b.items
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b.kind == "figure":
            src, alt = b.items
            out.append(
                f"<figure><img src='{e(src)}' alt='{e(alt)}'><figcaption>{e(alt)}</figcaption></figure>"
            )
        elif b.kind == "links":
            out.append(
                "<p>" + " · ".join(f"<a href='{e(href)}'>{e(label)}</a>" for label, href in b.items) + "</p>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: Any) -> str:
    """``text`` safe in LaTeX body text (compile with XeLaTeX or LuaLaTeX for the Greek and symbols)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(block: Block) -> str:
    """One table block as a LaTeX ``tabular`` (``booktabs`` rules; long cells wrap in p-columns)."""
    columns = len(block.header)
    width = f"{0.96 / max(1, columns):.3f}"
    spec = "".join(f"p{{{width}\\linewidth}}" for _ in range(columns))
    lines = [
        "\\begin{tabular}{" + spec + "}",
        "\\toprule",
        " & ".join(latex_escape(h) for h in block.header) + " \\\\",
        "\\midrule",
        *(" & ".join(latex_escape(v) for v in row) + " \\\\" for row in block.items),
        "\\bottomrule",
        "\\end{tabular}",
    ]
    return "\n".join(lines)


def render_latex(blocks: list[Block], title: str, tables: Path) -> str:
    """The report as a LaTeX document: figures as PDF (``\\includegraphics``), each table also
    written to ``tables/table-NN.tex`` so a student can ``\\input`` it into their own report."""
    tables.mkdir(parents=True, exist_ok=True)
    sections = {1: "section*", 2: "section", 3: "subsection", 4: "subsubsection"}
    out = [
        "% Phenomena Lab report: compile with xelatex or lualatex (Unicode symbols in the text).",
        "\\documentclass[10pt]{article}",
        "\\usepackage[margin=1in]{geometry}",
        "\\usepackage{graphicx,booktabs,fontspec}",
        "\\begin{document}",
        f"\\title{{{latex_escape(title)}}}\\date{{}}\\maketitle",
    ]
    count = 0
    for b in blocks:
        if b.kind == "h" and b.level > 1:
            out.append(f"\\{sections.get(b.level, 'paragraph')}{{{latex_escape(b.text)}}}")
        elif b.kind == "p":
            out.append(latex_escape(b.text) + "\n")
        elif b.kind == "ul":
            out.append(
                "\\begin{itemize}\n"
                + "\n".join(f"\\item {latex_escape(i)}" for i in b.items)
                + "\n\\end{itemize}"
            )
        elif b.kind == "table":
            count += 1
            name = f"table-{count:02d}.tex"
            (tables / name).write_text(latex_table(b) + "\n", encoding="utf-8")
            out.append("{\\small\\noindent\n\\input{" + f"{tables.name}/{name}" + "}}\n")
        elif b.kind == "figure":
            src, alt = b.items
            pdf = str(src).rsplit(".", 1)[0] + ".pdf"
            out.append(
                "\\begin{figure}[htbp]\\centering\n"
                f"\\includegraphics[width=\\linewidth]{{{pdf}}}\n\\caption{{{latex_escape(alt)}}}\n\\end{{figure}}"
            )
    out.append("\\end{document}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- provenance


def git_commit() -> str:
    """The repository's HEAD commit, with "+ uncommitted changes" when the tree is dirty."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"
    if not head:
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes" if dirty else "")


def package_versions() -> list[tuple[str, str]]:
    """``(package, version)`` for Python and the packages the results depend on."""
    rows = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((name, "absent"))
    return rows


def seeds_of(config: dict[str, Any]) -> str:
    """The seed fields of a config, e.g. ``seed=0``; "—" when it has none."""
    found = [f"{k}={v}" for k, v in config.items() if "seed" in k]
    return ", ".join(found) or "—"


# ----------------------------------------------------------------------------- content


@dataclass
class ReportSummary:
    """What :func:`build_report` wrote."""

    markdown: Path
    html: Path
    latex: Path | None = None
    figures: list[Path] = field(default_factory=list)
    claims: int = 0
    missing: list[str] = field(default_factory=list)  # (experiment, preset) not available
    seconds: float = 0.0


def _presets_to_show(exp: Experiment) -> list[str]:
    """Presets whose default result the report shows: quick first, then every paper-scale one."""
    claim_presets = [c.preset for c in exp.claims]
    ordered = ["quick"] + [p for p in claim_presets if scale_of(p) == "quick" and p != "quick"]
    ordered += [p for p in exp.presets if scale_of(p) in ("paper", "real")]
    return list(dict.fromkeys(p for p in ordered if p in exp.presets))


def _setup_table(exp: Experiment) -> Block:
    quick = config_to_dict(exp.presets["quick"])
    paper = config_to_dict(exp.presets["paper"]) if "paper" in exp.presets else {}
    rows = [(name, quick[name], paper.get(name, "—")) for name in quick]
    return Block("table", header=("field", "quick", "paper"), items=tuple(rows))


def _figure_blocks(
    exp: Experiment, preset: str, frame: pd.DataFrame, folder: Path, written: list[Path]
) -> list[Block]:
    """Write one frame's charts (PNG, SVG) and data (CSV) to ``folder``; blocks that show them."""
    from engine.present.figures import figure_bytes

    stem = f"{exp.name}.{preset}"
    csv = folder / f"{stem}.csv"
    csv.write_bytes(figure_bytes(exp.name, frame, "csv"))
    written.append(csv)
    blocks = []
    for chart in exp.charts:
        paths = {}
        try:
            for fmt in FIGURE_FORMATS:
                paths[fmt] = folder / f"{stem}.{chart}.{fmt}"
                paths[fmt].write_bytes(figure_bytes(exp.name, frame, fmt, chart))
                written.append(paths[fmt])
        except Exception as err:  # one broken chart never loses the rest of the report
            blocks.append(
                Block(
                    "p",
                    f"Chart {chart!r} of {exp.name} [{preset}] failed to render: {type(err).__name__}: {err}",
                )
            )
            continue
        rel = lambda p: f"{folder.name}/{p.name}"  # noqa: E731
        blocks.append(Block("figure", items=(rel(paths["png"]), f"{exp.title} — {chart} [{preset}]")))
        blocks.append(
            Block(
                "links",
                items=(
                    ("PNG", rel(paths["png"])),
                    ("SVG", rel(paths["svg"])),
                    ("PDF", rel(paths["pdf"])),
                    ("CSV", rel(csv)),
                ),
            )
        )
    return blocks


def _ours(r: ClaimResult, scale: str) -> str:
    status = r.statuses[scale]
    if status == NO_SCALE:
        return "—"
    value = format_value(r.value(scale))
    setup = r.setups.get(scale, "")
    return f"{value} ({r.words_at(scale)})" + (f" [{setup}]" if setup else "")


def _claims_table(results: list[ClaimResult], with_phenomenon: bool = False) -> Block:
    """Ours and the status at each scale (each judged on its own number, its setup beside it),
    the paper's number with the setup it measured."""
    header = (("phenomenon",) if with_phenomenon else ()) + (
        "claim",
        "unit",
        "paper",
        "paper setup",
        "ours, quick scale",
        "ours, paper scale",
        "ours, real data (CPU)",
        "note",
    )
    rows = []
    for r in results:
        row = (
            r.claim.text,
            r.claim.unit,
            format_value(r.claim.paper_value),
            getattr(r.claim, "paper_setup", "") or "—",
            _ours(r, "quick"),
            _ours(r, "paper"),
            _ours(r, "real"),
            r.note,
        )
        rows.append(((r.phenomenon,) if with_phenomenon else ()) + row)
    return Block("table", header=header, items=tuple(rows))


def _claim_sections(results: list[ClaimResult], with_phenomenon: bool = False, level: int = 3) -> list[Block]:
    """Claims about the phenomena, then the sanity checks (true unless the code has a bug) apart."""
    phenomena = [r for r in results if r.kind != "sanity"]
    sanity = [r for r in results if r.kind == "sanity"]
    blocks = [_claims_table(phenomena, with_phenomenon)] if phenomena else [Block("p", "No claims declared.")]
    if sanity:
        blocks += [
            Block("h", "Sanity checks (fail only on a bug)", level + 1),
            _claims_table(sanity, with_phenomenon),
        ]
    return blocks


def _provenance_table(frames: dict[tuple[str, str], pd.DataFrame]) -> Block:
    rows = []
    for (name, preset), frame in frames.items():
        a = frame.attrs
        rows.append(
            (
                name,
                preset,
                a.get("cache_key", ""),
                a.get("version", ""),
                seeds_of(a.get("config", {})),
                a.get("device", ""),
                a.get("seconds", ""),
                a.get("computed_at", ""),
            )
        )
    return Block(
        "table",
        header=(
            "experiment",
            "preset",
            "cache key",
            "version",
            "seeds",
            "device",
            "compute seconds",
            "computed at",
        ),
        items=tuple(rows),
    )


def _phenomenon_blocks(
    p,
    exps: list[Experiment],
    source: FrameSource,
    folder: Path,
    written: list[Path],
    results: list[ClaimResult],
    missing: list[str],
) -> list[Block]:
    blocks = [Block("h", p.title, 2), Block("p", p.paper), Block("p", p.summary)]
    claims = [r for r in results if r.phenomenon == p.name]
    blocks += [
        Block("h", "Claims", 3),
        Block(
            "ul",
            items=tuple(
                f"{r.claim.text} ({r.claim.experiment}): quick scale "
                f"{r.words_at('quick')}, paper scale {r.words_at('paper')}, real data {r.words_at('real')}"
                + (" [sanity check]" if r.kind == "sanity" else "")
                for r in claims
            )
            or ("No claims declared.",),
        ),
    ]
    blocks.append(Block("h", "Setup", 3))
    for exp in exps:
        blocks += [
            Block("h", f"{exp.title} ({exp.name}, version {exp.version})", 4),
            Block("p", exp.description or "—"),
            _setup_table(exp),
        ]
    blocks.append(Block("h", "Figures", 3))
    frames = {}
    for exp in exps:
        for preset in _presets_to_show(exp):
            frame = source.get(exp.name, preset)
            if frame is None:
                why = source.errors.get((exp.name, preset), "not in the cache")
                missing.append(f"{exp.name} [{preset}]: {why}")
                continue
            frames[(exp.name, preset)] = frame
            blocks += _figure_blocks(exp, preset, frame, folder, written)
    absent = [m for m in missing if m.split(" ", 1)[0] in {e.name for e in exps}]
    if absent:
        blocks += [
            Block(
                "p",
                "Not shown (paper scale and real data are read from the cache only; fill them with "
                "`python -m engine precompute NAME --preset paper|real`, or import bundles/real-cpu.zip):",
            ),
            Block("ul", items=tuple(absent)),
        ]
    blocks += [
        Block("h", "Paper vs ours", 3),
        *_claim_sections(claims),
        Block("h", "Provenance", 3),
        _provenance_table(frames),
    ]
    return blocks


def _stage(progress: Progress | None, low: float, high: float, label: str) -> Progress | None:
    """A progress callback mapping [0, 1] onto [low, high] of ``progress`` (called once at low)."""
    if progress is None:
        return None
    progress(low, label)
    return lambda fraction, message: progress(low + (high - low) * fraction, f"{label}: {message}")


def check_only(only: list[str] | None) -> list[str] | None:
    """The phenomena named by ``--only``, validated (a ConfigError lists the ones that exist)."""
    if not only:
        return None
    known = [p.name for p in phenomena()]
    for name in only:
        if name not in known:
            raise ConfigError(
                f"The 'only' parameter must name a phenomenon: one of {', '.join(known)}. "
                f"Got {str(name)[:80]!r} instead."
            )
    return list(dict.fromkeys(only))


def build_report(
    out: str | Path,
    *,
    cached_only: bool = False,
    device: str = "auto",
    progress: Progress | None = None,
    only: list[str] | None = None,
) -> ReportSummary:
    """Write ``report.md``, ``report.html``, ``report.tex`` (figures as PDF, tables as ``tables/*.tex``)
    and ``figures/`` into ``out``; return what was written. ``only`` limits it to some phenomena.

    ``progress(fraction, message)`` follows the experiments (and any quick run computed on the way).
    """
    only = check_only(only)
    start = time.perf_counter()
    out = Path(out)
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    registry = experiments()
    built = {p.name for p in available()}
    source = FrameSource(compute=not cached_only, device=device)
    names = sorted(n for n in registry if only is None or registry[n].phenomenon in only)
    blocks: list[Block] = []
    results: list[ClaimResult] = []
    for index, name in enumerate(names):  # first measure every claim (computing quick results)
        source.progress = _stage(progress, 0.5 * index / len(names), 0.5 * (index + 1) / len(names), name)
        results += [evaluate(c, source) for c in registry[name].claims]
    listed = [p for p in phenomena() if only is None or p.name in only]
    order = {p.name: i for i, p in enumerate(listed)}
    results.sort(key=lambda r: order.get(r.phenomenon, len(order)))
    written: list[Path] = []
    missing: list[str] = []
    for index, p in enumerate(listed):
        source.progress = _stage(
            progress,
            0.5 + 0.5 * index / len(listed),
            0.5 + 0.5 * (index + 1) / len(listed),
            f"{p.name} figures",
        )
        if p.name not in built:
            blocks += [Block("h", p.title, 2), Block("p", f"{p.paper}. Not built yet.")]
            continue
        exps = [registry[n] for n in names if registry[n].phenomenon == p.name]
        blocks += _phenomenon_blocks(p, exps, source, folder, written, results, missing)
    title = "Phenomena Lab: reproducibility report"
    head = [
        Block("h", title, 1),
        Block(
            "p",
            f"Generated {time.strftime('%Y-%m-%d %H:%M')} from the cache at {cache.cache_dir()}. "
            "Quick-scale results: "
            + (
                "as cached (--cached-only)"
                if cached_only
                else "as cached, missing ones computed for this report"
            )
            + ". Paper-scale results: as cached (never computed by the report).",
        ),
        Block("h", "Claims scoreboard", 2),
        Block(
            "p",
            "Each scale is judged on its own measurement; the setup of every number is in "
            "brackets. Statuses: " + ", ".join(STATUSES) + ".",
        ),
        *_claim_sections(results, with_phenomenon=True, level=2),
        Block("h", "Environment", 2),
        Block(
            "table",
            header=("what", "value"),
            items=(
                ("git commit", git_commit()),
                ("platform", platform.platform()),
                ("host", platform.node()),
                ("devices on this machine", ", ".join(available_devices())),
                *package_versions(),
            ),
        ),
    ]
    blocks = head + blocks
    markdown, page = out / "report.md", out / "report.html"
    markdown.write_text(render_markdown(blocks), encoding="utf-8")
    page.write_text(render_html(blocks, title), encoding="utf-8")
    latex = out / "report.tex"
    latex.write_text(render_latex(blocks, title, out / "tables"), encoding="utf-8")
    if progress is not None:
        progress(1.0, "done")
    return ReportSummary(markdown, page, latex, written, len(results), missing, time.perf_counter() - start)


def report_zip(*, cached_only: bool = True) -> bytes:
    """The whole report (Markdown, HTML, figures) as the bytes of one zip file (for the app)."""
    with tempfile.TemporaryDirectory(prefix="phenomena-report-") as tmp:
        root = Path(tmp) / "report"
        build_report(root, cached_only=cached_only)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root.parent))
        return buffer.getvalue()
