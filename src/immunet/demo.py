"""Demo data: a fresh SQLite database with geography, vaccines and a few accounts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from immunet.db.migrate import upgrade_and_seed
from immunet.security.keyring import Keyring
from immunet.settings import Settings

# Other areas add their demo data (staff users, centres, sessions) here; each returns lines
# to print (logins and URLs).
DemoStep = Callable[[Settings], Awaitable[list[str]]]
DEMO_STEPS: list[DemoStep] = []


def prepare_demo(settings: Settings) -> list[str]:
    import asyncio

    if not settings.keyring.exists():
        Keyring.generate(environment="development").save(settings.keyring)
    upgrade_and_seed(settings.database_url)

    async def run_steps() -> list[str]:
        lines: list[str] = []
        for step in DEMO_STEPS:
            lines.extend(await step(settings))
        return lines

    return asyncio.run(run_steps())
