"""Builds and tears down the lab's network: two bridges, one namespace per node, veth links, addresses, routes.

Safety: every address is in 198.18.0.0/15; no lab namespace has a default route; the router namespace forwards only
between the two lab segments; the root namespace has one address on the IT bridge (the collector's) and forwarding
is switched off on both bridges, so nothing the lab sends is routed anywhere else. IPv6 is disabled on every lab
interface so the root namespace never emits neighbour discovery into the lab.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.lab.model import (
    AGENT_ADDRESS,
    AGENT_NODE,
    COLLECTOR_ADDRESS,
    IT_BRIDGE,
    IT_SUBNET,
    NETNS_PREFIX,
    OT_BRIDGE,
    OT_SUBNET,
    ROUTER_IT_ADDRESS,
    ROUTER_NODE,
    ROUTER_OT_ADDRESS,
    LabDevice,
)
from deploy.lab.shell import LabError, run, write_sysctl

BRIDGE_MACS = {IT_BRIDGE: "02:48:4b:00:00:01", OT_BRIDGE: "02:48:4b:00:01:01"}
SEGMENT_BRIDGE = {"it": IT_BRIDGE, "ot": OT_BRIDGE}
SEGMENT_SUBNET = {"it": IT_SUBNET, "ot": OT_SUBNET}
SEGMENT_GATEWAY = {"it": ROUTER_IT_ADDRESS, "ot": ROUTER_OT_ADDRESS}
ROOT_LINK_PREFIXES = ("hkbr-", "hkv", "hkr-", "hka-")


@dataclass(frozen=True)
class Attachment:
    """One namespace-side interface: which bridge, the host-side veth name, MAC and (optional) address."""

    bridge: str
    host_if: str
    ns_if: str
    mac: str
    address: str | None


@dataclass(frozen=True)
class NodePlan:
    """How one node's namespace is wired."""

    node: str
    attachments: tuple[Attachment, ...]
    routes: tuple[tuple[str, str], ...]  # (destination, gateway)
    forwarding: bool = False

    @property
    def netns(self) -> str:
        return NETNS_PREFIX + self.node


def plan(devices: tuple[LabDevice, ...]) -> list[NodePlan]:
    """The wiring of every node: router, agent, then each device."""
    nodes = [
        NodePlan(
            node=ROUTER_NODE,
            attachments=(
                Attachment(IT_BRIDGE, "hkr-it", "eth0", "02:48:4b:00:00:fe", f"{ROUTER_IT_ADDRESS}/24"),
                Attachment(OT_BRIDGE, "hkr-ot", "eth1", "02:48:4b:00:01:fe", f"{ROUTER_OT_ADDRESS}/24"),
            ),
            routes=(),
            forwarding=True,
        ),
        NodePlan(
            node=AGENT_NODE,
            attachments=(Attachment(IT_BRIDGE, "hka-it", "eth0", "02:48:4b:00:00:0a", f"{AGENT_ADDRESS}/24"),),
            routes=((OT_SUBNET, ROUTER_IT_ADDRESS),),
        ),
    ]
    for index, dev in enumerate(devices):
        other = "ot" if dev.segment == "it" else "it"
        nodes.append(
            NodePlan(
                node=dev.name,
                attachments=(
                    Attachment(
                        SEGMENT_BRIDGE[dev.segment],
                        f"hkv{index:02d}",
                        "eth0",
                        dev.mac,
                        None if dev.passive else f"{dev.ip}/24",
                    ),
                ),
                routes=() if dev.passive else ((SEGMENT_SUBNET[other], SEGMENT_GATEWAY[dev.segment]),),
            )
        )
    return nodes


def _root_sysctl(ifname: str, key: str, value: str) -> None:
    write_sysctl(f"/proc/sys/net/{key.replace('IF', ifname)}", value)


