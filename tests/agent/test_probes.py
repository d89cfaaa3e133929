"""Every safe-profile probe against a real server on loopback speaking the device's protocol."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.probes import FORBIDDEN_PORTS, SAFE_PROBES, ProbeContext
from agent.probes.banners import probe_ftp, probe_rtsp, probe_ssh, probe_telnet
from agent.probes.ot import probe_bacnet, probe_enip, probe_modbus, probe_s7
from agent.probes.snmp import probe_snmp
from agent.probes.upnp import probe_ssdp
from agent.probes.web import probe_http, probe_https
from agent.ratelimit import RateLimiter
from tests.agent.agent_servers import (
    bacnet_answer,
    enip_identity,
    http_handler,
    read_request,
    s7_handler,
    self_signed,
    tcp_server,
    udp_server,
)

LO = "127.0.0.1"
HUAWEI_DESCR = "Huawei Versatile Routing Platform Software, VRP (R) software, Version 5.170 S5735-L24T4S-A1"


@pytest.fixture
def ctx() -> ProbeContext:
    return ProbeContext(limiter=RateLimiter(1000, 1000), timeout=1.0)


def kinds(findings: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {f.kind: f.value for f in findings}


def test_curated_list_never_touches_printer_raw_ports() -> None:
    assert not FORBIDDEN_PORTS & {p.port for p in SAFE_PROBES}


def test_http(ctx: ProbeContext) -> None:
    handler = http_handler(
        {"Server": "App-webs/", "WWW-Authenticate": 'Digest realm="IP Camera(F2391)"'},
        "<html><head><TITLE>Hikvision\n Web Client</TITLE></head></html>",
    )
    with tcp_server(handler) as port:
        found = kinds(probe_http(LO, port, ctx))
    assert found == {
        "http.server": "App-webs/",
        "http.www_authenticate": 'Digest realm="IP Camera(F2391)"',
        "http.title": "Hikvision Web Client",
    }
    assert ctx.limiter.packets_sent >= 5


def test_https_reads_certificate(ctx: ProbeContext, tmp_path: Path) -> None:
    tls = self_signed(tmp_path, {"C": "CN", "O": "Hikvision", "CN": "198.18.0.21"})

    def handle(sock: socket.socket) -> None:
        with tls.wrap_socket(sock, server_side=True) as s:
            http_handler({"Server": "App-webs/"}, "<title>x</title>")(s)

    with tcp_server(handle) as port:
        found = kinds(probe_https(LO, port, ctx))
    assert found["tls.subject"] == "CN=198.18.0.21,O=Hikvision,C=CN"
    assert found["tls.issuer"] == found["tls.subject"]
    assert found["http.server"] == "App-webs/"


def test_closed_port_yields_nothing(ctx: ProbeContext) -> None:
    with socket.socket() as s:
        s.bind((LO, 0))
        port = s.getsockname()[1]  # bound, not listening: refused
    started = time.monotonic()
    assert probe_http(LO, port, ctx) == [] and probe_ssh(LO, port, ctx) == []
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("probe", "greeting", "kind", "expected"),
    [
        (probe_ssh, b"SSH-2.0-HUAWEI-1.5\r\n", "ssh.banner", "SSH-2.0-HUAWEI-1.5"),
        (probe_ftp, b"220 Welcome to ZTE FTP\r\n", "ftp.banner", "220 Welcome to ZTE FTP"),
        (
            probe_telnet,
            b"\xff\xfb\x01\xff\xfb\x03\r\n\r\nUser Access Verification\r\n\r\nUsername: ",
            "telnet.banner",
            "User Access Verification | Username:",
        ),
    ],
)
def test_banners(ctx: ProbeContext, probe, greeting: bytes, kind: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    received: list[bytes] = []

    def handle(sock: socket.socket) -> None:
        sock.sendall(greeting)
        try:
            received.append(sock.recv(100))
        except OSError:
            pass

    with tcp_server(handle) as port:
        assert kinds(probe(LO, port, ctx)) == {kind: expected}
    assert received in ([], [b""])  # the agent says nothing back: no login attempt, no option answers


def test_rtsp(ctx: ProbeContext) -> None:
    def handle(sock: socket.socket) -> None:
        request = sock.recv(1024)
        assert request.startswith(b"OPTIONS rtsp://")
        sock.sendall(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: HIKVISION\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n")

    with tcp_server(handle) as port:
        assert kinds(probe_rtsp(LO, port, ctx)) == {"rtsp.server": "HIKVISION"}


def test_ssdp_and_upnp_description(ctx: ProbeContext) -> None:
    xml = (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>'
        "<manufacturer>ZTE</manufacturer><modelName>ZXHN F670L</modelName><modelNumber>V9.0</modelNumber>"
        "</device></root>"
    )
    with tcp_server(http_handler({"Content-Type": "text/xml"}, xml)) as http_port:

        def answer(data: bytes) -> bytes:
            assert data.startswith(b"M-SEARCH * HTTP/1.1")
            return (
                "HTTP/1.1 200 OK\r\nSERVER: Linux UPnP/1.0 ZTE/1.0\r\n"
                f"LOCATION: http://{LO}:{http_port}/desc.xml\r\nST: upnp:rootdevice\r\n\r\n"
            ).encode()

        with udp_server(answer) as port:
            found = kinds(probe_ssdp(LO, port, ctx))
    assert found == {
        "upnp.server": "Linux UPnP/1.0 ZTE/1.0",
        "upnp.manufacturer": "ZTE",
        "upnp.model": "ZXHN F670L V9.0",
    }


def test_ssdp_location_elsewhere_is_not_followed(ctx: ProbeContext) -> None:
    def answer(data: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nSERVER: X\r\nLOCATION: http://198.51.100.7:80/d.xml\r\n\r\n"

    with udp_server(answer) as port:
        found = probe_ssdp(LO, port, ctx)
    assert kinds(found) == {"upnp.server": "X"}


def test_s7(ctx: ProbeContext) -> None:
    with tcp_server(s7_handler("6ES7 315-2EH14-0AB0", "CPU 315-2 PN/DP", "Original Siemens Equipment")) as port:
        found = kinds(probe_s7(LO, port, ctx))
    assert found == {
        "s7.module": "CPU 315-2 PN/DP 6ES7 315-2EH14-0AB0",
        "s7.vendor": "Original Siemens Equipment",
    }


def test_enip_udp(ctx: ProbeContext) -> None:
    with udp_server(lambda data: enip_identity(1, "1756-L83E/B") if data[:2] == b"\x63\x00" else None) as port:
        found = kinds(probe_enip(LO, port, ctx))
    assert found == {"enip.vendor_id": "1", "enip.product": "1756-L83E/B"}


def test_enip_tcp_fallback(ctx: ProbeContext) -> None:
    def handle(sock: socket.socket) -> None:
        assert sock.recv(24)[:2] == b"\x63\x00"
        sock.sendall(enip_identity(1, "1769-L33ER"))

    with tcp_server(handle) as port:  # nothing on UDP at this port number: UDP stays silent
        found = kinds(probe_enip(LO, port, ctx))
    assert found == {"enip.vendor_id": "1", "enip.product": "1769-L33ER"}


def test_bacnet(ctx: ProbeContext) -> None:
    with udp_server(bacnet_answer(1234, 5, "Johnson Controls", "NAE5510")) as port:
        found = kinds(probe_bacnet(LO, port, ctx))
    assert found == {"bacnet.vendor_id": "5", "bacnet.model": "Johnson Controls NAE5510"}


def test_bacnet_silent_sends_one_packet(ctx: ProbeContext) -> None:
    with udp_server(lambda data: None) as port:
        assert probe_bacnet(LO, port, ctx) == []
    assert ctx.limiter.packets_sent == 1


@pytest.fixture
def modbus_port() -> Iterator[int]:
    """A real pymodbus server with a device identity."""
    import asyncio

    from pymodbus import ModbusDeviceIdentification
    from pymodbus.datastore import ModbusDeviceContext, ModbusServerContext
    from pymodbus.server import ModbusTcpServer

    with socket.socket() as s:
        s.bind((LO, 0))
        port = s.getsockname()[1]
    identity = ModbusDeviceIdentification(  # type: ignore[no-untyped-call]
        info_name={
            "VendorName": "Schneider Electric",
            "ProductCode": "TM221CE16R",
            "MajorMinorRevision": "v1.6.2.0",
        }
    )
    context = ModbusServerContext(devices={1: ModbusDeviceContext()}, single=False)
    loop = asyncio.new_event_loop()
    holder: list[ModbusTcpServer] = []

    async def serve() -> None:
        server = ModbusTcpServer(context, identity=identity, address=(LO, port))
        holder.append(server)
        await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    for _ in range(50):
        try:
            socket.create_connection((LO, port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    asyncio.run_coroutine_threadsafe(holder[0].shutdown(), loop).result(5)  # type: ignore[no-untyped-call]


def test_modbus(ctx: ProbeContext, modbus_port: int) -> None:
    found = kinds(probe_modbus(LO, modbus_port, ctx))
    assert found == {"modbus.vendor": "Schneider Electric", "modbus.product": "TM221CE16R v1.6.2.0"}


@pytest.fixture
def snmpd_port(tmp_path: Path) -> Iterator[int]:
    """The real net-snmp daemon on a loopback port."""
    if not shutil.which("snmpd"):
        pytest.skip("snmpd not installed (apt-get install snmpd)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LO, 0))
        port = s.getsockname()[1]
    conf = tmp_path / "snmpd.conf"
    conf.write_text(f"rocommunity lab 127.0.0.1\nsysDescr {HUAWEI_DESCR}\nsysObjectID .1.3.6.1.4.1.2011.2.23.465\n")
    proc = subprocess.Popen(
        ["snmpd", "-f", "-Ln", "-C", "-c", str(conf), "-p", str(tmp_path / "pid"), f"udp:{LO}:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MIBS": ""},
    )
    time.sleep(0.5)
    yield port
    proc.terminate()
    proc.wait(5)


def test_snmp_tries_communities(snmpd_port: int) -> None:
    ctx = ProbeContext(limiter=RateLimiter(1000, 1000), timeout=1.0, snmp_communities=["public", "lab"])
    found = kinds(probe_snmp(LO, snmpd_port, ctx))
    assert found == {
        "snmp.sysdescr": HUAWEI_DESCR,
        "snmp.sysobjectid": "1.3.6.1.4.1.2011.2.23.465",
    }
    assert ctx.limiter.packets_sent == 2  # one GET per community tried


def test_snmp_answers_are_matched_to_their_request() -> None:
    from agent.probes.snmp import SYS_DESCR, SYS_OBJECT_ID, get_request, parse_response

    request = get_request("public", 4242)
    assert request.startswith(b"\x30") and b"public" in request
    assert parse_response(b"not snmp at all", 4242) is None
    assert parse_response(request, 4242) is None  # a GetRequest echoed back is not an answer

    from scapy.asn1.asn1 import ASN1_OID
    from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

    def answer(request_id: int, error: int = 0) -> bytes:
        binds = [
            SNMPvarbind(oid=ASN1_OID(SYS_DESCR), value=b"Huawei Versatile Routing Platform"),
            SNMPvarbind(oid=ASN1_OID(SYS_OBJECT_ID), value=ASN1_OID("1.3.6.1.4.1.2011.2.23.465")),
        ]
        pdu = SNMPresponse(id=request_id, error=error, varbindlist=binds)
        return bytes(SNMP(version=1, community=b"public", PDU=pdu))

    assert parse_response(answer(4242), 4242) == [
        (SYS_DESCR, "Huawei Versatile Routing Platform"),
        (SYS_OBJECT_ID, "1.3.6.1.4.1.2011.2.23.465"),
    ]
    assert parse_response(answer(4243), 4242) is None  # a late answer to another request
    assert parse_response(answer(4242, error=2), 4242) == []  # noSuchName: an answer, but nothing in it


def test_modbus_identification_frames() -> None:
    from agent.probes.ot import device_identification, read_device_identification

    assert read_device_identification(unit=1, transaction=7).hex() == "000700000005012b0e0100"
    assert device_identification(b"", 7) == {} and device_identification(b"\x00\x07garbage", 7) == {}
    # A real answer (as pymodbus' server sends it): vendor, product code, revision.
    objects = b"".join(bytes([i, len(v)]) + v for i, v in enumerate([b"Schneider Electric", b"TM221", b"1.6"]))
    pdu = bytes([0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 3]) + objects
    frame = bytes.fromhex("0007 0000") + (len(pdu) + 1).to_bytes(2, "big") + b"\x01" + pdu
    assert device_identification(frame, 7) == {0: b"Schneider Electric", 1: b"TM221", 2: b"1.6"}
    assert device_identification(frame, 8) == {}  # another transaction's answer
    exception = bytes.fromhex("0007 0000 0003 01 ab 01")  # 0x2B | 0x80: illegal function
    assert device_identification(exception, 7) == {}


def test_the_agent_command_line_loads_no_collector_or_heavy_protocol_libraries() -> None:
    """The agent shares the `herkomst` entry point; its memory budget (≤ 100 MB, bench/bench_agent.py) has no
    room for SQLAlchemy, FastAPI, pysnmp or pymodbus' client."""
    code = (
        "import sys, deploy.cli, agent.scan, agent.delivery\n"
        "from agent.probes.snmp import get_request; get_request('public', 1)\n"
        "from agent.probes.ot import read_device_identification; read_device_identification(1, 1)\n"
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'sqlmodel', 'pysnmp', 'pymodbus') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


