"""Request and response models of the oversight API (strict, bounded, explicit allow-lists)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from immunet.people.schemas import Out, Strict


class AlertOut(Out):
    id: int
    staff_username: str
    staff_role: str
    jurisdiction: str
    kind: str
    severity: str
    created_at: str
    detail: dict[str, int | float | str | bool | None]
    acknowledged_by: str | None
    acknowledged_at: str | None


class AlertsResponse(Out):
    alerts: list[AlertOut]
    next: int | None = Field(default=None, description="Pass as `before` for the next page.")


class BreakGlassRequest(Strict):
    beneficiary_reference_id: str = Field(min_length=14, max_length=14, pattern=r"^[0-9]{14}$")
    reason: str = Field(min_length=20, max_length=500)


class BreakGlassResponse(Out):
    grant_id: int
    expires_at: str


class DoseReportResponse(Out):
    group_by: str
    from_: str = Field(serialization_alias="from")
    to: str
    cells: dict[str, int | str]
    total: int | str
    suppression: str = "counts 1-4 shown as <5; complementary cells shown as suppressed"


class DisputeOut(Out):
    id: int
    entry_id: int
    staff_username: str
    staff_role: str
    jurisdiction: str
    reason: str
    status: str
    created_at: str
    resolved_by: str | None
    resolved_at: str | None


class DisputesResponse(Out):
    disputes: list[DisputeOut]
    next: int | None = None


class ResolveDisputeRequest(Strict):
    outcome: Literal["upheld", "dismissed"]


class DisputeRequest(Strict):
    reason: str = Field(min_length=3, max_length=500)


class DisputeResponse(Out):
    dispute_id: int
    status: str = "open"


class Who(Out):
    organisation: str
    role: str


class AccessEntryOut(Out):
    entry_id: int
    beneficiary_reference_id: str
    who: Who
    when: str
    action: str
    channel: str | None
    purpose: str | None
    reason: str | None = Field(
        default=None, description="The staff member's written reason, for a break-glass access."
    )


class AccessLogResponse(Out):
    entries: list[AccessEntryOut]
    next: int | None = Field(default=None, description="Pass as `before` for older entries.")


class HeldField(Out):
    field: str
    category: str
    stored: str


class Purpose(Out):
    purpose: str
    basis: str


class DataSummaryResponse(Out):
    beneficiaries: list[str]
    fields: list[HeldField]
    purposes: list[Purpose]
    recipients: list[str]


class CheckpointOut(Out):
    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str
    signed_message: str = Field(description="The exact UTF-8 text signed with Ed25519.")


class CheckpointKeyResponse(Out):
    algorithm: str = "Ed25519"
    key_id: str
    public_key: str = Field(description="Raw 32-byte public key, hex")
    leaf_hash: str = "SHA-256(0x00 || entry hash bytes)"
    node_hash: str = "SHA-256(0x01 || left || right)"


class InclusionProofResponse(Out):
    entry_id: int
    leaf_index: int
    entry_hash: str
    leaf_hash: str
    audit_path: list[str]
    checkpoint: CheckpointOut


class ConsistencyResponse(Out):
    first: CheckpointOut
    second: CheckpointOut
    proof: list[str]


class CoverageRowOut(Out):
    district_id: int
    month: str
    children_turning_one: int | str
    cohort: dict[str, int | str]  # fully_immunized, partly_immunized, zero_dose
    doses: dict[str, int | str]  # penta_1, penta_3, mr_1, mr_2 given in the month
    dropout_penta_1_3: float | None
    dropout_mr_1_2: float | None


class CoverageResponse(Out):
    from_: str = Field(serialization_alias="from")
    to: str
    rows: list[CoverageRowOut]
    suppression: str = "counts 1-4 shown as <5; complementary cells shown as suppressed"
