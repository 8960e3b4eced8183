"""A cache entry: ``{"frame": DataFrame, "digest": str, "meta": dict}``, and its integrity check."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 over a frame's column names, dtypes and values (index ignored)."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    h.update(json.dumps([str(t) for t in frame.dtypes]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return h.hexdigest()


def make_entry(frame: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any]:
    """Wrap a computed frame with its digest and provenance."""
    return {"frame": frame, "digest": frame_digest(frame), "meta": dict(meta)}


def entry_is_valid(entry: Any) -> bool:
    """True for a well-formed entry whose frame still matches its digest."""
    try:
        return (
            isinstance(entry, dict)
            and isinstance(entry.get("frame"), pd.DataFrame)
            and entry.get("digest") == frame_digest(entry["frame"])
        )
    except Exception:  # any damage inside the unpickled object counts as corrupt
        return False
