"""Certificate storage: the sealed signing key set, issued certificates, imported issuers.

No column holds personal data in the clear: the issued payloads (QR texts, the credential,
the record they were made from) carry the holder's name and are sealed with the field
cipher, bound to their certificate and version. The other columns are random identifiers,
hashes used by the published revocation list, and public key material.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class CertificateSigningKeys(Base):
    """One key set per row. The active row holds the sealed private keys; rotation seals a new
    row (whose key set keeps the old public keys) and retires this one, destroying its
    private half. ``public_json`` is immunet's trust list for the key set (public keys only)."""

    __tablename__ = "certificate_signing_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # 1 on the active row, NULL on retired rows: the unique constraint allows one active row.
    active_slot: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    keyset_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    public_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IssuedCertificate(Base):
    """One version of a beneficiary's certificate. ``certificate_id`` is stable across
    versions; every version has its own UVCI (``uvci``) and SMART revocation id."""

    __tablename__ = "issued_certificates"
    __table_args__ = (UniqueConstraint("certificate_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[str] = mapped_column(String(40), index=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # provisional | final | precaution
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(96))
    keyset_id: Mapped[str] = mapped_column(ForeignKey("certificate_signing_keys.id"))
    uvci: Mapped[str] = mapped_column(String(96), unique=True)
    shc_kid: Mapped[str] = mapped_column(String(64))
    shc_rid: Mapped[str] = mapped_column(String(32))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # superseded (a later dose; not published) | corrected | voided (published as revoked)
    revocation_reason: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    superseded_by: Mapped[int | None] = mapped_column(
        ForeignKey("issued_certificates.id"), nullable=True
    )
    # Sealed JSON {"record": ..., "formats": ...}: QR texts, the VC, the FHIR bundle.
    payload_ct: Mapped[bytes] = mapped_column(LargeBinary)


class TrustedIssuer(Base):
    """Another issuer's public keys (a trust list file imported by ``immunet trust import``)."""

    __tablename__ = "certificate_trusted_issuers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(120))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    trust_json: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(96))


def keyset_context(keyset_id: str) -> str:
    return f"certificates:keyset:{keyset_id}"


def payload_context(certificate_id: str, version: int) -> str:
    return f"certificates:payload:{certificate_id}:v{version}"


def _register_sealed_columns() -> None:
    """``immunet keys reencrypt`` re-seals the key sets and the issued payloads."""
    from immunet.security.reencrypt import EXTRA_SEALED_COLUMNS, SealedColumns

    if any(spec.model is CertificateSigningKeys for spec in EXTRA_SEALED_COLUMNS):
        return
    EXTRA_SEALED_COLUMNS.append(
        SealedColumns(
            CertificateSigningKeys, "id", {"keyset_ct": lambda row: keyset_context(row.id)}
        )
    )
    EXTRA_SEALED_COLUMNS.append(
        SealedColumns(
            IssuedCertificate,
            "id",
            {"payload_ct": lambda row: payload_context(row.certificate_id, row.version)},
        )
    )


_register_sealed_columns()
