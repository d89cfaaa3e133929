"""Passive listening on real frames: every frame of tests/data/frames (cut byte for byte from public captures of real
devices; provenance in its README and index.json) goes through the passive handler exactly as the sniffer hands it
over, and must give what the frame holds — the index's `extract`, decoded independently of this code.

The frames carry the addresses of the networks they were captured on (private ranges of other people's networks).
Nothing here sends or receives a packet, so the parser tests let the handler record every address (`EveryAddress`
stands where a scope would) instead of naming those ranges as a scope; the end-to-end `--pcap` test gives the lab's
own scope and checks that nothing outside it reaches the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.discovery.passive import PassiveHandler, load_decoders
from agent.evidence import EvidenceBook

FRAMES = Path(__file__).parents[1] / "data" / "frames"
INDEX: list[dict[str, Any]] = json.loads((FRAMES / "index.json").read_text(encoding="utf-8"))
LAB_SCOPE = "198.18.0.0/15"


class EveryAddress:
    """What a scope answers, for a parser test that sends nothing: every address the frames carry counts."""

    def contains(self, address: object) -> bool:
        return True


SCOPE: Any = EveryAddress()


def _raw_frames(pcap: str) -> list[bytes]:
    from scapy.utils import RawPcapReader

    return [bytes(data) for data, _meta in RawPcapReader(str(FRAMES / pcap))]


def _decode(raw: bytes) -> Any:
    """What AsyncSniffer hands to its callback: the frame decoded by the class scapy registers for DLT 1."""
    from scapy.config import conf

    return conf.l2types.num2layer[1](raw)


def _ipv4(address: str | None) -> bool:
    return bool(address) and ":" not in str(address)


def _udp_over_plain_ipv6(entry: dict[str, Any]) -> bool:
    """An IPv6 frame whose UDP header follows the fixed header (no extension header, e.g. a fragment)."""
    raw = _raw_frames(entry["file"])[entry["index"]]
    return raw[12:14] == b"\x86\xdd" and raw[20] == 17


def _expected(entry: dict[str, Any]) -> tuple[set[tuple[str, str]], set[str]]:
    """(kind, value) observations and host names a correct passive parser gets from one frame."""
    e, kind = entry["extract"], entry["kind"]
    obs: set[tuple[str, str]] = set()
    names: set[str] = set()
    if kind == "arp" and SCOPE.contains(e["sender_ip"]):
        obs.add(("mac", e["sender_mac"]))
    elif kind == "dhcp" and e.get("op") == 1:
        if e.get("opt60_vendor_class"):
            obs.add(("dhcp.vendor_class", e["opt60_vendor_class"]))
        if e.get("opt12_host_name"):
            obs.add(("dhcp.hostname", e["opt12_host_name"].strip("\x00 ")))
    elif kind == "lldp":
        if e.get("system_description"):
            obs.add(("lldp.sysdesc", e["system_description"].strip("\x00 ")))
        if e.get("system_name"):
            obs.add(("lldp.sysname", e["system_name"].strip("\x00 ")))
    elif kind == "cdp":
        obs.add(("cdp.platform", e["platform"]))
        if any(SCOPE.contains(a) for a in e.get("addresses", []) if a != "0.0.0.0"):
            names.add(e["device_id"])
    elif kind == "ssdp" and e.get("SERVER"):
        obs.add(("upnp.server", e["SERVER"]))
    elif kind == "mdns" and e.get("response") and (_ipv4(e.get("ip_src")) or _udp_over_plain_ipv6(entry)):
        for rr in e["records"]:
            if rr["type"] == 12 and rr["name"].startswith("_") and not rr["name"].startswith("_services"):
                obs.add(("mdns.service", rr["name"]))
            elif rr["type"] == 16 and rr["rdata"]:
                obs.add(("mdns.device_info", f"{rr['name']}: {' '.join(rr['rdata'])}"))
    elif kind == "ndp":
        obs.add(("mac", e.get("target_lladdr") or e.get("source_lladdr") or entry["eth_src"]))
    elif kind == "nbns" and e.get("opcode") == "registration":
        names.add(e["name"])
    return obs, names


def _heard(raw: bytes) -> tuple[set[tuple[str, str]], set[str]]:
    book = EvidenceBook()
    handler = PassiveHandler(book, SCOPE, on_link_in_scope=True)
    handler(_decode(raw))
    devices = book.devices()
    return ({(o.kind, o.value) for d in devices for o in d.observations if o.source.startswith("passive")
             or o.kind == "mac"}, {n for d in devices for n in d.hostnames})


CASES = [pytest.param(entry, id=f"{entry['file']}#{entry['index']}") for entry in INDEX]


@pytest.mark.parametrize("entry", CASES)
def test_a_real_frame_gives_what_it_holds(entry: dict[str, Any]) -> None:
    load_decoders()
    raw = _raw_frames(entry["file"])[entry["index"]]
    import hashlib

    assert hashlib.sha256(raw).hexdigest() == entry["frame_sha256"], "the frame is not the one the index describes"
    want_obs, want_names = _expected(entry)
    got_obs, got_names = _heard(raw)
    missing = {(k, v) for k, v in want_obs if (k, v) not in got_obs and not (k == "mac" and (k, v.lower()) in got_obs)}
    assert not missing, f"not heard: {missing}; heard {got_obs}"
    assert want_names <= got_names, f"host names {want_names - got_names} not heard; got {got_names}"


def test_the_frames_cover_every_announcement_the_handler_reads() -> None:
    heard = {entry["kind"] for entry in INDEX if _expected(entry) != (set(), set())}
    assert heard == {"arp", "dhcp", "lldp", "cdp", "ssdp", "mdns", "nbns", "ndp"}
    # real CDP is IEEE 802.3 with LLC/SNAP, not Ethernet II: the case the handler once missed
    load_decoders()
    cdp = _decode(_raw_frames("cdp.pcap")[0])
    assert type(cdp).__name__ == "Dot3"


def test_frames_decode_in_a_fresh_process_without_other_imports() -> None:
    """The `passive` profile imports nothing else from scapy before sniffing: the handler alone must make the
    sniffer's frames decodable (once, 0 of 25 announce-only devices were heard because of this)."""
    code = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
