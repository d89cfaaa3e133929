"""The one piece of Ethernet framing that the byte-level readers share: the EtherType behind any VLAN tags."""

from __future__ import annotations

VLAN_TAGS = (0x8100, 0x88A8)  # 802.1Q, 802.1ad


def ethertype(frame: bytes) -> tuple[int, int] | None:
    """(EtherType, offset of the payload) of a raw Ethernet frame, past any 802.1Q/802.1ad tags; None for a frame
    shorter than an Ethernet header."""
    if len(frame) < 14:
        return None
    offset = 12
    kind = int.from_bytes(frame[offset:offset + 2], "big")
    while kind in VLAN_TAGS and len(frame) >= offset + 6:
        offset += 4
        kind = int.from_bytes(frame[offset:offset + 2], "big")
    return kind, offset + 2
