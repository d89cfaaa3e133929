"""The lab's public record types and address constants (ground truth, status, faults)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COLLECTOR_ADDRESS = "198.18.0.1"
AGENT_ADDRESS = "198.18.0.10"
AGENT_NODE = "agent"
ROUTER_NODE = "router"
IT_SUBNET = "198.18.0.0/24"
OT_SUBNET = "198.18.1.0/24"
ROUTER_IT_ADDRESS = "198.18.0.254"
ROUTER_OT_ADDRESS = "198.18.1.254"
IT_BRIDGE = "hkbr-it"
OT_BRIDGE = "hkbr-ot"
NETNS_PREFIX = "hk-"
FLAGGED_COUNTRIES = frozenset({"CN", "RU", "IR", "KP"})

# Transport and port of each service protocol; ports come from the service entry when it names one.
PROTOCOL_TRANSPORT: dict[str, tuple[str, int | None]] = {
    "http": ("tcp", 80),
    "https": ("tcp", 443),
    "rtsp": ("tcp", 554),
    "ssh": ("tcp", 22),
    "telnet": ("tcp", 23),
    "ftp": ("tcp", 21),
    "tcp-silent": ("tcp", None),
    "snmp": ("udp", 161),
    "ssdp": ("udp", 1900),
    "mdns": ("udp", 5353),
    "modbus": ("tcp", 502),
    "modbus-fragile": ("tcp", 502),
    "s7": ("tcp", 102),
    "enip": ("tcp+udp", 44818),
    "bacnet": ("udp", 47808),
    "lldp": ("l2", None),
    "cdp": ("l2", None),
    "dhcp": ("l2", None),
    "profinet": ("l2", None),
}


@dataclass(frozen=True)
class LabService:
    """One protocol a device speaks, with the parameters its emulation needs."""

    protocol: str
    transport: str
    port: int | None
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        """The public part (protocol, transport, port) as a JSON-ready dict."""
        return {"protocol": self.protocol, "transport": self.transport, "port": self.port}


@dataclass(frozen=True)
class LabDevice:
    """One emulated device and its ground truth."""

    name: str
    vendor: str
    model: str
    category: str
    mac: str
    mac_registrant: str
    ip: str
    segment: str
    country: str
    owner_country: str
    flagged: bool
    services: tuple[LabService, ...]
    brand: str | None = None
    passive: bool = False
    fragile: bool = False
    note: str | None = None
    disagreement: str | None = None

    @property
    def node(self) -> str:
        """The lab node name (the namespace is `hk-<node>`)."""
        return self.name

    def protocols(self) -> list[str]:
        """The protocol names this device speaks, in declaration order."""
        return [s.protocol for s in self.services]

    def service(self, protocol: str) -> LabService:
        """The first service of that protocol; KeyError when the device does not speak it."""
        for svc in self.services:
            if svc.protocol == protocol:
                return svc
        raise KeyError(f"{self.name} has no {protocol} service")

    def to_json(self) -> dict[str, Any]:
        """The ground-truth record printed by `herkomst lab devices --json`."""
        return {
            "name": self.name,
            "ip": self.ip,
            "mac": self.mac,
            "vendor": self.vendor,
            "brand": self.brand,
            "model": self.model,
            "category": self.category,
            "country": self.country,
            "owner_country": self.owner_country,
            "flagged": self.flagged,
            "segment": self.segment,
            "passive": self.passive,
            "fragile": self.fragile,
            "mac_registrant": self.mac_registrant,
            "disagreement": self.disagreement,
            "note": self.note,
            "services": [s.to_json() for s in self.services],
        }


@dataclass(frozen=True)
class FragileFault:
    """One recorded fault of the fragile device."""

    device: str
    at: str
    reason: str
    packets_per_second: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class NodeStatus:
    """State of one lab node: its namespace, its processes and whether they run."""

    node: str
    namespace: bool
    processes: dict[str, bool]

    @property
    def healthy(self) -> bool:
        """True when the namespace exists and every expected process runs."""
        return self.namespace and all(self.processes.values())


@dataclass(frozen=True)
class LabStatus:
    """What `herkomst lab status` reports."""

    up: bool
    bridges: dict[str, bool]
    nodes: list[NodeStatus]
    faults: list[FragileFault]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "up": self.up,
            "bridges": self.bridges,
            "nodes": [
                {"node": n.node, "namespace": n.namespace, "processes": n.processes, "healthy": n.healthy}
                for n in self.nodes
            ],
            "faults": [f.to_json() for f in self.faults],
        }
