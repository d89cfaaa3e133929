"""From the agent namespace, every device answers on every one of its protocols, checked with real clients:
curl, openssl s_client, snmpget, nmap (NSE s7-info, enip-info, bacnet-info), pymodbus, tcpdump, plain sockets."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.lab import Lab
from deploy.lab.inventory import load_devices
from deploy.lab.model import LabDevice, LabService
from deploy.lab.topology import BRIDGE_MACS
from tests.lab.helpers import agent_run, nmap, probe

pytestmark = pytest.mark.lab
ROOT_MACS = " or ".join(f"ether src {mac}" for mac in BRIDGE_MACS.values())

CASES = [
    pytest.param(dev, svc, id=f"{dev.name}-{svc.protocol}-{svc.port or ''}")
    for dev in load_devices()
    for svc in dev.services
    if svc.protocol not in ("lldp", "cdp", "dhcp", "modbus-fragile", "profinet")
]


def _curl(lab: Lab, url: str) -> str:
    proc = agent_run(lab, ["curl", "-sS", "-k", "-i", "--max-time", "5", url])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _check_http(lab: Lab, dev: LabDevice, svc: LabService) -> None:
    scheme = "https" if svc.protocol == "https" else "http"
    p = svc.params
    page = _curl(lab, f"{scheme}://{dev.ip}:{svc.port}/")
    if p.get("server"):
        assert f"\nServer: {p['server']}\n" in page  # text mode folds CRLF
    assert f"<title>{p['title']}</title>" in page
    if p.get("www_authenticate"):
        auth = page if p.get("status") == 401 else _curl(lab, f"{scheme}://{dev.ip}:{svc.port}{p['auth_path']}")
        assert auth.startswith(f"HTTP/{p.get('http_version', '1.1')} 401")
        assert f"\nWWW-Authenticate: {p['www_authenticate']}\n" in auth
    if p.get("json_path"):
        assert p["json_body"] in _curl(lab, f"{scheme}://{dev.ip}:{svc.port}{p['json_path']}")


def _check_tls(lab: Lab, dev: LabDevice, svc: LabService) -> None:
    proc = agent_run(
        lab,
        ["timeout", "10", "openssl", "s_client", "-connect", f"{dev.ip}:{svc.port}", "-showcerts"],
        timeout=15,
    )
    out = proc.stdout
    subject = svc.params["cert_subject"]
    line = next(ln for ln in out.splitlines() if ln.startswith("subject=")).replace('"', "")
    for key in ("O", "CN"):
        assert f"{key} = {subject[key]}" in line, line
    if svc.params.get("cert_issuer"):
        issuer = next(ln for ln in out.splitlines() if ln.startswith("issuer="))
        assert f"CN = {svc.params['cert_issuer']['CN']}" in issuer


def _check(lab: Lab, dev: LabDevice, svc: LabService) -> None:
    p = svc.params
    proto = svc.protocol
    if proto == "http":
        _check_http(lab, dev, svc)
    elif proto == "https":
        _check_tls(lab, dev, svc)
        _check_http(lab, dev, svc)
    elif proto in ("ssh", "ftp", "telnet"):
        got = probe(lab, "banner", dev.ip, str(svc.port))["data"]
        negotiate = bytes.fromhex(p.get("negotiate", "")).decode("latin-1")
        assert got.startswith(negotiate + p["banner"].rstrip("\r\n")), got
    elif proto == "tcp-silent":
        assert probe(lab, "banner", dev.ip, str(svc.port)) == {"data": ""}
    elif proto == "rtsp":
        got = probe(lab, "rtsp", dev.ip, str(svc.port))["data"]
        assert got.startswith("RTSP/1.0 200 OK")
        if p.get("server"):
            assert f"Server: {p['server']}" in got
        assert f"WWW-Authenticate: {p['realm']}" in got
    elif proto == "snmp":
        proc = lab.exec(
            "agent",
            [
                "snmpget",
                "-v2c",
                "-c",
                "public",
                "-t",
                "2",
                "-r",
                "1",
                "-On",
                "-Ov",
                dev.ip,
                "1.3.6.1.2.1.1.1.0",
                "1.3.6.1.2.1.1.2.0",
            ],
            capture_output=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout.decode("latin-1")  # bytes: the sysDescr's own CR LF must survive
        assert f'STRING: "{p["sysdescr"]}"\n' in out, out
        assert out.endswith(f"OID: .{p['sysobjectid']}\n"), out
        for user in p.get("v3_users", ()):
            v3 = lab.exec("agent", ["snmpget", "-v3", "-l", "authPriv", "-u", user["user"], "-a", user["auth"],
                                    "-A", user["auth_key"], "-x", user["priv"], "-X", user["priv_key"], "-t", "2",
                                    "-r", "1", "-On", "-Ov", dev.ip, "1.3.6.1.2.1.1.2.0"],
                          capture_output=True, timeout=30)
            assert v3.returncode == 0 and v3.stdout.decode() == f"OID: .{p['sysobjectid']}\n", v3.stderr
    elif proto == "ssdp":
        reply = probe(lab, "ssdp", dev.ip)["data"]
        assert f"SERVER: {p['server']}\r\n" in reply
        location = re.search(r"LOCATION: (\S+)", reply)
        assert location and location.group(1) == f"http://{dev.ip}:{p['http_port']}/description.xml"
        xml = _curl(lab, location.group(1))
        assert f"<manufacturer>{p['manufacturer']}</manufacturer>" in xml
        assert f"<modelName>{p['model_name']}</modelName>" in xml
    elif proto == "mdns":
        answer = probe(lab, "mdns", dev.ip, p["service_type"])["data"]
        assert p["instance"] in answer
        for key, value in p["txt"].items():
            assert f"{key}={value}" in answer
    elif proto == "modbus":
        regs = p.get("string_registers", {})
        start, text = next(iter(regs.items())) if regs else ("-1", "")
        got = probe(lab, "modbus", dev.ip, str(svc.port), str(start), str((len(text) + 1) // 2))
        assert got["info"] == {"0": p["vendor_name"], "1": p["product_code"], "2": p["revision"]}
        if regs:
            assert got["registers_text"] == text
    elif proto == "s7":
        out = nmap(lab, "-sT", "-p", str(svc.port), "--script", "s7-info", dev.ip)
        assert f"Module: {p['order_number']}" in out
        assert f"Serial Number: {p['serial']}" in out
        assert f"Version: {p['firmware'].lstrip('V')}" in out
    elif proto == "enip":
        for scan in ("-sT", "-sU"):
            out = nmap(lab, scan, "-p", str(svc.port), "--script", "enip-info", dev.ip)
            assert f"productName: {p['product_name']}" in out, out
            assert f"({p['vendor_id']})" in out
    elif proto == "bacnet":
        out = nmap(lab, "-sU", "-p", str(svc.port), "--script", "bacnet-info", dev.ip)
        assert f"Vendor Name: {p['vendor_name']}" in out, out
        assert f"Model Name: {p['model_name']}" in out
        assert f"Vendor ID: {p['vendor_name']} ({p['vendor_id']})" in out or f"({p['vendor_id']})" in out
    else:
        raise AssertionError(f"no check for protocol {proto}")


@pytest.mark.parametrize(("dev", "svc"), CASES)
def test_device_answers(lab: Lab, dev: LabDevice, svc: LabService) -> None:
    _check(lab, dev, svc)


def test_nmap_finds_every_tcp_service_open(lab: Lab) -> None:
    """One bounded connect scan per device of exactly its declared TCP ports (the fragile device excluded)."""
    for dev in load_devices():
        ports = sorted({s.port for s in dev.services if s.transport.startswith("tcp") and s.port})
        if dev.fragile or not ports:
            continue
        out = nmap(lab, "-sT", "-p", ",".join(map(str, ports)), dev.ip)
        for port in ports:
            assert re.search(rf"^{port}/tcp\s+open", out, re.M), f"{dev.name}:{port}\n{out}"


def test_passive_device_answers_nothing(lab: Lab) -> None:
    dev = next(d for d in load_devices() if d.passive)
    proc = agent_run(lab, ["nmap", "-n", "-sn", "-PR", "--max-retries", "1", "--host-timeout", "10s", dev.ip])
    assert "0 hosts up" in proc.stdout, proc.stdout
    assert "error" in probe(lab, "banner", dev.ip, "80")


def test_lldp_cdp_and_dhcp_are_heard_from_the_agent(lab: Lab, tmp_path: Path) -> None:
    from scapy.contrib.cdp import CDPMsgPlatform
    from scapy.contrib.lldp import LLDPDUSystemName
    from scapy.layers.dhcp import DHCP
    from scapy.utils import rdpcap

    senders = [d for d in load_devices() if {"lldp", "cdp", "dhcp"} & set(d.protocols())]
    interval = max(float(s.params.get("interval", 5)) for d in senders for s in d.services if s.transport == "l2")
    pcap = tmp_path / "l2.pcap"
    capture = lab.popen(
        "agent",
        # Also capture anything the root namespace (the bridges' MACs) sends: nobody talks to the collector
        # address here, so the root namespace must stay silent on the lab.
        ["tcpdump", "-i", "eth0", "-U", "-w", str(pcap),
         f"ether proto 0x88cc or ether dst 01:00:0c:cc:cc:cc or (udp and port 67) or {ROOT_MACS}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(interval + 1.5)  # every sender sends at least once per interval
    capture.terminate()
    capture.wait(5)
    frames = rdpcap(str(pcap))
    # f.src: Ethernet II and IEEE 802.3 (CDP, decoded as Dot3) frames alike
    assert not [f.summary() for f in frames if f.src in BRIDGE_MACS.values()], "root namespace spoke"
    for dev in senders:
        mine = [f for f in frames if f.src == dev.mac]
        if "lldp" in dev.protocols():
            names = {f[LLDPDUSystemName].system_name for f in mine if f.haslayer(LLDPDUSystemName)}
            assert dev.service("lldp").params["sysname"].encode() in names, dev.name
        if "cdp" in dev.protocols():
            platforms = {f[CDPMsgPlatform].val for f in mine if f.haslayer(CDPMsgPlatform)}
            assert dev.service("cdp").params["platform"].encode() in platforms, dev.name
            assert all(type(f).__name__ == "Dot3" for f in mine if f.haslayer(CDPMsgPlatform))  # 802.3, as real CDP
        if "dhcp" in dev.protocols():
            opts: list[dict[str, object]] = [
                dict(o for o in f[DHCP].options if isinstance(o, tuple)) for f in mine if f.haslayer(DHCP)
            ]
            assert opts, f"no DHCP from {dev.name}"
            assert opts[0]["vendor_class_id"] == dev.service("dhcp").params["vendor_class"].encode()
            assert opts[0]["hostname"] == dev.service("dhcp").params["hostname"].encode()


def test_the_profinet_device_answers_identify_as_scapys_dissector_reads_it(lab: Lab) -> None:
    """The lab's PROFINET device, asked from the agent's namespace with a hand-made Identify-All, answers with blocks
    that scapy's own DCP dissector (a third implementation, beside the lab's encoder and the agent's parser) reads
    as the device's configuration says."""
    import json

    code = (
        "import socket, struct, json, time\n"
        "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8892)); s.bind(('eth0', 0x8892))\n"
        "src = open('/sys/class/net/eth0/address').read().strip()\n"
        "req = bytes.fromhex('010ecf000000' + src.replace(':', '')) + struct.pack('!HHBBIHH', 0x8892, 0xfefe, 5, 0,"
        " 0x4242, 1, 4) + bytes([0xff, 0xff, 0, 0])\n"
        "s.send(req + bytes(60 - len(req))); s.settimeout(0.2); end = time.time() + 2; got = []\n"
        "while time.time() < end:\n"
        "    try: f = s.recv(1514)\n"
        "    except TimeoutError: continue\n"
        "    if f[14:16] == b'\\xfe\\xff' and f[18:22] == struct.pack('!I', 0x4242): got.append(f.hex())\n"
        "print(json.dumps(got))\n"
    )
    proc = agent_run(lab, [sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout)
    import scapy.contrib.pnio  # noqa: F401 - binds EtherType 0x8892
    from scapy.contrib.pnio_dcp import DCPDeviceIDBlock, DCPIPBlock, DCPManufacturerSpecificBlock, DCPNameOfStationBlock
    from scapy.layers.l2 import Ether

    devices = [d for d in load_devices() if "profinet" in d.protocols()]
    assert len(answers) == len(devices)  # every PROFINET device on the link, once each
    for dev in devices:
        frame = next(Ether(bytes.fromhex(a)) for a in answers if Ether(bytes.fromhex(a)).src == dev.mac)
        p = dev.service("profinet").params
        assert frame[DCPNameOfStationBlock].name_of_station.decode() == p["station_name"]
        assert frame[DCPManufacturerSpecificBlock].device_vendor_value.decode() == p["vendor_value"]
        ids = frame[DCPDeviceIDBlock]
        assert (ids.vendor_id, ids.device_id) == (p["vendor_id"], p["device_id"])
        assert frame[DCPIPBlock].ip == dev.ip


def test_the_agent_reads_snmpv3_where_no_community_answers(lab: Lab) -> None:
    """The agent's own SNMP probe, run in the agent namespace against the lab switch that has an SNMPv3 user:
    with a community the switch does not know, it reads the identity as that user (authPriv, SHA-256 and AES)."""
    import json
    import sys

    dev, svc = next((d, s) for d in load_devices() for s in d.services
                    if s.protocol == "snmp" and s.params.get("v3_users"))
    user = svc.params["v3_users"][0]
    code = (
        "import json, sys\n"
        "from agent.probes.base import ProbeContext\n"
        "from agent.probes.snmp import probe_snmp\n"
        "from agent.ratelimit import RateLimiter\n"
        "from agent.settings import SnmpV3Credential\n"
        "u = json.loads(sys.argv[2])\n"
        "cred = SnmpV3Credential(user=u['user'], auth_protocol=u['auth'], auth_key=u['auth_key'],\n"
        "                        priv_protocol=u['priv'], priv_key=u['priv_key'])\n"
        "ctx = ProbeContext(limiter=RateLimiter(10, 10), timeout=2.0, snmp_communities=['not-this-one'],\n"
        "                   snmp_v3=[cred])\n"
        "found = probe_snmp(sys.argv[1], 161, ctx)\n"
        "print(json.dumps({'found': {f.kind: f.value for f in found}, 'source': sorted({f.source for f in found}),\n"
        "                  'packets': ctx.limiter.packets_sent}))\n"
    )
    proc = agent_run(lab, [sys.executable, "-c", code, dev.ip, json.dumps(user)], timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = " ".join(line.strip() for line in svc.params["sysdescr"].splitlines() if line.strip())
    assert got["found"] == {"snmp.sysdescr": lines, "snmp.sysobjectid": svc.params["sysobjectid"]}
    assert got["source"] == ["probe.snmp.v3"] and got["packets"] == 3
