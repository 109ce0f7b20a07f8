"""``/.well-known/security.txt`` (RFC 9116) and the policy it cites, checked with ``sectxt``
(an independent parser and validator), and ``SECURITY.md`` served as written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sectxt import Parser

ROOT = Path(__file__).resolve().parents[2]
URL = "https://immunet.example.in"


async def _security_txt(client_with, clock, instant: dt.datetime, **settings) -> str:
    clock.set(instant)
    client = await client_with(public_url=URL, **settings)
    response = await client.get("/.well-known/security.txt", headers={"host": "immunet.example.in"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert "public" in response.headers["cache-control"]
    return response.text


async def test_security_txt_is_valid_rfc_9116(client_with, clock):
    # sectxt judges Expires against the real time, so the pinned clock is set to it.
    text = await _security_txt(client_with, clock, dt.datetime.now(dt.UTC))
    parser = Parser(text.encode(), urls=f"{URL}/.well-known/security.txt")
    assert parser.is_valid(), parser.errors
    assert parser.errors == []
    fields = dict(line.split(": ", 1) for line in text.splitlines())
    assert fields["Canonical"] == f"{URL}/.well-known/security.txt"
    assert fields["Contact"] == "mailto:security@immunet.example.in"
    assert fields["Policy"] == f"{URL}/.well-known/security-policy"
    assert fields["Preferred-Languages"] == "en, hi"


async def test_expires_follows_the_clock_and_the_setting(client_with, clock):
    instant = dt.datetime(2031, 3, 4, 22, 15, tzinfo=dt.UTC)
    text = await _security_txt(
        client_with, clock, instant, security_txt_valid_days=30, security_contact="mailto:x@y.in"
    )
    assert "Expires: 2031-04-03T00:00:00Z\n" in text
    assert "Contact: mailto:x@y.in\n" in text
    # A year later it still lies ahead: never a date written down once.
    later = await _security_txt(client_with, clock, instant + dt.timedelta(days=365))
    assert "Expires: 2032-08-30T00:00:00Z\n" in later  # 180 days by default


async def test_the_policy_served_is_security_md(client):
    response = await client.get("/.well-known/security-policy")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert response.text == (ROOT / "SECURITY.md").read_text("utf-8")


async def test_disclosure_routes_are_public_and_limited(client_with):
    client = await client_with(public_requests_per_5min=2)
    codes = [(await client.get("/.well-known/security.txt")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
