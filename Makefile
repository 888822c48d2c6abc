# Two commands on a fresh Debian machine with Python 3.11:  make demo  ·  make test
PY      ?= python3.11
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test install bench lab clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (or run: make PY=python3)"; exit 1; }
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test,sample,bench]'
	$(PYTHON) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

## Render the postmortem of the bundled sample incident into a self-contained HTML report.
demo: $(STAMP)
	$(VENV)/bin/obsnb demo

## The whole test suite (live servers and the browser test need `bash .ci/setup-system`, run by .ci/run).
test: $(STAMP)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PYTHON) benchmarks/run_all.py --quick

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
