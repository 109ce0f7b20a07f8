"""Routine-immunization reminders: SMS to the guardian before, on and after a due date.

A sweep (``immunet reminders run``, and every hour in ``immunet worker``) walks the children
and pregnant women in id order, forecasts each one's next doses as of today (``ctx.clock``),
and queues at most one message per (person, dose, date, kind) in the durable outbox
(decision 0007): the dedup key makes a repeated or concurrent sweep a no-op, so a reminder
is never sent twice. Each kind has a window of a few days, so a sweep that did not run one
day still sends it the next. Accounts that opted out get nothing; the text is in the
account's language and names only the beneficiary's reference tail.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.people.models import Beneficiary, CitizenAccount
from immunet.people.service import reveal
from immunet.schedules.engine import NOT_COMPLETE
from immunet.schedules.india import PregnancyTd
from immunet.schedules.india import due_list as forecast_due
from immunet.security.audit import AuditAction, AuditChain, RequestContext
from immunet.vaccination import uip
from immunet.vaccination.due import routine_histories
from immunet.vaccination.regional import regional_by_center

log = logging.getLogger("immunet.reminders")

LEAD_DAYS = 3  # "upcoming": this many days before the recommended date
DUE_WINDOW_DAYS = 2  # "due": on the recommended date (or the day after, if missed)
MISSED_WINDOW_DAYS = 7  # "missed": from the past-due date for a week
BATCH = 500
SWEEP_SECONDS = 3600.0
LANGUAGES = ("en", "hi")
ACTOR = "system:reminders"


@dataclass(frozen=True)
class Reminder:
    group: str
    dose_number: int
    kind: str  # upcoming | due | missed
    on: dt.date  # the date the message is about


def reminders_for(
    dob: dt.date,
    history: list[tuple[dt.date, str]],
    today: dt.date,
    *,
    pregnant: bool,
    regional: frozenset[str] = frozenset(),
    pregnancy: PregnancyTd | None = None,
) -> list[Reminder]:
    """Pure: the reminders one person is owed today."""
    out = []
    for name, due in forecast_due(
        dob, history, today, regional=regional, pregnant=pregnant, pregnancy=pregnancy
    ).items():
        if (name == uip.PREGNANCY_TD) != pregnant:
            continue
        f = due.forecast
        if due.status != NOT_COMPLETE or f is None:
            continue
        if f.latest is not None and f.latest < today:
            continue  # can no longer be given: nothing to remind
        if today < f.recommended <= today + dt.timedelta(days=LEAD_DAYS):
            out.append(Reminder(name, f.dose_number, "upcoming", f.recommended))
        elif f.recommended <= today < f.recommended + dt.timedelta(days=DUE_WINDOW_DAYS) and (
            f.past_due is None or today < f.past_due
        ):
            out.append(Reminder(name, f.dose_number, "due", f.recommended))
        elif f.past_due is not None and (
            f.past_due <= today < f.past_due + dt.timedelta(days=MISSED_WINDOW_DAYS)
        ):
            out.append(Reminder(name, f.dose_number, "missed", f.recommended))
    return out


def dedup_key(beneficiary_id: int, reminder: Reminder) -> str:
    """One message per person, dose, date and kind, ever (the outbox's unique key)."""
    group = uip.series_code(reminder.group).removeprefix("uip-")
    return (
        f"reminder:{beneficiary_id}:{group}:{reminder.dose_number}:"
        f"{reminder.on.isoformat()}:{reminder.kind}"
    )


@dataclass
class SweepResult:
    today: dt.date
    people: int = 0
    queued: int = 0
    already: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def run_sweep(ctx: AppContext) -> SweepResult:
    """One pass over everyone owed a reminder today; safe to repeat and to run concurrently."""
    today = today_in_india(ctx.clock.now())
    result = SweepResult(today)
    last_id = 0
    while True:
        async with ctx.db.transaction() as session:
            rows = (
                await session.execute(
                    select(Beneficiary, CitizenAccount.mobile_ct, CitizenAccount.language)
                    .join(CitizenAccount, CitizenAccount.id == Beneficiary.account_id)
                    .where(
                        Beneficiary.id > last_id,
                        Beneficiary.category.in_(("child", "pregnant")),
                        Beneficiary.is_canary.is_(False),
                        CitizenAccount.reminders_opt_out.is_(False),
                    )
                    .order_by(Beneficiary.id)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                break
            last_id = rows[-1][0].id
            ids = [row[0].id for row in rows]
            history, pregnant = await routine_histories(session, ctx.keyring, ids)
            runs = await regional_by_center(session, [row[0].home_center_id for row in rows])
            queued_here = 0
            for person, mobile_ct, language in rows:
                view = reveal(ctx.keyring, person, mobile="", vault_number=None)
                dob = view.date_of_birth or dt.date(view.birth_year, 1, 1)
                owed = reminders_for(
                    dob,
                    sorted(history[person.id]),
                    today,
                    pregnant=person.id in pregnant and person.category == "pregnant",
                    regional=runs.get(person.home_center_id or 0, frozenset()),
                    pregnancy=pregnant.get(person.id),
                )
                if not owed:
                    continue
                result.people += 1
                mobile = ctx.keyring.field_cipher.decrypt(
                    mobile_ct, context=f"account:{person.account_id}:mobile"
                )
                lang = language if language in LANGUAGES else "en"
                for reminder in owed:
                    added = await ctx.outbox.enqueue(
                        session,
                        to=mobile,
                        template=f"reminder_{reminder.kind}_{lang}",
                        values={
                            "vaccine": reminder.group,
                            "dose": str(reminder.dose_number),
                            "ref_tail": person.reference_id[-4:],
                            "date": reminder.on.strftime("%d-%m-%Y"),
                        },
                        dedup_key=dedup_key(person.id, reminder),
                    )
                    if added:
                        queued_here += 1
                        result.by_kind[reminder.kind] += 1
                    else:
                        result.already += 1
            result.queued += queued_here
            if queued_here:
                await AuditChain.append(
                    session,
                    actor=ACTOR,
                    action=AuditAction.REMINDERS_QUEUED,
                    subject_ref=f"reminders:{today.isoformat()}",
                    purpose="routine-immunization-reminders",
                    context=RequestContext.system(),
                    detail={"queued": queued_here},
                )
    log.info("reminder sweep queued=%d already=%d", result.queued, result.already)
    return result


async def run_periodically(ctx: AppContext, stop: asyncio.Event) -> None:
    """The worker's loop: one sweep now, then one every :data:`SWEEP_SECONDS`."""
    while not stop.is_set():
        try:
            await run_sweep(ctx)
        except Exception:  # a failed sweep is retried at the next tick, never fatal
            log.exception("reminder sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=SWEEP_SECONDS)
        except TimeoutError:
            pass
