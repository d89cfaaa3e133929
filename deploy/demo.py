"""`herkomst demo`: the README's main job, end to end on SQLite.

Brings the lab up, starts a collector on the lab bridge (TLS, SQLite), creates an organisation and tokens, enrols
the agent in its lab namespace, scans the lab with the `safe` profile, and prints what an analyst sees, checked
against the lab's ground truth. With `--sample` (or without root) a stored example report stands in for the scan.
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

from deploy.serve import CollectorProcess

console = Console(width=None if sys.stdout.isatty() else 160)
# One client for every call the demo makes; the lab demo swaps in one that trusts the demo CA.
_http = httpx.Client(timeout=30)
SAMPLE = Path(__file__).parent / "demo" / "sample-report.json"


@contextmanager
def collector(data_dir: Path, host: str, port: int, tls: tuple[Path, Path] | None = None,
              ca: Path | None = None) -> Iterator[str]:
    """A collector process on SQLite in `data_dir`, for as long as the block runs."""
    env = {"HERKOMST_DATA_DIR": str(data_dir), "HERKOMST_DATABASE_URL": f"sqlite:///{data_dir / 'herkomst.db'}"}
    with CollectorProcess(env, data_dir / "collector.log", host=host, port=port, tls=tls, ca=ca) as proc:
        yield proc.url


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
        items = _http.get(f"{base}/api/v1/devices", params={"limit": 1000}, headers=h).json()["items"]
        pending = [d for d in items
                   if (_http.get(f"{base}/api/v1/devices/{d['id']}", headers=h).json().get("identification") or {})
                   .get("origin") != "collector"]
        if not pending:
            return
        time.sleep(0.5)
    console.print("[yellow]some devices still show the agent's own identification; the collector is catching up[/]")


def print_analyst_view(base: str, token: str) -> None:
    """What an analyst sees: every device with its vendor, country and flag, then the summary."""
    h = {"Authorization": f"Bearer {token}"}
    items = _http.get(f"{base}/api/v1/devices", params={"limit": 1000, "sort": "id"}, headers=h).json()["items"]
    table = Table(title="Devices (GET /api/v1/devices)")
    for col in ("id", "address", "mac", "vendor", "hq", "owner", "flagged", "evidence"):
        table.add_column(col)
    for d in items:
        detail = _http.get(f"{base}/api/v1/devices/{d['id']}", headers=h).json()
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
    s = _http.get(f"{base}/api/v1/summary", headers=h).json()
    summary = Table(title="Summary by sector × headquarters country (GET /api/v1/summary)")
    for col in ("sector", "country", "devices", "flagged"):
        summary.add_column(col)
    for c in s["cells"]:
        summary.add_row(c["sector"], c["country"] or "unknown", str(c["devices"]), str(c["flagged"]))
    console.print(summary)
    console.print(f"{s['total_flagged']} of {s['total_devices']} devices flagged.")


def run_sample_demo(data_dir: Path, port: int) -> None:
    """The collector-side demo with the stored sample report (no lab, no root needed)."""
    console.rule("Herkomst demo (sample report): collector on SQLite, one organisation, one agent, one report")
    tokens = bootstrap(data_dir)
    console.print(f"organisation and tokens created in {data_dir / 'herkomst.db'}")
    with collector(data_dir, "127.0.0.1", port) as base:
        r = _http.post(f"{base}/api/v1/enroll", json={"enrollment_token": tokens["enrollment_token"],
                                                       "hostname": "demo-agent", "version": "demo"})
        r.raise_for_status()
        agent = r.json()
        console.print(f"agent {agent['agent_id']} enrolled into {agent['organisation']} / {agent['site']}")
        doc = sample_report(agent["agent_id"])
        r = _http.post(f"{base}/api/v1/reports", json=doc, headers={"Authorization": f"Bearer {agent['agent_key']}"})
        r.raise_for_status()
        console.print(f"report {doc['report_id']} stored: {r.json()['devices']}")
        wait_for_attribution(base, tokens["analyst_token"])
        print_analyst_view(base, tokens["analyst_token"])


def _agent(lab: Any, state: Path, *args: str) -> None:
    """Run `herkomst agent …` inside the lab's agent namespace, its output shown live."""
    argv = [sys.executable, "-m", "deploy.cli", "agent", *args, "--state-dir", str(state)]
    result = lab.exec("agent", argv)
    if result.returncode != 0:
        raise SystemExit(f"`herkomst agent {args[0]}` failed (exit {result.returncode}); see the messages above")


