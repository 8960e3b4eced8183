"""The reproducibility report and figure export: every registered claim is in the report, every
file it links exists, figures are real PNG/SVG/CSV, provenance is there, and nothing is computed
with --cached-only (paper scale never)."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import altair as alt
import pandas as pd
import pytest

import engine
from engine import cli
from engine.present import figures, report

ROOT = Path(__file__).resolve().parent.parent
NAME = "linear_ae.snapshot"  # quick default: 2000 steps, ~0.3 s
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def linked_files(out: Path) -> tuple[list[str], list[str]]:
    """Relative targets of every Markdown link/image and every HTML src/href."""
    text = (out / "report.md").read_text()
    md = re.findall(r"\]\(([^)]+)\)", text) + re.findall(r'<img src="([^"]+)"', text)
    page = re.findall(r"(?:src|href)='([^']+)'", (out / "report.html").read_text())
    return md, page


def test_report_has_every_claim_and_every_linked_file_exists(tmp_path, fresh_cache):
    frame = engine.run(NAME)
    summary = report.build_report(tmp_path / "out", cached_only=True)
    out = tmp_path / "out"
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    registered = [c for exp in engine.experiments().values() for c in exp.claims]
    assert summary.claims == len(registered)
    for claim in registered:
        assert claim.text.replace("|", "\\|") in md, claim.id
        assert html.escape(claim.text) in page, claim.id
    md_links, html_links = linked_files(out)
    assert md_links and sorted(md_links) == sorted(html_links)
    for link in md_links:
        assert (out / link).is_file(), link
    assert {p.name for p in summary.figures} == {
        f"{NAME}.quick.heatmap.png",
        f"{NAME}.quick.heatmap.svg",
        f"{NAME}.quick.heatmap.pdf",
        f"{NAME}.quick.csv",
    }
    figs = out / "figures"
    assert (figs / f"{NAME}.quick.heatmap.png").read_bytes().startswith(PNG_MAGIC)
    assert b"<svg" in (figs / f"{NAME}.quick.heatmap.svg").read_bytes()[:500]
    pd.testing.assert_frame_equal(pd.read_csv(figs / f"{NAME}.quick.csv"), frame, check_dtype=False)
    # provenance: the cache key, seeds, device, versions and the commit
    assert frame.attrs["cache_key"] in md and "seed=0" in md and "vl-convert-python" in md
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert head and head in md
    # cached only: nothing else was computed, and the report says what is missing
    assert not engine.is_cached("linear_ae.dynamics")
    assert f"{NAME} [paper]: not in the cache" in summary.missing


def test_report_computes_missing_quick_results_with_progress_but_never_paper(
    tmp_path, fresh_cache, monkeypatch
):
    only = {NAME: engine.get_experiment(NAME)}
    monkeypatch.setattr(report, "experiments", lambda: only)
    seen = []
    report.build_report(tmp_path / "out", progress=lambda f, m: seen.append(f))
    assert engine.is_cached(NAME) and not engine.is_cached(NAME, preset="paper")
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert (tmp_path / "out" / "figures" / f"{NAME}.quick.heatmap.png").is_file()


def test_renderers_escape():
    blocks = [report.Block("table", header=("a|b",), items=(("<x>",),)), report.Block("p", "1 < 2")]
    assert "a\\|b" in report.render_markdown(blocks)
    page = report.render_html(blocks, "t")
    assert "&lt;x&gt;" in page and "1 &lt; 2" in page


def test_chart_bytes_png_and_svg():
    chart = alt.Chart(pd.DataFrame({"x": [1, 2], "y": [3, 4]})).mark_line().encode(x="x:Q", y="y:Q")
    assert figures.chart_bytes(chart, "png").startswith(PNG_MAGIC)
    assert figures.chart_bytes(chart, "svg").lstrip().startswith(b"<svg")
    with pytest.raises(engine.ConfigError, match="'format' parameter"):
        figures.chart_bytes(chart, "gif")


def test_cli_figure_and_report(tmp_path, fresh_cache, capsys):
    svg, csv = tmp_path / "f.svg", tmp_path / "f.csv"
    args = [
        "figure",
        "linear_ae.dynamics",
        "--set",
        "steps=300",
        "--set",
        "record_every=50",
        "--chart",
        "loss",
    ]
    assert cli.main([*args, "--out", str(svg)]) == 0
    assert b"<svg" in svg.read_bytes()[:500]
    assert cli.main([*args, "--out", str(csv), "--cached-only"]) == 0  # now cached
    assert set(pd.read_csv(csv)["variant"]) == {"uniform", "non_uniform", "rotation", "non_uniform+rotation"}
    capsys.readouterr()
    assert cli.main(["figure", NAME, "--chart", "pie", "--out", str(svg)]) == 2
    assert "'chart' parameter of linear_ae.snapshot must be one of 'heatmap'" in capsys.readouterr().err
    assert cli.main(["figure", NAME, "--out", str(tmp_path / "f.gif")]) == 2
    assert cli.main(["figure", NAME, "--cached-only", "--out", str(svg)]) == 2
    assert "not in the cache" in capsys.readouterr().err and not engine.is_cached(NAME)
    assert cli.main(["report", "--out", str(tmp_path / "rep"), "--cached-only"]) == 0
    assert (tmp_path / "rep" / "report.md").is_file() and (tmp_path / "rep" / "report.html").is_file()


def test_report_zip_for_the_app(fresh_cache):
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(report.report_zip())).namelist()
    assert {"report/report.md", "report/report.html"} <= set(names)


def test_projector_type_wins_over_the_charts_own_and_other_settings_stay():
    chart = (
        alt.Chart(pd.DataFrame({"x": [1]}))
        .mark_point()
        .encode(x="x:Q")
        .configure_axis(labelFontSize=9, grid=False)
    )
    config = figures.for_projector(chart)["config"]
    assert config["axis"]["labelFontSize"] == 33 and config["axis"]["titleFontSize"] >= 33  # 9 px: unreadable
    assert config["axis"]["grid"] is False  # the chart's other choices are kept
    assert config["legend"]["labelFontSize"] == 33


def test_report_shows_figures_at_one_size_a_status_per_scale_and_sanity_checks_apart(tmp_path, fresh_cache):
    engine.run(NAME)
    report.build_report(tmp_path / "out", cached_only=True)
    md = (tmp_path / "out" / "report.md").read_text()
    page = (tmp_path / "out" / "report.html").read_text()
    widths = re.findall(r'<img src="[^"]+" alt="[^"]*" width="(\d+)">', md)
    assert widths and set(widths) == {str(report.FIGURE_WIDTH)}
    assert f"max-width:{report.FIGURE_WIDTH}px" in page and "img{width:100%" in page
    assert "ours, quick scale" in md and "ours, paper scale" in md and "paper setup" in md
    kinds = {c.kind for exp in engine.experiments().values() for c in exp.claims}
    assert ("Sanity checks (fail only on a bug)" in md) == ("sanity" in kinds)


def test_exports_have_explicit_sizes_and_untruncated_legends():
    chart = (
        alt.Chart(pd.DataFrame({"x": [1, 2], "c": ["a long legend label that vega would cut", "b"]}))
        .mark_point()
        .encode(x="x:Q", color="c:N")
        .properties(width="container")
    )
    spec = figures.file_spec(chart)
    assert isinstance(spec["width"], float) and isinstance(spec["height"], float)  # no container off screen
    assert spec["autosize"]["type"] == "pad"  # the picture grows around everything drawn
    assert spec["encoding"]["color"]["legend"]["labelLimit"] == 0  # legends never truncated
    assert figures.measure(spec) == pytest.approx((624, 384), abs=3)  # 6.5 x 4 in at 96 px per inch
    svg = figures.chart_bytes(chart, "svg").decode()
    assert "a long legend label that vega would cut" in svg and "NaN" not in svg
    assert figures.chart_bytes(chart, "svg") is figures.chart_bytes(chart, "svg")  # cached per spec


# ----------------------------------------------------------------------------- every chart draws


def data_marks(svg: str) -> int:
    """Items drawn by the data marks of a Vega SVG (role-mark groups; axes, legends and titles have
    other roles): paths with a non-empty outline, texts, lines."""
    count = 0
    for body in re.findall(r'<g class="mark-\w+ role-mark[^"]*"[^>]*>(.*?)</g>', svg, flags=re.S):
        count += len(re.findall(r'<path[^>]* d="M[^"]+"', body)) + body.count("<text") + body.count("<line")
    return count


def coloured_pixels(png: bytes) -> int:
    """Pixels whose channels differ by more than 40 (axes, grid and text are grey; data marks are in
    the theme's colours)."""
    import io

    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 40).sum())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(engine.experiments()))
