"""Greeting banners (SSH, FTP, Telnet, SMTP) and the RTSP OPTIONS Server header: connect, listen, leave."""

from __future__ import annotations

from agent.probes.base import Finding, ProbeContext, close, recv_some, tcp_connect, text

IAC = 0xFF


def strip_telnet(data: bytes) -> bytes:
    """Drop Telnet option negotiation (IAC sequences); we never answer them."""
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == IAC and i + 1 < len(data):
            cmd = data[i + 1]
            if cmd == 0xFA:  # sub-negotiation: skip to IAC SE
                end = data.find(bytes([IAC, 0xF0]), i + 2)
                i = len(data) if end < 0 else end + 2
            elif cmd in (0xFB, 0xFC, 0xFD, 0xFE):
                i += 3
            else:
                i += 2
            continue
        out.append(byte)
        i += 1
    return bytes(out)


def _greeting(ip: str, port: int, ctx: ProbeContext, *, limit: int = 1024) -> bytes:
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return b""
    try:
        return recv_some(sock, limit=limit, until=b"\n")
    finally:
        close(sock, ip, ctx)


def probe_ssh(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    line = text(_greeting(ip, port, ctx).split(b"\n")[0])
    return [Finding("ssh.banner", line, port, "tcp", "probe.ssh")] if line.startswith("SSH-") else []


def probe_ftp(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    line = text(_greeting(ip, port, ctx).split(b"\n")[0])
    return [Finding("ftp.banner", line, port, "tcp", "probe.ftp")] if line[:3].isdigit() else []


def probe_smtp(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    line = text(_greeting(ip, port, ctx).split(b"\n")[0])
    return [Finding("smtp.banner", line, port, "tcp", "probe.smtp")] if line.startswith("220") else []


def probe_telnet(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return []
    try:
        # Telnet greetings often arrive after the option negotiation; read a little more than one line.
        raw = recv_some(sock, limit=2048, until=b":")
    finally:
        close(sock, ip, ctx)
    lines = [text(line) for line in strip_telnet(raw).splitlines()]
    banner = " | ".join(line for line in lines if line)[:512]
    return [Finding("telnet.banner", banner, port, "tcp", "probe.telnet")] if banner else []


def probe_rtsp(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return []
    try:
        ctx.limiter.acquire(ip, 1)
        sock.sendall(f"OPTIONS rtsp://{ip}:{port}/ RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: herkomst-agent\r\n\r\n".encode())
        raw = recv_some(sock, limit=4096, until=b"\r\n\r\n")
    except OSError:
        return []
    finally:
        close(sock, ip, ctx)
    if not raw.startswith(b"RTSP/"):
        return []
    for line in raw.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"server" and value.strip():
            return [Finding("rtsp.server", text(value), port, "tcp", "probe.rtsp")]
    return []
