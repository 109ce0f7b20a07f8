"""Insider-misuse defences and citizen transparency end to end, on SQLite and PostgreSQL.

Staff reads go through the real chokepoint (roster, OTP look-up routes); citizens log in
with the real OTP flow. Quota breaches, canaries, break-glass, disputes, the access log,
the data summary, signed checkpoints, proofs and ``immunet audit verify``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from immunet.oversight.canary import seed_canaries
from immunet.security.merkle import leaf_hash, verify_consistency, verify_inclusion
from immunet.security.models import AuditEvent
from immunet.security.transparency import (
    create_checkpoint,
    position_of,
    verify_checkpoint_signature,
)
from immunet.staff.models import StaffUser
from immunet.staff.principal import OPERATOR_CLI
from immunet.vaccination.models import DoseRecord
from tests.conftest import bearer, pinned_instant
from tests.factories.audit import tamper
from tests.factories.sessions import make_center
from tests.factories.staff import make_staff
from tests.factories.vaccination import book, otp_lookup, setup_day

DISTRICT = 294


def _cli(settings, tmp_path, *args):
    """``python -m immunet.cli ARGS`` in a separate process, configured by env vars only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_ENV="test",
        IMMUNET_DATABASE_URL=settings.database_url,
        IMMUNET_KEYRING=str(settings.keyring),
        IMMUNET_SMS_BACKEND=settings.sms_backend,
    )
    return subprocess.run(
        [sys.executable, "-m", "immunet.cli", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def _admin(ctx, district_id=DISTRICT):
    return await make_staff(ctx, "district_admin", f"district:{district_id}")


async def _alerts(client, admin):
    response = await client.get("/api/staff/alerts", headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["alerts"]


async def _roster(client, day, staff=None):
    staff = staff or day.vaccinator
    return await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster", headers=staff.headers
    )


# --- quota → 429 → alert → repeated → suspension → reinstate --------------------------------


async def test_quota_breaches_block_alert_and_suspend_until_reinstated(
    client, client_with, ctx, outbox
):
    limited = await client_with(staff_reads_per_hour=2, staff_breaches_before_suspension=2)
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(4)]
    admin = await _admin(ctx)

    # Roster reads are exempt: many of them do not use the quota.
    for _ in range(3):
        assert (await _roster(limited, day)).status_code == 200

    # Two look-ups by mobile (each shows one person) fit; the third is refused.
    await otp_lookup(limited, outbox, day.vaccinator, people[0].mobile)
    await otp_lookup(limited, outbox, day.vaccinator, people[1].mobile)
    response = await limited.post(
        "/api/staff/lookup/otp", json={"mobile": people[2].mobile}, headers=day.vaccinator.headers
    )
    assert response.status_code == 200
    from immunet.people.identifiers import normalize_mobile
    from tests.conftest import sha
    from tests.factories.vaccination import last_lookup_otp

    def confirm_body(txn, mobile):
        return {"txnId": txn, "otp": sha(last_lookup_otp(outbox, normalize_mobile(mobile)))}

    refused = await limited.post(
        "/api/staff/lookup/confirm",
        json=confirm_body(response.json()["txnId"], people[2].mobile),
        headers=day.vaccinator.headers,
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["errorCode"] == "STAFF0429"
    assert int(refused.headers["Retry-After"]) >= 1

    alerts = await _alerts(client, admin)
    assert [a["kind"] for a in alerts] == ["quota.reads-per-hour"]
    assert alerts[0]["staff_username"] == day.vaccinator.username
    assert alerts[0]["severity"] == "warning"
    async with ctx.db.reader() as session:
        user = await session.get(StaffUser, day.vaccinator.user_id)
        assert user is not None and user.active and user.suspended_at is None

    # A second breach suspends the account: its sessions end at once.
    response = await limited.post(
        "/api/staff/lookup/otp", json={"mobile": people[3].mobile}, headers=day.vaccinator.headers
    )
    refused = await limited.post(
        "/api/staff/lookup/confirm",
        json=confirm_body(response.json()["txnId"], people[3].mobile),
        headers=day.vaccinator.headers,
    )
    assert refused.status_code == 429
    assert (await _roster(limited, day)).status_code == 401
    kinds = [a["kind"] for a in await _alerts(client, admin)]
    assert "suspended.quota" in kinds and kinds.count("quota.reads-per-hour") == 2
    async with ctx.db.reader() as session:
        user = await session.get(StaffUser, day.vaccinator.user_id)
        assert user is not None and not user.active and user.suspension_reason == "quota"

    # Only an admin above the user, inside the jurisdiction, may reinstate.
    path = f"/api/staff/users/{day.vaccinator.username}/reinstate"
    assert (await client.post(path, headers=day.manager.headers)).status_code == 403
    other = await _admin(ctx, district_id=1)
    assert (await client.post(path, headers=other.headers)).status_code == 404
    assert (await client.post(path, headers=admin.headers)).status_code == 204
    assert (await client.post(path, headers=admin.headers)).status_code == 409
    async with ctx.db.reader() as session:
        user = await session.get(StaffUser, day.vaccinator.user_id)
        assert user is not None and user.active and user.suspended_at is None
        actions = (
            (
                await session.execute(
                    select(AuditEvent.action).where(
                        AuditEvent.subject_ref == f"staff:{day.vaccinator.user_id}"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert "staff:user:suspended" in actions and "staff:user:reinstated" in actions
    issued = await ctx.tokens.issue("staff", str(day.vaccinator.user_id), lifetime_seconds=600)
    assert (
        await _roster(client, day, _with_token(day.vaccinator, issued.token))
    ).status_code == 200

    # Alerts can be acknowledged by the admin; the acknowledgement is recorded.
    alert_id = (await _alerts(client, admin))[0]["id"]
    response = await client.post(f"/api/staff/alerts/{alert_id}/ack", headers=admin.headers)
    assert response.status_code == 200 and response.json()["acknowledged_by"] == admin_actor(admin)
    assert (
        await client.post(f"/api/staff/alerts/{alert_id}/ack", headers=other.headers)
    ).status_code == 404


@pytest.mark.parametrize(
    ("local", "off_hours"),
    [
        (dt.time(0, 30), True),
        (dt.time(9, 0), False),
        (dt.time(18, 1), True),
        (dt.time(23, 30), True),
    ],
)
async def test_off_hours_rule_reads_the_clock(client, ctx, outbox, clock, local, off_hours):
    """Centre hours 09:00-17:00 with an hour's grace, India time, whatever the host's TZ."""
    clock.set(pinned_instant(local))
    day = await setup_day(ctx, client)
    await book(client, outbox, day.session)
    admin = await _admin(ctx)
    assert (await _roster(client, day)).status_code == 200
    alerts = await _alerts(client, admin)
    assert [a["kind"] for a in alerts] == (["anomaly.off-hours"] if off_hours else [])
    if off_hours:
        assert alerts[0]["detail"] == {"hour": local.hour}
        assert alerts[0]["created_at"] == clock.now().isoformat(timespec="seconds")


def admin_actor(admin):
    return f"staff:{admin.user_id}"


def _with_token(login, token):
    from tests.factories.staff import StaffLogin

    return StaffLogin(login.user_id, login.username, login.password, login.totp_secret, token)


# --- canaries ----------------------------------------------------------------------------------


async def test_canaries_stay_off_the_roster_and_trip_only_on_a_look_up(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    admin = await _admin(ctx)
    seeded = await seed_canaries(ctx, center_id=day.center_id, count=2, actor=OPERATOR_CLI)
    assert len(seeded) == 2

    # The vaccinator's day: the roster, read again and again, shows the real person only,
    # and nothing is raised against them.
    for _ in range(3):
        response = await _roster(client, day)
        assert response.status_code == 200, response.text
        listed = [a["appointment_id"] for a in response.json()["appointments"]]
        assert listed == [person.appointment_id]
    assert await _alerts(client, admin) == []

    # A download naming a decoy's reference ID is a look-up no work needs: refused, and
    # the account is suspended at once.
    response = await client.get(
        "/api/staff/certificates/download",
        params={"beneficiary_reference_id": seeded[0].reference_id},
        headers=day.vaccinator.headers,
    )
    assert response.status_code == 403 and response.json()["errorCode"] == "STAFF0430"
    assert (await _roster(client, day)).status_code == 401  # suspended, sessions revoked
    alerts = await _alerts(client, admin)
    critical = [a for a in alerts if a["severity"] == "critical"]
    assert {a["kind"] for a in critical} == {"canary.touched", "suspended.canary"}
    assert all(a["staff_username"] == day.vaccinator.username for a in critical)
    async with ctx.db.reader() as session:
        user = await session.get(StaffUser, day.vaccinator.user_id)
        assert user is not None and user.suspension_reason == "canary"
        touched = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action == "people:canary:touched")
                )
            )
            .scalars()
            .all()
        )
    assert len(touched) == 1 and touched[0].actor == f"staff:{day.vaccinator.user_id}"
    assert touched[0].subject_ref == f"beneficiary:{seeded[0].reference_id}"


async def test_canary_seed_command(client, ctx, settings, keyring, tmp_path):
    keyring.save(settings.keyring)
    center_id = await make_center(ctx)
    result = _cli(
        settings, tmp_path, "canary", "seed", "--center-id", str(center_id), "--count", "3"
    )
    assert result.returncode == 0, result.stderr
    import json

    canaries = json.loads(result.stdout)["canaries"]
    assert len(canaries) == 3 and all(len(c["reference_id"]) == 14 for c in canaries)
    from immunet.people.models import Beneficiary

    async with ctx.db.reader() as session:
        flags = (
            (
                await session.execute(
                    select(Beneficiary.is_canary).where(
                        Beneficiary.reference_id.in_([c["reference_id"] for c in canaries])
                    )
                )
            )
            .scalars()
            .all()
        )
    assert flags == [True, True, True]


# --- break-glass -------------------------------------------------------------------------------


async def test_break_glass_is_capped_logged_and_told_to_the_person(client, ctx, outbox, clock):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    elsewhere = await make_staff(ctx, "vaccinator", f"center:{await make_center(ctx)}")
    reason = "Patient collapsed at our centre and needs the dose history now."

    def ask(ref=person.reference_id, why=reason):
        return client.post(
            "/api/staff/break-glass",
            json={"beneficiary_reference_id": ref, "reason": why},
            headers=elsewhere.headers,
        )

    too_short = await ask(why="because")
    assert too_short.status_code == 400
    response = await ask()
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"grant_id", "expires_at"}
    expires_at = dt.datetime.fromisoformat(response.json()["expires_at"])
    assert expires_at == clock.now().replace(microsecond=0) + dt.timedelta(
        seconds=ctx.settings.break_glass_grant_seconds
    )
    sms = [m for m in outbox.messages() if m["template"] == "break_glass"]
    assert len(sms) == 1 and sms[0]["to"].endswith(person.mobile[-10:])
    assert person.reference_id[-4:] in sms[0]["text"]

    # One live grant per (staff user, person): a second one while it runs is refused,
    # does not use up the cap, and sends no second SMS.
    second = await ask(why="A different reason, written to get a second grant.")
    assert second.status_code == 409 and second.json()["errorCode"] == "OVS0412"
    assert len([m for m in outbox.messages() if m["template"] == "break_glass"]) == 1

    # The person sees the break-glass in their log, with the written reason.
    log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
    glass = [e for e in log["entries"] if e["channel"] == "break-glass"]
    assert len(glass) == 1
    assert glass[0]["who"]["role"] == "vaccinator"
    assert glass[0]["purpose"] == "break-glass"
    assert glass[0]["reason"] == reason
    assert all(e["reason"] is None for e in log["entries"] if e["channel"] != "break-glass")
    assert elsewhere.username not in str(log) and f"staff:{elsewhere.user_id}" not in str(log)

    # A read through the grant (a certificate download) shows the person the same reason.
    read = await client.get(
        "/api/staff/certificates/download",
        params={"beneficiary_reference_id": person.reference_id, "channel": "break-glass"},
        headers=elsewhere.headers,
    )
    assert read.status_code == 404  # read and audited; no certificate before a dose
    log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
    glass = [e for e in log["entries"] if e["channel"] == "break-glass"]
    assert [e["action"] for e in glass] == [
        "people:beneficiary:viewed",
        "people:beneficiary:break-glass",
    ]
    assert [e["reason"] for e in glass] == [reason, reason]

    # An unknown reference gives the same 404 and still uses up the daily cap.
    unknown = await ask(ref="19999999999999")
    assert unknown.status_code == 404
    # Once the grant has expired (by the clock), a new one may be asked for.
    clock.advance(dt.timedelta(seconds=ctx.settings.break_glass_grant_seconds + 1))
    again = await ask()
    assert again.status_code == 201
    over = await ask()
    assert over.status_code == 429 and "Retry-After" in over.headers


# --- disputes ------------------------------------------------------------------------------------


async def test_one_citizens_dispute_opens_a_case_and_an_admin_decides(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    admin = await _admin(ctx)
    assert (await _roster(client, day)).status_code == 200
    log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
    entry = next(e for e in log["entries"] if e["channel"] == "roster")

    response = await client.post(
        f"/api/v2/me/access-log/{entry['entry_id']}/dispute",
        json={"reason": "I was not at any centre that day"},
        headers=bearer(person.token),
    )
    assert response.status_code == 201, response.text
    again = await client.post(
        f"/api/v2/me/access-log/{entry['entry_id']}/dispute",
        json={"reason": "twice"},
        headers=bearer(person.token),
    )
    assert again.status_code == 409

    # One account's report is a case and an alert, not a freeze: the day goes on.
    assert (await _roster(client, day)).status_code == 200
    alerts = await _alerts(client, admin)
    assert [a["kind"] for a in alerts] == ["dispute.opened"]
    assert alerts[0]["staff_username"] == day.vaccinator.username

    disputes = (await client.get("/api/staff/disputes", headers=admin.headers)).json()["disputes"]
    assert len(disputes) == 1
    assert disputes[0]["staff_username"] == day.vaccinator.username
    assert disputes[0]["reason"] == "I was not at any centre that day"
    assert disputes[0]["status"] == "open"
    other = await _admin(ctx, district_id=1)
    assert (await client.get("/api/staff/disputes", headers=other.headers)).json()["disputes"] == []

    # The admin decides to freeze the user's look-ups while the case is reviewed.
    freeze = f"/api/staff/disputes/{disputes[0]['id']}/freeze"
    assert (await client.post(freeze, headers=other.headers)).status_code == 404
    assert (await client.post(freeze, headers=day.manager.headers)).status_code == 403
    response = await client.post(freeze, headers=admin.headers)
    assert response.status_code == 200 and response.json()["status"] == "frozen"
    assert (await client.post(freeze, headers=admin.headers)).status_code == 409
    frozen = await _roster(client, day)
    assert frozen.status_code == 403 and frozen.json()["errorCode"] == "STAFF0432"
    async with ctx.db.reader() as session:
        decided = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "staff:user:lookups-frozen")
            )
        ).scalar_one()
    assert decided.actor == f"staff:{admin.user_id}"
    assert decided.subject_ref == f"staff:{day.vaccinator.user_id}"

    path = f"/api/staff/disputes/{disputes[0]['id']}/resolve"
    assert (
        await client.post(path, json={"outcome": "dismissed"}, headers=other.headers)
    ).status_code == 404
    response = await client.post(path, json={"outcome": "dismissed"}, headers=admin.headers)
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    assert (await _roster(client, day)).status_code == 200
    assert (
        await client.post(path, json={"outcome": "upheld"}, headers=admin.headers)
    ).status_code == 409


