"""SSDP responder (UDP 1900): answers M-SEARCH and announces itself with NOTIFY, pointing at the UPnP description."""

from __future__ import annotations

import asyncio
import socket
import struct

from deploy.lab.model import LabDevice

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
NOTIFY_INTERVAL_S = 30.0


class SsdpResponder(asyncio.DatagramProtocol):
    """Answers M-SEARCH requests whose ST matches this device."""

    def __init__(self, device: LabDevice) -> None:
        p = device.service("ssdp").params
        self.device = device
        self.location = f"http://{device.ip}:{p['http_port']}/description.xml"
        self.server = p["server"]
        self.uuid = p["uuid"]
        self.targets = {"upnp:rootdevice", p["device_type"], f"uuid:{self.uuid}"}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _usn(self, st: str) -> str:
        return f"uuid:{self.uuid}" if st.startswith("uuid:") else f"uuid:{self.uuid}::{st}"

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("latin-1", "replace")
        if not text.startswith("M-SEARCH") or self.transport is None:
            return
        headers = {
            k.strip().upper(): v.strip() for k, _, v in (ln.partition(":") for ln in text.split("\r\n")[1:]) if k
        }
        st = headers.get("ST", "")
        answers = sorted(self.targets) if st == "ssdp:all" else [st] if st in self.targets else []
        for target in answers:
            reply = (
                "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
                f"LOCATION: {self.location}\r\nSERVER: {self.server}\r\n"
                f"ST: {target}\r\nUSN: {self._usn(target)}\r\n\r\n"
            )
            self.transport.sendto(reply.encode(), addr)

    def notify(self) -> None:
        """Multicast one ssdp:alive announcement for the root device."""
        if self.transport is None:
            return
        msg = (
            f"NOTIFY * HTTP/1.1\r\nHOST: {SSDP_GROUP}:{SSDP_PORT}\r\nCACHE-CONTROL: max-age=1800\r\n"
            f"LOCATION: {self.location}\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nSERVER: {self.server}\r\n"
            f"USN: uuid:{self.uuid}::upnp:rootdevice\r\n\r\n"
        )
        self.transport.sendto(msg.encode(), (SSDP_GROUP, SSDP_PORT))


async def start_ssdp(device: LabDevice) -> tuple[asyncio.DatagramTransport, asyncio.Task[None]]:
    """Bind UDP 1900, join the SSDP group on the device's interface, and announce periodically."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", SSDP_PORT))
    mreq = struct.pack("4s4s", socket.inet_aton(SSDP_GROUP), socket.inet_aton(device.ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(device.ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: SsdpResponder(device), sock=sock)

    async def announce() -> None:
        while True:
            proto.notify()
            await asyncio.sleep(NOTIFY_INTERVAL_S)

    return transport, asyncio.create_task(announce())
