"""One real-browser test: the app in headless Chromium, the LAE page, a slider moved, the chart redrawn."""

from __future__ import annotations

import hashlib

import pytest

from app_server import chromium_page, running_app

pytestmark = pytest.mark.browser


def chart_fingerprint(page) -> str:
    """A hash of the first chart's rendered pixels (vega-embed draws to canvas or SVG)."""
    chart = page.locator(".vega-embed").first
    chart.wait_for(state="visible", timeout=90_000)
    return hashlib.sha256(chart.screenshot()).hexdigest()


def test_lae_page_slider_redraws_the_chart(tmp_path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    with running_app(cache_dir) as url, chromium_page() as page:
        page.goto(f"{url}/linear_ae?lae_steps=2000", wait_until="domcontentloaded")
        page.get_by_text("Linear autoencoders find the principal axes").wait_for(timeout=90_000)
        page.wait_for_selector("text=Running", state="detached", timeout=90_000)
        before = chart_fingerprint(page)

        slider = page.get_by_role("slider", name="Latents k")
        slider.focus()
        page.keyboard.press("ArrowRight")  # k: 4 -> 5
        page.wait_for_url("**lae_k=5**", timeout=60_000)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000
        )
        page.wait_for_timeout(500)
        after = chart_fingerprint(page)

        assert before != after
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.locator("[data-testid='stAlert']").filter(has_text="error").count() == 0
