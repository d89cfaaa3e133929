"""SNMP identity: one GET of sysDescr.0 and sysObjectID.0 per configured community (v2c, read-only, no
retries), then, where no community answered, per configured SNMPv3 user (authPriv: SHA-2 and AES).

v2c requests and answers are encoded with scapy's SNMP layer (the agent already carries scapy for discovery) and
travel over an ordinary UDP socket. SNMPv3's user-based security (engine discovery, localised keys, HMAC-SHA-2
authentication, AES privacy: RFC 3414, 3826, 7860) is pysnmp's: imported only when SNMPv3 users are configured,
because it adds some 20 MB to the agent's memory. Keys are never logged.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from typing import Any

from agent.probes.base import Finding, ProbeContext, text
from agent.settings import SnmpV3Credential

log = logging.getLogger(__name__)

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
#: The largest UDP payload: an answer is always read whole.
MAX_DATAGRAM = 65_535


def get_request(community: str, request_id: int) -> bytes:
    """An SNMPv2c GetRequest for sysDescr.0 and sysObjectID.0."""
    from scapy.asn1.asn1 import ASN1_OID
    from scapy.layers.snmp import SNMP, SNMPget, SNMPvarbind

    varbinds = [SNMPvarbind(oid=ASN1_OID(SYS_DESCR)), SNMPvarbind(oid=ASN1_OID(SYS_OBJECT_ID))]
    return bytes(SNMP(version=1, community=community.encode(), PDU=SNMPget(id=request_id, varbindlist=varbinds)))


def parse_response(datagram: bytes, request_id: int) -> list[tuple[str, str]] | None:
    """(oid, value) pairs of a GetResponse to `request_id`; None when the datagram is not that answer, [] when
    the agent answered with an error or without the objects."""
    from scapy.asn1.asn1 import ASN1_OID, ASN1_STRING
    from scapy.layers.snmp import SNMP, SNMPresponse

    try:
        message = SNMP(datagram)
    except Exception:  # noqa: BLE001 - scapy raises many types on garbage; garbage is simply not our answer
        return None
    pdu = message.PDU
    if not isinstance(pdu, SNMPresponse) or int(pdu.id.val) != request_id:
        return None
    if int(pdu.error.val) != 0:
        return []
    out: list[tuple[str, str]] = []
    for bind in pdu.varbindlist:
        if bind.noSuchObject is not None or bind.noSuchInstance is not None or bind.endOfMibView is not None:
            continue
        oid = str(bind.oid.val).lstrip(".")
        value = bind.value
        if oid == SYS_OBJECT_ID and isinstance(value, ASN1_OID):
            out.append((oid, str(value.val).lstrip(".")))
        elif oid == SYS_DESCR and isinstance(value, ASN1_STRING):
            raw = value.val if isinstance(value.val, bytes) else str(value.val).encode()
            out.append((oid, description(raw)))
    return out


def _get(ip: str, port: int, community: str, ctx: ProbeContext) -> list[tuple[str, str]]:
    request_id = random.randint(1, 2**31 - 1)
    request = get_request(community, request_id)
    deadline = time.monotonic() + ctx.timeout
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((ip, port))
        ctx.limiter.acquire(ip, 1)
        sock.send(request)
        # Stray datagrams (a late answer to another community) are skipped until the deadline.
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                answer = parse_response(sock.recv(MAX_DATAGRAM), request_id)
            except (TimeoutError, OSError):  # silence, or ICMP port unreachable on a connected socket
                return []
            if answer is not None:
                return answer
    return []


def description(raw: bytes) -> str:
    """A sysDescr as text: real ones run over several lines (Huawei's, Cisco's), which become single spaces rather
    than vanish ("S5735-L24T4S-A1\r\nHuawei Versatile…" must not read "S5735-L24T4S-A1Huawei")."""
    return " ".join(part for part in (text(line) for line in raw.splitlines()) if part)


#: The discovery request that learns the agent's engine id, then the authenticated and encrypted GET.
V3_PACKETS = 2


class _V3Client:
    """pysnmp engines on one event-loop thread for the whole process: one engine per configured SNMPv3 user.

    The identity probes run one thread per host; an engine and an event loop per probe cost a megabyte or more each
    (the engine's MIB tables) on top of pysnmp itself, and they add up on a segment full of SNMP agents. An engine
    also remembers each agent's engine id, time and boots once discovered. Engines are per user because the USM
    user table is keyed by user name: two configured users of the same name with different keys (one per site)
    must not overwrite each other's keys while both are being asked."""

    _lock = threading.Lock()
    _shared: _V3Client | None = None

    def __init__(self) -> None:
        import asyncio

        from pysnmp.hlapi.v3arch import asyncio as hl

        self.hl = hl
        self.loop = asyncio.new_event_loop()
        self.engines: dict[SnmpV3Credential, Any] = {}
        self.thread = threading.Thread(target=self.loop.run_forever, name="snmpv3", daemon=True)
        self.thread.start()

    @classmethod
    def shared(cls) -> _V3Client:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @classmethod
    def release(cls) -> bool:
        """Close the engines' sockets, stop the loop thread and drop the engines, once the probes are done: their
        MIB tables need not stay resident while the report is built. True if there was a client to release; a
        later probe makes a new one."""
        with cls._lock:
            client, cls._shared = cls._shared, None
        if client is None:
            return False
        import asyncio

        async def close() -> None:
            for engine in client.engines.values():
                engine.close_dispatcher()

        try:
            asyncio.run_coroutine_threadsafe(close(), client.loop).result(5)
        except Exception as exc:  # noqa: BLE001 - a socket that will not close must not fail the scan's report
            log.debug("SNMPv3 engines not closed cleanly: %s", exc)
        client.loop.call_soon_threadsafe(client.loop.stop)
        client.thread.join(5)
        if not client.thread.is_alive():
            client.loop.close()
        client.engines.clear()
        return True

    def get(self, ip: str, port: int, cred: SnmpV3Credential, timeout: float) -> list[tuple[str, str]]:
        import asyncio

        future = asyncio.run_coroutine_threadsafe(self._ask(ip, port, cred, timeout), self.loop)
        try:
            return future.result(timeout * 2 + 5)  # engine discovery, then the GET: two round trips at most
        except TimeoutError:
            future.cancel()
            return []

    async def _ask(self, ip: str, port: int, cred: SnmpV3Credential, timeout: float) -> list[tuple[str, str]]:
        hl = self.hl
        auth = {"SHA": hl.usmHMACSHAAuthProtocol, "SHA-224": hl.usmHMAC128SHA224AuthProtocol,
                "SHA-256": hl.usmHMAC192SHA256AuthProtocol, "SHA-384": hl.usmHMAC256SHA384AuthProtocol,
                "SHA-512": hl.usmHMAC384SHA512AuthProtocol}[cred.auth_protocol]
        priv = {"AES": hl.usmAesCfb128Protocol, "AES-192": hl.usmAesCfb192Protocol,
                "AES-256": hl.usmAesCfb256Protocol}[cred.priv_protocol]
        user = hl.UsmUserData(cred.user, authKey=cred.auth_key.get_secret_value(), authProtocol=auth,
                              privKey=cred.priv_key.get_secret_value(), privProtocol=priv)
        engine = self.engines.get(cred)
        if engine is None:  # made on the loop's thread (this coroutine runs there): its dispatcher uses that loop
            engine = self.engines[cred] = hl.SnmpEngine()
        target = await hl.UdpTransportTarget.create((ip, port), timeout=timeout, retries=0)
        error, status, _index, binds = await hl.get_cmd(
            engine, user, target, hl.ContextData(), hl.ObjectType(hl.ObjectIdentity(SYS_DESCR)),
            hl.ObjectType(hl.ObjectIdentity(SYS_OBJECT_ID)), lookupMib=False)
        if error or int(status):
            return []
        out: list[tuple[str, str]] = []
        for oid, value in binds:
            name = str(oid).lstrip(".")
            if name == SYS_OBJECT_ID and hasattr(value, "asTuple"):
                out.append((name, ".".join(str(n) for n in value.asTuple())))
            elif name == SYS_DESCR and hasattr(value, "asOctets"):
                out.append((name, description(value.asOctets())))
        return out


def release_snmpv3() -> bool:
    """After the last probe: close the SNMPv3 engines and their thread (see _V3Client.release)."""
    return _V3Client.release()


def _get_v3(ip: str, port: int, cred: SnmpV3Credential, ctx: ProbeContext) -> list[tuple[str, str]]:
    """sysDescr.0 and sysObjectID.0 as one SNMPv3 authPriv user; [] on silence, a wrong key or an error."""
    ctx.limiter.acquire(ip, V3_PACKETS)
    return _V3Client.shared().get(ip, port, cred, ctx.timeout)


def probe_snmp(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    found = _probe_v2c(ip, port, ctx)
    if found:
        return found
    for cred in ctx.snmp_v3:
        try:
            values = _get_v3(ip, port, cred, ctx)
        except Exception as exc:  # noqa: BLE001 - pysnmp raises its own types; one user failing is no scan failure
            log.debug("snmpv3 %s:%s: %s", ip, port, type(exc).__name__)
            continue
        out = _findings(values, port, "probe.snmp.v3")
        if out:
            return out
    return []


def _findings(values: list[tuple[str, str]], port: int, source: str) -> list[Finding]:
    return [Finding("snmp.sysobjectid" if oid == SYS_OBJECT_ID else "snmp.sysdescr", value, port, "udp", source)
            for oid, value in values if value]


def _probe_v2c(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    for community in ctx.snmp_communities:
        try:
            values = _get(ip, port, community, ctx)
        except OSError as exc:
            log.debug("snmp %s:%s: %s", ip, port, exc)
            continue
        out = _findings(values, port, "probe.snmp")
        if out:
            return out
    return []
