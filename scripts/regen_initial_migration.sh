#!/usr/bin/env bash
# Development only (before the first release): rebuild migration 0001 from all models.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f src/immunet/migrations/versions/0001_initial_schema.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from immunet.db.migrate import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/m.sqlite3")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
PY
.venv/bin/ruff format -q src/immunet/migrations/versions/0001_initial_schema.py || true
.venv/bin/ruff check -q --fix src/immunet/migrations/versions/0001_initial_schema.py || true
rm -rf "$tmp"
echo "regenerated src/immunet/migrations/versions/0001_initial_schema.py"
