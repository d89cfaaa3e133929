"""Reading a capture file instead of the wire: the passive decoders over a pcap or pcapng an operator recorded on a
SPAN or mirror port (as GRASSMARLIN and Malcolm users work). Not one packet is sent.

Frames are read one at a time (scapy's streaming PcapReader), so a capture of any size stays within the agent's
memory: only what the frames say about devices is kept, deduplicated, in the EvidenceBook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from agent.discovery.passive import PassiveHandler, load_decoders
from agent.errors import ConfigError


def read_captures(paths: Iterable[Path], handler: PassiveHandler, *,
                  progress: Callable[[str, float, float], None] | None = None) -> int:
    """Feed every frame of the capture files to `handler`; return how many frames were read. Progress is reported
    in bytes of each file read."""
    load_decoders()
    from scapy.error import Scapy_Exception
    from scapy.utils import PcapReader

    frames = 0
    for path in paths:
        try:
            size = path.stat().st_size
            reader = PcapReader(str(path))
        except (OSError, Scapy_Exception) as exc:
            raise ConfigError(f"cannot read capture {path}: {exc}; give a pcap or pcapng file (tcpdump -w, "
                              "Wireshark, dumpcap)") from exc
        label = f"reading {path.name}"
        with reader:
            while True:
                try:
                    frame = reader.read_packet()
                except EOFError:
                    break
                except Scapy_Exception as exc:
                    raise ConfigError(f"capture {path} is damaged after {frames} frames: {exc}") from exc
                handler(frame)
                frames += 1
                if progress is not None and frames % 2000 == 0:
                    progress(label, float(reader.f.tell()), float(size))
        if progress is not None:
            progress(label, float(size), float(size))
    return frames
