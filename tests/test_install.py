"""``pip install -e .`` (README): pyproject's package discovery finds every package under engine/
and ui/ (a new phenomenon too), and an editable install imports the engine from any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP = ("engine", "ui")


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _python_folders(root: Path) -> set[str]:
    """Every folder under engine/ and ui/ that holds Python files, as a dotted package name."""
    out = set()
    for top in TOP:
        for path in (root / top).rglob("*.py"):
            if "__pycache__" not in path.parts:
                out.add(".".join(path.parent.relative_to(root).parts))
    return out


def test_package_discovery_finds_every_package_and_the_scaffold_templates():
    from setuptools import find_namespace_packages, find_packages

    found_by = (
        find_namespace_packages if _config()["packages"]["find"].get("namespaces", True) else find_packages
    )
    found = set(found_by(where=str(ROOT), include=_config()["packages"]["find"]["include"]))
    missing = _python_folders(ROOT) - found
    assert not missing, f"pip install would leave out {sorted(missing)} (a folder without __init__.py?)"
    assert {"engine.phenomena.ntk.science", "engine.phenomena.linear_ae", "engine.core", "ui"} <= found
    assert not {p for p in found if p.split(".")[0] not in TOP}
    data = _config()["package-data"]["engine"]
    templates = [p.relative_to(ROOT / "engine").as_posix() for p in (ROOT / "engine").rglob("*.tmpl")]
    assert templates and all(any(Path(t).match(pattern) for pattern in data) for t in templates)


def test_discovery_check_sees_a_folder_without_init(tmp_path):
    """The check above can fail: a science subfolder without __init__.py is not a package."""
    from setuptools import find_packages

    (tmp_path / "engine" / "phenomena" / "x" / "science").mkdir(parents=True)
    for folder in ("engine", "engine/phenomena", "engine/phenomena/x"):
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "engine" / "phenomena" / "x" / "science" / "kernels.py").write_text("")
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "__init__.py").write_text("")
    found = set(find_packages(where=str(tmp_path), include=_config()["packages"]["find"]["include"]))
    assert _python_folders(tmp_path) - found == {"engine.phenomena.x.science"}


def _run(args: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_an_editable_install_imports_the_engine_from_another_folder(tmp_path):
    """A fresh clone's steps, offline: in a new virtual environment (it sees this one's packages
    through a .pth file, but not an install of the lab this one may have), ``pip install -e .``
    (no deps, no build isolation), then ``python -m engine`` and imports from another folder."""
    repo, venv, elsewhere = tmp_path / "repo", tmp_path / "venv", tmp_path / "elsewhere"
    for item in (*TOP, "pyproject.toml", "README.md"):
        if (ROOT / item).is_dir():
            shutil.copytree(ROOT / item, repo / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / item, repo / item)
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PHENOMENA_CACHE"] = str(tmp_path / "cache")
    assert _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env).returncode == 0
    python = venv / "bin" / "python"
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # numpy, torch, ...

    before = _run([python, "-c", "import engine"], elsewhere, env)
    assert before.returncode != 0 and "No module named 'engine'" in before.stderr

    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    install = [*pip, "install", "-q", "--no-deps", "--no-build-isolation", "--prefix", venv, "-e", "."]
    done = _run(install, repo, env)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = (
        "import engine, engine.phenomena.ntk.science, engine.scaffold\n"
        "print(engine.__file__)\n"
        "print(engine.scaffold.TEMPLATES.joinpath('science.py.tmpl').is_file())\n"
    )
    ran = _run([python, "-c", probe], elsewhere, env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.splitlines() == [str(repo / "engine" / "__init__.py"), "True"]  # the checkout itself
    listed = _run([python, "-m", "engine", "list", "linear_ae.snapshot"], elsewhere, env)
    assert listed.returncode == 0 and listed.stdout.startswith("linear_ae.snapshot  (version"), listed.stderr

    wheel = _run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "w", "."], repo, env
    )
    assert wheel.returncode == 0, wheel.stderr[-3000:]
    (built,) = (tmp_path / "w").glob("*.whl")  # a regular build carries every module and template too
    names = set(zipfile.ZipFile(built).namelist())
    wanted = {p.relative_to(repo).as_posix() for top in TOP for p in (repo / top).rglob("*") if p.is_file()}
    assert wanted - names == set()
