"""The figure helper (engine/present/vl_helper.py): vl-convert in a second process draws the same
bytes as in this one, reports vl-convert's errors as ValueErrors, and when it dies the drawing goes
on in this process with the fonts it had been given."""

from __future__ import annotations

import io
import json

import font_source_sans_pro
import pytest
import vl_convert

from engine.present import figures, vl_helper

SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "data": {"values": [{"n": n, "risk": 1.0 / n, "series": s} for n in (1, 2, 4, 8) for s in "ab"]},
    "mark": "line",
    "encoding": {
        "x": {"field": "n", "type": "quantitative", "title": "n (samples)"},
        "y": {"field": "risk", "type": "quantitative"},
        "color": {"field": "series", "type": "nominal"},
    },
    "title": "risk against n",
}


@pytest.fixture
def helper(monkeypatch):
    monkeypatch.delenv(vl_helper.ENV_VAR, raising=False)
    vl_helper.stop()
    vl_helper._in_process()  # fonts an earlier helper was given: registered here, as on a fallback
    assert vl_helper.start()
    yield vl_helper._helper
    vl_helper.stop()


def test_the_helper_draws_what_this_process_draws(helper):
    """SVG, PNG and the scenegraph's size through the helper equal vl-convert's here, and the
    answers did come from the helper's process (its pipe was read)."""
    vl_convert.register_font_directory(font_source_sans_pro.font_directory)
    vl_helper.converter().register_font_directory(font_source_sans_pro.font_directory)
    here_svg = vl_convert.vegalite_to_svg(SPEC)
    assert vl_helper.converter().vegalite_to_svg(SPEC) == here_svg
    assert vl_helper.converter().vegalite_to_png(SPEC, scale=2.0) == vl_convert.vegalite_to_png(
        SPEC, scale=2.0
    )
    scene = vl_helper.converter().vegalite_to_scenegraph(SPEC)
    assert (scene["width"], scene["height"]) == pytest.approx(
        (vl_convert.vegalite_to_scenegraph(SPEC)["width"], vl_convert.vegalite_to_scenegraph(SPEC)["height"])
    )
    assert vl_helper.converter().svg_to_pdf(here_svg).startswith(b"%PDF")
    assert helper.alive() and vl_helper._fonts == [font_source_sans_pro.font_directory]


def test_an_error_of_vl_convert_arrives_as_its_value_error(helper):
    bad = {**SPEC, "mark": "no-such-mark"}
    with pytest.raises(ValueError) as here:
        vl_convert.vegalite_to_svg(bad)
    with pytest.raises(ValueError) as there:
        vl_helper.converter().vegalite_to_svg(bad)
    assert str(there.value) == str(here.value)
    assert helper.alive()  # one bad spec does not end the helper
    with pytest.raises(AttributeError, match="does not draw with 'javascript'"):
        helper.call("javascript", "1 + 1")


def test_when_the_helper_dies_drawing_goes_on_here_with_its_fonts(helper, monkeypatch):
    registered = []
    monkeypatch.setattr(vl_convert, "register_font_directory", lambda folder: registered.append(folder))
    vl_helper.converter().register_font_directory("/fonts/a")
    helper._process.kill()
    helper._process.wait()
    svg = vl_helper.converter().vegalite_to_svg(SPEC)
    assert svg == vl_convert.vegalite_to_svg(SPEC)
    assert vl_helper._helper is None and registered == ["/fonts/a"]  # given to this process first
    assert vl_helper.converter() is vl_convert


def test_off_switch_and_a_figure_file_through_the_helper(monkeypatch, helper):
    """``PHENOMENA_VL_HELPER=0`` starts none; a file export through the helper is the same file."""
    direct = figures.render(figures.file_spec(SPEC), "svg")
    figures._RENDERED.clear()
    assert figures.render(figures.file_spec(SPEC), "svg") == direct
    vl_helper.stop()
    monkeypatch.setenv(vl_helper.ENV_VAR, "0")
    assert not vl_helper.start() and vl_helper.converter() is vl_convert


def test_the_helper_side_answers_each_request_with_a_header_and_bytes():
    """The protocol, without a process: one JSON header line per request, then exactly its bytes."""
    requests = io.BytesIO(
        b"".join(
            json.dumps(r).encode() + b"\n"
            for r in (
                {"function": "vegalite_to_svg", "args": [SPEC], "kwargs": {}},
                {"function": "eval", "args": ["1"], "kwargs": {}},
                {"function": "get_vegalite_versions", "args": [], "kwargs": {}},
            )
        )
    )
    answers = io.BytesIO()
    vl_helper.serve(requests, answers)
    answers.seek(0)
    replies = []
    for _ in range(3):
        header = json.loads(answers.readline())
        replies.append((header, answers.read(header["length"])))
    assert answers.read() == b""
    (svg_h, svg), (bad_h, bad), (ver_h, versions) = replies
    assert svg_h["ok"] and svg_h["kind"] == "str" and svg.decode().startswith("<svg")
    assert not bad_h["ok"] and b"does not draw with 'eval'" in bad
    assert ver_h["kind"] == "json" and json.loads(versions) == vl_convert.get_vegalite_versions()
