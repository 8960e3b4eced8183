"""The app in headless Chromium (one server, one browser for the module): the LAE page redraws its
chart when a slider moves; every page at 1400 px draws its charts inside their boxes (no clipped
legend), with no exception."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from app_server import chromium_page, running_app

from engine.core.registry import available

pytestmark = pytest.mark.browser
WAIT_MS = 90_000
# every chart's drawing (canvas or SVG) against the box Streamlit gives it, in CSS pixels
CHART_BOXES = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map((box) => {
  const drawn = box.querySelector('canvas, svg.marks');
  if (!drawn) return null;
  const b = box.getBoundingClientRect(), d = drawn.getBoundingClientRect();
  const frame = box.closest('[data-testid="stElementContainer"]').getBoundingClientRect();
  return {box: [b.left, b.right], drawn: [d.left, d.right, d.width], frame: [frame.left, frame.right],
          scroll: [box.scrollWidth, box.clientWidth]};
})"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("browser") / "cache"
    cache_dir.mkdir()
    with running_app(cache_dir) as url, chromium_page() as page:
        # Streamlit serves a page URL as a bare script (pages/ folder) until the server has run
        # app.py once; the home page first makes every later URL go through st.navigation
        page.goto(url, wait_until="domcontentloaded")
        page.locator('[data-testid="stSidebar"]').get_by_text("Cache:").wait_for(timeout=WAIT_MS)
        yield url, page


def settle(page) -> None:
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=WAIT_MS
    )


def chart_fingerprint(page) -> str:
    """A hash of the first chart's rendered pixels (vega-embed draws to canvas or SVG)."""
    chart = page.locator(".vega-embed").first
    chart.wait_for(state="visible", timeout=WAIT_MS)
    return hashlib.sha256(chart.screenshot()).hexdigest()


def test_lae_page_slider_redraws_the_chart(app):
    url, page = app
    page.goto(f"{url}/linear_ae?lae_steps=2000", wait_until="domcontentloaded")
    page.get_by_text("Linear autoencoders find the principal axes").wait_for(timeout=WAIT_MS)
    page.wait_for_selector("text=Running", state="detached", timeout=WAIT_MS)
    before = chart_fingerprint(page)

    slider = page.get_by_role("slider", name="Latents k")
    slider.focus()
    page.keyboard.press("ArrowRight")  # k: 4 -> 5
    page.wait_for_url("**lae_k=5**", timeout=60_000)
    settle(page)
    page.wait_for_timeout(500)
    after = chart_fingerprint(page)

    assert before != after
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlert']").filter(has_text="error").count() == 0


def test_a_second_download_clicked_at_once_arrives_too(app):
    url, page = app
    page.goto(f"{url}/linear_ae?lae_steps=2000", wait_until="domcontentloaded")
    button = page.get_by_role("button", name="Chart (PNG)").first
    button.wait_for(state="visible", timeout=WAIT_MS)
    settle(page)
    files = []
    page.on("download", lambda download: files.append(download))
    button.click()
    button.click()  # the second click follows the first at once, before its file has arrived
    deadline = time.monotonic() + 30
    while len(files) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(files) == 2, f"{len(files)} of 2 downloads arrived"
    blobs = [Path(f.path()).read_bytes() for f in files]
    assert all(b.startswith(b"\x89PNG") and len(b) > 5_000 for b in blobs)
    assert blobs[0] == blobs[1]  # the same chart, the same file
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("name", [p.name for p in available()])
def test_every_chart_on_the_page_fits_its_box_at_1400_px(app, name):
    url, page = app
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{url}/{name}", wait_until="domcontentloaded")
    # the sidebar's result count is drawn after the page ran: the whole app script is done
    page.locator('[data-testid="stSidebar"]').get_by_text("Cache:").wait_for(timeout=WAIT_MS)
    settle(page)
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=WAIT_MS)
    page.wait_for_timeout(500)
    assert page.locator("[data-testid='stException']").count() == 0, name
    charts = [c for c in page.evaluate(CHART_BOXES) if c is not None]
    assert charts, name
    for i, c in enumerate(charts):
        # a legend beside the plot widens the drawing; it must stay inside the chart's own frame
        assert c["drawn"][0] >= c["frame"][0] - 1 and c["drawn"][1] <= c["frame"][1] + 1, (name, i, c)
        assert c["scroll"][0] <= c["scroll"][1] + 1, (name, i, c)  # nothing scrolled out of view
