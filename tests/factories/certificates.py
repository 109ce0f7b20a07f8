"""Certificate test data: citizens through the real OTP + registration API, doses through the
ORM as the vaccination area records them, issuance through the certificate service."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from immunet.certificates.models import IssuedCertificate
from immunet.certificates.service import issue_for_beneficiary, revoke_for_correction
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.people.models import Beneficiary
from immunet.security.audit import RequestContext
from immunet.vaccination.models import DoseRecord
from tests.conftest import Outbox, bearer, login, register
from tests.factories import adult

VACCINATOR = "staff:4242"


@dataclass(frozen=True)
class Holder:
    mobile: str
    token: str
    reference_id: str
    id_number: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


async def holder(
    client: httpx.AsyncClient,
    outbox: Outbox,
    mobile: str,
    *,
    name: str = "Asha Kumari",
    id_number: str,
) -> Holder:
    token = await login(client, outbox, mobile)
    response = await register(client, token, adult(name, id_number=id_number))
    assert response.status_code == 200, response.text
    return Holder(mobile, token, response.json()["beneficiary_reference_id"], id_number, name)


async def beneficiary_id(ctx: AppContext, reference_id: str) -> int:
    async with ctx.db.reader() as session:
        found = (
            await session.execute(
                select(Beneficiary.id).where(Beneficiary.reference_id == reference_id)
            )
        ).scalar_one()
    return int(found)


async def record_dose(
    ctx: AppContext,
    reference_id: str,
    *,
    dose: int,
    center_id: int | None,
    vaccine: str = "COVISHIELD",
    given_on: dt.date | None = None,
    batch: str = "4121Z005",
) -> IssuedCertificate | None:
    """Record one dose and issue the certificate in the same transaction (as the
    vaccination service does)."""
    bid = await beneficiary_id(ctx, reference_id)
    given_on = given_on or (dt.date(2024, 1, 10) + dt.timedelta(days=90 * (dose - 1)))
    async with ctx.db.transaction() as session:
        session.add(
            DoseRecord(
                beneficiary_id=bid,
                vaccine_code=vaccine,
                series_code=f"covid19-{vaccine.lower().replace(' ', '-')}",
                dose_number=dose,
                administered_on=given_on,
                center_id=center_id,
                batch=batch,
                recorded_by=VACCINATOR,
                recorded_at=utcnow(),
                status="recorded",
            )
        )
        return await issue_for_beneficiary(
            ctx, session, bid, actor=VACCINATOR, context=RequestContext()
        )


async def void_dose(ctx: AppContext, reference_id: str, *, dose: int) -> IssuedCertificate | None:
    """Void a recorded dose (a correction) and re-issue, as the vaccination service does."""
    bid = await beneficiary_id(ctx, reference_id)
    async with ctx.db.transaction() as session:
        row = (
            await session.execute(
                select(DoseRecord).where(
                    DoseRecord.beneficiary_id == bid,
                    DoseRecord.dose_number == dose,
                    DoseRecord.status == "recorded",
                )
            )
        ).scalar_one()
        row.status = "voided"
        row.void_reason = "entered in error"
        return await revoke_for_correction(
            ctx, session, bid, actor=VACCINATOR, context=RequestContext()
        )


async def formats(client: httpx.AsyncClient, who: Holder) -> dict[str, Any]:
    response = await client.get(
        "/api/v2/registration/certificate/public/formats",
        params={"beneficiary_reference_id": who.reference_id},
        headers=who.headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def qr_texts(doc: dict[str, Any]) -> dict[str, str]:
    """One QR text per format (the SHC chunks joined by a space, as scanners pass them)."""
    return {"vc": doc["vc"]["qr"], "dcc": doc["dcc"]["qr"], "shc": " ".join(doc["shc"]["qr"])}


async def verify(client: httpx.AsyncClient, text: str) -> dict[str, Any]:
    response = await client.post("/api/v2/certificates/verify", json={"qr": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
