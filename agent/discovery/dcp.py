"""PROFINET DCP (IEC 61158-6-10): the link-layer protocol with which engineering tools find PROFINET field devices.

A device answers an Identify request, and announces itself with a Hello, with blocks that name it: its VendorID and
DeviceID (assigned by PROFIBUS & PROFINET International), the type it calls itself ("S7-1500", "SCALANCE X-200"),
the station name its operator gave it, its role and its IP suite. That is identification, read-only: the agent
sends only Identify (never Set, which changes a device's name or address, nor Get).

Frames are read from their bytes here. scapy has a DCP layer (scapy.contrib.pnio_dcp), but importing it imports
`scapy.all`, about 40 MB: more than a third of the agent's memory budget for four fixed-layout blocks.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.discovery.ethernet import ethertype

if TYPE_CHECKING:
    from agent.ratelimit import RateLimiter

log = logging.getLogger(__name__)

ETHERTYPE = 0x8892
#: PROFINET's multicast address for DCP Identify requests (IEC 61158-6-10, "PN-MC: DCP identify").
IDENTIFY_MULTICAST = "01:0e:cf:00:00:00"
FRAME_HELLO, FRAME_GET_SET, FRAME_IDENTIFY_REQUEST, FRAME_IDENTIFY_RESPONSE = 0xFEFC, 0xFEFD, 0xFEFE, 0xFEFF
SERVICE_IDENTIFY, SERVICE_HELLO = 0x05, 0x06
#: Response delay factor of our Identify request: each device answers at a random moment within factor × 10 ms,
#: so a segment of many devices answers spread over 1.28 s instead of all at once.
RESPONSE_DELAY_FACTOR = 128
ROLES = {0x01: "IO-Device", 0x02: "IO-Controller", 0x04: "IO-Multidevice", 0x08: "PN-Supervisor"}
MAX_BLOCKS = 64  # a response has a dozen; more is a malformed or hostile frame


@dataclass
class DcpIdentity:
    """What one DCP Identify response or Hello says about its sender."""

    mac: str
    frame_id: int
    station_name: str | None = None
    alias_name: str | None = None
    vendor_value: str | None = None  # DeviceVendorValue: the device's own type text
    vendor_id: int | None = None
    device_id: int | None = None
    roles: list[str] = field(default_factory=list)
    ip: str | None = None
    netmask: str | None = None
    gateway: str | None = None

    @property
    def device_id_value(self) -> str | None:
        """The `profinet.vendor_id` observation value: VendorID:DeviceID in hex."""
        if self.vendor_id is None:
            return None
        return f"0x{self.vendor_id:04x}:0x{self.device_id or 0:04x}"


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").strip("\x00 ").strip()


def parse(frame: bytes) -> DcpIdentity | None:
    """A DCP Identify response or Hello from a raw Ethernet frame (802.1Q tags allowed); None for any other frame,
    and for a truncated or malformed one (logged at debug: a device's odd frame never stops the listener)."""
    found = ethertype(frame)
    if found is None or found[0] != ETHERTYPE:
        return None
    pdu = found[1]
    if len(frame) < pdu + 12:
        return None
    frame_id = int.from_bytes(frame[pdu:pdu + 2], "big")
    service_id, service_type = frame[pdu + 2], frame[pdu + 3]
    if frame_id == FRAME_IDENTIFY_RESPONSE and service_id == SERVICE_IDENTIFY and service_type & 0x01:
        pass  # a response ("success" bit set)
    elif frame_id == FRAME_HELLO and service_id == SERVICE_HELLO and not service_type & 0x01:
        pass  # a device's own announcement
    else:
        return None
    length = int.from_bytes(frame[pdu + 10:pdu + 12], "big")
    data = frame[pdu + 12:pdu + 12 + length]
    if len(data) < length:
        log.debug("DCP: frame from %s is truncated (%d of %d data bytes)", _mac(frame[6:12]), len(data), length)
        return None
    ident = DcpIdentity(mac=_mac(frame[6:12]), frame_id=frame_id)
    i = blocks = 0
    while i + 4 <= len(data) and blocks < MAX_BLOCKS:
        option, sub = data[i], data[i + 1]
        size = int.from_bytes(data[i + 2:i + 4], "big")
        body = data[i + 4:i + 4 + size]
        if len(body) < size:
            log.debug("DCP: block %d/%d from %s overruns the frame", option, sub, ident.mac)
            break
        _block(ident, option, sub, body[2:] if size >= 2 else b"", body)  # responses: 2 bytes BlockInfo first
        i += 4 + size + (size & 1)  # blocks are padded to an even length
        blocks += 1
    return ident


def _block(ident: DcpIdentity, option: int, sub: int, value: bytes, body: bytes) -> None:
    if option == 0x02:  # device properties
        if sub == 0x01:
            ident.vendor_value = _text(value) or None
        elif sub == 0x02:
            ident.station_name = _text(value) or None
        elif sub == 0x03 and len(value) >= 4:
            ident.vendor_id = int.from_bytes(value[0:2], "big")
            ident.device_id = int.from_bytes(value[2:4], "big")
        elif sub == 0x04 and value:
            ident.roles = [name for bit, name in ROLES.items() if value[0] & bit]
        elif sub == 0x06:
            ident.alias_name = _text(value) or None
    elif option == 0x01 and sub == 0x02 and len(value) >= 12:  # IP suite: address, mask, gateway
        address = ipaddress.IPv4Address(value[0:4])
        if not address.is_unspecified:
            ident.ip = str(address)
            ident.netmask = str(ipaddress.IPv4Address(value[4:8]))
            ident.gateway = str(ipaddress.IPv4Address(value[8:12]))


def identify_request(src_mac: str, xid: int | None = None) -> bytes:
    """One DCP Identify-All request from `src_mac` to PROFINET's multicast address (60 bytes on the wire).

    Identify is read-only: every PROFINET device on the link answers with its identity blocks, and nothing on a
    device changes. The All option asks every device; the response delay spreads their answers."""
    xid = random.getrandbits(32) if xid is None else xid
    dst = bytes.fromhex(IDENTIFY_MULTICAST.replace(":", ""))
    src = bytes.fromhex(src_mac.replace(":", ""))
    block = bytes([0xFF, 0xFF, 0x00, 0x00])  # option All, suboption All, no data
    pdu = (FRAME_IDENTIFY_REQUEST.to_bytes(2, "big") + bytes([SERVICE_IDENTIFY, 0x00]) + xid.to_bytes(4, "big")
           + RESPONSE_DELAY_FACTOR.to_bytes(2, "big") + len(block).to_bytes(2, "big") + block)
    frame = dst + src + ETHERTYPE.to_bytes(2, "big") + pdu
    return frame + b"\x00" * max(0, 60 - len(frame))  # Ethernet minimum frame size (without FCS)


#: Packets one Identify costs (the request; answers are the devices' own frames).
IDENTIFY_PACKETS = 1


def send_identify(iface: str, limiter: RateLimiter) -> None:
    """Send one Identify-All request on `iface` (within the rate cap). The answers are heard by the passive listener
    on that interface, which must be running (PassiveHandler reads them like any Hello)."""
    from scapy.arch import get_if_hwaddr

    from agent.discovery.arp import translate_os_error

    try:
        frame = identify_request(get_if_hwaddr(iface))
        limiter.acquire(None, IDENTIFY_PACKETS)  # a multicast: aimed at no one host
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((iface, 0))
            sock.send(frame)
    except OSError as exc:
        raise translate_os_error(exc, iface) from exc
