# immunet — one entry point. Everything runs inside ./.venv, created on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-scale install clean lock audit sbom i18n

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/immunet demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Loads 10 million synthetic people (COPY, encrypted like real ones); up to 30 minutes.
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale --sizes 100000,10000000

# Pinned, hashed dependency sets (pip-tools), regenerated from pyproject.toml on purpose.
# `make install` still installs from pyproject (-e); deployments install the lock:
# pip install --require-hashes -r requirements.lock && pip install --no-deps .
LOCK := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	$(LOCK) -o requirements.lock pyproject.toml
	$(LOCK) --extra dev -o requirements-dev.lock pyproject.toml

# Known vulnerabilities in the locked dependencies (pip-audit; see scripts/audit_deps.py).
audit: $(STAMP)
	$(BIN)/python scripts/audit_deps.py

# CycloneDX SBOM of what a deployment installs (the runtime lock).
sbom: $(STAMP)
	$(BIN)/cyclonedx-py requirements requirements.lock --pyproject pyproject.toml \
		--of JSON --output-reproducible -o sbom.cdx.json
	@echo "sbom: wrote sbom.cdx.json"

# The portal's messages: messages.pot regenerated, each language's .po merged with it.
i18n: $(STAMP)
	$(BIN)/python scripts/i18n.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache sbom.cdx.json
