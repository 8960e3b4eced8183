"""Progress bars that do not flood the browser."""

from __future__ import annotations

import time

PROGRESS_INTERVAL_S = 0.2  # the least time between two progress-bar updates sent to the browser


def throttled(bar, text=lambda message: message):
    """``progress(fraction, message)`` that updates ``bar`` (an ``st.progress``) at most about five
    times a second: each update is a message the browser draws, on the same two cores as the
    computation (a quick run reports 20-50 steps in a second). ``text(message)``: the bar's words."""
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S or fraction >= 1.0:
            last[0] = now
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=text(message))

    return progress
