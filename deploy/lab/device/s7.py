"""S7comm identity responder (TCP 102): COTP connect, S7 setup communication, and SZL reads 0x0011 / 0x001C.

It answers exactly what an identity read (e.g. nmap's s7-info script) asks: the module identification (order
number, hardware and firmware version) and the component identification (system, module, plant id, copyright,
serial number, module type). Other S7 functions are answered with an error, never acted on.
"""

from __future__ import annotations

import asyncio
import struct

from deploy.lab.model import LabService


def _tpkt(payload: bytes) -> bytes:
    return struct.pack(">BBH", 3, 0, len(payload) + 4) + payload


def _cotp_data(s7: bytes) -> bytes:
    return _tpkt(b"\x02\xf0\x80" + s7)


def _pad(text: str, size: int) -> bytes:
    return text.encode("ascii")[:size].ljust(size, b" " if size == 20 else b"\0")


def _version(text: str) -> bytes:
    # "V4.4.0" -> b"V" 4 4 0, as the CPU encodes its firmware in SZL 0x0011 index 7.
    nums = [int(x) for x in text.lstrip("Vv").split(".")][:3] + [0, 0, 0]
    return b"V" + bytes(nums[:3])


class S7Identity:
    """Builds the SZL answers from the service parameters."""

    def __init__(self, svc: LabService) -> None:
        self.p = svc.params

    def szl(self, szl_id: int, index: int) -> bytes | None:
        p = self.p
        if szl_id in (0x0011, 0x0111):
            entries = [
                struct.pack(">H", 1) + _pad(p["order_number"], 20) + b"\x00\x00" + struct.pack(">H", 0) + b"\x00\x00",
                struct.pack(">H", 6)
                + _pad(p["order_number"], 20)
                + b"\x00\x00"
                + struct.pack(">H", int(p.get("hardware_version", 1)))
                + b"\x00\x00",
                struct.pack(">H", 7) + _pad(p["order_number"], 20) + b"\x00\x00" + _version(p["firmware"]),
            ]
            return self._list(szl_id, index, 28, entries)
        if szl_id in (0x001C, 0x011C):
            fields = [
                (1, p["system_name"]),
                (2, p["module_name"]),
                (3, p.get("plant_id", "")),
                (4, p.get("copyright", "Original Siemens Equipment")),
                (5, p["serial"]),
                (7, p["module_type"]),
            ]
            entries = [struct.pack(">H", i) + _pad(v, 32) for i, v in fields]
            return self._list(szl_id, index, 34, entries)
        return None

    @staticmethod
    def _list(szl_id: int, index: int, size: int, entries: list[bytes]) -> bytes:
        return struct.pack(">HHHH", szl_id, index, size, len(entries)) + b"".join(entries)


def _userdata_reply(seq: int, data: bytes | None, pdu_ref: bytes) -> bytes:
    param = b"\x00\x01\x12\x08\x12\x84\x01" + bytes([seq]) + (b"\x00\x00" if data is not None else b"\xd4\x01")
    param += b"\x00\x00"
    body = b"\xff\x09" + struct.pack(">H", len(data)) + data if data is not None else b"\x0a\x00\x00\x00"
    header = b"\x32\x07\x00\x00" + pdu_ref + struct.pack(">HH", len(param), len(body))
    return _cotp_data(header + param + body)


def s7_handler(svc: LabService):  # type: ignore[no-untyped-def]
    """The connection handler for asyncio.start_server."""
    identity = S7Identity(svc)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(4), 20)
                    if head[0] != 3:
                        return
                    payload = await reader.readexactly(struct.unpack(">H", head[2:4])[0] - 4)
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                if len(payload) < 2:
                    return
                pdu_type = payload[1]
                if pdu_type == 0xE0:  # COTP connection request -> connection confirm, echoing its parameters
                    src_ref = payload[4:6]
                    writer.write(_tpkt(bytes([len(payload) - 1, 0xD0]) + src_ref + b"\x00\x01\x00" + payload[7:]))
                elif pdu_type == 0xF0 and len(payload) >= 13 and payload[3] == 0x32:
                    s7 = payload[3:]
                    rosctr, pdu_ref = s7[1], s7[4:6]
                    plen = struct.unpack(">H", s7[6:8])[0]
                    params = s7[10 : 10 + plen]
                    data = s7[10 + plen :]
                    if rosctr == 1 and params[:1] == b"\xf0":  # setup communication -> ack with PDU size 240
                        ack = b"\xf0\x00\x00\x01\x00\x01\x00\xf0"
                        writer.write(
                            _cotp_data(
                                b"\x32\x03\x00\x00" + pdu_ref + struct.pack(">HH", len(ack), 0) + b"\x00\x00" + ack
                            )
                        )
                    elif rosctr == 7 and len(params) >= 8 and params[5] == 0x44 and params[6] == 0x01:
                        szl_id, index = struct.unpack(">HH", data[4:8]) if len(data) >= 8 else (0, 0)
                        writer.write(_userdata_reply(params[7], identity.szl(szl_id, index), pdu_ref))
                    else:  # anything else: an S7 error ack, never an action
                        writer.write(_cotp_data(b"\x32\x02\x00\x00" + pdu_ref + b"\x00\x00\x00\x00\x81\x04"))
                else:
                    return
                await writer.drain()
        finally:
            writer.close()

    return handle
