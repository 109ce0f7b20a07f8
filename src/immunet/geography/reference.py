"""Loading the bundled geography into the database (idempotent)."""

from __future__ import annotations

import csv
import json
import re
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.geography.models import District, Pincode, State

_DATA = resources.files("immunet") / "data"


def _load_json(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((_DATA / name).read_text(encoding="utf-8"))
    return data


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


# India Post spellings that differ from Co-WIN's 2021 district names.
_DISTRICT_ALIASES = {
    "bangalore": "bbmp",
    "bengaluru": "bbmp",
    "bangalorerural": "bangalorerural",
    "gurgaon": "gurgaon",
    "gurugram": "gurgaon",
    "mumbai": "mumbai",
    "mumbaisuburban": "mumbai",
    "centraldelhi": "centraldelhi",
    "central": "centraldelhi",
    "newdelhi": "newdelhi",
    "southeast": "southeastdelhi",
    "southwest": "southwestdelhi",
    "northwest": "northwestdelhi",
    "northeast": "northeastdelhi",
    "south": "southdelhi",
    "north": "northdelhi",
    "east": "eastdelhi",
    "west": "westdelhi",
    "shahdara": "shahdara",
}


async def seed_geography(session: AsyncSession) -> int:
    """Insert states, districts and PIN codes if the tables are empty. Returns rows added."""
    if (await session.execute(select(func.count()).select_from(State))).scalar_one():
        return 0
    added = 0
    for row in _load_json("states.json"):
        session.add(State(state_id=row["state_id"], state_name=row["state_name"], state_name_l=""))
        added += 1
    await session.flush()
    districts = _load_json("districts.json")
    by_state: dict[str, dict[str, int]] = {}
    for row in districts:
        session.add(
            District(
                district_id=row["district_id"],
                state_id=row["state_id"],
                district_name=row["district_name"],
                district_name_l="",
            )
        )
        by_state.setdefault(_key(row["state_name"]), {})[_key(row["district_name"])] = row[
            "district_id"
        ]
        added += 1
    await session.flush()
    text = (_DATA / "pincodes.csv").read_text(encoding="utf-8")
    batch: list[dict[str, Any]] = []
    for row in csv.DictReader(text.splitlines()):
        state_districts = by_state.get(_key(row["state_name"] or ""), {})
        name_key = _key(row["district_name"] or "")
        district_id = state_districts.get(name_key) or state_districts.get(
            _DISTRICT_ALIASES.get(name_key, "\x00")
        )
        batch.append(
            {
                "pincode": row["pincode"],
                "district_id": district_id,
                "district_name": row["district_name"] or "",
                "state_name": row["state_name"] or "",
                "lat": float(row["lat"]) if row["lat"] else None,
                "long": float(row["long"]) if row["long"] else None,
            }
        )
    await session.run_sync(lambda s: s.bulk_insert_mappings(Pincode, batch))
    added += len(batch)
    return added
