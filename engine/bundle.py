"""Carry a cache to the talk laptop as one file that cannot execute code.

A bundle is a zip archive holding ``manifest.json`` and one Parquet file per result. The manifest
lists, per entry, the experiment, its version, its config, the SHA-256 of the Parquet bytes and the
frame digest. Import reads only JSON and Parquet (never a pickle), checks every hash, and refuses
the whole bundle with a clear message if anything is missing, damaged or tampered with, before
it writes a single entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pandas as pd

from engine.core import cache
from engine.core.experiment import config_to_dict
from engine.core.runner import get_experiment
from engine.core.validation import ConfigError

FORMAT = "phenomena-lab-bundle/1"


class BundleError(ValueError):
    """A bundle is unreadable, damaged or tampered with; nothing was imported."""


def export_bundle(path: str | Path, names: list[str] | None = None, preset: str | None = None) -> int:
    """Write every valid cached entry into the bundle at ``path``; return the count.

    ``names`` keeps those experiments only; ``preset`` keeps the configs of that preset's grid at
    the experiment's current version (e.g. only the paper-scale results). Never computes: an
    entry that is missing or damaged is left out.
    """
    entries = []
    grids: dict[str, list[dict]] = {}  # experiment -> its preset grid as plain dicts, built once
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for record in cache.index_records():
            name = record["experiment"]
            if (names and name not in names) or (preset and not _in_grid(record, preset, grids)):
                continue
            entry = cache.load_valid(name, record["version"], record["config"])
            if entry is None:
                continue
            payload = _parquet_bytes(entry["frame"])
            member = f"entries/{cache.entry_key(name, record['version'], record['config'])}.parquet"
            archive.writestr(member, payload)
            entries.append({
                "experiment": name,
                "version": record["version"],
                "config": record["config"],
                "file": member,
                "sha256": hashlib.sha256(payload).hexdigest(),
                "digest": cache.frame_digest(pd.read_parquet(io.BytesIO(payload))),
                "meta": entry.get("meta", {}),
            })
        archive.writestr("manifest.json", json.dumps({"format": FORMAT, "entries": entries}, indent=1))
    return len(entries)


def manifest(path: str | Path) -> list[dict]:
    """The manifest's entries (experiment, version, config, file, hashes, meta); [] if unreadable."""
    try:
        with zipfile.ZipFile(path) as archive:
            return list(json.loads(archive.read("manifest.json")).get("entries", []))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []


def import_bundle(path: str | Path) -> int:
    """Verify the whole bundle, then store its entries in the cache; return the count."""
    verified = []
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            if manifest.get("format") != FORMAT:
                raise BundleError(f"{path} is not a Phenomena Lab bundle (format {manifest.get('format')!r}).")
            for item in manifest["entries"]:
                payload = archive.read(item["file"])
                if hashlib.sha256(payload).hexdigest() != item["sha256"]:
                    raise BundleError(f"{path}: {item['file']} does not match its hash; the bundle was damaged "
                                      "or edited. Nothing was imported.")
                frame = pd.read_parquet(io.BytesIO(payload))
                entry = cache.make_entry(frame, item.get("meta", {}))
                if entry["digest"] != item["digest"]:
                    raise BundleError(f"{path}: {item['file']} holds different data than its manifest says. "
                                      "Nothing was imported.")
                verified.append((item["experiment"], int(item["version"]), item["config"], entry))
    except BundleError:
        raise
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as err:
        raise BundleError(f"{path} is not a readable bundle ({type(err).__name__}: {err}). "
                          "Nothing was imported.") from None
    for name, version, config, entry in verified:
        cache.store(name, version, config, entry)
    return len(verified)


def _in_grid(record: dict, preset: str, grids: dict[str, list[dict]] | None = None) -> bool:
    """Whether an index record is one of its experiment's ``preset`` configs, current version.

    ``grids`` memoises each experiment's grid across the records of one export.
    """
    name = record["experiment"]
    grids = {} if grids is None else grids
    try:
        exp = get_experiment(name)
        if name not in grids:
            grids[name] = [config_to_dict(c) for c in exp.grid(preset)]
    except ConfigError:  # an experiment that no longer exists or has no such preset
        return False
    return record["version"] == exp.version and record["config"] in grids[name]


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
