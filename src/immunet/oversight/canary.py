"""Canary beneficiaries: decoy records that no legitimate staff work ever needs to open.

Seeded by the operator (``immunet canary seed``) into one centre: a decoy account whose
mobile index matches no real mobile (so no one can log in to it), beneficiaries with
realistic but invented names and IDs, and appointments in that centre's upcoming
sessions, so the decoys appear on the roster like anyone else. Any staff access to one
suspends the account and raises a critical alert (``staff/misuse.py``). Decoys are left
out of every report.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from immunet.booking.models import Appointment
from immunet.booking.rules import SessionFull, today_in_india
from immunet.booking.service import new_secret_code, seal_code, take_seats
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import NotFound
from immunet.geography.centers import Center
from immunet.people.models import Beneficiary, CitizenAccount
from immunet.people.service import new_reference_id
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.keyring import Purpose
from immunet.sessions.models import VaccinationSession
from immunet.staff.principal import OperatorPrincipal

FIRST_NAMES = (
    "Aarav", "Vivaan", "Aditya", "Vihaan", "Arjun", "Sai", "Reyansh", "Krishna", "Ishaan",
    "Ananya", "Diya", "Aadhya", "Saanvi", "Pari", "Myra", "Kavya", "Meera", "Lakshmi",
    "Ramesh", "Suresh", "Geeta", "Sunita", "Rajesh", "Pooja", "Manoj", "Anita",
)  # fmt: skip
LAST_NAMES = (
    "Sharma", "Verma", "Patel", "Reddy", "Nair", "Iyer", "Singh", "Kumar", "Das", "Gupta",
    "Yadav", "Mishra", "Joshi", "Menon", "Pillai", "Rao", "Chatterjee", "Bose",
)  # fmt: skip
MAX_CANARIES = 50


class CenterNotFound(NotFound):
    error_code = "OVS0408"
    message = "No such centre."


@dataclass(frozen=True)
class SeededCanary:
    reference_id: str
    appointment_id: str | None


def _fake_voter_id() -> str:
    letters = "".join(secrets.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
    return letters + f"{secrets.randbelow(10**7):07d}"


async def seed_canaries(
    ctx: AppContext, *, center_id: int, count: int, actor: OperatorPrincipal
) -> list[SeededCanary]:
    if not 1 <= count <= MAX_CANARIES:
        raise ValueError(f"count must be between 1 and {MAX_CANARIES}")
    keyring = ctx.keyring
    cipher = keyring.field_cipher
    now = utcnow()
    seeded: list[SeededCanary] = []
    async with ctx.db.transaction() as session:
        if await session.get(Center, center_id) is None:
            raise CenterNotFound()
        today = today_in_india(now)
        sessions = list(
            (
                await session.execute(
                    select(VaccinationSession)
                    .where(
                        VaccinationSession.center_id == center_id,
                        VaccinationSession.status == "published",
                        VaccinationSession.date >= today,
                    )
                    .order_by(VaccinationSession.date)
                )
            ).scalars()
        )
        account_id = secrets.token_hex(16)
        fake_mobile = str(secrets.choice("6789")) + f"{secrets.randbelow(10**9):09d}"
        session.add(
            CitizenAccount(
                id=account_id,
                # An index no normalized mobile can produce: no one logs in to a decoy.
                mobile_index=keyring.blind_index(Purpose.MOBILE_INDEX)(f"canary:{account_id}"),
                mobile_ct=cipher.encrypt(fake_mobile, context=f"account:{account_id}:mobile"),
                created_at=now,
            )
        )
        await session.flush()
        for i in range(count):
            ref = new_reference_id()
            name = f"{secrets.choice(FIRST_NAMES)} {secrets.choice(LAST_NAMES)}"
            birth_year = today.year - 25 - secrets.randbelow(40)
            beneficiary = Beneficiary(
                reference_id=ref,
                account_id=account_id,
                name_ct=cipher.encrypt(name, context=f"beneficiary:{ref}:name"),
                birth_year_ct=cipher.encrypt(
                    str(birth_year), context=f"beneficiary:{ref}:birth_year"
                ),
                birth_date_ct=None,
                gender_id=1 + secrets.randbelow(2),
                category="adult",
                photo_id_type=7,
                id_number_ct=cipher.encrypt(
                    _fake_voter_id(), context=f"beneficiary:{ref}:id_number"
                ),
                # Never equal to a real ID's index, so no real registration is linked to a decoy.
                id_index=keyring.blind_index(Purpose.ID_NUMBER_INDEX)(f"canary:{ref}"),
                aadhaar_token=None,
                comorbidity_ind="N",
                consent_version="canary",
                created_at=now,
                is_canary=True,
            )
            session.add(beneficiary)
            await session.flush()
            appointment_id: str | None = None
            if sessions:
                target = sessions[i % len(sessions)]
                try:
                    async with session.begin_nested():
                        await take_seats(session, target.session_id, 1, 1)
                    seat = True
                except SessionFull:
                    seat = False
                if seat:
                    appointment_id = str(uuid.uuid4())
                    digest, sealed = seal_code(keyring, appointment_id, new_secret_code())
                    slots = [str(x) for x in json.loads(target.slots or "[]")] or [""]
                    session.add(
                        Appointment(
                            appointment_id=appointment_id,
                            beneficiary_id=beneficiary.id,
                            account_id=account_id,
                            session_id=target.session_id,
                            confirmation_no=appointment_id,
                            dose=1,
                            slot=slots[i % len(slots)],
                            status="booked",
                            code_digest=digest,
                            code_ct=sealed,
                            code_failures=0,
                            reschedules=0,
                            created_at=now,
                            updated_at=now,
                        )
                    )
            seeded.append(SeededCanary(ref, appointment_id))
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.CANARY_SEEDED,
            subject_ref=f"center:{center_id}",
            purpose="misuse-defence",
            context=actor.context,
            detail={"count": count, "appointments": sum(1 for s in seeded if s.appointment_id)},
        )
    return seeded
