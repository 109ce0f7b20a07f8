"""The ``immunet`` command line."""

from __future__ import annotations

import asyncio
import copy
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from immunet.certificates.cli import rotate_certificates_command, trust_app, verify_command
from immunet.oversight.cli import alerts_app, canary_app
from immunet.partners.cli import partner_app
from immunet.research.cli import research_app
from immunet.schedules.cli import schedule_app
from immunet.settings import Environment, Settings, get_settings
from immunet.staff.cli import staff_app

app = typer.Typer(help="immunet: national vaccination platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="The key ring: create, rotate, re-encrypt.", no_args_is_help=True)
audit_app = typer.Typer(help="The verifiable audit log.", no_args_is_help=True)
outbox_app = typer.Typer(help="The SMS outbox.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(outbox_app, name="outbox")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(staff_app, name="staff")
app.add_typer(canary_app, name="canary")
app.add_typer(alerts_app, name="alerts")
app.add_typer(trust_app, name="trust")
app.add_typer(schedule_app, name="schedule")
reminders_app = typer.Typer(help="Routine-immunization reminders by SMS.", no_args_is_help=True)
app.add_typer(reminders_app, name="reminders")
app.add_typer(partner_app, name="partner")
app.add_typer(research_app, name="research")
app.command("verify")(verify_command)
keys_app.command("rotate-certificates")(rotate_certificates_command)

# soft_wrap: URLs, passwords and otpauth URIs must stay on one line to be copied.
console = Console(stderr=True, soft_wrap=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to IMMUNET_DATABASE_URL and load reference data."""
    from immunet.db.migrate import upgrade_and_seed

    settings = get_settings()
    added = upgrade_and_seed(settings.database_url)
    console.print(f"[green]database at head[/green]; reference rows added: {added}")
    _ensure_certificate_keys(settings)


def _ensure_certificate_keys(settings: Settings) -> None:
    """Create the certificate signing keys when there are none (``/readyz`` fails until then)."""
    from immunet.certificates import service
    from immunet.context import build_context, load_keyring
    from immunet.security.keyring import KeyringError

    try:
        keyring = load_keyring(settings)
    except (KeyringError, OSError) as exc:
        console.print(
            f"[yellow]certificate signing keys not checked[/yellow]: {exc}; run "
            "`immunet keys init`, then `immunet db upgrade` again (/readyz fails until then)"
        )
        return

    async def run() -> str:
        ctx = build_context(settings, keyring=keyring)
        try:
            async with ctx.db.transaction() as session:
                keyset = await service.active_keyset(ctx, session)
        finally:
            await ctx.close()
        return keyset.issuer

    issuer = asyncio.run(run())
    console.print(f"[green]certificate signing keys present[/green] (issuer {issuer})")


@db_app.command("check")
def db_check() -> None:
    """Fail when the models and the migrated database disagree."""
    from immunet.db.migrate import schema_drift

    drift = asyncio.run(schema_drift(get_settings().database_url))
    if drift:
        for item in drift:
            console.print(f"[red]drift[/red] {item}")
        raise typer.Exit(1)
    console.print("[green]models and migrations agree[/green]")


@keys_app.command("init")
def keys_init(
    force: Annotated[
        bool, typer.Option(help="Replace an existing key ring (data is lost!)")
    ] = False,
) -> None:
    """Create a new key ring at IMMUNET_KEYRING."""
    from immunet.security.keyring import Keyring

    settings = get_settings()
    path = settings.keyring
    if path.exists() and not force:
        console.print(f"key ring already exists at {path}; nothing changed")
        return
    ring = Keyring.generate(environment=str(settings.env))
    ring.save(path)
    console.print(f"[green]created[/green] {settings.env} key ring at {path}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add new field and vault keys and make them current (old keys stay for decryption)."""
    from immunet.security.keyring import Keyring

    settings = get_settings()
    ring = Keyring.load(settings.keyring)
    field_version, vault_version = ring.rotate()
    ring.save(settings.keyring)
    console.print(
        f"[green]rotated[/green]: field key v{field_version}, vault key v{vault_version}. "
        "Restart workers, then run `immunet keys reencrypt`."
    )


@keys_app.command("reencrypt")
def keys_reencrypt(
    batch_size: Annotated[int, typer.Option(min=1, max=10000)] = 500,
) -> None:
    """Re-encrypt every sealed field under the current keys, in batches, resumably."""
    from immunet.security.reencrypt import reencrypt_all

    settings = get_settings()
    with _progress() as progress:
        task = progress.add_task("re-encrypting", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        changed = asyncio.run(reencrypt_all(settings, batch_size=batch_size, progress=advance))
    console.print(f"[green]done[/green]: {changed} rows re-encrypted")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute every audit leaf, position, stored subtree and signed checkpoint."""
    from immunet.context import load_keyring
    from immunet.db.engine import Database
    from immunet.security.audit import AuditChain, ChainReport
    from immunet.security.keyring import Keyring, KeyringError
    from immunet.security.transparency import CheckpointReport, verify_checkpoints

    settings = get_settings()
    keyring: Keyring | None
    try:
        keyring = load_keyring(settings)
    except KeyringError:
        keyring = None  # the chain is still checked; signed checkpoints then cannot be

    async def run() -> tuple[ChainReport, CheckpointReport]:
        db = Database(settings.database_url)
        try:
            async with db.reader() as session:
                with _progress() as progress:
                    task = progress.add_task("verifying", total=None)
                    chain = await AuditChain.verify(
                        session, progress=lambda n: progress.advance(task, n)
                    )
                checkpoints = await verify_checkpoints(session, keyring)
                return chain, checkpoints
        finally:
            await db.dispose()

    report, checkpoints = asyncio.run(run())
    if not report.ok:
        where = f" at entry {report.broken_at}" if report.broken_at is not None else ""
        console.print(f"[red]audit log broken{where}[/red]: {report.reason}")
        raise typer.Exit(1)
    console.print(
        f"[green]audit log intact[/green]: {report.entries} entries, {report.sequenced} "
        f"sequenced ({report.pending} awaiting the sequencer), root {report.head}"
    )
    if not checkpoints.ok:
        console.print(f"[red]audit checkpoints invalid[/red]: {checkpoints.problem}")
        raise typer.Exit(1)
    console.print(f"[green]checkpoints verified[/green]: {checkpoints.checked} signed, consistent")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sequence pending audit entries and sign a checkpoint now (idle when a sequencer leads)."""
    from immunet.context import load_keyring
    from immunet.db.engine import Database
    from immunet.security.transparency import CheckpointView, create_checkpoint

    settings = get_settings()
    keyring = load_keyring(settings)

    async def run() -> CheckpointView | None:
        db = Database(settings.database_url)
        try:
            return await create_checkpoint(db, keyring)
        finally:
            await db.dispose()

    view = asyncio.run(run())
    if view is None:
        console.print("the audit log is empty; nothing to sign")
        return
    typer.echo(json.dumps({"tree_size": view.tree_size, "root_hash": view.root_hash}))


@app.command("sequencer")
def sequencer(
    interval: Annotated[float, typer.Option(min=0.05, max=60, help="Seconds between steps")] = 1.0,
) -> None:
    """Run the audit sequencer (leader-elected: start one per node, one sequences)."""
    from immunet.context import load_keyring
    from immunet.db.engine import Database
    from immunet.security.sequencer import Sequencer

    settings = get_settings()
    keyring = load_keyring(settings)

    async def run() -> None:
        import signal

        db = Database(settings.database_url, pool_size=1)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await Sequencer(db, keyring, full_sweep=True).run(stop, interval)
        finally:
            await db.dispose()

    console.print("audit sequencer: campaigning (Ctrl-C stops)")
    asyncio.run(run())


@app.command("worker")
def worker(
    interval: Annotated[
        float | None,
        typer.Option(min=0.05, max=60, help="Seconds between polls [IMMUNET_OUTBOX_POLL_SECONDS]"),
    ] = None,
    with_sequencer: Annotated[
        bool,
        typer.Option(
            "--sequencer/--no-sequencer", help="Also campaign to lead the audit sequencer"
        ),
    ] = True,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (loopback)")
    ] = None,
    with_reminders: Annotated[
        bool,
        typer.Option(
            "--reminders/--no-reminders", help="Also sweep routine-immunization reminders hourly"
        ),
    ] = True,
) -> None:
    """Deliver the SMS outbox (and run the audit sequencer); start as many as needed."""
    from immunet.context import build_context
    from immunet.security.sequencer import Sequencer

    settings = get_settings()
    poll = interval if interval is not None else settings.outbox_poll_seconds
    start_metrics_listener(settings, metrics_port)

    async def run() -> None:
        import signal

        ctx = build_context(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(ctx.outbox_worker().run(stop, ctx.outbox.wake, poll))]
        if with_sequencer:
            tasks.append(
                asyncio.create_task(Sequencer(ctx.db, ctx.keyring, full_sweep=True).run(stop))
            )
        if with_reminders:
            from immunet.vaccination.reminders import run_periodically

            tasks.append(asyncio.create_task(run_periodically(ctx, stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            await ctx.close()
        console.print("worker stopped")

    console.print(
        f"worker: draining the SMS outbox every {poll:g} s"
        + (", campaigning for the audit sequencer" if with_sequencer else "")
        + " (Ctrl-C stops)"
    )
    asyncio.run(run())


@reminders_app.command("run")
def reminders_run() -> None:
    """Queue the reminders owed today (ctx.clock); each is queued once, ever (dedup key)."""
    from immunet.context import build_context
    from immunet.vaccination.reminders import run_sweep

    async def run() -> dict[str, Any]:
        ctx = build_context(get_settings())
        try:
            result = await run_sweep(ctx)
        finally:
            await ctx.close()
        return {
            "date": result.today.isoformat(),
            "people": result.people,
            "queued": result.queued,
            "already_queued": result.already,
            "by_kind": dict(result.by_kind),
        }

    typer.echo(json.dumps(asyncio.run(run()), sort_keys=True))


@outbox_app.command("status")
def outbox_status() -> None:
    """Messages pending, sent and dead-lettered (no content, no recipients)."""
    from immunet.db.engine import Database
    from immunet.outbox.worker import counts

    settings = get_settings()

    async def run() -> dict[str, int]:
        db = Database(settings.database_url, pool_size=1)
        try:
            return await counts(db)
        finally:
            await db.dispose()

    typer.echo(json.dumps(asyncio.run(run())))


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
) -> None:
    """Serve the API and pages."""
    import uvicorn

    from immunet.context import load_keyring

    settings = get_settings()
    load_keyring(settings)  # fail fast, before forking workers
    start_metrics_listener(settings, settings.metrics_port, workers=workers)
    uvicorn.run(
        "immunet.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        server_header=False,
        log_level="info",
        # uvicorn's access log prints the full path and query string, which can carry
        # identifiers; immunet.access logs the route template, status and request id instead.
        access_log=False,
        log_config=serve_log_config(),
        timeout_keep_alive=5,
    )


def start_metrics_listener(settings: Settings, port: int | None, *, workers: int = 1) -> None:
    """Serve Prometheus metrics on their own port (decision 0019); nothing when unset.

    With several workers each writes its samples under ``PROMETHEUS_MULTIPROC_DIR`` (set
    here, before any worker starts, to a fresh directory unless the operator chose one)
    and this process's listener adds them up.
    """
    if port is None:
        return
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import atexit
        import shutil
        import tempfile

        samples = tempfile.mkdtemp(prefix="immunet-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = samples
        atexit.register(shutil.rmtree, samples, ignore_errors=True)
    from immunet.observability.metrics import start_listener
    from immunet.observability.probes import database_probe

    start_listener(settings.metrics_host, port, database_probe(settings.database_url))
    console.print(f"metrics: http://{settings.metrics_host}:{port}/metrics")


def serve_log_config() -> dict[str, Any]:
    """uvicorn's logging, without its access log, plus immunet's loggers on stderr;
    JSON lines unless ``IMMUNET_LOG_FORMAT=text``."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    if get_settings().log_format == "json":
        config["formatters"]["default"] = {"()": "immunet.observability.logs.JsonFormatter"}
    # Silenced twice over: access_log=False, and no handler should it log anyway.
    config["loggers"]["uvicorn.access"] = {"handlers": [], "level": "CRITICAL", "propagate": False}
    config["handlers"].pop("access", None)
    config["formatters"].pop("access", None)
    config["loggers"]["immunet"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@app.command("demo")
def demo(
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Create ./var with an SQLite database, fresh keys and demo data, then serve."""
    from immunet.demo import prepare_demo

    var = Path("var").resolve()
    os.environ.setdefault("IMMUNET_DATABASE_URL", f"sqlite:///{var / 'immunet.sqlite3'}")
    os.environ.setdefault("IMMUNET_KEYRING", str(var / "keyring.json"))
    os.environ.setdefault("IMMUNET_SMS_BACKEND", "console")
    os.environ.setdefault("IMMUNET_ENV", "development")
    os.environ.setdefault("IMMUNET_LOG_FORMAT", "text")  # read by a person at a terminal
    get_settings.cache_clear()
    settings = get_settings()
    if settings.env is Environment.PRODUCTION:
        console.print("[red]the demo never runs in production[/red]")
        raise typer.Exit(2)
    info = prepare_demo(settings)
    base = f"http://127.0.0.1:{port}"
    console.print(f"\n[bold]immunet demo[/bold] — data in {var}")
    console.print(f"  API docs:   {base}/docs")
    console.print(f"  OpenAPI:    {base}/openapi.json")
    console.print(f"  Health:     {base}/healthz   Ready: {base}/readyz")
    console.print(f"  States:     {base}/api/v2/admin/location/states")
    # The web portal, same origin (English and Hindi: the switch is on every page).
    console.print(f"  Portal:     {base}/   (find a session by PIN code or district)")
    console.print(f"  Citizen:    {base}/login   (mobile + OTP, printed here) then {base}/me")
    console.print(f"  Verifier:   {base}/verify   (paste a certificate's QR text)")
    console.print(f"  Staff:      {base}/staff/login   (username, password, authentication code)")
    for line in info:
        console.print(f"  {line}")
    console.print(
        '  Citizen login: POST /api/v2/auth/public/generateOTP {"mobile": "9999900001"}; '
        "the OTP is printed here by the console SMS gateway; then POST "
        '/api/v2/auth/public/confirmOTP {"otp": sha256hex(OTP), "txnId": ...}\n'
    )
    if serve_after:
        serve(host="127.0.0.1", port=port, workers=1)


@app.command("version")
def version() -> None:
    """Print the version."""
    from immunet import __version__

    typer.echo(json.dumps({"immunet": __version__}))


if __name__ == "__main__":
    app()
