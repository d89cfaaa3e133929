"""Passive listening: every ARP, DHCP, LLDP, CDP, PROFINET DCP, mDNS, SSDP and NBNS frame heard becomes
observations. Sends nothing.

Only devices inside the scope are recorded (by IP); frames without an IP (LLDP, CDP, DHCP discover) are
recorded
by MAC when the listening interface's own subnet lies inside the scope.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.discovery import dcp
from agent.discovery.arp import translate_os_error
from agent.evidence import EvidenceBook
from agent.scope import Scope

log = logging.getLogger(__name__)

BPF = (
    "arp or (udp and (port 67 or port 68 or port 5353 or port 1900 or port 137)) "
    "or ether proto 0x88cc or ether dst 01:00:0c:cc:cc:cc "  # LLDP, CDP
    # PROFINET DCP identify responses and hellos (frame ids 0xfefc-0xfeff), untagged or behind one 802.1Q tag; not
    # PROFINET's cyclic I/O frames, which a busy cell sends by the thousand each second
    "or (ether proto 0x8892 and ether[14:2] >= 0xfefc) "
    "or (ether proto 0x8100 and ether[16:2] = 0x8892 and ether[18:2] >= 0xfefc) "
    "or (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)"  # IPv6 neighbour discovery: RS, RA, NS, NA, redirect
)
#: ICMPv6 neighbour discovery message types (RFC 4861): router solicitation … redirect
NDP_TYPES = range(133, 138)


_DECODERS_LOADED = False


def load_decoders() -> None:
    """Import every scapy layer the handler reads, before the first frame is decoded.

    scapy decodes a captured frame through `conf.l2types` and the layer bindings that importing a layer module
    registers. A sniffer started before `scapy.layers.l2` is imported hands out undecoded frames ("Unable to guess
    type"), and without `scapy.contrib.cdp` / `lldp` those frames stay raw payload: in the `passive` profile nothing
    else imports them first, so passive heard nothing. Called when a PassiveHandler is made, so every path that
    feeds one frames (listen(), read_captures()) has its decoders before the first frame."""
    global _DECODERS_LOADED
    if _DECODERS_LOADED:
        return
    from scapy.config import conf

    conf.contribs.setdefault("LLDP", {})
    import scapy.contrib.cdp  # noqa: F401 - registers SNAP 0x00000c/0x2000 -> CDP
    import scapy.contrib.lldp  # noqa: F401 - registers EtherType 0x88cc -> LLDP
    import scapy.layers.dhcp  # noqa: F401
    import scapy.layers.dns  # noqa: F401
    import scapy.layers.inet  # noqa: F401
    import scapy.layers.inet6  # noqa: F401 - mDNS and SSDP also arrive over IPv6 (link-local)
    import scapy.layers.l2  # noqa: F401 - DLT 1 -> Ether (and Dot3 / LLC / SNAP for 802.3 frames)
    import scapy.layers.netbios  # noqa: F401

    _DECODERS_LOADED = True


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip("\x00 ")
    return str(value).strip()


class PassiveHandler:
    """Turns frames into observations in an EvidenceBook."""

    def __init__(
        self, book: EvidenceBook, scope: Scope, *, on_link_in_scope: bool, own: frozenset[str] = frozenset()
    ) -> None:
        self.book = book
        self.scope = scope
        self.on_link_in_scope = on_link_in_scope
        self.own = own  # the agent's own addresses: its own frames are not a device it found
        self.frames = 0
        load_decoders()

    def _ip_ok(self, ip: str | None) -> bool:
        return bool(ip) and ip != "0.0.0.0" and str(ip) not in self.own and self.scope.contains(str(ip))

    def __call__(self, pkt: Any) -> None:
        self.frames += 1
        try:
            self._handle(pkt)
        except Exception as exc:  # noqa: BLE001 - a malformed frame must not stop the listener
            log.debug("passive: cannot parse frame: %s", exc)

    def _handle(self, pkt: Any) -> None:
        from scapy.layers.dhcp import BOOTP, DHCP
        from scapy.layers.dns import DNS
        from scapy.layers.inet import IP, UDP
        from scapy.layers.inet6 import IPv6
        from scapy.layers.l2 import ARP, Dot3, Ether

        # Ethernet II, or IEEE 802.3 with a length field (CDP, STP: scapy decodes those as Dot3 / LLC / SNAP)
        l2 = pkt.getlayer(Ether) or pkt.getlayer(Dot3)
        src_mac = l2.src if l2 is not None else None
        if pkt.haslayer(ARP):
            arp = pkt[ARP]
            if self._ip_ok(arp.psrc):
                self.book.link(arp.psrc, arp.hwsrc)
                self.book.add("mac", arp.hwsrc, source="passive.arp", ip=arp.psrc, mac=arp.hwsrc, proto="l2")
            return
        if pkt.haslayer(DHCP) and pkt.haslayer(BOOTP):
            self._dhcp(pkt[BOOTP], pkt[DHCP])
            return
        if pkt.haslayer(Ether) and pkt[Ether].type == 0x88CC:
            self._lldp(pkt, src_mac)
            return
        if pkt.haslayer(Ether) and (pkt[Ether].type == dcp.ETHERTYPE or getattr(pkt[Ether].payload, "type", None)
                                    == dcp.ETHERTYPE):  # untagged, or behind one 802.1Q tag
            self._dcp(bytes(pkt))
            return
        if l2 is not None and str(l2.dst).lower() == "01:00:0c:cc:cc:cc":
            self._cdp(pkt, src_mac)
            return
        if pkt.haslayer(IPv6) and pkt[IPv6].nh == 58 and getattr(pkt[IPv6].payload, "type", None) in NDP_TYPES:
            self._ndp(pkt, src_mac)
            return
        if not pkt.haslayer(UDP):
            return
        udp = pkt[UDP]
        ip: str | None
        if pkt.haslayer(IP):
            ip = pkt[IP].src
            if not self._ip_ok(ip):
                return
            if src_mac:
                self.book.link(ip, src_mac)
        elif pkt.haslayer(IPv6):
            # IPv6 (mostly link-local): recorded by the sender's MAC when the link is in scope, with the address
            # only when the scope names it
            source = str(pkt[IPv6].src)
            ip = source if self._ip_ok(source) else None
            if ip is None and not (self.on_link_in_scope and src_mac):
                return
        else:
            return
        if 5353 in (udp.sport, udp.dport) and pkt.haslayer(DNS):
            self._mdns(ip, src_mac, pkt[DNS])
        elif udp.sport == 1900 or udp.dport == 1900:
            self._ssdp(ip, src_mac, bytes(udp.payload))
        elif (udp.sport == 137 or udp.dport == 137) and ip is not None:
            self._nbns(ip, pkt)

    def _dhcp(self, bootp: Any, dhcp: Any) -> None:
        mac = ":".join(f"{b:02x}" for b in bytes(bootp.chaddr)[:6])
        ip = bootp.ciaddr if self._ip_ok(bootp.ciaddr) else None
        options = {opt[0]: opt[1] for opt in dhcp.options if isinstance(opt, tuple) and len(opt) >= 2}
        if ip is None and self._ip_ok(_s(options.get("requested_addr", ""))):
            ip = _s(options["requested_addr"])
        if ip is None and not self.on_link_in_scope:
            return
        if bootp.op != 1:  # only client messages describe the client
            return
        if ip:
            self.book.link(ip, mac)
        if options.get("vendor_class_id"):
            self.book.add(
                "dhcp.vendor_class",
                _s(options["vendor_class_id"]),
                source="passive.dhcp",
                ip=ip,
                mac=mac,
                port=67,
                proto="udp",
            )
        if options.get("hostname"):
            name = _s(options["hostname"])
            self.book.add("dhcp.hostname", name, source="passive.dhcp", ip=ip, mac=mac, port=67, proto="udp")
            if ip:
                self.book.add_hostname(ip, name)

    def _dcp(self, frame: bytes) -> None:
        ident = dcp.parse(frame)
        if ident is None:
            return
        ip = ident.ip if self._ip_ok(ident.ip) else None
        if ip is None and not self.on_link_in_scope:
            return
        if ip:
            self.book.link(ip, ident.mac)
        found = [("mac", ident.mac), ("profinet.vendor_id", ident.device_id_value),
                 ("profinet.device", ident.vendor_value)]
        # an answer to the agent's own Identify request (safe, standard), or a device's unprompted Hello
        source = "dcp.identify" if ident.frame_id == dcp.FRAME_IDENTIFY_RESPONSE else "passive.dcp"
        for kind, value in found:
            if value:
                self.book.add(kind, value, source=source, ip=ip, mac=ident.mac, proto="l2")
        if ident.station_name and ip:
            self.book.add_hostname(ip, ident.station_name)

    def _lldp(self, pkt: Any, src_mac: str | None) -> None:
        from scapy.config import conf

        conf.contribs.setdefault("LLDP", {})
        from scapy.contrib.lldp import (
            LLDPDUManagementAddress,
            LLDPDUSystemDescription,
            LLDPDUSystemName,
        )

        ip = None
        if pkt.haslayer(LLDPDUManagementAddress):
            mgmt = pkt[LLDPDUManagementAddress]
            if mgmt.management_address_subtype == 1:
                candidate = ".".join(str(b) for b in bytes(mgmt.management_address)[:4])
                ip = candidate if self._ip_ok(candidate) else None
        if ip is None and not self.on_link_in_scope:
            return
        if ip and src_mac:
            self.book.link(ip, src_mac)
        if pkt.haslayer(LLDPDUSystemDescription):
            self.book.add(
                "lldp.sysdesc",
                _s(pkt[LLDPDUSystemDescription].description),
                source="passive.lldp",
                ip=ip,
                mac=src_mac,
                proto="l2",
            )
        if pkt.haslayer(LLDPDUSystemName):
            name = _s(pkt[LLDPDUSystemName].system_name)
            self.book.add("lldp.sysname", name, source="passive.lldp", ip=ip, mac=src_mac, proto="l2")
            if ip:
                self.book.add_hostname(ip, name)

    def _cdp(self, pkt: Any, src_mac: str | None) -> None:
        from scapy.contrib.cdp import CDPAddrRecordIPv4, CDPMsgDeviceID, CDPMsgPlatform

        ip = None
        if pkt.haslayer(CDPAddrRecordIPv4):
            candidate = str(pkt[CDPAddrRecordIPv4].addr)
            ip = candidate if self._ip_ok(candidate) else None
        if ip is None and not self.on_link_in_scope:
            return
        if ip and src_mac:
            self.book.link(ip, src_mac)
        if pkt.haslayer(CDPMsgPlatform):
            self.book.add("cdp.platform", _s(pkt[CDPMsgPlatform].val), source="passive.cdp", ip=ip, mac=src_mac,
                          proto="l2")
        if pkt.haslayer(CDPMsgDeviceID) and ip:
            self.book.add_hostname(ip, _s(pkt[CDPMsgDeviceID].val))

    def _ndp(self, pkt: Any, src_mac: str | None) -> None:
        """Neighbour discovery is IPv6's ARP: every RS, RA, NS (duplicate address detection too) and NA names a
        device on the link by its MAC, and the addresses it uses or claims."""
        from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6

        mac = src_mac
        if pkt.haslayer(ICMPv6NDOptSrcLLAddr):
            mac = pkt[ICMPv6NDOptSrcLLAddr].lladdr
        elif pkt.haslayer(ICMPv6NDOptDstLLAddr) and pkt.haslayer(ICMPv6ND_NA):
            mac = pkt[ICMPv6NDOptDstLLAddr].lladdr
        if not mac or mac.lower() in self.own:
            return
        addresses = {str(pkt[IPv6].src)} - {"::"}
        for layer in (ICMPv6ND_NA, ICMPv6ND_NS):
            if pkt.haslayer(layer) and (layer is ICMPv6ND_NA or str(pkt[IPv6].src) == "::"):
                addresses.add(str(pkt[layer].tgt))  # an advertised address, or one claimed by DAD
        in_scope = sorted(a for a in addresses if self._ip_ok(a))
        if not in_scope and not self.on_link_in_scope:
            return
        for address in in_scope:
            self.book.link(address, mac)
        self.book.add("mac", mac, source="passive.ndp", ip=in_scope[0] if in_scope else None, mac=mac, proto="l2")

    def _mdns(self, ip: str | None, mac: str | None, dns: Any) -> None:
        records: list[Any] = []
        for section in (dns.an, dns.ar):
            if isinstance(section, list):  # scapy >= 2.6 keeps records as lists
                records.extend(section)
        for rr in records:
            rrname = _s(getattr(rr, "rrname", b""))
            rtype = getattr(rr, "type", None)
            if rtype == 12 and rrname.startswith("_") and not rrname.startswith("_services"):
                self.book.add("mdns.service", rrname, source="passive.mdns", ip=ip, mac=mac, port=5353, proto="udp")
            elif rtype == 16:
                raw = getattr(rr, "rdata", [])
                items = raw if isinstance(raw, list) else [raw]
                txt = " ".join(_s(x) for x in items if _s(x))
                if txt:
                    self.book.add(
                        "mdns.device_info",
                        f"{rrname}: {txt}",
                        source="passive.mdns",
                        ip=ip,
                        mac=mac,
                        port=5353,
                        proto="udp",
                    )
            elif rtype == 1 and ip is not None and _s(getattr(rr, "rdata", "")) == ip:
                self.book.add_hostname(ip, rrname)

    def _ssdp(self, ip: str | None, mac: str | None, payload: bytes) -> None:
        for line in payload.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"server" and value.strip():
                self.book.add("upnp.server", _s(value), source="passive.ssdp", ip=ip, mac=mac, port=1900,
                              proto="udp")

    def _nbns(self, ip: str, pkt: Any) -> None:
        from scapy.layers.netbios import NBNSHeader, NBNSQueryResponse, NBNSRegistrationRequest

        if pkt.haslayer(NBNSRegistrationRequest):
            self.book.add_hostname(ip, _s(pkt[NBNSRegistrationRequest].QUESTION_NAME))
        elif pkt.haslayer(NBNSQueryResponse):
            self.book.add_hostname(ip, _s(pkt[NBNSQueryResponse].RR_NAME))
        elif pkt.haslayer(NBNSHeader):
            return


def listen(
    iface: str,
    window: float,
    handler: PassiveHandler,
    *,
    tick: Callable[[float], None] | None = None,
    until: threading.Event | None = None,
) -> int:
    """Listen on iface for window seconds (and, when `until` is given, until it is set); return frames heard."""
    from scapy.sendrecv import AsyncSniffer

    try:
        sniffer = AsyncSniffer(iface=iface, filter=BPF, prn=handler, store=False)
        sniffer.start()
    except OSError as exc:
        raise translate_os_error(exc, iface) from exc
    deadline = time.monotonic() + window
    try:
        while (left := deadline - time.monotonic()) > 0 or (until is not None and not until.is_set()):
            time.sleep(min(0.5, left) if left > 0 else 0.2)
            if tick is not None:
                tick(window - max(0.0, deadline - time.monotonic()))
            if not sniffer.running:
                break
    finally:
        try:
            sniffer.stop()
        except Exception:  # noqa: BLE001 - stopping a sniffer whose interface vanished raises scapy internals
            pass
        failure = getattr(sniffer, "exception", None)
        if isinstance(failure, OSError):
            raise translate_os_error(failure, iface) from failure
    return handler.frames
