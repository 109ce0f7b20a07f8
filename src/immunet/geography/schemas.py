"""Co-WIN's location metadata shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StateOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state_id: int
    state_name: str
    state_name_l: str = ""


class StatesResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    states: list[StateOut]
    ttl: int = 24


class DistrictOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state_id: int
    district_id: int
    district_name: str
    district_name_l: str = ""


class DistrictsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    districts: list[DistrictOut]
    ttl: int = 24
