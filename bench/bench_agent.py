"""Benchmark of the agent in the lab (not a timed test): wall time and peak memory, against nmap and arp-scan.

Run as root with the lab up:  .venv/bin/python bench/bench_agent.py [--skip-default-nmap]

Everything runs inside the `hk-agent` namespace. In one run it measures
  - the ARP sweep of the IT /24 against Debian's arp-scan at the same packet rate (hosts found, wall time);
  - a `safe` and a `standard` scan of the whole lab (wall time; agent peak RSS; nmap's peak RSS separately);
  - plain `nmap -sV` on the same hosts, ports and rate, at the standard profile's intensity and at nmap's default.
and prints ratios against those baselines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(Path(sys.executable))
NS = "hk-agent"
SCOPE = ["198.18.0.0/24", "198.18.1.0/24"]
RATE = 100

# Runs inside the namespace: the ARP sweep in-process, or the real `herkomst agent scan` command line (entry point,
# progress display, host inventory, local identification, summary table and report file included), then its own
# and its children's peak RSS. The registries' on-disk cache is warmed by `herkomst fingerprint check` first, as
# deploy/setup.sh and the agent's systemd unit (ExecStartPre) do; a scan that must parse them itself peaks ~13 MB
# higher (measured 101 MB against 88 MB for `safe`).
INNER = r"""
import json, resource, sys, tempfile, time
step, rate = sys.argv[1], sys.argv[2]
t = time.monotonic()
out = {}
if step == "arp":
    from agent.ratelimit import RateLimiter
    from agent.discovery.arp import arp_sweep
    from agent.scope import Scope
    targets = [str(ip) for ip in Scope.parse(["198.18.0.0/24"]).addresses(256) if str(ip) != "198.18.0.10"]
    found = arp_sweep("eth0", targets, RateLimiter(float(rate), float(rate)), wait=0.5)
    out["hosts"] = len(found)
else:
    work = tempfile.mkdtemp(prefix="hk-bench-")
    sys.argv = ["herkomst", "agent", "scan", "--scope", ",".join(SCOPE_LIST), "--profile", step, "--max-rate", rate,
                "--max-host-rate", "10", "--listen", "2", "-o", work + "/r.json", "--json", "--state-dir", work]
    from deploy.cli import app
    try:
        app()
    except SystemExit as exc:
        if exc.code:
            raise
    report = json.load(open(work + "/r.json"))
    out["devices"] = len(report["devices"])
    out["identified"] = sum(1 for d in report["devices"] if (d.get("identification") or {}).get("vendor_id"))
    out["packets"] = report["scan"]["packets_sent"]
    out["packets_counted"] = report["scan"].get("packets_counted", "reserved")
out["wall"] = time.monotonic() - t
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
""".replace("SCOPE_LIST", repr(SCOPE))


def in_ns(argv: list[str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", NS, *argv], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def agent_step(step: str) -> dict[str, float]:
    result = in_ns([PY, "-c", INNER, step, str(RATE)])
    if result.returncode != 0:
        raise SystemExit(f"agent {step} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def timed(argv: list[str]) -> tuple[float, float, str]:
    """Wall time, peak RSS (MB, via GNU time) and stdout of a command in the namespace."""
    started = time.monotonic()
    result = in_ns(["/usr/bin/time", "-f", "RSS=%M", *argv])
    wall = time.monotonic() - started
    rss = next((int(line[4:]) / 1024 for line in result.stderr.splitlines() if line.startswith("RSS=")), 0.0)
    return wall, rss, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-default-nmap", action="store_true", help="skip nmap -sV at default intensity")
    args = parser.parse_args()
    if not Path(f"/run/netns/{NS}").exists():
        raise SystemExit("the lab is not up: run `herkomst lab up` first")
    from agent.nmap_runner import NSE_SCRIPTS, NmapOptions, port_spec

    ports = port_spec(NmapOptions(max_rate=RATE, host_rate=10))
    subprocess.run([str(Path(PY).parent / "herkomst"), "fingerprint", "check"], capture_output=True, check=True)

    class Rows(list[tuple[str, float, float, str]]):
        def append(self, row: tuple[str, float, float, str]) -> None:
            super().append(row)
            print(f"{row[0]:45} {row[1]:8.1f} s {row[2]:8.1f} MB  {row[3]}", flush=True)

    rows = Rows()

    arp = agent_step("arp")
    wall, rss, out = timed(["arp-scan", "-I", "eth0", "-x", "-q", "-r", "1", "-i", str(1000 // RATE), "198.18.0.0/24"])
    arp_scan_hosts = len([line for line in out.splitlines() if line.strip()])
    rows.append(("agent ARP sweep /24", arp["wall"], arp["rss_mb"], f"{arp['hosts']:.0f} hosts"))
    rows.append(("arp-scan /24 (baseline)", wall, rss, f"{arp_scan_hosts} hosts"))
    arp_ratio = arp["wall"] / wall

    safe = agent_step("safe")
    rows.append(
        (
            "agent safe",
            safe["wall"],
            safe["rss_mb"],
            f"{safe['devices']:.0f} devices, {safe['identified']:.0f} identified, {safe['packets']:.0f} packets "
            f"({safe['packets'] / max(1, safe['identified']):.0f} per identified device, {safe['packets_counted']})",
        )
    )
    standard = agent_step("standard")
    rows.append(
        (
            "agent standard",
            standard["wall"],
            standard["rss_mb"],
            f"{standard['devices']:.0f} devices, {standard['identified']:.0f} identified",
        )
    )

    hosts = [
        d
        for d in json.loads(
            subprocess.run(
                [str(Path(PY).parent / "herkomst"), "lab", "devices", "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    ]
    targets = [h["ip"] for h in hosts]
    base = [
        "nmap",
        "-sS",
        "-sU",
        "-sV",
        "-Pn",
        "-n",
        "--max-rate",
        str(RATE),
        "--max-retries",
        "1",
        "--host-timeout",
        "600s",
        "-p",
        ports,
        "-oX",
        "/dev/null",
        *targets,
    ]
    wall_i3, rss_i3, _ = timed([*base[:4], "--version-intensity", "3", "--script", NSE_SCRIPTS, *base[4:]])
    rows.append(("nmap -sV intensity 3 + scripts (baseline)", wall_i3, rss_i3, ""))
    wall_def = 0.0
    if not args.skip_default_nmap:
        wall_def, rss_def, _ = timed(base)
        rows.append(("nmap -sV default intensity (baseline)", wall_def, rss_def, ""))

    print(f"{'what':45} {'wall s':>8} {'peak MB':>8}  notes")
    for name, wall_s, rss_mb, note in rows:
        print(f"{name:45} {wall_s:8.1f} {rss_mb:8.1f}  {note}")
    print(f"\nARP sweep / arp-scan: {arp_ratio:.2f}x (target ≤ 1.5x, all hosts: {arp['hosts']} vs {arp_scan_hosts})")
    if wall_def:
        print(f"nmap -sV default / safe: {wall_def / safe['wall']:.1f}x faster (target ≥ 10x)")
    print(f"standard / plain nmap at the same intensity: {standard['wall'] / wall_i3:.2f}x (target ≤ 1.2x)")
    print(f"agent peak RSS: safe {safe['rss_mb']:.0f} MB, standard {standard['rss_mb']:.0f} MB (target ≤ 100 MB)")
    print(f"safe: {safe['packets'] / max(1, safe['identified']):.0f} packets per identified device "
          f"({safe['packets_counted']}; target ≤ 40), {safe['wall']:.1f} s (target ≤ 12 s)")


if __name__ == "__main__":
    main()
