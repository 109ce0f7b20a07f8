"""Canary beneficiaries: decoy records that no legitimate staff work ever reaches.

Seeded by the operator (``immunet canary seed``): a decoy account whose mobile index
matches no real mobile (so no one can log in to it, and no walk-in's mobile finds it),
and beneficiaries with realistic but invented names and IDs. Decoys are booked into no
session, so they are on no roster, and roster listings leave out any decoy that an older
seeding did book. A decoy is therefore reached only by misuse: a look-up by a reference
ID the caller had no business knowing (dose, AEFI report, certificate download,
break-glass) or a read outside the normal path. That suspends the account and raises a
critical alert (``staff/misuse.py``). Decoys are left out of every report.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.errors import NotFound
from immunet.geography.centers import Center
from immunet.people.models import Beneficiary, CitizenAccount
from immunet.people.service import new_reference_id
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.keyring import Purpose
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


def _fake_voter_id() -> str:
    letters = "".join(secrets.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
    return letters + f"{secrets.randbelow(10**7):07d}"


async def seed_canaries(
    ctx: AppContext, *, center_id: int | None, count: int, actor: OperatorPrincipal
) -> list[SeededCanary]:
    """Create ``count`` decoys (``center_id``: the area they are seeded for, audit only).

    Nothing is booked: a decoy on a roster would be read by the honest vaccinator doing
    their day's work, and suspend them.
    """
    if not 1 <= count <= MAX_CANARIES:
        raise ValueError(f"count must be between 1 and {MAX_CANARIES}")
    keyring = ctx.keyring
    cipher = keyring.field_cipher
    now = ctx.clock.now()
    seeded: list[SeededCanary] = []
    async with ctx.db.transaction() as session:
        if center_id is not None and await session.get(Center, center_id) is None:
            raise CenterNotFound()
        today = today_in_india(now)
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
        for _ in range(count):
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
            seeded.append(SeededCanary(ref))
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.CANARY_SEEDED,
            subject_ref=f"center:{center_id}" if center_id is not None else None,
            purpose="misuse-defence",
            context=actor.context,
            detail={"count": count},
            at=now,
        )
    return seeded
