"""The systemd units in deploy/systemd: systemd accepts them, and the agent scans with exactly the capabilities
its unit leaves it."""

from __future__ import annotations

import configparser
import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
AGENT_UNIT = ROOT / "deploy" / "systemd" / "herkomst-agent.service"
HERKOMST = str(Path(sys.executable).parent / "herkomst")
INSTALLED = "/opt/herkomst/bin/herkomst"
SCOPE = "198.18.0.0/24,198.18.1.16/28"
#: Bit numbers of the capabilities in linux/capability.h.
CAP_BITS = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13}


def service_setting(unit: Path, key: str) -> str:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(unit)
    return parser["Service"][key]


def test_the_units_are_there() -> None:
    assert {u.name for u in UNITS} == {"herkomst-agent.service", "herkomst-collector.service"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_accepts_the_unit(unit: Path, tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this checkout's command instead of /opt.
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace(INSTALLED, HERKOMST))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # An unknown or misspelt directive is only a warning (exit 0): any output at all fails the test.
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr


def _setpriv(capabilities: list[str]) -> list[str]:
    spec = ",".join(["-all", *("+" + c.removeprefix("CAP_").lower() for c in capabilities)])
    return ["setpriv", f"--bounding-set={spec}", f"--inh-caps={spec}", "--no-new-privs"]


@pytest.mark.lab
def test_agent_scans_with_only_its_units_capabilities(lab: Any, tmp_path: Path) -> None:
    """A safe scan (ARP sweep, passive listening, nmap host discovery of the routed segment, identity probes) as
    root with every capability removed except those the unit keeps."""
    if lab.fragile_faults():
        lab.up()  # an earlier test's standard scan may have tripped the fragile PLC; up() resets it
    capabilities = service_setting(AGENT_UNIT, "CapabilityBoundingSet").split()
    assert sorted(capabilities) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    confined = _setpriv(capabilities)
    status = lab.exec("agent", [*confined, "grep", "CapEff", "/proc/self/status"], capture_output=True, text=True)
    assert int(status.stdout.split()[1], 16) == sum(1 << CAP_BITS[c] for c in capabilities)

    env = ["env", f"HERKOMST_AGENT_STATE_DIR={tmp_path / 'state'}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    out = tmp_path / "report.json"
    scan = [HERKOMST, "agent", "scan", "--scope", SCOPE, "--profile", "safe", "--listen", "2", "-o", str(out)]
    result = lab.exec("agent", [*confined, *env, *scan], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = {ip for device in json.loads(out.read_text())["devices"] for ip in device.get("ips", [])}
    scope = [ipaddress.ip_network(net) for net in SCOPE.split(",")]
    in_scope = {d.ip for d in lab.devices() if not d.passive and any(ipaddress.ip_address(d.ip) in n for n in scope)}
    assert in_scope and in_scope <= seen, sorted(in_scope - seen)


@pytest.mark.lab
def test_agent_without_raw_sockets_says_what_it_needs(lab: Any, tmp_path: Path) -> None:
    env = ["env", f"HERKOMST_AGENT_STATE_DIR={tmp_path / 'state'}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    scan = [HERKOMST, "agent", "scan", "--scope", SCOPE, "--profile", "safe", "--listen", "1", "-o", "/dev/null"]
    result = lab.exec("agent", [*_setpriv([]), *env, *scan], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "CAP_NET_RAW" in result.stderr, result.stderr[-2000:]
