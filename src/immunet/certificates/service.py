"""Certificates in the service: issuance on recorded doses, sealed keys, trust list, verification.

* :func:`issue_for_beneficiary` runs inside the caller's (dose-recording) transaction: it
  builds the :class:`CertificateRecord` from the beneficiary's live doses, signs every format,
  stores the payload sealed, and retires the previous version.
* :func:`revoke_for_correction` is the same after a dose was voided or corrected: the previous
  version is revoked *publicly* (it appears in the revocation list); an ordinary later dose
  only supersedes the previous version, which stays a true statement of the earlier doses.
* The signing key set is sealed with the field cipher (``certificates:keyset:<id>``); rotation
  keeps the retired public keys so certificates already issued keep verifying.
* Verification uses public keys and revocation entries only: nothing about the person is
  looked up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.certificates import offline, shc
from immunet.certificates.divoc import InvalidDivocEntry
from immunet.certificates.issue import issue_all
from immunet.certificates.keys import CertificateKeySet
from immunet.certificates.models import (
    CertificateSigningKeys,
    IssuedCertificate,
    TrustedIssuer,
    keyset_context,
    payload_context,
)
from immunet.certificates.pdf import render_pdf
from immunet.certificates.record import VACCINES, CertificateRecord, DoseEntry
from immunet.certificates.trust import InvalidTrustEntry, TrustList, uvci_hashes
from immunet.certificates.verify import VerificationResult, verify_qr
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import BadRequest, NotFound, ServiceUnavailable
from immunet.geography.centers import Center
from immunet.people.models import Beneficiary
from immunet.people.service import _vault_number, access_own_beneficiary, reveal
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain, AuditEntry, RequestContext
from immunet.security.ratelimit import Limit
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination.models import DoseRecord, ImmunizationCardRevocation, Series, Vaccine

log = logging.getLogger("immunet.certificates")

PDFS_PER_HOUR = Limit("certificate-pdf-hour", 30, 3600)
FORMATS_PER_HOUR = Limit("certificate-formats-hour", 60, 3600)
STAFF_PDFS_PER_HOUR = Limit("certificate-staff-pdf-hour", 60, 3600)
# Revocation reasons that invalidate what the certificate says: published in the trust list.
PUBLISHED_REASONS = ("corrected", "voided")
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_GENDERS = {"Male": "Male", "Female": "Female"}
NO_ID = "XXXXXXXX"  # the masked-ID form for a person registered without a photo ID (children)
MAX_TRUST_FILE = 2 * 1024 * 1024


class Principal(Protocol):
    """Anything with an audit actor reference (citizen, staff or operator principal)."""

    @property
    def actor(self) -> str: ...


Actor = str | Principal


def _actor_ref(actor: Actor) -> str:
    return actor if isinstance(actor, str) else actor.actor


class CertificateNotFound(NotFound):
    error_code = "CERT0404"
    message = "No certificate has been issued for this beneficiary."


class InvalidTrustList(BadRequest):
    error_code = "CERT0400"
    message = "The trust list file is not valid."


class NoSigningKeys(ServiceUnavailable):
    # An empty trust list or JWKS would tell verifiers (who cache it) that nothing immunet
    # signs is valid; until `immunet db upgrade` has created the keys, say so instead.
    error_code = "CERT0503"
    message = "No certificate signing keys exist yet: the trust list cannot be published."

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "60"})


# -- records ---------------------------------------------------------------------------------


def new_certificate_id() -> str:
    """16 random characters (80 bits) from an unambiguous alphabet; never sequential."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def record_to_dict(record: CertificateRecord) -> dict[str, Any]:
    return {
        "certificate_id": record.certificate_id,
        "beneficiary_reference_id": record.beneficiary_reference_id,
        "name": record.name,
        "gender": record.gender,
        "masked_id": record.masked_id,
        "issued_at": record.issued_at.isoformat(),
        "version": record.version,
        "status": record.status,
        "birth_year": record.birth_year,
        "date_of_birth": record.date_of_birth.isoformat() if record.date_of_birth else None,
        "doses": [
            {
                "vaccine_code": d.vaccine_code,
                "vaccine_name": d.vaccine_name,
                "manufacturer": d.manufacturer,
                "batch": d.batch,
                "date": d.date.isoformat(),
                "dose_number": d.dose_number,
                "total_doses": d.total_doses,
                "center_name": d.center_name,
                "country": d.country,
            }
            for d in record.doses
        ],
    }


