"""The example talk in headless Chromium, from a cache the test fills once (one server, one browser):

- slide by slide with the → key: no error, nothing computed live, the sidebar hidden, a reload
  stays on the slide;
- every slide at 1280x720 and 1920x1080: title, chart, bullets and navigation inside the viewport
  and no two of them overlapping;
- the arrow keys change the slide even after a slide's slider was used.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from app_server import chromium_page, running_app

from engine.core import cache
from engine.present import talk as talks
from engine.present import talk_check

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
WAIT_MS = 90_000
SHOTS = os.environ.get("TALK_SCREENSHOTS")  # a folder: save each slide's screenshot there
SCREENS = [(1280, 720), (1920, 1080)]
PARTS = ("title", "chart", "bullets", "nav")
MIN_CHART_TEXT = {1280: 20.0, 1920: 28.0}  # CSS px of the smallest chart text, by screen width
CHART_TEXT = """() => {
  const sizes = [];
  for (const t of document.querySelectorAll('.st-key-talk_chart .talk-svg svg text')) {
    if (!t.textContent.trim() || !t.getBoundingClientRect().height) continue;
    const m = t.getScreenCTM(), size = parseFloat(t.getAttribute('font-size')) || 0;
    sizes.push(size * Math.sqrt(m.a * m.a + m.b * m.b));  // the drawn size: the SVG is scaled to its box
  }
  return sizes.length ? Math.min(...sizes) : null;
}"""
BOXES = """() => {
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
    return r.width * r.height > 0 ? [r.left, r.top, r.right, r.bottom] : null; };
  const q = (s) => document.querySelector(s);
  return {title: box(q('.st-key-talk_head h1')),
          chart: box(q('.st-key-talk_chart .talk-svg svg > g')),
          bullets: box(q('.st-key-talk_bullets ul')), nav: box(q('.st-key-talk_nav')),
          width: window.innerWidth, height: window.innerHeight};
}"""


@pytest.fixture(scope="module")
def talk():
    return talks.load_talk(ROOT / "talks" / "example.toml")


@pytest.fixture(scope="module")
def player(talk, tmp_path_factory):
    """``(base url, page)``: the app on a cache holding every slide, and one Chromium page."""
    cache_dir = tmp_path_factory.mktemp("talk") / "cache"
    before = os.environ.get(cache.ENV_VAR)
    os.environ[cache.ENV_VAR] = str(cache_dir)
    cache.clear_memo()
    try:
        assert talk_check.precompute_talk(talk, sliders=False) == []
        assert talk_check.preflight(talk, render=False).ok
        with running_app(cache_dir) as url, chromium_page() as page:
            yield url, page
    finally:
        if before is None:
            os.environ.pop(cache.ENV_VAR, None)
        else:
            os.environ[cache.ENV_VAR] = before
        cache.clear_memo()


def settle(page) -> None:
    """Wait until the script run is over (no "Running..." status widget)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=WAIT_MS
    )


def assert_clean(page, slide) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, slide.label
    assert page.locator("[data-testid='stAlertContentError']").count() == 0, slide.label
    assert page.get_by_text("computing live").count() == 0, slide.label  # nothing computes on stage
    assert not page.locator("[data-testid='stSidebar']").is_visible(), slide.label


def wait_for_slide(page, slide, count: int) -> None:
    page.get_by_role("heading", name=slide.title).wait_for(timeout=WAIT_MS)
    page.get_by_text(f"{slide.number} / {count} ·").wait_for(timeout=WAIT_MS)
    settle(page)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=WAIT_MS)
    if slide.experiment is not None:
        page.locator(".st-key-talk_chart .talk-svg svg").first.wait_for(state="visible", timeout=WAIT_MS)
    if slide.bullets:  # Markdown with math renders after its (lazily loaded) KaTeX
        page.locator(".st-key-talk_bullets ul").first.wait_for(state="visible", timeout=WAIT_MS)
    page.wait_for_timeout(300)  # the chart's resize to its container


def overlap(a, b) -> float:
    """Area (px²) shared by two boxes [left, top, right, bottom]."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0)


@pytest.mark.parametrize(("width", "height"), SCREENS)
def test_every_slide_fits_the_screen_without_overlaps(player, talk, width, height):
    """Slide by slide with the → key: each slide's title, chart, bullets and navigation lie inside
    the viewport and do not overlap; no error, nothing computed live, the sidebar hidden."""
    url, page = player
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{url}/talk?talk=example&slide=1", wait_until="domcontentloaded")
    for slide in talk.slides:
        if slide.number > 1:
            page.locator("body").press("ArrowRight")
            page.wait_for_url(f"**slide={slide.number}**", timeout=WAIT_MS)
        wait_for_slide(page, slide, len(talk.slides))
        found = page.evaluate(BOXES)
        if SHOTS:
            page.screenshot(path=str(Path(SHOTS) / f"slide{slide.number:02d}-{width}x{height}.png"))
        where = f"{slide.label} at {width}x{height}"
        assert found["width"] == width and found["height"] == height
        expected = {"title", "nav"} | ({"bullets"} if slide.bullets else set())
        expected |= {"chart"} if slide.experiment is not None else set()
        boxes = {part: found[part] for part in PARTS if found[part] is not None}
        assert expected <= set(boxes), (where, found)
        for part, (left, top, right, bottom) in boxes.items():
            assert left >= -0.5 and top >= -0.5 and right <= width + 0.5 and bottom <= height + 0.5, (
                where,
                part,
                boxes[part],
            )
        for a, b in [(a, b) for i, a in enumerate(boxes) for b in list(boxes)[i + 1 :]]:
            assert overlap(boxes[a], boxes[b]) < 1.0, (where, a, boxes[a], b, boxes[b])
        if "chart" in boxes:  # the chart uses the screen: at least a third of its height
            assert boxes["chart"][3] - boxes["chart"][1] > height / 3, (where, boxes["chart"])
            smallest = page.evaluate(CHART_TEXT)  # readable from the back of the room
            assert smallest is not None and smallest >= MIN_CHART_TEXT[width], (where, smallest)
        assert_clean(page, slide)


def test_a_reload_stays_on_the_slide(player, talk):
    url, page = player
    last = talk.slides[-1]
    page.goto(f"{url}/talk?talk=example&slide={last.number}", wait_until="domcontentloaded")
    wait_for_slide(page, last, len(talk.slides))
    page.reload(wait_until="domcontentloaded")  # the slide number lives in the URL
    wait_for_slide(page, last, len(talk.slides))
    assert f"slide={last.number}" in page.url
    page.get_by_role("button", name="Previous").click()
    page.wait_for_url(f"**slide={last.number - 1}**", timeout=WAIT_MS)
    page.get_by_role("heading", name=talk.slides[-2].title).wait_for(timeout=WAIT_MS)


def test_arrow_keys_change_the_slide_after_a_slider_was_used(player, talk):
    url, page = player
    page.set_viewport_size({"width": 1400, "height": 900})
    slide = next(s for s in talk.slides if s.sliders and s.number < len(talk.slides))
    page.goto(f"{url}/talk?talk=example&slide={slide.number}", wait_until="domcontentloaded")
    wait_for_slide(page, slide, len(talk.slides))
    handle = page.locator(".st-key-talk_text input[type='range']").first
    handle.focus()  # the slider has the focus: without the talk's key handler it takes the arrows
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**slide={slide.number + 1}**", timeout=WAIT_MS)
    page.get_by_role("heading", name=talk.slides[slide.number].title).wait_for(timeout=WAIT_MS)
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**slide={slide.number}**", timeout=WAIT_MS)
