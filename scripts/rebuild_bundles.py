"""Rebuild the shipped bundles (``bundles/*.zip``) for the code as it is now: ``make bundles``.

A bundle entry records the fingerprint of the phenomenon code that computed it
(:mod:`engine.core.fingerprint`); after an edit under ``engine/phenomena/<name>/`` that phenomenon's
shipped results are stale and are no longer imported (``tests/test_fingerprint.py`` says which).
This script, per bundle, in a throwaway cache:

1. imports the bundle: every entry still current is kept, not recomputed;
2. recomputes what is missing: for ``quick.zip`` every experiment's quick grid (so a new experiment
   or a new slider position is filled too), for ``paper-cpu.zip`` the paper preset of each
   experiment it held, for ``real-cpu.zip`` the real-data preset of each experiment it held;
3. exports the result over the old bundle (atomically).

So only the edited phenomena are recomputed. Usage (from the repository root)::

    python scripts/rebuild_bundles.py                 # both bundles, 2 jobs
    python scripts/rebuild_bundles.py --check         # which bundles hold stale results; computes nothing
    python scripts/rebuild_bundles.py quick.zip --jobs 4 --out /tmp    # a trial, bundles/ untouched

Computed on the CPU (the shipped results say so). A full rebuild takes about 5 minutes (quick) and
25 minutes (paper-cpu) and about 30 minutes (real-cpu) on two cores; a rebuild after one phenomenon's edit, that phenomenon's share.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import bundle  # noqa: E402
from engine.core import cache, fingerprint  # noqa: E402
from engine.core.registry import experiments  # noqa: E402
from engine.sweep import precompute  # noqa: E402

BUNDLES = {
    "quick.zip": "quick",
    "paper-cpu.zip": "paper",
    "real-cpu.zip": "real",
}  # file under bundles/ -> preset


def manifest_entries(path: Path) -> list[dict]:
    """The raw manifest entries of a bundle we shipped ourselves."""
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))["entries"]


def stale_phenomena(path: Path) -> list[str]:
    """The phenomena whose results in the bundle were computed by other code (or another version)."""
    registry = experiments()
    stale = set()
    for item in manifest_entries(path):
        name = item["experiment"]
        if name not in registry:
            continue
        if item["version"] != registry[name].version or not fingerprint.is_current(name, item.get("meta")):
            stale.add(name.split(".")[0])
    return sorted(stale)


def targets(path: Path, preset: str, only: list[str] | None = None) -> list[str]:
    """The experiments whose ``preset`` grid the rebuilt bundle holds (of the ``only`` phenomena)."""
    registry = experiments()
    if preset == "quick":
        names = sorted(n for n, exp in registry.items() if "quick" in exp.presets)
    else:
        held = {item["experiment"] for item in manifest_entries(path)} if path.exists() else set()
        names = sorted(n for n in held if n in registry and preset in registry[n].presets)
    return [n for n in names if only is None or n.split(".")[0] in only]


def rebuild(
    path: Path, preset: str, jobs: int, out: Path | None = None, only: list[str] | None = None
) -> int:
    """Rebuild the bundle ``path`` (written to ``out``, default: over it) in a throwaway cache;
    return the number of failed configs."""
    start = time.perf_counter()
    before = os.environ.get(cache.ENV_VAR)
    with tempfile.TemporaryDirectory(prefix="rebuild-bundle-") as tmp:
        os.environ[cache.ENV_VAR] = tmp
        cache.clear_memo()
        try:
            failed = _fill(path, preset, jobs, out or path, only)
        finally:
            if before is None:
                os.environ.pop(cache.ENV_VAR, None)
            else:
                os.environ[cache.ENV_VAR] = before
            cache.clear_memo()
    print(f"wrote {out or path} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return failed


def _fill(path: Path, preset: str, jobs: int, out: Path, only: list[str] | None = None) -> int:
    """Import ``path``'s current entries into the (empty) cache, compute the rest, export (with
    ``only``: just those phenomena's results, the others left out until a full rebuild)."""
    failed = 0
    names = targets(path, preset, only)
    if path.exists():
        result = bundle.import_report(path)
        print(f"{path.name}: kept {result.imported} current results", file=sys.stderr)
        for line in result.stale:
            print(f"  recomputing: {line}", file=sys.stderr)
    for name in names:
        summary = precompute(name, preset, jobs=jobs, device="cpu")
        print(f"  {name} [{preset}]: {summary.line()}", file=sys.stderr)
        for config, error in summary.failures:
            print(f"    failed {config}: {error}", file=sys.stderr)
        failed += len(summary.failures)
    count = bundle.export_bundle(out, names, preset)
    print(f"{out.name}: {count} results", file=sys.stderr)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help=f"any of {', '.join(BUNDLES)} (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--only", action="append", metavar="PHENOMENON", help="rebuild only these phenomena's results"
    )
    parser.add_argument("--check", action="store_true", help="only list stale bundles; exit 1 if any")
    parser.add_argument(
        "--out", type=Path, help="write the rebuilt bundles into this folder (default: bundles/)"
    )
    args = parser.parse_args(argv)
    files = args.files or list(BUNDLES)
    unknown = [f for f in files if f not in BUNDLES]
    if unknown:
        parser.error(f"unknown bundle {unknown[0][:80]!r}; choose from {', '.join(BUNDLES)}")
    if args.check:
        stale = {f: stale_phenomena(ROOT / "bundles" / f) for f in files}
        for file, names in stale.items():
            print(f"{file}: {'stale: ' + ', '.join(names) if names else 'current'}")
        return 1 if any(stale.values()) else 0
    out = args.out
    if out is not None and not out.is_dir():
        parser.error(f"--out {str(out)[:80]!r} is not a folder")
    failed = sum(
        rebuild(ROOT / "bundles" / f, BUNDLES[f], args.jobs, out and out / f, args.only) for f in files
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
