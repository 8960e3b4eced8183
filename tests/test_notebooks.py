"""Every notebook under notebooks/ runs top to bottom in a Jupyter kernel (nbclient; a fresh cache,
one thread, the checkout on the path), and is committed with its outputs stripped.

A notebook's own ``assert`` cells state its findings with their margins, so running it checks them."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 600  # a guard against a hung cell, not a speed target (each runs in under a minute)


def _strip_script():
    spec = importlib.util.spec_from_file_location("strip_notebooks", ROOT / "scripts" / "strip_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_papers_have_notebooks():
    assert {"double_descent", "ntk", "generalization"} <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    holding = [
        i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)
    ]
    assert not holding, f"{path.name}: cells {holding} hold outputs; run python scripts/strip_notebooks.py"
    assert not _strip_script().needs_strip(path), f"{path.name}: run python scripts/strip_notebooks.py"
    assert notebook.cells[0].cell_type == "markdown"
    setup = next(c.source for c in notebook.cells if c.cell_type == "code")
    assert "set_num_threads" in setup or "torch_threads" in setup  # thread settings come first


def test_the_strip_check_sees_outputs(tmp_path):
    strip = _strip_script()
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    code = next(c for c in notebook.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    code.execution_count = 3
    notebook.metadata["widgets"] = {"state": {}}
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(notebook, dirty)
    assert strip.needs_strip(dirty) and strip.main(["--check", str(dirty)]) == 1
    assert strip.main([str(dirty)]) == 0 and not strip.needs_strip(dirty)
    assert nbformat.read(dirty, as_version=4).cells == nbformat.read(NOTEBOOKS[0], as_version=4).cells


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("PHENOMENA_CACHE", str(tmp_path / "cache"))  # the kernel inherits the environment
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert str(ROOT / "engine" / "__init__.py") in printed  # this checkout's engine, not another install
    assert not list(ROOT.joinpath("notebooks").glob("*.parquet"))  # nothing written beside the notebooks
