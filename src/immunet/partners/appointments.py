"""``appointment.write`` on ``/partner/v1``: schedule, reschedule and cancel for the one
person a grant names, through the booking service with the citizen API's rules (the same
eligibility, seat, limit and idempotency checks; the booking SMS goes to the citizen).

The partner acts as the account that gave the grant, but only for the granted beneficiary:
a body naming anyone else, or an appointment group holding anyone else, is a 403 before
the booking service runs. The audit names the partner (``partner:<client_id>``)."""

from __future__ import annotations

from sqlalchemy import or_, select

from immunet.booking import service as booking
from immunet.booking.models import Appointment
from immunet.booking.schemas import CancelRequest, RescheduleRequest, ScheduleRequest
from immunet.context import AppContext
from immunet.errors import Forbidden
from immunet.partners.guards import PartnerCall
from immunet.partners.resources import ConsentNotFound, count_read
from immunet.partners.scopes import Scope
from immunet.people.models import Beneficiary
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.idempotency import StoredResponse


class NotTheGrantedPerson(Forbidden):
    error_code = "PARTNER0403"
    message = "The consent covers another person."


async def _record(ctx: AppContext, call: PartnerCall, reference: str, operation: str) -> None:
    """The person's access log: this partner wrote to their appointments (the booking
    service's own events name the appointment, not the person)."""
    grant = call.grant
    async with ctx.db.transaction() as session:
        await AuditChain.append(
            session,
            actor=call.actor,
            action=AuditAction.PARTNER_PERSON_READ,
            subject_ref=f"beneficiary:{reference}",
            purpose=grant.purpose[:64],
            context=call.context,
            detail={
                "channel": "partner",
                "organisation": grant.partner_name,
                "scope": Scope.APPOINTMENT_WRITE.value,
                "operation": operation,
                "consent": grant.grant_id,
            },
        )


def _acting(call: PartnerCall) -> CitizenPrincipal:
    grant = call.grant
    return CitizenPrincipal(
        grant.account_id, f"partner-grant:{grant.grant_id}", call.context, grant.client_id
    )


async def _granted_reference(ctx: AppContext, call: PartnerCall) -> str:
    async with ctx.db.reader() as session:
        beneficiary = await session.get(Beneficiary, call.grant.beneficiary_id)
    if beneficiary is None or beneficiary.account_id != call.grant.account_id:
        raise ConsentNotFound()
    return beneficiary.reference_id


async def _only_granted_person(ctx: AppContext, call: PartnerCall, appointment_id: str) -> None:
    """Every appointment the ID names (one, or a group by confirmation number) is the
    granted person's; an unknown ID passes on to the booking service's own 404."""
    async with ctx.db.reader() as session:
        owners = set(
            (
                await session.execute(
                    select(Appointment.beneficiary_id).where(
                        Appointment.account_id == call.grant.account_id,
                        or_(
                            Appointment.appointment_id == appointment_id,
                            Appointment.confirmation_no == appointment_id,
                        ),
                    )
                )
            ).scalars()
        )
    if owners - {call.grant.beneficiary_id}:
        raise NotTheGrantedPerson()


async def schedule(
    ctx: AppContext, call: PartnerCall, form: ScheduleRequest, idempotency_key: str | None
) -> StoredResponse:
    await count_read(ctx, call)
    reference = await _granted_reference(ctx, call)
    if form.beneficiaries != [reference]:
        raise NotTheGrantedPerson()
    result = await booking.schedule(ctx, form, actor=_acting(call), idempotency_key=idempotency_key)
    await _record(ctx, call, reference, "schedule")
    return result


async def reschedule(
    ctx: AppContext, call: PartnerCall, form: RescheduleRequest, idempotency_key: str | None
) -> StoredResponse:
    await count_read(ctx, call)
    reference = await _granted_reference(ctx, call)
    await _only_granted_person(ctx, call, form.appointment_id)
    result = await booking.reschedule(
        ctx, form, actor=_acting(call), idempotency_key=idempotency_key
    )
    await _record(ctx, call, reference, "reschedule")
    return result


async def cancel(
    ctx: AppContext, call: PartnerCall, form: CancelRequest, idempotency_key: str | None
) -> StoredResponse:
    await count_read(ctx, call)
    reference = await _granted_reference(ctx, call)
    if form.beneficiariesToCancel != [reference]:
        raise NotTheGrantedPerson()
    await _only_granted_person(ctx, call, form.appointment_id)
    result = await booking.cancel(ctx, form, actor=_acting(call), idempotency_key=idempotency_key)
    await _record(ctx, call, reference, "cancel")
    return result
