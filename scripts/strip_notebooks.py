"""Strip outputs from notebooks before committing them: ``python scripts/strip_notebooks.py``.

Notebooks are committed without outputs, execution counts or editor metadata (small diffs, no stale
numbers in git); the tests run every notebook, so the outputs are checked, not stored.
``tests/test_notebooks.py`` fails on a notebook that still holds any.

    python scripts/strip_notebooks.py                  # every notebooks/*.ipynb, in place
    python scripts/strip_notebooks.py --check          # list the notebooks that need it; exit 1 if any
    python scripts/strip_notebooks.py my.ipynb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
KEPT_METADATA = ("kernelspec", "language_info")  # notebook-level keys kept; cells keep only "tags"


def stripped(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` without outputs, execution counts and editor metadata."""
    out = nbformat.from_dict(notebook)
    out.metadata = nbformat.from_dict({k: v for k, v in notebook.metadata.items() if k in KEPT_METADATA})
    for cell in out.cells:
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items() if k == "tags"})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def needs_strip(path: Path) -> bool:
    notebook = nbformat.read(path, as_version=4)
    return stripped(notebook) != notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--check", action="store_true", help="only list notebooks holding outputs")
    args = parser.parse_args(argv)
    files = args.files or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = [path for path in files if needs_strip(path)]
    for path in dirty:
        if args.check:
            print(f"{path}: holds outputs or editor metadata")
        else:
            nbformat.write(stripped(nbformat.read(path, as_version=4)), path)
            print(f"stripped {path}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
