"""What the schemathesis runs found, each kept as a regression test (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.factories.staff import make_staff


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/staff/disputes/98209067978/resolve", {"outcome": "upheld"}),
        ("POST", "/api/staff/disputes/2147483648/freeze", None),
        ("POST", "/api/staff/alerts/2147483648/ack", None),
    ],
)
async def test_an_id_beyond_an_integer_key_is_a_400_not_a_500(client, ctx, method, path, body):
    """Stateful fuzzing as a national admin: a dispute id over 2**31 - 1 overflowed
    PostgreSQL's INTEGER parameter (DataError, 500)."""
    admin = await make_staff(ctx, "national_admin")
    response = await client.request(method, path, json=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"errorCode", "error"}
    largest = path.replace("98209067978", "2147483647").replace("2147483648", "2147483647")
    response = await client.request(method, largest, json=body, headers=admin.headers)
    assert response.status_code == 404, response.text  # in range: simply not found
