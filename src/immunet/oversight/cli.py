"""``immunet canary`` and ``immunet alerts``: operator commands of the misuse defences."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console

canary_app = typer.Typer(help="Canary (decoy) beneficiaries.", no_args_is_help=True)
alerts_app = typer.Typer(help="Insider-misuse alerts.", no_args_is_help=True)
_err = Console(stderr=True)


@canary_app.command("seed")
def seed(
    center_id: Annotated[
        int | None,
        typer.Option("--center-id", help="Centre whose area the decoys are seeded for (audit)"),
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=50, help="How many decoys")] = 3,
) -> None:
    """Create decoy beneficiaries. They are booked nowhere, so they are on no roster: only
    a look-up by reference ID, a download or a break-glass reaches one (and suspends).

    Prints their reference IDs as JSON on stdout: keep them private to the operators.
    """
    from immunet.context import build_context
    from immunet.errors import ApiError
    from immunet.oversight.canary import SeededCanary, seed_canaries
    from immunet.settings import get_settings
    from immunet.staff.principal import OPERATOR_CLI

    async def run() -> list[SeededCanary]:
        ctx = build_context(get_settings())
        try:
            return await seed_canaries(ctx, center_id=center_id, count=count, actor=OPERATOR_CLI)
        finally:
            await ctx.close()

    try:
        seeded = asyncio.run(run())
    except ApiError as exc:
        _err.print(f"[red]error[/red]: {exc.message}", highlight=False)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"canaries": [{"reference_id": s.reference_id} for s in seeded]}))
    _err.print(f"[green]seeded[/green] {len(seeded)} canaries")


@alerts_app.command("evaluate")
def evaluate() -> None:
    """Run the heavier anomaly rules over the last day (run it periodically, e.g. hourly)."""
    from immunet.context import build_context
    from immunet.settings import get_settings
    from immunet.staff.misuse import evaluate_anomalies

    async def run() -> int:
        ctx = build_context(get_settings())
        try:
            return len(await evaluate_anomalies(ctx, ctx.clock.now()))
        finally:
            await ctx.close()

    raised = asyncio.run(run())
    typer.echo(json.dumps({"alerts_raised": raised}))
