"""Invariant 2: a copy of the database file, or a dump, reveals no one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import login, register
from tests.factories import aadhaar

PEOPLE = [
    ("9822200001", "Saraswati Deshpande", aadhaar(31), 1),
    ("9822200002", "Raghunath Iyer", "K1234567", 4),  # passport
    ("9822200003", "दीपिका पादुकोण", aadhaar(32), 1),
]


async def _register_people(client, outbox):
    for mobile, name, number, id_type in PEOPLE:
        token = await login(client, outbox, mobile)
        body = {
            "name": name,
            "birth_year": "1980",
            "gender_id": 2,
            "photo_id_type": id_type,
            "photo_id_number": number,
        }
        response = await register(client, token, body)
        assert response.status_code == 200, response.text


def _secrets() -> list[bytes]:
    values: list[bytes] = []
    for mobile, name, number, _ in PEOPLE:
        values += [mobile.encode(), name.encode("utf-8"), number.encode()]
        values += [name.split()[0].encode("utf-8")]
    return values


def _database_bytes(url: str) -> bytes:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        blobs = b""
        for suffix in ("", "-wal", "-shm"):
            candidate = Path(str(path) + suffix)
            if candidate.exists():
                blobs += candidate.read_bytes()
        return blobs
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to prove a PostgreSQL dump reveals no one")
    dump = subprocess.run(
        [
            pg_dump,
            "--host",
            parsed.host or "127.0.0.1",
            "--port",
            str(parsed.port or 5432),
            "--username",
            parsed.username or "postgres",
            "--no-password",
            parsed.database or "",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return dump.stdout


async def test_database_copy_reveals_no_personal_data(client, outbox, settings):
    await _register_people(client, outbox)
    raw = _database_bytes(settings.database_url)
    assert len(raw) > 10_000
    for secret in _secrets():
        assert secret not in raw, f"plaintext found in the database: {secret[:3]!r}…"


async def test_logs_reveal_no_personal_data(client, outbox, caplog, capsys):
    caplog.set_level("DEBUG")
    await _register_people(client, outbox)
    await client.get("/api/v2/appointment/beneficiaries")
    captured = capsys.readouterr()
    text = (caplog.text + captured.out + captured.err).encode("utf-8")
    for secret in _secrets():
        assert secret not in text


async def test_queued_sms_reveal_neither_mobile_nor_code(ctx, settings):
    """An SMS waiting in the outbox (the provider is down) holds its mobile number and its
    text (an OTP) sealed; once delivered, the text is gone altogether."""
    import httpx
    from sqlalchemy import select

    from immunet.app import create_app
    from immunet.outbox.models import OutboxMessage, text_context

    app = create_app(settings, context=ctx)  # no drain after the request: the SMS waits
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for mobile, *_ in PEOPLE:
            response = await http.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
            assert response.status_code == 200, response.text
    async with ctx.db.reader() as session:
        rows = list((await session.execute(select(OutboxMessage))).scalars())
    assert len(rows) == len(PEOPLE)
    texts = []  # whole texts: a bare 6-digit code could occur by chance in a hex dump
    for row in rows:
        assert row.text_ct is not None
        text = ctx.keyring.field_cipher.decrypt(row.text_ct, context=text_context(row.dedup_key))
        texts.append(text.encode())
        texts.append(b"code is " + text.split("code is ")[1][:6].encode())
    raw = _database_bytes(settings.database_url)
    for secret in [mobile.encode() for mobile, *_ in PEOPLE] + texts:
        assert secret not in raw, f"plaintext found in the outbox: {secret[:3]!r}…"

    assert (await ctx.drain_outbox()).sent == len(PEOPLE)
    async with ctx.db.reader() as session:
        left = (await session.execute(select(OutboxMessage.text_ct))).scalars().all()
    assert left == [None] * len(PEOPLE)
