"""CI gate: known vulnerabilities in the locked dependencies (pip-audit on the lock files).

Fails (exit 1) when pip-audit reports a vulnerability, or cannot run at all. A dependency
the vulnerability service could not judge (service unreachable, or a version it does not
know) does not fail the gate — an offline CI must still build — but is said plainly, with
the count, so nobody reads "no vulnerabilities found" as "audited". Set
IMMUNET_AUDIT_STRICT=1 to fail on those too (release builds with network).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

LOCKS = ["requirements.lock", "requirements-dev.lock"]


def main() -> int:
    command = [sys.executable, "-m", "pip_audit", "--disable-pip", "--require-hashes"]
    command += ["--progress-spinner", "off", "--timeout", "20", "-f", "json"]
    for lock in LOCKS:
        command += ["-r", lock]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"audit: pip-audit did not run:\n{done.stderr[-2000:]}", file=sys.stderr)
        return 1
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = len(deps) - len(skipped)
    for dep in vulnerable:
        ids = ", ".join(v["id"] for v in dep["vulns"])
        print(f"audit: VULNERABLE {dep['name']} {dep.get('version')}: {ids}", file=sys.stderr)
    print(
        f"audit: {audited} of {len(deps)} locked dependencies audited, {len(vulnerable)} vulnerable"
    )
    if skipped:
        print(
            f"audit: WARNING {len(skipped)} could not be audited (the vulnerability service "
            "was unreachable or does not know the version), e.g.: "
            + "; ".join(d["skip_reason"] for d in skipped[:3])
        )
    if vulnerable:
        return 1
    if skipped and os.environ.get("IMMUNET_AUDIT_STRICT") == "1":
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
