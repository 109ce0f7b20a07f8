"""Where a benchmark step's CPU went: the server's processes, PostgreSQL's, the load generator's.

A rate alone cannot say what bounds it on a machine whose two cores are shared by the
server, PostgreSQL and the client driving them. CPU seconds per operation can: the server's
CPU per booking against PostgreSQL's, and against PostgreSQL's and pgbench's CPU per TPC-B
transaction, tell whether the database or the Python around each statement is the limit,
and what rate the machine could reach if the load generator cost nothing
(``cores / (server + postgres) per operation``).

Read from ``/proc`` (Linux); elsewhere the figures are left out. CPU of processes that exit
during a step is not counted (the server's workers and pooled PostgreSQL backends live
through the whole run); :func:`follow` keeps it for a client whose backends end with it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def _ticks() -> float:
    return float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid → (command line, parent pid, user + system CPU seconds), for every process."""
    per_tick = 1.0 / _ticks()
    found: dict[int, tuple[str, int, float]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # exited meanwhile
            continue
        # After the parenthesised name (which may hold spaces): state(0) ppid(1) …
        # utime(11) stime(12), in clock ticks.
        fields = raw[raw.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) * per_tick
        found[int(entry.name)] = (command.strip(), int(fields[1]), cpu)
    return found


@dataclass(frozen=True)
class Snapshot:
    at: float
    server: dict[int, float]
    postgres: dict[int, float]
    generator: float


def _postgres_process(command: str, database: str | None) -> bool:
    """A backend of ``database``, or one of the server's own processes (WAL writer,
    checkpointer, autovacuum…) that work for every database; not other databases' clients
    (another job on the machine may be running its tests)."""
    if not command.startswith("postgres"):
        return False
    if "(" not in command and "[local]" not in command:  # no client address: the server's own
        return True
    return database is not None and f" {database} " in f"{command} "


class CpuMeter:
    """CPU seconds of a server's process tree, of PostgreSQL's processes working for one
    database, and of this process and the children it has waited for (pgbench)."""

    def __init__(self, server_pid: int | None, database: str | None) -> None:
        self.server_pid = server_pid
        self.database = database
        self.available = PROC.joinpath("self", "stat").exists()

    def snapshot_generator(self) -> float:
        """This process's CPU and that of the children it has waited for."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def snapshot(self) -> Snapshot | None:
        if not self.available:
            return None
        processes = _processes()
        tree: set[int] = set()
        if self.server_pid is not None and self.server_pid in processes:
            tree.add(self.server_pid)
            grew = True
            while grew:  # the uvicorn supervisor, its workers, and anything they start
                grew = False
                for pid, (_command, parent, _cpu) in processes.items():
                    if parent in tree and pid not in tree:
                        tree.add(pid)
                        grew = True
        return Snapshot(
            at=time.perf_counter(),
            server={pid: processes[pid][2] for pid in tree},
            postgres={
                pid: cpu
                for pid, (command, _p, cpu) in processes.items()
                if _postgres_process(command, self.database)
            },
            generator=self.snapshot_generator(),
        )


def follow(meter: CpuMeter, running: subprocess.Popen[str], every: float = 0.2) -> Snapshot | None:
    """Snapshots while ``running`` runs, merged: each process's last-seen CPU, so the
    PostgreSQL backends that exit with their client (pgbench) still count, up to the last
    ``every`` seconds of their life. The generator's CPU is read once the child has been
    waited for."""
    merged: Snapshot | None = None
    while True:
        done = running.poll() is not None
        seen = meter.snapshot()
        if seen is not None:
            merged = (
                seen
                if merged is None
                else Snapshot(
                    at=seen.at,
                    server={**merged.server, **seen.server},
                    postgres={**merged.postgres, **seen.postgres},
                    generator=seen.generator,
                )
            )
        if done:
            return merged
        time.sleep(every)


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots by the processes alive at the second (a process
    started meanwhile counts whole; one that exited meanwhile is lost)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def per_operation(before: Snapshot | None, after: Snapshot | None, ops: int) -> dict[str, float]:
    """CPU milliseconds per operation by whom, the cores kept busy, and the rate the two
    cores would allow the server and PostgreSQL with a load generator that cost nothing."""
    if before is None or after is None or ops <= 0:
        return {}
    elapsed = after.at - before.at
    server = _spent(before.server, after.server)
    postgres = _spent(before.postgres, after.postgres)
    generator = after.generator - before.generator
    cores = os.cpu_count() or 1
    return {
        "server_ms": round(server / ops * 1000, 3),
        "postgres_ms": round(postgres / ops * 1000, 3),
        "load_generator_ms": round(generator / ops * 1000, 3),
        "cores_busy": round((server + postgres + generator) / elapsed, 2) if elapsed else 0.0,
        "rate_without_generator": round(cores * ops / (server + postgres), 1)
        if server + postgres
        else 0.0,
    }