async def test_reports_from_several_accounts_freeze_lookups(client_with, ctx, outbox):
    client = await client_with(dispute_freeze_accounts=2)
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(2)]
    admin = await _admin(ctx)
    assert (await _roster(client, day)).status_code == 200

    async def report(person):
        log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
        entry = next(e for e in log["entries"] if e["channel"] == "roster")
        return await client.post(
            f"/api/v2/me/access-log/{entry['entry_id']}/dispute",
            json={"reason": "not me"},
            headers=bearer(person.token),
        )

    assert (await report(people[0])).status_code == 201
    assert (await _roster(client, day)).status_code == 200
    assert (await report(people[1])).status_code == 201
    frozen = await _roster(client, day)
    assert frozen.status_code == 403 and frozen.json()["errorCode"] == "STAFF0432"
    kinds = [a["kind"] for a in await _alerts(client, admin)]
    assert kinds.count("dispute.opened") == 2 and "dispute.frozen-by-reports" in kinds

    # Dismissing one report brings the user back under the threshold.
    disputes = (await client.get("/api/staff/disputes", headers=admin.headers)).json()["disputes"]
    path = f"/api/staff/disputes/{disputes[0]['id']}/resolve"
    response = await client.post(path, json={"outcome": "dismissed"}, headers=admin.headers)
    assert response.status_code == 200
    assert (await _roster(client, day)).status_code == 200


