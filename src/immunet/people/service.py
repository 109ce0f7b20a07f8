"""Beneficiaries: registration, listing and deletion for the account that owns them.

This module is the chokepoint for personal data of beneficiaries: rows are found only by
``(account, reference ID)`` and decrypted only by :func:`reveal`. A reference ID of
another account and one that never existed give the same :class:`NotFound`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.clock import india_today
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Conflict, NotFound, ValidationFailed
from immunet.people.identifiers import (
    InvalidIdentifier,
    mask_id_number,
    mask_mobile,
    normalize_aadhaar,
    normalize_id_number,
    normalize_name,
)
from immunet.people.models import (
    AadhaarVaultEntry,
    Beneficiary,
    CitizenAccount,
    IdentifierConflict,
    Pregnancy,
)
from immunet.people.schemas import NewBeneficiaryRequest
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain, RequestContext
from immunet.security.keyring import Keyring, Purpose
from immunet.security.ratelimit import Limit

log = logging.getLogger("immunet.people")

AADHAAR_TYPE = 1
ID_TYPES: dict[int, str] = {
    1: "Aadhaar Card",
    2: "Driving License",
    3: "PAN Card",
    4: "Passport",
    5: "Pension Passbook",
    6: "NPR Smart Card",
    7: "Voter ID",
    8: "Unique Disability ID",
    9: "Ration Card with Photo",
    10: "Birth Certificate",
}
GENDERS: dict[int, str] = {1: "Male", 2: "Female", 3: "Others"}
CHILD_MAX_AGE_YEARS = 18


class BeneficiaryNotFound(NotFound):
    error_code = "BENREG0404"
    message = "No such beneficiary."


class BeneficiaryLimitReached(Conflict):
    error_code = "BENREG0006"
    message = "The maximum number of beneficiaries for this mobile number has been reached."


class AlreadyInThisAccount(Conflict):
    # Only ever about the caller's own account: an ID held by another account (or by
    # nobody) is registered and answered like any other (see register_...).
    error_code = "BENREG0009"
    message = "A beneficiary with this ID number is already registered from this mobile."


class BeneficiaryHasHistory(Conflict):
    error_code = "BENREG0010"
    message = "A beneficiary with recorded doses cannot be deleted."


class InvalidBeneficiary(ValidationFailed):
    error_code = "BENREG0400"


@dataclass(frozen=True)
class BeneficiaryView:
    """A decrypted beneficiary, for the account owner's own eyes (masked identifiers)."""

    id: int
    reference_id: str
    name: str
    birth_year: int
    date_of_birth: dt.date | None
    gender: str
    gender_id: int
    category: str
    photo_id_type: str
    masked_id_number: str
    masked_mobile: str
    comorbidity_ind: str
    # Staff views only: another registration holds the same ID number (check the photo
    # ID document). Never set on the citizen's own listing (that would be the oracle).
    id_conflict: bool = False


def _context(reference_id: str, field: str) -> str:
    return f"beneficiary:{reference_id}:{field}"


def new_reference_id() -> str:
    """14 random digits; never sequential, never starting with 0."""
    return str(10**13 + secrets.randbelow(9 * 10**13))


@dataclass(frozen=True)
class ValidatedRegistration:
    name: str
    birth_year: int
    date_of_birth: dt.date | None
    gender_id: int
    category: str
    photo_id_type: int | None
    id_number: str | None


