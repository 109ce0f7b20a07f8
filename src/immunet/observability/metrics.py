"""Prometheus metrics of this process (``prometheus-client``), and the scrape listener.

Labels hold only values the code chose: route *templates* (never a path), methods from a
fixed set, status codes, template names, outcomes. No identifier, address or token is
ever a label value: a label is stored and shipped in clear by every monitoring system.

``immunet serve`` with ``IMMUNET_METRICS_PORT`` sets ``PROMETHEUS_MULTIPROC_DIR`` before
any worker starts, so each uvicorn worker writes its samples to files there and the one
listener (in the serving process) adds them up. The listener is a separate port, bound
to ``IMMUNET_METRICS_HOST`` (loopback by default): the public port never serves metrics.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Histogram(
    "immunet_http_request_duration_seconds",
    "Requests by route template, method and status, with their latency.",
    ("method", "route", "status"),
    buckets=LATENCY_BUCKETS,
)
DB_POOL_IN_USE = Gauge(
    "immunet_db_pool_connections_in_use",
    "Database connections checked out of the pools of the live workers.",
    ("pool",),
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "immunet_db_pool_connections_max",
    "Connections the pools of the live workers may open (size plus overflow).",
    ("pool",),
    multiprocess_mode="livesum",
)
REDIS_ERRORS = Counter(
    "immunet_redis_errors_total",
    "Redis operations that failed (connection refused, timeout, reset).",
    ("where",),
)
DB_UNAVAILABLE = Counter(
    "immunet_db_unavailable_total",
    "Requests answered 503 because the database could not be reached.",
)
SMS_DELIVERIES = Counter(
    "immunet_sms_deliveries_total",
    "Outbox delivery attempts by template (otp, notices) and outcome (sent, retried, dead).",
    ("template", "outcome"),
)
OTP_REQUESTS = Counter(
    "immunet_otp_requests_total",
    "OTP requests by outcome (queued, throttled, unavailable).",
    ("outcome",),
)
REPLICA_LAG = Gauge(
    "immunet_db_replica_lag_seconds",
    "Seconds a streaming replica is behind the primary, as last measured.",
    ("replica",),
    multiprocess_mode="livemax",
)
REPLICA_UP = Gauge(
    "immunet_db_replica_up",
    "1 when the replica answered its last lag measurement.",
    ("replica",),
    multiprocess_mode="livemin",
)
REPLICA_SKIPPED = Counter(
    "immunet_db_replica_skipped_total",
    "Reads sent to the primary because a replica was behind or unreachable.",
    ("replica",),
)


def instrument_pool(engine: AsyncEngine, pool: str, capacity: int) -> None:
    """Count this engine's checked-out connections (``pool`` is "primary" or "replica-N")."""
    DB_POOL_CAPACITY.labels(pool).inc(capacity)
    in_use = DB_POOL_IN_USE.labels(pool)

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(*_args: Any) -> None:
        in_use.inc()

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(*_args: Any) -> None:
        in_use.dec()


def release_pool(pool: str, capacity: int) -> None:
    DB_POOL_CAPACITY.labels(pool).dec(capacity)


# -- the scrape --------------------------------------------------------------------------


class DatabaseCollector:
    """Gauges read from the database at each scrape (the same for every worker, so read
    once by the listener): outbox depth and age, audit sequencer lag, open staff-misuse
    alerts, replica lag. The scrape thread runs its own event loop for the queries."""

    def __init__(self, probe: Callable[[], Any]) -> None:
        self._probe = probe

    def collect(self) -> Iterable[Metric]:
        try:
            return list(asyncio.run(self._probe()))
        except Exception as exc:
            up = GaugeMetricFamily(
                "immunet_db_probe_up", "1 when the scrape's database queries succeeded."
            )
            up.add_metric([], 0)
            failed = GaugeMetricFamily(
                "immunet_db_probe_error",
                "The failure of the last probe (type only).",
                labels=["type"],
            )
            failed.add_metric([type(exc).__name__], 1)
            return [up, failed]

    def describe(self) -> Iterable[Metric]:
        return []


class _Combined:
    """Several collectors behind one ``collect`` (the process registry is one of them)."""

    def __init__(self, *parts: Any) -> None:
        self._parts = parts

    def collect(self) -> Iterable[Metric]:
        for part in self._parts:
            yield from part.collect()


def scrape_registry(database_probe: Callable[[], Any] | None) -> CollectorRegistry:
    """The registry a scrape reads: every worker's samples (multiprocess mode) or this
    process's, plus the database-derived gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Combined(REGISTRY))
    if database_probe is not None:
        registry.register(DatabaseCollector(database_probe))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def start_listener(
    host: str, port: int, database_probe: Callable[[], Any] | None
) -> threading.Thread:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread (prometheus-client's server)."""
    from prometheus_client import start_http_server

    _server, thread = start_http_server(port, addr=host, registry=scrape_registry(database_probe))
    return thread
