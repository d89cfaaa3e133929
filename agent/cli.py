"""Command line of the agent: enroll, scan, run (unattended), status, flush.

Interactive commands show rich progress and a summary table and exit non-zero with a clear message on failure;
`run` logs JSON lines and retries. Heavy imports happen inside the commands so `herkomst --help` stays fast.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Any

import typer

from agent.errors import AgentError, RejectedError

app = typer.Typer(help="The agent: discover, identify and report devices in a scope.", no_args_is_help=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="TOML configuration file (default /etc/herkomst/agent.toml)")
StateOpt = typer.Option(None, "--state-dir", help="state directory (agent key, spool, status)")


def _fail(exc: AgentError) -> typer.Exit:
    typer.secho(f"error ({exc.reason}): {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(2 if isinstance(exc, RejectedError) else 1)


def _settings(config: Path | None, **overrides: Any) -> Any:
    from agent.settings import load_settings

    return load_settings(config, **overrides)


@app.callback()
def main() -> None:
    """The Herkomst agent."""


@app.command()
def enroll(
    collector: str = typer.Option(..., "--collector", help="collector base URL, https://…"),
    token: str = typer.Option(..., "--token", help="enrolment token (hke_…) from the collector's admin"),
    ca: Path | None = typer.Option(None, "--ca", help="pin this CA bundle (PEM) for the collector"),
    config: Path | None = ConfigOpt,
    state_dir: Path | None = StateOpt,
) -> None:
    """Enrol this agent with a collector and store its key (0600) in the state directory."""
    import uuid

    from agent.delivery import CollectorClient
    from agent.settings import check_collector_url
    from agent.state import Credentials, StateDir

    try:
        settings = _settings(config, state_dir=state_dir)
        try:
            url = check_collector_url(collector, allow_plain_http=settings.allow_plain_http)
        except ValueError as exc:
            from agent.errors import ConfigError

            raise ConfigError(str(exc)) from exc
        client = CollectorClient(url, ca_file=ca, timeout=settings.delivery_timeout)
        data = client.enroll(token, socket.gethostname())
        creds = Credentials(
            url,
            uuid.UUID(str(data["agent_id"])),
            str(data["agent_key"]),
            data.get("organisation"),
            data.get("site"),
            str(ca.resolve()) if ca else None,
        )
        state = StateDir(settings.state_dir)
        state.save_credentials(creds)
    except AgentError as exc:
        raise _fail(exc) from exc
    typer.echo(
        f"enrolled as agent {creds.agent_id} for {creds.organisation or '?'} / {creds.site or '?'}; "
        f"key stored in {state.credentials_path}"
    )


@app.command()
def scan(
    scope: str = typer.Option(..., "--scope", help="CIDR[,CIDR…] to scan; nothing outside is touched"),
    exclude: list[str] = typer.Option([], "--exclude", help="CIDR[,CIDR…] to leave alone (repeatable)"),
    profile: str = typer.Option("safe", "--profile", help="passive | safe | standard"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the report here instead of sending it"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show every probe and the document; send nothing"),
    config: Path | None = ConfigOpt,
    state_dir: Path | None = StateOpt,
    max_rate: float | None = typer.Option(None, "--max-rate", help="packets/s overall (default 100)"),
    max_host_rate: float | None = typer.Option(None, "--max-host-rate", help="packets/s per host (default 10)"),
    passive_window: float | None = typer.Option(None, "--listen", help="seconds of passive listening"),
    json_summary: bool = typer.Option(False, "--json", help="print the summary as JSON lines"),
    pcap: list[Path] = typer.Option([], "--pcap", help="read this capture (pcap/pcapng from a SPAN port) instead of "
                                    "the wire: passive decoders only, nothing sent (repeatable)"),
    nmap_xml: list[Path] = typer.Option([], "--nmap-xml", help="import this nmap XML output (nmap -oX) instead of "
                                        "scanning: nothing sent (repeatable)"),
) -> None:
    """Scan a scope once; spool and deliver the report (or write it with --output)."""
    from agent.scope import Scope

    if profile not in ("passive", "safe", "standard"):
        raise typer.BadParameter("profile must be passive, safe or standard", param_hint="--profile")
    try:
        settings = _settings(
            config,
            state_dir=state_dir,
            max_rate=max_rate,
            max_host_rate=max_host_rate,
            passive_window=passive_window,
        )
        scope_obj = Scope.parse([scope], exclude)
        offline = bool(pcap or nmap_xml)
        if offline and profile not in ("passive", "safe"):
            raise typer.BadParameter("captures and nmap output are read, not scanned; drop --profile",
                                     param_hint="--pcap/--nmap-xml")
        if offline:
            profile = "passive"
        if dry_run:
            _dry_run(scope_obj, profile, settings)
            return
        _interactive_scan(scope_obj, profile, settings, output, json_summary, captures=pcap, nmap_xml=nmap_xml)
    except AgentError as exc:
        raise _fail(exc) from exc


def _dry_run(scope: Any, profile: str, settings: Any) -> None:
    from rich.console import Console

    from agent.report import build_report
    from agent.scan import document_bytes, plan
    from agent.state import StateDir

    console = Console(stderr=True, soft_wrap=True)
    p = plan(scope, profile, settings)
    console.print(
        f"[bold]Dry run[/] of a [bold]{profile}[/] scan of {scope.describe()} "
        f"(caps: {settings.max_rate:g} packets/s overall, {settings.max_host_rate:g} per host)"
    )
    for line in p.listen:
        console.print(f"  {line}")
    for line in p.nmap:
        console.print(f"  {line}")
    if p.hosts and profile != "passive":
        console.print("  Each host below is probed only if it answered discovery:")
    for ip, probes in p.hosts.items():
        console.print(f"  [bold]{ip}[/]")
        for probe in probes:
            console.print(f"    - {probe}")
    if not p.hosts and profile != "passive":
        console.print("  (no host addresses in scope)")
    from datetime import UTC, datetime

    from agent.evidence import EvidenceBook
    from agent.hostinfo import collect

    now = datetime.now(UTC)
    report, _ = build_report(
        agent_id=StateDir(settings.state_dir).agent_id(),
        scope=scope,
        profile=profile,
        started_at=now,
        finished_at=now,
        packets_sent=0,
        max_packet_rate=0.0,
        book=EvidenceBook(),
        host=collect(),
    )
    console.print("The document that would be sent (devices are filled in by the scan), on stdout:")
    sys.stdout.write(document_bytes(report, settings).decode())


def _interactive_scan(scope: Any, profile: str, settings: Any, output: Path | None, json_summary: bool,
                      captures: list[Path] | None = None, nmap_xml: list[Path] | None = None) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from agent.scan import document_bytes, run_scan
    from agent.state import StateDir, now_iso

    console = Console(stderr=True)
    state = StateDir(settings.state_dir)
    agent_id = state.agent_id()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: float, total: float) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=max(total, 1))
            bar.update(tasks[phase], completed=done, total=max(total, 1))

        if captures or nmap_xml:
            from agent.scan import run_offline

            result = run_offline(scope, captures=captures, nmap_xml=nmap_xml, agent_id=agent_id, progress=progress)
        else:
            result = run_scan(scope, profile, settings, agent_id=agent_id, progress=progress)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    report = result.report
    if json_summary:
        for row in result.rows:
            typer.echo(json.dumps(row.__dict__))
    else:
        from agent.summary import table

        console.print(table(report, result.rows, console.width))
    if output is None:  # a report the collector gets carries the agent's status (the fleet view)
        from agent.health import agent_health, last_scan_of

        state.record_warnings(result.warnings)
        report.status = agent_health(state, settings, unattended=False, last_scan=last_scan_of(report))
    data = document_bytes(report, settings)
    if output is not None:
        from agent.state import write_private

        write_private(output, data)
        console.print(f"report {report.report_id} written to {output} (nothing sent)")
        state.update_status(
            last_scan_at=now_iso(),
            last_scan_report_id=str(report.report_id),
            last_scan_devices=len(report.devices),
        )
        if result.incomplete:
            from agent.errors import InterfaceError

            raise InterfaceError("the scan lost an interface; the report was written, but scan again once it is back")
        return
    _spool_and_send(report, data, settings, state, console)
    if result.incomplete:
        from agent.errors import InterfaceError

        raise InterfaceError("the scan lost an interface; its report was kept, but scan again once it is back")


def _spool_and_send(report: Any, data: bytes, settings: Any, state: Any, console: Any) -> None:
    from agent.delivery import deliver_one, receipt_text
    from agent.errors import DeliveryError, NotEnrolledError
    from agent.spool import Spool
    from agent.state import now_iso

    spool = Spool(state.spool_path)
    item = spool.put(report.report_id, data)  # durable before anything is sent
    state.update_status(
        last_scan_at=now_iso(),
        last_scan_report_id=str(report.report_id),
        last_scan_devices=len(report.devices),
        last_scan=None if report.status is None or report.status.last_scan is None
        else report.status.last_scan.model_dump(mode="json"),
    )
    try:
        client = _client(settings, state)
    except NotEnrolledError as exc:
        raise NotEnrolledError(
            f"{exc}. The report is kept in {item.path}; `herkomst agent flush` sends it "
            "after enrolment (or use --output FILE)"
        ) from exc
    try:
        receipt = deliver_one(client, spool, item, attempts=settings.delivery_attempts)
    except DeliveryError as exc:
        state.update_status(last_error=f"{exc.reason}: {exc}")
        if isinstance(exc, RejectedError):
            raise
        raise type(exc)(
            f"{exc}. The report is kept in {item.path}; run `herkomst agent flush` later",
            status=exc.status,
            code=exc.code,
        ) from exc
    finally:
        client.close()
    state.update_status(last_delivery_at=now_iso(), last_delivery_report_id=str(report.report_id), last_error=None)
    console.print(receipt_text(receipt))


def _client(settings: Any, state: Any) -> Any:
    from agent.delivery import CollectorClient
    from agent.settings import check_collector_url

    creds = state.load_credentials()
    url = settings.collector_url or creds.collector_url
    try:
        url = check_collector_url(url, allow_plain_http=settings.allow_plain_http)
    except ValueError as exc:
        from agent.errors import ConfigError

        raise ConfigError(str(exc)) from exc
    ca = settings.ca_file or (Path(creds.ca_file) if creds.ca_file else None)
    return CollectorClient(url, creds.agent_key, ca_file=ca, timeout=settings.delivery_timeout)


@app.command()
def flush(config: Path | None = ConfigOpt, state_dir: Path | None = StateOpt) -> None:
    """Deliver every spooled report now."""
    from agent.delivery import flush as flush_spool
    from agent.spool import Spool
    from agent.state import StateDir, now_iso

    try:
        settings = _settings(config, state_dir=state_dir)
        state = StateDir(settings.state_dir)
        client = _client(settings, state)
        try:
            result = flush_spool(client, Spool(state.spool_path), attempts=settings.delivery_attempts)
        finally:
            client.close()
        for report_id, _ in result.delivered:
            typer.echo(f"delivered {report_id}")
        for report_id, reason in result.rejected:
            typer.secho(f"rejected {report_id}: {reason}", fg=typer.colors.RED, err=True)
        if result.delivered:
            state.update_status(last_delivery_at=now_iso(), last_delivery_report_id=result.delivered[-1][0])
        typer.echo(f"{result.pending} report(s) still pending")
        if result.last_error is not None:
            state.update_status(last_error=f"{result.last_error.reason}: {result.last_error}")
            raise result.last_error
    except AgentError as exc:
        raise _fail(exc) from exc


@app.command()
def status(
    config: Path | None = ConfigOpt,
    state_dir: Path | None = StateOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Last scan, spool depth, last delivery."""
    from agent.errors import NotEnrolledError
    from agent.spool import Spool
    from agent.state import StateDir

    try:
        settings = _settings(config, state_dir=state_dir)
    except AgentError as exc:
        raise _fail(exc) from exc
    state = StateDir(settings.state_dir)
    spool = Spool(state.spool_path)
    st = state.load_status()
    try:
        creds = state.load_credentials()
        enrolled: dict[str, Any] = {
            "agent_id": str(creds.agent_id),
            "collector": creds.collector_url,
            "organisation": creds.organisation,
            "site": creds.site,
        }
    except NotEnrolledError:
        enrolled = {}
    info = {
        "state_dir": str(state.root),
        "enrolled": enrolled,
        "pending": len(spool.pending()),
        "rejected": len(spool.rejected()),
        **{k: v for k, v in st.__dict__.items() if k != "extra"},
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        typer.echo(f"{key:26} {value if value not in (None, {}) else '-'}")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry)


