"""What an operator sees: metrics, JSON access logs and /readyz — and no personal data in them.

The scrape is parsed by prometheus-client's own text parser (not by our code), and every
label value is checked against what the code may put there. A citizen journey runs first
(OTP login, a registration with a name and an Aadhaar number, the listing), then the
scrape and the captured log lines are searched for the mobile number, the name, the
Aadhaar number (whole and its parts), the OTP and the bearer token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from immunet.http import _flatten
from immunet.observability.logs import JsonFormatter
from immunet.observability.metrics import render, scrape_registry
from immunet.observability.probes import database_probe
from tests.conftest import bearer, login, register
from tests.factories import aadhaar, adult

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MOBILE = "9812345670"
NAME = "Zubeida Quraishi"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def _journey(client, outbox) -> tuple[str, str]:
    id_number = aadhaar(77)
    token = await login(client, outbox, MOBILE)
    created = await register(client, token, adult(NAME, id_number=id_number))
    assert created.status_code == 200
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert listing.status_code == 200 and NAME in listing.text
    assert (await client.get("/api/v2/admin/location/states")).status_code == 200
    assert (await client.get("/nowhere/9812345670?mobile=9812345670")).status_code == 404
    return token, id_number


def _secrets(outbox, token: str, id_number: str) -> list[str]:
    otps = [m["text"].split("code is ")[1][:6] for m in outbox.messages() if m["template"] == "otp"]
    assert otps
    return [
        MOBILE,
        MOBILE[-4:] + MOBILE[:6],
        NAME,
        "Zubeida",
        "Quraishi",
        id_number,
        id_number[:4],
        token,
        token[:24],
        *otps,
    ]


async def test_metrics_and_logs_carry_no_personal_data(client, outbox, ctx, settings):
    handler = _Lines()
    root = logging.getLogger("immunet")
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        token, id_number = await _journey(client, outbox)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)

    scrape = await asyncio.to_thread(render, scrape_registry(database_probe(settings.database_url)))
    text = scrape.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}

    # The families an operator's dashboard reads are there.
    for name in (
        "immunet_http_request_duration_seconds",
        "immunet_db_pool_connections_in_use",
        "immunet_otp_requests",
        "immunet_sms_deliveries",
        "immunet_outbox_due_messages",
        "immunet_audit_sequencer_lag_seconds",
        "immunet_audit_unsequenced_entries",
        "immunet_staff_alerts_open",
    ):
        assert name in families, name
    assert families["immunet_db_probe_up"].samples[0].value == 1

    # Every metric the shipped alert rules and dashboard use exists in a real scrape.
    used = set()
    for path in (
        DEPLOY / "prometheus" / "immunet-alerts.yml",
        DEPLOY / "grafana" / "immunet-dashboard.json",
    ):
        used |= set(re.findall(r"immunet_[a-z_]+", path.read_text()))
    # (a labelled family with no sample yet is still declared: the parser keeps its name)
    declared = {re.sub(r"_(total|count|bucket|sum)$", "", name) for name in used}
    assert declared and declared <= set(families), declared - set(families)
    json.loads((DEPLOY / "grafana" / "immunet-dashboard.json").read_text())

    # Labels are route templates, methods, statuses and outcomes: nothing else.
    templates = {getattr(r, "path", None) for r in _flatten(client._transport.app.routes)} | {"-"}
    routes_seen = set()
    for sample in families["immunet_http_request_duration_seconds"].samples:
        assert set(sample.labels) <= {"method", "route", "status", "le"}
        # The registry is the process's: a route another test in this worker added to its
        # own app (tests/security/test_http_sweep.py's "/test-only/...") is counted too.
        assert sample.labels["route"] in templates or sample.labels["route"].startswith(
            "/test-only/"
        ), sample.labels["route"]
        assert re.fullmatch(r"\d{3}|-", sample.labels["status"])
        routes_seen.add(sample.labels["route"])
    assert "/api/v2/registration/beneficiary/new" in routes_seen
    assert "-" in routes_seen  # the unknown path counted under no template
    otp = {
        s.labels["outcome"]: s.value
        for s in families["immunet_otp_requests"].samples
        if s.name.endswith("_total")
    }
    assert otp.get("queued", 0) >= 1
    sms = {
        (s.labels["template"], s.labels["outcome"])
        for s in families["immunet_sms_deliveries"].samples
    }
    assert ("otp", "sent") in sms

    # The access log: one JSON object per request, with route template and actor reference.
    records = [json.loads(line) for line in handler.lines]
    access = [r for r in records if r["logger"] == "immunet.access"]
    assert len(access) >= 5
    for entry in access:
        assert {"request_id", "method", "route", "status", "duration_ms"} <= entry.keys()
    registered = [e for e in access if e["route"] == "/api/v2/registration/beneficiary/new"]
    assert registered and registered[0]["actor"].startswith("citizen:")
    assert registered[0]["status"] == 200
    assert any(e["route"] == "-" and e["status"] == 404 for e in access)

    # And no personal data, token, OTP or query string anywhere.
    logs = "\n".join(handler.lines)
    # Personal data could only leak through names and label values: the sample values are
    # numbers, and with the worker's whole registry a 4-digit ID prefix or an OTP may occur
    # in a count or a sum by chance.
    words = "\n".join(
        f"{s.name} {' '.join(s.labels.values())}" for f in families.values() for s in f.samples
    )
    for secret in _secrets(outbox, token, id_number):
        assert secret not in words, "metrics carry a secret"
        assert secret not in logs, "logs carry a secret"
    assert "nowhere" not in text and "nowhere" not in logs
    assert "mobile=" not in logs


async def test_readyz_reports_each_dependency(client, ctx):
    from immunet.certificates import service as certificate_service

    async with ctx.db.transaction() as session:
        await certificate_service.active_keyset(ctx, session)
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "certificate_keys": "ok", "outbox": "ok", "sequencer": "ok"},
    }
    # Words only: no counts, ages or exception texts for the public.
    assert not re.search(r"\d", json.dumps(ready.json()["checks"]))
