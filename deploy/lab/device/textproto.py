"""Text-over-TCP services: HTTP(S) with the vendor's Server header, title and realm; RTSP; SSH/FTP/Telnet greetings."""

from __future__ import annotations

import asyncio
import email.utils
import html
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from deploy.lab.model import LabDevice, LabService

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
IDLE_TIMEOUT_S = 20.0


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except (asyncio.LimitOverrunError, TimeoutError):
        return b""


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    except (ConnectionError, ssl.SSLError, OSError):
        pass


def upnp_description(device: LabDevice) -> str:
    """The UPnP device description XML served at /description.xml."""
    p = device.service("ssdp").params
    esc = html.escape
    return (
        '<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0">\n'
        "<specVersion><major>1</major><minor>0</minor></specVersion>\n<device>\n"
        f"<deviceType>{esc(p['device_type'])}</deviceType>\n"
        f"<friendlyName>{esc(p['friendly_name'])}</friendlyName>\n"
        f"<manufacturer>{esc(p['manufacturer'])}</manufacturer>\n"
        f"<manufacturerURL>{esc(p['manufacturer_url'])}</manufacturerURL>\n"
        f"<modelDescription>{esc(p['model_name'])}</modelDescription>\n"
        f"<modelName>{esc(p['model_name'])}</modelName>\n"
        f"<modelNumber>{esc(p['model_number'])}</modelNumber>\n"
        f"<serialNumber>{esc(p['serial'])}</serialNumber>\n"
        f"<UDN>uuid:{esc(p['uuid'])}</UDN>\n"
        "</device>\n</root>\n"
    )


def lab_icon(name: str) -> bytes:
    """A valid 1x1 icon (ICO holding a PNG) whose colour comes from `name`: stable bytes, so a stable hash. Not a
    vendor's real icon (the lab has none to copy); the tests check that the agent fetches and hashes it."""
    import hashlib
    import struct
    import zlib

    r, g, b = hashlib.sha256(name.encode()).digest()[:3]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack("!IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(bytes([0, r, g, b]))) + chunk(b"IEND", b""))
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 1, 1, 0, 0, 1, 32, len(png), 22) + png


def http_handler(device: LabDevice, svc: LabService) -> Handler:
    """An HTTP/1.x responder with the service's Server header, title, realm and optional JSON/UPnP paths."""
    p: dict[str, Any] = svc.params
    title = p.get("title", "")
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1></body></html>\n"
    ).encode()
    has_ssdp = "ssdp" in device.protocols() and device.service("ssdp").params.get("http_port") == svc.port

    version = f"HTTP/{p.get('http_version', '1.1')}"
    server_first = p.get("header_style") == "server-first"

    def respond(status: str, ctype: str, body: bytes, extra: list[tuple[str, str]]) -> bytes:
        # Header order matters to fingerprinters (nmap's match lines pin it), so it follows the real device.
        server = [("Server", p["server"])] if p.get("server") else []
        if server_first:
            headers = server + [("Connection", "close")] + extra
            headers += [("Content-Type", ctype), ("Content-Length", str(len(body)))]
        else:
            headers = [("Date", email.utils.formatdate(usegmt=True)), *server, *extra]
            headers += [("Content-Type", ctype), ("Content-Length", str(len(body))), ("Connection", "close")]
        head = f"{version} {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        return head.encode("latin-1", "replace") + body

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await _read_head(reader)
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                if head:
                    writer.write(respond("400 Bad Request", "text/html", b"<html>Bad Request</html>\n", []))
                return
            path = parts[1].split("?", 1)[0]
            if parts[0] not in ("GET", "HEAD", "POST"):
                out = respond("405 Method Not Allowed", "text/html", b"<html>Method Not Allowed</html>\n", [])
            elif p.get("www_authenticate") and (p.get("status") == 401 or path == p.get("auth_path")):
                out = respond("401 Unauthorized", "text/html", page, [("WWW-Authenticate", p["www_authenticate"])])
            elif p.get("json_path") and path == p["json_path"]:
                out = respond("200 OK", "application/json", p["json_body"].encode(), [])
            elif p.get("favicon") and path == "/favicon.ico":
                out = respond("200 OK", "image/x-icon", lab_icon(device.name), [])
            elif has_ssdp and path == "/description.xml":
                out = respond("200 OK", 'text/xml; charset="utf-8"', upnp_description(device).encode(), [])
            else:
                out = respond("200 OK", "text/html", page, [])
            writer.write(out if parts[0] != "HEAD" else out.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        finally:
            await _close(writer)

    return handle


def rtsp_handler(svc: LabService) -> Handler:
    """An RTSP/1.0 responder: OPTIONS is answered, everything else asks for credentials."""
    p = svc.params

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await _read_head(reader)
                if not head:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                cseq = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("cseq:")), "0")
                server = f"Server: {p['server']}\r\n" if p.get("server") else ""
                if method == "OPTIONS":
                    writer.write(
                        f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{server}Public: OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, "
                        "TEARDOWN, SET_PARAMETER, GET_PARAMETER\r\n\r\n".encode()
                    )
                elif lines[0].endswith("RTSP/1.0"):
                    writer.write(
                        f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: {p['realm']}\r\n"
                        f"{server}Content-Length: 0\r\n\r\n".encode()
                    )
                else:
                    writer.write(b"RTSP/1.0 400 Bad Request\r\n\r\n")
                    return
                await writer.drain()
        finally:
            await _close(writer)

    return handle


def banner_handler(svc: LabService) -> Handler:
    """Send the greeting, then answer like the daemon would until the client gives up (SSH, FTP, Telnet)."""
    protocol = svc.protocol
    banner = svc.params.get("banner", "")
    # Telnet daemons open with option negotiation (IAC WILL/DO ...) before the greeting text.
    negotiate = bytes.fromhex(svc.params.get("negotiate", ""))
    if protocol == "ssh":
        banner = banner.rstrip("\r\n") + "\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if banner:
                writer.write(negotiate + banner.encode("latin-1"))
                await writer.drain()
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT_S)
                except TimeoutError:
                    return
                if not line:
                    return
                if protocol == "ftp":
                    cmd = line.decode("latin-1").strip().split(" ", 1)[0].upper()
                    if cmd == "QUIT":
                        writer.write(b"221 Goodbye.\r\n")
                        return
                    reply = {"USER": b"331 Password required.\r\n", "SYST": b"215 UNIX Type: L8\r\n"}
                    writer.write(reply.get(cmd, b"530 Please login with USER and PASS.\r\n"))
                elif protocol == "telnet":
                    writer.write(b"\r\nPassword: ")
                elif protocol == "ssh":
                    # The lab only emulates the identification exchange; a real key exchange is out of scope.
                    return
                await writer.drain()
        finally:
            await _close(writer)

    return handle


async def start_tcp(ip: str, port: int, handler: Handler, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    """Listen on ip:port with the handler (TLS when a context is given)."""

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Scanners reset connections mid-exchange; that is normal traffic, not an error worth a traceback.
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
            writer.transport.abort()

    return await asyncio.start_server(guarded, ip, port, ssl=tls, reuse_address=True, backlog=64)
