"""What a partner client may ask for: the scopes of the partner API, and their meaning.

The wording here is what the consent page shows the citizen, so it names the exact data
and actions (issue #10 §2). Research clients hold no person scope at all.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    IMMUNIZATION_READ = "immunization.read"
    CERTIFICATE_READ = "certificate.read"
    APPOINTMENT_WRITE = "appointment.write"


class ClientKind(StrEnum):
    APP = "app"
    RESEARCH = "research"


class ClientState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


PERSON_SCOPES = frozenset(Scope)
