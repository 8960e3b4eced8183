"""The phenomena registry: every package under ``engine/phenomena/`` is discovered, none is listed.

A phenomenon package declares itself in its ``__init__.py`` with ``PHENOMENON = Phenomenon(...)``
(metadata only, cheap to import) and registers its experiments in ``experiments.py`` as a
module-level ``EXPERIMENTS`` tuple. Adding a paper therefore touches nothing outside its own
package, its page ``pages/<name>.py`` and its test file.

Core never imports a phenomenon by name: packages are found with :mod:`pkgutil` under
:data:`PHENOMENA_PACKAGE` and imported by string, so a broken one is reported and skipped.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .experiment import Experiment
from .validation import ConfigError

PHENOMENA_PACKAGE = "engine.phenomena"
log = logging.getLogger("engine")


@dataclass(frozen=True)
class Phenomenon:
    """One paper's phenomenon, as the navigation, the scoreboard and the CLI name it."""

    name: str  # package name under engine/phenomena/ and the page's file name under pages/
    title: str  # short title shown in the navigation
    paper: str  # authors, title, venue
    summary: str  # one sentence: what the student sees
    icon: str = ":material/science:"
    order: int = 100  # position in the navigation and on the scoreboard (then by name)


#: name -> one-line reason, for phenomena whose package exists but failed to load.
BROKEN: dict[str, str] = {}
_LOADED: dict[str, tuple] = {}
_DISCOVERED: list[Phenomenon] = []


def _discover() -> list[Phenomenon]:
    """Every phenomenon package's ``PHENOMENON``, in navigation order (cached per process)."""
    if not _DISCOVERED:
        package = importlib.import_module(PHENOMENA_PACKAGE)
        found = []
        for info in pkgutil.iter_modules(package.__path__):
            if not info.ispkg or info.name.startswith("_"):
                continue
            try:
                module = importlib.import_module(f"{PHENOMENA_PACKAGE}.{info.name}")
                meta = module.PHENOMENON
                if not isinstance(meta, Phenomenon) or meta.name != info.name:
                    raise TypeError(f"PHENOMENON must be a Phenomenon named {info.name!r}")
                found.append(meta)
            except Exception as err:  # report, never crash the app
                BROKEN[info.name] = f"{type(err).__name__}: {err}"
                log.error("phenomenon %s failed to load: %s", info.name, BROKEN[info.name])
        _DISCOVERED.extend(sorted(found, key=lambda p: (p.order, p.name)))
    return list(_DISCOVERED)


def phenomena() -> tuple[Phenomenon, ...]:
    """All discovered phenomena, in navigation order."""
    return tuple(_discover())


def available() -> list[Phenomenon]:
    """The phenomena whose experiments load and whose page exists."""
    load_experiments()
    return [p for p in phenomena() if p.name in _LOADED and page_path(p.name).exists()]


def page_path(name: str) -> Path:
    """The Streamlit page file of a phenomenon."""
    return Path(__file__).resolve().parents[2] / "pages" / f"{name}.py"


def load_experiments(only: str | None = None) -> dict:
    """Import the phenomena's ``experiments`` modules (or just ``only``'s) and collect them.

    A module that fails to import is recorded in :data:`BROKEN` and skipped, so one broken page
    never takes the whole lab down; ``tests/test_engine.py`` insists that BROKEN is empty.
    """
    for p in phenomena():
        if (only and p.name != only) or p.name in _LOADED or p.name in BROKEN:
            continue
        try:
            module = importlib.import_module(f"{PHENOMENA_PACKAGE}.{p.name}.experiments")
            _LOADED[p.name] = tuple(module.EXPERIMENTS)
        except Exception as err:  # report, never crash the app
            BROKEN[p.name] = f"{type(err).__name__}: {err}"
            log.error("phenomenon %s failed to load: %s", p.name, BROKEN[p.name])
    found = {}
    for experiments in _LOADED.values():
        for exp in experiments:
            if exp.name in found:
                raise RuntimeError(f"experiment name {exp.name!r} registered twice")
            found[exp.name] = exp
    return found


_REGISTRY: dict[str, Experiment] = {}


def experiments() -> dict[str, Experiment]:
    """The registry ``name -> Experiment`` of every phenomenon (imported lazily)."""
    for name, exp in load_experiments().items():
        _REGISTRY.setdefault(name, exp)
    return _REGISTRY


def get_experiment(name: str) -> Experiment:
    """Look up an experiment or raise one clear ``ConfigError`` listing the known names.

    Only the experiment's own phenomenon module is imported (a CLI call or a Dask worker that
    needs linear_ae does not pay for torch models it never uses).
    """
    if name not in _REGISTRY:
        for found, exp in load_experiments(only=name.split(".", 1)[0]).items():
            _REGISTRY.setdefault(found, exp)
    if name not in _REGISTRY:
        registry = experiments()
        if name not in registry:
            raise ConfigError(f"Unknown experiment {name!r}; known: {', '.join(sorted(registry))}.")
    return _REGISTRY[name]


@contextmanager
def registered(exp: Experiment) -> Iterator[Experiment]:
    """Register ``exp`` for the duration of a ``with`` block (a test's or a notebook's trial
    experiment); whatever held that name before comes back afterwards."""
    experiments()
    before = _REGISTRY.get(exp.name)
    _REGISTRY[exp.name] = exp
    try:
        yield exp
    finally:
        if before is None:
            _REGISTRY.pop(exp.name, None)
        else:
            _REGISTRY[exp.name] = before


@contextmanager
def failing(name: str, reason: str) -> Iterator[None]:
    """Within the block, phenomenon ``name`` counts as failed to load with ``reason`` (what the app
    and the scoreboard show when a package is broken); it is restored afterwards."""
    load_experiments()
    loaded, broken = _LOADED.pop(name, None), BROKEN.get(name)
    BROKEN[name] = reason
    try:
        yield
    finally:
        if loaded is not None:
            _LOADED[name] = loaded
        if broken is None:
            BROKEN.pop(name, None)
        else:
            BROKEN[name] = broken
