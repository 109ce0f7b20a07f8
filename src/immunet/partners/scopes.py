"""What a partner client may ask for: the scopes of the partner API, and their meaning.

The wording here is what the consent page shows the citizen, so it names the exact data
and actions (issue #10 §2). Research clients hold research scopes only,
never a person scope.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    IMMUNIZATION_READ = "immunization.read"
    CERTIFICATE_READ = "certificate.read"
    APPOINTMENT_WRITE = "appointment.write"


class ResearchScope(StrEnum):
    """What a research client may read: never a person (immunet/research, issue #10 §4)."""

    AGGREGATES = "research.aggregates"  # suppressed aggregate tables
    DP_COUNTS = "research.dp"  # differentially private counts, spending a privacy budget
    EXTRACTS = "research.extracts"  # pseudonymised, generalised, k-anonymous line lists


class ClientKind(StrEnum):
    APP = "app"
    RESEARCH = "research"


class ClientState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


PERSON_SCOPES = frozenset(Scope)
RESEARCH_SCOPES = frozenset(ResearchScope)
