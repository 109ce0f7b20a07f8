"""Reminders to guardians through the durable outbox, with a pinned clock (SQLite and PG)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

from sqlalchemy import select

from immunet.clock import india_today
from immunet.outbox.models import OutboxMessage
from immunet.people.identifiers import normalize_mobile
from immunet.vaccination.reminders import run_sweep
from tests.conftest import bearer
from tests.factories.uip import register_family

SIX_WEEK_GROUPS = {"Pentavalent", "OPV", "Rotavirus", "fIPV"}


def _reminders(outbox, mobile: str) -> list[dict]:
    to = normalize_mobile(mobile)
    return [m for m in outbox.messages() if m["template"].startswith("reminder_") and m["to"] == to]


async def test_reminders_before_on_and_after_the_due_date(client, outbox, ctx, clock):
    today = india_today(clock.now())
    # Three days before the six-week doses; on the day (Hindi); opted out.
    soon = await register_family(client, outbox, today - dt.timedelta(weeks=6) + dt.timedelta(3))
    hindi = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    quiet = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    for family, settings in (
        (hindi, {"language": "hi", "opt_out": False}),
        (quiet, {"language": "en", "opt_out": True}),
    ):
        response = await client.post(
            "/api/v2/me/reminders", json=settings, headers=bearer(family.token)
        )
        assert response.status_code == 200, response.text
        assert response.json() == settings

    first = await run_sweep(ctx)
    await ctx.drain_outbox()
    assert first.queued == 8 and first.already == 0
    upcoming = _reminders(outbox, soon.mobile)
    assert {m["template"] for m in upcoming} == {"reminder_upcoming_en"}
    date = (today + dt.timedelta(3)).strftime("%d-%m-%Y")
    assert {m["text"].split(": ")[1].split(" (dose")[0] for m in upcoming} == SIX_WEEK_GROUPS
    assert all(date in m["text"] and soon.child_ref[-4:] in m["text"] for m in upcoming)
    assert all("Meera" not in m["text"] for m in upcoming)  # never the child's name
    due = _reminders(outbox, hindi.mobile)
    assert len(due) == 4 and {m["template"] for m in due} == {"reminder_due_hi"}
    assert all("देय" in m["text"] for m in due)
    assert _reminders(outbox, quiet.mobile) == []

    # The same day again, and the day after: nothing is sent twice for a dose and date.
    again = await run_sweep(ctx)
    assert again.queued == 0 and again.already == 8
    clock.advance(dt.timedelta(days=1))
    next_day = await run_sweep(ctx)
    await ctx.drain_outbox()
    assert next_day.queued == 0  # "soon" is still upcoming (same date); "hindi" already told
    assert len(_reminders(outbox, soon.mobile)) == 4

    # Four weeks on, the doses are past due (10 weeks of age) and not given: missed.
    clock.advance(dt.timedelta(days=30))
    late = await run_sweep(ctx)
    await ctx.drain_outbox()
    missed = [m for m in _reminders(outbox, soon.mobile) if m["template"] == "reminder_missed_en"]
    assert len(missed) == 4 and late.by_kind["missed"] >= 4
    assert all(date in m["text"] for m in missed)
    async with ctx.db.reader() as session:
        keys = list(
            (
                await session.execute(
                    select(OutboxMessage.dedup_key).where(OutboxMessage.template.like("reminder_%"))
                )
            ).scalars()
        )
    assert len(keys) == len(set(keys))
    assert all(k.startswith("reminder:") and soon.child_ref not in k for k in keys)


async def test_reminder_settings_are_strict(client, outbox, clock):
    today = india_today(clock.now())
    family = await register_family(client, outbox, today)
    for body in (
        {"language": "fr", "opt_out": False},
        {"language": "en"},
        {"language": "en", "opt_out": "yes"},
        {"language": "en", "opt_out": False, "mobile": "9999999999"},
    ):
        response = await client.post(
            "/api/v2/me/reminders", json=body, headers=bearer(family.token)
        )
        assert response.status_code == 400, (body, response.text)
    assert (await client.post("/api/v2/me/reminders", json={})).status_code == 401


async def test_the_reminders_command_runs_a_sweep(client, outbox, settings, keyring, tmp_path):
    # The command reads the system clock (ctx.clock of its own context): a child born six
    # weeks before the real today is due today, whatever the hour.
    today = india_today(dt.datetime.now(dt.UTC))
    await register_family(client, outbox, today - dt.timedelta(weeks=6))
    keyring.save(settings.keyring)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_ENV="test",
        IMMUNET_DATABASE_URL=settings.database_url,
        IMMUNET_KEYRING=str(settings.keyring),
        IMMUNET_SMS_BACKEND=settings.sms_backend,
    )

    def run() -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "immunet.cli", "reminders", "run"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    summary = run()
    assert summary["queued"] == 4 and summary["by_kind"] == {"due": 4}
    assert run()["queued"] == 0