def record_from_dict(doc: dict[str, Any]) -> CertificateRecord:
    return CertificateRecord(
        certificate_id=doc["certificate_id"],
        beneficiary_reference_id=doc["beneficiary_reference_id"],
        name=doc["name"],
        gender=doc["gender"],
        masked_id=doc["masked_id"],
        issued_at=dt.datetime.fromisoformat(doc["issued_at"]),
        version=int(doc["version"]),
        status=doc["status"],
        birth_year=doc.get("birth_year"),
        date_of_birth=(
            dt.date.fromisoformat(doc["date_of_birth"]) if doc.get("date_of_birth") else None
        ),
        doses=tuple(
            DoseEntry(
                vaccine_code=d["vaccine_code"],
                vaccine_name=d["vaccine_name"],
                manufacturer=d["manufacturer"],
                batch=d["batch"],
                date=dt.date.fromisoformat(d["date"]),
                dose_number=int(d["dose_number"]),
                total_doses=int(d["total_doses"]),
                center_name=d["center_name"],
                country=d["country"],
            )
            for d in doc["doses"]
        ),
    )


def certificate_status(doses: tuple[DoseEntry, ...]) -> str:
    """provisional until the primary series is complete, final then, precaution beyond it."""
    last = max(doses, key=lambda d: (d.dose_number, d.date))
    if last.dose_number > last.total_doses:
        return "precaution"
    if last.dose_number >= last.total_doses:
        return "final"
    return "provisional"


async def _dose_entries(session: AsyncSession, beneficiary_id: int) -> tuple[DoseEntry, ...]:
    """The live (recorded, not voided) doses that certificates cover (the COVID-19 vaccines)."""
    rows = (
        await session.execute(
            select(DoseRecord, Vaccine, Series, Center)
            .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
            .outerjoin(Series, Series.code == DoseRecord.series_code)
            .outerjoin(Center, Center.center_id == DoseRecord.center_id)
            .where(DoseRecord.beneficiary_id == beneficiary_id, DoseRecord.status == "recorded")
            .order_by(DoseRecord.administered_on, DoseRecord.dose_number, DoseRecord.id)
        )
    ).all()
    entries = []
    for dose, vaccine, series, center in rows:
        known = VACCINES.get(dose.vaccine_code.upper())
        if known is None:  # the certificate formats cover the COVID-19 catalogue only
            continue
        total = series.primary_doses if series is not None else known.default_doses
        entries.append(
            DoseEntry(
                vaccine_code=known.code,
                vaccine_name=vaccine.name,
                manufacturer=vaccine.manufacturer,
                batch=dose.batch,
                date=dose.administered_on,
                dose_number=dose.dose_number,
                total_doses=max(1, total),
                center_name=center.name if center is not None else "Vaccination centre",
                country="IN",
            )
        )
    return tuple(entries)


async def _build_record(
    ctx: AppContext,
    session: AsyncSession,
    beneficiary: Beneficiary,
    *,
    certificate_id: str,
    version: int,
    issued_at: dt.datetime,
) -> CertificateRecord | None:
    doses = await _dose_entries(session, beneficiary.id)
    if not doses:
        return None
    # The mobile number is never read: reveal() gets an empty one and its mask is not used.
    number = await _vault_number(session, ctx.keyring, beneficiary.aadhaar_token)
    view = reveal(ctx.keyring, beneficiary, mobile="", vault_number=number)
    masked = view.masked_id_number or NO_ID
    return CertificateRecord(
        certificate_id=certificate_id,
        beneficiary_reference_id=beneficiary.reference_id,
        name=view.name,
        gender=_GENDERS.get(view.gender, "Other"),  # type: ignore[arg-type]
        masked_id=masked,
        doses=doses,
        issued_at=issued_at,
        version=version,
        status=certificate_status(doses),  # type: ignore[arg-type]
        birth_year=view.birth_year,
        date_of_birth=view.date_of_birth,
    )