@app.command()
def run(
    config: Path | None = ConfigOpt,
    state_dir: Path | None = StateOpt,
    once: bool = typer.Option(False, "--once", help="one cycle, then exit (for cron/systemd timers and tests)"),
) -> None:
    """Unattended: scan the configured scope every `interval` seconds and deliver, with a status heartbeat between
    scans; apply what the collector proposes only inside the configured ceiling. JSON logs; failures retry."""
    from agent.scope import Scope
    from agent.spool import Spool
    from agent.state import StateDir

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    log = logging.getLogger("agent.run")
    try:
        settings = _settings(config, state_dir=state_dir)
        Scope.parse(settings.scope, settings.exclude)
        state = StateDir(settings.state_dir)
        state.load_credentials()
    except AgentError as exc:
        # Configuration problems do not heal by retrying: say so and stop.
        log.error("cannot start", extra={"fields": {"reason": exc.reason, "error": str(exc)}})
        raise typer.Exit(1) from exc
    spool = Spool(state.spool_path)
    try:
        _run_loop(settings, state, spool, log, once)
    finally:
        logging.getLogger().removeHandler(handler)


@app.command()
def heartbeat(config: Path | None = ConfigOpt, state_dir: Path | None = StateOpt) -> None:
    """Send this agent's status to the collector now (what `run` does between scans) and show its answer."""
    from agent.state import StateDir

    try:
        settings = _settings(config, state_dir=state_dir)
        state = StateDir(settings.state_dir)
        answer = _send_heartbeat(settings, state, unattended=False)
    except AgentError as exc:
        raise _fail(exc) from exc
    proposal = answer.get("proposal")
    typer.echo(f"heartbeat received at {answer.get('received_at', '?')}; "
               + ("no proposal" if not proposal else f"proposal v{proposal.get('version')}: {json.dumps(proposal)}"))


