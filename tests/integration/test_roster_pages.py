"""Roster pages by cursor: every appointment once, each person audited in their own leaf.

A page continues after the previous page's last appointment (``after`` = the answer's
``next_cursor``), in the same order as the numbered pages, and each person shown still
finds that read in their own access log, with an inclusion proof of their own leaf, though
the page's leaves are written in one batch. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from immunet.security.merkle import leaf_hash, verify_inclusion
from tests.conftest import bearer
from tests.factories.vaccination import book, setup_day


def _ids(body):
    return [e["appointment_id"] for e in body["appointments"]]


async def test_cursor_pages_walk_the_session_in_page_order(client, ctx, outbox):
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(3)]
    staff = day.vaccinator.headers
    base = f"/api/staff/sessions/{day.session.session_id}/roster"

    numbered = []
    for page in (1, 2, 3, 4):
        r = await client.get(f"{base}?limit=1&page={page}", headers=staff)
        assert r.status_code == 200, r.text
        numbered += _ids(r.json())

    walked = []
    r = await client.get(f"{base}?limit=1", headers=staff)
    body = r.json()
    while True:
        assert r.status_code == 200, r.text
        walked += _ids(body)
        if body["next_cursor"] is None:
            break
        assert body["next_cursor"] == body["appointments"][-1]["appointment_id"]
        r = await client.get(f"{base}?limit=1&after={body['next_cursor']}", headers=staff)
        body = r.json()
    assert walked == numbered
    assert sorted(walked) == sorted(p.appointment_id for p in people)
    # A short page is the last one.
    r = await client.get(f"{base}?limit=50", headers=staff)
    assert len(r.json()["appointments"]) == 3 and r.json()["next_cursor"] is None


async def test_each_person_of_a_page_finds_their_own_leaf_and_proof(client, ctx, outbox):
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(3)]
    r = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster?limit=50",
        headers=day.vaccinator.headers,
    )
    assert r.status_code == 200 and len(r.json()["appointments"]) == 3
    entry_ids = set()
    for person in people:
        log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
        reads = [e for e in log["entries"] if e["channel"] == "roster"]
        assert len(reads) == 1, log
        assert reads[0]["purpose"] == "session-roster"
        assert reads[0]["who"]["role"] == "vaccinator"
        entry_ids.add(reads[0]["entry_id"])
        proof = (
            await client.get(
                f"/api/v2/me/access-log/{reads[0]['entry_id']}/proof",
                headers=bearer(person.token),
            )
        ).json()
        checkpoint = proof["checkpoint"]
        assert proof["leaf_hash"] == leaf_hash(bytes.fromhex(proof["entry_hash"])).hex()
        assert verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            checkpoint["tree_size"],
            [bytes.fromhex(p) for p in proof["audit_path"]],
            bytes.fromhex(checkpoint["root_hash"]),
        )
    assert len(entry_ids) == 3  # three leaves, one per person
