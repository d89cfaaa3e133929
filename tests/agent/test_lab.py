"""The agent in the lab: it runs inside the `hk-agent` namespace, and tcpdump in the same namespace proves what it
sends. Capture-based safety tests: `passive` sends nothing; under `safe` the measured rate never exceeds the caps
and the fragile device never faults. The real collector end to end is in tests/e2e.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

HERKOMST = str(Path(sys.executable).parent / "herkomst")
AGENT_IF = "eth0"
# The OT devices live in .16/28; a narrower OT scope keeps nmap host discovery (and the test) short.
SCOPE = "198.18.0.0/24,198.18.1.16/28"


def agent_mac(lab: Any) -> str:
    out = lab.exec("agent", ["ip", "-j", "link", "show", AGENT_IF], capture_output=True, text=True, check=True)
    return str(json.loads(out.stdout)[0]["address"])


def wait_until_alone(timeout: float = 600) -> None:
    """Wait until no other process runs in hk-agent: a capture there would mix another agent's traffic in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = subprocess.run(["ip", "netns", "pids", "hk-agent"], capture_output=True, text=True).stdout.split()
        if not pids:
            return
        time.sleep(2)
    pytest.skip("another process keeps running in hk-agent; a capture would not be the agent's alone")


def _ancestors(pid: int) -> set[int]:
    chain: set[int] = set()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return chain


