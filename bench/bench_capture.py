"""Benchmark: `herkomst agent scan --pcap` over a large capture — frames per second and the agent's peak RSS,
beside `tshark -r` reading the same file (the baseline, measured in the same run, when Debian's tshark is installed).

The capture is built from the real frames in tests/data/frames (LLDP, CDP, DHCP, ARP, SSDP, NBNS, mDNS): each of
DEVICES devices (a distinct sender MAC) repeats one of them, and NOISE TCP frames follow each announcement, as on a
SPAN port, until the file reaches the asked size. The issue's target: a 1 GB capture stays within the agent's
100 MB.

    .venv/bin/python -m bench.bench_capture [--megabytes 1024] [--devices 2000] [--noise 9]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FRAMES = Path(__file__).parents[1] / "tests" / "data" / "frames"


def build_capture(path: Path, megabytes: int, devices: int, noise: int) -> int:
    """Write a pcap of about `megabytes` MiB; return its frame count. Each device sends one of the real frames (its
    own announcement, with its own sender MAC) over and over; between announcements, `noise` TCP frames of 1,400
    bytes stand for the bulk of a SPAN port's traffic, which the reader must skip cheaply."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import RawPcapReader, RawPcapWriter

    frames = [bytes(raw) for pcap in sorted(FRAMES.glob("*.pcap")) for raw, _ in RawPcapReader(str(pcap))]
    filler = bytes(Ether(src="00:1b:54:00:00:01", dst="00:1b:54:00:00:02") / IP(src="198.18.0.2", dst="198.18.0.3")
                   / TCP(sport=502, dport=40000) / (b"\x00" * 1346))
    target = megabytes * 2**20
    written = count = 0
    writer = RawPcapWriter(str(path), linktype=1, sync=False)
    try:
        while written < target:
            n = count % devices
            raw = frames[n % len(frames)]
            mac = bytes([0x00, 0x1B, 0x54, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF])
            frame = raw[:6] + mac + raw[12:]  # a distinct sender per device; the rest byte for byte
            writer.write(frame)
            for _ in range(noise):
                writer.write(filler)
            written += len(frame) + 16 + noise * (len(filler) + 16)
            count += 1 + noise
    finally:
        writer.close()
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megabytes", type=int, default=256)
    ap.add_argument("--devices", type=int, default=2_000)
    ap.add_argument("--noise", type=int, default=9, help="TCP frames after each announcement")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "span.pcap"
        started = time.perf_counter()
        frames = build_capture(cap, args.megabytes, args.devices, args.noise)
        print(f"capture: {cap.stat().st_size / 2**20:.0f} MiB, {frames:,} frames "
              f"(built in {time.perf_counter() - started:.0f} s)", flush=True)
        cmd = [sys.executable, "-m", "deploy.cli", "agent", "scan", "--scope", "198.18.0.0/15",
               "--pcap", str(cap), "--output", str(Path(tmp) / "report.json"), "--state-dir", str(Path(tmp) / "st"),
               "--json"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        agent_s = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak = max(rss, before) / 1024
        print(f"agent --pcap: {frames / agent_s:,.0f} frames/s ({agent_s:.0f} s), peak RSS {peak:.0f} MB "
              f"({'within' if peak <= 100 else 'OVER'} 100 MB)")
        tshark = shutil.which("tshark")
        if tshark is None:
            print("tshark -r: not installed (apt install tshark) — no baseline")
            return
        started = time.perf_counter()
        subprocess.run([tshark, "-r", str(cap), "-T", "fields", "-e", "frame.number"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tshark_s = time.perf_counter() - started
        print(f"tshark -r (decode, one field): {frames / tshark_s:,.0f} frames/s ({tshark_s:.0f} s) → the agent "
              f"reads at {tshark_s / agent_s:.2f}× tshark's rate")


if __name__ == "__main__":
    main()