def validate_registration(form: NewBeneficiaryRequest, today: dt.date) -> ValidatedRegistration:
    """Pure rules of a registration form."""
    try:
        name = normalize_name(form.name)
    except InvalidIdentifier as exc:
        raise InvalidBeneficiary(f"name: {exc}") from exc
    date_of_birth: dt.date | None = None
    if form.date_of_birth is not None:
        try:
            date_of_birth = dt.datetime.strptime(form.date_of_birth, "%d-%m-%Y").date()
        except ValueError as exc:
            raise InvalidBeneficiary("date_of_birth must be DD-MM-YYYY") from exc
        if date_of_birth > today or date_of_birth.year < today.year - 120:
            raise InvalidBeneficiary("date_of_birth is out of range")
        birth_year = date_of_birth.year
        if form.birth_year is not None and form.birth_year != str(birth_year):
            raise InvalidBeneficiary("birth_year does not match date_of_birth")
    elif form.birth_year is not None:
        if not (form.birth_year.isascii() and form.birth_year.isdigit()):
            raise InvalidBeneficiary("birth_year must be four digits")
        birth_year = int(form.birth_year)
        if not today.year - 120 <= birth_year <= today.year:
            raise InvalidBeneficiary("birth_year is out of range")
    else:
        raise InvalidBeneficiary("birth_year or date_of_birth is required")

    age = today.year - birth_year
    is_child = age < CHILD_MAX_AGE_YEARS
    if is_child and date_of_birth is None:
        raise InvalidBeneficiary("children are registered with their date_of_birth")
    if form.gender_id not in GENDERS:
        raise InvalidBeneficiary("gender_id is not known")
    if form.is_pregnant and (form.gender_id != 2 or age < 12):
        raise InvalidBeneficiary("is_pregnant applies to women only")
    category = "pregnant" if form.is_pregnant else ("child" if is_child else "adult")

    id_number: str | None = None
    if form.photo_id_type is None and form.photo_id_number is None:
        if not is_child:
            raise InvalidBeneficiary("photo_id_type and photo_id_number are required for adults")
    elif form.photo_id_type is None or form.photo_id_number is None:
        raise InvalidBeneficiary("photo_id_type and photo_id_number go together")
    else:
        if form.photo_id_type not in ID_TYPES:
            raise InvalidBeneficiary("photo_id_type is not known")
        try:
            if form.photo_id_type == AADHAAR_TYPE:
                id_number = normalize_aadhaar(form.photo_id_number)
            else:
                id_number = normalize_id_number(form.photo_id_number)
        except InvalidIdentifier as exc:
            raise InvalidBeneficiary(f"photo_id_number: {exc}") from exc
    return ValidatedRegistration(
        name=name,
        birth_year=birth_year,
        date_of_birth=date_of_birth,
        gender_id=form.gender_id,
        category=category,
        photo_id_type=form.photo_id_type if id_number else None,
        id_number=id_number,
    )


async def _lock_account(session: AsyncSession, account_id: str) -> CitizenAccount:
    account = (
        await session.execute(
            select(CitizenAccount).where(CitizenAccount.id == account_id).with_for_update()
        )
    ).scalar_one_or_none()
    if account is None:
        raise NotFound()
    return account


@dataclass(frozen=True)
class ChildDetails:
    """What a child's registration adds (decision 0014): the account holder's relation to
    the child and the facility whose catchment the child is in (decision 0013)."""

    guardian_relation: str
    home_center_id: int | None


async def _check_center(session: AsyncSession, center_id: int) -> None:
    """A chosen home facility must be a live centre (centres are public: no oracle)."""
    from immunet.geography.centers import Center

    found = (
        await session.execute(
            select(Center.center_id).where(Center.center_id == center_id, Center.active.is_(True))
        )
    ).first()
    if found is None:
        raise InvalidBeneficiary("center_id is not a vaccination centre")


@dataclass(frozen=True)
class Registration:
    """A new beneficiary. A notice owed to an earlier holder of its ID number is in the
    outbox, written in the registration's transaction and sent by a worker after the
    answer: the answer's timing does not wait on any SMS."""

    reference_id: str


# Registrations tried with a fresh reference ID when the drawn one is taken (about one in
# 10^14 / registered people: a second try is already vanishingly rare).
REFERENCE_ATTEMPTS = 3


def registration_limit(ctx: AppContext) -> Limit:
    return Limit("beneficiary-registrations", ctx.settings.registrations_per_account_per_day, 86400)


def _identifier_index(keyring: Keyring, data: ValidatedRegistration) -> str | None:
    if data.id_number is None:
        return None
    if data.photo_id_type == AADHAAR_TYPE:
        return keyring.blind_index(Purpose.AADHAAR_INDEX)(data.id_number)
    return keyring.blind_index(Purpose.ID_NUMBER_INDEX)(f"{data.photo_id_type}:{data.id_number}")


