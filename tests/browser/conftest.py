"""The browser suite: Playwright driving Debian's Chromium against a real `immunet serve`
(one server per database, SQLite and PostgreSQL). Without Chromium or Playwright the suite
is skipped with a plain reason, except under CI (``CI=true``) where that is a failure.

Screenshots go to ``tmp/artifacts/`` (kept by CI as test artifacts, never committed).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import IN_CI, _mutable_tables

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORTS = {"phone": {"width": 360, "height": 640}, "desktop": {"width": 1280, "height": 800}}


def _browser_missing() -> str | None:
    try:
        import axe_playwright_python  # noqa: F401
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright or axe-playwright-python is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return "Chromium is not installed (apt-get install -y chromium)"
    return None


MISSING = _browser_missing()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MISSING is None:
        return
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            if IN_CI:
                item.add_marker(pytest.mark.usefixtures("_fail_in_ci"))
            else:
                item.add_marker(pytest.mark.skip(reason=f"browser suite skipped: {MISSING}"))


@pytest.fixture(autouse=False)
def _fail_in_ci() -> None:
    pytest.fail(f"CI must run the browser suite: {MISSING}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    sms: Path
    database: str
    url: str
    keyring: Path

    def run(self, step: Any) -> Any:
        """Run ``await step(ctx)`` against the server's database and keys (test set-up)."""
        from immunet.context import build_context
        from immunet.settings import Settings

        async def go() -> Any:
            ctx = build_context(
                Settings(
                    env="development",
                    database_url=self.url,
                    keyring=self.keyring,
                    sms_backend="console",
                )
            )
            try:
                return await step(ctx)
            finally:
                await ctx.close()

        # Playwright's sync API keeps an event loop on this thread: run on another one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def secret_code(self, appointment_id: str) -> str:
        for line in reversed(self.sms.read_text().splitlines()):
            message = json.loads(line)
            if message["template"] == "appointment_booked" and appointment_id in message["text"]:
                return str(message["text"].split("secret code is ")[1][:4])
        raise AssertionError("no booking SMS")

    def otp(
        self, mobile: str, *, after: int = 0, within: float = 10.0, template: str = "otp"
    ) -> str:
        """The OTP the server's outbox worker delivered to ``mobile`` (the file SMS gateway):
        a login's (``otp``) or, with ``template="staff_lookup_otp"``, a walk-in look-up's."""
        deadline = time.monotonic() + within
        while True:
            lines = self.sms.read_text().splitlines() if self.sms.exists() else []
            for line in reversed(lines[after:]):
                message = json.loads(line)
                if message["to"].endswith(mobile[-10:]) and message["template"] == template:
                    return str(message["text"].split("code is ")[1][:6])
            assert time.monotonic() < deadline, "no OTP was delivered"
            time.sleep(0.05)

    def sms_count(self) -> int:
        return len(self.sms.read_text().splitlines()) if self.sms.exists() else 0


def _truncate(url: str) -> None:
    async def run() -> None:
        import asyncpg

        parsed = make_url(url)
        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            database=parsed.database,
        )
        try:
            tables = ", ".join(f'"{t}"' for t in _mutable_tables())
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    asyncio.run(run())


PINCODE = "560001"


async def _plan_sessions(url: str, keyring: Path) -> None:
    """A centre at PIN 560001 with a session tomorrow (what a facility manager publishes)."""
    from immunet.context import build_context
    from immunet.settings import Settings
    from tests.factories.sessions import make_session

    ctx = build_context(
        Settings(env="development", database_url=url, keyring=keyring, sms_backend="console")
    )
    try:
        await make_session(ctx, days_ahead=1, capacity_dose1=50)
    finally:
        await ctx.close()


# Package scope, not session: Playwright's sync API runs an event loop in this thread while
# it is open, so it must close before the rest of the suite calls asyncio.run().
@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    if MISSING is not None:
        if IN_CI:
            pytest.fail(f"CI must run the browser suite: {MISSING}")
        pytest.skip(f"browser suite skipped: {MISSING}")
    home = tmp_path_factory.mktemp(f"portal-{request.param}")
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, home / "immunet.sqlite3")
        url = f"sqlite:///{home / 'immunet.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_database")
        _truncate(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_DATABASE_URL=url,
        IMMUNET_KEYRING=str(home / "keyring.json"),
        IMMUNET_SMS_BACKEND=f"file:{home / 'sms.jsonl'}",
        IMMUNET_ENV="development",
        # One browser from 127.0.0.1 plays many people: the per-address budgets are raised
        # (their own tests are in tests/security).
        IMMUNET_PUBLIC_REQUESTS_PER_5MIN="100000",
        IMMUNET_OTP_SENDS_PER_ADDRESS_PER_HOUR="100000",
    )
    cli = [sys.executable, "-m", "immunet.cli"]
    subprocess.run([*cli, "keys", "init"], env=env, cwd=home, check=True, capture_output=True)
    asyncio.run(_plan_sessions(url, home / "keyring.json"))
    port = _free_port()
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (home / "server.log").read_text()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    try:
        yield Server(base, home / "sms.jsonl", request.param, url, home / "keyring.json")
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="package")
def chromium(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def no_js(chromium: Any, server: Server) -> Iterator[Any]:
    """A phone-sized page with JavaScript disabled: the core journey must work so."""
    context = chromium.new_context(
        base_url=server.base, java_script_enabled=False, viewport=VIEWPORTS["phone"]
    )
    yield context.new_page()
    context.close()


@pytest.fixture
def page(chromium: Any, server: Server) -> Iterator[Any]:
    context = chromium.new_context(base_url=server.base, viewport=VIEWPORTS["desktop"])
    yield context.new_page()
    context.close()


def shoot(page: Any, name: str, server: Server, *, idle: bool = True) -> None:
    """A screenshot of the page at both sizes, kept as a test artifact. ``idle=False`` for a
    server-rendered page that fetches nothing after its load (saves networkidle's 500 ms)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:  # the web font, where the page shows Devanagari (needs script: else best effort)
        page.evaluate("document.fonts.ready.then(() => true)")
    except Exception:  # noqa: S110 - a page without JavaScript
        pass
    page.wait_for_load_state("networkidle" if idle else "load")
    before = page.viewport_size
    for size, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        page.screenshot(
            path=str(ARTIFACTS / f"{name}-{size}-{server.database}.png"), full_page=True
        )
    page.set_viewport_size(before)


def axe_violations(page: Any) -> list[str]:
    """axe-core on the page: its serious and critical violations, one line each (with the
    first offending elements, so a failure says where to look)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        + ")"
        for v in bad
    ]


def axe_check(page: Any) -> None:
    """axe-core on the page: no serious or critical violation."""
    bad = axe_violations(page)
    assert not bad, "\n".join(bad)
