"""``immunet partner``: register partner clients and manage their state from a node's shell.

The operator at the command line acts as ``operator:cli``. With ``--json``, a command
prints exactly one JSON value on stdout; every human message goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

partner_app = typer.Typer(
    help="Partner apps and research clients: add, suspend, reinstate, rotate-key, list.",
    no_args_is_help=True,
)
_err = Console(stderr=True)
T = TypeVar("T")
MAX_JWKS_BYTES = 64 * 1024


def _fail(message: str, code: int = 1) -> typer.Exit:
    _err.print(f"[red]error[/red]: {message}", highlight=False)
    return typer.Exit(code)


def _run(action: Callable[[Any], Awaitable[T]]) -> T:
    from immunet.context import build_context
    from immunet.errors import ApiError
    from immunet.security.keyring import KeyringError
    from immunet.settings import get_settings

    async def run() -> T:
        ctx = build_context(get_settings())
        try:
            return await action(ctx)
        finally:
            await ctx.close()

    try:
        return asyncio.run(run())
    except ApiError as exc:
        raise _fail(exc.message) from exc
    except KeyringError as exc:
        raise _fail(str(exc), 2) from exc


ClientId = Annotated[str, typer.Option("--client-id", help="The client's client_id")]


@partner_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="The partner organisation's name")],
    jwks: Annotated[Path, typer.Option(help="File with the client's public JWKS")],
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="An exact redirect URI")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="An app: immunization.read, certificate.read, appointment.write; "
            "a research client: research.aggregates, research.dp, research.extracts",
        ),
    ] = None,
    allow_cidr: Annotated[
        list[str] | None,
        typer.Option("--allow-cidr", help="A source address range (a second layer only)"),
    ] = None,
    purpose: Annotated[str, typer.Option(help="Purpose statement shown to citizens")] = "",
    contact: Annotated[str, typer.Option(help="Contact of the partner")] = "",
    kind: Annotated[str, typer.Option(help="app or research")] = "app",
    reads_per_minute: Annotated[int, typer.Option(help="Person reads per minute")] = 60,
    reads_per_day: Annotated[int, typer.Option(help="Person reads per day")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Register a client; print its client_id and (for apps) its API key, shown only now."""
    from immunet.partners.service import NewClient, add_partner_client
    from immunet.staff.principal import OPERATOR_CLI

    try:
        raw = jwks.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {jwks}", 2) from exc
    if len(raw) > MAX_JWKS_BYTES:
        raise _fail("the JWKS file is too large", 2)
    try:
        key_set = json.loads(raw)
    except ValueError as exc:
        raise _fail("the JWKS file is not JSON", 2) from exc

    async def action(ctx: Any) -> NewClient:
        return await add_partner_client(
            ctx,
            name=name,
            jwks=key_set,
            redirect_uris=redirect_uri or [],
            scopes=scope or [],
            allowed_cidrs=allow_cidr or [],
            purpose=purpose,
            contact=contact,
            kind=kind,
            reads_per_minute=reads_per_minute,
            reads_per_day=reads_per_day,
            actor=OPERATOR_CLI,
        )

    created = _run(action)
    result: dict[str, str | None] = {"client_id": created.client_id, "api_key": created.api_key}
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"client_id: {created.client_id}")
        if created.api_key:
            typer.echo(f"api_key:   {created.api_key}")
    _err.print(
        "[green]registered[/green]; the API key is shown only now and stored as a keyed hash.",
        highlight=False,
    )


@partner_app.command("suspend")
def suspend(
    client_id: ClientId,
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit log)")] = "admin",
) -> None:
    """Suspend a client: its tokens and API key are refused from the next call."""
    from immunet.partners.service import suspend_client
    from immunet.staff.principal import OPERATOR_CLI

    _run(lambda ctx: suspend_client(ctx, client_id=client_id, actor=OPERATOR_CLI, reason=reason))
    _err.print(f"[green]suspended[/green] {client_id}", highlight=False)


@partner_app.command("reinstate")
def reinstate(client_id: ClientId) -> None:
    """Reinstate a suspended client."""
    from immunet.partners.service import reinstate_client
    from immunet.staff.principal import OPERATOR_CLI

    _run(lambda ctx: reinstate_client(ctx, client_id=client_id, actor=OPERATOR_CLI))
    _err.print(f"[green]reinstated[/green] {client_id}", highlight=False)


@partner_app.command("rotate-key")
def rotate_key(
    client_id: ClientId,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Issue a new API key (shown once); the old one stops working at once."""
    from immunet.partners.service import rotate_api_key
    from immunet.staff.principal import OPERATOR_CLI

    api_key = _run(lambda ctx: rotate_api_key(ctx, client_id=client_id, actor=OPERATOR_CLI))
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "api_key": api_key}))
    else:
        typer.echo(f"api_key: {api_key}")


@partner_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array")] = False,
) -> None:
    """Every registered client, with its state, scopes and quotas (never a key)."""
    from immunet.partners.service import ClientView, list_clients

    async def action(ctx: Any) -> list[ClientView]:
        views: list[ClientView] = []
        after: str | None = None
        while True:
            page, after = await list_clients(ctx, after=after)
            views.extend(page)
            if after is None:
                return views

    views = _run(action)
    rows = [
        {
            "client_id": v.client_id,
            "name": v.name,
            "kind": v.kind,
            "state": v.state,
            "scopes": v.scopes,
            "redirect_uris": v.redirect_uris,
            "allowed_cidrs": v.allowed_cidrs,
            "reads_per_minute": v.reads_per_minute,
            "reads_per_day": v.reads_per_day,
        }
        for v in views
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for v in views:
        typer.echo(f"{v.client_id}  {v.state:<9}  {v.name}  {' '.join(v.scopes)}")
