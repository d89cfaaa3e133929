"""Helpers for the lab tests: run clients in the agent namespace with bounded time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from deploy.lab import AGENT_NODE, Lab

PROBE = str(Path(__file__).with_name("agent_probe.py"))
NMAP_BOUNDS = ["-n", "-Pn", "--max-retries", "1", "--host-timeout", "20s", "--script-timeout", "10s"]


def agent_run(lab: Lab, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command in the agent namespace and capture its text output."""
    return lab.exec(AGENT_NODE, argv, capture_output=True, text=True, timeout=timeout)


def probe(lab: Lab, *args: str, timeout: float = 20) -> dict[str, Any]:
    """Run one agent_probe.py sub-command in the agent namespace and parse its JSON."""
    proc = agent_run(lab, [sys.executable, PROBE, *args], timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def nmap(lab: Lab, *args: str) -> str:
    """Run nmap in the agent namespace with bounded timeouts; return its normal output."""
    proc = agent_run(lab, ["nmap", *NMAP_BOUNDS, *args], timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
