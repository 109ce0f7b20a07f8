"""Moving every sealed field onto the current keys, in batches, while the service runs.

Each table that holds ciphertexts registers a :class:`SealedColumns` spec. Rows are
walked in primary-key order, a batch per transaction with the rows locked, and only
ciphertexts under an older key version are rewritten, so an interrupted run simply
resumes where work is left when started again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from immunet.context import load_keyring
from immunet.db.engine import Database
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.keyring import FieldCipher, Keyring
from immunet.settings import Settings


@dataclass(frozen=True)
class SealedColumns:
    model: Any
    key_attr: str
    # attribute name → function of the row giving the additional data that binds it
    columns: dict[str, Callable[[Any], str]]
    vault: bool = False


def _registry() -> list[SealedColumns]:
    import immunet.db.models  # noqa: F401 - every area's models register their sealed columns
    from immunet.people.models import AadhaarVaultEntry, Beneficiary, CitizenAccount

    def ben(field: str) -> Callable[[Any], str]:
        return lambda row: f"beneficiary:{row.reference_id}:{field}"

    specs = [
        SealedColumns(CitizenAccount, "id", {"mobile_ct": lambda r: f"account:{r.id}:mobile"}),
        SealedColumns(
            Beneficiary,
            "id",
            {
                "name_ct": ben("name"),
                "birth_year_ct": ben("birth_year"),
                "birth_date_ct": ben("birth_date"),
                "id_number_ct": ben("id_number"),
            },
        ),
        SealedColumns(
            AadhaarVaultEntry, "token", {"number_ct": lambda r: f"aadhaar:{r.token}"}, vault=True
        ),
    ]
    specs.extend(EXTRA_SEALED_COLUMNS)
    return specs


# Other areas append their sealed tables here (e.g. staff TOTP secrets).
EXTRA_SEALED_COLUMNS: list[SealedColumns] = []


async def reencrypt_all(
    settings: Settings,
    *,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
    keyring: Keyring | None = None,
) -> int:
    ring = keyring or load_keyring(settings)
    db = Database(settings.database_url)
    changed = 0
    try:
        specs = _registry()
        total = 0
        async with db.reader() as session:
            for spec in specs:
                total += (
                    await session.execute(select(func.count()).select_from(spec.model))
                ).scalar_one()
        done = 0
        for spec in specs:
            cipher: FieldCipher = ring.vault_cipher if spec.vault else ring.field_cipher
            key_col = getattr(spec.model, spec.key_attr)
            after: Any = None
            while True:
                async with db.transaction() as session:
                    stmt = select(spec.model).order_by(key_col).limit(batch_size).with_for_update()
                    if after is not None:
                        stmt = stmt.where(key_col > after)
                    rows = list((await session.execute(stmt)).scalars())
                    if not rows:
                        break
                    for row in rows:
                        for attr, context_of in spec.columns.items():
                            blob = getattr(row, attr)
                            if blob is not None and not cipher.is_current(blob):
                                setattr(row, attr, cipher.reencrypt(blob, context=context_of(row)))
                                changed += 1
                    after = getattr(rows[-1], spec.key_attr)
                    done += len(rows)
                if progress:
                    progress(done, total)
        async with db.transaction() as session:
            await AuditChain.append(
                session,
                actor="operator:cli",
                action=AuditAction.KEYS_REENCRYPTED,
                detail={"fields": changed, "field_key": ring.current_field_version},
            )
    finally:
        await db.dispose()
    return changed
