# immunet — one entry point. Everything runs inside ./.venv, created on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-profile bench-scale install clean lock audit sbom restore-drill ha-test i18n

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/immunet demo

# Two pytest-xdist workers, a whole test file each at a time (module and package fixtures
# stay whole); each worker has its own PostgreSQL database and Redis databases.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Where the workers' CPU goes on each write path (py-spy, by layer); a few minutes.
bench-profile: $(STAMP)
	$(BIN)/python -m bench.profile

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

# Base backup + WAL archive of a running database, point-in-time restore into a fresh
# instance, checks (writes, audit verify, citizen login and certificate); ~30 s.
restore-drill: $(STAMP)
	$(BIN)/python -m tests.drills.restore_drill

# etcd + 3 PostgreSQL nodes under Patroni (synchronous replication), immunet with 2
# workers on a multi-host URL, bookings and doses as load, kill -9 of the primary; ~1 minute:
# failover: <s>s; confirmed=<n> lost=<n> duplicated=<n> overbooked=<n>
ha-test: $(STAMP)
	$(BIN)/python -m tests.drills.ha_test
# The portal's messages: messages.pot regenerated, each language's .po merged with it.
i18n: $(STAMP)
	$(BIN)/python scripts/i18n.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache sbom.cdx.json
