"""Reading a capture file instead of the wire: the passive decoders over a pcap or pcapng an operator recorded on a
SPAN or mirror port (as GRASSMARLIN and Malcolm users work). Not one packet is sent.

Frames are read one at a time (scapy's streaming RawPcapReader), so a capture of any size stays within the agent's
memory: only what the frames say about devices is kept, deduplicated, in the EvidenceBook. Frames the live
listener's capture filter would drop are skipped on their bytes, before scapy dissects anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from agent.discovery.ethernet import ethertype
from agent.discovery.passive import PassiveHandler
from agent.errors import ConfigError

_LLDP, _ARP, _DCP, _IPV4, _IPV6 = 0x88CC, 0x0806, 0x8892, 0x0800, 0x86DD
_PORTS = frozenset({67, 68, 5353, 1900, 137})
_CDP_DST = bytes.fromhex("01000ccccccc")


def announces(frame: bytes) -> bool:
    """Whether a raw Ethernet frame is one the live listener's capture filter (passive.BPF) would pass: ARP, LLDP,
    CDP, PROFINET DCP identities, IPv6 neighbour discovery, or UDP to/from DHCP, mDNS, SSDP or NBNS. Checked on
    the bytes, so the bulk of a SPAN capture (TCP, video, industrial polling) is skipped without being
    dissected."""
    found = ethertype(frame)
    if found is None:
        return False
    if frame[:6] == _CDP_DST:
        return True
    kind, ip = found
    if kind in (_LLDP, _ARP):
        return True
    if kind == _DCP:  # PROFINET: only DCP identify responses and hellos, not the cyclic I/O data
        return frame[ip:ip + 2] in (b"\xfe\xff", b"\xfe\xfc")
    if kind == _IPV4:
        if len(frame) < ip + 20 or frame[ip + 9] != 17:  # UDP only
            return False
        udp = ip + (frame[ip] & 0x0F) * 4
    elif kind == _IPV6:
        if len(frame) >= ip + 41 and frame[ip + 6] == 58:  # ICMPv6: neighbour discovery only
            return 133 <= frame[ip + 40] <= 137
        if len(frame) < ip + 40 or frame[ip + 6] != 17:  # UDP right after the fixed header
            return False
        udp = ip + 40
    else:
        return False
    if len(frame) < udp + 4:
        return False
    return int.from_bytes(frame[udp:udp + 2], "big") in _PORTS or int.from_bytes(frame[udp + 2:udp + 4], "big") \
        in _PORTS


def read_captures(paths: Iterable[Path], handler: PassiveHandler, *,
                  progress: Callable[[str, float, float], None] | None = None) -> int:
    """Feed every frame of the capture files to `handler`; return how many frames were read. Progress is reported
    in bytes of each file read. The handler has loaded the decoders (see passive.load_decoders)."""
    from scapy.config import conf
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader

    frames = 0
    for path in paths:
        try:
            size = path.stat().st_size
            reader = RawPcapReader(str(path))
        except (OSError, Scapy_Exception) as exc:
            raise ConfigError(f"cannot read capture {path}: {exc}; give a pcap or pcapng file (tcpdump -w, "
                              "Wireshark, dumpcap)") from exc
        layers = conf.l2types.num2layer
        label = f"reading {path.name}"
        with reader:
            items = iter(reader)
            while True:
                try:
                    item = next(items)
                except (StopIteration, EOFError):
                    break
                except Scapy_Exception as exc:
                    raise ConfigError(f"capture {path} is damaged after {frames} frames: {exc}") from exc
                frames += 1
                # pcapng carries a link type per interface, pcap one per file; only Ethernet is read
                linktype = getattr(item[1], "linktype", None) or getattr(reader, "linktype", 1)
                if linktype != 1:
                    raise ConfigError(f"capture {path} has link type {linktype}; record on an Ethernet "
                                      "interface (DLT 1)")
                raw = bytes(item[0])
                if announces(raw):
                    handler(layers[1](raw))
                if progress is not None and frames % 5000 == 0:
                    progress(label, float(reader.f.tell()), float(size))
        if progress is not None:
            progress(label, float(size), float(size))
    return frames
