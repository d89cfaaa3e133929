"""The lab comes up and goes down idempotently, leaves nothing behind (also after a crash), and is isolated."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import time

import pytest

from deploy.lab import COLLECTOR_ADDRESS, IT_BRIDGE, OT_BRIDGE, Lab
from deploy.lab.topology import lab_namespaces, lab_root_links

pytestmark = pytest.mark.lab
LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/15")


def _lab_processes(lab: Lab) -> list[str]:
    """Processes started by the lab that still run (device runtimes and snmpd with our run directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if "deploy.lab.device" in cmd or ("snmpd" in cmd and str(lab.run_dir.root) in cmd):
            found.append(f"{entry}: {cmd}")
    return found


def _assert_nothing_left(lab: Lab) -> None:
    assert lab_namespaces() == []
    assert lab_root_links() == []
    assert _lab_processes(lab) == []
    assert not lab.status().up


def test_up_is_idempotent(lab: Lab) -> None:
    pids = {p.name: p.read_text() for p in lab.run_dir.pids.glob("*.pid")}
    started = time.monotonic()
    lab.up()
    assert time.monotonic() - started < 10
    assert lab.status().up
    after = {p.name: p.read_text() for p in lab.run_dir.pids.glob("*.pid")}
    fragile = {f"{d.name}.pid" for d in lab.devices() if d.fragile}
    # A second `up` keeps every process; only the fragile device is restarted (reset).
    assert {k: v for k, v in pids.items() if k not in fragile} == {k: v for k, v in after.items() if k not in fragile}


def test_isolation(lab: Lab) -> None:
    for bridge in (IT_BRIDGE, OT_BRIDGE):
        with open(f"/proc/sys/net/ipv4/conf/{bridge}/forwarding") as fh:
            assert fh.read().strip() == "0", f"root namespace forwards on {bridge}"
        with open(f"/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6") as fh:
            assert fh.read().strip() == "1"
    addrs = lab.exec("router", ["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    assert "198.18.0.254/24" in addrs and "198.18.1.254/24" in addrs
    import subprocess

    root = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", IT_BRIDGE], capture_output=True, text=True)
    assert f"{COLLECTOR_ADDRESS}/24" in root.stdout
    for netns in lab_namespaces():
        node = netns.removeprefix("hk-")
        routes = lab.exec(node, ["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
        for line in routes.splitlines():
            dest = line.split()[0]
            assert dest != "default", f"{netns} has a default route"
            net = ipaddress.IPv4Network(dest)
            assert net.subnet_of(LAB_RANGE) or net.is_multicast or net.broadcast_address.packed == b"\xff" * 4, line
        forwarding = lab.exec(node, ["cat", "/proc/sys/net/ipv4/ip_forward"], capture_output=True, text=True)
        assert forwarding.stdout.strip() == ("1" if node == "router" else "0"), netns


def test_down_is_idempotent_leaves_nothing_and_up_is_timed(lab: Lab) -> None:
    try:
        lab.down()
        _assert_nothing_left(lab)
        lab.down()  # idempotent
        _assert_nothing_left(lab)
    finally:
        started = time.monotonic()
        lab.up()
        elapsed = time.monotonic() - started
    print(f"\n[lab] full `up` from nothing: {elapsed:.1f}s")
    assert lab.status().up
    assert elapsed < 60, "sanity bound only; the target is <= 20 s"


def test_down_cleans_up_after_a_crashed_run(lab: Lab) -> None:
    try:
        # A crash: one device killed outright and the run state (pid files) lost.
        victim = int(lab.run_dir.pid_file("hikvision-cam").read_text())
        os.kill(victim, signal.SIGKILL)
        shutil.rmtree(lab.run_dir.root)
        assert not lab.status().up
        lab.down()
        _assert_nothing_left(lab)
    finally:
        lab.up()
    assert lab.status().up


def test_cli_exec_runs_in_the_agent_namespace_and_passes_the_exit_code(lab: Lab) -> None:
    import subprocess
    import sys

    cli = [sys.executable, "-m", "deploy.cli", "lab"]
    addr = subprocess.run(
        [*cli, "exec", "agent", "--", "ip", "-o", "-4", "addr", "show", "eth0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert addr.returncode == 0 and "198.18.0.10/24" in addr.stdout
    assert subprocess.run([*cli, "exec", "agent", "--", "sh", "-c", "exit 3"], timeout=30).returncode == 3
    missing = subprocess.run([*cli, "exec", "no-such-node", "--", "true"], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
