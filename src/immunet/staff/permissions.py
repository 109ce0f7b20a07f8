"""Permissions are data: a ``scope:resource:action`` enum and a default-deny role table."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    NATIONAL_ADMIN = "national_admin"
    STATE_ADMIN = "state_admin"
    DISTRICT_ADMIN = "district_admin"
    FACILITY_MANAGER = "facility_manager"
    VACCINATOR = "vaccinator"
    VERIFIER = "verifier"


class Permission(StrEnum):
    STAFF_USER_CREATE = "staff:user:create"
    STAFF_USER_DISABLE = "staff:user:disable"
    STAFF_USER_READ = "staff:user:read"
    CENTER_CREATE = "geography:center:create"
    CENTER_UPDATE = "geography:center:update"
    CENTER_READ = "geography:center:read"
    SESSION_PUBLISH = "sessions:session:publish"
    SESSION_UPDATE = "sessions:session:update"
    SESSION_CANCEL = "sessions:session:cancel"
    SESSION_READ = "sessions:session:read"
    ROSTER_READ = "booking:roster:read"
    DOSE_RECORD = "vaccination:dose:record"
    DOSE_CORRECT = "vaccination:dose:correct"
    REPORT_READ = "reports:aggregate:read"
    CERTIFICATE_VERIFY = "certificates:certificate:verify"
    STOCK_MANAGE = "vaccination:stock:manage"
    STOCK_READ = "vaccination:stock:read"
    AEFI_REPORT = "vaccination:aefi:report"
    AEFI_READ = "vaccination:aefi:read"
    SELF_SESSION = "staff:session:own"  # log out, see own profile
    MISUSE_ALERT_READ = "oversight:alert:read"
    MISUSE_ALERT_ACK = "oversight:alert:ack"
    STAFF_USER_REINSTATE = "staff:user:reinstate"
    DISPUTE_READ = "oversight:dispute:read"
    DISPUTE_RESOLVE = "oversight:dispute:resolve"
    BREAK_GLASS = "people:record:break-glass"
    PARTNER_MANAGE = "partners:client:manage"
    PARTNER_READ = "partners:client:read"
    REGIONAL_VACCINES_SET = "vaccination:regional:set"


# Rank: a user may create users only of a strictly lower rank.
ROLE_RANK: dict[Role, int] = {
    Role.NATIONAL_ADMIN: 5,
    Role.STATE_ADMIN: 4,
    Role.DISTRICT_ADMIN: 3,
    Role.FACILITY_MANAGER: 2,
    Role.VACCINATOR: 1,
    Role.VERIFIER: 1,
}

_ADMIN = {
    Permission.STAFF_USER_CREATE,
    Permission.STAFF_USER_DISABLE,
    Permission.STAFF_USER_READ,
    Permission.CENTER_CREATE,
    Permission.CENTER_UPDATE,
    Permission.CENTER_READ,
    Permission.SESSION_PUBLISH,
    Permission.SESSION_UPDATE,
    Permission.SESSION_CANCEL,
    Permission.SESSION_READ,
    Permission.REPORT_READ,
    Permission.AEFI_READ,
    Permission.SELF_SESSION,
    Permission.MISUSE_ALERT_READ,
    Permission.MISUSE_ALERT_ACK,
    Permission.STAFF_USER_REINSTATE,
    Permission.DISPUTE_READ,
    Permission.DISPUTE_RESOLVE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Partners are registered nationally: only national admins manage them.
    Role.NATIONAL_ADMIN: frozenset(
        _ADMIN
        | {Permission.PARTNER_MANAGE, Permission.PARTNER_READ, Permission.REGIONAL_VACCINES_SET}
    ),
    # Which districts run JE and PCV is a state programme decision, not a district's.
    Role.STATE_ADMIN: frozenset(_ADMIN | {Permission.REGIONAL_VACCINES_SET}),
    Role.DISTRICT_ADMIN: frozenset(_ADMIN),
    Role.FACILITY_MANAGER: frozenset(
        {
            Permission.STAFF_USER_CREATE,
            Permission.STAFF_USER_DISABLE,
            Permission.STAFF_USER_READ,
            Permission.CENTER_READ,
            Permission.CENTER_UPDATE,
            Permission.SESSION_PUBLISH,
            Permission.SESSION_UPDATE,
            Permission.SESSION_CANCEL,
            Permission.SESSION_READ,
            Permission.ROSTER_READ,
            Permission.DOSE_CORRECT,
            Permission.STOCK_MANAGE,
            Permission.STOCK_READ,
            Permission.AEFI_REPORT,
            Permission.SELF_SESSION,
            Permission.BREAK_GLASS,
        }
    ),
    Role.VACCINATOR: frozenset(
        {
            Permission.SESSION_READ,
            Permission.ROSTER_READ,
            Permission.DOSE_RECORD,
            Permission.STOCK_READ,
            Permission.AEFI_REPORT,
            Permission.SELF_SESSION,
            Permission.BREAK_GLASS,
        }
    ),
    Role.VERIFIER: frozenset({Permission.CERTIFICATE_VERIFY, Permission.SELF_SESSION}),
}

# Which jurisdiction kinds each role may hold.
ROLE_JURISDICTIONS: dict[Role, frozenset[str]] = {
    Role.NATIONAL_ADMIN: frozenset({"national"}),
    Role.STATE_ADMIN: frozenset({"state"}),
    Role.DISTRICT_ADMIN: frozenset({"district"}),
    Role.FACILITY_MANAGER: frozenset({"center"}),
    Role.VACCINATOR: frozenset({"center"}),
    Role.VERIFIER: frozenset({"national", "state", "district", "center"}),
}


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
