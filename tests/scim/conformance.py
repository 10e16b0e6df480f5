"""SCIM 2.0 conformance of one directory (RFC 7643/7644), by two checkers.

    python tests/scim/conformance.py BASE_URL    (token: SCIM_TOKEN)

1. scim2-tester's check_server over scim2-client, after discovery: every
   resource type the server advertises gets the create, read, list, attribute
   projection, replace, delete and PATCH add/remove/replace checks. A result
   passes when it is SUCCESS, COMPLIANT or ACCEPTABLE; anything else (ERROR,
   CRITICAL, DEVIATION, SKIPPED) fails unless ALLOWED names it with a reason.
2. scim-sanity's probe, strict: any fail or error fails; a skip passes only
   for a resource type the server does not advertise. Warnings are printed.

Prints every result on one line, the details of each failure after them,
and exits 1 if anything failed. Runs from .venv-scim (scripts/tools.sh scim).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

# Results of check_server that pass although not a success: (title, status,
# pattern of the reason) → why. Patterns name no resource type, so a type the
# server comes to advertise gets the same judgement.
ALLOWED = {
    (
        "search_with_attributes",
        Status.SKIPPED,
        r"^POST /\.search: searching several resource types at once is not supported",
    ): "a search across resource types at the root (POST /.search) is a MAY of "
    "RFC 7644 §3.4.3; a server without it answers 501 (§3.12), which the "
    "checker itself reports as this skip",
}

# The server answers a cold function slowly under `cargo lambda watch`.
TIMEOUT = 60
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


def one_line(text) -> str:
    return " | ".join(str(text or "").split("\n"))


def detail(data) -> str:
    """The debugging data of a result, readable and bounded."""
    if data is None:
        return ""
    if hasattr(data, "status_code") and hasattr(data, "text"):  # a raw response
        request = getattr(data, "request", None)
        sent = f"{request.method} {request.url} → " if request is not None else ""
        text = f"{sent}{data.status_code} {data.headers.get('content-type', '')} {data.text}"
        return text if len(text) <= 1500 else text[:1500] + "…"
    try:
        text = json.dumps(data, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(data)
    return text if len(text) <= 1500 else text[:1500] + "…"


def allowed(result) -> str | None:
    for (title, status, pattern), why in ALLOWED.items():
        if result.title == title and result.status == status and re.search(pattern, result.reason or ""):
            return why
    return None


def run_tester(base: str, token: str) -> tuple[list[str], set[str]]:
    """check_server's results; returns the failures and the advertised resource types."""
    http = httpx2.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    client = SyncSCIMClient(http)
    try:
        client.discover()
    except Exception as exc:  # the checks cannot start without a description
        return [f"discovery failed: {type(exc).__name__}: {exc} {' '.join(getattr(exc, '__notes__', []))}"], set()
    advertised = {resource_type.name for resource_type in client.provider.resource_types}
    print(f"==> scim2-tester: resource types advertised: {', '.join(sorted(advertised)) or 'none'}")
    results = check_server(client)
    failures = []
    for result in results:
        why = None if result.status in PASSING else allowed(result)
        mark = "allowed " if why else ""
        line = (
            f"{mark}{result.status.name:<10} {result.resource_type or '-':<8} "
            f"{result.title}: {one_line(result.reason)}"
        )
        print(line)
        if why:
            print(f"           allowed because {why}")
        elif result.status not in PASSING:
            failures.append(f"{line}\n    data: {detail(result.data)}")
    http.close()
    if not results:
        failures.append("scim2-tester ran no check")
    return failures, advertised


def run_sanity(base: str, token: str, advertised: set[str]) -> list[str]:
    """scim-sanity's probe, strict; a skip passes only for a type not advertised."""
    sanity = Path(sys.executable).with_name("scim-sanity")
    proc = subprocess.run(
        [str(sanity), "probe", base, "--token", token, "--i-accept-side-effects",
         "--json-output", "--strict", "--timeout", str(TIMEOUT)],
        capture_output=True, text=True, check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return [f"scim-sanity printed no JSON (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"]
    print(f"==> scim-sanity {report.get('scim_sanity_version')} ({report.get('mode')}): {report.get('summary')}")
    failures = []
    for result in report.get("results", []):
        status, name, message = result["status"], result["name"], one_line(result.get("message"))
        line = f"{status.upper():<10} {result.get('phase', ''):<36} {name}: {message}"
        print(line)
        if status in ("fail", "error"):
            failures.append(line + (f"\n    details: {one_line(result['details'])}" if result.get("details") else ""))
        elif status == "skip":
            # The probe skips a type's lifecycle when the server does not list it.
            kind = name.split()[0]
            if kind in advertised or re.search(r"not supported by server|not in scope|not supported or not in scope", message) is None:
                failures.append(line + "  (a skip of something the server advertises)")
    if not report.get("results"):
        failures.append("scim-sanity ran no check")
    if proc.returncode != 0 and not failures:
        failures.append(f"scim-sanity exited {proc.returncode} with no failed result:\n{proc.stderr}")
    return failures


def main() -> int:
    if len(sys.argv) != 2 or not os.environ.get("SCIM_TOKEN"):
        print("usage: SCIM_TOKEN=scim_... conformance.py BASE_URL", file=sys.stderr)
        return 2
    base, token = sys.argv[1].rstrip("/"), os.environ["SCIM_TOKEN"]
    print(f"==> scim2-tester check_server against {base}")
    tester_failures, advertised = run_tester(base, token)
    print(f"==> scim-sanity probe against {base}")
    sanity_failures = run_sanity(base, token, advertised)
    for name, failures in (("scim2-tester", tester_failures), ("scim-sanity", sanity_failures)):
        if failures:
            print(f"==> {name}: {len(failures)} failed:")
            for failure in failures:
                print(failure)
    if tester_failures or sanity_failures:
        print(f"conformance: {len(tester_failures)} scim2-tester and {len(sanity_failures)} scim-sanity failures")
        return 1
    print("conformance: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
