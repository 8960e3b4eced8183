"""Which code computed a result: the source fingerprint of a phenomenon package.

Every cache entry records, in its header's provenance (``meta["source"]``), the fingerprint of the
phenomenon package whose code computed it: SHA-256 over the package's ``.py`` files (science,
experiments, configs, ... every file under ``engine/phenomena/<name>/``, subpackages included,
except the modules that only *read* results: ``charts.py`` and ``claims.py``, whose edits change no
number), each as its path relative to the package and its bytes (line endings normalised). Any edit
of the others counts, a comment's too: simple, fast (about a millisecond) and never blind to a change.
An entry whose fingerprint differs from the code on disk now is *stale*:
the cache recomputes it instead of serving it, ``export`` leaves it out and a bundle's stale
entries are not imported.

The fingerprint is per phenomenon: an edit in ``linear_ae`` makes only ``linear_ae``'s results
stale; the engine's core, the pages and the other phenomena keep theirs. Code outside the package
(``engine/core``, a notebook's own functions) is not fingerprinted; an experiment's explicit
``version`` still guards it. An experiment whose name does not start with a phenomenon package (a
test's or a notebook's trial experiment) has no fingerprint (None) and is never judged stale.

Hashing is memoised on the files' sizes and modification times, so a check costs a few ``stat``
calls; an edit while a process runs (a notebook with autoreload, a running app) is seen at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

META_FIELD = "source"  # the key of the fingerprint in an entry's provenance (meta)
PHENOMENA_PACKAGE = "engine.phenomena"

_MEMO: dict[str, tuple[tuple, str]] = {}  # phenomenon -> (file signature, fingerprint)
#: Modules that turn results into charts and verdicts and compute none: a new chart or a reworded
#: claim leaves every cached number valid (and the shipped bundles current).
READERS_ONLY = ("charts.py", "claims.py")


def package_folder(phenomenon: str) -> Path | None:
    """The folder of ``engine.phenomena.<phenomenon>``, or None if there is no such package."""
    if not phenomenon.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(f"{PHENOMENA_PACKAGE}.{phenomenon}")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _sources(folder: Path) -> list[Path]:
    """The package's ``.py`` files that compute results, sorted (``__pycache__``, hidden folders and
    the top-level :data:`READERS_ONLY` modules skipped)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__pycache__")))
        top = Path(dirpath) == folder
        found += [
            Path(dirpath) / f for f in filenames if f.endswith(".py") and not (top and f in READERS_ONLY)
        ]
    return sorted(found)


def fingerprint_folder(folder: Path) -> str:
    """SHA-256 (hex) over a package folder's ``.py`` files: relative path and bytes (``\r\n`` read as
    ``\n``, so a checkout on Windows fingerprints as on Linux)."""
    digest = hashlib.sha256()
    for path in _sources(folder):
        text = path.read_bytes().replace(b"\r\n", b"\n")
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(text).digest())
    return digest.hexdigest()


def phenomenon_fingerprint(phenomenon: str) -> str | None:
    """The fingerprint of ``engine/phenomena/<phenomenon>/`` as it is on disk now, or None when there
    is no such package."""
    folder = package_folder(phenomenon)
    if folder is None:
        return None
    files = _sources(folder)
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    memo = _MEMO.get(phenomenon)
    if memo is None or memo[0] != signature:
        memo = (signature, fingerprint_folder(folder))
        _MEMO[phenomenon] = memo
    return memo[1]


def experiment_fingerprint(experiment: str) -> str | None:
    """The fingerprint of the package an experiment (``"<phenomenon>.<what>"``) belongs to."""
    return phenomenon_fingerprint(str(experiment).split(".", 1)[0])


def is_current(experiment: str, meta: Mapping[str, Any] | None) -> bool:
    """Whether a result with provenance ``meta`` was computed by the code on disk now.

    False for an entry without a fingerprint (computed before fingerprints existed) of an experiment
    that has one now; True for an experiment without a package (never judged stale).
    """
    now = experiment_fingerprint(experiment)
    return now is None or (meta or {}).get(META_FIELD) == now


def short(fingerprint: Any) -> str:
    """The first 10 characters of a fingerprint, or 'none' (for messages)."""
    return str(fingerprint)[:10] if isinstance(fingerprint, str) and fingerprint else "none"


def forget() -> None:
    """Drop the memo (tests that rewrite a package within one second of a previous hash)."""
    _MEMO.clear()
