# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
DEMO_STORE ?= demo-study.zarr
# uv (from PyPI) installs the same packages several times faster than pip; pip is the fallback
UV_PIP = $(PY) -m uv pip install -q --python $(PY)

.PHONY: install demo lint test bench clean

# no pip in the venv at first (ensurepip costs ~15 s): uv is put in by the system's pip, and
# pip comes with the runtime install (`make bench` uses it); old pips get the ensurepip route
$(PY):
	$(PYTHON) -m venv --without-pip $(VENV)

# runtime dependencies only: all that `make demo` needs.  The kernels' own dependencies go first;
# for `make demo` (PREWARM=demo) the numba kernels then compile in the background
# (vmt_dask/study/warm.py --start, one process per core, logs in .venv/) while the rest installs
$(RUNTIME): pyproject.toml | $(PY)
	$(PYTHON) -m pip --python $(PY) install -q uv || ($(PY) -m ensurepip -q && $(PY) -m pip install -q uv) || true
	$(if $(PREWARM),$(UV_PIP) $$($(PY) vmt_dask/study/warm.py --requirements pyproject.toml) && \
	  $(PY) vmt_dask/study/warm.py --start $(PREWARM) --log-dir $(VENV) || true)
	$(UV_PIP) -e . pip || (($(PY) -m pip --version || $(PY) -m ensurepip -q) && \
	  $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e .)
	touch $(RUNTIME)

# everything: the runtime plus the test and notebook extras (`make test`, the notebooks)
$(STAMP): $(RUNTIME)
	$(UV_PIP) -e ".[test,notebook]" || $(PY) -m pip install -q -e ".[test,notebook]"
	touch $(STAMP)

install: $(STAMP)

demo: PREWARM = demo
demo: $(RUNTIME)
	$(PY) -m vmt_dask.demo --store $(DEMO_STORE)

# lint first: pyflakes errors and syntax errors fail the build before the (longer) tests run
lint: $(STAMP)
	$(PY) -m ruff check vmt_dask tests

# one test process per core (pytest-xdist), each test module kept on one process so its
# module-scope fixtures are built once: the suite is single-threaded Python and numba for the
# most part, so on CI's 2 cores this nearly halves its wall time
test: $(STAMP)
	$(PY) -m ruff check vmt_dask tests
	$(PY) -m pytest -q -n auto --dist loadscope tests

# TauFactor needs torch: install the CPU build first so pip does not pull a CUDA build
bench: $(STAMP)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m vmt_dask.bench generate --sizes 64,128,401 --repeat 3 --threads 1,2 --generator lattice,point,fast,simd,simd2 --profile
	$(PY) -m vmt_dask.bench describe --sizes 128,200 --cold --json bench-describe.json
	$(PY) -m vmt_dask.bench describe --sizes 401 --tools ours,all,all2,baseline --json bench-describe.json
	$(PY) -m vmt_dask.bench conduct --size 200
	$(PY) -m vmt_dask.bench solver --size 500 --bm-size 401 --presets BM01,BM03
	$(PY) -m vmt_dask.bench mgap --sizes 200,401
	$(PY) -m vmt_dask.bench fidelity --sizes 401 --seeds 1,2 --generator lattice --variants centres-6,opening-26 --json bench-fidelity.json
	$(PY) -m vmt_dask.bench fidelity --sizes 48 --voxel-size 0.4 --seeds 1,2,3,4,5,6,7,8 --variants none --json bench-fidelity.json
	$(PY) -m vmt_dask.bench memory
	$(PY) -m vmt_dask.bench store --size 401 --repeat 5
	$(PY) -m vmt_dask.bench calibrate
	$(PY) -m vmt_dask.bench study --preset demo --t 0.5 --workers 1,2 --batch both --repeat 3 --skip-costs
	$(PY) -m vmt_dask.bench study_eta --preset demo --json bench-study-eta.json
	$(PY) -m vmt_dask.bench study --preset paper --measure-401 --skip-study

clean:
	rm -rf $(VENV) $(DEMO_STORE)
