"""The immunization card: one certificate per child covering every routine vaccine.

Built from the register as it stands — every live routine dose (with the schedule's verdict)
and the next due dates forecast by the engine — and signed with the certificates package's
keys and signers in every format we issue: a FHIR R4 bundle with ``Immunization`` and
``ImmunizationRecommendation`` resources, a SMART Health Card (ES256 JWS, numeric QR), a
W3C Verifiable Credential (eddsa-jcs-2022) and a PDF. Its version counts the routine-dose
events of the person (each dose recorded, each dose voided: decisions 0014 and 0021), so each
dose and each correction re-issues it and versions only grow; it is signed when asked for, so
it can never lag behind the register. Voiding a routine dose revokes every version that
showed it (:func:`revoke_for_void`), published in the trust list: the VC by
``<card id>/v<version>``, the SMART Health Card by its ``rid``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import uuid
from dataclasses import dataclass
from typing import Any

import segno
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fpdf import FPDF
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.rules import today_in_india
from immunet.certificates import shc, vc
from immunet.certificates.fonts import PdfFonts
from immunet.certificates.keys import CertificateKeySet
from immunet.certificates.service import active_keyset
from immunet.context import AppContext
from immunet.errors import NotFound
from immunet.geography.centers import Center
from immunet.people.family import active_pregnancy_edd
from immunet.people.service import access_own_beneficiary, reveal
from immunet.schedules.engine import NOT_COMPLETE
from immunet.schedules.india import PregnancyTd
from immunet.schedules.india import due_list as forecast_due
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditEntry
from immunet.security.ratelimit import Limit
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination import uip
from immunet.vaccination.models import (
    DoseRecord,
    ImmunizationCardRevocation,
    SeriesDose,
    Vaccine,
)
from immunet.vaccination.regional import regional_for_center

CARDS_PER_HOUR = Limit("immunization-card-hour", 30, 3600)
CVX = "http://hl7.org/fhir/sid/cvx"
IMMUNET_VACCINE = "https://immunet.example/fhir/vaccine"
RECOMMENDATION_STATUS = "http://terminology.hl7.org/CodeSystem/immunization-recommendation-status"
LOINC = "http://loinc.org"
# LOINC codes of ImmunizationRecommendation.dateCriterion (FHIR R4 value set).
EARLIEST, DUE_DATE, OVERDUE = "30981-5", "30980-7", "59778-1"
SHC_TYPES = ["https://smarthealth.cards#health-card", "https://smarthealth.cards#immunization"]
FHIR_GENDER = {1: "male", 2: "female", 3: "other"}


class CardNotFound(NotFound):
    error_code = "VACCIN0450"
    message = "No immunization card: no routine dose is recorded for this beneficiary."


@dataclass(frozen=True)
class CardDose:
    vaccine: str
    vaccine_name: str
    cvx: str | None
    label: str
    dose_number: int
    date: dt.date
    batch: str
    center: str
    evaluation: str | None
    reason: str | None


@dataclass(frozen=True)
class CardDue:
    group: str
    dose_number: int
    cvx: str | None
    earliest: dt.date
    recommended: dt.date
    past_due: dt.date | None
    overdue: bool


@dataclass(frozen=True)
class Card:
    card_id: str
    version: int
    reference_id: str
    name: str
    gender_id: int
    date_of_birth: dt.date
    issued_at: dt.datetime
    doses: tuple[CardDose, ...]
    due: tuple[CardDue, ...]


def _uuid(*parts: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256("/".join(parts).encode()).digest()[:16], version=4))


def card_version(live: int, voided: int) -> int:
    """Routine-dose events: every row was recorded once, every voided row voided once."""
    return live + 2 * voided


def revoked_versions(
    dose_id: int, rows: list[tuple[int, str]], prior_voids: list[int]
) -> tuple[int, int]:
    """Pure: the versions that showed dose ``dose_id``, voided now.

    ``rows``: (id, status) of every routine dose row of the person (``dose_id`` still
    "recorded"); ``prior_voids``: ``after_dose_id`` of each earlier void. Records happen in
    id order; an earlier void came after the recording of its ``after_dose_id``. The dose
    first showed on the version its recording issued and last on the current one."""
    recorded_before = sum(1 for row_id, _ in rows if row_id <= dose_id)
    voided_before = sum(1 for after in prior_voids if after < dose_id)
    voided = sum(1 for row_id, status in rows if status == "voided" and row_id != dose_id)
    return recorded_before + voided_before, len(rows) + voided


async def revoke_for_void(
    session: AsyncSession,
    dose: DoseRecord,
    reference_id: str,
    *,
    actor: StaffPrincipal,
    now: dt.datetime,
) -> AuditEntry | None:
    """Inside the void's transaction, before the row is marked voided: revoke the card
    versions that showed this routine dose; returns the audit leaf (None: not routine)."""
    rows = [
        (row_id, status)
        for row_id, status in await session.execute(
            select(DoseRecord.id, DoseRecord.status)
            .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
            .where(
                DoseRecord.beneficiary_id == dose.beneficiary_id,
                Vaccine.programme_code == uip.PROGRAMME,
            )
        )
    ]
    if dose.id not in {row_id for row_id, _ in rows}:
        return None
    prior = list(
        (
            await session.execute(
                select(ImmunizationCardRevocation.after_dose_id).where(
                    ImmunizationCardRevocation.beneficiary_id == dose.beneficiary_id
                )
            )
        ).scalars()
    )
    first, last = revoked_versions(dose.id, rows, prior)
    card_id = f"UIP{reference_id}"
    session.add(
        ImmunizationCardRevocation(
            dose_id=dose.id,
            beneficiary_id=dose.beneficiary_id,
            card_id=card_id,
            first_version=first,
            last_version=last,
            after_dose_id=max(row_id for row_id, _ in rows),
            revoked_at=now,
            revoked_by=actor.actor,
        )
    )
    return AuditEntry(
        actor=actor.actor,
        action=AuditAction.CERTIFICATE_REVOKED,
        subject_ref=f"beneficiary:{reference_id}",
        purpose="voided",
        context=actor.context,
        detail={"card": card_id, "versions": [first, last], "dose_id": dose.id},
    )


def _criterion(loinc: str, day: dt.date) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": loinc}]}, "value": day.isoformat()}


def fhir_bundle(card: Card) -> dict[str, Any]:
    """FHIR R4: Patient, one Immunization per dose, one ImmunizationRecommendation."""
    pid = _uuid("patient", card.card_id, str(card.version))
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"text": card.name}],
        "gender": FHIR_GENDER.get(card.gender_id, "unknown"),
        "birthDate": card.date_of_birth.isoformat(),
    }
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:{pid}", "resource": patient}]
    for n, dose in enumerate(card.doses, start=1):
        coding = [{"system": IMMUNET_VACCINE, "code": dose.vaccine, "display": dose.vaccine_name}]
        if dose.cvx:
            coding.insert(0, {"system": CVX, "code": dose.cvx})
        resource: dict[str, Any] = {
            "resourceType": "Immunization",
            "id": _uuid("immunization", card.card_id, str(n)),
            "status": "completed",
            "vaccineCode": {"coding": coding, "text": dose.label},
            "patient": {"reference": f"urn:uuid:{pid}"},
            "occurrenceDateTime": dose.date.isoformat(),
            "lotNumber": dose.batch,
            "performer": [{"actor": {"display": dose.center}}],
            "protocolApplied": [{"series": dose.label, "doseNumberString": dose.label}],
        }
        if dose.evaluation and dose.evaluation != "Valid":
            # The schedule did not count it: FHIR's "subpotent", with the engine's reason.
            resource["isSubpotent"] = True
            resource["subpotentReason"] = [{"text": f"{dose.evaluation}: {dose.reason or ''}"}]
        entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    recommendations = []
    for due in card.due:
        criteria = [
            {
                "code": {"coding": [{"system": LOINC, "code": EARLIEST}]},
                "value": due.earliest.isoformat(),
            },
            {
                "code": {"coding": [{"system": LOINC, "code": DUE_DATE}]},
                "value": due.recommended.isoformat(),
            },
        ]
        if due.past_due:
            criteria.append(
                {
                    "code": {"coding": [{"system": LOINC, "code": OVERDUE}]},
                    "value": due.past_due.isoformat(),
                }
            )
        code: dict[str, Any] = {"text": due.group}
        if due.cvx:
            code["coding"] = [{"system": CVX, "code": due.cvx}]
        recommendations.append(
            {
                "vaccineCode": [code],
                "forecastStatus": {
                    "coding": [
                        {
                            "system": RECOMMENDATION_STATUS,
                            "code": "overdue" if due.overdue else "due",
                        }
                    ]
                },
                "dateCriterion": criteria,
                "series": due.group,
                "doseNumberPositiveInt": due.dose_number,
            }
        )
    if recommendations:
        rid = _uuid("recommendation", card.card_id, str(card.version))
        entries.append(
            {
                "fullUrl": f"urn:uuid:{rid}",
                "resource": {
                    "resourceType": "ImmunizationRecommendation",
                    "id": rid,
                    "patient": {"reference": f"urn:uuid:{pid}"},
                    "date": card.issued_at.isoformat(),
                    "recommendation": recommendations,
                },
            }
        )
    return {
        "resourceType": "Bundle",
        "id": _uuid("bundle", card.card_id, str(card.version)),
        "type": "collection",
        "timestamp": card.issued_at.isoformat(),
        "entry": entries,
    }


def shc_claims(card: Card, issuer: str) -> dict[str, Any]:
    """The SMART Health Card: Patient and the doses with a CVX code (vitamin A has none)."""
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "resource:0",
            "resource": {
                "resourceType": "Patient",
                "name": [{"text": card.name}],
                "birthDate": card.date_of_birth.isoformat(),
            },
        }
    ]
    for dose in card.doses:
        if not dose.cvx:
            continue
        entries.append(
            {
                "fullUrl": f"resource:{len(entries)}",
                "resource": {
                    "resourceType": "Immunization",
                    "status": "completed",
                    "vaccineCode": {"coding": [{"system": CVX, "code": dose.cvx}]},
                    "patient": {"reference": "resource:0"},
                    "occurrenceDateTime": dose.date.isoformat(),
                    "lotNumber": dose.batch,
                    "performer": [{"actor": {"display": dose.center}}],
                },
            }
        )
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return {
        "iss": issuer,
        "nbf": int(card.issued_at.timestamp()),
        "vc": {
            "type": SHC_TYPES,
            "credentialSubject": {"fhirVersion": "4.0.1", "fhirBundle": bundle},
            "rid": shc.version_rid(card.card_id, card.version),
        },
    }


def credential(card: Card, issuer: str) -> dict[str, Any]:
    """The unsigned W3C credential: the child and every dose (in the vaccination context's
    terms only; the schedule's verdicts and the due dates are in the FHIR bundle)."""
    return {
        "@context": list(vc.CONTEXT),
        "type": ["VerifiableCredential", "ProofOfVaccinationCredential"],
        "credentialSubject": {
            "type": "Person",
            "id": f"did:immunet:card:{card.card_id}",
            "refId": card.reference_id,
            "name": card.name,
            "dob": card.date_of_birth.isoformat(),
            "nationality": "Indian",
            "address": {"addressCountry": "IN"},
        },
        "issuer": issuer,
        "issuanceDate": card.issued_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "evidence": [
            {
                "id": f"{issuer}/vaccine/{card.card_id}/{n}",
                "type": ["Vaccination"],
                "certificateId": card.card_id,
                "certificateVersion": str(card.version),
                "vaccine": d.vaccine_name,
                "vaccineCode": d.vaccine,
                "dose": d.dose_number,
                "date": d.date.isoformat(),
                "batch": d.batch,
                "facility": {"name": d.center, "address": {"addressCountry": "IN"}},
            }
            for n, d in enumerate(card.doses, start=1)
        ],
        "nonTransferable": "true",
    }


def sign_card(card: Card, keyset: CertificateKeySet) -> dict[str, Any]:
    """Every format of the card, signed with the active certificate keys."""
    shc_key = keyset.shc.private_key
    vc_key = keyset.vc.private_key
    assert isinstance(shc_key, ec.EllipticCurvePrivateKey)
    assert isinstance(vc_key, ed25519.Ed25519PrivateKey)
    jws = shc.sign_jws(shc_claims(card, keyset.issuer), shc_key, keyset.shc.kid)
    signed = vc.sign_jcs(
        credential(card, keyset.issuer),
        vc_key,
        keyset.vc_verification_method,
        created=card.issued_at,
    )
    return {
        "fhir": fhir_bundle(card),
        "shc": {"jws": jws, "qr": shc.qr_chunks(jws)},
        "vc": {"credential": signed, "qr": vc.to_qr(signed)},
    }


def _day(value: dt.date | None) -> str:
    return value.strftime("%d-%m-%Y") if value else "-"


def render_card_pdf(card: Card, formats: dict[str, Any]) -> bytes:
    """A one-page card: the doses given and the next due dates, with the VC's QR code.
    Texts go through the certificates' fonts (any Indian script prints)."""
    lines: list[tuple[str, int]] = [
        ("Immunization card / टीकाकरण कार्ड", 15),
        (f"Card {card.card_id}, version {card.version}", 10),
        (f"Beneficiary reference ID: {card.reference_id}", 10),
        (f"Name: {card.name}", 10),
        (f"Date of birth: {_day(card.date_of_birth)}", 10),
        ("Doses given / दी गई खुराकें", 12),
    ]
    for d in card.doses:
        note = "" if d.evaluation in (None, "Valid") else f" - {d.evaluation}: {d.reason or ''}"
        lines.append((f"{_day(d.date)}  {d.label}  batch {d.batch}  {d.center}{note}", 9))
    lines.append(("Next doses / अगली खुराकें", 12))
    for due in card.due:
        state = "OVERDUE" if due.overdue else "due"
        lines.append(
            (
                f"{due.group} dose {due.dose_number}: {state} {_day(due.recommended)}"
                f" (from {_day(due.earliest)})",
                9,
            )
        )
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title("Immunization card")
    pdf.set_creator("immunet")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    fonts = PdfFonts(pdf, [text for text, _ in lines])
    for text, size in lines:
        pdf.cell(0, size * 0.6, fonts.use(text, size), new_x="LMARGIN", new_y="NEXT")
    qr = io.BytesIO()
    segno.make(formats["vc"]["qr"], error="l").save(qr, kind="png", scale=2, border=2)
    qr.seek(0)
    pdf.image(qr, x=pdf.l_margin, y=pdf.get_y() + 4, w=70)
    return bytes(pdf.output())


async def _read_card(
    ctx: AppContext, session: AsyncSession, account_id: str, reference_id: str
) -> Card:
    """The card's content (doses given, next due dates) of one of the account's own
    beneficiaries, unsigned: 404 for another account's or an unknown one alike, and
    :class:`CardNotFound` while no routine dose is recorded."""
    row = await access_own_beneficiary(session, account_id, reference_id)
    rows = (
        await session.execute(
            select(DoseRecord, Vaccine, SeriesDose.label, Center.name)
            .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
            .outerjoin(
                SeriesDose,
                and_(
                    SeriesDose.series_code == DoseRecord.series_code,
                    SeriesDose.dose_number == DoseRecord.dose_number,
                ),
            )
            .outerjoin(Center, Center.center_id == DoseRecord.center_id)
            .where(
                DoseRecord.beneficiary_id == row.id,
                DoseRecord.status == "recorded",
                Vaccine.programme_code == uip.PROGRAMME,
            )
            .order_by(DoseRecord.administered_on, DoseRecord.id)
        )
    ).all()
    if not rows:
        raise CardNotFound()
    voided, last_void = (
        await session.execute(
            select(func.count(), func.max(DoseRecord.voided_at))
            .select_from(DoseRecord)
            .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
            .where(
                DoseRecord.beneficiary_id == row.id,
                DoseRecord.status == "voided",
                Vaccine.programme_code == uip.PROGRAMME,
            )
        )
    ).one()
    edd = await active_pregnancy_edd(session, ctx.keyring, row)
    pregnant = edd is not None
    runs = await regional_for_center(session, row.home_center_id)
    cvx_of: dict[str, str | None] = {
        code: cvx
        for code, cvx in await session.execute(
            select(Vaccine.code, Vaccine.cvx_code).where(Vaccine.programme_code == uip.PROGRAMME)
        )
    }
    view = reveal(ctx.keyring, row, mobile="", vault_number=None)
    dob = view.date_of_birth or dt.date(view.birth_year, 1, 1)
    doses = tuple(
        CardDose(
            vaccine=v.code,
            vaccine_name=v.name,
            cvx=v.cvx_code,
            label=label or f"{v.code} (dose {d.dose_number})",
            dose_number=d.dose_number,
            date=d.administered_on,
            batch=d.batch,
            center=center or "Vaccination centre",
            evaluation=d.evaluation_status,
            reason=d.evaluation_reason,
        )
        for d, v, label, center in rows
    )
    today = today_in_india(ctx.clock.now())
    due = []
    history = [(d.date, d.vaccine) for d in doses]
    pregnancy = (
        None
        if edd is None
        else PregnancyTd.of(
            edd,
            [
                d.administered_on
                for d, _, _, _ in rows
                if d.series_code == uip.series_code(uip.PREGNANCY_TD)
            ],
        )
    )
    for name, line in forecast_due(
        dob, history, today, regional=runs, pregnant=pregnant, pregnancy=pregnancy
    ).items():
        f = line.forecast
        if (name == uip.PREGNANCY_TD) != pregnant or line.status != NOT_COMPLETE or f is None:
            continue
        if f.latest is not None and f.latest < today:
            continue
        due.append(
            CardDue(
                name,
                f.dose_number,
                cvx_of.get(uip.vaccine_of_group(name) or ""),
                f.earliest,
                f.recommended,
                f.past_due,
                f.past_due is not None and f.past_due <= today,
            )
        )
    # Issued by the last dose event: a recording, or a void (which re-issues it too).
    last = max([d.recorded_at for d, _, _, _ in rows] + ([last_void] if last_void else []))
    return Card(
        card_id=f"UIP{row.reference_id}",
        version=card_version(len(rows), int(voided or 0)),
        reference_id=row.reference_id,
        name=view.name,
        gender_id=row.gender_id,
        date_of_birth=dob,
        issued_at=last.replace(microsecond=0),
        doses=doses,
        due=tuple(sorted(due, key=lambda d: (d.recommended, d.group))),
    )


async def card_content(ctx: AppContext, reference_id: str, *, actor: CitizenPrincipal) -> Card:
    """What the card shows (the portal's family page), without signing it: the same doses
    and due dates :func:`own_card` signs. Own data read by its owner: no audit entry, and
    no signing budget spent (the page's guard counts the account's requests)."""
    async with ctx.db.reader() as session:
        return await _read_card(ctx, session, actor.account_id, reference_id)


async def own_card(
    ctx: AppContext, reference_id: str, *, actor: CitizenPrincipal
) -> tuple[Card, dict[str, Any]]:
    """The current card of one of the account's own beneficiaries (404 otherwise)."""
    await ctx.limiter.hit(CARDS_PER_HOUR, actor.account_id)
    # A transaction, not a reader: the first signature ever creates the key set.
    async with ctx.db.transaction() as session:
        card = await _read_card(ctx, session, actor.account_id, reference_id)
        keyset = await active_keyset(ctx, session)
    return card, sign_card(card, keyset)


async def own_card_pdf(ctx: AppContext, reference_id: str, *, actor: CitizenPrincipal) -> bytes:
    issued, formats = await own_card(ctx, reference_id, actor=actor)
    return await asyncio.to_thread(render_card_pdf, issued, formats)