async def _lock_identifier(session: AsyncSession, dialect: str, index: str) -> None:
    """Serialize registrations of one ID number, so no duplicate escapes its flag.

    PostgreSQL: a transaction advisory lock keyed on the blind index (a collision only
    serializes two unrelated registrations). SQLite runs writers one at a time already.
    """
    if dialect != "postgresql":
        return
    key = int.from_bytes(
        hashlib.sha256(f"id-claim:{index}".encode()).digest()[:8], "big", signed=True
    )
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def _holders(
    session: AsyncSession, data: ValidatedRegistration, index: str
) -> list[Beneficiary]:
    """Registrations that already hold this ID number (by blind index)."""
    if data.photo_id_type == AADHAAR_TYPE:
        stmt = (
            select(Beneficiary)
            .join(AadhaarVaultEntry, AadhaarVaultEntry.token == Beneficiary.aadhaar_token)
            .where(AadhaarVaultEntry.number_index == index)
        )
    else:
        stmt = select(Beneficiary).where(Beneficiary.id_index == index)
    return list((await session.execute(stmt.order_by(Beneficiary.id))).scalars())


async def register_beneficiary(
    ctx: AppContext, form: NewBeneficiaryRequest, *, actor: CitizenPrincipal
) -> Registration:
    return await register_beneficiary_for_account(
        ctx, form, account_id=actor.account_id, actor=actor.actor, context=actor.context
    )


async def register_beneficiary_for_account(
    ctx: AppContext,
    form: NewBeneficiaryRequest,
    *,
    account_id: str,
    actor: str,
    context: RequestContext,
    purpose: str = "registration",
    child: ChildDetails | None = None,
) -> Registration:
    """Register under ``account_id`` (the owner, or staff holding that account's OTP).

    An ID number that another account's registration already holds is registered all
    the same, with the same answer and the same work: knowing someone's ID number must
    reveal nothing. The duplicate is flagged (:class:`IdentifierConflict`), shown in the
    holder's access log, told to the holder by SMS after the answer, and resolved at
    the centre (photo ID check before any dose). Only an ID already registered in the
    caller's *own* account is refused, since that tells the caller only their own data.
    """
    data = validate_registration(form, india_today(ctx.clock.now()))
    if child is not None and data.category != "child":
        raise InvalidBeneficiary("a child is registered with a date_of_birth under 18 years")
    # Every registration counts alike, known ID or not: the limit reveals nothing.
    await ctx.limiter.hit(registration_limit(ctx), account_id)
    index = _identifier_index(ctx.keyring, data)
    for attempt in range(REFERENCE_ATTEMPTS):
        try:
            reference_id = await _register(
                ctx,
                form,
                data,
                index,
                account_id=account_id,
                actor=actor,
                context=context,
                purpose=purpose,
                child=child,
            )
            break
        except AlreadyInThisAccount:
            await _audit_refusal(ctx, actor, account_id, context)
            raise
        except IntegrityError as exc:
            # The drawn reference ID was taken (the transaction rolled back whole): draw
            # again. Any other constraint is a real error.
            if attempt + 1 == REFERENCE_ATTEMPTS or "reference_id" not in str(exc.orig):
                raise
    log.info("beneficiary registered ref=%s request=%s", reference_id, context.request_id)
    return Registration(reference_id)


