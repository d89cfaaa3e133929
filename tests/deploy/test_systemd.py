"""The systemd units in deploy/systemd: systemd accepts them, and the agent scans with exactly the capabilities
its unit leaves it."""

from __future__ import annotations

import configparser
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
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


#: The agent's user in these tests: any uid but 0 (no passwd entry needed); the unit names its own user.
AGENT_UID = 64_123
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _setpriv(capabilities: list[str], *, uid: int | None = None) -> list[str]:
    """Run as the unit does: `uid` (None: stay root), only these capabilities, ambient when not root (what
    AmbientCapabilities= does: they survive the switch of user and pass to nmap on exec), no new privileges."""
    spec = ",".join(["-all", *("+" + c.removeprefix("CAP_").lower() for c in capabilities)])
    argv = ["setpriv", f"--bounding-set={spec}", f"--inh-caps={spec}", "--no-new-privs"]
    if uid is not None:
        argv += [f"--reuid={uid}", f"--regid={uid}", "--clear-groups", f"--ambient-caps={spec}"]
    return argv


def _unprivileged_python(tmp_path: Path) -> tuple[str, str]:
    """Debian's own Python (this test's may live under /root, which no other user can enter) and a PYTHONPATH of
    this checkout and its installed dependencies, copied where the agent's user can read them if need be."""
    version = subprocess.run([str(DEBIAN_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=False).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip(f"{DEBIAN_PYTHON} is {version or 'missing'}, not this test's Python {sys.version_info[:2]}")
    paths = [SITE_PACKAGES, ROOT]
    readable = subprocess.run([*_setpriv([], uid=AGENT_UID), "test", "-r", str(ROOT / "agent" / "cli.py"), "-a",
                               "-r", str(SITE_PACKAGES / "pydantic" / "__init__.py")], check=False)
    if readable.returncode != 0:  # e.g. a checkout under /root: give the agent's user a readable copy
        copy = tmp_path / "code"
        shutil.copytree(SITE_PACKAGES, copy / "site-packages", symlinks=True)
        for package in ("agent", "fingerprints", "collector", "deploy"):
            shutil.copytree(ROOT / package, copy / "src" / package, symlinks=True)
        paths = [copy / "site-packages", copy / "src"]
        subprocess.run(["chmod", "-R", "a+rX", str(tmp_path)], check=True)
    return str(DEBIAN_PYTHON), ":".join(map(str, paths))


def test_nmap_is_told_it_is_privileged_exactly_when_it_holds_raw_sockets_without_root(tmp_path: Path) -> None:
    """nmap decides by uid alone; the agent adds --privileged for a non-root user with CAP_NET_RAW, never else."""
    python, pythonpath = _unprivileged_python(tmp_path)
    ask = ["env", "-i", f"PYTHONPATH={pythonpath}", python, "-c",
           "from agent.nmap_runner import privilege_arguments as p; print(p())"]
    answers = {}
    callers = {"root": [], "agent user with the unit's capabilities": _setpriv(["CAP_NET_RAW", "CAP_NET_ADMIN"],
                                                                                 uid=AGENT_UID),
               "agent user without": _setpriv([], uid=AGENT_UID)}
    for who, prefix in callers.items():
        r = subprocess.run([*prefix, *ask], capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        answers[who] = r.stdout.strip()
    assert answers == {"root": "[]", "agent user with the unit's capabilities": "['--privileged']",
                       "agent user without": "[]"}


@pytest.fixture
def agent_home() -> Iterator[Path]:
    """A directory the agent's user owns (pytest's own tmp_path sits under a root-only 0700 directory)."""
    home = Path(tempfile.mkdtemp(prefix="herkomst-agent-user-"))
    os.chmod(home, 0o755)
    os.chown(home, AGENT_UID, AGENT_UID)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.lab
def test_agent_scans_as_its_own_user_with_only_its_units_capabilities(lab: Any, tmp_path: Path,
                                                                      agent_home: Path) -> None:
    """A safe scan (ARP sweep, passive listening, nmap host discovery of the routed segment with --privileged,
    identity probes) as a non-root user holding only the unit's two capabilities, run by a Python outside /root."""
    if lab.fragile_faults():
        lab.up()  # an earlier test's standard scan may have tripped the fragile PLC; up() resets it
    capabilities = service_setting(AGENT_UNIT, "CapabilityBoundingSet").split()
    assert sorted(capabilities) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert service_setting(AGENT_UNIT, "AmbientCapabilities").split() == capabilities
    assert service_setting(AGENT_UNIT, "User") not in ("", "root", "0")
    confined = _setpriv(capabilities, uid=AGENT_UID)
    status = lab.exec("agent", [*confined, "grep", "-E", "^(Uid|CapEff|CapAmb)", "/proc/self/status"],
                      capture_output=True, text=True)
    fields = {line.split(":")[0]: line.split()[1] for line in status.stdout.splitlines()}
    assert fields["Uid"] == str(AGENT_UID)
    assert int(fields["CapEff"], 16) == int(fields["CapAmb"], 16) == sum(1 << CAP_BITS[c] for c in capabilities)

    python, pythonpath = _unprivileged_python(tmp_path)
    home = agent_home
    env = ["env", "-i", f"HOME={home}", f"PYTHONPATH={pythonpath}", f"HERKOMST_AGENT_STATE_DIR={home / 'state'}",
           f"HERKOMST_CACHE_DIR={home / 'cache'}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    out = home / "report.json"
    scan = [python, "-m", "deploy.cli", "agent", "scan", "--scope", SCOPE, "--profile", "safe", "--listen", "2",
            "-o", str(out)]
    result = lab.exec("agent", [*confined, *env, *scan], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.stat().st_uid == AGENT_UID
    seen = {ip for device in json.loads(out.read_text())["devices"] for ip in device.get("ips", [])}
    scope = [ipaddress.ip_network(net) for net in SCOPE.split(",")]
    in_scope = {d.ip for d in lab.devices() if not d.passive and any(ipaddress.ip_address(d.ip) in n for n in scope)}
    assert in_scope and in_scope <= seen, sorted(in_scope - seen)


@pytest.mark.lab
def test_agent_without_raw_sockets_says_what_it_needs(lab: Any, tmp_path: Path, agent_home: Path) -> None:
    """An ordinary user without the capabilities (someone trying the agent by hand) is told what it needs."""
    python, pythonpath = _unprivileged_python(tmp_path)
    env = ["env", "-i", f"PYTHONPATH={pythonpath}", f"HERKOMST_AGENT_STATE_DIR={agent_home / 'state'}",
           f"HERKOMST_CACHE_DIR={agent_home / 'cache'}", f"HOME={agent_home}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    scan = [python, "-m", "deploy.cli", "agent", "scan", "--scope", SCOPE, "--profile", "safe", "--listen", "1",
            "-o", "/dev/null"]
    result = lab.exec("agent", [*_setpriv([], uid=AGENT_UID), *env, *scan], capture_output=True, text=True,
                      timeout=120)
    assert result.returncode != 0
    assert "CAP_NET_RAW" in result.stderr, result.stderr[-2000:]
