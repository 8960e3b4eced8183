"""``python -m engine new NAME``: a new phenomenon from a working skeleton.

Creates ``engine/phenomena/NAME/`` (``__init__``, ``science``, ``paper``, ``charts``,
``experiments``), ``pages/NAME.py`` and ``tests/test_NAME.py`` from ``engine/scaffold_template/``.
As generated, the phenomenon shows in the app's navigation, the CLI's ``list``, the claims
scoreboard and the test suite (its tests pass), with no edit anywhere else: the registry discovers
the package. The skeleton's science (the sample mean's error against n, a claim that holds for
Gaussian noise and fails for Cauchy noise) is meant to be replaced by the paper's.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from engine.core.validation import ConfigError, short_repr

TEMPLATES = Path(__file__).resolve().parent / "scaffold_template"
REPO_ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^[a-z][a-z0-9_]{2,30}$")
_TEXT = re.compile(r"^[\w .,:;()&/+-]{1,160}$")

#: template file -> where it goes, relative to the repository root
FILES = {
    "__init__.py.tmpl": "engine/phenomena/{name}/__init__.py",
    "science.py.tmpl": "engine/phenomena/{name}/science.py",
    "paper.py.tmpl": "engine/phenomena/{name}/paper.py",
    "charts.py.tmpl": "engine/phenomena/{name}/charts.py",
    "experiments.py.tmpl": "engine/phenomena/{name}/experiments.py",
    "page.py.tmpl": "pages/{name}.py",
    "test.py.tmpl": "tests/test_{name}.py",
}


def create(name: str, title: str = "", paper: str = "", *, root: Path | None = None) -> list[Path]:
    """Write the skeleton's seven files under ``root`` (default: this repository); return them.

    Refuses (``ConfigError``, nothing written) a name that is not a short lower-case identifier, a
    Python keyword, or already taken by a package, a page or a test file.
    """
    root = Path(root) if root is not None else REPO_ROOT
    if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
        raise ConfigError(
            "The 'name' parameter of new must be a lower-case identifier of 3-31 characters "
            f"(letters, digits, _; starting with a letter). Got {short_repr(name)} instead."
        )
    title = title or name.replace("_", " ").capitalize()
    paper = paper or "Authors: Title of the paper (Venue Year)"
    for label, text in (("title", title), ("paper", paper)):
        if not _TEXT.match(text):
            raise ConfigError(
                f"The '{label}' parameter of new must be 1-160 letters, digits, spaces or .,:;()&/+- "
                f"Got {short_repr(text)} instead."
            )
    targets = {tmpl: root / dest.format(name=name) for tmpl, dest in FILES.items()}
    taken = [str(p.relative_to(root)) for p in targets.values() if p.exists()]
    if taken:
        raise ConfigError(
            f"A phenomenon named {name!r} exists already ({', '.join(taken)}); choose another name."
        )
    written = []
    for tmpl, target in targets.items():
        text = (TEMPLATES / tmpl).read_text().format(name=name, title=title, paper=paper)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written
