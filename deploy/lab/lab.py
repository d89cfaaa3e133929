"""The `Lab` driver: brings the lab up and down, starts and stops device processes, reports status and faults."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deploy.lab import topology
from deploy.lab.inventory import load_devices
from deploy.lab.model import (
    AGENT_NODE,
    IT_BRIDGE,
    NETNS_PREFIX,
    OT_BRIDGE,
    ROUTER_NODE,
    FragileFault,
    LabDevice,
    LabStatus,
    NodeStatus,
)
from deploy.lab.paths import RunDir
from deploy.lab.shell import LabError, require_tools
from deploy.lab.snmpd import command as snmpd_command
from deploy.lab.snmpd import render_config

READY_TIMEOUT_S = 20.0
# Outside the run directory, which `down` removes.
LOCK_FILE = "/run/herkomst-lab.lock"
# Command-line fragments that identify processes this lab started (checked before signalling a pid from a pid file,
# so a recycled pid is never killed).
_OUR_CMDLINES = ("deploy.lab.device", "snmpd")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class Lab:
    """The lab: network namespaces `hk-<node>` on bridges hkbr-it/hkbr-ot with emulated devices."""

    def __init__(self, run_dir: RunDir | None = None) -> None:
        self.run_dir = run_dir or RunDir.default()

    # ------------------------------------------------------------------ ground truth
    def devices(self) -> list[LabDevice]:
        """Every device with its ground truth (from devices.toml)."""
        return list(load_devices())

    def device(self, name: str) -> LabDevice:
        """One device by name."""
        for dev in load_devices():
            if dev.name == name:
                return dev
        raise KeyError(f"no lab device {name!r}")

    # ------------------------------------------------------------------ lifecycle
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise up/down across processes (two test sessions may share the machine)."""
        with open(LOCK_FILE, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def up(self) -> None:
        """Bring the lab up. Idempotent: a healthy lab is kept (only the fragile device is reset)."""
        require_tools(snmpd=True)
        with self._locked():
            self._up()

    def down(self) -> None:
        """Stop every lab process and remove every lab namespace and link, also what a crashed run left behind."""
        require_tools()
        with self._locked():
            self._down()

    def _up(self) -> None:
        if self.status().up:
            self._reset_fragile()
            return
        self._down()
        self.run_dir.make()
        devices = load_devices()
        topology.build(topology.plan(devices))
        procs = [self._start_device(dev) for dev in devices]
        snmpds = [self._start_snmpd(dev) for dev in devices if "snmp" in dev.protocols()]
        self._wait_ready([name for name, _ in procs], snmpds)

    def _down(self) -> None:
        pids: set[int] = set()
        if self.run_dir.pids.is_dir():
            for pid_file in self.run_dir.pids.glob("*.pid"):
                pid = _read_pid(pid_file)
                if pid and _alive(pid) and any(c in _cmdline(pid) for c in _OUR_CMDLINES):
                    pids.add(pid)
        for netns in topology.lab_namespaces():
            pids.update(topology.namespace_pids(netns))
        self._terminate(pids)
        topology.remove_network()
        if self.run_dir.root.exists():
            shutil.rmtree(self.run_dir.root, ignore_errors=True)

    def status(self) -> LabStatus:
        """Bridges, namespaces and processes, and the fragile device's faults."""
        bridges = {b: os.path.isdir(f"/sys/class/net/{b}") for b in (IT_BRIDGE, OT_BRIDGE)}
        existing = set(topology.lab_namespaces())
        nodes = [
            NodeStatus(ROUTER_NODE, NETNS_PREFIX + ROUTER_NODE in existing, {}),
            NodeStatus(AGENT_NODE, NETNS_PREFIX + AGENT_NODE in existing, {}),
        ]
        for dev in load_devices():
            procs = {dev.name: self._process_alive(dev.name)}
            if "snmp" in dev.protocols():
                procs[f"{dev.name}-snmpd"] = self._process_alive(f"{dev.name}-snmpd")
            nodes.append(NodeStatus(dev.name, NETNS_PREFIX + dev.name in existing, procs))
        up = all(bridges.values()) and all(n.healthy for n in nodes)
        return LabStatus(up=up, bridges=bridges, nodes=nodes, faults=self.fragile_faults())

    def fragile_faults(self) -> list[FragileFault]:
        """Faults recorded by the fragile device(s) since the last `up`."""
        faults: list[FragileFault] = []
        if not self.run_dir.faults.is_dir():
            return faults
        for path in sorted(self.run_dir.faults.glob("*.jsonl")):
            for line in path.read_text().splitlines():
                if line.strip():
                    faults.append(FragileFault(**json.loads(line)))
        return faults

    # ------------------------------------------------------------------ running things in nodes
    def _netns_argv(self, node: str, argv: Sequence[str]) -> list[str]:
        netns = node if node.startswith(NETNS_PREFIX) else NETNS_PREFIX + node
        if not os.path.exists(f"/run/netns/{netns}"):
            raise LabError(f"lab node {node!r} does not exist; is the lab up? (`herkomst lab up`)")
        return ["ip", "netns", "exec", netns, *argv]

    def exec(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run `argv` inside the node's namespace (e.g. node `agent`), like subprocess.run."""
        return subprocess.run(self._netns_argv(node, argv), **kwargs)

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start `argv` inside the node's namespace, like subprocess.Popen."""
        return subprocess.Popen(self._netns_argv(node, argv), **kwargs)

    # ------------------------------------------------------------------ internals
    def _process_alive(self, process: str) -> bool:
        pid = _read_pid(self.run_dir.pid_file(process))
        return pid is not None and _alive(pid)

    def _spawn(self, node: str, process: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        log = self.run_dir.log_file(process).open("ab")
        proc = subprocess.Popen(
            self._netns_argv(node, argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `herkomst lab up`; its own group so down can signal it alone
            env={**os.environ, **(env or {})},
        )
        log.close()
        self.run_dir.pid_file(process).write_text(f"{proc.pid}\n")
        return proc.pid

    def _start_device(self, dev: LabDevice) -> tuple[str, int]:
        self.run_dir.ready_file(dev.name).unlink(missing_ok=True)
        argv = [sys.executable, "-m", "deploy.lab.device", dev.name, "--run-dir", str(self.run_dir.root)]
        return dev.name, self._spawn(dev.name, dev.name, argv, {"PYTHONUNBUFFERED": "1"})

    def _start_snmpd(self, dev: LabDevice) -> str:
        svc = dev.service("snmp")
        state = self.run_dir.snmp / dev.name
        state.mkdir(parents=True, exist_ok=True)
        config = state / "snmpd.conf"
        config.write_text(render_config(dev, svc))
        process = f"{dev.name}-snmpd"
        env = {"SNMP_PERSISTENT_DIR": str(state), "MIBS": "", "MIBDIRS": ""}
        self._spawn(dev.name, process, snmpd_command(config, self.run_dir.log_file(process)), env)
        return process

    def _wait_ready(self, devices: list[str], snmpds: list[str]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending_dev = set(devices)
        pending_snmp = set(snmpds)
        while pending_dev or pending_snmp:
            for name in list(pending_dev):
                if self.run_dir.ready_file(name).exists():
                    pending_dev.discard(name)
                elif not self._process_alive(name):
                    raise LabError(
                        f"lab device {name} exited during start-up; see {self.run_dir.log_file(name)}, "
                        "then `herkomst lab down`"
                    )
            for name in list(pending_snmp):
                log = self.run_dir.log_file(name)
                if log.exists() and "NET-SNMP version" in log.read_text(errors="replace"):
                    pending_snmp.discard(name)
                elif not self._process_alive(name):
                    raise LabError(f"{name} exited during start-up; see {log}, then `herkomst lab down`")
            if time.monotonic() > deadline:
                raise LabError(
                    f"lab not ready after {READY_TIMEOUT_S:.0f}s: {sorted(pending_dev | pending_snmp)}; "
                    f"see logs in {self.run_dir.logs}"
                )
            time.sleep(0.05)

    def _terminate(self, pids: set[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        for pid in pids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _reset_fragile(self) -> None:
        """Restart the fragile device(s) with a clean fault record and the link up."""
        for dev in load_devices():
            if not dev.fragile:
                continue
            pid = _read_pid(self.run_dir.pid_file(dev.name))
            if pid:
                self._terminate({pid})
            self.run_dir.fault_file(dev.name).unlink(missing_ok=True)
            plan = next(n for n in topology.plan(load_devices()) if n.node == dev.name)
            topology.relink(plan)
            self._start_device(dev)
            self._wait_ready([dev.name], [])