async def _register(
    ctx: AppContext,
    form: NewBeneficiaryRequest,
    data: ValidatedRegistration,
    index: str | None,
    *,
    account_id: str,
    actor: str,
    context: RequestContext,
    purpose: str,
    child: ChildDetails | None = None,
) -> str:
    keyring = ctx.keyring
    cipher = keyring.field_cipher
    async with ctx.db.transaction() as session:
        # The account locked and its registrations counted in one statement.
        registered = (
            select(func.count())
            .select_from(Beneficiary)
            .where(Beneficiary.account_id == account_id)
            .scalar_subquery()
        )
        locked = (
            await session.execute(
                select(CitizenAccount.id, registered)
                .where(CitizenAccount.id == account_id)
                .with_for_update(of=CitizenAccount)
            )
        ).first()
        if locked is None:
            raise NotFound()
        count = int(locked[1])
        if count >= ctx.settings.max_beneficiaries_per_mobile:
            raise BeneficiaryLimitReached()
        if child is not None and child.home_center_id is not None:
            await _check_center(session, child.home_center_id)
        holders: list[Beneficiary] = []
        if index is not None:
            await _lock_identifier(session, ctx.db.dialect, index)
            holders = await _holders(session, data, index)
            if any(h.account_id == account_id for h in holders):
                raise AlreadyInThisAccount()
        # 14 random digits: a collision is left to the unique index, and the caller runs
        # the whole registration again with a new one (no look-up on every registration).
        reference_id = new_reference_id()
        aadhaar_token: str | None = None
        id_number_ct: bytes | None = None
        id_index: str | None = None
        if data.id_number is not None and data.photo_id_type == AADHAAR_TYPE:
            assert index is not None
            aadhaar_token = "avt_" + secrets.token_hex(16)
            session.add(
                AadhaarVaultEntry(
                    token=aadhaar_token,
                    number_index=index,
                    number_ct=keyring.vault_cipher.encrypt(
                        data.id_number, context=f"aadhaar:{aadhaar_token}"
                    ),
                    created_at=utcnow(),
                )
            )
            await session.flush()
        elif data.id_number is not None:
            id_number_ct = cipher.encrypt(
                data.id_number, context=_context(reference_id, "id_number")
            )
            id_index = index
        beneficiary = Beneficiary(
            reference_id=reference_id,
            account_id=account_id,
            name_ct=cipher.encrypt(data.name, context=_context(reference_id, "name")),
            birth_year_ct=cipher.encrypt(
                str(data.birth_year), context=_context(reference_id, "birth_year")
            ),
            birth_date_ct=(
                cipher.encrypt(
                    data.date_of_birth.isoformat(),
                    context=_context(reference_id, "birth_date"),
                )
                if data.date_of_birth
                else None
            ),
            gender_id=data.gender_id,
            category=data.category,
            photo_id_type=data.photo_id_type,
            id_number_ct=id_number_ct,
            id_index=id_index,
            aadhaar_token=aadhaar_token,
            comorbidity_ind=form.comorbidity_ind,
            consent_version=form.consent_version,
            created_at=utcnow(),
            guardian_relation=child.guardian_relation if child else None,
            home_center_id=child.home_center_id if child else None,
        )
        session.add(beneficiary)
        await session.flush()
        await _flag_conflicts(ctx, session, beneficiary, holders, actor=actor, context=context)
        await AuditChain.append(
            session,
            actor=actor,
            action=AuditAction.BENEFICIARY_REGISTERED,
            subject_ref=f"beneficiary:{reference_id}",
            purpose=purpose,
            context=context,
        )
    return reference_id


async def _flag_conflicts(
    ctx: AppContext,
    session: AsyncSession,
    beneficiary: Beneficiary,
    holders: Sequence[Beneficiary],
    *,
    actor: str,
    context: RequestContext,
) -> None:
    """Link the new registration to every earlier holder of its ID; log it in theirs,
    and queue an SMS to each holder's account."""
    conflicts = [
        IdentifierConflict(
            beneficiary_id=beneficiary.id,
            other_beneficiary_id=holder.id,
            account_id=beneficiary.account_id,
            photo_id_type=beneficiary.photo_id_type or 0,
            created_at=utcnow(),
        )
        for holder in holders
    ]
    # All rows first: the audit chain's lock is taken last, so this transaction never
    # waits on a holder's row (a dose being recorded) while holding it.
    session.add_all(conflicts)
    await session.flush()
    told: set[str] = set()
    for holder, conflict in zip(holders, conflicts, strict=True):
        if holder.account_id not in told and not holder.is_canary:
            told.add(holder.account_id)
            mobile = await account_mobile(session, ctx.keyring, holder.account_id)
            await ctx.outbox.enqueue(
                session,
                to=mobile,
                template="id_conflict",
                values={"ref_tail": holder.reference_id[-4:]},
                dedup_key=f"id_conflict:{conflict.id}",
            )
    for holder, conflict in zip(holders, conflicts, strict=True):
        # The holder's access log shows it (subject: the holder's own beneficiary); the
        # detail names the conflict row, never the new registration or its account.
        await AuditChain.append(
            session,
            actor=actor,
            action=AuditAction.IDENTIFIER_CONFLICT,
            subject_ref=f"beneficiary:{holder.reference_id}",
            purpose="duplicate-id",
            context=context,
            detail={"channel": "registration", "conflict": conflict.id},
        )


