"""Running Alembic from the package, from any directory, and seeding reference data."""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from immunet.db.engine import Database
from immunet.db.models import Base


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("immunet") / "migrations"))
    config.set_main_option("immunet.database_url", database_url)
    return config


def _ensure_sqlite_dir(database_url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (blocking; Alembic runs its own event loop)."""
    _ensure_sqlite_dir(database_url)
    command.upgrade(alembic_config(database_url), revision)


async def seed_reference_data(database_url: str) -> int:
    from immunet.geography.reference import seed_geography
    from immunet.vaccination.catalogue import seed_catalogue

    db = Database(database_url)
    try:
        async with db.transaction() as session:
            added = await seed_geography(session)
            added += await seed_catalogue(session)
    finally:
        await db.dispose()
    return added


def upgrade_and_seed(database_url: str) -> int:
    upgrade(database_url)
    return asyncio.run(seed_reference_data(database_url))


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def schema_drift(database_url: str) -> list[Any]:
    """Differences between the models and a migrated database (empty when they agree)."""
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(_diff)
    finally:
        await db.dispose()
