"""Running nmap (through python-nmap) for host discovery and the `standard` profile, on explicit addresses.

Targets are expanded and checked against the scope by the agent and handed to nmap in a file of single
addresses, so nmap never expands a name or a range itself. Rates come from the agent's caps; timeouts are
bounded.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.errors import NmapMissingError, PermissionDeniedError, ScanError
from agent.nmap_xml import NmapRun, parse_nmap_xml
from agent.probes import FORBIDDEN_PORTS, STANDARD_TCP_PORTS, STANDARD_UDP_PORTS
from agent.ratelimit import HEADROOM
from agent.scope import Scope

log = logging.getLogger(__name__)

#: Identity-only NSE scripts (no brute force, no intrusive category). modbus-discover is left out on purpose:
#: it sends Report Slave ID (0x11), which some fragile PLCs do not understand.
NSE_SCRIPTS = "banner,http-title,http-server-header,ssl-cert,snmp-sysdescr,s7-info,enip-info,bacnet-info,upnp-info"


@dataclass(frozen=True)
class NmapOptions:
    max_rate: float
    host_rate: float
    host_timeout: int = 120
    version_intensity: int = 3
    os_detection: bool = False
    scripts: bool = True
    tcp_ports: Sequence[int] = STANDARD_TCP_PORTS
    udp_ports: Sequence[int] = STANDARD_UDP_PORTS


def nmap_path() -> str:
    path = shutil.which("nmap")
    if path is None:
        raise NmapMissingError("nmap is not installed; install it (apt-get install nmap) or use --profile safe")
    return path


def discovery_arguments(opts: NmapOptions) -> list[str]:
    """Arguments of the host-discovery (-sn) run: an ICMP echo and SYNs to the HTTPS, Modbus and S7 ports (OT
    devices often drop ICMP but keep their protocol port open), no retransmission — most of a routed subnet is
    silent, and a retry per silent address doubled discovery time; the next scheduled scan finds a device whose
    answer was lost."""
    return [
        "-sn",
        "-n",
        "-PE",
        "-PS443,502,102",
        "--max-rate",
        _rate(opts.max_rate),
        "--max-retries",
        "0",
        "--host-timeout",
        f"{opts.host_timeout}s",
    ]


def standard_arguments(opts: NmapOptions) -> list[str]:
    """Arguments of the `standard` run (without targets and ports)."""
    args = [
        "-sV",
        "--version-intensity",
        str(opts.version_intensity),
        "-Pn",
        "-n",
        "--max-rate",
        _rate(opts.max_rate),
        # nmap has no per-host rate; a scan delay between probes to one host is its nearest equivalent.
        "--scan-delay",
        f"{max(1, round(1000 / (opts.host_rate * HEADROOM)))}ms",
        "--max-retries",
        "1",
        "--host-timeout",
        f"{opts.host_timeout}s",
    ]
    if opts.udp_ports:
        args.insert(0, "-sU")
        args.insert(0, "-sS")
    if opts.os_detection:
        args += ["-O", "--osscan-limit"]
    if opts.scripts:
        args += ["--script", NSE_SCRIPTS, "--script-timeout", "20s"]
    return args


def port_spec(opts: NmapOptions) -> str:
    tcp = [p for p in opts.tcp_ports if p not in FORBIDDEN_PORTS]
    udp = [p for p in opts.udp_ports if p not in FORBIDDEN_PORTS]
    spec = "T:" + ",".join(map(str, tcp))
    if udp:
        spec += ",U:" + ",".join(map(str, udp))
    return spec


def _rate(value: float) -> str:
    # The same headroom the agent's own limiter keeps: nmap's --max-rate is an average that overshoots slightly
    # in a sliding one-second window, and the kernel adds its own ARP answers.
    return str(max(1, int(value * HEADROOM)))


CAP_NET_RAW = 13


def has_raw_sockets() -> bool:
    """Whether this process may open raw sockets without being root: CAP_NET_RAW in its effective set (the
    agent's own user under systemd's AmbientCapabilities, or setpriv --ambient-caps)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_NET_RAW & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def privilege_arguments() -> list[str]:
    """`--privileged` for an agent that is not root but holds CAP_NET_RAW: nmap decides by uid alone and would
    otherwise fall back to connect() scans and TCP-only pings, unlike the same scan as root. Ambient capabilities
    pass to the nmap child on exec, so it really has the raw sockets it is told it has."""
    return ["--privileged"] if os.geteuid() != 0 and has_raw_sockets() else []


def _run(targets: Sequence[str], scope: Scope, arguments: list[str], ports: str | None) -> NmapRun:
    import nmap

    for target in targets:
        scope.check(target)  # a target outside the scope here is a bug; refuse rather than scan
    if not targets:
        return NmapRun(hosts=[])
    path = nmap_path()
    with tempfile.NamedTemporaryFile("w", suffix=".targets") as listing:
        listing.write("\n".join(targets) + "\n")
        listing.flush()
        scanner = nmap.PortScanner(nmap_search_path=(path,))
        args = ["-iL", listing.name, *privilege_arguments(), *arguments]
        log.info("nmap %s%s", " ".join(args), f" -p {ports}" if ports else "")
        try:
            # python-nmap wants a hosts argument; an empty string keeps the targets in the -iL file only.
            scanner.scan(hosts="", ports=ports, arguments=" ".join(args), sudo=False)
        except nmap.PortScannerError as exc:
            text = str(exc)
            if "requires root" in text or "Operation not permitted" in text:
                raise PermissionDeniedError(f"nmap needs raw-socket privileges: {text.strip()}") from exc
            raise ScanError(f"nmap failed: {text.strip()[:400]}") from exc
        xml = scanner.get_nmap_last_output()
    return parse_nmap_xml(xml)


def discover(targets: Sequence[str], scope: Scope, opts: NmapOptions) -> NmapRun:
    """Host discovery (-sn) over explicit in-scope addresses."""
    return _run(targets, scope, discovery_arguments(opts), None)


def standard_scan(targets: Sequence[str], scope: Scope, opts: NmapOptions) -> NmapRun:
    """Version detection (and optional OS detection and identity scripts) on the curated ports."""
    return _run(targets, scope, standard_arguments(opts), port_spec(opts))
