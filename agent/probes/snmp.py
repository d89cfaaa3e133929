"""SNMP identity: one GET of sysDescr.0 and sysObjectID.0 per configured community (v2c, read-only, no
retries)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from agent.probes.base import Finding, ProbeContext, text

log = logging.getLogger(__name__)

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"


async def _get(
    ip: str, port: int, community: str, timeout: float, reserve: Callable[[], None]
) -> list[tuple[str, str]]:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create((ip, port), timeout=timeout, retries=0)
        # Reserve only now: building the engine takes long enough to shift the send out of its reserved slot.
        reserve()
        error_indication, error_status, _, binds = await get_cmd(
            engine,
            CommunityData(community, mpModel=1),
            target,
            ContextData(),
            ObjectType(ObjectIdentity(SYS_DESCR)),
            ObjectType(ObjectIdentity(SYS_OBJECT_ID)),
            lookupMib=False,
        )
        if error_indication or error_status:
            return []
        out = []
        for name, value in binds:
            if value.__class__.__name__ in ("NoSuchObject", "NoSuchInstance", "EndOfMibView"):
                continue
            if str(name) == SYS_OBJECT_ID:
                out.append((SYS_OBJECT_ID, ".".join(str(x) for x in tuple(value))))
            else:
                raw = value.asOctets() if hasattr(value, "asOctets") else str(value).encode()
                out.append((SYS_DESCR, text(raw)))
        return out
    finally:
        engine.close_dispatcher()


def probe_snmp(ip: str, port: int, ctx: ProbeContext) -> list[Finding]:
    for community in ctx.snmp_communities:
        try:
            values = asyncio.run(_get(ip, port, community, ctx.timeout, lambda: ctx.limiter.acquire(ip, 1)))
        except Exception as exc:  # noqa: BLE001 - pysnmp raises many types; any failure means "no answer"
            log.debug("snmp %s:%s: %s", ip, port, exc)
            continue
        out = []
        for oid, value in values:
            kind = "snmp.sysobjectid" if oid == SYS_OBJECT_ID else "snmp.sysdescr"
            if value:
                out.append(Finding(kind, value, port, "udp", "probe.snmp"))
        if out:
            return out
    return []
