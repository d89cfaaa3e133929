"""The agent's own network interfaces (from `ip -j addr`), and which scope addresses are on-link on which."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass, field

from agent.errors import InterfaceError


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str | None
    networks: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = field(default_factory=list)
    up: bool = True


def interfaces() -> list[Interface]:
    """Every interface with its addresses; loopback excluded."""
    try:
        raw = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InterfaceError(f"cannot list network interfaces with `ip -j addr`: {exc}") from exc
    out = []
    for item in json.loads(raw or "[]"):
        if item.get("link_type") == "loopback":
            continue
        nets: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
        for addr in item.get("addr_info", []):
            try:
                nets.append(ipaddress.ip_interface(f"{addr['local']}/{addr['prefixlen']}"))
            except (KeyError, ValueError):
                continue
        out.append(Interface(item["ifname"], item.get("address"), nets, "UP" in item.get("flags", [])))
    return out


def interface_for(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, ifaces: list[Interface]) -> Interface | None:
    """The interface whose subnet holds ip (ip is on-link there), if any."""
    for iface in ifaces:
        if not iface.up:
            continue
        for net in iface.networks:
            if ip in net.network and ip != net.ip:
                return iface
    return None


def own_addresses(ifaces: list[Interface]) -> set[str]:
    """This host's own IP addresses and MACs (lower case): what it hears of itself is not a device it found."""
    return {str(net.ip) for iface in ifaces for net in iface.networks} | {
        iface.mac.lower() for iface in ifaces if iface.mac}
