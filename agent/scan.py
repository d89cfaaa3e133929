"""One scan, start to finish: passive listening, discovery, probing (by profile), host inventory, the report.

This is the only place that decides what to send to whom; every step gets explicit, scope-checked addresses.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.discovery import dcp
from agent.discovery.interfaces import Interface, interface_for, interfaces, own_addresses
from agent.discovery.wirecount import WireCounter
from agent.errors import AgentError, NmapMissingError
from agent.evidence import EvidenceBook
from agent.memory import prepare as prepare_memory
from agent.probes import SAFE_PROBES, ProbeContext
from agent.probes.snmp import V3_PACKETS, release_snmpv3
from agent.ratelimit import RateLimiter
from agent.report import Summary, build_report, encode
from agent.scope import Scope
from agent.settings import AgentSettings
from fingerprints.report import Report

log = logging.getLogger(__name__)

Progress = Callable[[str, float, float], None]


@dataclass
class ScanResult:
    report: Report
    rows: list[Summary]
    warnings: list[str] = field(default_factory=list)
    #: an interface the scan used went away or down during the scan: the report is kept, but incomplete
    incomplete: bool = False


@dataclass
class Plan:
    """What a scan would send, per host (the dry run)."""

    listen: list[str]
    hosts: dict[str, list[str]]
    nmap: list[str]


def _split(scope: Scope, settings: AgentSettings, ifaces: list[Interface]) -> tuple[dict[str, list[str]], list[str]]:
    own = own_addresses(ifaces)
    on_link: dict[str, list[str]] = {}
    routed: list[str] = []
    for ip in scope.addresses(settings.max_hosts):
        if str(ip) in own:
            continue
        iface = interface_for(ip, ifaces)
        if iface is not None and (settings.interface is None or iface.name == settings.interface):
            on_link.setdefault(iface.name, []).append(str(ip))
        else:
            routed.append(str(ip))
    return on_link, routed


def _listen_ifaces(scope: Scope, settings: AgentSettings, ifaces: list[Interface]) -> list[tuple[str, bool]]:
    """Interfaces to listen on, with whether their whole subnet lies in scope."""
    out = []
    for iface in ifaces:
        if not iface.up or (settings.interface and iface.name != settings.interface):
            continue
        nets = [n.network for n in iface.networks if n.version == 4]
        scopes = [s for s in scope.include if s.version == 4]
        if any(n.overlaps(s) for n in nets for s in scopes):
            inside = any(n.subnet_of(s) for n in nets for s in scopes)  # type: ignore[arg-type]
            out.append((iface.name, inside))
    return out


def plan(scope: Scope, profile: str, settings: AgentSettings) -> Plan:
    """Every probe that would be sent, per host, without sending anything."""
    from agent.nmap_runner import NmapOptions, discovery_arguments, port_spec, standard_arguments

    ifaces = interfaces()
    on_link, routed = _split(scope, settings, ifaces)
    links = _listen_ifaces(scope, settings, ifaces)
    listen = [f"listen on {name} for {settings.passive_window:g}s (sends nothing)" for name, _ in links]
    if profile != "passive" and settings.profinet_identify:
        listen += [f"PROFINET DCP Identify-All on {name} ({dcp.IDENTIFY_PACKETS} multicast packet; read-only)"
                   for name, inside in links if inside]
    hosts: dict[str, list[str]] = {}
    nmap: list[str] = []
    if profile == "passive":
        return Plan(listen, hosts, nmap)
    opts = NmapOptions(
        settings.max_rate,
        settings.max_host_rate,
        settings.nmap_host_timeout,
        settings.nmap_version_intensity,
        settings.nmap_os,
    )
    if routed:
        nmap.append(f"nmap {' '.join(discovery_arguments(opts))} on {len(routed)} routed addresses (explicit list)")
    if profile == "standard":
        nmap.append(f"nmap {' '.join(standard_arguments(opts))} -p {port_spec(opts)} on every host that answers")
    for iface, ips in on_link.items():
        for ip in ips:
            hosts[ip] = [f"ARP who-has {ip} on {iface} (1 packet)"]
    for ip in routed:
        hosts[ip] = ["nmap host discovery (-sn)"]
    for ip in hosts:
        if profile == "safe":
            hosts[ip] += [
                f"{p.proto}/{p.port} {p.name}: {p.description} (≤{p.packets} packets)"
                + (f" × {len(settings.snmp_communities)} communities"
                   + (f", then {V3_PACKETS} per SNMPv3 user × {len(settings.snmp_v3)} (authPriv; names and keys "
                      "not shown)"
                      if settings.snmp_v3 else "")
                   if p.name == "snmp" else "")
                for p in SAFE_PROBES
            ]
        else:
            hosts[ip].append(f"nmap -sV on {port_spec(opts)} if the host answered discovery")
    return Plan(listen, hosts, nmap)


def run_offline(
    scope: Scope,
    *,
    captures: list[Path] | None = None,
    nmap_xml: list[Path] | None = None,
    agent_id: Any,
    progress: Progress | None = None,
) -> ScanResult:
    """A report from what the operator already recorded, with not one packet sent: capture files (the passive
    decoders over a SPAN-port capture) and nmap XML output (a scan the operator ran). No host inventory: the
    evidence was gathered elsewhere. Only addresses inside --scope are kept; capture frames count as heard on the
    capture's link, as for a live listener on an interface inside the scope."""
    from agent.discovery.capture import read_captures
    from agent.discovery.passive import PassiveHandler
    from agent.errors import ConfigError
    from agent.nmap_xml import parse_nmap_xml

    prepare_memory()
    started = datetime.now(UTC)
    book = EvidenceBook()
    warnings: list[str] = []
    if captures:
        handler = PassiveHandler(book, scope, on_link_in_scope=True)
        if not read_captures(captures, handler, progress=progress):
            warnings.append(f"the capture{'s' if len(captures) > 1 else ''} held no frames")
    for path in nmap_xml or []:
        try:
            run = parse_nmap_xml(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read nmap output {path}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - ElementTree and friends: any parse failure is the file's
            raise ConfigError(f"{path} is not nmap XML output ({exc}); give the file of `nmap -oX FILE`") from exc
        outside = _book_from_nmap(run, scope, book)
        if outside:
            warnings.append(f"{path.name}: {outside} host(s) outside the scope were left out")
    report, rows = build_report(
        agent_id=agent_id,
        scope=scope,
        profile="passive",
        started_at=started,
        finished_at=datetime.now(UTC),
        packets_sent=0,
        max_packet_rate=0.0,
        book=book,
        host=None,
    )
    return ScanResult(report, rows, warnings, incomplete=False)


def run_scan(
    scope: Scope,
    profile: str,
    settings: AgentSettings,
    *,
    agent_id: Any,
    progress: Progress | None = None,
    inventory: bool = True,
) -> ScanResult:
    """Run one scan and return its validated report."""
    prepare_memory()
    from agent.discovery.arp import arp_sweep
    from agent.discovery.passive import PassiveHandler, listen

    def tell(phase: str, done: float, total: float) -> None:
        if progress is not None:
            progress(phase, done, total)

    started = datetime.now(UTC)
    limiter = RateLimiter(settings.max_rate, settings.max_host_rate)
    book = EvidenceBook()
    warnings: list[str] = []
    ifaces = interfaces()
    on_link, routed = _split(scope, settings, ifaces)
    links = _listen_ifaces(scope, settings, ifaces)

    # What leaves the host is counted on the wire from here to the end of the probes (agent/discovery/wirecount.py).
    counter = WireCounter([i.name for i in ifaces if i.up and (not settings.interface or i.name ==
                                                                 settings.interface)], scope).start()
    try:
        # Passive listening runs alongside the active steps, for at least the configured window.
        errors: list[AgentError] = []
        listeners = []
        # Listeners keep going while the active steps run, so frames sent meanwhile are heard too.
        active_done = threading.Event()
        own = frozenset(own_addresses(ifaces))
        listen_started = time.monotonic()
        for name, inside in links:
            handler = PassiveHandler(book, scope, on_link_in_scope=inside, own=own)

            def work(name: str = name, handler: PassiveHandler = handler) -> None:
                try:
                    listen(
                        name,
                        settings.passive_window,
                        handler,
                        tick=lambda t: tell("listening", t, settings.passive_window),
                        until=active_done,
                    )
                except AgentError as exc:
                    errors.append(exc)

            thread = threading.Thread(target=work, daemon=True, name=f"listen-{name}")
            thread.start()
            listeners.append(thread)
        if not listeners:
            warnings.append("no interface of this host is on a subnet in scope: passive listening heard nothing")

        live: list[str] = []
        active = profile in ("safe", "standard")
        total = sum(len(v) for v in on_link.values())

        def sweep(iface: str, targets: list[str], *, wait: float = 1.0, phase: str = "ARP sweep",
                  of: int = total) -> None:
            answers = arp_sweep(iface, targets, limiter, wait=wait, progress=lambda n: tell(phase, n, of))
            for ip, mac in answers.items():
                book.link(ip, mac)
                book.add("mac", mac, source="arp", ip=ip, mac=mac, proto="l2")
            live.extend(sorted(answers, key=ipaddress.ip_address))

        if active:
            if settings.profinet_identify:
                # One DCP Identify per link that lies wholly in scope: every PROFINET device on a link answers a
                # multicast, so a link only partly in scope is not asked (the answers would come from outside it).
                for name, inside in links:
                    if inside:
                        dcp.send_identify(name, limiter)
            for iface, targets in on_link.items():
                sweep(iface, targets)
            if routed:
                live += _nmap_discover(routed, scope, settings, limiter, book, warnings)
        if listeners:
            # Give the passive window its full length before choosing whom to probe: devices heard are probed too.
            time.sleep(max(0.0, settings.passive_window - (time.monotonic() - listen_started)))
        if errors:
            raise errors[0]
        # Devices heard are probed too, except on-link addresses the ARP sweep asked for in vain: nothing answers
        # there (a DHCP client merely asking for an address, a device that left), so every probe would wait out its
        # timeout while the kernel repeats its own ARP requests (measured: 30 s for one such address in the lab).
        # Such an address is asked once more first, in case only its answer to the sweep was lost.
        swept = {ip for targets in on_link.values() for ip in targets}
        heard = [ip for ip in book.known_ips() if ip not in live and scope.contains(ip) and ip not in own]
        if active:  # `passive` sends nothing, not even this
            for iface, targets in on_link.items():
                again = [ip for ip in targets if ip in heard]
                if again:
                    sweep(iface, again, wait=0.5, phase="ARP, devices heard", of=len(again))
        live += [ip for ip in heard if ip not in live and ip not in swept]

        if profile == "safe" and live:
            _probe_all(live, settings, limiter, book, tell)
        elif profile == "standard" and live:
            _nmap_standard(live, scope, settings, limiter, book, tell)

        active_done.set()
        for thread in listeners:
            thread.join()
    except BaseException:
        counter.stop()  # no counting thread outlives a failed scan
        raise
    wire = counter.stop() if counter.counted else None
    if errors:
        raise errors[0]
    used = set(on_link) | {name for name, _ in links}
    still_up = {i.name for i in interfaces() if i.up}
    lost = sorted(used - still_up)
    if lost:
        warnings.append(f"interface {', '.join(lost)} went away or down during the scan; the report is incomplete")

    host = None
    if inventory:
        from agent.hostinfo import collect

        tell("host inventory", 0, 1)
        host = collect()
    report, rows = build_report(
        agent_id=agent_id,
        scope=scope,
        profile=profile,
        started_at=started,
        finished_at=datetime.now(UTC),
        packets_sent=limiter.packets_sent,
        max_packet_rate=limiter.max_rate,
        book=book,
        host=host,
        wire=wire,
    )
    return ScanResult(report, rows, warnings, incomplete=bool(lost))


def _nmap_options(settings: AgentSettings) -> Any:
    from agent.nmap_runner import NmapOptions

    return NmapOptions(
        settings.max_rate,
        settings.max_host_rate,
        settings.nmap_host_timeout,
        settings.nmap_version_intensity,
        settings.nmap_os,
    )


def _nmap_discover(
    routed: list[str],
    scope: Scope,
    settings: AgentSettings,
    limiter: RateLimiter,
    book: EvidenceBook,
    warnings: list[str],
) -> list[str]:
    from agent.nmap_runner import discover

    try:
        run = discover(routed, scope, _nmap_options(settings))
    except NmapMissingError as exc:
        warnings.append(f"routed subnets not discovered: {exc}")
        return []
    # nmap -sn sends at most an ICMP echo, a SYN to 443, an ACK to 80 and a timestamp request per address.
    limiter.record_external(
        4 * len(routed),
        min(settings.max_rate, 4 * len(routed) / max(run.elapsed, 1.0)),
        hosts=[h.ip for h in run.hosts],
        per_host=4,
    )
    up = []
    for host in run.hosts:
        if scope.contains(host.ip):
            up.append(host.ip)
            if host.mac:
                book.link(host.ip, host.mac)
    return up


def _probe_all(
    live: list[str], settings: AgentSettings, limiter: RateLimiter, book: EvidenceBook, tell: Progress
) -> None:
    ctx = ProbeContext(
        limiter=limiter,
        timeout=settings.probe_timeout,
        snmp_communities=list(settings.snmp_communities),
        snmp_v3=list(settings.snmp_v3),
        modbus_unit_ids=list(settings.modbus_unit_ids),
    )
    done = 0
    lock = threading.Lock()

    def probe_host(ip: str) -> None:
        nonlocal done
        for spec in SAFE_PROBES:
            try:
                # Each probe is one exchange: its packets count as sent when it ends (see RateLimiter.exchange).
                with limiter.exchange():
                    findings = spec.run(ip, spec.port, ctx)
            except Exception as exc:  # noqa: BLE001 - one device's odd answer must not end the scan
                log.warning("probe %s on %s:%s failed: %s", spec.name, ip, spec.port, exc)
                findings = []
            for f in findings:
                book.add(f.kind, f.value, source=f.source, ip=ip, mac=book.mac_of(ip), port=f.port, proto=f.proto)
        with lock:
            done += 1
            tell("identity probes", done, len(live))

    # One worker per host (bounded): each host is paced by its own cap, and the global cap bounds the sum, so
    # more workers only fill the global budget that slow (silent) hosts would otherwise leave unused.
    workers = max(1, min(64, len(live)))
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
            list(pool.map(probe_host, live))
    finally:
        release_snmpv3()  # the engines' MIB tables and loop thread are not needed to build the report


def _nmap_standard(
    live: list[str],
    scope: Scope,
    settings: AgentSettings,
    limiter: RateLimiter,
    book: EvidenceBook,
    tell: Progress,
) -> None:
    from agent.nmap_runner import standard_scan

    opts = _nmap_options(settings)
    tell("nmap -sV", 0, len(live))
    run = standard_scan(live, scope, opts)
    ports = len(opts.tcp_ports) + len(opts.udp_ports)
    # nmap does not report its packet count in XML; count a probe and a retry per port plus the -sV probes.
    limiter.record_external(len(live) * ports * 2, settings.max_rate, hosts=live, per_host=int(settings.max_host_rate))
    _book_from_nmap(run, scope, book)
    tell("nmap -sV", len(live), len(live))


def _book_from_nmap(run: Any, scope: Scope, book: EvidenceBook) -> int:
    """Record what an nmap run found about hosts inside the scope; return how many hosts were outside it."""
    outside = 0
    for host in run.hosts:
        if not scope.contains(host.ip):
            outside += 1
            continue
        if host.mac:
            book.link(host.ip, host.mac)
        for name in host.hostnames:
            book.add_hostname(host.ip, name)
        for f in host.findings:
            book.add(
                f.kind,
                f.value,
                source=f.source,
                ip=host.ip,
                mac=book.mac_of(host.ip),
                port=f.port,
                proto=f.proto,
            )
    return outside


def document_bytes(report: Report, settings: AgentSettings) -> bytes:
    """The exact bytes that are spooled, sent and written by --output (pseudonymised when a key is
    configured)."""
    doc = report.to_document()
    if settings.pseudonymise_key_file is not None:
        from agent.pseudonym import Pseudonymiser, load_key

        doc = Pseudonymiser(load_key(settings.pseudonymise_key_file)).document(doc)
        Report.model_validate(doc)  # still a valid document
    return encode(doc)
