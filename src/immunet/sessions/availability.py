"""Public slot search in Co-WIN's shapes, served from a short-lived shared cache.

Every answer is a JSON body built by one or two queries (sessions of all matching centres
in one join; vaccine fees in one ``IN`` query), kept for ``public_cache_seconds`` in Redis
when configured, else in a small per-process cache. Cache keys carry generation counters
per PIN code, district and centre; booking and session changes bump them through
:func:`invalidate_availability`, so a search reflects a change at once on Redis and within
``public_cache_seconds`` anywhere. Correctness never depends on the cache: seats are
counted by guarded UPDATEs, never from a search answer.

Field notes (kept exactly as Co-WIN's live public API served them, see
``tests/data/cowin-samples``): ``pincode`` is a number; ``lat``/``long`` are whole degrees
(Co-WIN truncated them; clients declare them as integers); ``max_age_limit`` appears only
when a session has one; ``vaccine_fees`` only on Paid centres. ``findByLatLong`` follows
its own schema (strings for ``pincode``, ``lat`` and ``long``, full precision).

Error codes of the public availability API (HTTP 400, body ``{"errorCode", "error"}``):

============  =====================================================
APPOIN0011    ``date`` missing or not a DD-MM-YYYY calendar day
APPOIN0012    ``pincode`` missing or not six digits
APPOIN0013    ``district_id`` missing or not a positive number
APPOIN0014    ``center_id`` missing or not a positive number
APPOIN0015    ``vaccine`` not a vaccine name
APPOIN0016    ``lat``/``long`` missing or out of range
============  =====================================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Row, Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.context import AppContext
from immunet.errors import BadRequest
from immunet.geography.centers import Center, CenterVaccineFee
from immunet.geography.models import District, State
from immunet.sessions.models import VaccinationSession
from immunet.sessions.rules import (
    RuleError,
    bounding_box,
    distance_km,
    format_cowin_date,
    parse_cowin_date,
)

log = logging.getLogger("immunet.availability")

CALENDAR_DAYS = 7
NEARBY_RADIUS_KM = 50.0
NEARBY_MAX = 50
MAX_SESSIONS_PER_ANSWER = 5000
MAX_CENTER_ID = 2**31 - 1
NEARBY_TTL_HOURS = 24
_PUBLISHED = "published"
_LOCAL_MAX_ENTRIES = 4096
_REDIS_GEN_SECONDS = 86_400

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
AnySelect: TypeAlias = Select[*tuple[Any, ...]]

_PINCODE = re.compile(r"[1-9]\d{5}")
_NUMBER = re.compile(r"[1-9]\d{0,9}")
_VACCINE = re.compile(r"[A-Z0-9][A-Z0-9 ._-]{0,31}")
_DECIMAL = re.compile(r"[+-]?(\d{1,3}(\.\d{1,12})?|\.\d{1,12})")


# -- parameters ------------------------------------------------------------------------


class BadParameter(BadRequest):
    error_code = "APPOIN0010"


def _bad(code: str, message: str) -> BadParameter:
    return BadParameter(message, error_code=code)


def parse_date(value: str | None) -> dt.date:
    if value is None:
        raise _bad("APPOIN0011", "date is required (DD-MM-YYYY).")
    try:
        return parse_cowin_date(value)
    except RuleError as exc:
        raise _bad("APPOIN0011", f"{exc}.") from exc


def parse_pincode(value: str | None) -> str:
    if value is None or not (value.isascii() and _PINCODE.fullmatch(value)):
        raise _bad("APPOIN0012", "pincode must be six digits.")
    return value


def _parse_id(value: str | None, code: str, name: str) -> int:
    if value is None or not (value.isascii() and _NUMBER.fullmatch(value)):
        raise _bad(code, f"{name} must be a positive number.")
    number = int(value)
    if number > MAX_CENTER_ID:
        raise _bad(code, f"{name} is out of range.")
    return number


def parse_district_id(value: str | None) -> int:
    return _parse_id(value, "APPOIN0013", "district_id")


def parse_center_id(value: str | None) -> int:
    return _parse_id(value, "APPOIN0014", "center_id")


def parse_vaccine(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    text = value.strip().upper()
    if not (text.isascii() and _VACCINE.fullmatch(text)):
        raise _bad("APPOIN0015", "vaccine is not a vaccine name.")
    return text


def parse_coordinate(value: str | None, name: str, bound: float) -> float:
    if value is None or not (value.isascii() and _DECIMAL.fullmatch(value.strip())):
        raise _bad("APPOIN0016", f"{name} must be a decimal number of degrees.")
    number = float(value)
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise _bad("APPOIN0016", f"{name} is out of range.")
    return number


@dataclass(frozen=True)
class Query:
    """One normalized public question; ``key`` names it in the cache."""

    kind: str  # findByPin | findByDistrict | calendarByPin | calendarByDistrict | ...
    day: dt.date | None = None
    pincode: str | None = None
    district_id: int | None = None
    center_id: int | None = None
    vaccine: str | None = None
    lat: float | None = None
    long: float | None = None

    @property
    def key(self) -> str:
        parts = [
            self.kind,
            self.day.isoformat() if self.day else "",
            self.pincode or "",
            str(self.district_id or ""),
            str(self.center_id or ""),
            self.vaccine or "",
            "" if self.lat is None else f"{self.lat:.3f}",
            "" if self.long is None else f"{self.long:.3f}",
        ]
        return "|".join(parts)

    @property
    def scopes(self) -> list[str]:
        if self.pincode is not None:
            return [f"pin:{self.pincode}"]
        if self.district_id is not None:
            return [f"district:{self.district_id}"]
        if self.center_id is not None:
            return [f"center:{self.center_id}"]
        return ["centers"]


def find_by_pin(pincode: str | None, date: str | None, vaccine: str | None) -> Query:
    return Query(
        "findByPin",
        parse_date(date),
        pincode=parse_pincode(pincode),
        vaccine=parse_vaccine(vaccine),
    )


def find_by_district(district_id: str | None, date: str | None, vaccine: str | None) -> Query:
    return Query(
        "findByDistrict",
        parse_date(date),
        district_id=parse_district_id(district_id),
        vaccine=parse_vaccine(vaccine),
    )


def calendar_by_pin(pincode: str | None, date: str | None, vaccine: str | None) -> Query:
    return Query(
        "calendarByPin",
        parse_date(date),
        pincode=parse_pincode(pincode),
        vaccine=parse_vaccine(vaccine),
    )


def calendar_by_district(district_id: str | None, date: str | None, vaccine: str | None) -> Query:
    return Query(
        "calendarByDistrict",
        parse_date(date),
        district_id=parse_district_id(district_id),
        vaccine=parse_vaccine(vaccine),
    )


def calendar_by_center(center_id: str | None, date: str | None, vaccine: str | None) -> Query:
    return Query(
        "calendarByCenter",
        parse_date(date),
        center_id=parse_center_id(center_id),
        vaccine=parse_vaccine(vaccine),
    )


def find_by_lat_long(lat: str | None, long: str | None) -> Query:
    # Rounded to ~100 m, so nearby callers share one cached answer.
    return Query(
        "findByLatLong",
        lat=round(parse_coordinate(lat, "lat", 90), 3),
        long=round(parse_coordinate(long, "long", 180), 3),
    )


# -- the cache -------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    content: bytes
    etag: str  # quoted, strong

    def matches(self, if_none_match: str | None) -> bool:
        if not if_none_match:
            return False
        for candidate in if_none_match.split(","):
            tag = candidate.strip()
            if tag == "*":
                return True
            if tag.startswith("W/"):
                tag = tag[2:]
            if tag == self.etag:
                return True
        return False


def make_body(payload: object) -> Body:
    content = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Body(content, '"' + hashlib.sha256(content).hexdigest()[:32] + '"')


class LocalCache:
    """A bounded per-process TTL cache with generation counters."""

    def __init__(self, max_entries: int = _LOCAL_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.entries: dict[str, tuple[float, Body]] = {}
        self.generations: dict[str, int] = {}

    def key(self, query: Query) -> str:
        gens = ",".join(str(self.generations.get(s, 0)) for s in query.scopes)
        return f"{query.key}#{gens}"

    def get(self, key: str) -> Body | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self.entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, body: Body, ttl: int) -> None:
        now = time.monotonic()
        if len(self.entries) >= self.max_entries:
            for old in [k for k, (exp, _) in self.entries.items() if exp <= now]:
                del self.entries[old]
            if len(self.entries) >= self.max_entries:
                for old in list(self.entries)[: self.max_entries // 2]:
                    del self.entries[old]
        self.entries[key] = (now + ttl, body)

    def bump(self, scopes: Sequence[str]) -> None:
        for scope in scopes:
            self.generations[scope] = self.generations.get(scope, 0) + 1


_LOCAL: dict[int, tuple[weakref.ref[AppContext], LocalCache]] = {}


def local_cache(ctx: AppContext) -> LocalCache:
    """The cache of this context (by identity; dropped with the context)."""
    ident = id(ctx)
    entry = _LOCAL.get(ident)
    if entry is not None and entry[0]() is ctx:
        return entry[1]

    def _drop(ref: weakref.ref[AppContext], ident: int = ident) -> None:
        current = _LOCAL.get(ident)
        if current is not None and current[0] is ref:
            del _LOCAL[ident]

    cache = LocalCache()
    _LOCAL[ident] = (weakref.ref(ctx, _drop), cache)
    return cache


async def _redis_key(ctx: AppContext, query: Query) -> str:
    assert ctx.redis is not None
    gens = await ctx.redis.mget([f"avail:gen:{s}" for s in query.scopes])
    marker = ",".join((g.decode() if isinstance(g, bytes) else str(g or 0)) for g in gens)
    digest = hashlib.sha256(f"{query.key}#{marker}".encode()).hexdigest()[:40]
    return f"avail:body:{digest}"


async def answer(ctx: AppContext, query: Query) -> Body:
    """The JSON answer to ``query``: from the cache if fresh, else built and cached."""
    ttl = ctx.settings.public_cache_seconds
    if ttl <= 0:
        return await _build(ctx, query)
    if ctx.redis is not None:
        # A one-second in-process layer in front of Redis: the hot path of a national
        # rollout day is the same few queries; other workers see a booking within 1 s.
        near = local_cache(ctx)
        near_key = near.key(query)
        near_seconds = ctx.settings.public_cache_local_seconds
        near_hit = near.get(near_key) if near_seconds > 0 else None
        if near_hit is not None:
            return near_hit
        try:
            key = await _redis_key(ctx, query)
            raw = await ctx.redis.get(key)
            if isinstance(raw, str):
                raw = raw.encode("utf-8")
            if raw:
                cached = Body(bytes(raw[34:]), bytes(raw[:34]).decode("ascii"))
                if near_seconds > 0:
                    near.put(near_key, cached, near_seconds)
                return cached
        except Exception as exc:  # a cache outage costs speed, never answers
            log.warning("availability cache unavailable: %s", type(exc).__name__)
            return await _build(ctx, query)
        body = await _build(ctx, query)
        try:
            await ctx.redis.set(key, body.etag.encode("ascii") + body.content, ex=ttl)
        except Exception as exc:
            log.warning("availability cache unavailable: %s", type(exc).__name__)
        if near_seconds > 0:
            near.put(near_key, body, near_seconds)
        return body
    cache = local_cache(ctx)
    local_key = cache.key(query)
    local_hit = cache.get(local_key)
    if local_hit is not None:
        return local_hit
    built = await _build(ctx, query)
    cache.put(local_key, built, ttl)
    return built


async def _bump(ctx: AppContext, scopes: list[str]) -> None:
    if ctx.redis is not None:
        local_cache(ctx).bump(scopes)
        try:
            pipe = ctx.redis.pipeline(transaction=False)
            for scope in scopes:
                pipe.incr(f"avail:gen:{scope}")
                pipe.expire(f"avail:gen:{scope}", _REDIS_GEN_SECONDS)
            await pipe.execute()
        except Exception as exc:  # entries then age out within public_cache_seconds
            log.warning("availability cache invalidation failed: %s", type(exc).__name__)
        return
    local_cache(ctx).bump(scopes)


async def _scopes_of(
    ctx: AppContext, center_id: int, pincode: str | None, district_id: int | None
) -> list[str]:
    if pincode is None or district_id is None:
        async with ctx.db.reader() as session:
            row = (
                await session.execute(
                    select(Center.pincode, Center.district_id).where(Center.center_id == center_id)
                )
            ).first()
        if row is None:
            return [f"center:{center_id}"]
        pincode, district_id = row.pincode, row.district_id
    return [f"pin:{pincode}", f"district:{district_id}", f"center:{center_id}"]


async def invalidate_availability(
    ctx: AppContext, center_id: int, *, pincode: str | None = None, district_id: int | None = None
) -> None:
    """Make searches covering this centre rebuild (call after the change has committed).

    ``pincode`` and ``district_id`` save a look-up when the caller has them at hand.
    """
    await _bump(ctx, await _scopes_of(ctx, center_id, pincode, district_id))


async def invalidate_centers(ctx: AppContext, center_id: int) -> None:
    """A centre itself changed (created, moved, renamed): also refresh location search."""
    await _bump(ctx, [*await _scopes_of(ctx, center_id, None, None), "centers"])


# -- building answers ------------------------------------------------------------------


def _session_columns() -> AnySelect:
    return (
        select(
            Center.center_id,
            Center.name,
            Center.address,
            Center.block_name,
            Center.pincode,
            Center.lat,
            Center.long,
            Center.opens_at,
            Center.closes_at,
            Center.fee_type,
            State.state_name,
            State.state_name_l,
            District.district_name,
            District.district_name_l,
            VaccinationSession.session_id,
            VaccinationSession.date,
            VaccinationSession.vaccine_code,
            VaccinationSession.min_age_limit,
            VaccinationSession.max_age_limit,
            VaccinationSession.capacity_dose1,
            VaccinationSession.capacity_dose2,
            VaccinationSession.capacity_precaution,
            VaccinationSession.booked_dose1,
            VaccinationSession.booked_dose2,
            VaccinationSession.booked_precaution,
            VaccinationSession.slots,
            VaccinationSession.fee,
        )
        .select_from(VaccinationSession)
        .join(Center, Center.center_id == VaccinationSession.center_id)
        .join(District, District.district_id == Center.district_id)
        .join(State, State.state_id == Center.state_id)
    )


def _where(query: Query, first: dt.date, last: dt.date) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [
        VaccinationSession.status == _PUBLISHED,
        Center.active.is_(True),
        VaccinationSession.date >= first,
        VaccinationSession.date <= last,
    ]
    if query.pincode is not None:
        clauses.append(Center.pincode == query.pincode)
    if query.district_id is not None:
        clauses.append(Center.district_id == query.district_id)
    if query.center_id is not None:
        clauses.append(Center.center_id == query.center_id)
    if query.vaccine is not None:
        clauses.append(VaccinationSession.vaccine_code == query.vaccine)
    return and_(*clauses)


async def _session_rows(session: AsyncSession, query: Query, days: int) -> list[AnyRow]:
    assert query.day is not None
    last = query.day + dt.timedelta(days=days - 1)
    statement = (
        _session_columns()
        .where(_where(query, query.day, last))
        .order_by(Center.center_id, VaccinationSession.date, VaccinationSession.session_id)
        .limit(MAX_SESSIONS_PER_ANSWER)
    )
    return list((await session.execute(statement)).all())


def _clock(value: dt.time) -> str:
    return value.strftime("%H:%M:%S")


def center_payload(row: AnyRow) -> dict[str, object]:
    return {
        "center_id": row.center_id,
        "name": row.name,
        "name_l": "",
        "address": row.address,
        "address_l": "",
        "state_name": row.state_name,
        "state_name_l": row.state_name_l or "",
        "district_name": row.district_name,
        "district_name_l": row.district_name_l or "",
        "block_name": row.block_name,
        "block_name_l": "",
        "pincode": int(row.pincode),
        "lat": math.trunc(row.lat),
        "long": math.trunc(row.long),
        "from": _clock(row.opens_at),
        "to": _clock(row.closes_at),
        "fee_type": row.fee_type,
    }


def session_payload(row: AnyRow, *, with_fee: bool) -> dict[str, object]:
    dose1 = max(0, row.capacity_dose1 - row.booked_dose1)
    dose2 = max(0, row.capacity_dose2 - row.booked_dose2)
    precaution = max(0, row.capacity_precaution - row.booked_precaution)
    out: dict[str, object] = {
        "session_id": row.session_id,
        "date": format_cowin_date(row.date),
        "available_capacity": dose1 + dose2 + precaution,
        "available_capacity_dose1": dose1,
        "available_capacity_dose2": dose2,
    }
    if with_fee:
        out["fee"] = row.fee
    out["min_age_limit"] = row.min_age_limit
    if row.max_age_limit is not None:
        out["max_age_limit"] = row.max_age_limit
    out["allow_all_age"] = row.max_age_limit is None
    out["vaccine"] = row.vaccine_code
    out["slots"] = json.loads(row.slots)
    return out


async def _fees(session: AsyncSession, center_ids: list[int]) -> dict[int, list[dict[str, str]]]:
    if not center_ids:
        return {}
    rows = await session.execute(
        select(CenterVaccineFee.center_id, CenterVaccineFee.vaccine_code, CenterVaccineFee.fee)
        .where(CenterVaccineFee.center_id.in_(center_ids))
        .order_by(CenterVaccineFee.center_id, CenterVaccineFee.vaccine_code)
    )
    out: dict[int, list[dict[str, str]]] = {}
    for center_id, vaccine, fee in rows.all():
        out.setdefault(center_id, []).append({"vaccine": vaccine, "fee": fee})
    return out


async def _calendar(session: AsyncSession, query: Query) -> list[dict[str, object]]:
    rows = await _session_rows(session, query, CALENDAR_DAYS)
    centers: dict[int, dict[str, object]] = {}
    sessions: dict[int, list[dict[str, object]]] = {}
    for row in rows:
        if row.center_id not in centers:
            centers[row.center_id] = center_payload(row)
            sessions[row.center_id] = []
        sessions[row.center_id].append(session_payload(row, with_fee=False))
    paid = [cid for cid, c in centers.items() if c["fee_type"] == "Paid"]
    fees = await _fees(session, paid)
    out = []
    for center_id, payload in centers.items():
        if center_id in fees:
            payload["vaccine_fees"] = fees[center_id]
        payload["sessions"] = sessions[center_id]
        out.append(payload)
    return out


async def _center_only(session: AsyncSession, center_id: int) -> dict[str, object] | None:
    row = (
        await session.execute(
            select(
                Center.center_id,
                Center.name,
                Center.address,
                Center.block_name,
                Center.pincode,
                Center.lat,
                Center.long,
                Center.opens_at,
                Center.closes_at,
                Center.fee_type,
                State.state_name,
                State.state_name_l,
                District.district_name,
                District.district_name_l,
            )
            .join(District, District.district_id == Center.district_id)
            .join(State, State.state_id == Center.state_id)
            .where(Center.center_id == center_id, Center.active.is_(True))
        )
    ).first()
    if row is None:
        return None
    payload = center_payload(row)
    if payload["fee_type"] == "Paid":
        payload["vaccine_fees"] = (await _fees(session, [center_id])).get(center_id, [])
    payload["sessions"] = []
    return payload


async def _nearby(session: AsyncSession, lat: float, long: float) -> list[dict[str, object]]:
    min_lat, max_lat, min_long, max_long = bounding_box(lat, long, NEARBY_RADIUS_KM)
    rows = (
        await session.execute(
            select(
                Center.center_id,
                Center.name,
                Center.address,
                Center.block_name,
                Center.pincode,
                Center.lat,
                Center.long,
                State.state_name,
                State.state_name_l,
                District.district_name,
                District.district_name_l,
            )
            .join(District, District.district_id == Center.district_id)
            .join(State, State.state_id == Center.state_id)
            .where(
                Center.active.is_(True),
                Center.lat.between(min_lat, max_lat),
                Center.long.between(min_long, max_long),
            )
            .limit(MAX_SESSIONS_PER_ANSWER)
        )
    ).all()
    ranked = sorted((distance_km(lat, long, r.lat, r.long), r.center_id, r) for r in rows)
    out: list[dict[str, object]] = []
    for distance, _, row in ranked:
        if distance > NEARBY_RADIUS_KM or len(out) >= NEARBY_MAX:
            break
        out.append(
            {
                "center_id": row.center_id,
                "name": row.name,
                "name_l": "",
                "district_name": row.district_name,
                "district_name_l": row.district_name_l or "",
                "state_name": row.state_name,
                "state_name_l": row.state_name_l or "",
                "location": row.address,
                "pincode": row.pincode,
                "block_name": row.block_name,
                "block_name_l": "",
                "lat": f"{row.lat:.6f}".rstrip("0").rstrip("."),
                "long": f"{row.long:.6f}".rstrip("0").rstrip("."),
            }
        )
    return out


async def _build(ctx: AppContext, query: Query) -> Body:
    # Public availability may be seconds stale (it is cached anyway): a replica serves it.
    async with ctx.db.replica_reader() as session:
        if query.kind in ("findByPin", "findByDistrict"):
            rows = await _session_rows(session, query, 1)
            payload: dict[str, object] = {
                "sessions": [
                    {**center_payload(r), **session_payload(r, with_fee=True)} for r in rows
                ]
            }
        elif query.kind in ("calendarByPin", "calendarByDistrict"):
            payload = {"centers": await _calendar(session, query)}
        elif query.kind == "calendarByCenter":
            assert query.center_id is not None
            found = await _calendar(session, query)
            single = found[0] if found else await _center_only(session, query.center_id)
            payload = {"centers": single or {}}
        elif query.kind == "findByLatLong":
            assert query.lat is not None and query.long is not None
            payload = {
                "centers": await _nearby(session, query.lat, query.long),
                "ttl": NEARBY_TTL_HOURS,
            }
        else:  # pragma: no cover - queries are built by the functions above
            raise BadParameter()
    return make_body(payload)
