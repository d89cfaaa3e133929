"""Builds the report document (fingerprints.report.Report, contract 2) from collected evidence and the
inventory."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent import __version__
from agent.discovery.wirecount import WireCount
from agent.evidence import EvidenceBook
from agent.identify import Verdict, identify_device
from agent.memory import release_free_memory
from agent.scope import Scope
from fingerprints.report import SCHEMA_ID, AgentInfo, Device, HostInventory, Report, Scan


@dataclass(frozen=True)
class Summary:
    """One row of the interactive summary table."""

    device: str
    address: str
    vendor: str
    country: str
    flag: str
    evidence: str
    packets: str = ""  # frames sent to the device, counted on the wire ("" where not counted)


def build_report(
    *,
    agent_id: uuid.UUID,
    scope: Scope,
    profile: str,
    started_at: datetime,
    finished_at: datetime,
    packets_sent: int,
    max_packet_rate: float,
    book: EvidenceBook,
    host: HostInventory | None,
    identify: bool = True,
    wire: WireCount | None = None,
) -> tuple[Report, list[Summary]]:
    """Assemble and validate the report; return it with the summary rows."""
    devices: list[Device] = []
    rows: list[Summary] = []
    release_free_memory()  # the probe threads are done: their freed memory need not stay resident
    for dev in book.devices():
        if not dev.observations and dev.mac is None:
            continue
        verdict = identify_device(dev.observations) if identify else Verdict(None)
        device = Device(
            mac=dev.mac,
            ips=[ipaddress.ip_address(ip) for ip in dev.ips],
            hostnames=dev.hostnames,
            observations=dev.observations,
            identification=verdict.hint,
            packets_sent=None if wire is None else sum(wire.per_host.get(ip, 0) for ip in dev.ips),
        )
        devices.append(device)
        rows.append(_row(device, verdict))
    report = Report(
        schema_=SCHEMA_ID,
        report_id=uuid.uuid4(),
        agent=AgentInfo(id=agent_id, version=__version__, hostname=socket.gethostname()[:255]),
        scan=Scan(
            scope=list(scope.include),
            exclude=list(scope.exclude),
            profile=profile,  # type: ignore[arg-type]
            started_at=started_at,
            finished_at=max(finished_at, started_at),
            packets_sent=packets_sent if wire is None else wire.total,
            max_packet_rate=round(max_packet_rate if wire is None else float(wire.peak_rate), 3),
            max_host_packet_rate=None if wire is None else float(wire.peak_host_rate),
            packets_counted="reserved" if wire is None else "wire",
        ),
        devices=devices,
        host=host,
    )
    return report, rows


def _row(device: Device, verdict: Verdict) -> Summary:
    hint = device.identification
    name = (hint.product if hint and hint.product else None) or (device.hostnames[0] if device.hostnames else "")
    address = ", ".join(str(ip) for ip in device.ips) or (device.mac or "")
    if device.mac and device.ips:
        address += f" ({device.mac})"
    country = ""
    if hint and hint.country:
        country = hint.country
        if hint.owner_country and hint.owner_country != hint.country:
            country += f" (owner {hint.owner_country})"
    flag = "FLAGGED" if hint and hint.flagged else ""
    if flag and verdict.flag_reasons:
        flag += ": " + "; ".join(verdict.flag_reasons)[:60]
    kinds = sorted({o.kind for o in device.observations})
    evidence = "; ".join(verdict.evidence[:3]) if verdict.evidence else ", ".join(kinds[:5])
    packets = "" if device.packets_sent is None else str(device.packets_sent)
    return Summary(name, address, (hint.vendor or "") if hint else "", country, flag, evidence, packets)


def encode(doc: dict[str, Any]) -> bytes:
    """The canonical bytes of a document: what is spooled, written by --output and sent (gzipped)."""
    import json

    return json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False).encode() + b"\n"
