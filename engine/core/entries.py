"""A cache entry and its on-disk form: Parquet bytes you parse, never a pickle you unpickle.

An entry is ``{"frame": DataFrame, "key": str | None, "digest": str, "meta": dict}``:

* ``key``: the hex key of the slot it belongs to (experiment, version, canonical config), or None
  for an entry not bound yet (a worker's result before the driver stores it);
* ``digest``: SHA-256 over the key and the frame (:func:`bound_digest`), so a frame copied into
  another key's slot, or edited in place, no longer matches;
* ``meta``: provenance, flat JSON scalars (seconds, device, host, computed_at, imported_from, ...).

On disk an entry is one Parquet file whose schema metadata carries ``{"key", "digest", "meta"}`` as
JSON (:func:`entry_to_bytes`, :func:`entry_from_bytes`). Reading it runs no code: pyarrow parses
the columns; pickle-based extension types are not enabled in pyarrow >= 14. Every read goes through
:mod:`engine.core.decoding`, whose decoded-size limits are checked before any column is expanded.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import joblib
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .decoding import check_storable, read_frame, read_table

META_KEY = b"phenomena_lab.entry"
MAX_META_ITEMS = 32
MAX_META_TEXT = 200
MAX_HEADER_BYTES = 64 * 2**10  # the JSON header in an entry's schema metadata


_KNOWN: ContextVar[dict[tuple, tuple[Any, str]] | None] = ContextVar("known_hashes", default=None)


@contextmanager
def hashes_remembered() -> Iterator[None]:
    """Within the block, and in this thread only, :func:`frame_digest` hashes each frame object
    once and :func:`entry_key` each (experiment, version, config object) once.

    For a batch that checks the same frames and keys several times (an import: the bundle's digest
    and key, the new entry's, the journal's, the store's and the index's) and modifies none of them
    in between. Each object is held until the block ends, so no other can take its ``id``."""
    token = _KNOWN.set({})
    try:
        yield
    finally:
        _KNOWN.reset(token)


def _remembered(slot: tuple, obj: Any, compute) -> str:
    known = _KNOWN.get()
    if known is None:
        return compute()
    held = known.get(slot)
    if held is not None and held[0] is obj:
        return held[1]
    value = compute()
    known[slot] = (obj, value)
    return value


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 over a frame's column names, dtypes and values (index ignored)."""
    return _remembered(("frame", id(frame)), frame, lambda: _frame_digest(frame))


