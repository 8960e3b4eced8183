"""vl-convert in a helper process, started before a figure command's imports.

vl-convert's JavaScript engine takes about 0.5 s to start on its first drawing, and it holds the
interpreter's lock meanwhile, so a thread cannot overlap it with anything. ``python -m engine
figure`` and ``report`` call :func:`start` before they import pandas, the engine and Altair (about
1 s): the helper starts its engine on the other core meanwhile, and the command's drawings go to it.
Everything else (the app, notebooks, the tests) draws in its own process, as before.

:func:`converter` is what :mod:`engine.present.figures` draws with: the helper while it is alive,
else the ``vl_convert`` module itself (no helper started, it failed to start, or it died: the fonts
registered with it are registered in this process before the first drawing here). Both answer the
same calls with the same values; an error of vl-convert's (a spec it cannot draw) arrives as a
ValueError with vl-convert's message.

Run as a script (``python vl_helper.py``) this file is the helper: it imports only the standard
library and vl_convert, starts the engine, then answers one request per line on stdin (JSON: the
function's name, its arguments) with a header line (JSON: ok, kind, length) and the value's bytes.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any

#: What the helper answers: vl_convert's functions that figures.py uses.
FUNCTIONS = frozenset(
    {
        "get_vegalite_versions",
        "register_font_directory",
        "svg_to_pdf",
        "vegalite_to_png",
        "vegalite_to_scenegraph",
        "vegalite_to_svg",
    }
)
ENV_VAR = "PHENOMENA_VL_HELPER"  # "0": never start one (draw in this process)
_FIRST_DRAWING = {"data": {"values": [{"x": 1}]}, "mark": "point", "encoding": {"x": {"field": "x"}}}
log = logging.getLogger("phenomena.figures")


class HelperGone(Exception):
    """The helper process did not answer (it died or never started its engine)."""


class Helper:
    """The client side: calls vl_convert's :data:`FUNCTIONS` in the helper process, one at a time."""

    def __init__(self, process: subprocess.Popen) -> None:
        self._process = process
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self._process.poll() is None

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in FUNCTIONS:
            raise AttributeError(f"the figure helper does not draw with {name!r}")
        request = json.dumps({"function": name, "args": args, "kwargs": kwargs}).encode() + b"\n"
        with self._lock:
            try:
                self._process.stdin.write(request)
                self._process.stdin.flush()
                header = json.loads(self._process.stdout.readline() or b"null")
                if not isinstance(header, dict):
                    raise HelperGone("no answer")
                payload = self._process.stdout.read(header["length"])
            except (OSError, ValueError, KeyError) as err:
                raise HelperGone(str(err)) from err
        if not header["ok"]:
            raise ValueError(payload.decode(errors="replace"))
        if header["kind"] == "bytes":
            return payload
        text = payload.decode()
        return text if header["kind"] == "str" else json.loads(text)

    def close(self) -> None:
        """End the helper now (it holds nothing to save; a command that drew nothing does not wait
        for its engine to finish starting)."""
        with self._lock:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                with contextlib.suppress(OSError):
                    stream.close()


_helper: Helper | None = None
_fonts: list[str] = []  # folders registered through the helper: registered here too on a fallback


def start() -> bool:
    """Start the helper unless one runs, ``PHENOMENA_VL_HELPER=0`` or vl-convert is not installed;
    return whether one runs now. Cheap (a process started, nothing waited for)."""
    global _helper
    if _helper is not None and _helper.alive():
        return True
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    import importlib.util

    if importlib.util.find_spec("vl_convert") is None:
        return False
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as err:
        log.info("figure helper not started (%s): drawing in this process", err)
        return False
    _helper = Helper(process)
    atexit.register(_helper.close)
    return True


def stop() -> None:
    """End the helper (the next drawings happen in this process)."""
    global _helper
    if _helper is not None:
        _helper.close()
        _helper = None


class _Converter:
    """The vl_convert functions figures.py calls: through the helper while it answers."""

    def __getattr__(self, name: str):
        if name not in FUNCTIONS:
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            global _helper
            if _helper is not None:
                try:
                    value = _helper.call(name, *args, **kwargs)
                except HelperGone as err:
                    log.info("figure helper gone (%s): drawing in this process", err)
                    _helper.close()
                    _helper = None
                else:
                    if name == "register_font_directory":
                        _fonts.append(args[0] if args else kwargs["font_dir"])
                    return value
            return getattr(_in_process(), name)(*args, **kwargs)

        return call


def _in_process():
    import vl_convert

    while _fonts:  # what the helper had registered, before this process's first drawing
        vl_convert.register_font_directory(_fonts.pop(0))
    return vl_convert


def converter() -> Any:
    """vl_convert's drawing functions (:data:`FUNCTIONS`): the helper's while it answers, else this
    process's."""
    return _Converter() if _helper is not None else _in_process()


# ----------------------------------------------------------------------------- the helper's side


def serve(requests, answers) -> None:
    """Answer each request line of ``requests`` (binary) on ``answers`` until ``requests`` ends."""
    import vl_convert

    vl_convert.vegalite_to_svg(_FIRST_DRAWING)  # start the JavaScript engine before the first request
    for line in requests:
        try:
            request = json.loads(line)
            name = request["function"]
            if name not in FUNCTIONS:
                raise ValueError(f"the figure helper does not draw with {name!r}")
            value = getattr(vl_convert, name)(*request["args"], **request["kwargs"])
        except Exception as err:  # noqa: BLE001 (reported to the client, which raises it)
            ok, kind, payload = False, "str", str(err).encode()
        else:
            ok = True
            if isinstance(value, bytes):
                kind, payload = "bytes", value
            elif isinstance(value, str):
                kind, payload = "str", value.encode()
            else:
                kind, payload = "json", json.dumps(value).encode()
        answers.write(json.dumps({"ok": ok, "kind": kind, "length": len(payload)}).encode() + b"\n")
        answers.write(payload)
        answers.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
