"""HTTP(S) identity: GET / once; Server header, page title, WWW-Authenticate realm, TLS certificate
subject/issuer; and once per device the favicon, hashed as the public databases hash it."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import ssl
import warnings

from agent.probes.base import Finding, ProbeContext, close, recv_some, tcp_connect, text

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
#: TLS handshake and request: ClientHello, key exchange/Finished, the GET, ACKs of a multi-segment answer.
TLS_PACKETS = 6
HTTP_PACKETS = 3
MAX_ANSWER = 65_536
MAX_ICON = 65_536  # favicons are a few kB; anything larger is not one
_ICON_LINK = re.compile(rb"<link\b[^>]*\brel\s*=\s*[\"']?(?:shortcut\s+)?icon\b[^>]*>", re.I)
_HREF = re.compile(rb"\bhref\s*=\s*[\"']?([^\"'\s>]+)", re.I)
_ICON_MAGIC = (b"\x00\x00\x01\x00", b"\x89PNG\r\n\x1a\n", b"GIF8", b"\xff\xd8\xff", b"<svg", b"BM")


def parse_http(raw: bytes, port: int, source: str) -> list[Finding]:
    """Turn an HTTP answer into findings."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/"):
        return []
    out: list[Finding] = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"server" and value.strip():
            out.append(Finding("http.server", text(value), port, "tcp", source))
        elif key == b"www-authenticate" and value.strip():
            out.append(Finding("http.www_authenticate", text(value), port, "tcp", source))
    match = _TITLE.search(body)
    if match and text(match.group(1)):
        out.append(Finding("http.title", " ".join(text(match.group(1)).split()), port, "tcp", source))
    return out


def request(ip: str, path: str = "/") -> bytes:
    return (
        f"GET {path} HTTP/1.0\r\nHost: {ip}\r\nUser-Agent: herkomst-agent (identity read)\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode()


def certificate_findings(der: bytes, port: int) -> list[Finding]:
    """The certificate's subject and issuer; CertificateError (a ValueError) if the bytes are no certificate."""
    from agent.probes.certificate import names

    out = []
    subject, issuer = names(der)
    if subject:
        out.append(Finding("tls.subject", subject, port, "tcp", "probe.tls"))
    if issuer:
        out.append(Finding("tls.issuer", issuer, port, "tcp", "probe.tls"))
    return out


def probe_http(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    raw, _der = _exchange(ip, port, ctx, "/", tls=False)
    return parse_http(raw, port, "probe.http") + favicon(ip, port, ctx, raw, tls=False)


def probe_https(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    raw, der = _exchange(ip, port, ctx, "/", tls=True)
    out: list[Finding] = []
    if der:
        try:
            out.extend(certificate_findings(der, port))
        except ValueError:
            pass  # a certificate the device sent but that cannot be read: its HTTP answer still counts
    return out + parse_http(raw, port, "probe.http") + favicon(ip, port, ctx, raw, tls=True)


def _tls_context() -> ssl.SSLContext:
    # Devices present self-signed certificates; we read them as evidence and trust nothing they say, so no
    # verification here (unlike the collector connection, where verification is always on).
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        # Old devices only speak TLS 1.0; reading their certificate is the point, so allow it for this probe.
        warnings.simplefilter("ignore", DeprecationWarning)
        tls.minimum_version = ssl.TLSVersion.TLSv1
    try:
        tls.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    return tls


def _exchange(ip: str, port: int, ctx: ProbeContext, path: str, *, tls: bool) -> tuple[bytes, bytes | None]:
    """One GET of `path` on ip:port (over TLS when asked): the raw answer and, over TLS, the certificate (DER).
    b"" when the port is closed or the exchange fails."""
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return b"", None
    wrapped: socket.socket = sock
    der: bytes | None = None
    try:
        if tls:
            ctx.limiter.acquire(ip, TLS_PACKETS)
            wrapped = _tls_context().wrap_socket(sock, server_hostname=None)
            der = wrapped.getpeercert(binary_form=True)
        else:
            ctx.limiter.acquire(ip, HTTP_PACKETS)
        wrapped.sendall(request(ip, path))
        return recv_some(wrapped, limit=MAX_ANSWER), der
    except (OSError, ssl.SSLError):
        return b"", der
    finally:
        close(wrapped, ip, ctx)


def favicon_path(page: bytes) -> str:
    """Where a page says its icon is (<link rel="icon" href="…">) when that is a path on the same server, else
    /favicon.ico. An icon on another host is never fetched: the agent asks only the address it is probing."""
    for match in _ICON_LINK.finditer(page[:65_536]):
        href = _HREF.search(match.group(0))
        if href is None:
            continue
        target = href.group(1).decode("ascii", errors="replace").strip()
        if "://" in target or target.startswith("//") or not target or len(target) > 200 or \
                not all(33 <= ord(c) < 127 for c in target):
            continue
        return target if target.startswith("/") else "/" + target
    return "/favicon.ico"


def icon_body(raw: bytes) -> bytes | None:
    """The icon in an HTTP answer: a 200 whose body is an image (by Content-Type or by its magic bytes) of at most
    MAX_ICON bytes; None otherwise (many devices answer every path with their login page)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/") or b" 200" not in lines[0][:13] or not body or len(body) > MAX_ICON:
        return None
    ctype = next((line.partition(b":")[2].strip().lower() for line in lines[1:]
                  if line.lower().startswith(b"content-type:")), b"")
    if ctype.startswith(b"image/") or body.startswith(_ICON_MAGIC):
        return body
    return None


def favicon(ip: str, port: int, ctx: ProbeContext, page: bytes, *, tls: bool) -> list[Finding]:
    """The device's favicon as nmap's and Recog's MD5 and as Shodan's MurmurHash3 (http.favicon.hash): fetched
    once per device, on the first web port that answered, so a device costs one extra request at most."""
    if not page.startswith(b"HTTP/") or not ctx.first(ip, "favicon"):
        return []
    raw, _der = _exchange(ip, port, ctx, favicon_path(page.partition(b"\r\n\r\n")[2]), tls=tls)
    body = icon_body(raw)
    if body is None:
        return []
    import mmh3

    return [Finding("http.favicon_md5", hashlib.md5(body, usedforsecurity=False).hexdigest(), port, "tcp",
                    "probe.favicon"),
            Finding("http.favicon_mmh3", str(mmh3.hash(base64.encodebytes(body))), port, "tcp", "probe.favicon")]
