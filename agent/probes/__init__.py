"""Identity probes of the `safe` profile and the curated port list they use.

Printers' raw ports 9100–9107 are never touched (printing what we send would be harm), in any profile.
"""

from __future__ import annotations

from agent.probes.banners import probe_ftp, probe_rtsp, probe_smtp, probe_ssh, probe_telnet
from agent.probes.base import Finding, ProbeContext, ProbeSpec
from agent.probes.ot import probe_bacnet, probe_enip, probe_modbus, probe_s7
from agent.probes.snmp import probe_snmp
from agent.probes.upnp import probe_ssdp
from agent.probes.web import probe_http, probe_https

FORBIDDEN_PORTS = frozenset(range(9100, 9108))

SAFE_PROBES: tuple[ProbeSpec, ...] = (
    ProbeSpec("ftp", 21, "tcp", 5, "FTP greeting", probe_ftp),
    ProbeSpec("ssh", 22, "tcp", 5, "SSH identification string", probe_ssh),
    ProbeSpec("telnet", 23, "tcp", 5, "Telnet greeting (no option answers)", probe_telnet),
    ProbeSpec("smtp", 25, "tcp", 5, "SMTP greeting", probe_smtp),
    ProbeSpec("http", 80, "tcp", 16, "HTTP GET / (Server, title, realm); the favicon, once per device", probe_http),
    ProbeSpec("snmp", 161, "udp", 1, "SNMP GET sysDescr.0, sysObjectID.0 per community", probe_snmp),
    ProbeSpec("s7", 102, "tcp", 13, "S7 COTP connect, setup, SZL 0x0011/0x001C read", probe_s7),
    ProbeSpec("https", 443, "tcp", 22, "TLS handshake (certificate) + HTTP GET /; the favicon, once per device",
              probe_https),
    ProbeSpec("modbus", 502, "tcp", 7, "Modbus 0x2B/0x0E read device identification", probe_modbus),
    ProbeSpec("rtsp", 554, "tcp", 6, "RTSP OPTIONS (Server header)", probe_rtsp),
    ProbeSpec("ssdp", 1900, "udp", 9, "SSDP M-SEARCH + UPnP description GET", probe_ssdp),
    ProbeSpec("http-alt", 8080, "tcp", 16, "HTTP GET /; the favicon, once per device", probe_http),
    ProbeSpec("https-alt", 8443, "tcp", 22, "TLS handshake + HTTP GET /; the favicon, once per device", probe_https),
    ProbeSpec("enip", 44818, "udp", 7, "CIP ListIdentity (UDP, TCP if silent)", probe_enip),
    ProbeSpec("bacnet", 47808, "udp", 4, "BACnet Who-Is + ReadProperty vendor/model", probe_bacnet),
)

#: nmap's curated IT + OT list for the `standard` profile (TCP); never 9100-9107.
STANDARD_TCP_PORTS: tuple[int, ...] = (
    21,
    22,
    23,
    25,
    53,
    80,
    102,
    110,
    135,
    139,
    143,
    443,
    445,
    502,
    554,
    631,
    1883,
    1911,
    2000,
    2404,
    3389,
    4840,
    5060,
    5432,
    5900,
    8000,
    8080,
    8443,
    8883,
    20000,
    44818,
    47808,
)
STANDARD_UDP_PORTS: tuple[int, ...] = (161, 1900, 44818, 47808)

assert not FORBIDDEN_PORTS & {p.port for p in SAFE_PROBES}
assert not FORBIDDEN_PORTS & set(STANDARD_TCP_PORTS + STANDARD_UDP_PORTS)

__all__ = [
    "FORBIDDEN_PORTS",
    "SAFE_PROBES",
    "STANDARD_TCP_PORTS",
    "STANDARD_UDP_PORTS",
    "Finding",
    "ProbeContext",
    "ProbeSpec",
]
