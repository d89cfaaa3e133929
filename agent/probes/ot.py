"""OT identity reads, nothing else: Modbus MEI 0x2B/0x0E (basic objects), S7 SZL identity, CIP ListIdentity
and
BACnet ReadProperty of the device object's vendor and model properties.

No write, no program, no diagnostic function code is ever sent; these are the requests vendors' own
engineering
tools make to list devices.
"""

from __future__ import annotations

import logging
import socket
import struct

from agent.probes.base import Finding, ProbeContext, close, recv_some, tcp_connect, text

log = logging.getLogger(__name__)


# --- Modbus
# -------------------------------------------------------------------------------------------------------


def read_device_identification(unit: int, transaction: int) -> bytes:
    """A Modbus/TCP Read Device Identification request (0x2B/0x0E, read code 1 = basic objects from 0)."""
    from scapy.contrib.modbus import ModbusADURequest, ModbusPDU2B0EReadDeviceIdentificationRequest

    request = ModbusADURequest(transId=transaction, unitId=unit) / ModbusPDU2B0EReadDeviceIdentificationRequest(
        readCode=1, objectId=0
    )
    return bytes(request)


def device_identification(frame: bytes, transaction: int) -> dict[int, bytes]:
    """Object id -> value from the answer to `transaction`; {} for an exception, another answer or garbage."""
    from scapy.contrib.modbus import (
        ModbusADUResponse,
        ModbusObjectId,
        ModbusPDU2B0EReadDeviceIdentificationResponse,
    )

    try:
        answer = ModbusADUResponse(frame)
    except Exception:  # noqa: BLE001 - scapy raises many types on garbage; garbage identifies nothing
        return {}
    if answer.transId != transaction or not answer.haslayer(ModbusPDU2B0EReadDeviceIdentificationResponse):
        return {}
    objects: dict[int, bytes] = {}
    layer = answer.getlayer(ModbusObjectId)
    while isinstance(layer, ModbusObjectId):
        objects.setdefault(int(layer.id), bytes(layer.value))
        layer = layer.payload
    return objects


def _mbap_frame(sock: socket.socket) -> bytes:
    """One Modbus/TCP frame: the 7-byte MBAP header, whose length field counts the unit id and the PDU."""
    head = recv_some(sock, limit=7)
    if len(head) < 7:
        return b""
    length = struct.unpack(">H", head[4:6])[0]
    return head + recv_some(sock, limit=max(0, length - 1))


