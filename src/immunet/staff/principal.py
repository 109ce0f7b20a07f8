"""The authenticated staff member, with the jurisdiction every staff query is filtered by."""

from __future__ import annotations

from dataclasses import dataclass, field

from immunet.security.audit import RequestContext
from immunet.staff.permissions import Permission, Role, role_allows


class InvalidJurisdiction(ValueError):
    pass


@dataclass(frozen=True)
class Jurisdiction:
    """``national``, ``state:<state_id>``, ``district:<district_id>`` or ``center:<center_id>``."""

    kind: str
    ref_id: int | None

    @classmethod
    def parse(cls, text: str) -> Jurisdiction:
        if text == "national":
            return cls("national", None)
        kind, _, ref = text.partition(":")
        if kind not in ("state", "district", "center") or not (ref.isascii() and ref.isdigit()):
            raise InvalidJurisdiction(
                "jurisdiction is national, state:<id>, district:<id> or center:<id>"
            )
        return cls(kind, int(ref))

    def __str__(self) -> str:
        return self.kind if self.ref_id is None else f"{self.kind}:{self.ref_id}"


@dataclass(frozen=True)
class StaffPrincipal:
    user_id: int
    username: str
    role: Role
    jurisdiction: Jurisdiction
    session_id: str
    context: RequestContext

    @property
    def actor(self) -> str:
        # Reference IDs only: the audit log never holds a staff member's personal name.
        return f"staff:{self.user_id}"

    def can(self, permission: Permission) -> bool:
        return role_allows(self.role, permission)


@dataclass(frozen=True)
class OperatorPrincipal:
    """Someone with shell access to a node (the ``immunet`` command): may provision anyone."""

    name: str = "cli"
    context: RequestContext = field(default_factory=RequestContext.system)

    @property
    def actor(self) -> str:
        return f"operator:{self.name}"


OPERATOR_CLI = OperatorPrincipal()