from agent.discovery.passive import PassiveHandler
from agent.evidence import EvidenceBook
from scapy.config import conf
from scapy.utils import RawPcapReader
class EveryAddress:
    def contains(self, address):
        return True
book = EvidenceBook()
handler = PassiveHandler(book, EveryAddress(), on_link_in_scope=True)
for name in ("cdp.pcap", "lldp.pcap", "dhcp.pcap", "arp.pcap"):
    for raw, _ in RawPcapReader({str(FRAMES)!r} + "/" + name):
        handler(conf.l2types.num2layer[1](bytes(raw)))
print(json.dumps(sorted({{o.kind for d in book.devices() for o in d.observations}})))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    kinds = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {"cdp.platform", "lldp.sysdesc", "lldp.sysname", "dhcp.vendor_class", "mac"} <= kinds, out.stdout


def test_a_capture_file_becomes_an_ordinary_report_and_sends_nothing(tmp_path: Path) -> None:
    """`herkomst agent scan --pcap FILE…`: the same decoders over a capture made on a SPAN port. The capture's
    link counts as inside the scope, so what frames say without an address (LLDP, CDP, DHCP options, neighbour
    discovery, link-local mDNS) is kept; every address outside the scope is left out."""
    import ipaddress

    from typer.testing import CliRunner

    from agent.cli import app
    from fingerprints.report import Report

    out = tmp_path / "report.json"
    args = ["scan", "--scope", LAB_SCOPE, "--output", str(out), "--state-dir", str(tmp_path / "st")]
    for pcap in sorted(FRAMES.glob("*.pcap")):
        args += ["--pcap", str(pcap)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = Report.model_validate_json(out.read_bytes())
    assert report.scan.profile == "passive" and report.scan.packets_sent == 0
    lab = ipaddress.ip_network(LAB_SCOPE)
    assert all(ip in lab for d in report.devices for ip in d.ips), [d.ips for d in report.devices]
    got = {(o.kind, o.value) for d in report.devices for o in d.observations}
    link_kinds = {"lldp.sysdesc", "lldp.sysname", "cdp.platform", "dhcp.vendor_class", "dhcp.hostname",
                  "mdns.device_info", "mdns.service"}
    for entry in INDEX:
        want, _names = _expected(entry)
        on_link = {(k, v) for k, v in want if k in link_kinds and not (k.startswith("mdns") and _ipv4(
            entry["extract"].get("ip_src")))}
        assert on_link <= got, (entry["file"], entry["index"], on_link - got)
    platforms = {o.value for d in report.devices for o in d.observations if o.kind == "cdp.platform"}
    assert platforms == {"Cisco WS-C3550-24", "cisco 7206VXR"}
    # ARP, SSDP and NBNS frames only carry addresses outside the lab's scope: none of it is reported
    assert not any(o.source in ("passive.arp", "passive.ssdp") for d in report.devices for o in d.observations)


def test_a_file_that_is_not_a_capture_is_refused_with_what_to_give(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agent.cli import app

    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a capture\n")
    result = CliRunner().invoke(app, ["scan", "--scope", LAB_SCOPE, "--pcap", str(bogus),
                                      "--output", str(tmp_path / "r.json"), "--state-dir", str(tmp_path / "st")])
    assert result.exit_code != 0
    assert "cannot read capture" in result.output and "pcapng" in result.output
    assert not (tmp_path / "r.json").exists()


def test_capture_frames_the_live_filter_would_drop_are_skipped_on_their_bytes() -> None:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Dot1Q, Ether

    from agent.discovery.capture import announces

    # every real announcement frame passes, also inside an 802.1Q tag — but an IPv6 packet whose UDP header sits
    # behind an extension header (a fragment), which the live filter's `udp` does not match either
    for entry in INDEX:
        raw = _raw_frames(entry["file"])[entry["index"]]
        behind_extension = raw[12:14] == b"\x86\xdd" and raw[20] not in (17, 58)  # UDP, ICMPv6
        assert announces(raw) is not behind_extension, (entry["file"], entry["index"])
    dhcp = Ether(_raw_frames("dhcp.pcap")[0])
    tagged = bytes(Ether(src=dhcp.src, dst=dhcp.dst) / Dot1Q(vlan=10) / dhcp.payload)
    assert announces(tagged)
    # the bulk of a SPAN capture is not
    assert not announces(bytes(Ether() / IP(dst="198.18.0.9") / TCP(dport=502) / (b"\x00" * 12)))
    assert not announces(bytes(Ether() / IP(dst="198.18.0.9") / UDP(sport=40000, dport=161)))
    assert not announces(b"\x00" * 10)


def test_an_nmap_scan_the_operator_ran_is_imported_and_nothing_is_sent(tmp_path: Path) -> None:
    """`herkomst agent scan --nmap-xml FILE`: an existing `nmap -oX` result becomes an ordinary report; hosts
    outside --scope are left out and said so; a file that is not nmap XML is refused."""
    from typer.testing import CliRunner

    from agent.cli import app
    from fingerprints.report import Report

    xml = Path(__file__).parent / "data" / "ics-os.xml"
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["scan", "--scope", "198.18.1.0/24", "--nmap-xml", str(xml), "--json",
                                      "--output", str(out), "--state-dir", str(tmp_path / "st")])
    assert result.exit_code == 0, result.output
    assert "outside the scope were left out" in result.output
    report = Report.model_validate_json(out.read_bytes())
    assert report.scan.packets_sent == 0
    ips = {str(ip) for d in report.devices for ip in d.ips}
    assert ips and all(ip.startswith("198.18.1.") for ip in ips), ips
    assert any(o.kind == "s7.module" or o.kind.startswith("nmap.") for d in report.devices for o in d.observations)
    bogus = tmp_path / "scan.txt"
    bogus.write_text("Nmap scan report for 198.18.1.21\n")
    result = CliRunner().invoke(app, ["scan", "--scope", "198.18.1.0/24", "--nmap-xml", str(bogus),
                                      "--output", str(tmp_path / "r2.json"), "--state-dir", str(tmp_path / "st")])
    assert result.exit_code != 0 and "nmap -oX" in result.output


def test_the_agent_does_not_find_itself_in_neighbour_discovery() -> None:
    load_decoders()
    entry = next(e for e in INDEX if e["kind"] == "ndp" and e["extract"]["icmpv6"] == "NA")
    raw = _raw_frames(entry["file"])[entry["index"]]
    mac = entry["extract"].get("target_lladdr") or entry["eth_src"]
    book = EvidenceBook()
    PassiveHandler(book, SCOPE, on_link_in_scope=True, own=frozenset({mac.lower()}))(_decode(raw))
    assert book.devices() == []