# --- the access log and the data summary ----------------------------------------------------------


async def test_access_log_shows_only_own_entries_with_org_role_purpose(client, ctx, outbox):
    day = await setup_day(ctx, client)
    mine = await book(client, outbox, day.session, name="Asha Kumari")
    theirs = await book(client, outbox, day.session, name="Ravi Kumar")
    assert (await _roster(client, day)).status_code == 200

    log = (await client.get("/api/v2/me/access-log", headers=bearer(mine.token))).json()
    assert log["entries"], log
    refs = {e["beneficiary_reference_id"] for e in log["entries"]}
    assert refs == {mine.reference_id}
    roster = next(e for e in log["entries"] if e["channel"] == "roster")
    assert roster["who"]["role"] == "vaccinator"
    assert str(day.center_id) in roster["who"]["organisation"]
    assert roster["purpose"] and roster["when"]
    assert day.vaccinator.username not in str(log)
    assert f"staff:{day.vaccinator.user_id}" not in str(log)

    other_log = (await client.get("/api/v2/me/access-log", headers=bearer(theirs.token))).json()
    other_entry = next(e for e in other_log["entries"] if e["channel"] == "roster")
    # Another account's entry: not disputable, no proof, same 404 as a missing one.
    for entry_id in (other_entry["entry_id"], 10**9):
        response = await client.post(
            f"/api/v2/me/access-log/{entry_id}/dispute",
            json={"reason": "not me"},
            headers=bearer(mine.token),
        )
        assert response.status_code == 404
        response = await client.get(
            f"/api/v2/me/access-log/{entry_id}/proof", headers=bearer(mine.token)
        )
        assert response.status_code == 404
    assert (await client.get("/api/v2/me/access-log")).status_code == 401

    summary = await client.get("/api/v2/me/data-summary", headers=bearer(mine.token))
    assert summary.status_code == 200
    body = summary.json()
    assert body["beneficiaries"] == [mine.reference_id]
    assert {f["field"] for f in body["fields"]} >= {"name", "mobile_number", "photo_id_number"}
    assert body["purposes"]
    assert any(str(day.center_id) in r for r in body["recipients"])
    assert "Asha" not in str(body) and mine.mobile not in str(body)


