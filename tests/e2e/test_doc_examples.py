"""Every shell example of the README and docs/ runs as written against a served app.

The ``sh`` blocks that call ``$API`` are run with bash (``-euo pipefail``), curl and
python3 against the application served by uvicorn on a free port; the one value a reader
types (the OTP the SMS brought, read by ``read``) is typed from the SMS outbox.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from pathlib import Path

import pytest
import uvicorn

from immunet.app import create_app

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def _examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for number, match in enumerate(BLOCK.finditer(document.read_text("utf-8"))):
            if "$API" in match[1]:
                found.append((f"{document.relative_to(ROOT)}#{number}", match[1]))
    return found


EXAMPLES = _examples()


def test_the_readme_has_its_citizen_example():
    assert any("beneficiary/new" in text for _name, text in EXAMPLES)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(("name", "script"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
async def test_example_runs_as_written(settings, ctx, outbox, name, script):
    port = _free_port()
    app = create_app(settings, context=ctx)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # uvicorn offers no event for "listening"
            if server.started:
                break
            await asyncio.sleep(0.05)
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script,
            env={"API": f"127.0.0.1:{port}", "PATH": "/usr/bin:/bin:/usr/local/bin"},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        if "read -r" in script:  # the reader types the OTP the SMS brought
            for _ in range(200):
                # The app was given its context, so no outbox worker runs: deliver here.
                await ctx.drain_outbox()
                if any(m["template"] == "otp" for m in outbox.messages()):
                    break
                await asyncio.sleep(0.05)
            process.stdin.write(outbox.last_otp().encode() + b"\n")
            await process.stdin.drain()
        process.stdin.close()
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, f"{name}:\n{stdout.decode()}\n{stderr.decode()}"
        if "beneficiary/new" in script:
            assert "Asha Kumari" in stdout.decode()
    finally:
        server.should_exit = True
        await serving
