# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STORE ?= demo-study.zarr

.PHONY: install demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[test,notebook]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m vmt_dask.demo --store $(DEMO_STORE)

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m vmt_dask.bench generate --size 401

clean:
	rm -rf $(VENV) $(DEMO_STORE)