def probe_modbus(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    """Read Device Identification (0x2B/0x0E, basic: VendorName, ProductCode, Revision) on each unit id."""
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return []
    out: list[Finding] = []
    try:
        for transaction, unit in enumerate(ctx.modbus_unit_ids, start=1):
            ctx.limiter.acquire(ip, 2)
            sock.sendall(read_device_identification(unit, transaction))
            frame = _mbap_frame(sock)
            if not frame:
                break  # the device closed the connection or stayed silent: do not press it
            info = device_identification(frame, transaction)
            vendor = text(info.get(0, b""))
            product = " ".join(text(info[i]) for i in (1, 4, 5) if info.get(i))
            revision = text(info.get(2, b""))
            if vendor:
                out.append(Finding("modbus.vendor", vendor, port, "tcp", "probe.modbus"))
            if product:
                value = f"{product} {revision}".strip() if revision else product
                out.append(Finding("modbus.product", value, port, "tcp", "probe.modbus"))
            if out:
                break
    except OSError as exc:
        log.debug("modbus %s:%s: %s", ip, port, exc)
    finally:
        close(sock, ip, ctx)
    return out


# --- S7comm
# -------------------------------------------------------------------------------------------------------
# The same requests nmap's s7-info script sends: COTP connect (rack 0, slot 2), S7 setup, SZL 0x0011 and
# 0x001C.
S7_COTP = bytes.fromhex("0300001611e00000001400c1020100c2020102c0010a")
S7_COTP_ALT = bytes.fromhex("0300001611e00000000500c1020100c2020200c0010a")
S7_SETUP = bytes.fromhex("0300001902f08032010000000000080000f0000001000101e0")
S7_SZL_0011 = bytes.fromhex("0300002102f080320700000000000800080001120411440100ff09000400110001")
S7_SZL_001C = bytes.fromhex("0300002102f080320700000000000800080001120411440100ff090004001c0001")


def _tpkt(sock: socket.socket) -> bytes:
    head = recv_some(sock, limit=4)
    if len(head) < 4 or head[0] != 3:
        return b""
    length = struct.unpack(">H", head[2:4])[0]
    return head + recv_some(sock, limit=max(0, length - 4))


def parse_szl(packet: bytes) -> tuple[int, list[bytes]]:
    """(SZL id, records) from an S7 userdata answer; (0, []) when it is not one."""
    if len(packet) < 17 or packet[7] != 0x32:
        return 0, []
    param_len, data_len = struct.unpack(">HH", packet[13:17])
    data = packet[17 + param_len : 17 + param_len + data_len]
    if len(data) < 12 or data[0] != 0xFF:
        return 0, []
    szl_id, _index, rec_len, count = struct.unpack(">HHHH", data[4:12])
    records = [data[12 + i * rec_len : 12 + (i + 1) * rec_len] for i in range(count)]
    return szl_id, [r for r in records if len(r) == rec_len and rec_len >= 2]


def s7_findings(answers: list[bytes], port: int) -> list[Finding]:
    order_number = module_type = copyright_text = ""
    for packet in answers:
        szl_id, records = parse_szl(packet)
        for record in records:
            index = struct.unpack(">H", record[:2])[0]
            value = text(record[2:].split(b"\x00")[0])
            if szl_id == 0x0011 and index == 1 and value:
                order_number = " ".join(text(record[2:22]).split())
            elif szl_id == 0x001C and index == 7 and value:
                module_type = value
            elif szl_id == 0x001C and index == 4 and value:
                copyright_text = value
    out = []
    module = " ".join(v for v in (module_type, order_number) if v)
    if module:
        out.append(Finding("s7.module", module, port, "tcp", "probe.s7"))
    if copyright_text:
        out.append(Finding("s7.vendor", copyright_text, port, "tcp", "probe.s7"))
    return out


def probe_s7(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    for cotp in (S7_COTP, S7_COTP_ALT):
        sock = tcp_connect(ip, port, ctx)
        if sock is None:
            return []
        try:
            ctx.limiter.acquire(ip, 2)
            sock.sendall(cotp)
            confirm = _tpkt(sock)
            if len(confirm) < 6 or confirm[5] != 0xD0:
                continue  # connection refused by this TSAP: try the alternative (S7-1200/1500 style)
            ctx.limiter.acquire(ip, 2)
            sock.sendall(S7_SETUP)
            if not _tpkt(sock):
                return []
            answers = []
            for request in (S7_SZL_0011, S7_SZL_001C):
                ctx.limiter.acquire(ip, 2)
                sock.sendall(request)
                answers.append(_tpkt(sock))
            return s7_findings(answers, port)
        except OSError:
            return []
        finally:
            close(sock, ip, ctx)
    return []


# --- EtherNet/IP (CIP)
# --------------------------------------------------------------------------------------------
ENIP_LIST_IDENTITY = struct.pack("<HHII8sI", 0x0063, 0, 0, 0, b"herkomst", 0)


def parse_list_identity(packet: bytes, port: int, proto: str) -> list[Finding]:
    if len(packet) < 26 or struct.unpack("<H", packet[:2])[0] != 0x0063:
        return []
    body = packet[24:]
    count = struct.unpack("<H", body[:2])[0]
    if count < 1 or len(body) < 6:
        return []
    item_type, item_len = struct.unpack("<HH", body[2:6])
    item = body[6 : 6 + item_len]
    if item_type != 0x000C or len(item) < 33:
        return []
    vendor_id, _device_type, _product_code = struct.unpack("<HHH", item[18:24])
    name_len = item[32]
    name = text(item[33 : 33 + name_len])
    out = [Finding("enip.vendor_id", str(vendor_id), port, proto, "probe.enip")]
    if name:
        out.append(Finding("enip.product", name, port, proto, "probe.enip"))
    return out


def probe_enip(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    """ListIdentity over UDP (one datagram); over TCP only when UDP stays silent."""
    ctx.limiter.acquire(ip, 1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.settimeout(ctx.timeout)
    try:
        # A connected UDP socket reports the port-unreachable answer at once instead of waiting the timeout.
        udp.connect((ip, port))
        udp.send(ENIP_LIST_IDENTITY)
        found = parse_list_identity(udp.recv(2048), port, "udp")
        if found:
            return found
    except OSError:
        pass  # silent or closed over UDP: some adapters answer ListIdentity over TCP only
    finally:
        udp.close()
    sock = tcp_connect(ip, port, ctx)
    if sock is None:
        return []
    try:
        ctx.limiter.acquire(ip, 1)
        sock.sendall(ENIP_LIST_IDENTITY)
        head = recv_some(sock, limit=24)
        if len(head) < 24:
            return []
        length = struct.unpack("<H", head[2:4])[0]
        return parse_list_identity(head + recv_some(sock, limit=length), port, "tcp")
    except OSError:
        return []
    finally:
        close(sock, ip, ctx)


# --- BACnet/IP
# ----------------------------------------------------------------------------------------------------
BACNET_WILDCARD_INSTANCE = 4194303
PROP_VENDOR_ID, PROP_VENDOR_NAME, PROP_MODEL_NAME = 120, 121, 70


def bacnet_read_property(instance: int, prop: int, invoke_id: int) -> bytes:
    object_id = (8 << 22) | instance  # object type 8: device
    apdu = bytes([0x00, 0x05, invoke_id & 0xFF, 0x0C, 0x0C]) + struct.pack(">I", object_id) + bytes([0x19, prop])
    npdu = bytes([0x01, 0x04])
    return bytes([0x81, 0x0A]) + struct.pack(">H", 4 + len(npdu) + len(apdu)) + npdu + apdu


def bacnet_who_is() -> bytes:
    body = bytes([0x01, 0x00, 0x10, 0x08])
    return bytes([0x81, 0x0A]) + struct.pack(">H", 4 + len(body)) + body


def _apdu(packet: bytes) -> bytes:
    if len(packet) < 6 or packet[0] != 0x81:
        return b""
    npdu = packet[4:]
    control = npdu[1]
    offset = 2
    if control & 0x20:  # destination present
        offset += 3 + npdu[offset + 2] + 1
    if control & 0x08:  # source present
        offset += 3 + npdu[offset + 2]
    return npdu[offset:]


def parse_i_am(packet: bytes) -> int | None:
    apdu = _apdu(packet)
    if len(apdu) >= 7 and apdu[0] == 0x10 and apdu[1] == 0x00 and apdu[2] == 0xC4:
        instance: int = struct.unpack(">I", apdu[3:7])[0] & 0x3FFFFF
        return instance
    return None


def parse_read_property_ack(packet: bytes) -> str | None:
    """The value of a ReadProperty complex ACK (unsigned or character string), else None."""
    apdu = _apdu(packet)
    if len(apdu) < 3 or apdu[0] >> 4 != 0x3 or apdu[2] != 0x0C:
        return None
    start = apdu.find(b"\x3e", 3)
    if start < 0 or start + 1 >= len(apdu):
        return None
    tag = apdu[start + 1]
    number, length = tag >> 4, tag & 0x07
    pos = start + 2
    if length == 5:
        length = apdu[pos]
        pos += 1
        if length == 254:
            length = struct.unpack(">H", apdu[pos : pos + 2])[0]
            pos += 2
    value = apdu[pos : pos + length]
    if number == 2:
        return str(int.from_bytes(value, "big"))
    if number == 7 and value:
        return text(value[1:])  # first byte: character set (0 = UTF-8)
    return None


def probe_bacnet(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(ctx.timeout)
    out: list[Finding] = []
    try:
        ctx.limiter.acquire(ip, 1)
        sock.connect((ip, port))  # connected: a closed port answers at once, and only this device is heard
        sock.send(bacnet_who_is())
        try:
            packet = sock.recv(1500)
        except OSError:
            return []  # no BACnet device here: don't send the property reads
        instance = parse_i_am(packet)
        instance = BACNET_WILDCARD_INSTANCE if instance is None else instance
        values: dict[int, str] = {}
        for invoke, prop in enumerate((PROP_VENDOR_ID, PROP_VENDOR_NAME, PROP_MODEL_NAME), start=1):
            ctx.limiter.acquire(ip, 1)
            sock.send(bacnet_read_property(instance, prop, invoke))
            try:
                packet = sock.recv(1500)
            except OSError:
                continue
            value = parse_read_property_ack(packet)
            if value:
                values[prop] = value
        if PROP_VENDOR_ID in values:
            out.append(Finding("bacnet.vendor_id", values[PROP_VENDOR_ID], port, "udp", "probe.bacnet"))
        model = " ".join(values[p] for p in (PROP_VENDOR_NAME, PROP_MODEL_NAME) if p in values)
        if model:
            out.append(Finding("bacnet.model", model, port, "udp", "probe.bacnet"))
        return out
    except OSError:
        return out
    finally:
        sock.close()
