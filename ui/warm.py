"""Warm the pages' heavy imports in the background once the app has served its first page.

The home page and the scoreboard import no torch and no phenomenon's science (the registries are
light), so the first visit after ``streamlit run app.py`` is quick. The pages do need them: right
after the first page is served, one daemon thread imports every module a page imports and every
phenomenon's modules (torch among them), the first page of the navigation first, so that a
student's first click finds them loaded while they read the home page. A page clicked before the
thread is done waits only for what is still loading (Python's import lock), never for a second
copy, and while a page runs (:func:`foreground`) the thread loads no new module, not even inside a
long import such as torch's (it waits before each of its submodules, :func:`_on_audit`, unless
the page is waiting for that very import): the page has the interpreter and the CPU.
``PHENOMENA_WARM=0`` turns it off (the test suite does).

The collector is paused meanwhile, and what was loaded is then frozen (:mod:`ui.collector`):
Streamlit collects garbage after every run (``runner.postScriptGC``), and a full collection over
torch, pandas and altair's 300k objects took about 0.2 s per page view, holding the interpreter
while the finished page waited to be sent; the collector's passes during the imports took 0.6-0.9 s.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import logging
import os
import pkgutil
import sys
import threading
import time
from pathlib import Path

from engine.core.registry import PHENOMENA_PACKAGE, available, page_path
from ui import collector

ENV_VAR = "PHENOMENA_WARM"
PAGES = Path(__file__).resolve().parent.parent / "pages"
log = logging.getLogger("phenomena.ui")
_lock = threading.Lock()
_thread: threading.Thread | None = None
_quiet = threading.Condition()
_running = 0  # page runs in progress, in any session
PAUSE_LIMIT_S = 60.0  # a page that computes for minutes does not hold the warm-up back for longer
YIELD_LIMIT_S = 10.0  # the longest wait inside an import (see _yield_to_pages)
_warming_thread_id: int | None = None  # the thread that warms, while it does
_audit_hook_added = False


@contextlib.contextmanager
def foreground():
    """Around a page run (``app.py``): meanwhile the warming thread starts no new import."""
    global _running
    with _quiet:
        _running += 1
    try:
        yield
    finally:
        with _quiet:
            _running -= 1
            _quiet.notify_all()


def _wait_for_quiet() -> None:
    with _quiet:
        _quiet.wait_for(lambda: _running == 0, timeout=PAUSE_LIMIT_S)


def _someone_waits_for(thread_id: int) -> bool:
    """Whether another thread is blocked on a module lock that ``thread_id`` holds (a page that
    imports torch while the warm-up is inside torch's import): then the warm-up must go on.
    Read from importlib's own deadlock detection (``_blocking_on``: thread id -> the lock it waits
    for, or a list of them from Python 3.12); an interpreter without it gives False."""
    blocking = getattr(importlib._bootstrap, "_blocking_on", None)
    if not isinstance(blocking, dict):
        return False
    for held in list(blocking.values()):
        locks = held if isinstance(held, list) else [held]
        if any(getattr(lock, "owner", None) == thread_id for lock in locks):
            return True
    return False


def _yield_to_pages() -> None:
    """Inside one long import (torch's 800 modules take 1.5 s), before each of its modules: while a
    page runs, wait, unless that page waits for a module this thread is importing (at most
    YIELD_LIMIT_S at a time, in case it waits for something else this thread holds)."""
    me, deadline = threading.get_ident(), time.monotonic() + YIELD_LIMIT_S
    with _quiet:
        while _running and time.monotonic() < deadline and not _someone_waits_for(me):
            _quiet.wait(0.005)


def _on_audit(event: str, args: tuple) -> None:
    """Python's "import" audit event comes before a module is loaded, in the importing thread,
    holding its parents' module locks but not the global import lock, so waiting there blocks no
    other import (a ``sys.meta_path`` finder would run under that global lock)."""
    if event == "import" and _warming_thread_id is not None and threading.get_ident() == _warming_thread_id:
        _yield_to_pages()


def page_imports(path: Path) -> list[str]:
    """The absolute modules a page script imports at its top level, in order (``import a.b`` and
    ``from a.b import c`` give ``a.b``; ``from a import b`` gives ``a`` and, when it is one, ``a.b``)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return found


def modules_to_warm() -> list[str]:
    """What the pages will import, in the order a student meets them: per page (navigation order)
    its own imports and its phenomenon's modules (torch comes with the first that needs it), then
    talk mode's, then torch in case no page pulled it in; Altair first, which every page's charts
    need and no module imports at its top. Names that are not modules (a class
    imported from a module) are skipped when warmed."""
    names = []
    for p in available():
        names += page_imports(page_path(p.name))
        package = importlib.import_module(f"{PHENOMENA_PACKAGE}.{p.name}")
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    names += page_imports(PAGES / "talk.py") + ["torch"]
    names.insert(0, "altair")  # the charts modules load it on their first chart (engine.core.lazy)
    return list(dict.fromkeys(names))


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent that is not a package: a class, a function
        return False


def warm() -> int:
    """Import :func:`modules_to_warm`; return how many were imported. Failures are logged (the
    page that needs a broken module shows its error), never raised."""
    with contextlib.suppress(AttributeError, OSError):  # below the threads serving pages (Linux)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    global _warming_thread_id, _audit_hook_added
    count = 0
    with _lock:
        if not _audit_hook_added:  # audit hooks stay for the process's life: one, idle after warming
            sys.addaudithook(_on_audit)
            _audit_hook_added = True
        _warming_thread_id = threading.get_ident()
    try:
        with collector.paused():  # an import phase: no collector passes, then frozen (ui/collector.py)
            for name in modules_to_warm():
                _wait_for_quiet()
                try:
                    if _is_module(name):
                        importlib.import_module(name)
                        count += 1
                except Exception as err:  # noqa: BLE001 (a broken module is the page's to report)
                    log.info("warming %s failed: %s: %s", name, type(err).__name__, err)
            _wait_for_quiet()
    finally:
        _warming_thread_id = None
    return count


def start_once() -> bool:
    """Start the warming thread unless it was started before in this process or is turned off
    (``PHENOMENA_WARM=0``); return whether it was started now."""
    global _thread
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    with _lock:
        if _thread is not None:
            return False
        _thread = threading.Thread(target=warm, name="phenomena-warm", daemon=True)
        _thread.start()
    return True
