"""Demo data: a fresh SQLite database with geography, vaccines and a few accounts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from immunet.certificates import demo as certificates_demo
from immunet.db.migrate import upgrade_and_seed
from immunet.partners import demo as partners_demo
from immunet.security.keyring import Keyring
from immunet.sessions import demo as sessions_demo
from immunet.settings import Settings
from immunet.staff import demo as staff_demo
from immunet.vaccination import demo as vaccination_demo
from immunet.vaccination import uip_demo

# Other areas add their demo data (staff users, centres, sessions) here; each returns lines
# to print (logins and URLs).
DemoStep = Callable[[Settings], Awaitable[list[str]]]
DEMO_STEPS: list[DemoStep] = []
DEMO_STEPS.append(staff_demo.demo_admin)
DEMO_STEPS.append(sessions_demo.demo_centres_and_sessions)
DEMO_STEPS.append(vaccination_demo.demo_stock_and_vaccinator)
DEMO_STEPS.append(certificates_demo.demo_certificate_keys)
DEMO_STEPS.append(uip_demo.demo_family)
DEMO_STEPS.append(partners_demo.demo_partner)


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