def _send_heartbeat(settings: Any, state: Any, *, unattended: bool, interval: float | None = None) -> dict[str, Any]:
    from agent.health import agent_health, heartbeat_document

    health = agent_health(state, settings, unattended=unattended, interval=interval)
    client = _client(settings, state)
    try:
        answer: dict[str, Any] = client.heartbeat(heartbeat_document(state.agent_id(), health, settings))
    finally:
        client.close()
    return answer


def _plan(settings: Any, state: Any, log: logging.Logger) -> Any:
    """The next scan: the configuration, with the part of the stored proposal that lies inside its ceiling."""
    from agent.proposal import decide
    from fingerprints.report import Proposal

    st = state.load_status()
    proposal = Proposal.model_validate(st.proposal) if st.proposal else None
    plan = decide(settings, proposal)
    if plan.answer is not None:
        stored = st.proposal_answer or {}
        if (stored.get("state"), stored.get("message")) != (plan.answer.state, plan.answer.message):
            # new, or the operator changed the ceiling since: log and keep the answer the collector will read
            state.update_status(proposal_answer=plan.answer.model_dump(mode="json"))
            fields = {"version": plan.answer.version, "state": plan.answer.state, "applied": plan.applied,
                      "refused": plan.refused}
            if plan.refused:
                log.warning("proposal from the collector refused in part or whole", extra={"fields": fields})
            else:
                log.info("proposal from the collector applied", extra={"fields": fields})
    return plan


