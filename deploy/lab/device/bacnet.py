"""BACnet/IP responder (UDP 47808): Who-Is -> I-Am, and ReadProperty of the device object's identity properties.

Answers vendor-identifier (120), vendor-name (121), model-name (70), object-name (77), object-identifier (75),
firmware-revision (44) and application-software-version (12); any other property gets an unknown-property error.
"""

from __future__ import annotations

import asyncio
import struct

from deploy.lab.model import LabService

DEVICE_OBJECT_TYPE = 8
WILDCARD_INSTANCE = 0x3FFFFF
PROP_OBJECT_IDENTIFIER = 75


def _object_id(instance: int) -> int:
    return (DEVICE_OBJECT_TYPE << 22) | instance


def _unsigned(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return bytes([0x20 | len(raw)]) + raw


def _string(text: str) -> bytes:
    raw = b"\x00" + text.encode("utf-8")  # character set 0: UTF-8
    return (bytes([0x70 | len(raw)]) if len(raw) <= 4 else bytes([0x75, len(raw)])) + raw


def _bvlc(npdu_apdu: bytes) -> bytes:
    return struct.pack(">BBH", 0x81, 0x0A, len(npdu_apdu) + 4) + npdu_apdu


class BacnetDevice(asyncio.DatagramProtocol):
    """A BACnet device object answering identity requests."""

    def __init__(self, svc: LabService) -> None:
        p = svc.params
        self.instance = int(p["device_instance"])
        self.props: dict[int, bytes] = {
            120: _unsigned(int(p["vendor_id"])),
            121: _string(p["vendor_name"]),
            70: _string(p["model_name"]),
            77: _string(p["object_name"]),
            44: _string(p["firmware"]),
            12: _string(p["application_version"]),
            PROP_OBJECT_IDENTIFIER: b"\xc4" + struct.pack(">I", _object_id(self.instance)),
        }
        self.vendor_id = int(p["vendor_id"])
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def i_am(self) -> bytes:
        """I-Am: device object id, max APDU 1476, no segmentation, vendor id."""
        apdu = b"\x10\x00" + b"\xc4" + struct.pack(">I", _object_id(self.instance))
        apdu += b"\x22\x05\xc4" + b"\x91\x03" + _unsigned(self.vendor_id)
        return _bvlc(b"\x01\x00" + apdu)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        out = self.answer(data)
        if out and self.transport is not None:
            self.transport.sendto(out, addr)

    def answer(self, data: bytes) -> bytes | None:
        """The reply datagram to one request, or None."""
        if len(data) < 6 or data[0] != 0x81 or data[1] not in (0x0A, 0x0B):
            return None
        npdu = data[4:]
        if npdu[0] != 0x01:
            return None
        control = npdu[1]
        pos = 2
        if control & 0x20:  # destination specifier present
            dlen = npdu[pos + 2]
            pos += 3 + dlen
        if control & 0x08:  # source specifier present
            slen = npdu[pos + 2]
            pos += 3 + slen
        if control & 0x20:
            pos += 1  # hop count
        if control & 0x80:
            return None  # network-layer message
        apdu = npdu[pos:]
        if len(apdu) >= 2 and apdu[0] == 0x10 and apdu[1] == 0x08:  # Who-Is
            if len(apdu) > 2:
                low, high = self._range(apdu[2:])
                if not low <= self.instance <= high:
                    return None
            return self.i_am()
        if len(apdu) >= 4 and apdu[0] & 0xF0 == 0x00 and apdu[3] == 0x0C:  # confirmed ReadProperty
            return self.read_property(apdu[2], apdu[4:])
        return None

    @staticmethod
    def _range(tags: bytes) -> tuple[int, int]:
        values = []
        pos = 0
        while pos < len(tags):
            length = tags[pos] & 0x07
            values.append(int.from_bytes(tags[pos + 1 : pos + 1 + length], "big"))
            pos += 1 + length
        return (values[0], values[1]) if len(values) == 2 else (0, WILDCARD_INSTANCE)

    def read_property(self, invoke_id: int, body: bytes) -> bytes | None:
        if len(body) < 7 or body[0] != 0x0C:
            return None
        obj = struct.unpack(">I", body[1:5])[0]
        plen = body[5] & 0x07
        prop = int.from_bytes(body[6 : 6 + plen], "big")
        obj_type, instance = obj >> 22, obj & WILDCARD_INSTANCE
        if obj_type != DEVICE_OBJECT_TYPE or instance not in (self.instance, WILDCARD_INSTANCE):
            # error class object (1), code unknown-object (31)
            return _bvlc(b"\x01\x00" + bytes([0x50, invoke_id, 0x0C, 0x91, 0x01, 0x91, 0x1F]))
        if prop not in self.props:
            # error class property (2), code unknown-property (32)
            return _bvlc(b"\x01\x00" + bytes([0x50, invoke_id, 0x0C, 0x91, 0x02, 0x91, 0x20]))
        prop_tag = b"\x19" + bytes([prop]) if prop < 256 else b"\x1a" + struct.pack(">H", prop)
        apdu = bytes([0x30, invoke_id, 0x0C]) + b"\x0c" + struct.pack(">I", _object_id(self.instance))
        apdu += prop_tag + b"\x3e" + self.props[prop] + b"\x3f"
        return _bvlc(b"\x01\x00" + apdu)
