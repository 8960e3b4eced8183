"""Figures where they are used: every registered chart as a file (a report column) and on a talk
slide, opened in Chromium and checked by the figure lint (tests/figure_lint.py); the report's
figures; PDF pages of the asked size; and a lint that does fail on a broken picture.

The quick results come from the shipped bundle (bundles/quick.zip), imported into this test's cache.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import figure_lint
import pytest
from app_server import CHROMIUM, CHROMIUM_FLAGS

from engine.core import cache
from engine.core.runner import experiments, run
from engine.present import figure_layout, figures

ROOT = Path(__file__).resolve().parent.parent
TALK_MIN_FONT = 32.0  # design px at 1920x1080: 33 px type, 32 allows for rounding of scaled marks


def media_box(pdf: bytes) -> tuple[float, float]:
    """A one-page PDF's size in points."""
    match = re.search(rb"MediaBox\s*\[\s*0\s+0\s+([0-9.]+)\s+([0-9.]+)\s*\]", pdf)
    assert match, "no MediaBox"
    return float(match.group(1)), float(match.group(2))


@pytest.fixture(scope="module")
def quick_cache(tmp_path_factory):
    """A cache holding every quick result (the shipped bundle)."""
    import os

    from engine import bundle

    folder = tmp_path_factory.mktemp("figures") / "cache"
    before = os.environ.get(cache.ENV_VAR)
    os.environ[cache.ENV_VAR] = str(folder)
    cache.clear_memo()
    bundle.import_report(ROOT / "bundles" / "quick.zip")
    yield folder
    if before is None:
        os.environ.pop(cache.ENV_VAR, None)
    else:
        os.environ[cache.ENV_VAR] = before
    cache.clear_memo()


@pytest.fixture(scope="module")
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        yield page
        browser.close()


CHARTS = [(name, chart) for name, exp in sorted(experiments().items()) for chart in exp.charts]


def test_every_chart_and_its_screen_spec_validate_against_the_vega_lite_schema(quick_cache):
    """The app builds specs without Altair's validation (0.1-0.2 s a chart on every page view), so
    every registered chart is validated here: the chart itself, and the themed spec the page draws."""
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    schema = load_schema()
    for name, chart in CHARTS:
        spec = experiments()[name].chart(run(name, preset="quick"), chart)
        if not isinstance(spec, dict):
            spec.to_dict(validate=True)  # raises SchemaValidationError naming the field
        screen = figures.themed(spec)
        error = validate_jsonschema(screen, schema, raise_error=False)
        assert error is None, f"{name}.{chart}: {error}"
    broken = {"mark": "line", "encoding": {"x": {"field": "n", "type": "quantity"}}, "data": {"values": []}}
    assert validate_jsonschema(broken, schema, raise_error=False) is not None  # the check can fail


@pytest.mark.browser
@pytest.mark.parametrize("name, chart", CHARTS, ids=[f"{n}.{c}" for n, c in CHARTS])
def test_every_chart_passes_the_lint_as_a_file_and_on_a_slide(quick_cache, browser_page, name, chart):
    frame = run(name, preset="quick")
    assert frame.attrs["cache"] == "hit"  # from the shipped bundle: this test never computes
    spec = experiments()[name].chart(frame, chart)
    file_svg = figures.chart_bytes(spec, "svg").decode()
    verdict = figure_lint.check(browser_page, f"{name}.{chart} file", file_svg, min_font=11.9)
    assert not verdict.problems, verdict
    assert abs(verdict.width - figure_layout.REPORT.width) <= 4, verdict  # 6.5 in
    assert abs(verdict.height - figure_layout.REPORT.height) <= 8 or figure_layout.keeps_aspect(
        spec.to_dict()
    ), verdict
    talk = figure_lint.check(
        browser_page,
        f"{name}.{chart} talk",
        figures.talk_svg(spec),
        min_font=TALK_MIN_FONT,
        max_legend_entries=figure_layout.SLIDE.max_legend_entries,
    )
    assert not talk.problems, talk