def _take_proposal(doc: Any, settings: Any, state: Any, log: logging.Logger) -> bool:
    """Keep the proposal the collector sent with a receipt; True when it differs from the one kept before."""
    from pydantic import ValidationError

    from fingerprints.report import Proposal

    st = state.load_status()
    if doc is None:
        if st.proposal is None:
            return False
        log.info("the collector has no proposal in force: back to the local configuration")
        state.update_status(proposal=None, proposal_answer=None)
        return True
    try:
        proposal = Proposal.model_validate(doc)
    except ValidationError as exc:
        log.warning("ignored a malformed proposal from the collector", extra={"fields": {"error": str(exc)[:500]}})
        return False
    if st.proposal is not None and st.proposal.get("version") == proposal.version:
        return False
    state.update_status(proposal=proposal.model_dump(mode="json"), proposal_answer=None)
    _plan(settings, state, log)  # decides, logs and records the answer
    return True


def _deliver_pending(settings: Any, state: Any, spool: Any, log: logging.Logger) -> bool:
    """Flush the spool; True when a receipt brought a new proposal."""
    from agent.delivery import flush as flush_spool
    from agent.state import now_iso

    changed = False
    try:
        client = _client(settings, state)
        try:
            flushed = flush_spool(client, spool, attempts=settings.delivery_attempts)
        finally:
            client.close()
        for report_id, receipt in flushed.delivered:
            duplicate = bool(receipt.get("duplicate"))
            log.info("delivered", extra={"fields": {"report_id": report_id, "duplicate": duplicate}})
            state.update_status(last_delivery_at=now_iso(), last_delivery_report_id=report_id)
        if flushed.delivered:
            changed = _take_proposal(flushed.delivered[-1][1].get("proposal"), settings, state, log)
        for report_id, reason in flushed.rejected:
            log.error("rejected; kept in spool/rejected", extra={"fields": {"report_id": report_id, "error": reason}})
        if flushed.last_error is not None:
            log.warning("delivery pending; will retry",
                        extra={"fields": {"pending": flushed.pending, "error": str(flushed.last_error)}})
            state.update_status(last_error=f"{flushed.last_error.reason}: {flushed.last_error}")
    except AgentError as exc:
        log.error("delivery failed; will retry", extra={"fields": {"reason": exc.reason, "error": str(exc)}})
        state.update_status(last_error=f"{exc.reason}: {exc}")
    return changed


