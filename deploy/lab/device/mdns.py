"""mDNS (zeroconf): registers the device's DNS-SD service with its TXT record on the device's address."""

from __future__ import annotations

import socket
from typing import Any

from deploy.lab.model import LabDevice, LabService


async def start_mdns(device: LabDevice, svc: LabService) -> Any:
    """Register the service and return the AsyncZeroconf instance (close it with `async_close`)."""
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    p = svc.params
    azc = AsyncZeroconf(interfaces=[device.ip], ip_version=IPVersion.V4Only)
    info = AsyncServiceInfo(
        p["service_type"],
        f"{p['instance']}.{p['service_type']}",
        addresses=[socket.inet_aton(device.ip)],
        port=int(p["srv_port"]),
        properties={k: str(v) for k, v in p.get("txt", {}).items()},
        server=p["hostname"],
    )
    await azc.async_register_service(info)
    return azc
