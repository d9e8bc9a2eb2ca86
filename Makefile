# The newcomer's two commands are `make serve` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEB_PACKAGES := dcmtk dicom3tools orthanc orthanc-dicomweb chromium libusb-1.0-0 libgl1 libglib2.0-0 \
	fonts-dejavu-core poppler-utils
# The prebuilt OHIF viewer (npm @ohif/app, its dist/) for the viewer test, pinned by version and
# SHA-256 of the npm tarball; unpacked into the git-ignored .cache/ohif/<version>/dist.
OHIF_VERSIONS := 3.12.10 3.13.2
OHIF_SHA256_3.12.10 := fbabd410be33e5b9898931b725229b9da9553aac339914b5c29796d3aa5d4b2d
OHIF_SHA256_3.13.2 := b189d3963bfc58e9394a9db8c7be75d07beb029ec211dbb126d47b62969dd3f1
OHIF_CACHE := .cache/ohif
# torch is pinned to the CPU wheel (see README "GPU install"); installed before the rest so
# that no dependency pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
EXTRAS := embedded,provisioned,3d,dev

.PHONY: install deps ohif serve test check bench clean

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

ohif: $(foreach v,$(OHIF_VERSIONS),$(OHIF_CACHE)/$(v)/dist/index.html)

# npm pack (Node.js's npm), checked against the pinned SHA-256.
$(OHIF_CACHE)/%/dist/index.html:
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed to fetch the OHIF viewer for the tests"; exit 1; }
	@mkdir -p $(OHIF_CACHE)/$*
	@echo "fetching OHIF $* (npm @ohif/app)"
	@cd $(OHIF_CACHE)/$* && rm -f ohif-app-$*.tgz && npm pack --silent @ohif/app@$* >/dev/null
	@echo "$(OHIF_SHA256_$*)  $(OHIF_CACHE)/$*/ohif-app-$*.tgz" | sha256sum -c --quiet
	@rm -rf $(OHIF_CACHE)/$*/dist
	tar -xzf $(OHIF_CACHE)/$*/ohif-app-$*.tgz -C $(OHIF_CACHE)/$* --strip-components=1 package/dist
	@rm -f $(OHIF_CACHE)/$*/ohif-app-$*.tgz
	@touch $@

serve: install
	$(VENV)/bin/facenode serve

test: install ohif
	$(VENV)/bin/pytest -q

check: install
	$(VENV)/bin/ruff check node dicom analysis reconstruction models config tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m tests.bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
