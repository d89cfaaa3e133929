"""EtherNet/IP identity responder: ListIdentity (0x63) and ListServices (0x04) on TCP and UDP 44818."""

from __future__ import annotations

import asyncio
import socket
import struct

from deploy.lab.model import LabDevice, LabService

LIST_SERVICES = 0x0004
LIST_IDENTITY = 0x0063
REGISTER_SESSION = 0x0065


def identity_item(device: LabDevice, svc: LabService) -> bytes:
    """The CIP Identity item (type 0x0C) of a ListIdentity reply."""
    p = svc.params
    major, minor = (int(x) for x in str(p["revision"]).split("."))
    name: bytes = str(p["product_name"]).encode("ascii")
    body = struct.pack("<H", 1)  # encapsulation protocol version
    body += struct.pack(">HH4s8x", socket.AF_INET, svc.port or 44818, socket.inet_aton(device.ip))
    body += struct.pack(
        "<HHHBBHI", p["vendor_id"], p["device_type"], p["product_code"], major, minor, 0x0030, p["serial"]
    )
    body += bytes([len(name)]) + name + b"\x03"  # state 3: operational
    return bytes(struct.pack("<HHH", 1, 0x000C, len(body)) + body)


def reply(request: bytes, device: LabDevice, svc: LabService) -> bytes | None:
    """The encapsulation reply to one request, or None when there is nothing to say."""
    if len(request) < 24:
        return None
    command, _length, session, _status, context, _options = struct.unpack("<HHII8sI", request[:24])
    if command == LIST_IDENTITY:
        data = identity_item(device, svc)
    elif command == LIST_SERVICES:
        name = b"Communications\0\0"
        data = struct.pack("<HHHHH", 1, 0x0100, 4 + len(name), 1, 0x0120) + name
    elif command == REGISTER_SESSION:
        data, session = request[24:28], 0x4B48_0001
    else:
        return struct.pack("<HHII8sI", command, 0, session, 0x0001, context, 0)  # invalid command
    return struct.pack("<HHII8sI", command, len(data), session, 0, context, 0) + data


class EnipUdp(asyncio.DatagramProtocol):
    """ListIdentity over UDP (unicast or broadcast discovery)."""

    def __init__(self, device: LabDevice, svc: LabService) -> None:
        self.device, self.svc = device, svc
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        out = reply(data, self.device, self.svc)
        if out and self.transport is not None:
            self.transport.sendto(out, addr)


def enip_tcp_handler(device: LabDevice, svc: LabService):  # type: ignore[no-untyped-def]
    """The TCP connection handler."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(24), 20)
                    rest = await reader.readexactly(struct.unpack("<H", head[2:4])[0])
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                out = reply(head + rest, device, svc)
                if out:
                    writer.write(out)
                    await writer.drain()
        finally:
            writer.close()

    return handle
