"""Shared test set-up: every test session gets its own empty cache folder and one torch thread
pool size, so tests never read a developer's cache/ and never write into it."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_SESSION_CACHE = tempfile.mkdtemp(prefix="phenomena-test-cache-")
os.environ["PHENOMENA_CACHE"] = _SESSION_CACHE
os.environ.setdefault("PHENOMENA_DATA", str(Path(_SESSION_CACHE) / "data"))
