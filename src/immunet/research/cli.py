"""``immunet research``: set a research client's privacy budget from a node's shell.

The operator at the command line acts as ``operator:cli``; the change is audited."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from immunet.partners.cli import _run

research_app = typer.Typer(help="Research clients: privacy budgets.", no_args_is_help=True)


@research_app.command("budget")
def budget(
    client_id: Annotated[str, typer.Option("--client-id", help="The research client's client_id")],
    dataset: Annotated[str, typer.Option(help="doses or aefi")],
    epsilon: Annotated[float, typer.Option(help="The total epsilon for this dataset")],
) -> None:
    """Set the total epsilon of a research client for a dataset (spent epsilon stays spent)."""
    from immunet.research.facts import Dataset
    from immunet.research.service import set_budget
    from immunet.staff.principal import OPERATOR_CLI

    try:
        chosen = Dataset(dataset)
    except ValueError as exc:
        raise typer.BadParameter("doses or aefi", param_hint="--dataset") from exc

    async def action(ctx: Any) -> None:
        await set_budget(
            ctx, client_id=client_id, dataset=chosen, epsilon=epsilon, actor=OPERATOR_CLI
        )

    _run(action)
    typer.echo(f"budget of {client_id} for {chosen.value}: epsilon {epsilon:g}", err=True)
