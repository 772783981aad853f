# lmm-course: two commands do all the set-up.
#   make lab    create .venv if needed, install the course, open JupyterLab on the lessons
#   make test   the same install, then every test (unit tests + nbval on lessons/ and solutions/, the site in a browser)
#   make site   build the course website into _build/html (open _build/html/index.html)
# Other targets: make execute (re-run notebooks in place), make exercises (generate
# exercises/ from solutions/), make release (student release for graded work), make data (rebuild the ciproxifan reconstruction), make help.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
JOBS   ?= 2
LAB_ARGS ?=
# JupyterLab refuses to run as root unless told to (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
NOTEBOOKS ?= lessons/*.ipynb solutions/*.ipynb
PYTEST_ARGS ?=

.PHONY: help install lab test unit execute exercises release bench-notebooks data clean-venv site

help:
	@sed -n '1,9p' Makefile

# The stamp is rebuilt whenever the pinned dependencies change.
$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "lmm-course needs Python 3.11 (found %d.%d): set PYTHON=/path/to/python3.11" % v)'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@

install: $(BIN)/.installed

lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(ROOT_FLAG) $(LAB_ARGS) lessons/00_course_map.ipynb

# The whole suite, with its wall time. Notebooks run two at a time (one per core),
# each in its own kernel; cells of one notebook stay together (--dist loadfile).
# One BLAS thread per worker: two workers with multi-threaded BLAS oversubscribe the cores.
test: install site
	@start=$$(date +%s); \
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval --nbval-current-env --nbval-cell-timeout=600 \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg $(PYTEST_ARGS); status=$$?; \
	echo "make test: wall time $$(( $$(date +%s) - start )) s"; exit $$status

unit: install $(BIN)/.installed-site
	$(PY) -m pytest -n $(JOBS) tests $(PYTEST_ARGS)

# Re-execute notebooks in place, top to bottom, in a fresh kernel of this environment.
execute: install
	$(PY) -m lmmteach.tools.notebooks execute $(NOTEBOOKS)

# Wall time of every notebook, warm PyTensor cache then cold (an empty cache). Writes nothing.
bench-notebooks: install
	$(PY) -m lmmteach.tools.notebooks time $(NOTEBOOKS)
	$(PY) -m lmmteach.tools.notebooks time --cold $(NOTEBOOKS)

# Regenerate the student notebooks in exercises/ from solutions/ (never edit exercises/ by hand).
exercises: install
	$(PY) -m lmmteach.tools.make_exercises

# The student release for graded work: exercises + the package without answers (RELEASE=folder).
RELEASE ?= release
release: install
	$(PY) -m lmmteach.tools.release $(RELEASE)

data: install
	$(PY) -m lmmteach.tools.make_data --write

# The course website: _build/html, from the stored outputs (nothing re-executed, nothing downloaded).
# SITE_REPO is the public repository the Binder/JupyterHub buttons launch (empty: the course's own,
# REPO in lmmteach/tools/site.py); SITE_HUB a JupyterHub address for the nbgitpuller button
# (empty: no JupyterHub button).
SITE_REPO ?=
SITE_HUB  ?=
$(BIN)/.installed-site: pyproject.toml $(BIN)/.installed
	$(PY) -m pip install --quiet -e ".[test,site]"
	@touch $@

site: $(BIN)/.installed-site
	$(PY) -m lmmteach.tools.site $(if $(SITE_REPO),--repo "$(SITE_REPO)") --hub "$(SITE_HUB)"

clean-venv:
	rm -rf $(VENV)
