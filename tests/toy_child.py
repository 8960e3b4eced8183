"""A child process for the reliability tests: ``labtest.toy`` registered, a cache folder chosen, then
one CLI command or one snippet, optionally under a fault the test wants to see survived.

Usage: ``python tests/toy_child.py SPEC_JSON`` where SPEC holds

* ``cache``: the cache folder (``$PHENOMENA_CACHE``);
* ``fault`` (optional): ``[module, attribute path, n, signal name]``: the n-th call of that function
  first sends the signal to this process (SIGINT arrives as Ctrl-C would; SIGKILL ends it at once);
* ``fsize`` (optional): RLIMIT_FSIZE in bytes (writes past it fail with EFBIG, as on a full disk);
* ``address_space`` (optional): bytes of address space allowed beyond what the child holds once
  ready (RLIMIT_AS: a runaway read fails instead of eating the box);
* ``cli``: arguments for :func:`engine.cli.main`, or ``snippet``: Python run with ``engine``,
  ``cache`` and ``NAME`` in scope.

Registering the toy directly (not through ``registry.registered``) keeps the child from importing
every phenomenon, and the device list is fixed to ``["cpu"]`` so that torch is never imported: the
child starts in about a second.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _limit(which: int, value: int | None) -> None:
    if value is not None:
        resource.setrlimit(which, (value, value))


def _address_space() -> int:
    """Bytes of virtual memory this process holds now (VmSize)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _install_fault(module: str, path: str, n: int, signame: str) -> None:
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    real = getattr(owner, name)
    calls = [0]

    def faulty(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), getattr(signal, signame))
        return real(*args, **kwargs)

    setattr(owner, name, faulty)


def main() -> int:
    spec = json.loads(sys.argv[1])
    import conftest  # the toy experiment (conftest also points PHENOMENA_CACHE at a temp folder)

    os.environ["PHENOMENA_CACHE"] = spec["cache"]
    from engine.core import cache, registry

    toy = conftest._toy_experiment()
    registry._REGISTRY[toy.name] = toy
    cache.clear_memo()
    if spec.get("fault"):
        _install_fault(*spec["fault"])
    _limit(resource.RLIMIT_FSIZE, spec.get("fsize"))
    from engine.core import devices

    devices.available_devices = lambda: ["cpu"]  # the device is not under test: spare torch's import
    if spec.get("address_space"):
        import engine.cli  # noqa: F401  (everything a command needs, mapped before the limit)

        _limit(resource.RLIMIT_AS, _address_space() + spec["address_space"])
    if "cli" in spec:
        from engine.cli import main as cli_main

        return cli_main(spec["cli"])
    import engine

    exec(spec["snippet"], {"engine": engine, "cache": cache, "NAME": toy.name, "json": json})
    return 0


if __name__ == "__main__":
    sys.exit(main())
