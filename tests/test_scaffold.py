"""``python -m engine new NAME`` creates a phenomenon that works with no edit outside its own
package, page and test file: it shows in the CLI, the navigation and the scoreboard, and its
generated tests (and the generic constraint test) pass. Runs in a copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import scaffold
from engine.core.validation import ConfigError

ROOT = Path(__file__).resolve().parent.parent
COPIED = ["app.py", "pages", "ui", "engine", "pyproject.toml", ".streamlit", "talks", "tests"]

#: The suite's phenomenon-agnostic tests: those that iterate over every phenomenon, experiment, claim
#: or page (the registry, the pages folder), so a sixth phenomenon is what they see differently.
#: The example talk's test failed once a sixth phenomenon existed; the per-experiment and per-page
#: ones run for the new phenomenon only (-k). Left out: the Chromium tests (a server and a browser
#: per page, minutes), and tests that name one of the five phenomena.
REGISTRY_WIDE = [
    "tests/test_talk.py::test_example_talk_is_valid_and_covers_the_five_phenomena",
    "tests/test_engine.py::test_every_phenomenon_module_loads_and_registers",
    "tests/test_claims.py::test_scoreboard_lists_every_registered_claim_and_computes_nothing",
    "tests/test_app.py::test_home_lists_all_five_phenomena",
    "tests/test_report.py::test_every_chart_exports_with_its_marks_drawn",
    "tests/test_urls.py::test_every_widget_drops_malformed_url_values_with_a_notice",
    "tests/test_params.py",
]


def _copy_repo(dest: Path) -> None:
    for item in COPIED:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / item)


def _py(repo: Path, *args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PHENOMENA_CACHE": str(cache), "PYTHONPATH": str(repo)}
    return subprocess.run(
        [sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_a_scaffolded_phenomenon_appears_everywhere_and_passes_its_tests(tmp_path):
    repo = tmp_path / "repo"
    _copy_repo(repo)
    made = _py(repo, "-m", "engine", "new", "mean_demo", "--title", "Sample means", cache=tmp_path / "c")
    assert made.returncode == 0, made.stderr
    created = sorted(str(p.relative_to(repo)) for p in repo.rglob("*mean_demo*") if p.is_file())
    created += sorted(str(p.relative_to(repo)) for p in (repo / "engine/phenomena/mean_demo").glob("*.py"))
    assert {"pages/mean_demo.py", "tests/test_mean_demo.py", "engine/phenomena/mean_demo/science.py"} <= set(
        created
    )

    listed = _py(repo, "-m", "engine", "list", cache=tmp_path / "c")
    assert listed.returncode == 0 and "mean_demo.means" in listed.stdout

    probe = (
        "from engine.core.registry import available, BROKEN\n"
        "from engine.present.claims import all_claims\n"
        "assert not BROKEN, BROKEN\n"
        "print([p.name for p in available()])\n"
        "print([c.id for c in all_claims()])\n"
    )
    seen = _py(repo, "-c", probe, cache=tmp_path / "c")
    assert seen.returncode == 0, seen.stderr
    assert "'mean_demo'" in seen.stdout and "'mean_demo.rate'" in seen.stdout

    own = _py(
        repo, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_mean_demo.py", cache=tmp_path / "c"
    )
    assert own.returncode == 0 and "5 passed" in own.stdout, own.stdout[-3000:]
    linter = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert linter.returncode == 0 and "BROKEN" not in linter.stdout, linter.stdout[-3000:]
    new_files = ["engine/phenomena/mean_demo", "pages/mean_demo.py", "tests/test_mean_demo.py"]
    for args in (["check"], ["format", "--check"]):  # make test's lint step passes on the new files
        ruff = subprocess.run(
            [str(Path(sys.executable).parent / "ruff"), *args, *new_files],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ruff.returncode == 0, ruff.stdout[-3000:]

    swept = _py(repo, "-m", "engine", "precompute", "mean_demo", cache=tmp_path / "c")
    assert swept.returncode == 0 and "0 cached already, 6 computed, 0 failed" in swept.stderr, swept.stderr

    generic = _py(
        repo,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        *REGISTRY_WIDE,
        "-k",
        "mean_demo or five_phenomena or loads_and_registers or every_registered_claim",
        cache=tmp_path / "c",
    )
    assert generic.returncode == 0 and "9 passed" in generic.stdout, generic.stdout[-3000:]


def test_scaffold_refuses_bad_or_taken_names(tmp_path):
    for bad in ["", "A", "1abc", "has-dash", "class", "x" * 40, "../evil"]:
        with pytest.raises(ConfigError, match="'name' parameter of new"):
            scaffold.create(bad, root=tmp_path)
    scaffold.create("first_one", root=tmp_path)
    with pytest.raises(ConfigError, match="exists already"):
        scaffold.create("first_one", root=tmp_path)
    with pytest.raises(ConfigError, match="'title' parameter of new"):
        scaffold.create("second_one", title='x"); import os #', root=tmp_path)
    assert not (tmp_path / "pages" / "second_one.py").exists()
