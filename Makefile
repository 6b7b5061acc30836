# Two commands do all the set-up on a fresh machine:
#   make demo   the main job on the embedded local cloud
#   make test   the full test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# The CPU build of torch lies on disk; an unpinned torch would pull gigabytes of CUDA packages.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: demo test venv test-deps clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[workload,dev]"
	touch $(STAMP)

# OpenSSH server, client, rsync and bubblewrap for the remote-layer tests (Debian packages; needs root).
test-deps:
	bash scripts/install-test-deps.sh

# pytest exits 5 when it collected no test: that must fail, not pass.
test: venv test-deps
	$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

demo: venv
	$(PY) -m dsvmctl quickstart

clean:
	rm -rf $(VENV) .pytest_cache
