"""`herkomst demo`: the README's main job, end to end on SQLite.

Starts a collector, creates an organisation and tokens, enrols an agent, submits a report and prints what an
analyst sees. With `--sample` the report is a stored example; otherwise the agent scans the lab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 160)
SAMPLE = Path(__file__).parent / "demo" / "sample-report.json"


@contextmanager
def collector(data_dir: Path, host: str, port: int) -> Iterator[str]:
    """A collector process on SQLite in `data_dir`, for as long as the block runs."""
    env = {**os.environ, "HERKOMST_DATA_DIR": str(data_dir)}
    env.pop("HERKOMST_DATABASE_URL", None)
    log = open(data_dir / "collector.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "collector", "serve", "--host", host, "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://{host}:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise SystemExit(f"the collector exited; see {data_dir / 'collector.log'}") from None
                time.sleep(0.1)
        else:
            raise SystemExit(f"the collector did not answer on {base}; see {data_dir / 'collector.log'}")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def bootstrap(data_dir: Path) -> dict[str, str]:
    """Organisation, enrollment token and analyst token, created the way an administrator would."""
    env = {**os.environ, "HERKOMST_DATA_DIR": str(data_dir)}
    env.pop("HERKOMST_DATABASE_URL", None)

    def run(*args: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "deploy.cli", "collector", "admin", *args], env=env,
                             check=True, capture_output=True, text=True).stdout
        return dict(json.loads(out))

    org = run("create-organisation", "Waterschap Demoland", "--sector", "water")
    enrol = run("create-enrollment-token", "--organisation", "Waterschap Demoland", "--site", "zuiveringsinstallatie")
    analyst = run("create-api-token", "demo analyst", "--role", "analyst")
    return {"organisation_id": str(org["id"]), "enrollment_token": enrol["token"], "analyst_token": analyst["token"]}


def sample_report(agent_id: str) -> dict[str, Any]:
    """The stored example report, re-stamped for this agent and this moment."""
    doc: dict[str, Any] = json.loads(SAMPLE.read_text())
    now = datetime.now(UTC).replace(microsecond=0)
    doc["agent"]["id"] = agent_id
    import uuid

    doc["report_id"] = str(uuid.uuid4())
    doc["scan"]["started_at"] = (now - timedelta(minutes=3)).isoformat()
    doc["scan"]["finished_at"] = now.isoformat()
    for device in doc["devices"]:
        for o in device["observations"]:
            o["seen_at"] = now.isoformat()
    return doc


def wait_for_attribution(base: str, token: str, timeout: float = 30) -> None:
    """The collector attributes a report's devices just after its receipt; wait until every verdict is its own."""
    h = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = httpx.get(f"{base}/api/v1/devices", params={"limit": 1000}, headers=h).json()["items"]
        pending = [d for d in items
                   if (httpx.get(f"{base}/api/v1/devices/{d['id']}", headers=h).json().get("identification") or {})
                   .get("origin") != "collector"]
        if not pending:
            return
        time.sleep(0.5)
    console.print("[yellow]some devices still show the agent's own identification; the collector is catching up[/]")


def print_analyst_view(base: str, token: str) -> None:
    """What an analyst sees: every device with its vendor, country and flag, then the summary."""
    h = {"Authorization": f"Bearer {token}"}
    items = httpx.get(f"{base}/api/v1/devices", params={"limit": 1000, "sort": "id"}, headers=h).json()["items"]
    table = Table(title="Devices (GET /api/v1/devices)")
    for col in ("id", "address", "mac", "vendor", "hq", "owner", "flagged", "evidence"):
        table.add_column(col)
    for d in items:
        detail = httpx.get(f"{base}/api/v1/devices/{d['id']}", headers=h).json()
        ident = detail.get("identification") or {}
        evidence = ident.get("detail", {}).get("evidence") or [
            f"{o['kind']}={o['value'][:40]}" for o in detail["observations"][:2]
        ]
        if evidence and isinstance(evidence[0], dict):
            evidence = [f"{e.get('kind')}: {str(e.get('value', ''))[:30]} → {e.get('rule_id', '')}"
                        for e in evidence[:2]]
        flag = "[bold red]YES[/]" if d.get("flagged") else ("no" if d.get("vendor_id") else "?")
        table.add_row(str(d["id"]), d["ip"] or "", d["mac"] or "", d.get("vendor") or "unknown",
                      d.get("country") or "", d.get("owner_country") or "", flag, "\n".join(evidence))
    console.print(table)
    s = httpx.get(f"{base}/api/v1/summary", headers=h).json()
    summary = Table(title="Summary by sector × headquarters country (GET /api/v1/summary)")
    for col in ("sector", "country", "devices", "flagged"):
        summary.add_column(col)
    for c in s["cells"]:
        summary.add_row(c["sector"], c["country"] or "unknown", str(c["devices"]), str(c["flagged"]))
    console.print(summary)
    console.print(f"{s['total_flagged']} of {s['total_devices']} devices flagged.")


def run_demo(data_dir: Path, port: int = 8470) -> None:
    """The collector-side demo with the stored sample report."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    console.rule("Herkomst demo: collector on SQLite, one organisation, one agent, one report")
    tokens = bootstrap(data_dir)
    console.print(f"organisation and tokens created in {data_dir / 'herkomst.db'}")
    with collector(data_dir, "127.0.0.1", port) as base:
        r = httpx.post(f"{base}/api/v1/enroll", json={"enrollment_token": tokens["enrollment_token"],
                                                       "hostname": "demo-agent", "version": "demo"})
        r.raise_for_status()
        agent = r.json()
        console.print(f"agent {agent['agent_id']} enrolled into {agent['organisation']} / {agent['site']}")
        doc = sample_report(agent["agent_id"])
        r = httpx.post(f"{base}/api/v1/reports", json=doc, headers={"Authorization": f"Bearer {agent['agent_key']}"})
        r.raise_for_status()
        console.print(f"report {doc['report_id']} stored: {r.json()['devices']}")
        wait_for_attribution(base, tokens["analyst_token"])
        print_analyst_view(base, tokens["analyst_token"])
