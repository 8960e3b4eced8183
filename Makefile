# Two commands on a fresh machine:  make run  (set up + start the app)  and  make test  (set up + run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: setup run test lint bench precompute bundles notebook clean

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Bytecode for the app's own modules first (a no-op when current): where PYTHONDONTWRITEBYTECODE is
# set, every new server process would otherwise compile them again (0.1-0.3 s of the first visit).
run: setup
	$(BIN)/python -m compileall -q app.py engine ui pages
	$(BIN)/streamlit run app.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile -q

bench: setup
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

precompute: setup
	$(BIN)/python -m engine precompute all --preset quick --jobs 2

# Rebuild bundles/*.zip for the code as it is now (only results of edited phenomena are recomputed).
bundles: setup
	OMP_NUM_THREADS=1 $(BIN)/python scripts/rebuild_bundles.py --jobs 2

# Notebooks: register this environment as a Jupyter kernel ("Phenomena Lab (.venv)") for VS Code or
# any Jupyter, then start JupyterLab if it is installed here (it is not pinned: pip install jupyterlab).
notebook: setup
	$(BIN)/python -m ipykernel install --user --name phenomena-lab --display-name "Phenomena Lab (.venv)"
	@if [ -x $(BIN)/jupyter-lab ]; then $(BIN)/jupyter-lab notebooks/; else \
	  echo "Open notebooks/*.ipynb in VS Code or Jupyter and pick the kernel 'Phenomena Lab (.venv)'."; \
	  echo "For JupyterLab here: $(BIN)/pip install jupyterlab, then make notebook again."; fi

clean:
	rm -rf $(VENV) .pytest_cache