def test_every_chart_exports_with_its_marks_drawn(name):
    exp = engine.get_experiment(name)
    frame = engine.run(name)  # the quick default: a cache hit when another test computed it
    for which in exp.charts:
        chart = exp.chart(frame, which)
        svg = figures.chart_bytes(chart, "svg").decode()
        png = figures.chart_bytes(chart, "png")
        assert "NaN" not in svg, (name, which)  # a scale without a domain draws nothing
        assert data_marks(svg) > 0, (name, which)  # marks, not only axes
        assert png.startswith(PNG_MAGIC) and coloured_pixels(png) > 100, (name, which)


def test_the_mark_checks_see_a_blank_chart():
    empty = (
        alt.Chart(pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}))
        .mark_line(color="#d62728")
        .encode(x="x:Q", y="y:Q")
        .transform_filter("datum.x > 5")
    )  # axes only: every row filtered out
    drawn = (
        alt.Chart(pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}))
        .mark_line(color="#d62728")
        .encode(x="x:Q", y="y:Q")
    )
    assert data_marks(figures.chart_bytes(empty, "svg").decode()) == 0
    assert coloured_pixels(figures.chart_bytes(empty, "png")) == 0
    assert data_marks(figures.chart_bytes(drawn, "svg").decode()) > 0
    assert coloured_pixels(figures.chart_bytes(drawn, "png")) > 100
