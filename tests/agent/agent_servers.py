"""Small real protocol servers on loopback for the probe tests (each answers like the device it stands
for)."""

from __future__ import annotations

import datetime
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class _TCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _UDP(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True


@contextmanager
def tcp_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(3)
            try:
                handle(self.request)
            except OSError:
                pass

    server = _TCP(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def udp_server(answer: Callable[[bytes], bytes | None]) -> Iterator[int]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            reply = answer(data)
            if reply is not None:
                sock.sendto(reply, self.client_address)

    server = _UDP(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def http_handler(headers: dict[str, str], body: str) -> Callable[[socket.socket], None]:
    def handle(sock: socket.socket) -> None:
        read_request(sock)
        head = "HTTP/1.1 401 Unauthorized\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n{body}".encode())

    return handle


def self_signed(tmp: Path, subject: dict[str, str]) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    oids = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME}
    name = x509.Name([x509.NameAttribute(oids[k], v) for k, v in subject.items()])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return ctx


def s7_handler(order: str, module_type: str, copyright_text: str) -> Callable[[socket.socket], None]:
    """An S7-300 style responder: COTP CC, setup ack, SZL 0x0011 / 0x001C answers."""

    def tpkt(payload: bytes) -> bytes:
        return b"\x03\x00" + struct.pack(">H", len(payload) + 4) + payload

    def szl(szl_id: int, records: list[bytes]) -> bytes:
        rec_len = len(records[0])
        data = b"\xff\x09" + struct.pack(">H", 8 + rec_len * len(records))
        data += struct.pack(">HHHH", szl_id, 0, rec_len, len(records)) + b"".join(records)
        param = bytes.fromhex("000112081284010100000000")
        header = b"\x32\x07\x00\x00\x00\x00" + struct.pack(">HH", len(param), len(data))
        return tpkt(b"\x02\xf0\x80" + header + param + data)

    def handle(sock: socket.socket) -> None:
        while True:
            head = sock.recv(4)
            if len(head) < 4:
                return
            body = sock.recv(struct.unpack(">H", head[2:])[0] - 4)
            if body[1] == 0xE0:
                sock.sendall(tpkt(b"\x11\xd0\x00\x01\x00\x02\x00\xc0\x01\x0a\xc1\x02\x01\x00\xc2\x02\x01\x02"))
            elif body[4] == 0x01:
                sock.sendall(tpkt(bytes.fromhex("02f080320300000000000800000000f0000001000100f0")))
            elif body[-4:-2] == b"\x00\x11":
                rec = struct.pack(">H", 1) + order.encode().ljust(20) + b"\x00\x00\x00\x00\x00\x00"
                sock.sendall(szl(0x0011, [rec]))
            elif body[-4:-2] == b"\x00\x1c":
                recs = [
                    struct.pack(">H", i) + value.encode().ljust(32, b"\x00")
                    for i, value in ((1, "SIMATIC 300(1)"), (4, copyright_text), (7, module_type))
                ]
                sock.sendall(szl(0x001C, recs))

    return handle


def enip_identity(vendor: int, name: str) -> bytes:
    item = struct.pack("<H", 1) + b"\x00" * 16 + struct.pack("<HHHHHI", vendor, 14, 54, 0x0B14, 0x30, 0x12345678)
    item += bytes([len(name)]) + name.encode() + b"\x03"
    body = struct.pack("<HHH", 1, 0x000C, len(item)) + item
    return struct.pack("<HHII8sI", 0x0063, len(body), 0, 0, b"herkomst", 0) + body


def bacnet_answer(instance: int, vendor_id: int, vendor_name: str, model: str) -> Callable[[bytes], bytes | None]:
    def wrap(apdu: bytes) -> bytes:
        npdu = b"\x01\x00" + apdu
        return b"\x81\x0a" + struct.pack(">H", 4 + len(npdu)) + npdu

    def charstring(value: str) -> bytes:
        raw = b"\x00" + value.encode()
        return bytes([0x75, len(raw)]) + raw

    def answer(data: bytes) -> bytes | None:
        apdu = data[6:]
        if apdu[:2] == b"\x10\x08":
            obj = struct.pack(">I", (8 << 22) | instance)
            return wrap(b"\x10\x00\xc4" + obj + b"\x22\x05\xc4\x91\x00\x21" + bytes([vendor_id]))
        if apdu[0] == 0x00 and apdu[3] == 0x0C:
            invoke, prop = apdu[2], apdu[-1]
            value = {120: b"\x21" + bytes([vendor_id]), 121: charstring(vendor_name), 70: charstring(model)}[prop]
            return wrap(bytes([0x30, invoke, 0x0C]) + apdu[4:9] + bytes([0x19, prop, 0x3E]) + value + b"\x3f")
        return None

    return answer
