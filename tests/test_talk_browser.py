"""The example talk played in headless Chromium from a cache the test fills: slide by slide with
the → key, no error element and no live computation on any slide, the sidebar hidden, and a
reload that stays on the same slide."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app_server import chromium_page, running_app
from engine.core import cache
from engine.present import talk as talks

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
WAIT_MS = 90_000
SHOTS = os.environ.get("TALK_SCREENSHOTS")  # a folder: save each slide's screenshot there


def settle(page) -> None:
    """Wait until the script run is over (no "Running..." status widget)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=WAIT_MS)


def assert_clean(page, slide) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, slide.label
    assert page.locator("[data-testid='stAlertContentError']").count() == 0, slide.label
    assert page.get_by_text("computing live").count() == 0, slide.label  # nothing computes on stage
    assert not page.locator("[data-testid='stSidebar']").is_visible(), slide.label


def test_example_talk_plays_slide_by_slide_from_the_cache(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_VAR, str(cache_dir))
    cache._FUNCS.clear()
    talk = talks.load_talk(ROOT / "talks" / "example.toml")
    assert talks.precompute_talk(talk, sliders=False) == []
    assert talks.preflight(talk, render=False).ok

    with running_app(cache_dir) as url, chromium_page() as page:
        page.goto(f"{url}/talk?talk=example&slide=1", wait_until="domcontentloaded")
        for slide in talk.slides:
            if slide.number > 1:
                page.locator("body").press("ArrowRight")
                page.wait_for_url(f"**slide={slide.number}**", timeout=WAIT_MS)
            page.get_by_role("heading", name=slide.title).wait_for(timeout=WAIT_MS)
            page.get_by_text(f"{slide.number} / {len(talk.slides)} ·").wait_for(timeout=WAIT_MS)
            settle(page)
            if slide.experiment is not None:
                page.locator(".vega-embed").first.wait_for(state="visible", timeout=WAIT_MS)
            if SHOTS:
                page.screenshot(path=str(Path(SHOTS) / f"slide{slide.number:02d}.png"))
            assert_clean(page, slide)

        page.reload(wait_until="domcontentloaded")  # the slide number lives in the URL
        last = talk.slides[-1]
        page.get_by_role("heading", name=last.title).wait_for(timeout=WAIT_MS)
        settle(page)
        assert f"slide={last.number}" in page.url
        page.get_by_role("button", name="← Previous").click()
        page.wait_for_url(f"**slide={last.number - 1}**", timeout=WAIT_MS)
        page.get_by_role("heading", name=talk.slides[-2].title).wait_for(timeout=WAIT_MS)
    cache._FUNCS.clear()
