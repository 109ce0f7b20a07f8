"""The public coverage route: strict parameters, bounded ranges, one state at a time, and an
unknown state answers exactly like a state with no children."""

from __future__ import annotations

from immunet.clock import india_today

PUBLIC = "/api/v2/public/reports/immunization-coverage"


async def test_public_coverage_refuses_bad_queries(client, clock):
    today = india_today(clock.now())
    this = f"{today.year}-{today.month:02d}"
    year_ago = f"{today.year - 1}-{today.month:02d}"
    for params in (
        {"from": this, "to": this},  # no state: never a national scan
        {"state_id": 0, "from": this, "to": this},
        {"state_id": 101, "from": this, "to": this},
        {"state_id": "16; drop", "from": this, "to": this},
        {"state_id": 16, "from": year_ago, "to": this},  # 13 months
        {"state_id": 16, "from": this, "to": year_ago},
        {"state_id": 16, "from": "2026-13", "to": this},
        {"state_id": 16, "from": this, "to": this, "district_id": 294},
        {"state_id": 16, "from": this * 50, "to": this},
    ):
        response = await client.get(PUBLIC, params=params)
        assert response.status_code == 400, (params, response.text)
        assert set(response.json()) == {"errorCode", "error"}


async def test_an_unknown_state_is_an_empty_state(client, clock):
    today = india_today(clock.now())
    this = f"{today.year}-{today.month:02d}"
    empty = await client.get(PUBLIC, params={"state_id": 2, "from": this, "to": this})
    unknown = await client.get(PUBLIC, params={"state_id": 99, "from": this, "to": this})
    assert empty.status_code == unknown.status_code == 200
    assert empty.json()["rows"] == unknown.json()["rows"] == []
