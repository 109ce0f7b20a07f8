"""Co-WIN's COVID-era beneficiary shape, computed from the universal model.

``vaccination_status``, ``vaccine``, ``dose1_date`` and ``dose2_date`` are a view over the
COVID-19 :class:`DoseRecord` rows; ``appointments`` come from the booking area through
:data:`APPOINTMENT_SOURCES` so that people does not depend on booking.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.context import AppContext
from immunet.people.service import BeneficiaryView
from immunet.vaccination.models import DoseRecord, Vaccine

AppointmentSource = Callable[
    [AsyncSession, Sequence[int]], Awaitable[dict[int, list[dict[str, object]]]]
]
APPOINTMENT_SOURCES: list[AppointmentSource] = []


def covid_status(doses: Sequence[tuple[int, str, str]]) -> tuple[str, str, str, str]:
    """(dose number, vaccine, DD-MM-YYYY) of live COVID doses → Co-WIN's four fields."""
    by_number = {number: (vaccine, date) for number, vaccine, date in sorted(doses)}
    dose1 = by_number.get(1)
    dose2 = by_number.get(2)
    if dose2:
        status = "Vaccinated"
    elif dose1:
        status = "Partially Vaccinated"
    else:
        status = "Not Vaccinated"
    vaccine = (dose1 or dose2 or ("", ""))[0]
    return status, vaccine, dose1[1] if dose1 else "", dose2[1] if dose2 else ""


async def beneficiary_payloads(
    ctx: AppContext, views: Sequence[BeneficiaryView]
) -> list[dict[str, object]]:
    ids = [v.id for v in views]
    async with ctx.db.reader() as session:
        doses: dict[int, list[tuple[int, str, str]]] = {i: [] for i in ids}
        if ids:
            rows = await session.execute(
                select(
                    DoseRecord.beneficiary_id,
                    DoseRecord.dose_number,
                    DoseRecord.vaccine_code,
                    DoseRecord.administered_on,
                )
                .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
                .where(
                    DoseRecord.beneficiary_id.in_(ids),
                    DoseRecord.status == "recorded",
                    Vaccine.programme_code == "covid19",
                )
            )
            for bid, number, vaccine, day in rows:
                doses[bid].append((number, vaccine, day.strftime("%d-%m-%Y")))
        appointments: dict[int, list[dict[str, object]]] = {i: [] for i in ids}
        for source in APPOINTMENT_SOURCES:
            for bid, items in (await source(session, ids)).items():
                appointments.setdefault(bid, []).extend(items)
    payloads: list[dict[str, object]] = []
    for v in views:
        status, vaccine, dose1, dose2 = covid_status(doses[v.id])
        payloads.append(
            {
                "beneficiary_reference_id": v.reference_id,
                "name": v.name,
                "birth_year": str(v.birth_year),
                "gender": v.gender,
                "mobile_number": v.masked_mobile,
                "photo_id_type": v.photo_id_type,
                "photo_id_number": v.masked_id_number,
                "comorbidity_ind": v.comorbidity_ind,
                "vaccination_status": status,
                "vaccine": vaccine,
                "dose1_date": dose1,
                "dose2_date": dose2,
                "appointments": appointments.get(v.id, []),
            }
        )
    return payloads
