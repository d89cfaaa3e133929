"""A PROFINET IO device's DCP side (IEC 61158-6-10), as engineering tools see it on the link.

The device answers DCP Identify requests addressed to PROFINET's identify multicast (01:0e:cf:00:00:00) or to its own
MAC, when the request asks for All or for its own NameOfStation, after a random delay within the request's response
delay factor × 10 ms, as real devices do to keep a segment's answers from colliding. With `hello_interval` set it also
announces itself with DCP Hello frames, as devices configured for fast start-up do. It ignores Set and Get: the lab
device never changes its name or address.

Frames are written here with struct, independently of the agent's parser (agent/discovery/dcp.py), so that the lab
tests one implementation against another.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time

from deploy.lab.model import LabDevice, LabService

ETHERTYPE = 0x8892
IDENTIFY_MULTICAST = bytes.fromhex("010ecf000000")
HELLO_MULTICAST = bytes.fromhex("010ecf000001")
FRAME_HELLO, FRAME_IDENTIFY_REQUEST, FRAME_IDENTIFY_RESPONSE = 0xFEFC, 0xFEFE, 0xFEFF
SERVICE_IDENTIFY, SERVICE_HELLO = 0x05, 0x06
ROLE_BITS = {"io-device": 0x01, "io-controller": 0x02, "io-multidevice": 0x04, "supervisor": 0x08}

def _block(option: int, sub: int, value: bytes, info: int = 0) -> bytes:
    body = struct.pack("!H", info) + value
    block = struct.pack("!BBH", option, sub, len(body)) + body
    return block + (b"\x00" if len(body) % 2 else b"")


def identity_blocks(device: LabDevice, svc: LabService) -> bytes:
    """The blocks a PROFINET device returns to Identify All: station name, type, ids, role, options, IP suite."""
    p = svc.params
    role = sum(ROLE_BITS[r] for r in p.get("roles", ["io-device"]))
    mask, gateway = p.get("netmask", "255.255.255.0"), p.get("gateway", "0.0.0.0")
    options = b"".join(struct.pack("!BB", o, s) for o, s in ((1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (2, 4), (2, 5)))
    return b"".join([
        _block(0x02, 0x05, options),  # device options: which blocks it supports
        _block(0x02, 0x01, p["vendor_value"].encode()),  # DeviceVendorValue ("S7-1200")
        _block(0x02, 0x02, p["station_name"].encode()),  # NameOfStation
        _block(0x02, 0x03, struct.pack("!HH", int(p["vendor_id"]), int(p["device_id"]))),
        _block(0x02, 0x04, struct.pack("!BB", role, 0)),
        # IP suite with BlockInfo "IP set" (1): address, mask, gateway
        _block(0x01, 0x02, socket.inet_aton(device.ip) + socket.inet_aton(mask) + socket.inet_aton(gateway), 1),
    ])


def _frame(dst: bytes, src: bytes, frame_id: int, service: int, service_type: int, xid: int, blocks: bytes) -> bytes:
    pdu = struct.pack("!HBBIHH", frame_id, service, service_type, xid, 0, len(blocks)) + blocks
    frame = dst + src + struct.pack("!H", ETHERTYPE) + pdu
    return frame + b"\x00" * max(0, 60 - len(frame))


def identify_response(device: LabDevice, svc: LabService, dst: bytes, xid: int) -> bytes:
    src = bytes.fromhex(device.mac.replace(":", ""))
    return _frame(dst, src, FRAME_IDENTIFY_RESPONSE, SERVICE_IDENTIFY, 0x01, xid, identity_blocks(device, svc))


def hello(device: LabDevice, svc: LabService) -> bytes:
    src = bytes.fromhex(device.mac.replace(":", ""))
    return _frame(HELLO_MULTICAST, src, FRAME_HELLO, SERVICE_HELLO, 0x00, random.getrandbits(32),
                  identity_blocks(device, svc))


def _asks_for_me(blocks: bytes, station_name: str) -> bool:
    """An Identify request's filter: All (0xff/0xff), or a NameOfStation equal to ours."""
    i = 0
    while i + 4 <= len(blocks):
        option, sub, size = struct.unpack("!BBH", blocks[i:i + 4])
        value = blocks[i + 4:i + 4 + size]
        if (option, sub) == (0xFF, 0xFF):
            return True
        if (option, sub) == (0x02, 0x02):
            return value.decode(errors="replace") == station_name
        i += 4 + size + (size & 1)
    return False


def serve(device: LabDevice, svc: LabService, iface: str, stop: threading.Event) -> None:
    """Answer Identify requests (and send Hellos) on `iface` until `stop` is set."""
    own = bytes.fromhex(device.mac.replace(":", ""))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
    sock.bind((iface, ETHERTYPE))
    sock.settimeout(0.02)  # short: a pending answer leaves on time
    interval = float(svc.params.get("hello_interval", 0))
    next_hello = time.monotonic() if interval else float("inf")
    pending: list[tuple[float, bytes]] = []
    try:
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_hello:
                sock.send(hello(device, svc))
                next_hello = now + interval
            for due, frame in [p for p in pending if p[0] <= now]:
                sock.send(frame)
                pending.remove((due, frame))
            try:
                raw = sock.recv(1514)
            except TimeoutError:
                continue
            if len(raw) < 26 or raw[:6] not in (IDENTIFY_MULTICAST, own) or raw[6:12] == own:
                continue
            frame_id, service, service_type, xid, delay, length = struct.unpack("!HBBIHH", raw[14:26])
            if frame_id == FRAME_IDENTIFY_REQUEST and service == SERVICE_IDENTIFY and service_type == 0 and \
                    _asks_for_me(raw[26:26 + length], svc.params["station_name"]):
                wait = random.uniform(0, max(1, delay) * 0.01)
                pending.append((now + wait, identify_response(device, svc, raw[6:12], xid)))
    finally:
        sock.close()
