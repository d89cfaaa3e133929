"""Evidence grouping, the report document, pseudonymisation, passive frame parsing and the CLI's refusals."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.discovery.passive import PassiveHandler
from agent.evidence import EvidenceBook
from agent.pseudonym import Pseudonymiser, load_key
from agent.report import build_report
from agent.scope import Scope
from agent.settings import load_settings
from fingerprints.report import Report

SCOPE = Scope.parse(["198.18.0.0/24", "198.18.1.0/24"])


def _book() -> EvidenceBook:
    book = EvidenceBook()
    book.link("198.18.0.21", "C0-56-E3-3A-91-04")
    book.add(
        "http.server",
        "App-webs/",
        source="probe.http",
        ip="198.18.0.21",
        mac=book.mac_of("198.18.0.21"),
        port=80,
        proto="tcp",
    )
    book.add("http.server", "App-webs/", source="probe.http", ip="198.18.0.21", port=80, proto="tcp")
    book.add(
        "tls.subject", "CN=198.18.0.21,O=Hikvision,C=CN", source="probe.tls", ip="198.18.0.21", port=443, proto="tcp"
    )
    book.add("s7.vendor", "Original Siemens Equipment", source="probe.s7", ip="198.18.1.21", port=102, proto="tcp")
    book.add_hostname("198.18.1.21", "plc-1")
    assert not book.add("no.such.kind", "x", source="t", ip="198.18.1.21")
    return book


def test_devices_grouped_by_mac_on_link_else_ip() -> None:
    devices = _book().devices()
    assert [(d.mac, d.ips) for d in devices] == [("c0:56:e3:3a:91:04", ["198.18.0.21"]), (None, ["198.18.1.21"])]
    cam, plc = devices
    assert sorted(o.kind for o in cam.observations) == ["http.server", "mac", "tls.subject"]
    assert plc.hostnames == ["plc-1"]


def test_report_validates_and_round_trips() -> None:
    now = datetime.now(UTC)
    report, rows = build_report(
        agent_id=uuid.uuid4(),
        scope=SCOPE,
        profile="safe",
        started_at=now,
        finished_at=now,
        packets_sent=42,
        max_packet_rate=17.5,
        book=_book(),
        host=None,
        identify=False,
    )
    doc = report.to_document()
    assert doc["schema"] == "herkomst.report/1" and doc["scan"]["packets_sent"] == 42
    assert Report.model_validate(doc).report_id == report.report_id
    assert [r.address for r in rows] == ["198.18.0.21 (c0:56:e3:3a:91:04)", "198.18.1.21"]


def test_pseudonymisation(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"short")
    from agent.errors import ConfigError

    with pytest.raises(ConfigError, match="shorter"):
        load_key(key_file)
    key_file.write_bytes(b"0123456789abcdef0123456789abcdef")
    now = datetime.now(UTC)
    report, _ = build_report(
        agent_id=uuid.uuid4(),
        scope=SCOPE,
        profile="safe",
        started_at=now,
        finished_at=now,
        packets_sent=0,
        max_packet_rate=0,
        book=_book(),
        host=None,
        identify=False,
    )
    doc = Pseudonymiser(load_key(key_file)).document(report.to_document())
    text = json.dumps(doc)
    assert "198.18." not in text and "plc-1" not in text
    assert "c0:56:e3:3a:91:04" in text  # the vendor prefix is the evidence; it stays
    Report.model_validate(doc)
    # Keyed and stable: the same input maps to the same pseudonym, another key to another.
    again = Pseudonymiser(load_key(key_file)).document(report.to_document())
    assert again["devices"][0]["ips"] == doc["devices"][0]["ips"]
    other = Pseudonymiser(b"another key of enough length!!").document(report.to_document())
    assert other["devices"][0]["ips"] != doc["devices"][0]["ips"]


def test_passive_frames_become_observations() -> None:
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS, DNSRR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import ARP, Ether

    book = EvidenceBook()
    handler = PassiveHandler(book, SCOPE, on_link_in_scope=True)
    handler(
        Ether(src="c0:56:e3:3a:91:04") / ARP(op=1, psrc="198.18.0.21", hwsrc="c0:56:e3:3a:91:04", pdst="198.18.0.1")
    )
    handler(Ether(src="02:00:00:00:00:09") / ARP(op=1, psrc="10.1.1.1", hwsrc="02:00:00:00:00:09"))  # out of scope
    handler(
        Ether(src="24:0a:c4:b1:23:45")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(op=1, chaddr=bytes.fromhex("240ac4b12345"))
        / DHCP(
            options=[
                ("message-type", "request"),
                ("requested_addr", "198.18.0.51"),
                ("vendor_class_id", b"shellyplus1"),
                ("hostname", b"shellyplus1-240ac4b12345"),
                "end",
            ]
        )
    )
    handler(
        Ether(src="a0:d3:c1:11:22:33")
        / IP(src="198.18.0.42", dst="224.0.0.251")
        / UDP(sport=5353, dport=5353)
        / DNS(
            qr=1,
            an=[
                DNSRR(rrname="_ipp._tcp.local.", type="PTR", rdata="HP LaserJet._ipp._tcp.local."),
                DNSRR(rrname="HP LaserJet._ipp._tcp.local.", type="TXT", rdata=[b"ty=HP LaserJet M404"]),
            ],
        )
    )
    handler(
        Ether(src="50:c7:bf:0e:6a:21")
        / IP(src="198.18.0.34", dst="239.255.255.250")
        / UDP(sport=1900, dport=1900)
        / b"NOTIFY * HTTP/1.1\r\nSERVER: Linux/2.6 UPnP/1.0 TP-LINK/1.0\r\nNT: upnp:rootdevice\r\n\r\n"
    )
    got = {(d.mac, o.kind, o.value) for d in book.devices() for o in d.observations}
    assert ("c0:56:e3:3a:91:04", "mac", "c0:56:e3:3a:91:04") in got
    assert not any(v == "02:00:00:00:00:09" for _, _, v in got)
    assert ("24:0a:c4:b1:23:45", "dhcp.vendor_class", "shellyplus1") in got
    assert ("24:0a:c4:b1:23:45", "dhcp.hostname", "shellyplus1-240ac4b12345") in got
    assert ("a0:d3:c1:11:22:33", "mdns.service", "_ipp._tcp.local.") in got
    assert ("a0:d3:c1:11:22:33", "mdns.device_info", "HP LaserJet._ipp._tcp.local.: ty=HP LaserJet M404") in got
    assert ("50:c7:bf:0e:6a:21", "upnp.server", "Linux/2.6 UPnP/1.0 TP-LINK/1.0") in got


def test_lldp_frame() -> None:
    from scapy.contrib.lldp import (
        LLDPDU,
        LLDPDUChassisID,
        LLDPDUEndOfLLDPDU,
        LLDPDUPortID,
        LLDPDUSystemDescription,
        LLDPDUSystemName,
        LLDPDUTimeToLive,
    )
    from scapy.layers.l2 import Ether

    book = EvidenceBook()
    frame = (
        Ether(src="00:e0:fc:12:34:56", dst="01:80:c2:00:00:0e")
        / LLDPDUChassisID(subtype=4, id="00:e0:fc:12:34:56")
        / LLDPDUPortID(subtype=5, id="GE0/0/1")
        / LLDPDUTimeToLive(ttl=120)
        / LLDPDUSystemName(system_name="HUAWEI-S5735")
        / LLDPDUSystemDescription(description="Huawei Versatile Routing Platform Software")
        / LLDPDUEndOfLLDPDU()
    )
    assert LLDPDU is not None
    PassiveHandler(book, SCOPE, on_link_in_scope=True)(Ether(bytes(frame)))
    got = {(o.kind, o.value) for d in book.devices() for o in d.observations}
    assert ("lldp.sysname", "HUAWEI-S5735") in got
    assert ("lldp.sysdesc", "Huawei Versatile Routing Platform Software") in got


runner = CliRunner()


def test_cli_refuses_without_scope_and_outside(tmp_path: Path) -> None:
    env = {"HERKOMST_AGENT_STATE_DIR": str(tmp_path)}
    result = runner.invoke(app, ["scan", "--scope", "", "--profile", "safe"], env=env)
    assert result.exit_code == 1 and "no scope" in result.output
    result = runner.invoke(app, ["scan", "--scope", "printer.example", "--profile", "safe"], env=env)
    assert result.exit_code == 1 and "not a CIDR" in result.output
    result = runner.invoke(app, ["scan", "--scope", "198.18.0.0/24", "--profile", "aggressive"], env=env)
    assert result.exit_code == 2


def test_cli_dry_run_lists_probes_and_sends_nothing(tmp_path: Path) -> None:
    env = {"HERKOMST_AGENT_STATE_DIR": str(tmp_path)}
    result = runner.invoke(
        app,
        ["scan", "--scope", "198.18.1.20/30", "--exclude", "198.18.1.22", "--profile", "safe", "--dry-run"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "  198.18.1.21\n" in result.output and "  198.18.1.22\n" not in result.output
    assert "tcp/502 modbus" in result.output and "9100" not in result.output
    doc = json.loads(result.output[result.output.index("{") :])
    assert doc["scan"]["packets_sent"] == 0 and doc["devices"] == []
    assert not (tmp_path / "spool").exists()


def test_status_and_flush_when_not_enrolled(tmp_path: Path) -> None:
    env = {"HERKOMST_AGENT_STATE_DIR": str(tmp_path)}
    result = runner.invoke(app, ["status", "--json"], env=env)
    assert result.exit_code == 0 and json.loads(result.output)["pending"] == 0
    result = runner.invoke(app, ["flush"], env=env)
    assert result.exit_code == 1 and "not enrolled" in result.output


def test_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERKOMST_AGENT_SNMP_COMMUNITIES", '["public","lab"]')
    assert load_settings().snmp_communities == ["public", "lab"]
