"""Which modules a piece of code imports: it runs in a fresh interpreter (the test process has
loaded everything already), and the modules it left in ``sys.modules`` are returned.

Used by the tests that keep the home page, the scoreboard, the registries and the CLI's cache
reads light: they assert *which* modules load (behaviour), never how long that takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Packages a page of the lab needs and the home page must not load (torch alone is ~2 s).
HEAVY = ("torch", "torchvision", "scipy", "sklearn", "matplotlib", "mnist1d")
MARK = "MODULES_LOADED="


def modules_after(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> set[str]:
    """The names in ``sys.modules`` after ``code`` ran in a new Python process (repository root as
    working folder and on the path, ``PHENOMENA_WARM=0``, plus ``env``)."""
    script = f"{code}\nimport json as _j, sys as _s\nprint({MARK!r} + _j.dumps(sorted(_s.modules)))\n"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PHENOMENA_WARM": "0", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith(MARK)][-1]
    return set(json.loads(line[len(MARK) :]))


def heavy(modules: set[str]) -> list[str]:
    """The :data:`HEAVY` packages among ``modules`` (a phenomenon's torch or scipy science pulls one
    in; its numpy-only science does not count)."""
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))
