"""``python -m engine ...``: see :mod:`engine.cli`."""

import sys

from engine.present import vl_helper

if len(sys.argv) > 1 and sys.argv[1] in ("figure", "report"):
    vl_helper.start()  # its drawing engine starts on the other core while the command's imports run

from engine.cli import main  # noqa: E402 (after the helper's start, on purpose)

raise SystemExit(main())
