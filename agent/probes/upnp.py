"""SSDP and UPnP: a unicast M-SEARCH to the device, then its device description if it lives on the same
device."""

from __future__ import annotations

import socket
import sys
import urllib.parse
import xml.etree.ElementTree as ET

from agent.probes.base import Finding, ProbeContext, close, recv_some, tcp_connect, text
from agent.probes.web import HTTP_PACKETS, request

#: Linux's IP_RECVERR (not exported by Python's socket module).
IP_RECVERR = 11


def msearch(ip: str, port: int) -> bytes:
    return (
        f'M-SEARCH * HTTP/1.1\r\nHOST: {ip}:{port}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
        "ST: upnp:rootdevice\r\nUSER-AGENT: herkomst-agent\r\n\r\n"
    ).encode()


def parse_ssdp(raw: bytes) -> dict[str, str]:
    headers = {}
    for line in raw.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode(errors="replace")] = text(value)
    return headers


def parse_description(xml: bytes, port: int) -> list[Finding]:
    """manufacturer and modelName/modelNumber of the root device."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    fields: dict[str, str] = {}
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("manufacturer", "modelName", "modelNumber") and tag not in fields and el.text:
            fields[tag] = " ".join(el.text.split())
    out = []
    if fields.get("manufacturer"):
        out.append(Finding("upnp.manufacturer", fields["manufacturer"], port, "tcp", "probe.upnp"))
    model = " ".join(v for v in (fields.get("modelName"), fields.get("modelNumber")) if v)
    if model:
        out.append(Finding("upnp.model", model, port, "tcp", "probe.upnp"))
    return out


def probe_ssdp(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    ctx.limiter.acquire(ip, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(ctx.timeout)
    # Answers may come from another port than 1900, so the socket stays unconnected; IP_RECVERR still reports
    # the device's "port unreachable" at once instead of waiting out the timeout (2 s on every host without UPnP).
    if sys.platform == "linux":
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    try:
        sock.sendto(msearch(ip, port), (ip, port))
        raw, sender = sock.recvfrom(4096)
    except OSError:
        return []
    finally:
        sock.close()
    if sender[0] != ip:
        return []
    headers = parse_ssdp(raw)
    out = []
    if headers.get("server"):
        out.append(Finding("upnp.server", headers["server"], port, "udp", "probe.ssdp"))
    location = urllib.parse.urlsplit(headers.get("location", ""))
    # Follow LOCATION only to the device itself: a URL pointing elsewhere could lead outside the scope.
    if location.scheme == "http" and location.hostname == ip:
        out.extend(_description(ip, location.port or 80, location.path or "/", ctx))
    return out


def _description(ip: str, port: int, path: str, ctx: ProbeContext) -> list[Finding]:
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return []
    try:
        ctx.limiter.acquire(ip, HTTP_PACKETS)
        sock.sendall(request(ip, path))
        raw = recv_some(sock, limit=256_000)
    except OSError:
        return []
    finally:
        close(sock, ip, ctx)
    _, _, body = raw.partition(b"\r\n\r\n")
    return parse_description(body, port)
