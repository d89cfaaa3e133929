"""HTTP(S) identity: GET / once; Server header, page title, WWW-Authenticate realm, TLS certificate
subject/issuer."""

from __future__ import annotations

import re
import socket
import ssl
import warnings

from agent.probes.base import Finding, ProbeContext, close, recv_some, tcp_connect, text

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
#: TLS handshake and request: ClientHello, key exchange/Finished, the GET, ACKs of a multi-segment answer.
TLS_PACKETS = 6
HTTP_PACKETS = 3


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
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return []
    try:
        ctx.limiter.acquire(ip, HTTP_PACKETS)
        sock.sendall(request(ip))
        return parse_http(recv_some(sock), port, "probe.http")
    except OSError:
        return []
    finally:
        close(sock, ip, ctx)


def probe_https(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return []
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
    out: list[Finding] = []
    wrapped: socket.socket = sock
    try:
        ctx.limiter.acquire(ip, TLS_PACKETS)
        wrapped = tls.wrap_socket(sock, server_hostname=None)
        der = wrapped.getpeercert(binary_form=True)
        if der:
            out.extend(certificate_findings(der, port))
        wrapped.sendall(request(ip))
        out.extend(parse_http(recv_some(wrapped), port, "probe.http"))
    except (OSError, ssl.SSLError, ValueError):
        pass
    finally:
        close(wrapped, ip, ctx)
    return out