def build(nodes: list[NodePlan]) -> None:
    """Create bridges, namespaces and links. Expects a clean slate (call teardown first)."""
    batch: list[str] = []
    for bridge, mac in BRIDGE_MACS.items():
        # group_fwd_mask bit 14: forward LLDP (01:80:c2:00:00:0e), which a Linux bridge otherwise swallows.
        batch.append(
            f"link add {bridge} address {mac} type bridge stp_state 0 forward_delay 0 mcast_snooping 0 "
            "group_fwd_mask 0x4000"
        )
    for node in nodes:
        batch.append(f"netns add {node.netns}")
        for att in node.attachments:
            batch.append(f"link add {att.host_if} type veth peer name {att.ns_if} netns {node.netns}")
    run(["ip", "-batch", "-"], input="\n".join(batch) + "\n")

    for bridge in BRIDGE_MACS:
        _root_sysctl(bridge, "ipv6/conf/IF/disable_ipv6", "1")
        # The root namespace must never route lab traffic, whatever the global ip_forward says.
        _root_sysctl(bridge, "ipv4/conf/IF/forwarding", "0")
        # Answer ARP only for the bridge's own address (the collector's), not for the host's other addresses.
        _root_sysctl(bridge, "ipv4/conf/IF/arp_ignore", "1")
        _root_sysctl(bridge, "ipv4/conf/IF/arp_announce", "2")
    links: list[str] = []
    for node in nodes:
        for att in node.attachments:
            _root_sysctl(att.host_if, "ipv6/conf/IF/disable_ipv6", "1")
            links.append(f"link set {att.host_if} master {att.bridge} up")
    links.append(f"address add {COLLECTOR_ADDRESS}/24 dev {IT_BRIDGE}")
    links += [f"link set {bridge} up" for bridge in BRIDGE_MACS]
    run(["ip", "-batch", "-"], input="\n".join(links) + "\n")

    procs = [(node, _configure_namespace(node)) for node in nodes]
    errors = []
    for node, proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            errors.append(f"{node.netns}: {err.strip()}")
    if errors:
        raise LabError("configuring lab namespaces failed: " + "; ".join(errors) + " — run `herkomst lab down`")


def _route_lines(node: NodePlan) -> list[str]:
    lines = [f"ip route replace {dest} via {gateway}" for dest, gateway in node.routes]
    if node.routes or node.node == AGENT_NODE:
        # Multicast (SSDP, mDNS) and limited broadcast stay on the segment: link-scope routes, never off the lab.
        iface = node.attachments[0].ns_if
        lines.append(f"ip route replace 224.0.0.0/4 dev {iface} scope link")
        lines.append(f"ip route replace 255.255.255.255/32 dev {iface} scope link")
    return lines


def _configure_namespace(node: NodePlan) -> subprocess.Popen[str]:
    lines = [
        "set -e",
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
        f"sysctl -qw net.ipv4.ip_forward={1 if node.forwarding else 0}",
        "ip link set lo up",
    ]
    for att in node.attachments:
        lines.append(f"ip link set {att.ns_if} address {att.mac}")
        if att.address:
            lines.append(f"ip address add {att.address} dev {att.ns_if}")
        lines.append(f"ip link set {att.ns_if} up")
    lines += _route_lines(node)
    return _in_namespace(node, lines)


def relink(node: NodePlan) -> None:
    """Bring a node's links back up and restore its routes (the kernel drops routes of a link that went down)."""
    lines = ["set -e"] + [f"ip link set {att.ns_if} up" for att in node.attachments] + _route_lines(node)
    proc = _in_namespace(node, lines)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise LabError(f"restoring {node.netns} failed: {err.strip()}; run `herkomst lab down` then `up`")


def _in_namespace(node: NodePlan, lines: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", node.netns, "sh", "-c", "\n".join(lines)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lab_namespaces() -> list[str]:
    """Lab namespaces that exist now (also those left by a crashed run)."""
    netns_dir = Path("/run/netns")
    if not netns_dir.is_dir():
        return []
    return sorted(p.name for p in netns_dir.iterdir() if p.name.startswith(NETNS_PREFIX))


def lab_root_links() -> list[str]:
    """Lab links in the root namespace (bridges and host-side veths), also leftovers."""
    return sorted(name for name in os.listdir("/sys/class/net") if name.startswith(ROOT_LINK_PREFIXES))


def namespace_pids(netns: str) -> list[int]:
    """Pids of every process living in a lab namespace."""
    proc = run(["ip", "netns", "pids", netns], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def remove_network() -> None:
    """Delete every lab namespace and root-side link. Safe to call when nothing exists."""
    names = lab_namespaces()
    if names:
        run(["ip", "-batch", "-"], input="".join(f"netns del {n}\n" for n in names), check=False)
    links = lab_root_links()
    # Host-side veths vanish with their namespace peer; bridges (and any orphan) are deleted here.
    if links:
        run(["ip", "-force", "-batch", "-"], input="".join(f"link del {ln}\n" for ln in links), check=False)
