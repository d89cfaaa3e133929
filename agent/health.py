"""The agent's small status for the collector's fleet view (fingerprints.report.AgentHealth): spool depth, peak
memory, the last scan in numbers, recent errors, its periods, and its answer to the latest proposal.

Sent inside every report and on every heartbeat. It holds no device data; with pseudonymisation configured, any
address in an error message is replaced by its pseudonym, as in the report.
"""

from __future__ import annotations

import re
import resource
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import __version__
from agent.settings import AgentSettings
from agent.spool import Spool
from agent.state import StateDir
from fingerprints.report import (
    HEARTBEAT_SCHEMA_ID,
    AgentHealth,
    AgentInfo,
    Heartbeat,
    LastScan,
    ProposalAnswer,
    Report,
    StatusError,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def peak_rss_bytes() -> int:
    """This process's peak resident memory: VmHWM of /proc/self/status (the high-water mark of this program's
    own memory). Not getrusage's ru_maxrss: Linux carries that across fork and exec, so an agent started by a large
    parent (a test runner, a supervisor) would report the parent's peak as its own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def last_scan_of(report: Report) -> LastScan:
    """The report's scan in the few numbers the fleet view shows."""
    scan = report.scan
    return LastScan(report_id=report.report_id, profile=scan.profile, started_at=scan.started_at,
                    finished_at=scan.finished_at, devices=len(report.devices), packets_sent=scan.packets_sent,
                    max_packet_rate=scan.max_packet_rate, max_host_packet_rate=scan.max_host_packet_rate)


def _clean(message: str, pseudonyms: Any) -> str:
    text = _CONTROL.sub(" ", message).strip()[:500] or "(no message)"
    if pseudonyms is not None:
        text = _IPV4.sub(lambda m: _pseudonym(pseudonyms, m.group()), text)
    return text


def _pseudonym(pseudonyms: Any, literal: str) -> str:
    try:
        return str(pseudonyms.ip(literal))
    except ValueError:
        return literal


def agent_health(
    state: StateDir, settings: AgentSettings, *, unattended: bool, interval: float | None = None,
    last_scan: LastScan | None = None,
) -> AgentHealth:
    """The status as of now. `unattended` (the `run` loop) adds its periods, so the collector knows when it has gone
    silent; a scan run by hand has none."""
    status = state.load_status()
    spool = Spool(state.spool_path)
    if last_scan is None and status.last_scan:
        last_scan = LastScan.model_validate(status.last_scan)
    pseudonyms = None
    if settings.pseudonymise_key_file is not None and status.errors:
        from agent.pseudonym import Pseudonymiser, load_key

        pseudonyms = Pseudonymiser(load_key(settings.pseudonymise_key_file))
    errors = []
    for entry in status.errors[-20:]:
        try:
            at = datetime.fromisoformat(entry["at"])
        except (KeyError, ValueError):
            continue
        errors.append(StatusError(at=at, message=_clean(str(entry.get("message", "")), pseudonyms)))
    answer = ProposalAnswer.model_validate(status.proposal_answer) if status.proposal_answer else None
    return AgentHealth(
        taken_at=datetime.now(UTC),
        interval_seconds=(interval or settings.interval) if unattended else None,
        heartbeat_seconds=settings.heartbeat if unattended and settings.heartbeat > 0 else None,
        spool_pending=len(spool.pending()),
        spool_rejected=len(spool.rejected()),
        peak_rss_bytes=peak_rss_bytes(),
        errors=errors,
        last_scan=last_scan,
        proposal=answer,
    )


def heartbeat_document(agent_id: uuid.UUID, health: AgentHealth, settings: AgentSettings) -> bytes:
    """The heartbeat as sent (the agent's host name pseudonymised when a key is configured)."""
    hostname: str | None = socket.gethostname()[:255]
    if settings.pseudonymise_key_file is not None and hostname:
        from agent.pseudonym import Pseudonymiser, load_key

        hostname = Pseudonymiser(load_key(settings.pseudonymise_key_file)).hostname(hostname)
    beat = Heartbeat(schema_=HEARTBEAT_SCHEMA_ID, agent=AgentInfo(id=agent_id, version=__version__,
                                                                   hostname=hostname), status=health)
    return beat.model_dump_json(by_alias=True, exclude_none=True).encode()