# --- checkpoints, proofs and `immunet audit verify` ----------------------------------------------


def _verify_cli(settings, tmp_path):
    return _cli(settings, tmp_path, "audit", "verify")


async def test_checkpoints_proofs_and_verify(client, ctx, outbox, settings, keyring, tmp_path):
    keyring.save(settings.keyring)
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    assert (await _roster(client, day)).status_code == 200

    key = (await client.get("/api/v2/audit/checkpoint-key")).json()
    first = (await client.get("/api/v2/audit/checkpoints/latest")).json()
    public = bytes.fromhex(key["public_key"])
    assert first["key_id"] == key["key_id"]
    assert verify_checkpoint_signature(
        public,
        first["tree_size"],
        first["root_hash"],
        dt.datetime.fromisoformat(first["timestamp"]),
        first["signature"],
    )

    log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
    entry = log["entries"][0]
    proof = (
        await client.get(
            f"/api/v2/me/access-log/{entry['entry_id']}/proof", headers=bearer(person.token)
        )
    ).json()
    checkpoint = proof["checkpoint"]
    assert checkpoint["tree_size"] > proof["leaf_index"]
    assert proof["leaf_hash"] == leaf_hash(bytes.fromhex(proof["entry_hash"])).hex()
    assert verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["leaf_index"],
        checkpoint["tree_size"],
        [bytes.fromhex(p) for p in proof["audit_path"]],
        bytes.fromhex(checkpoint["root_hash"]),
    )

    # More history, a newer checkpoint, and a consistency proof between the two.
    await book(client, outbox, day.session)
    second = await create_checkpoint(ctx.db, ctx.keyring)
    assert second is not None and second.tree_size > first["tree_size"]
    response = await client.get(
        f"/api/v2/audit/consistency?first={first['tree_size']}&second={second.tree_size}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert verify_consistency(
        first["tree_size"],
        second.tree_size,
        bytes.fromhex(first["root_hash"]),
        bytes.fromhex(second.root_hash),
        [bytes.fromhex(p) for p in body["proof"]],
    )
    assert (
        await client.get(f"/api/v2/audit/consistency?first={second.tree_size}&second=1")
    ).status_code == 404
    assert (
        await client.get(f"/api/v2/audit/consistency?first=1&second={second.tree_size}")
    ).status_code in (200, 404)

    # A proof of an entry newer than a checkpoint signed seconds ago: come back shortly
    # (proof requests cannot make the server re-sign the log on every call).
    assert (await _roster(client, day)).status_code == 200
    log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
    newest = log["entries"][0]["entry_id"]
    assert newest > second.tree_size
    async with ctx.db.reader() as session:  # shown at once, though not yet sequenced
        assert await position_of(session, newest) is None
    response = await client.get(
        f"/api/v2/me/access-log/{newest}/proof", headers=bearer(person.token)
    )
    assert response.status_code == 429 and response.json()["errorCode"] == "AUD0429"
    assert 1 <= int(response.headers["Retry-After"]) <= 11

    result = _verify_cli(settings, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "checkpoints verified" in result.stderr

    # Tampering with one entry directly in the database is caught.
    await tamper(ctx.db, "UPDATE audit_events SET purpose = 'tampered' WHERE seq = 2")
    result = _verify_cli(settings, tmp_path)
    assert result.returncode == 1
    assert "broken at entry 2" in result.stderr


async def test_forged_checkpoint_is_caught(client, ctx, outbox, settings, keyring, tmp_path):
    keyring.save(settings.keyring)
    day = await setup_day(ctx, client)
    await book(client, outbox, day.session)
    view = await create_checkpoint(ctx.db, ctx.keyring)
    assert view is not None
    await tamper(
        ctx.db,
        "UPDATE audit_checkpoints SET root_hash = :r WHERE tree_size = :n",
        {"r": "ab" * 32, "n": view.tree_size},
    )
    result = _verify_cli(settings, tmp_path)
    assert result.returncode == 1
    assert "checkpoint" in result.stderr


# --- aggregate reports ----------------------------------------------------------------------------


async def test_dose_report_is_aggregate_suppressed_and_jurisdiction_filtered(client, ctx, outbox):
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(7)]
    from immunet.people.models import Beneficiary

    today = dt.date.today()
    async with ctx.db.transaction() as session:
        ids = (
            (
                await session.execute(
                    select(Beneficiary.id).where(
                        Beneficiary.reference_id.in_([p.reference_id for p in people])
                    )
                )
            )
            .scalars()
            .all()
        )
        for n, beneficiary_id in enumerate(ids):
            session.add(
                DoseRecord(
                    beneficiary_id=beneficiary_id,
                    vaccine_code="COVISHIELD" if n < 6 else "COVAXIN",
                    series_code=None,
                    dose_number=1,
                    administered_on=today,
                    center_id=day.center_id,
                    batch="LOTX",
                    recorded_by="test",
                    recorded_at=dt.datetime.now(dt.UTC),
                    status="recorded",
                )
            )
    admin = await _admin(ctx)
    window = f"from={(today - dt.timedelta(days=1)).isoformat()}&to={today.isoformat()}"
    response = await client.get(
        f"/api/staff/reports/doses?group_by=vaccine&{window}", headers=admin.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cells"]["COVAXIN"] == "<5"
    assert body["cells"]["COVISHIELD"] == "suppressed"  # else 7 - 6 gives COVAXIN away
    assert body["total"] == 7
    for group in ("day", "center", "dose", "age_band", "gender"):
        response = await client.get(
            f"/api/staff/reports/doses?group_by={group}&{window}", headers=admin.headers
        )
        assert response.status_code == 200, (group, response.text)
        assert response.json()["total"] in (7, "suppressed")
    other = await _admin(ctx, district_id=1)
    response = await client.get(
        f"/api/staff/reports/doses?group_by=vaccine&{window}", headers=other.headers
    )
    assert response.json()["total"] == 0 and response.json()["cells"] == {}
    assert (
        await client.get(
            f"/api/staff/reports/doses?group_by=vaccine&{window}", headers=day.vaccinator.headers
        )
    ).status_code == 403
    assert (
        await client.get(
            "/api/staff/reports/doses?group_by=name&from=2024-01-01&to=2024-01-02",
            headers=admin.headers,
        )
    ).status_code == 400


@pytest.mark.parametrize("group", ["vaccine"])
async def test_dose_report_range_is_bounded(client, ctx, group):
    admin = await _admin(ctx)
    response = await client.get(
        f"/api/staff/reports/doses?group_by={group}&from=2020-01-01&to=2024-01-01",
        headers=admin.headers,
    )
    assert response.status_code == 400


# --- anomaly rules over the log -----------------------------------------------------------------


async def test_evaluate_anomalies_flags_volume_and_never_checked_in(client, ctx, outbox):
    from immunet.security.audit import AuditChain
    from immunet.staff.misuse import evaluate_anomalies
    from tests.factories.sessions import add_beneficiary, make_citizen

    day = await setup_day(ctx, client)
    citizen = await make_citizen(ctx, "9876500001")
    refs = [await add_beneficiary(ctx, citizen, name=f"Person {n}") for n in range(5)]
    async with ctx.db.transaction() as session:
        for n in range(30):
            await AuditChain.append(
                session,
                actor=f"staff:{day.vaccinator.user_id}",
                action="people:beneficiary:viewed",
                subject_ref=f"beneficiary:{refs[n % 5]}",
                purpose="walk-in-lookup",
                detail={"channel": "otp-verified", "organisation": "x", "role": "vaccinator"},
                at=ctx.clock.now(),
            )
    # (5 distinct people, never checked in: below the never-checked-in minimum of 10)
    raised = await evaluate_anomalies(ctx)
    assert {a.kind for a in raised} == {"anomaly.volume-own"}
    assert await evaluate_anomalies(ctx) == []  # deduplicated


async def test_lookup_and_wrong_code_quotas(ctx):
    from immunet.security.audit import RequestContext
    from immunet.staff.misuse import (
        QuotaExceeded,
        before_code_check,
        before_otp_lookup,
        note_wrong_code,
    )
    from immunet.staff.permissions import Role
    from immunet.staff.principal import Jurisdiction, StaffPrincipal

    center_id = await make_center(ctx)
    login = await make_staff(ctx, "vaccinator", f"center:{center_id}")
    principal = StaffPrincipal(
        login.user_id, login.username, Role.VACCINATOR, Jurisdiction("center", center_id),
        "s", RequestContext(),
    )  # fmt: skip
    limited = ctx.settings.model_copy(
        update={"staff_otp_lookups_per_day": 3, "staff_wrong_codes_per_day": 2}
    )
    ctx.settings = limited
    for n in range(3):
        async with ctx.db.transaction() as session:
            await before_otp_lookup(ctx, session, principal, target=f"mobile-{n}")
    try:
        async with ctx.db.transaction() as session:
            await before_otp_lookup(ctx, session, principal, target="mobile-x")
    except QuotaExceeded as exc:
        await exc.followup()  # type: ignore[attr-defined]
    else:
        raise AssertionError("the fourth look-up should be refused")
    for _ in range(2):
        async with ctx.db.transaction() as session:
            await before_code_check(ctx, session, principal)
            await note_wrong_code(ctx, session, principal)
    try:
        async with ctx.db.transaction() as session:
            await before_code_check(ctx, session, principal)
    except QuotaExceeded as exc:
        await exc.followup()  # type: ignore[attr-defined]
    else:
        raise AssertionError("code checks over the quota should be refused")
    from immunet.oversight.models import StaffAlert

    async with ctx.db.reader() as session:
        kinds = (
            (
                await session.execute(
                    select(StaffAlert.kind).where(StaffAlert.staff_user_id == login.user_id)
                )
            )
            .scalars()
            .all()
        )
    assert set(kinds) >= {"quota.otp-lookups-per-day", "quota.wrong-codes-per-day"}
