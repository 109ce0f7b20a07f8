"""Provisioning: who may create, disable and list whom, by rank and jurisdiction."""

from __future__ import annotations

import pytest

from immunet.security.tokens import TokenAudience
from immunet.staff.jurisdiction import jurisdiction_contains
from immunet.staff.permissions import ROLE_PERMISSIONS, ROLE_RANK, Permission, Role
from immunet.staff.principal import Jurisdiction
from tests.conftest import bearer
from tests.factories.staff_flow import add_staff, insert_center, staff_login

# State 1 holds districts 1 and 2; state 2 holds district 4 (reference data).


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"staff_password_memory_kib": 1024})


@pytest.fixture
async def places(ctx):
    return {
        "cA": await insert_center(ctx, state_id=1, district_id=1),
        "cB": await insert_center(ctx, state_id=1, district_id=2),
        "cC": await insert_center(ctx, state_id=2, district_id=4),
    }


def home_of(role: Role, places) -> str:
    return {
        Role.NATIONAL_ADMIN: "national",
        Role.STATE_ADMIN: "state:1",
        Role.DISTRICT_ADMIN: "district:1",
        Role.FACILITY_MANAGER: f"center:{places['cA']}",
        Role.VACCINATOR: f"center:{places['cA']}",
        Role.VERIFIER: f"center:{places['cA']}",
    }[role]


async def _create(client, token, username, role, jurisdiction):
    return await client.post(
        "/api/staff/users",
        json={"username": username, "role": role, "jurisdiction": jurisdiction},
        headers=bearer(token),
    )


@pytest.mark.parametrize("creator", list(Role))
async def test_each_role_creates_only_lower_roles(client, ctx, places, creator):
    creds = await add_staff(ctx, "creator", creator.value, home_of(creator, places))
    token = await staff_login(client, creds)
    may_create = Permission.STAFF_USER_CREATE in ROLE_PERMISSIONS[creator]
    for target in Role:
        response = await _create(
            client, token, f"new.{target.value}", target.value, home_of(target, places)
        )
        if may_create and ROLE_RANK[target] < ROLE_RANK[creator]:
            assert response.status_code == 201, (creator, target, response.text)
            body = response.json()
            assert set(body) == {"username", "password", "otpauth_uri"}
            assert body["otpauth_uri"].startswith("otpauth://totp/")
            assert len(body["password"]) >= 16
            assert response.headers["cache-control"] == "no-store"
        else:
            assert response.status_code == 403, (creator, target, response.text)


async def test_created_user_logs_in_with_given_password_and_totp(client, ctx, places):
    nat = await staff_login(client, await add_staff(ctx, "nat", "national_admin", "national"))
    response = await _create(client, nat, "fm.a", "facility_manager", f"center:{places['cA']}")
    assert response.status_code == 201
    body = response.json()
    from tests.factories.staff_flow import StaffCredentials

    creds = StaffCredentials(body["username"], body["password"], body["otpauth_uri"])
    token = await staff_login(client, creds)
    me = (await client.get("/api/staff/me", headers=bearer(token))).json()
    assert me["role"] == "facility_manager"
    assert me["jurisdiction"] == f"center:{places['cA']}"


