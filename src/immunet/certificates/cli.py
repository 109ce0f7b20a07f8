"""``immunet verify``, ``immunet trust export|import`` and ``immunet keys rotate-certificates``.

``immunet verify`` works offline with ``--trust-list FILE`` (no database, no key ring): the
way a border post or an airline checks a certificate. It prints the verification result as
one JSON object on stdout (the shape of ``POST /api/v2/certificates/verify``) and exits 0
when the certificate is valid, 1 when it is not, 2 on usage errors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

trust_app = typer.Typer(
    help="Certificate trust lists: export immunet's, import other issuers'.",
    no_args_is_help=True,
)
_err = Console(stderr=True)
T = TypeVar("T")
MAX_INPUT_FILE = 4 * 1024 * 1024  # = inputs.MAX_IMAGE_BYTES: a photo of the QR code


def _fail(message: str, code: int = 2) -> typer.Exit:
    _err.print(f"[red]error[/red]: {message}", highlight=False)
    return typer.Exit(code)


def _with_context(work: Callable[[Any], Awaitable[T]]) -> T:
    from immunet.context import build_context
    from immunet.settings import get_settings

    async def run() -> T:
        ctx = build_context(get_settings())
        try:
            return await work(ctx)
        finally:
            await ctx.close()

    return asyncio.run(run())


def _parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fail(f"--at must be an ISO-8601 time, not {value!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _read_input(value: str) -> str | bytes:
    """The QR text itself, or the contents of the file it names.

    A file may hold a QR text, a JWS, a ``.smart-health-card`` file, a ``$health-cards-issue``
    response or an image of the QR code: the verifier tells them apart. Text is passed as it
    is (only the file's final line break is dropped, by the verifier), because characters
    around a QR text make it invalid."""
    path = Path(value)
    try:
        is_file = len(value) < 4096 and path.is_file()
    except OSError:
        is_file = False
    if not is_file:
        return value
    if path.stat().st_size > MAX_INPUT_FILE:
        raise _fail(f"{value} is too large to be a certificate")
    return path.read_bytes()  # text, an image or raw bytes from a scanner (DIVOC's ZIP QR)


def verify_command(
    qr: Annotated[str, typer.Argument(metavar="QR-TEXT|FILE", help="QR text or a file holding it")],
    trust_list: Annotated[
        Path | None,
        typer.Option("--trust-list", help="Trust list JSON file: verify offline, no database"),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Verify as of this ISO-8601 time (default: now)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result object (the default output)")
    ] = True,
) -> None:
    """Verify a certificate (EU DCC, SMART Health Card or W3C VC): exit 0 valid, 1 invalid.

    Give the QR text, or a file: QR text, JWS, .smart-health-card, $health-cards-issue
    response, or a PNG/JPEG/WebP image of the QR code."""
    from immunet.certificates.divoc import InvalidDivocEntry
    from immunet.certificates.trust import InvalidTrustEntry, TrustList
    from immunet.certificates.verify import VerificationResult, verify_qr

    when = _parse_time(at)
    text = _read_input(qr)
    result: VerificationResult
    if trust_list is not None:
        try:
            trust = TrustList.from_json(trust_list.read_text(encoding="utf-8"))
        except (InvalidTrustEntry, InvalidDivocEntry) as exc:
            raise _fail(f"the trust list {trust_list} is refused: {exc}") from exc
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _fail(f"cannot read the trust list {trust_list}: {type(exc).__name__}") from exc
        result = verify_qr(text, trust, at=when)
    else:
        from immunet.certificates import service

        result = _with_context(lambda ctx: service.verify(ctx, text, at=when))
    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, sort_keys=True))
    if not result.valid and result.detail:
        _err.print(f"{result.reason}: {result.detail}", highlight=False, markup=False)
    raise typer.Exit(0 if result.valid else 1)


@trust_app.command("export")
def trust_export(
    file: Annotated[Path, typer.Argument(help="Where to write the trust list JSON")],
) -> None:
    """Write immunet's trust list (public keys and revocations) for offline verifiers."""
    from immunet.certificates import service

    document = _with_context(service.published_trust_list)
    file.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _err.print(f"[green]wrote[/green] {file}")


@trust_app.command("import")
def trust_import(
    file: Annotated[Path, typer.Argument(help="Another issuer's trust list JSON")],
    label: Annotated[str | None, typer.Option(help="A name for this issuer")] = None,
) -> None:
    """Trust another issuer's keys (and honour its revocations) in /verify."""
    from immunet.certificates import service
    from immunet.errors import ApiError
    from immunet.staff.principal import OPERATOR_CLI

    try:
        if file.stat().st_size > service.MAX_TRUST_FILE:
            raise _fail(f"{file} is too large")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {file}: {type(exc).__name__}") from exc
    try:
        added = _with_context(
            lambda ctx: service.import_trust_list(
                ctx,
                text,
                label=label or file.name,
                actor=OPERATOR_CLI.actor,
                context=OPERATOR_CLI.context,
            )
        )
    except ApiError as exc:
        raise _fail(exc.message, 1) from exc
    _err.print("[green]imported[/green]" if added else "already imported; nothing changed")


def rotate_certificates_command() -> None:
    """New certificate signing keys; earlier certificates keep verifying (old public keys stay)."""
    from immunet.certificates import service
    from immunet.staff.principal import OPERATOR_CLI

    row_id = _with_context(
        lambda ctx: service.rotate_keys(ctx, actor=OPERATOR_CLI.actor, context=OPERATOR_CLI.context)
    )
    _err.print(f"[green]certificate keys rotated[/green]: active key set {row_id}")
