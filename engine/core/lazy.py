"""A module imported on first use, for modules that name a heavy library at their top level but
need it only inside their functions (the charts need Altair only when a chart is drawn, so the
registries, the home page and the command line's ``list`` load without it)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """``alt = LazyModule("altair")``: ``alt.Chart`` imports altair on its first use (Python's
    import lock makes that safe from several threads) and returns ``altair.Chart``."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_module", None)

    def _load(self) -> ModuleType:
        module = self._module
        if module is None:
            module = importlib.import_module(self._name)
            object.__setattr__(self, "_module", module)
        return module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._load(), attribute)

    def __setattr__(self, attribute: str, value: Any) -> None:
        raise AttributeError(f"LazyModule({self._name!r}) is read-only")

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r}, {state}>"