@pytest.mark.browser
def test_the_lint_fails_on_a_picture_that_collapses_or_clips(browser_page):
    """The old export (a 300 px view fitted around a title wider than itself) collapses its x-axis
    and draws the title outside the picture: the lint must say so; the fitted file passes."""
    import vl_convert

    frame = run("double_descent.linear")  # quick, computed in a second if not cached
    spec = figures._merge_config(
        experiments()["double_descent.linear"].chart(frame, "risk").to_dict(), figures.LAB_CONFIG
    )
    spec.update(width=300, autosize={"type": "fit", "contains": "padding"})
    broken = figure_lint.check(browser_page, "broken", vl_convert.vegalite_to_svg(spec))
    assert any("x-axes span" in p for p in broken.problems), broken
    assert any("outside the picture" in p for p in broken.problems), broken
    clipped = figures.chart_bytes(spec, "svg").decode().replace("GD step t", "GD step t…")
    assert any("ellipsis" in p for p in figure_lint.check(browser_page, "cut", clipped).problems)
    assert not figure_lint.check(browser_page, "fitted", figures.chart_bytes(spec, "svg").decode()).problems


def test_a_file_is_the_size_asked_for_in_every_format():
    frame = run("linear_ae.dynamics")
    chart = experiments()["linear_ae.dynamics"].chart(frame, "alignment")
    assert media_box(figures.chart_bytes(chart, "pdf")) == pytest.approx((468, 288), abs=3)  # 6.5 x 4 in
    half = figures.FileSize(3.25, 2.5, dpi=200, font_pt=8)
    assert media_box(figures.chart_bytes(chart, "pdf", size=half)) == pytest.approx((234, 180), abs=3)
    png = figures.chart_bytes(chart, "png", size=half)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == pytest.approx((650, 500), abs=8)  # 3.25 x 2.5 in at 200 dpi
    svg = figures.chart_bytes(chart, "svg").decode()
    assert 'width="6.500in"' in svg[:400]
    assert "Source Sans Pro" in svg  # one family: the registered font, in every format
    assert b"SourceSansPro" in figures.chart_bytes(chart, "pdf")  # embedded in the PDF
    with pytest.raises(figures.ConfigError, match="'width' parameter"):
        figures.FileSize(0.1, 4)


def test_cli_writes_a_pdf_and_every_chart_of_a_phenomenon(tmp_path):
    env_run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    out = tmp_path / "fig.pdf"
    done = env_run("figure", "linear_ae.dynamics", "--chart", "alignment", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF") and media_box(out.read_bytes()) == pytest.approx(
        (468, 288), abs=3
    )
    folder = tmp_path / "all"
    done = env_run("figure", "linear_ae", "--all", "--format", "svg", "--out", str(folder), "--width", "5")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in folder.iterdir())
    expected = sorted(f"{n}.{c}.svg" for n, c in CHARTS if n.startswith("linear_ae."))
    assert names == expected
    widths = [
        float(re.search(r'width="([0-9.]+)in"', (folder / n).read_text()[:400]).group(1)) for n in names
    ]
    assert widths == pytest.approx([5.0] * len(names), abs=0.04), widths  # --width 5: 5 in, every chart
    bad = env_run("figure", "linear_ae.dynamics", "--out", str(tmp_path / "x.png"), "--format", "pdf")
    assert bad.returncode == 2 and "'format' parameter" in bad.stderr
    bad = env_run("report", "--out", str(tmp_path / "r"), "--only", "nope")
    assert bad.returncode == 2 and "'only' parameter" in bad.stderr and "linear_ae" in bad.stderr