def _frame_digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    h.update(json.dumps([str(t) for t in frame.dtypes]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return h.hexdigest()


def bound_digest(key: str | None, frame: pd.DataFrame) -> str:
    """The digest of ``frame`` bound to the slot ``key`` (the plain frame digest when unbound)."""
    plain = frame_digest(frame)
    if key is None:
        return plain
    return hashlib.sha256(f"{key}:{plain}".encode()).hexdigest()


def canonical_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as it reads back from Parquet (index dropped), so a computed result and a later
    cache hit are the same frame, dtypes included. (Our own bytes: no limits; a frame over them is
    refused when it is stored, see :func:`entry_to_bytes`.)"""
    data = frame_to_parquet(frame.reset_index(drop=True))
    return pq.read_table(pa.BufferReader(data), use_threads=False).to_pandas(use_threads=False)


def frame_to_parquet(frame: pd.DataFrame, metadata: dict[bytes, bytes] | None = None) -> bytes:
    """Parquet bytes of a frame (index dropped), with extra schema metadata."""
    return _table_to_parquet(pa.Table.from_pandas(frame, preserve_index=False), metadata)


def _table_to_parquet(table: pa.Table, metadata: dict[bytes, bytes] | None = None) -> bytes:
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def frame_from_parquet(data: bytes) -> pd.DataFrame:
    """The frame stored in Parquet bytes, within :mod:`engine.core.decoding`'s limits (ValueError
    beyond them)."""
    return read_frame(data)


def clean_meta(meta: Any) -> dict[str, Any]:
    """Provenance reduced to at most 32 flat JSON scalars (strings cut to 200 characters).

    Raises ValueError for anything that is not a dict of str keys.
    """
    if not isinstance(meta, dict) or len(meta) > MAX_META_ITEMS:
        raise ValueError("meta must be a dict of at most 32 items")
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if not isinstance(k, str) or not 0 < len(k) <= 64:
            raise ValueError("meta keys must be strings of 1..64 characters")
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, str):
            v = v[:MAX_META_TEXT]
        elif not (v is None or isinstance(v, (bool, int, float))):
            v = str(v)[:MAX_META_TEXT]
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
            v = str(v)[:MAX_META_TEXT]
        out[k] = v
    return out


def entry_key(name: str, version: int, config: dict[str, Any]) -> str:
    """The stable hex key of one cache entry: experiment, science version, canonical config."""
    return _remembered(
        ("key", name, version, id(config)),
        config,
        lambda: hash_plain(
            ("entry_key", name, int(version)), config, lambda: joblib.hash([name, int(version), config])
        ),
    )


_PLAIN_SCALARS = (bool, int, float, str, type(None))
_PLAIN_HASHES: dict[tuple, str] = {}
_PLAIN_HASHES_MAX = 20_000


def _plain_text(value: Any) -> str | None:
    """An exact text of a config built from plain values (the types spelled out, dict keys in
    order), or None when it holds anything else. Equal texts mean pickle-equal values."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return f"{kind.__name__}:{value!r}"
    if kind in (tuple, list):
        parts = [_plain_text(v) for v in value]
        return None if None in parts else f"{kind.__name__}[{','.join(parts)}]"
    if kind is dict:
        parts = []
        for k, v in value.items():
            text = _plain_text(v)
            if type(k) is not str or text is None:
                return None
            parts.append(f"{k!r}={text}")
        return f"dict{{{','.join(parts)}}}"
    return None


def hash_plain(tag: tuple, config: Any, compute) -> str:
    """``compute()`` (a joblib hash of ``config``, 0.3-1 ms), remembered process-wide under ``tag``
    and the config's exact text when the config is plain values: a page view, a scoreboard and an
    import ask for the same few hundred keys again and again. Anything else is hashed each time."""
    text = _plain_text(config)
    if text is None:
        return compute()
    slot = (*tag, text)
    known = _PLAIN_HASHES.get(slot)
    if known is None:
        known = compute()
        if len(_PLAIN_HASHES) >= _PLAIN_HASHES_MAX:
            _PLAIN_HASHES.clear()
        _PLAIN_HASHES[slot] = known
    return known


def make_entry(
    frame: pd.DataFrame, meta: dict[str, Any], key: str | None = None, *, from_parquet: bool = False
) -> dict[str, Any]:
    """Wrap a frame (normalised through Parquet) with its provenance, bound to ``key`` if given.

    ``from_parquet``: the frame was just read from Parquet (an imported member), so it is already
    in its canonical form and is not written and read again."""
    if from_parquet:
        return {
            "frame": frame,
            "key": key,
            "digest": bound_digest(key, frame),
            "meta": clean_meta(dict(meta)),
        }
    try:
        frame = canonical_frame(frame)
    except (pa.ArrowException, ValueError, TypeError) as err:
        raise TypeError(
            f"a result frame must be storable as Parquet (string column names, plain "
            f"column types); this one is not: {type(err).__name__}: {str(err)[:200]}"
        ) from None
    return {"frame": frame, "key": key, "digest": bound_digest(key, frame), "meta": clean_meta(dict(meta))}


def bind(entry: dict[str, Any], key: str) -> dict[str, Any]:
    """The same entry bound to slot ``key`` (a new dict; the frame is shared)."""
    return {
        "frame": entry["frame"],
        "key": key,
        "digest": bound_digest(key, entry["frame"]),
        "meta": dict(entry.get("meta", {})),
    }


def entry_is_valid(entry: Any, key: str | None = None) -> bool:
    """True for a well-formed entry whose frame matches its digest, and, if ``key`` is given,
    which is bound to that key."""
    try:
        return (
            isinstance(entry, dict)
            and isinstance(entry.get("frame"), pd.DataFrame)
            and (key is None or entry.get("key") == key)
            and entry.get("digest") == bound_digest(entry.get("key"), entry["frame"])
        )
    except Exception:  # any damage inside the parsed object counts as corrupt
        return False


def entry_to_bytes(entry: dict[str, Any], table: pa.Table | None = None) -> bytes:
    """One Parquet file: the frame, with key, digest and meta as JSON in the schema metadata.

    ``table``: the Arrow table the entry's frame was read from (an imported bundle member, its frame
    ``table.to_pandas()``): written as it is, which skips converting the frame back to Arrow (a
    third of an import's time), unless its pandas metadata keeps an index (then the frame is
    written, index dropped, as always). Either way the file reads back as the entry's frame.

    Raises :class:`~engine.core.decoding.DecodeRefused` for a frame the cache could not read back
    (over a decoded-size limit), so nothing is stored that every later read would refuse.
    """
    if table is None or not _without_index(table):
        table = pa.Table.from_pandas(entry["frame"], preserve_index=False)
    check_storable(table)
    header = json.dumps(
        {"key": entry.get("key"), "digest": entry["digest"], "meta": entry.get("meta", {})}, allow_nan=False
    )
    return _table_to_parquet(table, {META_KEY: header.encode()})


def _without_index(table: pa.Table) -> bool:
    """Whether ``table.to_pandas()`` has a plain default index (no index column, no stored range)."""
    try:
        return not (table.schema.pandas_metadata or {}).get("index_columns")
    except (ValueError, TypeError):  # unreadable pandas metadata: take the frame's own path
        return False


def reads_back_as_is(frame: pd.DataFrame) -> bool:
    """Whether the file :func:`entry_to_bytes` writes for this frame reads back as this very frame:
    a computed entry is already normalised through Parquet and an imported one is as read; only a
    frame with an index of its own (an imported table that kept one, see :func:`_without_index`) is
    stored without it."""
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None


def entry_from_bytes(data: bytes) -> dict[str, Any]:
    """Parse :func:`entry_to_bytes`' output; raises ValueError when the header is missing or malformed
    or the frame is over a decoded-size limit (checked before any column is expanded)."""
    raw = (pq.ParquetFile(pa.BufferReader(data)).schema_arrow.metadata or {}).get(META_KEY)
    if raw is None:
        raise ValueError("not a Phenomena Lab cache entry (no header)")
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError("cache entry header too long")
    table = read_table(data)
    header = json.loads(raw)
    if not isinstance(header, dict) or not isinstance(header.get("digest"), str):
        raise ValueError("malformed cache entry header")
    key = header.get("key")
    if key is not None and not isinstance(key, str):
        raise ValueError("malformed cache entry key")
    return {
        "frame": table.to_pandas(use_threads=False),  # small frames: pyarrow's pool costs more
        "key": key,
        "digest": header["digest"],
        "meta": clean_meta(header.get("meta", {})),
    }