# -- keys ------------------------------------------------------------------------------------

_KEYSET_CACHE: dict[tuple[str, str], CertificateKeySet] = {}


def _open_keyset(ctx: AppContext, row: CertificateSigningKeys) -> CertificateKeySet:
    if row.keyset_ct is None:
        raise RuntimeError("the active certificate key row has no sealed key set")
    cache_key = (row.id, hashlib.sha256(row.keyset_ct).hexdigest())
    cached = _KEYSET_CACHE.get(cache_key)
    if cached is None:
        plain = ctx.keyring.field_cipher.decrypt(row.keyset_ct, context=keyset_context(row.id))
        cached = CertificateKeySet.from_json(plain)
        if len(_KEYSET_CACHE) > 32:
            _KEYSET_CACHE.clear()
        _KEYSET_CACHE[cache_key] = cached
    return cached


def _sealed_row(ctx: AppContext, keyset: CertificateKeySet) -> CertificateSigningKeys:
    row_id = "cks_" + secrets.token_hex(12)
    public = TrustList.from_keyset(keyset).to_dict()
    return CertificateSigningKeys(
        id=row_id,
        active_slot=1,
        keyset_ct=ctx.keyring.field_cipher.encrypt(
            keyset.to_json().decode("utf-8"), context=keyset_context(row_id)
        ),
        public_json=json.dumps(public, sort_keys=True, separators=(",", ":")),
        created_at=utcnow(),
    )


async def _active_row(
    session: AsyncSession, *, for_update: bool = False
) -> CertificateSigningKeys | None:
    stmt = select(CertificateSigningKeys).where(CertificateSigningKeys.active_slot == 1)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def _active_or_create(
    ctx: AppContext, session: AsyncSession, *, actor: str, context: RequestContext | None
) -> tuple[CertificateSigningKeys, CertificateKeySet]:
    row = await _active_row(session)
    if row is None:
        # The issuer is the server's public base URL, so SMART Health Card verifiers find
        # its keys at <issuer>/.well-known/jwks.json as the framework requires.
        keyset = CertificateKeySet.generate(issuer=ctx.settings.public_url, now=ctx.clock.now())
        candidate = _sealed_row(ctx, keyset)
        try:
            async with session.begin_nested():
                session.add(candidate)
                await session.flush()
        except IntegrityError:
            # another transaction created the key set first: use theirs
            row = await _active_row(session)
            if row is None:  # pragma: no cover - the constraint says it exists
                raise
        else:
            row = candidate
            await AuditChain.append(
                session,
                actor=actor,
                action=AuditAction.CERTIFICATE_KEYS_CREATED,
                subject_ref=f"certificate-keys:{row.id}",
                purpose="certificate-signing",
                context=context,
            )
            log.info("certificate key set %s created", row.id)
    return row, _open_keyset(ctx, row)


async def active_keyset(ctx: AppContext, session: AsyncSession) -> CertificateKeySet:
    """The active signing key set, created (sealed) on first use."""
    _row, keyset = await _active_or_create(ctx, session, actor="system:certificates", context=None)
    return keyset


