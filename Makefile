# The newcomer's two commands are `make serve` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEB_PACKAGES := dcmtk dicom3tools orthanc libusb-1.0-0 libgl1 libglib2.0-0 fonts-dejavu-core poppler-utils
# torch is pinned to the CPU wheel (see README "GPU install"); installed before the rest so
# that no dependency pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
EXTRAS := embedded,provisioned,dev

.PHONY: install deps serve test check bench clean

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "Missing Debian packages: $$missing"; \
	  echo "Run as root, or: sudo apt-get update && sudo apt-get install -y $$missing"; exit 1; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[$(EXTRAS)]'
	$(PIP) check
	touch $@

install: deps $(VENV)/.installed

serve: install
	$(VENV)/bin/facenode serve

test: install
	$(VENV)/bin/pytest -q

check: install
	$(VENV)/bin/ruff check node dicom analysis reconstruction models config tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m tests.bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