@pytest.mark.parametrize(
    ("creator_role", "creator_home", "role", "where", "status"),
    [
        # district admin of district 1 reaching into district 2 (same state) and state 2
        ("district_admin", "district:1", "facility_manager", "center:cB", 403),
        ("district_admin", "district:1", "vaccinator", "center:cC", 403),
        ("district_admin", "district:1", "verifier", "district:2", 403),
        ("district_admin", "district:1", "verifier", "state:1", 403),
        ("district_admin", "district:1", "verifier", "national", 403),
        # a higher or equal role, even inside the jurisdiction
        ("district_admin", "district:1", "district_admin", "district:1", 403),
        ("district_admin", "district:1", "state_admin", "state:1", 403),
        # state admin of state 1 reaching into state 2
        ("state_admin", "state:1", "district_admin", "district:4", 403),
        ("state_admin", "state:1", "facility_manager", "center:cC", 403),
        # facility manager of cA reaching into cB
        ("facility_manager", "center:cA", "vaccinator", "center:cB", 403),
        # places that do not exist, jurisdictions of the wrong kind, malformed ones
        ("national_admin", "national", "facility_manager", "center:999999", 422),
        ("national_admin", "national", "district_admin", "district:999999", 422),
        ("national_admin", "national", "state_admin", "state:999", 422),
        ("national_admin", "national", "vaccinator", "district:1", 422),
        ("national_admin", "national", "state_admin", "national", 422),
        ("national_admin", "national", "district_admin", "district:abc", 422),
        ("national_admin", "national", "district_admin", "district:-1", 422),
    ],
)
async def test_jurisdiction_escapes_are_refused(
    client, ctx, places, creator_role, creator_home, role, where, status
):
    def resolve(text: str) -> str:
        for name, center_id in places.items():
            text = text.replace(f"center:{name}", f"center:{center_id}")
        return text

    token = await staff_login(
        client, await add_staff(ctx, "admin", creator_role, resolve(creator_home))
    )
    response = await _create(client, token, "escapee", role, resolve(where))
    assert response.status_code == status, response.text
    assert response.json()["errorCode"] in ("STAFF0403", "STAFF0422", "GEN0422")
    nat = await staff_login(client, await add_staff(ctx, "nat", "national_admin", "national"))
    listing = (await client.get("/api/staff/users", headers=bearer(nat))).json()
    assert "escapee" not in [u["username"] for u in listing["users"]]


async def test_bad_requests(client, ctx, places):
    nat = await staff_login(client, await add_staff(ctx, "nat", "national_admin", "national"))
    assert (await _create(client, nat, "dup", "verifier", "national")).status_code == 201
    dup = await _create(client, nat, "DUP", "verifier", "national")
    assert dup.status_code == 409
    assert dup.json()["errorCode"] == "STAFF0409"
    for bad_name in ("x", "has space", "ünïcode", "-leading", "a" * 65):
        response = await _create(client, nat, bad_name, "verifier", "national")
        assert response.status_code in (400, 422), bad_name
    response = await client.post(
        "/api/staff/users",
        json={"username": "extra", "role": "verifier", "jurisdiction": "national", "active": 1},
        headers=bearer(nat),
    )
    assert response.status_code in (400, 422)
    response = await _create(client, nat, "badrole", "superuser", "national")
    assert response.status_code in (400, 422)


async def test_disable_scoping_and_revocation(client, ctx, places):
    cA, cB = places["cA"], places["cB"]
    da1 = await staff_login(client, await add_staff(ctx, "da1", "district_admin", "district:1"))
    await add_staff(ctx, "da1b", "district_admin", "district:1")
    await add_staff(ctx, "sa1", "state_admin", "state:1")
    vac_a = await add_staff(ctx, "vac.a", "vaccinator", f"center:{cA}")
    await add_staff(ctx, "vac.b", "vaccinator", f"center:{cB}")
    vac_token = await staff_login(client, vac_a)

    async def disable(token, username):
        return await client.post(f"/api/staff/users/{username}/disable", headers=bearer(token))

    # Outside the jurisdiction, and never existing, look the same.
    assert (await disable(da1, "vac.b")).status_code == 404
    assert (await disable(da1, "sa1")).status_code == 404
    assert (await disable(da1, "no.such.user")).status_code == 404
    assert (await disable(da1, "vac.b")).json() == (await disable(da1, "nobody")).json()
    # Inside, but not lower.
    response = await disable(da1, "da1b")
    assert response.status_code == 403
    assert response.json()["errorCode"] == "STAFF0403"
    # A vaccinator has no disable permission at all.
    assert (await disable(vac_token, "vac.a")).status_code == 403

    assert (await disable(da1, "vac.a")).status_code == 204
    assert (await client.get("/api/staff/me", headers=bearer(vac_token))).status_code == 401
    # Idempotent.
    assert (await disable(da1, "vac.a")).status_code == 204


