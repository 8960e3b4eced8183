"""Malformed URL values never raise: every URL-backed widget of every page, given values that are not
valid for it (inf, 1e309, a 5,000-digit number, text, out of range, nan), shows a short notice naming
the dropped value and draws its default. Runs are replaced by ``None`` (the sweep is about the URL,
not the science), so a page's widget paths are walked in seconds."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.widgets as w
from ui import show

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["app.py"] + sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py") if p.name != "talk.py")
BAD = ["inf", "-inf", "1e309", "9" * 5000, "abc", "99999", "-1", "nan", "2.5e", "0x10", " "]
KINDS = ("slider", "select_slider", "radio", "selectbox", "toggle", "number_input")
TIMEOUT = 60
MAX_STATES = 8  # per page: the default state and the views its radios and toggles open


@pytest.fixture(autouse=True)
def no_runs(monkeypatch):
    """Pages draw their widgets; nothing is computed (a run shows nothing, as after an error)."""
    monkeypatch.setattr(show, "run", lambda *a, **k: None)
    monkeypatch.setattr(
        show,
        "run_on_demand",
        lambda name, overrides=None, **k: (
            [None] * len(overrides) if isinstance(overrides, (list, tuple)) else None
        ),
    )


def url_widgets(at: AppTest) -> dict[str, object]:
    """``{key: widget}`` for every URL-backed widget on screen (main area and sidebar)."""
    found = {}
    for kind in KINDS:
        for widget in list(getattr(at, kind)) + list(getattr(at.sidebar, kind)):
            if widget.key and not widget.key.startswith("$$"):
                found[widget.key] = widget
    return found


def url_text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def run_page(page: str, params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT)
    at.query_params.update(params)
    return at.run()


def states(page: str) -> list[tuple[dict[str, str], dict[str, object]]]:
    """The page's states reachable through one radio option or toggle from the default, each with
    the widgets it shows: ``[(url params, {key: default value})]``."""
    at = run_page(page, {})
    assert not at.exception, (page, [e.value for e in at.exception])
    base = {k: wid.value for k, wid in url_widgets(at).items()}
    found = [({}, base)]
    variations = []
    for key, widget in url_widgets(at).items():
        if widget.type == "toggle":
            variations.append({key: url_text(not widget.value)})
        elif widget.type == "radio":
            variations += [{key: url_text(o)} for o in widget.options if o != url_text(widget.value)]
    for params in variations[: MAX_STATES - 1]:
        at = run_page(page, params)
        assert not at.exception, (page, params, [e.value for e in at.exception])
        shown = {k: wid.value for k, wid in url_widgets(at).items() if k not in params}
        found.append((params, shown))
    return found


@pytest.mark.parametrize("page", PAGES)
def test_every_widget_drops_malformed_url_values_with_a_notice(page):
    for params, widgets in states(page):
        keys = sorted(widgets)
        assert keys, (page, params)  # every page has URL-backed widgets (home: the sidebar's)
        # three runs per state; widget i gets bad values i, i+3, i+6, ... so every kind is tried
        for shift in range(3):
            bad = {key: BAD[(i * 3 + shift) % len(BAD)] for i, key in enumerate(keys)}
            at = run_page(page, {**params, **bad})
            assert not at.exception, (page, params, bad, [e.value for e in at.exception])
            shown = url_widgets(at)
            notices = " ".join(x.value for x in itertools.chain(at.warning, at.sidebar.warning))
            for key in keys:
                if key not in shown:  # a widget another widget's default hides
                    continue
                assert shown[key].value == widgets[key], (page, key, bad[key][:20], shown[key].value)
                assert f"`{key}=" in notices, (page, key, bad[key][:20], notices[:300])
            assert len(notices) < 400 * len(keys)  # short: a 5,000-digit value is not echoed whole


@pytest.mark.parametrize(
    ("raw", "like", "expected"),
    [
        ("3", 1, 3),
        ("3.0", 1, 3),
        ("3e0", 1, 3),
        ("0.25", 1.0, 0.25),
        ("true", False, True),
        ("off", True, False),
        ("sgd", "adam", "sgd"),
    ],
)
def test_valid_url_text_parses_to_the_widgets_type(raw, like, expected):
    value = w._parse(raw, like)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("raw", BAD + ["2.5", "1" * 31, "maybe"])
@pytest.mark.parametrize("like", [1, 1.0, True])
def test_malformed_url_text_is_refused_for_numbers_and_switches(raw, like):
    if like is True and raw.strip() in ("1", "0"):
        pytest.skip("a valid switch value")
    if isinstance(like, float) and raw in ("99999", "-1", "2.5", "1" * 31):
        pytest.skip("a finite number: the widget's range decides")
    if isinstance(like, int) and not isinstance(like, bool) and raw in ("99999", "-1"):
        pytest.skip("an integer: the widget's range decides")
    with pytest.raises((ValueError, OverflowError)):
        w._parse(raw, like)


def test_talk_url_values_unknown_talk_and_slide():
    talk = str(ROOT / "pages" / "talk.py")
    at = AppTest.from_file(talk, default_timeout=TIMEOUT)
    at.query_params.update({"talk": "nonexistent", "slide": "1"})
    at.run()
    assert not at.exception
    text = " ".join(x.value for x in at.warning) + " ".join(m.value for m in at.markdown)
    assert "no talk named 'nonexistent'" in text and "talk=example" in text
    assert not at.button  # nothing is played
    for raw in ("abc", "99999", "-3", "9" * 5000, "inf"):
        at = AppTest.from_file(talk, default_timeout=TIMEOUT)
        at.query_params.update({"talk": "example", "slide": raw})
        at.run()
        assert not at.exception, raw
        assert "does not exist" in " ".join(c.value for c in at.caption), raw
        assert at.title[0].value  # a slide is shown