@pytest.mark.browser
def test_the_report_of_one_phenomenon_passes_the_lint_and_has_latex(quick_cache, browser_page, tmp_path):
    from engine.present.report import build_report

    seen = []
    summary = build_report(tmp_path / "r", only=["linear_ae"], progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0
    svgs = sorted((tmp_path / "r" / "figures").glob("*.svg"))
    assert svgs and all(p.name.startswith("linear_ae.") for p in svgs)
    for path in svgs:
        verdict = figure_lint.check(browser_page, path.name, path.read_text(), min_font=11.9)
        assert not verdict.problems, verdict
        assert path.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    tex = summary.latex.read_text()
    assert "\\includegraphics" in tex and ".pdf}" in tex and "\\input{tables/table-01.tex}" in tex
    assert (tmp_path / "r" / "tables" / "table-01.tex").read_text().startswith("\\begin{tabular}")


def _affine_measure(calls: list):
    """A stand-in for Vega's layout: the picture is 120 px of axes and legends plus the views."""

    def measure(spec):
        calls.append(1)
        views = figure_layout.views(spec)
        width = 120 + sum(float(v["width"]) for v in views[:1])
        height = 80 + sum(float(v["height"]) for v in views[:1]) + (40 if "title" in spec else 0)
        return width, height

    return measure


SIMPLE = {"title": "t", "mark": "line", "width": 300, "height": 200, "data": {"values": [{"x": 1, "y": 2}]}}


def test_a_remembered_fit_is_confirmed_with_one_layout_and_a_wrong_one_refitted():
    target = figure_layout.REPORT
    calls: list = []
    full = figure_layout.fit(SIMPLE, target, _affine_measure(calls))
    assert len(calls) == 3  # without a hint: (1, 1) without and with the title, then at the guess
    factors = full["usermeta"]["fit_factors"]
    calls.clear()
    again = figure_layout.fit(SIMPLE, target, _affine_measure(calls), hint=tuple(factors))
    assert len(calls) == 1 and again == full
    calls.clear()
    wrong = figure_layout.fit(SIMPLE, target, _affine_measure(calls), hint=(0.2, 3.0))
    assert len(calls) > 1
    width, height = _affine_measure([])(wrong)
    assert abs(width - target.width) <= 2 and abs(height - target.height) <= 2


def _bumpy_measure(calls: list):
    """Like :func:`_affine_measure`, plus a tick label that appears above 400 px of plot width and
    a legend row below 250 px of height: not affine, so a first guess misses."""
    affine = _affine_measure(calls)

    def measure(spec):
        width, height = affine(spec)
        view = figure_layout.views(spec)[0]
        return width + (25 if float(view["width"]) > 400 else 0), height + (
            18 if float(view["height"]) < 250 else 0
        )

    return measure


@pytest.mark.parametrize("spec", [SIMPLE, {k: v for k, v in SIMPLE.items() if k != "title"}])
def test_a_single_view_is_fitted_with_one_layout_at_the_guess_or_refined(spec):
    """One view: the second layout is at the guess from its own size, and the result is within
    2 px of the target either way (affine: confirmed at once; bumpy: the secant goes on); a
    concatenation takes the general route (two probes, then secant steps)."""
    target = figure_layout.REPORT
    for make, most in ((_affine_measure, 3), (_bumpy_measure, 6)):
        calls: list = []
        fitted = figure_layout.fit(spec, target, make(calls))
        width, height = make([])(fitted)
        assert abs(width - target.width) <= 2 and abs(height - target.height) <= 2, (width, height)
        title_layouts = int("title" in spec)
        assert len(calls) <= most - (1 - title_layouts)
        if make is _affine_measure:
            assert len(calls) == 2 + title_layouts
        else:
            assert len(calls) > 2 + title_layouts  # the guess missed: refined by secant steps
    pair = {"hconcat": [dict(SIMPLE, title="a"), dict(SIMPLE, title="b")]}
    calls = []
    figure_layout.fit(pair, target, _affine_measure(calls))
    assert len(calls) >= 3  # no guess for a composition: (1, 1), (0.5, 0.5), then secant steps


def test_fit_hints_live_in_the_cache_and_a_damaged_file_is_ignored(tmp_path, monkeypatch):
    import json
    import os

    from engine.present import fit_hints

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    fit_hints.remember("k1", [1.5, 0.75])
    assert fit_hints.recall("k1") == (1.5, 0.75) and fit_hints.recall("k2") is None
    path = tmp_path / fit_hints.FILE
    for damaged in (
        b"not json",
        b"[1, 2]",
        json.dumps({"k1": [1e9, 1]}).encode(),
        json.dumps({"k1": "x"}).encode(),
    ):
        path.write_bytes(damaged)
        assert fit_hints.recall("k1") is None  # ignored: a normal fit follows
    path.unlink()
    os.mkfifo(path)  # a FIFO where the file belongs: not read (no hang), then replaced by a file
    assert fit_hints.recall("k1") is None
    fit_hints.remember("k1", [1.0, 1.0])
    assert not path.is_fifo() and fit_hints.recall("k1") == (1.0, 1.0)
    path.unlink()
    fit_hints.remember("k1", [float("nan"), 1.0])  # not a factor fit() makes: not kept
    assert not path.exists()
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "absent"))
    fit_hints.remember("k1", [1.0, 1.0])  # no cache folder is made for a hint
    assert not (tmp_path / "absent").exists()
