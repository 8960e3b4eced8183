"""Python's garbage collector paused while the server imports its libraries.

An import phase (the first page of a fresh server; the background warm-up of :mod:`ui.warm`)
allocates hundreds of thousands of objects that live as long as the process, and the collector's
passes over them find no garbage: on this 2-core machine they took 0.3 s of the first visit and
0.6-0.9 s of the warm-up (``tests/test_app.py`` checks the behaviour, ``benchmarks/`` the time).
Within :func:`paused` the collector is off; when the last such phase ends, what they loaded is
frozen out of the collector's way (:func:`gc.freeze`: later collections, including Streamlit's
after every run, skip it) and the collector is on again. This module imports nothing heavy, so
``app.py`` can enter it before importing the engine.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_phases = 0  # import phases in progress, in any thread
_first_run_seen = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Collector off inside (nested and concurrent phases share one pause); on again, with what
    was loaded frozen, when the last phase ends, also by an exception."""
    global _phases
    with _lock:
        _phases += 1
        if _phases == 1:
            gc.disable()
    try:
        yield
    finally:
        with _lock:
            _phases -= 1
            if _phases == 0:
                gc.freeze()
                gc.enable()


@contextlib.contextmanager
def paused_on_first_run() -> Iterator[None]:
    """:func:`paused` around the first run of the app in this process (it imports the engine and
    pandas); later runs import nothing new and keep the collector as it is."""
    global _first_run_seen
    with _lock:
        first, _first_run_seen = not _first_run_seen, True
    if not first:
        yield
        return
    with paused():
        yield