async def _audit_refusal(
    ctx: AppContext, actor: str, account_id: str, context: RequestContext
) -> None:
    async with ctx.db.transaction() as session:
        await AuditChain.append(
            session,
            actor=actor,
            action=AuditAction.BENEFICIARY_REFUSED,
            subject_ref=f"account:{account_id}",
            purpose="duplicate-id-own-account",
            context=context,
        )


async def conflicting_registrations(
    session: AsyncSession, beneficiary_ids: Sequence[int]
) -> dict[int, set[int]]:
    """For each given beneficiary, the other registrations that share its ID number."""
    ids = list(dict.fromkeys(beneficiary_ids))
    linked: dict[int, set[int]] = {b: set() for b in ids}
    if not ids:
        return linked
    rows = await session.execute(
        select(IdentifierConflict.beneficiary_id, IdentifierConflict.other_beneficiary_id).where(
            or_(
                IdentifierConflict.beneficiary_id.in_(ids),
                IdentifierConflict.other_beneficiary_id.in_(ids),
            )
        )
    )
    for later, earlier in rows:
        if later in linked:
            linked[later].add(earlier)
        if earlier in linked:
            linked[earlier].add(later)
    return linked


async def access_own_beneficiary(
    session: AsyncSession, account_id: str, reference_id: str, *, for_update: bool = False
) -> Beneficiary:
    """The account's own beneficiary, or :class:`BeneficiaryNotFound` (missing or not theirs)."""
    stmt = select(Beneficiary).where(
        Beneficiary.reference_id == reference_id, Beneficiary.account_id == account_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise BeneficiaryNotFound()
    return row


async def own_beneficiaries_and_mobile(
    session: AsyncSession, keyring: Keyring, account_id: str, reference_ids: Sequence[str]
) -> tuple[list[Beneficiary], str]:
    """The account's beneficiaries named by ``reference_ids`` (in that order) and the
    account's mobile, in one statement; :class:`BeneficiaryNotFound` if any is missing or
    not theirs (the same answer as :func:`access_own_beneficiary`)."""
    rows = (
        await session.execute(
            select(Beneficiary, CitizenAccount.mobile_ct)
            .join(CitizenAccount, CitizenAccount.id == Beneficiary.account_id)
            .where(
                Beneficiary.account_id == account_id,
                Beneficiary.reference_id.in_(list(reference_ids)),
            )
        )
    ).all()
    by_ref = {row[0].reference_id: row[0] for row in rows}
    if not rows or any(ref not in by_ref for ref in reference_ids):
        raise BeneficiaryNotFound()
    mobile = keyring.field_cipher.decrypt(rows[0][1], context=f"account:{account_id}:mobile")
    return [by_ref[ref] for ref in reference_ids], mobile


async def own_beneficiaries(session: AsyncSession, account_id: str) -> list[Beneficiary]:
    rows = await session.execute(
        select(Beneficiary).where(Beneficiary.account_id == account_id).order_by(Beneficiary.id)
    )
    return list(rows.scalars().all())


def reveal(
    keyring: Keyring, row: Beneficiary, *, mobile: str, vault_number: str | None
) -> BeneficiaryView:
    """Decrypt one beneficiary for display; identifiers come out masked only."""
    cipher = keyring.field_cipher
    ref = row.reference_id
    birth_date = (
        dt.date.fromisoformat(
            cipher.decrypt(row.birth_date_ct, context=_context(ref, "birth_date"))
        )
        if row.birth_date_ct
        else None
    )
    id_number: str | None = vault_number
    if row.id_number_ct is not None:
        id_number = cipher.decrypt(row.id_number_ct, context=_context(ref, "id_number"))
    return BeneficiaryView(
        id=row.id,
        reference_id=ref,
        name=cipher.decrypt(row.name_ct, context=_context(ref, "name")),
        birth_year=int(cipher.decrypt(row.birth_year_ct, context=_context(ref, "birth_year"))),
        date_of_birth=birth_date,
        gender=GENDERS.get(row.gender_id, "Others"),
        gender_id=row.gender_id,
        category=row.category,
        photo_id_type=ID_TYPES.get(row.photo_id_type, "") if row.photo_id_type else "",
        masked_id_number=mask_id_number(id_number) if id_number else "",
        masked_mobile=mask_mobile(mobile),
        comorbidity_ind=row.comorbidity_ind,
    )


async def _vault_number(session: AsyncSession, keyring: Keyring, token: str | None) -> str | None:
    if token is None:
        return None
    entry = await session.get(AadhaarVaultEntry, token)
    if entry is None:
        return None
    return keyring.vault_cipher.decrypt(entry.number_ct, context=f"aadhaar:{token}")


async def account_mobile(session: AsyncSession, keyring: Keyring, account_id: str) -> str:
    account = await session.get(CitizenAccount, account_id)
    if account is None:
        raise NotFound()
    return keyring.field_cipher.decrypt(account.mobile_ct, context=f"account:{account_id}:mobile")


async def list_beneficiaries(ctx: AppContext, *, actor: CitizenPrincipal) -> list[BeneficiaryView]:
    """The account holder's own beneficiaries (their own data: not an audited third-party read)."""
    async with ctx.db.reader() as session:
        mobile = await account_mobile(session, ctx.keyring, actor.account_id)
        rows = await own_beneficiaries(session, actor.account_id)
        views = []
        for row in rows:
            number = await _vault_number(session, ctx.keyring, row.aadhaar_token)
            views.append(reveal(ctx.keyring, row, mobile=mobile, vault_number=number))
    return views


async def delete_beneficiary(
    ctx: AppContext, reference_id: str, *, actor: CitizenPrincipal
) -> None:
    from immunet.vaccination.models import DoseRecord

    async with ctx.db.transaction() as session:
        await _lock_account(session, actor.account_id)
        row = await access_own_beneficiary(session, actor.account_id, reference_id, for_update=True)
        has_doses = (
            await session.execute(
                select(DoseRecord.id).where(DoseRecord.beneficiary_id == row.id).limit(1)
            )
        ).first()
        if has_doses is not None:
            raise BeneficiaryHasHistory()
        for hook in BENEFICIARY_DELETE_HOOKS:
            await hook(session, row)
        # A deleted registration no longer holds the ID: its conflicts go with it.
        await session.execute(
            delete(IdentifierConflict).where(
                or_(
                    IdentifierConflict.beneficiary_id == row.id,
                    IdentifierConflict.other_beneficiary_id == row.id,
                )
            )
        )
        await session.execute(delete(Pregnancy).where(Pregnancy.beneficiary_id == row.id))
        token = row.aadhaar_token
        await session.delete(row)
        await session.flush()
        if token is not None:
            await session.execute(delete(AadhaarVaultEntry).where(AadhaarVaultEntry.token == token))
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.BENEFICIARY_DELETED,
            subject_ref=f"beneficiary:{reference_id}",
            purpose="account-holder-request",
            context=actor.context,
        )


# Other areas (booking) register what must happen before a beneficiary row goes away,
# e.g. releasing seats of live appointments; each hook runs inside the delete transaction.
BeneficiaryDeleteHook = Callable[[AsyncSession, Beneficiary], Awaitable[None]]
BENEFICIARY_DELETE_HOOKS: list[BeneficiaryDeleteHook] = []
