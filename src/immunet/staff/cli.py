"""``immunet staff``: provision and disable staff users from a node's shell.

The operator at the command line acts as ``operator:cli`` and may create any role in any
jurisdiction. With ``--json``, ``add`` prints exactly one JSON object on stdout; every
human message goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console

staff_app = typer.Typer(help="Staff users: provision and disable.", no_args_is_help=True)
_err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    _err.print(f"[red]error[/red]: {message}", highlight=False)
    return typer.Exit(code)


@staff_app.command("add")
def add(
    username: Annotated[str, typer.Option(help="Login name (3-64 of a-z 0-9 . _ -)")],
    role: Annotated[
        str,
        typer.Option(
            help="national_admin, state_admin, district_admin, "
            "facility_manager, vaccinator or verifier"
        ),
    ],
    jurisdiction: Annotated[
        str, typer.Option(help="national, state:<state_id>, district:<id> or center:<id>")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create a staff user; print its one-time password and TOTP otpauth:// URI."""
    from immunet.context import build_context
    from immunet.errors import ApiError
    from immunet.security.keyring import KeyringError
    from immunet.settings import get_settings
    from immunet.staff.principal import OPERATOR_CLI, InvalidJurisdiction, Jurisdiction
    from immunet.staff.service import NewStaffUser, create_staff_user

    try:
        place = Jurisdiction.parse(jurisdiction)
    except InvalidJurisdiction as exc:
        raise _fail(str(exc), 2) from exc

    async def run() -> NewStaffUser:
        ctx = build_context(get_settings())
        try:
            return await create_staff_user(
                ctx, username=username, role=role, jurisdiction=place, actor=OPERATOR_CLI
            )
        finally:
            await ctx.close()

    try:
        created = asyncio.run(run())
    except ApiError as exc:
        raise _fail(exc.message) from exc
    except KeyringError as exc:
        raise _fail(str(exc), 2) from exc
    result = {
        "username": created.user.username,
        "password": created.one_time_password,
        "otpauth_uri": created.otpauth_uri,
    }
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"username:          {result['username']}")
        typer.echo(f"one-time password: {result['password']}")
        typer.echo(f"TOTP (authenticator app): {result['otpauth_uri']}")
    _err.print(
        f"[green]created[/green] {created.user.role} for {place}; "
        "the password and TOTP secret are shown only now. The first login may only "
        "change the password (POST /api/staff/auth/password).",
        highlight=False,
    )


@staff_app.command("disable")
def disable(username: Annotated[str, typer.Option(help="Login name")]) -> None:
    """Disable a staff user and end all their sessions."""
    from immunet.context import build_context
    from immunet.errors import ApiError
    from immunet.security.keyring import KeyringError
    from immunet.settings import get_settings
    from immunet.staff.principal import OPERATOR_CLI
    from immunet.staff.service import disable_staff_user

    async def run() -> None:
        ctx = build_context(get_settings())
        try:
            await disable_staff_user(ctx, username=username, actor=OPERATOR_CLI)
        finally:
            await ctx.close()

    try:
        asyncio.run(run())
    except ApiError as exc:
        raise _fail(exc.message) from exc
    except KeyringError as exc:
        raise _fail(str(exc), 2) from exc
    _err.print(f"[green]disabled[/green] {username}; its sessions are revoked.", highlight=False)
