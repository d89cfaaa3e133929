"""Periodic layer-2 announcements built and sent with scapy: LLDP and CDP frames, DHCP requests with option 60.

Runs in a thread so that importing scapy (about a second) does not delay the device's other services.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Any

from deploy.lab.model import LabDevice, LabService

LLDP_MULTICAST = "01:80:c2:00:00:0e"
# Capabilities by device category: (bridge, router, wlan access point, telephone, station only)
_CAPS = {
    "switch": ("mac_bridge",),
    "access-point": ("mac_bridge", "wlan_access_point"),
    "voip-phone": ("mac_bridge", "telephone"),
}


def lldp_frame(device: LabDevice, svc: LabService) -> Any:
    """One LLDPDU with chassis (MAC), port, TTL, system name/description, capabilities and management address."""
    from scapy.contrib.lldp import (
        LLDPDU,
        LLDPDUChassisID,
        LLDPDUEndOfLLDPDU,
        LLDPDUManagementAddress,
        LLDPDUPortID,
        LLDPDUSystemCapabilities,
        LLDPDUSystemDescription,
        LLDPDUSystemName,
        LLDPDUTimeToLive,
    )
    from scapy.layers.l2 import Ether

    p = svc.params
    caps: dict[str, Any] = {}
    for cap in _CAPS.get(device.category, ("station_only",)):
        caps[f"{cap}_available"] = 1
        caps[f"{cap}_enabled"] = 1
    frame: Any = Ether(dst=LLDP_MULTICAST, src=device.mac, type=0x88CC) / LLDPDU()
    frame = frame / LLDPDUChassisID(subtype=LLDPDUChassisID.SUBTYPE_MAC_ADDRESS, id=device.mac)
    frame = frame / LLDPDUPortID(subtype=LLDPDUPortID.SUBTYPE_INTERFACE_NAME, id=p.get("port_id", "eth0"))
    frame = frame / LLDPDUTimeToLive(ttl=120)
    frame = frame / LLDPDUSystemName(system_name=p["sysname"])
    frame = frame / LLDPDUSystemDescription(description=p["sysdesc"])
    frame = frame / LLDPDUSystemCapabilities(**caps)
    frame = frame / LLDPDUManagementAddress(
        management_address_subtype=1,
        management_address=socket.inet_aton(device.ip),
        interface_numbering_subtype=2,
        interface_number=1,
    )
    return frame / LLDPDUEndOfLLDPDU()


CDP_MULTICAST = "01:00:0c:cc:cc:cc"


def cdp_frame(device: LabDevice, svc: LabService) -> Any:
    """One CDPv2 frame as real devices send it: IEEE 802.3 with a length field, LLC/SNAP (Cisco OUI, PID 0x2000) —
    not Ethernet II — carrying device id, software version, platform, port and the IPv4 address."""
    from scapy.contrib.cdp import (
        CDPAddrRecordIPv4,
        CDPMsgAddr,
        CDPMsgDeviceID,
        CDPMsgPlatform,
        CDPMsgPortID,
        CDPMsgSoftwareVersion,
        CDPv2_HDR,
    )
    from scapy.layers.l2 import LLC, SNAP, Dot3

    p = svc.params
    cdp = CDPv2_HDR(vers=2, ttl=180, msg=[
        CDPMsgDeviceID(val=p["device_id"].encode()),
        CDPMsgSoftwareVersion(val=p["software"].encode()),
        CDPMsgPlatform(val=p["platform"].encode()),
        CDPMsgAddr(addr=[CDPAddrRecordIPv4(addr=device.ip)]),
        CDPMsgPortID(iface=p.get("port_id", "WAN PORT").encode()),
    ])
    snap = LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0x0C, code=0x2000)
    return Dot3(dst=CDP_MULTICAST, src=device.mac) / snap / cdp


def dhcp_frame(device: LabDevice, svc: LabService, message: str) -> Any:
    """A broadcast DHCP DISCOVER or REQUEST carrying option 60 (vendor class), 12 (host name) and 50."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    p = svc.params
    chaddr = bytes.fromhex(device.mac.replace(":", "")) + b"\0" * 10
    options: list[Any] = [
        ("message-type", message),
        ("client_id", b"\x01" + chaddr[:6]),
        ("requested_addr", device.ip),
        ("hostname", p["hostname"].encode()),
        ("vendor_class_id", p["vendor_class"].encode()),
        ("param_req_list", [1, 3, 6, 12, 15, 28, 42, 43, 66, 120, 160]),
        "end",
    ]
    return (
        Ether(src=device.mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=chaddr, xid=random.getrandbits(32), flags=0x8000)
        / DHCP(options=options)
    )


def _run(device: LabDevice, stop: threading.Event, iface: str) -> None:
    from scapy.arch.linux import L2Socket

    sock = L2Socket(iface=iface)
    schedule: list[list[Any]] = []  # [next_due, interval, service]
    for svc in device.services:
        if svc.protocol in ("lldp", "cdp", "dhcp"):
            schedule.append([time.monotonic(), float(svc.params.get("interval", 5)), svc])
    dhcp_count = 0
    try:
        while not stop.is_set():
            now = time.monotonic()
            for entry in schedule:
                due, interval, svc = entry
                if now < due:
                    continue
                if svc.protocol == "lldp":
                    sock.send(lldp_frame(device, svc))
                elif svc.protocol == "cdp":
                    sock.send(cdp_frame(device, svc))
                else:
                    # A client that gets no offer keeps alternating discover and request for the address it knows.
                    sock.send(dhcp_frame(device, svc, "discover" if dhcp_count % 2 == 0 else "request"))
                    dhcp_count += 1
                entry[0] = now + interval
            stop.wait(min(e[0] for e in schedule) - time.monotonic() if schedule else 1.0)
    finally:
        sock.close()


def start_l2(device: LabDevice, iface: str = "eth0") -> threading.Event | None:
    """Start the announcement thread when the device has LLDP, CDP or DHCP services; set the event to stop it."""
    if not any(s.protocol in ("lldp", "cdp", "dhcp") for s in device.services):
        return None
    stop = threading.Event()
    threading.Thread(target=_run, args=(device, stop, iface), name="l2-beacons", daemon=True).start()
    return stop