def compare_with_ground_truth(lab: Any, base: str, token: str) -> None:
    """How the analyst's view matches what the lab knows about its own devices."""
    items = _http.get(f"{base}/api/v1/devices", params={"limit": 1000},
                      headers={"Authorization": f"Bearer {token}"}).json()["items"]
    found = right = 0
    misses = []
    for truth in lab.devices():
        seen = next((d for d in items if d["mac"] == truth.mac), None) or next(
            (d for d in items if d["ip"] == truth.ip and not d["mac"]), None)
        if seen is None:
            misses.append(f"{truth.name}: not found")
            continue
        found += 1
        if (seen["country"], bool(seen["flagged"])) == (truth.country, truth.flagged):
            right += 1
        else:
            misses.append(f"{truth.name}: {seen['vendor']} {seen['country']} flagged={seen['flagged']}, "
                          f"expected {truth.vendor} {truth.country} flagged={truth.flagged}")
    total = len(lab.devices())
    console.print(f"ground truth: {found}/{total} lab devices found, {right}/{total} with the right country and flag")
    for miss in misses:
        console.print(f"  [yellow]{miss}[/]")


def run_lab_demo(data_dir: Path, port: int, keep_lab: bool) -> None:
    """The whole job on the lab: a real safe scan by the agent in its namespace, reported to the collector."""
    global _http
    from deploy.lab import COLLECTOR_ADDRESS, IT_SUBNET, OT_SUBNET, Lab
    from deploy.tls import make_ca_and_cert

    console.rule("Herkomst demo: the lab, a collector on SQLite, the agent's safe scan, the analyst's view")
    lab = Lab()
    console.print(f"bringing the lab up ({len(lab.devices())} emulated devices in network namespaces) …")
    lab.up()
    try:
        ca, cert, key = make_ca_and_cert(data_dir, COLLECTOR_ADDRESS)
        _http = httpx.Client(timeout=30, verify=str(ca))
        tokens = bootstrap(data_dir)
        with collector(data_dir, COLLECTOR_ADDRESS, port, tls=(cert, key), ca=ca) as base:
            console.print(f"collector listening on {base} (TLS, private CA {ca})")
            state = data_dir / "agent-state"
            _agent(lab, state, "enroll", "--collector", base, "--token", tokens["enrollment_token"], "--ca", str(ca))
            console.print(f"scanning {IT_SUBNET} and {OT_SUBNET} with the safe profile from the agent's namespace …")
            _agent(lab, state, "scan", "--scope", f"{IT_SUBNET},{OT_SUBNET}", "--profile", "safe", "--listen", "12")
            wait_for_attribution(base, tokens["analyst_token"])
            print_analyst_view(base, tokens["analyst_token"])
            compare_with_ground_truth(lab, base, tokens["analyst_token"])
            faults = lab.fragile_faults()
            console.print("fragile PLC: " + ("[red]FAULTED[/]" if faults else "never faulted"))
    finally:
        if keep_lab:
            console.print("the lab stays up (`herkomst lab down` takes it down)")
        else:
            lab.down()


def run_demo(data_dir: Path, port: int = 8470, *, sample: bool = False, keep_lab: bool = False) -> None:
    """The lab demo where it can run (root, ip netns); the sample-report demo otherwise."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    if not sample and os.geteuid() != 0:
        console.print("[yellow]the lab needs root (network namespaces): showing the sample report instead[/]")
        sample = True
    if not sample and shutil.which("ip") is None:
        console.print("[yellow]`ip` (iproute2) is missing: run deploy/setup.sh; showing the sample report instead[/]")
        sample = True
    if sample:
        run_sample_demo(data_dir, port)
    else:
        run_lab_demo(data_dir, port, keep_lab)