def _beat(settings: Any, state: Any, log: logging.Logger, interval: float, *, unattended: bool = True) -> bool:
    """One heartbeat from the run loop; True when its answer brought a new proposal."""
    try:
        answer = _send_heartbeat(settings, state, unattended=unattended, interval=interval)
    except AgentError as exc:
        log.warning("heartbeat failed; will retry", extra={"fields": {"reason": exc.reason, "error": str(exc)}})
        return False
    return _take_proposal(answer.get("proposal"), settings, state, log)


def _run_loop(settings: Any, state: Any, spool: Any, log: logging.Logger, once: bool) -> None:
    from agent.health import agent_health, last_scan_of
    from agent.scan import document_bytes, run_scan
    from agent.state import now_iso

    while True:
        cycle_start = time.monotonic()
        plan = _plan(settings, state, log)
        try:
            result = run_scan(plan.scope, plan.profile, settings, agent_id=state.agent_id())
            report = result.report
            state.record_warnings(result.warnings)
            last = last_scan_of(report)
            report.status = agent_health(state, settings, unattended=not once, interval=plan.interval,
                                         last_scan=last)
            spool.put(report.report_id, document_bytes(report, settings))
            state.update_status(
                last_scan_at=now_iso(),
                last_scan_report_id=str(report.report_id),
                last_scan_devices=len(report.devices),
                last_scan=last.model_dump(mode="json"),
            )
            log.info(
                "scan done",
                extra={
                    "fields": {
                        "report_id": str(report.report_id),
                        "devices": len(report.devices),
                        "packets": report.scan.packets_sent,
                        "max_rate": report.scan.max_packet_rate,
                        "profile": plan.profile,
                        "scope": plan.scope.describe(),
                    }
                },
            )
        except AgentError as exc:
            log.error(
                "scan failed; retrying next cycle",
                extra={"fields": {"reason": exc.reason, "error": str(exc)}},
            )
            state.update_status(last_error=f"{exc.reason}: {exc}")
        changed = _deliver_pending(settings, state, spool, log)
        if once:
            if changed:  # tell the collector at once what was done with its proposal
                _beat(settings, state, log, plan.interval, unattended=False)
            pending = len(spool.pending())
            raise typer.Exit(0 if pending == 0 else 3)
        if changed:
            _beat(settings, state, log, plan.interval)
            plan = _plan(settings, state, log)
        # Wait for the next scan; between, a heartbeat every `heartbeat` s (and another try at a waiting spool).
        while (remaining := cycle_start + plan.interval - time.monotonic()) > 0:
            step = min(remaining, settings.heartbeat) if settings.heartbeat > 0 else remaining
            time.sleep(max(1.0, step))
            if settings.heartbeat <= 0 or cycle_start + plan.interval - time.monotonic() <= 0:
                continue
            changed = _deliver_pending(settings, state, spool, log) if spool.pending() else False
            if _beat(settings, state, log, plan.interval) or changed:
                plan = _plan(settings, state, log)
