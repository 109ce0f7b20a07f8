"""``immunet schedule``: run the CDSi engine on one case file, so it can be checked from outside.

``immunet schedule evaluate CASE.json --json`` prints one JSON object on stdout with the case's
own field names (``doses[].evaluationStatus``, ``evaluation.seriesStatus``, ``forecast.*``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from immunet.schedules.cases import evaluate_case
from immunet.schedules.supporting import VERSIONS

schedule_app = typer.Typer(help="Immunization schedules (CDC CDSi logic).", no_args_is_help=True)
_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error[/red]: {message}", highlight=False)
    return typer.Exit(2)


@schedule_app.command("evaluate")
def evaluate(
    case_file: Annotated[Path, typer.Argument(help="One CDSi case (patient, doses, date)")],
    supporting_data: Annotated[
        str | None,
        typer.Option(
            "--supporting-data",
            help="v4.38 or v4.64 (default: the release that goes with the case)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Evaluate a case's doses and forecast the next dose of its vaccine group."""
    if supporting_data is not None and supporting_data not in VERSIONS:
        raise _fail(f"--supporting-data must be one of {', '.join(VERSIONS)}")
    try:
        case: Any = json.loads(case_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"cannot read {case_file}: {exc}") from exc
    if not isinstance(case, dict):
        raise _fail("the case must be one JSON object")
    try:
        answer = evaluate_case(case, supporting_data)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(f"not a CDSi case: {exc!r}") from exc
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False))
        return
    forecast = answer["forecast"]
    for i, dose in enumerate(answer["doses"], start=1):
        reason = f" ({dose['evaluationReason']})" if dose["evaluationReason"] else ""
        typer.echo(
            f"dose {i} {dose['dateAdministered'][:10]} cvx {dose['cvx']}: "
            f"{dose['evaluationStatus']}{reason}"
        )
    typer.echo(f"{answer['vaccineGroup']}: {answer['evaluation']['seriesStatus']}")
    if forecast["forecastNum"] not in ("", "-"):
        typer.echo(
            f"next dose {forecast['forecastNum']}: earliest {forecast['earliestDate'][:10]}, "
            f"recommended {forecast['recommendedDate'][:10]}, "
            f"past due {forecast['pastDueDate'][:10]}"
        )