#: a real 1x1 PNG (the smallest valid image): the favicon the test server hands out
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
                    "53de0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082")


def _site(page: str, icons: dict[str, bytes], asked: list[str]) -> Any:
    """An HTTP server: `page` at /, each icon at its path, the page again for anything else (as devices do)."""
    def handle(sock: socket.socket) -> None:
        path = read_request(sock).split(b" ", 2)[1].decode()
        asked.append(path)
        body, ctype = (icons[path], "image/png") if path in icons else (page.encode(), "text/html")
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                     + body)
    return handle


def test_the_favicon_is_fetched_where_the_page_says_hashed_both_ways_and_only_once_per_device(
        ctx: ProbeContext) -> None:
    import base64
    import hashlib

    import mmh3

    asked: list[str] = []
    page = '<html><head><link rel="shortcut icon" href="img/fav.png"><title>NVR</title></head></html>'
    with tcp_server(_site(page, {"/img/fav.png": PNG}, asked)) as port:
        found = kinds(probe_http(LO, port, ctx))
        again = kinds(probe_http(LO, port, ctx))  # a second web port of the same device
    assert found["http.favicon_md5"] == hashlib.md5(PNG).hexdigest()
    assert found["http.favicon_mmh3"] == str(mmh3.hash(base64.encodebytes(PNG)))  # Shodan's http.favicon.hash
    assert asked == ["/", "/img/fav.png", "/"]  # one extra request for the device, not one per port
    assert "http.favicon_md5" not in again


def test_no_favicon_from_another_host_or_from_a_login_page_served_for_every_path(ctx: ProbeContext) -> None:
    asked: list[str] = []
    page = '<link rel="icon" href="http://cdn.example/icon.png"><title>Login</title>'
    with tcp_server(_site(page, {}, asked)) as port:
        found = kinds(probe_http(LO, port, ctx))
    assert asked == ["/", "/favicon.ico"]  # the other host's icon is never asked for; /favicon.ico instead
    assert "http.favicon_md5" not in found and found["http.title"] == "Login"  # HTML is not an icon