async def test_disable_revokes_every_session(ctx, places):
    from immunet.staff.principal import OPERATOR_CLI
    from immunet.staff.service import disable_staff_user

    await add_staff(ctx, "multi", "verifier", "national")
    from sqlalchemy import select

    from immunet.staff.models import StaffUser

    async with ctx.db.reader() as session:
        user_id = (
            await session.execute(select(StaffUser.id).where(StaffUser.username == "multi"))
        ).scalar_one()
    issued = [
        await ctx.tokens.issue(TokenAudience.STAFF, str(user_id), lifetime_seconds=600)
        for _ in range(3)
    ]
    await disable_staff_user(ctx, username="multi", actor=OPERATOR_CLI)
    from immunet.errors import Unauthenticated

    for token in issued:
        with pytest.raises(Unauthenticated):
            await ctx.tokens.verify(token.token, TokenAudience.STAFF)


async def test_listing_is_scoped_and_paged(client, ctx, places):
    cA, cB, cC = places["cA"], places["cB"], places["cC"]
    await add_staff(ctx, "nat", "national_admin", "national")
    sa1 = await add_staff(ctx, "sa1", "state_admin", "state:1")
    await add_staff(ctx, "sa2", "state_admin", "state:2")
    da1 = await add_staff(ctx, "da1", "district_admin", "district:1")
    await add_staff(ctx, "da2", "district_admin", "district:2")
    fm_a = await add_staff(ctx, "fm.a", "facility_manager", f"center:{cA}")
    await add_staff(ctx, "vac.a", "vaccinator", f"center:{cA}")
    await add_staff(ctx, "vac.b", "vaccinator", f"center:{cB}")
    await add_staff(ctx, "vac.c", "vaccinator", f"center:{cC}")
    await add_staff(ctx, "ver.nat", "verifier", "national")

    async def names(creds):
        token = await staff_login(client, creds)
        response = await client.get("/api/staff/users", headers=bearer(token))
        assert response.status_code == 200
        return {u["username"] for u in response.json()["users"]}

    assert await names(da1) == {"da1", "fm.a", "vac.a"}
    assert await names(fm_a) == {"fm.a", "vac.a"}
    assert await names(sa1) == {"sa1", "da1", "da2", "fm.a", "vac.a", "vac.b"}

    nat = await staff_login(client, await add_staff(ctx, "nat2", "national_admin", "national"))
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 3} | ({"after": after} if after else {})
        page = (await client.get("/api/staff/users", params=params, headers=bearer(nat))).json()
        assert len(page["users"]) <= 3
        seen.extend(u["username"] for u in page["users"])
        after = page["next"]
        if after is None:
            break
    assert seen == sorted(seen) and len(seen) == 11
    for bad in ("51", "0", "-1", "100000", "abc"):
        response = await client.get(f"/api/staff/users?limit={bad}", headers=bearer(nat))
        assert response.status_code in (400, 422), bad
    # Allow-listed fields only: no hashes, no secrets.
    page = (await client.get("/api/staff/users", headers=bearer(nat))).json()
    assert set(page["users"][0]) == {"username", "role", "jurisdiction", "active"}


async def test_jurisdiction_contains(ctx, places):
    cA, cC = places["cA"], places["cC"]
    J = Jurisdiction
    async with ctx.db.reader() as s:
        assert await jurisdiction_contains(s, J("national", None), J("center", cA))
        assert await jurisdiction_contains(s, J("state", 1), J("district", 2))
        assert await jurisdiction_contains(s, J("state", 1), J("center", cA))
        assert not await jurisdiction_contains(s, J("state", 1), J("center", cC))
        assert await jurisdiction_contains(s, J("district", 1), J("center", cA))
        assert not await jurisdiction_contains(s, J("district", 2), J("center", cA))
        assert not await jurisdiction_contains(s, J("district", 1), J("state", 1))
        assert not await jurisdiction_contains(s, J("center", cA), J("district", 1))
        assert await jurisdiction_contains(s, J("center", cA), J("center", cA))
        assert not await jurisdiction_contains(s, J("state", 1), J("national", None))
        assert not await jurisdiction_contains(s, J("national", None), J("center", 123456789))
        assert not await jurisdiction_contains(s, J("state", 1), J("district", 4))
