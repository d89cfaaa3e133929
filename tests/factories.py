"""Report documents for tests and benchmarks: realistic shapes, deterministic content."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

BANNERS = [
    ("http.server", "App-webs/", 80, "tcp"),
    ("http.title", "Web Client", 80, "tcp"),
    ("ssh.banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6", 22, "tcp"),
    ("snmp.sysdescr", "Huawei Versatile Routing Platform Software VRP (R) software, Version 5.170", 161, "udp"),
    ("snmp.sysobjectid", "1.3.6.1.4.1.2011.2.23.96", 161, "udp"),
    ("tls.subject", "CN=192.0.2.1,O=Hikvision,C=CN", 443, "tcp"),
    ("modbus.vendor", "Huawei", 502, "tcp"),
]


def report_doc(
    agent_id: str,
    *,
    devices: int = 3,
    observations: int = 4,
    report_id: str | None = None,
    seen_at: datetime | None = None,
    mac_base: int = 0x28_57_BE_00_00_00,
    with_mac: bool = True,
    ip_base: str = "198.18.0.",
) -> dict[str, Any]:
    """A valid herkomst.report/1 document with `devices` devices of `observations` observations each."""
    now = seen_at or datetime.now(UTC).replace(microsecond=0)
    devs = []
    for n in range(devices):
        mac = mac_base + n
        mac_text = ":".join(f"{(mac >> s) & 0xFF:02x}" for s in range(40, -8, -8))
        ip = f"198.18.{(n // 250) % 2}.{n % 250 + 2}" if ip_base == "198.18.0." else f"{ip_base}{n % 250 + 2}"
        obs = [{"kind": "mac", "value": mac_text, "proto": "l2", "source": "arp", "seen_at": now.isoformat()}]
        for k in range(observations - 1):
            kind, value, port, proto = BANNERS[k % len(BANNERS)]
            obs.append({"kind": kind, "value": f"{value} #{k}", "port": port, "proto": proto,
                        "source": "probe", "seen_at": now.isoformat()})
        dev: dict[str, Any] = {"ips": [ip], "observations": obs[:observations]}
        if with_mac:
            dev["mac"] = mac_text
        devs.append(dev)
    return {
        "schema": "herkomst.report/1",
        "report_id": report_id or str(uuid.uuid4()),
        "agent": {"id": agent_id, "version": "0.1.0", "hostname": "agent-1"},
        "scan": {
            "scope": ["198.18.0.0/24"], "exclude": [], "profile": "safe",
            "started_at": (now - timedelta(minutes=1)).isoformat(), "finished_at": now.isoformat(),
            "packets_sent": 100, "max_packet_rate": 42.5,
        },
        "devices": devs,
    }