class Intruders:
    """Watches hk-agent during a capture for processes that are neither ours nor tcpdump (e.g. another test's
    agent): their packets would be counted as ours, so such a capture proves nothing."""

    def __init__(self) -> None:
        # Everything this test process started (tcpdump, the agent, its nmap) descends from it.
        self.ours: set[int] = {os.getpid()}
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["ip", "netns", "pids", "hk-agent"], capture_output=True, text=True).stdout
            for pid in map(int, out.split()):
                if not _ancestors(pid) & self.ours:
                    try:
                        self.seen[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    except OSError:
                        pass
            time.sleep(0.2)

    def __enter__(self) -> Intruders:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def capture(lab: Any, pcap: Path) -> Iterator[Intruders]:
    """tcpdump, in the agent's namespace, of every frame the agent's interface sends."""
    wait_until_alone()
    proc = lab.popen(
        "agent",
        ["tcpdump", "-i", AGENT_IF, "-n", "-U", "-Q", "out", "-w", str(pcap), "-Z", "root"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until tcpdump says it listens, so the first packet is not missed.
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "listening" in line, line
    intruders = Intruders()
    intruders.ours.add(proc.pid)
    try:
        with intruders:
            yield intruders
    finally:
        time.sleep(0.5)
        proc.terminate()
        proc.wait(10)
    if intruders.seen:
        pytest.skip(f"another process ran in hk-agent during the capture: {list(intruders.seen.values())[:2]}")


def run_agent(
    lab: Any,
    tmp: Path,
    *args: str,
    timeout: float = 240,
    watch: Intruders | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {"HERKOMST_AGENT_STATE_DIR": str(tmp / "state"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    env.update(extra_env or {})
    argv = ["env", *[f"{k}={v}" for k, v in env.items()], HERKOMST, "agent", "scan", *args]
    proc = lab.popen("agent", argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if watch is not None:
        watch.ours.add(proc.pid)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def frames(pcap: Path) -> list[Any]:
    import scapy.layers.inet  # noqa: F401 - registers Ethernet/IP so rdpcap decodes the frames
    import scapy.layers.l2  # noqa: F401
    from scapy.utils import rdpcap

    return list(rdpcap(str(pcap))) if pcap.exists() and pcap.stat().st_size > 24 else []


def max_per_window(times: list[float], window: float = 1.0) -> int:
    """The most packets in any window of `window` seconds (sliding, anchored on each packet)."""
    times = sorted(times)
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_passive_sends_nothing_and_hears_the_announcers(lab: Any, tmp_path: Path) -> None:
    pcap = tmp_path / "passive.pcap"
    with capture(lab, pcap) as watch:
        result = run_agent(
            lab,
            tmp_path,
            "--scope",
            SCOPE,
            "--profile",
            "passive",
            "--listen",
            "6",  # the lab's announcers repeat every 5 s
            "-o",
            str(tmp_path / "r.json"),
            watch=watch,
        )
    assert result.returncode == 0, result.stderr
    sent = frames(pcap)
    assert sent == [], [p.summary() for p in sent[:10]]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["scan"]["profile"] == "passive" and report["scan"]["packets_sent"] == 0
    assert report["scan"]["packets_counted"] == "wire"  # counted on the wire, not merely never reserved
    # Not only silent: it hears. The phone answers nothing and only announces itself (DHCP, LLDP, and CDP as real
    # 802.3/LLC/SNAP frames); nothing but passive decoding can find it.
    phone = next(d for d in lab.devices() if d.name == "yealink-phone")
    heard = next((d for d in report["devices"] if d.get("mac") == phone.mac), None)
    assert heard is not None, [d.get("mac") for d in report["devices"]]
    kinds = {o["kind"] for o in heard["observations"]}
    assert {"dhcp.vendor_class", "lldp.sysdesc", "cdp.platform"} <= kinds, kinds
    # Every device of the lab that only announces itself is heard, the PROFINET remote I/O by its DCP Hello
    macs = {d.get("mac") for d in report["devices"]}
    assert not [d.name for d in lab.devices() if d.passive and d.mac not in macs]
    et200 = next(d for d in report["devices"] if d.get("mac") == "28:63:36:5a:0e:17")
    assert {(o["kind"], o["value"]) for o in et200["observations"]} >= {
        ("profinet.vendor_id", "0x002a:0x0313"), ("profinet.device", "ET200SP")}
    assert et200["ips"] == ["198.18.0.70"] and et200["identification"]["vendor_id"] == "siemens"


@pytest.fixture(scope="module")
def safe_scan(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One safe scan of the whole lab under capture, shared by the assertions below."""
    tmp = tmp_path_factory.mktemp("safe")
    pcap = tmp / "safe.pcap"
    faults_before = len(lab.fragile_faults())
    started = time.monotonic()
    with capture(lab, pcap) as watch:
        result = run_agent(
            lab,
            tmp,
            "--scope",
            SCOPE,
            "--profile",
            "safe",
            "--listen",
            "3",
            "--max-rate",
            "100",
            "--max-host-rate",
            "10",
            "-o",
            str(tmp / "r.json"),
            "--json",
            watch=watch,
        )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    return {
        "report": json.loads((tmp / "r.json").read_text()),
        "frames": frames(pcap),
        "faults": lab.fragile_faults()[faults_before:],
        "elapsed": elapsed,
        "mac": agent_mac(lab),
    }


def test_safe_rate_never_exceeds_caps(safe_scan: dict[str, Any]) -> None:
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP

    sent = safe_scan["frames"]
    assert sent, "the safe scan sent nothing at all"
    times = [float(p.time) for p in sent]
    per_host: dict[str, list[float]] = defaultdict(list)
    for p in sent:
        dst = p[IP].dst if p.haslayer(IP) else (p[ARP].pdst if p.haslayer(ARP) else "other")
        per_host[dst].append(float(p.time))
    overall = max_per_window(times)
    worst_host, worst = max(((h, max_per_window(t)) for h, t in per_host.items()), key=lambda x: x[1])
    print(
        f"\n[safe] {len(sent)} frames in {safe_scan['elapsed']:.1f}s; peak {overall}/s overall, "
        f"peak {worst}/s to one host ({worst_host}); agent counted {safe_scan['report']['scan']['packets_sent']}"
    )
    assert overall <= 100
    assert worst <= 10
    # The report's figures are counted on the wire, and agree with the capture of the same scan: the total (within
    # a few frames: the capture starts a moment earlier and stops a moment later), each device's own count, and the
    # peaks under the caps
    scan = safe_scan["report"]["scan"]
    assert scan["packets_counted"] == "wire"
    assert abs(scan["packets_sent"] - len(sent)) <= max(5, len(sent) // 50), (scan["packets_sent"], len(sent))
    assert scan["max_packet_rate"] <= 100 and scan["max_host_packet_rate"] <= 10
    for device in safe_scan["report"]["devices"]:
        if device.get("ips") and device["packets_sent"]:
            ip = device["ips"][0]
            assert abs(device["packets_sent"] - len(per_host.get(ip, []))) <= 2, (ip, device["packets_sent"])


def test_safe_asks_profinet_devices_once_per_link_and_hears_their_answers(safe_scan: dict[str, Any]) -> None:
    from scapy.layers.l2 import Ether

    dcp = [p for p in safe_scan["frames"] if p.haslayer(Ether) and p[Ether].type == 0x8892]
    # one Identify-All to PROFINET's multicast address from the agent: the lab's one link in scope
    assert [(p[Ether].dst, bytes(p[Ether].payload)[:4].hex()) for p in dcp] == [("01:0e:cf:00:00:00", "fefe0500")]
    et200 = next(d for d in safe_scan["report"]["devices"] if d.get("mac") == "28:63:36:5a:0e:17")
    assert {o["source"] for o in et200["observations"]} >= {"dcp.identify"}


def test_safe_fetches_the_cameras_favicon_once(safe_scan: dict[str, Any]) -> None:
    import hashlib

    from deploy.lab.device.textproto import lab_icon

    cam = next(d for d in safe_scan["report"]["devices"] if "198.18.0.21" in d.get("ips", []))
    icons = [(o["kind"], o["value"]) for o in cam["observations"] if o["kind"].startswith("http.favicon")]
    assert ("http.favicon_md5", hashlib.md5(lab_icon("hikvision-cam")).hexdigest()) in icons
    assert len(icons) == 2  # md5 and mmh3, from one fetch, though the camera has two web ports


def test_fragile_device_never_faults_under_safe(safe_scan: dict[str, Any]) -> None:
    assert safe_scan["faults"] == []


def test_safe_scan_finds_every_device(lab: Any, safe_scan: dict[str, Any]) -> None:
    report = safe_scan["report"]
    seen_ips = {ip for d in report["devices"] for ip in d.get("ips", [])}
    expected = {d.ip for d in lab.devices() if not d.passive}
    missing = expected - seen_ips
    assert not missing, f"devices not found: {sorted(missing, key=ipaddress.ip_address)}"
    by_ip = {ip: d for d in report["devices"] for ip in d.get("ips", [])}
    # On-link devices are keyed by their MAC; routed (OT) ones by IP.
    for dev in lab.devices():
        if dev.passive or dev.ip not in by_ip:
            continue
        got = by_ip[dev.ip]
        if dev.segment == "it":
            assert got.get("mac") == dev.mac.lower(), dev.name
        kinds = Counter(o["kind"] for o in got["observations"])
        assert len(kinds) >= 1, f"{dev.name}: no observations"


def test_standard_profile_on_one_host(lab: Any, tmp_path: Path) -> None:
    """nmap -sV through the agent; one host, low intensity and a short host timeout keep it fast."""
    result = run_agent(
        lab,
        tmp_path,
        "--scope",
        "198.18.0.31",
        "--profile",
        "standard",
        "--listen",
        "0",
        "-o",
        str(tmp_path / "r.json"),
        timeout=300,
        extra_env={"HERKOMST_AGENT_NMAP_VERSION_INTENSITY": "1", "HERKOMST_AGENT_NMAP_HOST_TIMEOUT": "40"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    kinds = {o["kind"] for d in report["devices"] for o in d["observations"]}
    assert "nmap.service" in kinds or "nmap.cpe" in kinds, kinds


def test_out_of_scope_is_refused(lab: Any, tmp_path: Path) -> None:
    result = run_agent(lab, tmp_path, "--scope", "lab-router", "--profile", "safe", "-o", str(tmp_path / "r"))
    assert result.returncode == 1 and "not a CIDR" in result.stderr


def test_an_address_that_never_answers_arp_is_never_probed(lab: Any, safe_scan: dict[str, Any]) -> None:
    """The passive-only phone asks for its address over DHCP but never answers ARP: the agent may ask for it twice
    (the sweep, and once more if it heard the phone in time) but sends it nothing else, instead of letting every
    probe wait out its timeout (30 s in all)."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP

    phone = lab.device("yealink-phone")
    assert phone.passive
    arp = [p for p in safe_scan["frames"] if p.haslayer(ARP) and p[ARP].pdst == phone.ip]
    ip = [p for p in safe_scan["frames"] if p.haslayer(IP) and p[IP].dst == phone.ip]
    assert 1 <= len(arp) <= 2 and ip == []
