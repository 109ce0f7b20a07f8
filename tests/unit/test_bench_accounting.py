"""The bench's CPU accounting and profile summary: what they count and what they leave out."""

from __future__ import annotations

import os
import sys

import pytest
from bench.cpu import CpuMeter, Snapshot, _postgres_process, per_operation
from bench.profile import layer_of, summarize

SITE = "/srv/venv/lib/python3.11/site-packages"


def test_layers_by_file():
    assert layer_of(f"{SITE}/sqlalchemy/util/concurrency.py") == "greenlet bridge"
    assert layer_of(f"{SITE}/sqlalchemy/orm/session.py") == "sqlalchemy"
    assert layer_of(f"{SITE}/asyncpg/connection.py") == "asyncpg"
    assert layer_of("/work/src/immunet/booking/service.py") == "immunet"
    assert layer_of(f"{SITE}/starlette/routing.py") == "fastapi/starlette"
    assert layer_of("/usr/lib/python3.11/asyncio/base_events.py") == "asyncio"
    assert layer_of("/usr/lib/python3.11/json/encoder.py") == "other"


def test_summary_of_collapsed_stacks():
    # py-spy's raw format: one stack per line, outermost frame first, then its count; the
    # process header is not a frame.
    raw = "\n".join(
        [
            'process 7:"python -m immunet";run (/work/src/immunet/http.py:10);'
            f"execute ({SITE}/sqlalchemy/orm/session.py:2555);"
            f"fetch ({SITE}/asyncpg/connection.py:100) 6",
            'process 7:"python -m immunet";run (/work/src/immunet/http.py:10);'
            "schedule (/work/src/immunet/booking/service.py:450) 3",
            'process 8:"python" 5',  # no frame at all: not a sample of code
            "garbage line",
            f"execute ({SITE}/sqlalchemy/orm/session.py:2555) 1",
        ]
    )
    found = summarize(raw, rate=100, seconds=1.0, workers=2)
    assert found["samples"] == 10
    assert found["workers_busy"] == 0.05
    assert found["self_percent"] == {"asyncpg": 60.0, "immunet": 30.0, "sqlalchemy": 10.0}
    assert found["on_stack_percent"]["sqlalchemy"] == 70.0
    assert found["on_stack_percent"]["immunet"] == 90.0
    assert found["immunet_on_stack"][0] == {"function": "run (immunet/http.py)", "percent": 90.0}
    assert found["top_self_functions"][0] == {
        "function": "fetch (asyncpg/connection.py)",
        "percent": 60.0,
    }


def test_postgres_processes_counted_are_the_benchs_and_the_servers_own():
    assert _postgres_process(
        "postgres: 15/main: root immunet_bench 127.0.0.1(4021) idle", "immunet_bench"
    )
    assert _postgres_process("postgres: 15/main: walwriter", "immunet_bench")
    assert _postgres_process("postgres: 15/main: checkpointer", None)
    # Another job's tests on the same server, and a database whose name only starts alike.
    assert not _postgres_process(
        "postgres: 15/main: root immunet_test_1 127.0.0.1(4) idle", "immunet_bench"
    )
    assert not _postgres_process(
        "postgres: 15/main: root immunet_bench_profile [local] idle", "immunet_bench"
    )
    assert not _postgres_process("/usr/bin/python -m bench.run", "immunet_bench")


def test_cpu_per_operation():
    before = Snapshot(at=10.0, server={1: 5.0, 2: 1.0}, postgres={9: 2.0}, generator=3.0)
    # pid 2 exited (its CPU is lost, not subtracted); pid 3 started (counted whole).
    after = Snapshot(at=12.0, server={1: 6.0, 3: 0.5}, postgres={9: 2.2}, generator=3.3)
    cpu = per_operation(before, after, 100)
    assert cpu["server_ms"] == 15.0
    assert cpu["postgres_ms"] == 2.0
    assert cpu["load_generator_ms"] == 3.0
    assert cpu["cores_busy"] == 1.0
    assert cpu["rate_without_generator"] == round((os.cpu_count() or 1) * 100 / 1.7, 1)
    assert per_operation(before, after, 0) == {}
    assert per_operation(None, after, 100) == {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_the_meter_sees_its_own_cpu():
    meter = CpuMeter(os.getpid(), None)
    before = meter.snapshot()
    sum(i * i for i in range(2_000_000))
    after = meter.snapshot()
    assert before is not None and after is not None
    assert after.generator > before.generator
    assert after.server[os.getpid()] > before.server[os.getpid()]
