"""Booking's registrations with other areas, made once at import time.

- people's beneficiary listing shows live appointments (:data:`APPOINTMENT_SOURCES`);
- deleting a beneficiary returns the seats of its live appointments;
- cancelling a session voids its appointments and tells the account holders.

``booking.routes`` imports this module, so an application that serves booking has them.
"""

from __future__ import annotations

from immunet.booking import service
from immunet.people.compat import APPOINTMENT_SOURCES
from immunet.people.service import BENEFICIARY_DELETE_HOOKS
from immunet.sessions.service import SESSION_CANCEL_HOOKS


def register() -> None:
    if service.appointments_of not in APPOINTMENT_SOURCES:
        APPOINTMENT_SOURCES.append(service.appointments_of)
    if service.release_for_deleted_beneficiary not in BENEFICIARY_DELETE_HOOKS:
        BENEFICIARY_DELETE_HOOKS.append(service.release_for_deleted_beneficiary)
    if service.cancel_for_session not in SESSION_CANCEL_HOOKS:
        SESSION_CANCEL_HOOKS.append(service.cancel_for_session)


register()
