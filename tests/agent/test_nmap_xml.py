"""The nmap XML parser on stored output (a real loopback run, and ICS/OS output shaped after real nmap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.nmap_runner import NmapOptions, port_spec, standard_arguments
from agent.nmap_xml import parse_nmap_xml

DATA = Path(__file__).parent / "data"


def findings(xml: str) -> dict[str, set[tuple[str, str, int | None]]]:
    run = parse_nmap_xml((DATA / xml).read_bytes())
    return {h.ip: {(f.kind, f.value, f.port) for f in h.findings} for h in run.hosts}


def test_real_loopback_run() -> None:
    got = findings("loopback-standard.xml")["127.0.0.1"]
    assert ("nmap.service", "Huawei WAP sshd 1.5 protocol 2.0", 18022) in got
    assert ("ssh.banner", "SSH-2.0-HUAWEI-1.5", 18022) in got
    assert ("tls.subject", "CN=198.18.0.21,O=Hikvision,C=CN", 18443) in got
    assert ("enip.vendor_id", "1", 44818) in got
    assert ("enip.product", "1756-L83E/B", 44818) in got
    # A failed script leaves no observation behind.
    assert not any(kind.startswith("s7.") for kind, _, _ in got)


def test_ics_and_os() -> None:
    run = parse_nmap_xml((DATA / "ics-os.xml").read_bytes())
    assert [h.ip for h in run.hosts] == [
        "198.18.1.21",
        "198.18.1.23",
        "198.18.0.34",
    ]  # the down host is skipped
    plc, bms, ap = run.hosts
    assert plc.mac == "00:1B:1B:12:34:56" and plc.open_ports == [(102, "tcp")]
    got = {(f.kind, f.value) for f in plc.findings}
    assert ("s7.module", "CPU 315-2 PN/DP 6ES7 315-2EH14-0AB0") in got
    assert ("s7.vendor", "Original Siemens Equipment") in got
    assert ("nmap.cpe", "cpe:/h:siemens:s7-300") in got
    assert ("nmap.os", "Siemens embedded (specialized)") in got
    assert ("nmap.cpe", "cpe:/h:siemens:simatic_300") in got
    assert bms.hostnames == ["bms-controller"]
    assert {(f.kind, f.value) for f in bms.findings} == {
        ("bacnet.vendor_id", "5"),
        ("bacnet.model", "Johnson Controls, Inc. NAE5510-1"),
    }
    got = {(f.kind, f.value) for f in ap.findings}
    assert {
        ("http.title", "EAP245"),
        ("http.server", "TP-LINK HTTPD/1.0"),
        ("upnp.manufacturer", "TP-LINK"),
        ("upnp.model", "EAP245"),
        ("upnp.server", "Linux/2.6 UPnP/1.0 TP-LINK/1.0"),
    } <= got
    assert run.elapsed == pytest.approx(29.5)


def test_not_nmap_xml() -> None:
    with pytest.raises(ValueError, match="not nmap XML"):
        parse_nmap_xml(b"<html/>")
    with pytest.raises(ValueError, match="not nmap XML"):
        parse_nmap_xml(b"Starting Nmap")


def test_standard_arguments_carry_the_caps() -> None:
    opts = NmapOptions(max_rate=100, host_rate=10, host_timeout=30, version_intensity=2)
    args = standard_arguments(opts)
    # 90% of the caps: headroom for nmap's overshoot and the kernel's own packets.
    assert args[args.index("--max-rate") + 1] == "90"
    assert args[args.index("--scan-delay") + 1] == "111ms"
    assert args[args.index("--max-retries") + 1] == "1"
    assert args[args.index("--host-timeout") + 1] == "30s"
    assert "-O" not in args
    spec = port_spec(NmapOptions(max_rate=1, host_rate=1, tcp_ports=(80, 9100, 9103, 502), udp_ports=(161,)))
    assert spec == "T:80,502,U:161"
