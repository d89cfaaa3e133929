"""Client side of the lab tests, run *inside the agent namespace* (`ip netns exec hk-agent python agent_probe.py`).

Each sub-command talks to one lab address with a plain socket or pymodbus and prints one JSON object.
Only lab addresses (198.18.0.0/15) are accepted.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

LAB = ipaddress.ip_network("198.18.0.0/15")


def _check(ip: str) -> str:
    if ipaddress.ip_address(ip) not in LAB:
        raise SystemExit(f"refusing {ip}: not a lab address")
    return ip


def _recv_all(sock: socket.socket, wait: float) -> bytes:
    sock.settimeout(wait)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        pass
    return data


def banner(ip: str, port: str, send: str = "") -> dict[str, object]:
    with socket.create_connection((_check(ip), int(port)), timeout=3) as sock:
        if send:
            sock.sendall(send.encode().decode("unicode_escape").encode("latin-1"))
        data = _recv_all(sock, 1.0)
    return {"data": data.decode("latin-1")}


def rtsp(ip: str, port: str) -> dict[str, object]:
    req = (
        f"OPTIONS rtsp://{ip}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        f"DESCRIBE rtsp://{ip}/Streaming/Channels/101 RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n"
    )
    return banner(ip, port, req.replace("\r", "\\r").replace("\n", "\\n"))


def ssdp(ip: str) -> dict[str, object]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    msg = (
        b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
        b"ST: upnp:rootdevice\r\n\r\n"
    )
    sock.sendto(msg, (_check(ip), 1900))
    data, addr = sock.recvfrom(4096)
    return {"data": data.decode("latin-1"), "from": addr[0]}


def mdns(ip: str, service_type: str) -> dict[str, object]:
    """A legacy unicast DNS-SD PTR query to port 5353 (answered by unicast, RFC 6762 section 6.7)."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in service_type.rstrip(".").split(".")) + b"\0"
    query = struct.pack(">HHHHHH", 0x4B48, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 12, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    for _ in range(3):  # the responder may still be probing its names right after start-up
        sock.sendto(query, (_check(ip), 5353))
        try:
            data, _ = sock.recvfrom(9000)
            return {"data": data.decode("latin-1")}
        except TimeoutError:
            continue
    return {"data": ""}


def modbus(ip: str, port: str, start: str = "-1", count: str = "0", read_code: str = "1") -> dict[str, object]:
    from pymodbus.client import ModbusTcpClient

    client: Any = ModbusTcpClient(_check(ip), port=int(port), timeout=2, retries=0)
    if not client.connect():
        return {"error": "connect failed"}
    try:
        info = client.read_device_information(read_code=int(read_code), object_id=0)
        out: dict[str, object] = {"info": {str(k): v.decode("latin-1") for k, v in info.information.items()}}
        if int(start) >= 0:
            regs = client.read_holding_registers(int(start), count=int(count))
            raw = b"".join(r.to_bytes(2, "big") for r in regs.registers)
            out["registers_text"] = raw.rstrip(b"\0").decode("latin-1")
        return out
    finally:
        client.close()


def modbus_raw(ip: str, port: str, pdu_hex: str) -> dict[str, object]:
    pdu = bytes.fromhex(pdu_hex)
    frame = struct.pack(">HHHB", 7, 0, len(pdu) + 1, 1) + pdu
    try:
        with socket.create_connection((_check(ip), int(port)), timeout=2) as sock:
            sock.sendall(frame)
            return {"reply": _recv_all(sock, 1.0).hex()}
    except OSError as exc:
        return {"error": str(exc)}


def udp_flood(ip: str, packets: str, seconds: str) -> dict[str, object]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n, span = int(packets), float(seconds)
    started = time.monotonic()
    for i in range(n):
        sock.sendto(b"flood", (_check(ip), 40000 + i % 100))
        time.sleep(max(0.0, started + span * (i + 1) / n - time.monotonic()))
    return {"sent": n, "seconds": time.monotonic() - started}


COMMANDS: dict[str, Callable[..., dict[str, object]]] = {
    "banner": banner,
    "rtsp": rtsp,
    "ssdp": ssdp,
    "mdns": mdns,
    "modbus": modbus,
    "modbus-raw": modbus_raw,
    "udp-flood": udp_flood,
}

if __name__ == "__main__":
    try:
        result = COMMANDS[sys.argv[1]](*sys.argv[2:])
    except OSError as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
