"""Start the real app (``streamlit run app.py``) on a free port and open it in Debian's Chromium.

Used by the browser tests. Skips cleanly where /usr/bin/chromium is absent (CI installs it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(cache_dir: Path, timeout: float = 120.0):
    """Yield the base URL of a fresh app process that uses ``cache_dir`` as its cache."""
    port = free_port()
    env = {**os.environ, "PHENOMENA_CACHE": str(cache_dir), "PYTHONPATH": str(ROOT)}
    # The log goes to the system's temporary folder: the cache may be the repository's own.
    log_path = Path(tempfile.gettempdir()) / f"phenomena-streamlit-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log_path, timeout)
        yield url
    finally:
        stop(proc)
        log.close()


def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout: float, poll: float = 0.5) -> None:
    """Return once the server at ``url`` answers its health check; RuntimeError (naming the log)
    when its process ended or ``timeout`` seconds passed first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log_path}") from None
            time.sleep(poll)


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server process, killing it after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def chromium_page():
    """A Playwright page in headless Debian Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()
