"""Pure rules of sessions and availability: dates, slots, distances, parameters, ETags."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from immunet.geography.center_schemas import parse_clock
from immunet.sessions import availability
from immunet.sessions.rules import (
    IST,
    RuleError,
    bounding_box,
    check_session_date,
    distance_km,
    format_cowin_date,
    parse_cowin_date,
    parse_slot,
    today_ist,
    validate_slots,
)


@given(st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_dates_round_trip(day):
    assert parse_cowin_date(format_cowin_date(day)) == day


@pytest.mark.parametrize(
    "text",
    [
        "2021-05-04",
        "4-5-2021",
        "04/05/2021",
        "31-02-2021",
        "00-01-2021",
        "01-13-2021",
        "01-01-1999",
        "01-01-2101",
        "",
        " 04-05-2021",
        "04-05-2021 ",
        "०४-०५-२०२१",
        "04-05-20211",
    ],
)
def test_bad_dates(text):
    with pytest.raises(RuleError):
        parse_cowin_date(text)


@given(st.text(max_size=20))
def test_date_parser_never_crashes(text):
    try:
        parse_cowin_date(text)
    except RuleError:
        pass


def test_today_is_indian():
    # 20:00 UTC is already the next day in India.
    assert today_ist(dt.datetime(2021, 5, 4, 20, 0, tzinfo=dt.UTC)) == dt.date(2021, 5, 5)
    assert today_ist(dt.datetime(2021, 5, 4, 18, 29, tzinfo=dt.UTC)) == dt.date(2021, 5, 4)
    assert IST.utcoffset(None) == dt.timedelta(hours=5, minutes=30)


def test_session_date_window():
    today = dt.date(2021, 5, 4)
    check_session_date(today, today)
    check_session_date(today + dt.timedelta(days=90), today)
    for bad in (today - dt.timedelta(days=1), today + dt.timedelta(days=91)):
        with pytest.raises(RuleError):
            check_session_date(bad, today)


def test_slots():
    assert parse_slot("09:00AM-11:00AM") == (540, 660)
    assert parse_slot("12:00PM-03:00PM") == (720, 900)
    assert parse_slot("12:00AM-12:30AM") == (0, 30)
    assert validate_slots(["11:00AM-01:00PM", "09:00AM-11:00AM"]) == [
        "09:00AM-11:00AM",
        "11:00AM-01:00PM",
    ]
    for bad in (
        "9:00AM-11:00AM",
        "09:00am-11:00am",
        "13:00PM-02:00PM",
        "09:00AM-09:00AM",
        "11:00AM-09:00AM",
        "09:00AM - 11:00AM",
        "FORENOON",
        "09:60AM-11:00AM",
        "",
    ):
        with pytest.raises(RuleError):
            parse_slot(bad)
    for bad_list in (
        [],
        ["09:00AM-11:00AM"] * 2,
        [f"{h:02d}:00AM-{h:02d}:30AM" for h in range(1, 13)] * 2,
    ):
        with pytest.raises(RuleError):
            validate_slots(bad_list)


@given(
    st.integers(1, 12),
    st.integers(0, 59),
    st.sampled_from(["AM", "PM"]),
    st.integers(1, 12),
    st.integers(0, 59),
    st.sampled_from(["AM", "PM"]),
)
def test_slot_order_rule(h1, m1, p1, h2, m2, p2):
    text = f"{h1:02d}:{m1:02d}{p1}-{h2:02d}:{m2:02d}{p2}"
    start = (h1 % 12 + (12 if p1 == "PM" else 0)) * 60 + m1
    end = (h2 % 12 + (12 if p2 == "PM" else 0)) * 60 + m2
    if start < end:
        assert parse_slot(text) == (start, end)
    else:
        with pytest.raises(RuleError):
            parse_slot(text)


def test_distances():
    # Bengaluru MG Road to Chennai Central: about 290 km.
    assert 280 < distance_km(12.9756, 77.6050, 13.0827, 80.2707) < 300
    assert distance_km(28.6, 77.2, 28.6, 77.2) == 0
    assert 19_990 < distance_km(0, 0, 0, 180) < 20_040


@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(0, 360), st.floats(0.1, 49.9))
def test_points_within_radius_lie_in_the_box(lat, long, bearing, km):
    import math

    # A point km away on the given bearing (spherical destination formula).
    r = km / 6371.0088
    phi1, lam1, theta = math.radians(lat), math.radians(long), math.radians(bearing)
    phi2 = math.asin(math.sin(phi1) * math.cos(r) + math.cos(phi1) * math.sin(r) * math.cos(theta))
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(r) * math.cos(phi1),
        math.cos(r) - math.sin(phi1) * math.sin(phi2),
    )
    lat2, long2 = math.degrees(phi2), math.degrees(lam2)
    assert distance_km(lat, long, lat2, long2) == pytest.approx(km, rel=1e-6, abs=1e-6)
    min_lat, max_lat, min_long, max_long = bounding_box(lat, long, 50)
    assert min_lat <= lat2 <= max_lat
    assert min_long <= long2 <= max_long


def test_public_parameters():
    assert availability.parse_pincode("560001") == "560001"
    assert availability.parse_district_id("294") == 294
    assert availability.parse_vaccine(" covishield ") == "COVISHIELD"
    assert availability.parse_vaccine("SPUTNIK V") == "SPUTNIK V"
    assert availability.parse_vaccine("") is None
    assert availability.parse_coordinate("-12.5", "lat", 90) == -12.5
    for bad in ("1e2", "0x10", "12,5", "1234.5", "", "inf", "NaN", "+", "."):
        with pytest.raises(availability.BadParameter):
            availability.parse_coordinate(bad, "lat", 90)
    for bad in ("0", "01", "2147483648", "+5", " 5", "٥"):
        with pytest.raises(availability.BadParameter):
            availability.parse_center_id(bad)
    query = availability.find_by_lat_long("12.97161", "77.59456")
    assert (query.lat, query.long) == (12.972, 77.595)


def test_etag_matching():
    body = availability.make_body({"sessions": []})
    assert body.content == b'{"sessions":[]}'
    assert body.etag.startswith('"') and body.etag.endswith('"') and len(body.etag) == 34
    assert body.matches(body.etag)
    assert body.matches(f'"a", {body.etag}')
    assert body.matches(f"W/{body.etag}")
    assert body.matches("*")
    assert not body.matches('"a"') and not body.matches(None) and not body.matches("")


def test_local_cache_is_bounded_and_generational():
    cache = availability.LocalCache(max_entries=4)
    query = availability.find_by_pin("560001", "04-05-2021", None)
    key = cache.key(query)
    body = availability.make_body({})
    cache.put(key, body, 60)
    assert cache.get(key) is body
    cache.bump(["pin:560001"])
    assert cache.key(query) != key and cache.get(cache.key(query)) is None
    for n in range(10):
        cache.put(f"k{n}", body, 60)
    assert len(cache.entries) <= 4
    cache.put("gone", body, 0)
    assert cache.get("gone") is None


def test_clock_parsing():
    assert parse_clock("09:00") == dt.time(9, 0)
    assert parse_clock("17:30:15") == dt.time(17, 30, 15)
    for bad in ("9:00", "24:00", "09:60", "9am", "09:00:60", ""):
        with pytest.raises(ValueError):
            parse_clock(bad)
