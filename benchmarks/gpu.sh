#!/usr/bin/env bash
# The whole GPU run as one command (see benchmarks/gpu.py for what it does and writes):
#     bash benchmarks/gpu.sh --budget-min 6 --out "$OUT"
# Python: $PYTHON, else .venv/bin/python, else python3. When altair or mnist1d is missing (the H200
# image), the wheels carried in .whl/ (see benchmarks/README.md) are installed into a temporary
# folder on PYTHONPATH, never over the machine's own packages.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if ! "$PY" -c "import altair, mnist1d" 2> /dev/null && compgen -G ".whl/*.whl" > /dev/null; then
  site="$(mktemp -d /tmp/phenomena-site-XXXX)"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl \
    && export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import altair, mnist1d, torch, pandas, pyarrow, sklearn, scipy, joblib" || echo "a package is missing: see benchmarks/README.md (wheels in .whl/)"
exec "$PY" benchmarks/gpu.py "$@"