async def rotate_keys(ctx: AppContext, *, actor: str, context: RequestContext | None) -> str:
    """New keys for every format; the retired public keys stay published. Returns the row id."""
    async with ctx.db.transaction() as session:
        old = await _active_row(session, for_update=True)
        if old is None:
            row, _ = await _active_or_create(ctx, session, actor=actor, context=context)
            return row.id
        keyset = _open_keyset(ctx, old).rotate(now=ctx.clock.now())
        old.active_slot = None
        old.keyset_ct = None  # the retired private keys are destroyed; public parts stay
        old.retired_at = utcnow()
        await session.flush()
        new = _sealed_row(ctx, keyset)
        session.add(new)
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor,
            action=AuditAction.CERTIFICATE_KEYS_ROTATED,
            subject_ref=f"certificate-keys:{new.id}",
            purpose="key-rotation",
            context=context,
            detail={"retired": old.id},
        )
    return new.id


# -- issuance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateDocument:
    """One issued version, opened: the record and every format made from it."""

    record: CertificateRecord
    formats: dict[str, Any]


def _seal_payload(ctx: AppContext, record: CertificateRecord, formats: dict[str, Any]) -> bytes:
    text = json.dumps(
        {"record": record_to_dict(record), "formats": formats},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return ctx.keyring.field_cipher.encrypt(
        text, context=payload_context(record.certificate_id, record.version)
    )


def open_payload(ctx: AppContext, row: IssuedCertificate) -> CertificateDocument:
    text = ctx.keyring.field_cipher.decrypt(
        row.payload_ct, context=payload_context(row.certificate_id, row.version)
    )
    doc = json.loads(text)
    return CertificateDocument(record_from_dict(doc["record"]), doc["formats"])


async def _current(session: AsyncSession, beneficiary_id: int) -> IssuedCertificate | None:
    return (
        await session.execute(
            select(IssuedCertificate)
            .where(
                IssuedCertificate.beneficiary_id == beneficiary_id,
                IssuedCertificate.revoked_at.is_(None),
            )
            .order_by(IssuedCertificate.version.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def _revoke(
    session: AsyncSession,
    row: IssuedCertificate,
    *,
    reason: str,
    beneficiary_ref: str,
    actor: str,
    context: RequestContext | None,
    superseded_by: int | None = None,
    leaves: list[AuditEntry] | None = None,
) -> None:
    row.revoked_at = utcnow()
    row.revocation_reason = reason
    row.superseded_by = superseded_by
    await session.flush()
    await _audit(
        session,
        leaves,
        AuditEntry(
            actor=actor,
            action=AuditAction.CERTIFICATE_REVOKED,
            subject_ref=f"beneficiary:{beneficiary_ref}",
            purpose=reason,
            context=context,
            detail={"certificate": row.certificate_id, "version": row.version},
        ),
    )


async def _audit(session: AsyncSession, leaves: list[AuditEntry] | None, entry: AuditEntry) -> None:
    """Append now, or hand the leaf to the caller that writes its request's leaves in one
    batch (a dose: its certificate's leaves go with the dose's own)."""
    if leaves is None:
        await AuditChain.append_many(session, [entry])
    else:
        leaves.append(entry)


async def _reissue(
    ctx: AppContext,
    session: AsyncSession,
    beneficiary_id: int,
    *,
    actor: str,
    context: RequestContext | None,
    reason: str,
    locked: Beneficiary | None = None,
    leaves: list[AuditEntry] | None = None,
) -> IssuedCertificate | None:
    await session.flush()  # the caller's new or voided dose rows must be visible
    beneficiary = locked
    if beneficiary is None or beneficiary.id != beneficiary_id:
        beneficiary = (
            await session.execute(
                select(Beneficiary).where(Beneficiary.id == beneficiary_id).with_for_update()
            )
        ).scalar_one_or_none()
    if beneficiary is None:
        raise NotFound()
    previous = await _current(session, beneficiary_id)
    latest = (
        await session.execute(
            select(IssuedCertificate.certificate_id, func.max(IssuedCertificate.version))
            .where(IssuedCertificate.beneficiary_id == beneficiary_id)
            .group_by(IssuedCertificate.certificate_id)
            .order_by(func.max(IssuedCertificate.version).desc())
            .limit(1)
        )
    ).first()
    certificate_id = latest[0] if latest else new_certificate_id()
    version = (latest[1] + 1) if latest else 1
    issued_at = ctx.clock.now().astimezone(dt.UTC).replace(microsecond=0)
    record = await _build_record(
        ctx,
        session,
        beneficiary,
        certificate_id=certificate_id,
        version=version,
        issued_at=issued_at,
    )
    if record is None:
        # No certifiable dose is left (all voided): the last certificate stops being valid.
        if previous is not None:
            await _revoke(
                session,
                previous,
                reason="voided",
                beneficiary_ref=beneficiary.reference_id,
                actor=actor,
                context=context,
                leaves=leaves,
            )
        return None
    key_row, keyset = await _active_or_create(ctx, session, actor=actor, context=context)
    formats = await asyncio.to_thread(issue_all, record, keyset)
    row = IssuedCertificate(
        certificate_id=certificate_id,
        beneficiary_id=beneficiary_id,
        version=version,
        status=record.status,
        issued_at=issued_at,
        issued_by=actor[:96],
        keyset_id=key_row.id,
        uvci=record.uvci,
        shc_kid=keyset.shc.kid,
        shc_rid=shc.revocation_id(record),
        payload_ct=_seal_payload(ctx, record, formats),
    )
    session.add(row)
    await session.flush()
    if previous is not None:
        await _revoke(
            session,
            previous,
            reason=reason,
            beneficiary_ref=beneficiary.reference_id,
            actor=actor,
            context=context,
            superseded_by=row.id,
            leaves=leaves,
        )
    await _audit(
        session,
        leaves,
        AuditEntry(
            actor=actor,
            action=AuditAction.CERTIFICATE_ISSUED,
            subject_ref=f"beneficiary:{beneficiary.reference_id}",
            purpose="dose-recorded" if reason == "superseded" else "record-corrected",
            context=context,
            detail={"certificate": certificate_id, "version": version, "status": record.status},
        ),
    )
    return row


async def issue_for_beneficiary(
    ctx: AppContext,
    session: AsyncSession,
    beneficiary_id: int,
    *,
    actor: Actor,
    context: RequestContext | None,
    locked: Beneficiary | None = None,
    leaves: list[AuditEntry] | None = None,
) -> IssuedCertificate | None:
    """Issue the beneficiary's next certificate version inside the caller's transaction.

    Call it after recording a dose (the dose row added to ``session``). The previous version,
    if any, is marked superseded (not published as revoked: it still states true doses).
    Returns ``None`` when the beneficiary has no dose the certificate formats cover.
    ``locked``: the beneficiary's row, already locked FOR UPDATE by the caller (no second
    lock statement). ``leaves``: the caller appends the certificate's audit leaves with its
    own, in one batch, in this order.
    """
    return await _reissue(
        ctx,
        session,
        beneficiary_id,
        actor=_actor_ref(actor),
        context=context,
        reason="superseded",
        locked=locked,
        leaves=leaves,
    )


async def revoke_for_correction(
    ctx: AppContext,
    session: AsyncSession,
    beneficiary_id: int,
    *,
    actor: Actor,
    context: RequestContext | None,
) -> IssuedCertificate | None:
    """After a dose was voided or corrected (inside that transaction): revoke the current
    version publicly and issue a new one from the corrected record (``None`` if no dose is
    left, in which case the last version is revoked as ``voided``)."""
    return await _reissue(
        ctx, session, beneficiary_id, actor=_actor_ref(actor), context=context, reason="corrected"
    )


# -- the citizen's own certificate -----------------------------------------------------------


async def own_certificate(
    ctx: AppContext, reference_id: str, *, actor: CitizenPrincipal
) -> CertificateDocument:
    """The current certificate of one of the account's own beneficiaries (404 otherwise)."""
    async with ctx.db.reader() as session:
        beneficiary = await access_own_beneficiary(session, actor.account_id, reference_id)
        row = await _current(session, beneficiary.id)
        if row is None:
            raise CertificateNotFound()
        return open_payload(ctx, row)


async def certificate_formats(
    ctx: AppContext, reference_id: str, *, actor: CitizenPrincipal
) -> dict[str, Any]:
    await ctx.limiter.hit(FORMATS_PER_HOUR, actor.account_id)
    return (await own_certificate(ctx, reference_id, actor=actor)).formats


async def certificate_pdf(ctx: AppContext, reference_id: str, *, actor: CitizenPrincipal) -> bytes:
    await ctx.limiter.hit(PDFS_PER_HOUR, actor.account_id)
    document = await own_certificate(ctx, reference_id, actor=actor)
    return await asyncio.to_thread(render_pdf, document.record, document.formats)


async def staff_certificate_pdf(
    ctx: AppContext, reference_id: str, *, actor: StaffPrincipal, channel: str
) -> bytes:
    """A person's current certificate for staff, only through the staff access chokepoint
    (the person on the staff member's own roster, OTP-verified, or break-glass; audited)."""
    from immunet.people.service import BeneficiaryNotFound
    from immunet.vaccination.access import AccessChannel, access_person_for_staff

    await ctx.limiter.hit(STAFF_PDFS_PER_HOUR, str(actor.user_id))
    try:
        wanted = AccessChannel(channel)
    except ValueError:
        raise BeneficiaryNotFound() from None
    async with ctx.db.transaction() as session:
        found = (
            await session.execute(
                select(Beneficiary.id).where(Beneficiary.reference_id == reference_id)
            )
        ).scalar_one_or_none()
        if found is None:
            raise BeneficiaryNotFound()
        row = await _current(session, found)
        # the chokepoint checks, counts and audits the read (last statement of the transaction)
        await access_person_for_staff(
            ctx, session, actor, found, purpose="certificate-download", channel=wanted
        )
    if row is None:
        raise CertificateNotFound()
    document = open_payload(ctx, row)
    return await asyncio.to_thread(render_pdf, document.record, document.formats)


# -- trust list, revocation, verification ----------------------------------------------------


async def _own_public(session: AsyncSession, *, required: bool = False) -> TrustList:
    row = await _active_row(session)
    if row is None:
        if required:
            raise NoSigningKeys()
        return TrustList()
    return TrustList.from_json(row.public_json, check=False)


async def _revocations(session: AsyncSession) -> TrustList:
    rows = (
        await session.execute(
            select(
                IssuedCertificate.certificate_id,
                IssuedCertificate.version,
                IssuedCertificate.uvci,
                IssuedCertificate.shc_kid,
                IssuedCertificate.shc_rid,
            )
            .where(IssuedCertificate.revocation_reason.in_(PUBLISHED_REASONS))
            .order_by(IssuedCertificate.id)
        )
    ).all()
    out = TrustList()
    for certificate_id, version, uvci, kid, rid in rows:
        out.revoked_dcc.add(uvci_hashes(uvci)[0])
        out.revoked_shc.setdefault(kid, []).append(rid)
        out.revoked_vc.add(f"{certificate_id}/v{version}")
    # Immunization card versions that showed a voided routine dose (vaccination/card.py).
    # A card is signed when asked for, with whichever SHC key was active then: its rid is
    # listed under every key of ours (rids are unique per card version).
    cards = (
        await session.execute(
            select(
                ImmunizationCardRevocation.card_id,
                ImmunizationCardRevocation.first_version,
                ImmunizationCardRevocation.last_version,
            ).order_by(ImmunizationCardRevocation.dose_id)
        )
    ).all()
    if cards:
        kids = [str(k["kid"]) for issuer in (await _own_public(session)).shc for k in issuer.keys]
        for card_id, first, last in cards:
            for version in range(first, last + 1):
                out.revoked_vc.add(f"{card_id}/v{version}")
                rid = shc.version_rid(card_id, version)
                for kid in kids:
                    out.revoked_shc.setdefault(kid, []).append(rid)
    return out


async def published_trust_list(ctx: AppContext) -> dict[str, Any]:
    """immunet's own trust list (active and retired public keys, its revocations)."""
    async with ctx.db.reader() as session:
        own = await _own_public(session, required=True)
        revoked = await _revocations(session)
    return own.merge(revoked).to_dict()


async def verification_trust_list(session: AsyncSession) -> TrustList:
    """What /verify trusts: immunet's own keys and revocations, plus imported issuers."""
    trust = (await _own_public(session)).merge(await _revocations(session))
    for (text,) in (await session.execute(select(TrustedIssuer.trust_json))).all():
        try:
            trust = trust.merge(TrustList.from_json(text))
        except (ValueError, KeyError, TypeError):  # validated at import; never fatal here
            log.warning("an imported trust list could not be loaded")
    return trust


async def jwks(ctx: AppContext) -> dict[str, Any]:
    """``/.well-known/jwks.json``: immunet's SMART Health Card keys (active and retired)."""
    async with ctx.db.reader() as session:
        own = await _own_public(session, required=True)
    return {"keys": [dict(k) for issuer in own.shc for k in issuer.keys]}


async def revocation_list(ctx: AppContext, kid: str) -> dict[str, Any]:
    """``/.well-known/crl/<kid>.json`` in the SMART Health Cards revocation format."""
    async with ctx.db.reader() as session:
        own = await _own_public(session)
        if not any(k.get("kid") == kid for issuer in own.shc for k in issuer.keys):
            raise NotFound()
        revoked = await _revocations(session)
    rids = sorted(revoked.revoked_shc.get(kid, []))
    return {"kid": kid, "method": "rid", "ctr": len(rids), "rids": rids}


async def verify(
    ctx: AppContext,
    text: str | bytes | list[str] | dict[str, Any],
    *,
    at: dt.datetime | None = None,
) -> VerificationResult:
    async with ctx.db.reader() as session:
        trust = await verification_trust_list(session)
    # Expiry, nbf and x5c validity are time rules: they read the context's clock.
    return await asyncio.to_thread(verify_qr, text, trust, at=at or ctx.clock.now())


async def import_trust_list(
    ctx: AppContext, text: str, *, label: str, actor: str, context: RequestContext | None
) -> bool:
    """Store another issuer's trust list (public keys, revocations). False if already there."""
    if len(text) > MAX_TRUST_FILE:
        raise InvalidTrustList("The trust list file is too large.")
    try:
        parsed = TrustList.from_json(text)
        for signer in parsed.dcc:
            _ = signer.certificate  # parse the X.509 now, not at verification time
        for method in parsed.vc:
            method.public_key()
    except (InvalidTrustEntry, InvalidDivocEntry) as exc:
        raise InvalidTrustList(f"The trust list file is not valid: {exc}") from exc
    except Exception as exc:
        raise InvalidTrustList() from exc
    normalized = parsed.to_json()
    digest = hashlib.sha256(normalized.encode("utf-8")).hexdigest()
    async with ctx.db.transaction() as session:
        exists = (
            await session.execute(select(TrustedIssuer.id).where(TrustedIssuer.sha256 == digest))
        ).first()
        if exists is not None:
            return False
        row = TrustedIssuer(
            label=label[:120],
            sha256=digest,
            trust_json=normalized,
            imported_at=utcnow(),
            imported_by=actor[:96],
        )
        session.add(row)
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor,
            action=AuditAction.CERTIFICATE_ISSUER_IMPORTED,
            subject_ref=f"trusted-issuer:{row.id}",
            purpose="trust-list-import",
            context=context,
            detail={"sha256": digest[:16]},
        )
    return True


async def offline_verifier_bundle(ctx: AppContext) -> dict[str, Any]:
    """What the offline verifier in the browser needs: the same trust list and revocations as
    :func:`verify` (immunet's own and imported issuers), public parts only, with its time
    (see :func:`immunet.certificates.offline.bundle`)."""
    async with ctx.db.reader() as session:
        trust = await verification_trust_list(session)
    return offline.bundle(trust, ctx.clock.now())
