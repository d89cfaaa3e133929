"""The fragile device: counts frames addressed to it and faults on too many per second or on a request it does
not understand. A fault is recorded under the run directory, the device stops answering (its servers close and its
link goes down, as a crashed PLC does) and stays so until `herkomst lab up` restarts it.

What counts: frames to its own MAC and ARP requests for its address. Broadcast and multicast meant for others
(another host's ARP, LLDP, mDNS) do not count, so scanning *other* devices of the segment never trips it.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from deploy.lab.model import LabDevice, LabService

ETH_P_ALL = 0x0003
PACKET_HOST = 0
PACKET_OUTGOING = 4
DEFAULT_MAX_PPS = 50


class FragileMonitor:
    """Packet counter and fault recorder for one device."""

    def __init__(self, device: LabDevice, max_pps: int, fault_file: Path, iface: str = "eth0") -> None:
        self.device = device
        self.max_pps = max_pps
        self.fault_file = fault_file
        self.iface = iface
        self.faulted = False
        self.window: collections.deque[float] = collections.deque()
        self.on_fault: list[Callable[[], None]] = []
        self.sock: socket.socket | None = None
        self._ip = socket.inet_aton(device.ip)

    def start(self) -> None:
        """Open the AF_PACKET socket and count in the event loop."""
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((self.iface, 0))
        sock.setblocking(False)
        self.sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _counts(self, frame: bytes, pkttype: int) -> bool:
        if pkttype == PACKET_HOST:
            return True
        if pkttype == PACKET_OUTGOING or len(frame) < 42:
            return False
        ethertype = struct.unpack(">H", frame[12:14])[0]
        return ethertype == 0x0806 and frame[20:22] == b"\x00\x01" and frame[38:42] == self._ip

    def _readable(self) -> None:
        assert self.sock is not None
        now = time.monotonic()
        while True:
            try:
                frame, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            if self._counts(frame, addr[2]):
                self.window.append(now)
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if len(self.window) > self.max_pps and not self.faulted:
            self.fault(f"received {len(self.window)} packets in one second (limit {self.max_pps}/s)", len(self.window))

    def fault(self, reason: str, packets_per_second: int | None = None) -> None:
        """Record the fault and stop answering."""
        if self.faulted:
            return
        self.faulted = True
        record = {
            "device": self.device.name,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "reason": reason,
            "packets_per_second": packets_per_second,
        }
        self.fault_file.parent.mkdir(parents=True, exist_ok=True)
        with self.fault_file.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(f"FAULT {record}", flush=True)
        for callback in self.on_fault:
            callback()
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        subprocess.run(["ip", "link", "set", self.iface, "down"], check=False)


_MODBUS_EXCEPTION_ILLEGAL_ADDRESS = 0x02


def fragile_modbus_handler(svc: LabService, monitor: FragileMonitor):  # type: ignore[no-untyped-def]
    """A strict Modbus TCP responder: device identification and register reads; anything else faults the device."""
    p = svc.params
    objects: list[str] = [str(p["vendor_name"]), str(p["product_code"]), str(p["revision"])]
    writers: set[asyncio.StreamWriter] = set()

    def drop_all() -> None:
        for w in list(writers):
            w.transport.abort()

    monitor.on_fault.append(drop_all)

    def answer(unit: int, pdu: bytes) -> bytes | None:
        fc = pdu[0]
        if fc == 0x2B and len(pdu) >= 4 and pdu[1] == 0x0E and pdu[2] in (1, 2, 3, 4):
            code, first = pdu[2], pdu[3]
            if code == 4 and first > 2:
                return bytes([0xAB, _MODBUS_EXCEPTION_ILLEGAL_ADDRESS])
            # Conformity level 1 (basic): a request for the regular or extended level is answered with the basic
            # objects, as the Modbus specification asks of a device below the requested level.
            wanted = range(first, first + 1) if code == 4 else range(first if first <= 2 else 0, 3)
            body = b"".join(bytes([i, len(objects[i])]) + objects[i].encode() for i in wanted)
            return bytes([0x2B, 0x0E, code, 0x01, 0x00, 0x00, len(wanted)]) + body
        if fc in (0x03, 0x04) and len(pdu) == 5:
            count: int = struct.unpack(">H", pdu[3:5])[0]
            if 1 <= count <= 125:
                return bytes([fc, count * 2]) + b"\0" * (count * 2)
        return None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if monitor.faulted:
            writer.transport.abort()
            return
        writers.add(writer)
        try:
            while not monitor.faulted:
                try:
                    head = await asyncio.wait_for(reader.readexactly(7), 20)
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        monitor.fault(f"truncated Modbus/TCP header {exc.partial[:16].hex()}")
                    return
                except TimeoutError:
                    return
                tid, pid, length, unit = struct.unpack(">HHHB", head)
                if pid != 0 or not 2 <= length <= 254:
                    monitor.fault(f"malformed Modbus/TCP header {head.hex()}")
                    return
                try:
                    pdu = await asyncio.wait_for(reader.readexactly(length - 1), 5)
                except (asyncio.IncompleteReadError, TimeoutError):
                    monitor.fault("truncated Modbus/TCP request")
                    return
                out = answer(unit, pdu)
                if out is None:
                    monitor.fault(f"request it does not understand: Modbus function 0x{pdu[0]:02x} ({pdu.hex()})")
                    return
                writer.write(struct.pack(">HHHB", tid, 0, len(out) + 1, unit) + out)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    return handle
