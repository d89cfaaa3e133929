"""`herkomst collector …`: migrate, serve, and bootstrap administration from the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the agent's command line shares this entry point; it must not load SQLAlchemy
    from sqlalchemy.engine import Engine

app = typer.Typer(help="Run and administer the collector.", no_args_is_help=True)
admin_app = typer.Typer(help="Bootstrap administration (organisations, tokens) directly on the database.",
                        no_args_is_help=True)
app.add_typer(admin_app, name="admin")
audit_app = typer.Typer(help="The audit log: read it, and verify its hash chain.", no_args_is_help=False,
                        invoke_without_command=True)
app.add_typer(audit_app, name="audit")
policy_app = typer.Typer(help="The policy: which countries' vendors are flagged (show, set, history).",
                         no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _engine() -> Engine:
    from collector.db import make_engine
    from collector.migrate import upgrade
    from collector.settings import get_settings

    engine = make_engine(get_settings().effective_database_url)
    upgrade(engine)
    return engine


@app.command()
def migrate() -> None:
    """Apply schema migrations to the configured database (HERKOMST_DATABASE_URL)."""
    from collector.migrate import current

    engine = _engine()
    typer.echo(f"database at revision {current(engine)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8470,
    workers: Annotated[int, typer.Option(help="worker processes (PostgreSQL only)")] = 1,
    tls_cert: Annotated[Path | None, typer.Option(help="serve HTTPS with this certificate chain (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="the certificate's private key (PEM)")] = None,
) -> None:
    """Run the collector with uvicorn (migrates first). Agents need HTTPS; put it here or on a proxy in front."""
    import uvicorn

    from collector.settings import get_settings

    settings = get_settings()
    _engine()
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        raise typer.BadParameter("several workers need PostgreSQL; SQLite has a single writer", param_hint="--workers")
    if settings.report_schedule:
        from collector.inventory import schedule

        key = settings.report_pseudonym_key.get_secret_value().encode() if settings.report_pseudonym_key else None
        schedule.start(_engine(), schedule.parse_schedule(settings.report_schedule), pseudonym_key=key)
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither", param_hint="--tls-cert")
    uvicorn.run("collector.app:create_app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=True, log_level="info", timeout_graceful_shutdown=10,
                ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None)


@app.command()
def report(
    period: Annotated[str, typer.Option(help="the month, YYYY-MM")],
    format: Annotated[str, typer.Option("--format", help="html, pdf, csv or json")] = "html",
    sector: Annotated[str | None, typer.Option(help="a sector code; all sectors when absent")] = None,
    output: Annotated[
        str | None, typer.Option(help="file, '-' for stdout; default: herkomst-inventory-PERIOD-….FORMAT")
    ] = None,
    pseudonymise: Annotated[bool, typer.Option("--pseudonymise", help="pseudonymise organisation names")] = False,
) -> None:
    """Generate an inventory report, store it in the collector (listed by the API) and write it to a file."""

    from sqlmodel import Session

    from collector.errors import ApiError
    from collector.inventory import filename, generate, validate_request
    from collector.inventory.pdf import PdfError
    from collector.settings import get_settings

    settings = get_settings()
    try:
        req = validate_request(period, sector, format, pseudonymise)
    except ApiError as exc:
        raise typer.BadParameter(exc.message) from exc
    key = settings.report_pseudonym_key.get_secret_value().encode() if settings.report_pseudonym_key else None
    with Session(_engine(), expire_on_commit=False) as session:
        try:
            row = generate(session, req, created_by="cli", pseudonym_key=key)
        except PdfError as exc:
            raise typer.BadParameter(str(exc), param_hint="--format") from exc
        session.commit()
    if output == "-":  # the document on stdout for a pipe; the receipt on stderr
        import sys

        sys.stdout.buffer.write(row.content)
        sys.stdout.flush()
        typer.echo(json.dumps({"id": row.id, "sha256": row.sha256, "bytes": len(row.content)}), err=True)
        return
    target = Path(output) if output else Path(filename(row))
    target.write_bytes(row.content)
    typer.echo(json.dumps({"id": row.id, "period": row.period, "sector": row.sector, "format": row.format,
                           "pseudonymised": row.pseudonymised, "sha256": row.sha256, "output": str(target),
                           "bytes": len(row.content)}))


@admin_app.command("create-organisation")
def create_organisation(
    name: Annotated[str, typer.Argument(help="organisation name")],
    sector: Annotated[str, typer.Option(help="sector code (see `herkomst collector admin sectors`)")],
) -> None:
    """Create an organisation; prints it as JSON."""
    from sqlmodel import Session

    from collector import admin
    from collector.errors import ApiError

    with Session(_engine()) as session:
        try:
            org = admin.create_organisation(session, name=name, sector=sector)
        except ApiError as exc:
            raise typer.BadParameter(exc.message) from exc
        session.commit()
        typer.echo(json.dumps({"id": org.id, "name": org.name, "sector": org.sector}))


@admin_app.command("sectors")
def list_sectors() -> None:
    """List the sector codes."""
    from collector.sectors import sectors

    for code, sector in sectors().items():
        typer.echo(f"{code:28} {sector.name} ({sector.name_en})")


@admin_app.command("create-enrollment-token")
def create_enrollment_token(
    organisation: Annotated[str, typer.Option(help="organisation name or id")],
    site: Annotated[str, typer.Option(help="site (network) name")] = "default",
    expires_in_hours: Annotated[float, typer.Option(help="validity")] = 72,
    max_uses: Annotated[int, typer.Option(help="how many agents may enrol with it")] = 1,
) -> None:
    """Create an enrollment token; the token is printed once."""
    from sqlmodel import Session

    from collector import admin

    with Session(_engine()) as session:
        org = admin.find_organisation(session, name=organisation)
        if org is None and organisation.isdigit():
            org = admin.get_organisation(session, organisation_id=int(organisation))
        if org is None or org.id is None:
            raise typer.BadParameter(f"no organisation {organisation!r}", param_hint="--organisation")
        row, token = admin.create_enrollment_token(
            session, organisation_id=org.id, site=site, expires_in=timedelta(hours=expires_in_hours),
            max_uses=max_uses,
        )
        session.commit()
        typer.echo(json.dumps({"id": row.id, "token": token, "expires_at": row.expires_at.isoformat(),
                               "max_uses": row.max_uses}))


@admin_app.command("create-api-token")
def create_api_token(
    name: Annotated[str, typer.Argument(help="who or what holds it")],
    role: Annotated[str, typer.Option(help="analyst (read), admin, or metrics (reads /metrics only)")] = "analyst",
    expires_in_hours: Annotated[float | None, typer.Option(help="validity; default none")] = None,
) -> None:
    """Create an API token; the token is printed once."""
    from sqlmodel import Session

    from collector import admin
    from collector.errors import ApiError

    with Session(_engine()) as session:
        try:
            row, token = admin.create_api_token(
                session, name=name, role=role,
                expires_in=None if expires_in_hours is None else timedelta(hours=expires_in_hours),
            )
        except ApiError as exc:
            raise typer.BadParameter(exc.message, param_hint="--role") from exc
        session.commit()
        typer.echo(json.dumps({"id": row.id, "name": row.name, "role": row.role, "token": token}))


@admin_app.command("revoke-api-token")
def revoke_api_token(token_id: Annotated[int, typer.Argument(help="token id")]) -> None:
    """Revoke an API token."""
    from sqlmodel import Session

    from collector import admin
    from collector.errors import ApiError

    with Session(_engine()) as session:
        try:
            admin.revoke_api_token(session, token_id=token_id)
        except ApiError as exc:
            raise typer.BadParameter(exc.message, param_hint="TOKEN_ID") from exc
        session.commit()
        typer.echo(f"revoked API token {token_id}")


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


@app.command()
def agents(
    silent: Annotated[bool, typer.Option("--silent", help="only agents that have gone silent")] = False,
    organisation_id: Annotated[int | None, typer.Option(help="only this organisation's agents")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per agent")] = False,
) -> None:
    """The fleet: each agent's version, last contact, last scan, spool depth, peak memory and errors; silent ones
    first. Exits 3 when an agent is silent (for a monitoring check)."""
    from rich.console import Console
    from rich.table import Table
    from sqlmodel import Session

    from collector.fleet import fleet_status
    from collector.models import utcnow
    from collector.settings import get_settings

    with Session(_engine()) as session:
        entries = fleet_status(session, get_settings(), organisation_id=organisation_id)
    entries = [e for e in entries if e.silent or not silent]
    entries.sort(key=lambda e: (not e.silent, e.organisation, e.hostname))
    if as_json:
        from dataclasses import asdict

        for e in entries:
            typer.echo(json.dumps({**asdict(e), "silent_after": e.silent_after.total_seconds()}, default=str))
    else:
        now = utcnow()
        table = Table(title=f"{len(entries)} agents, {sum(e.silent for e in entries)} silent")
        for column in ("agent", "organisation / site", "version", "last contact", "last scan", "spool", "RSS",
                       "errors"):
            table.add_column(column, overflow="fold")
        for e in entries:
            h = e.health or {}
            scan = h.get("last_scan") or {}
            contact = "never" if e.last_seen_at is None else _age((now - e.last_seen_at).total_seconds()) + " ago"
            state = "[red]SILENT[/red] " if e.silent else ("revoked " if e.revoked else "")
            last_scan = (f"{scan['profile']}, {scan['devices']} dev, {scan['packets_sent']} pkt" if scan else
                         (f"{e.last_report_profile}, {e.last_report_devices} dev" if e.last_report_profile else "-"))
            errors = h.get("errors") or []
            rss = h.get("peak_rss_bytes")
            table.add_row(f"{state}{e.hostname}\n{e.id[:8]}", f"{e.organisation} / {e.site}", e.version,
                          contact, last_scan, str(h.get("spool_pending", "-")),
                          "-" if rss is None else f"{rss / 2**20:.0f} MiB",
                          f"{len(errors)}: {errors[-1]['message'][:60]}" if errors else "")
        Console().print(table)
    if any(e.silent for e in entries):
        raise typer.Exit(3)


@admin_app.command("propose")
def propose(
    agent_id: Annotated[str, typer.Argument(help="the agent's id (see `herkomst collector agents`)")],
    scope: Annotated[list[str] | None, typer.Option("--scope", help="CIDR; repeat for more")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="CIDR to leave alone; repeat")] = None,
    profile: Annotated[str | None, typer.Option(help="passive, safe or standard")] = None,
    interval: Annotated[float | None, typer.Option(help="seconds between scans")] = None,
    withdraw: Annotated[bool, typer.Option(help="withdraw earlier proposals: the agent returns to its own "
                                                "configuration")] = False,
) -> None:
    """Propose scope, exclusions, profile or schedule to one agent. It reaches the agent with its next heartbeat or
    report; the agent applies only what its operator's ceiling allows and answers (shown by `agents`)."""
    from pydantic import ValidationError
    from sqlmodel import Session

    from collector import fleet
    from collector.errors import ApiError
    from collector.schemas import ProposalCreate

    if withdraw and (scope or exclude or profile or interval):
        raise typer.BadParameter("--withdraw takes no other option")
    if not withdraw and not (scope or exclude or profile or interval):
        raise typer.BadParameter("say what to propose (--scope, --exclude, --profile, --interval) or --withdraw")
    try:
        body = ProposalCreate.model_validate({"scope": scope or None, "exclude": exclude or [], "profile": profile,
                                              "interval_seconds": interval})
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                                 ) from exc
    with Session(_engine()) as session:
        try:
            row = fleet.propose(session, agent_id=agent_id, created_by="cli", scope=body.scope, exclude=body.exclude,
                                profile=body.profile, interval_seconds=body.interval_seconds)
        except ApiError as exc:
            typer.secho(f"error ({exc.reason}): {exc.message}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from exc
        session.commit()
        typer.echo(json.dumps({"agent_id": agent_id, "version": row.version, "proposal": row.document}))


def _policy_json(version: str, document: dict[str, object], **extra: object) -> str:
    return json.dumps({"version": version, **document, **extra}, default=str, ensure_ascii=False)


@policy_app.command("show")
def policy_show(as_json: Annotated[bool, typer.Option("--json", help="the policy document as JSON")] = False
                ) -> None:
    """The policy in force: countries, since when, who set it, sources."""
    from sqlmodel import Session

    from collector.policy import policy_in_force

    with Session(_engine()) as session:
        now = policy_in_force(session)
    p = now.policy
    if as_json:
        typer.echo(json.dumps(p.model_dump(mode="json"), ensure_ascii=False))
        return
    since = now.valid_from.isoformat() if now.valid_from else "always (the shipped default; none set here)"
    typer.echo(f"policy {p.version}: {', '.join(p.countries)}\n  {p.name}\n  in force since {since}, set by "
               f"{now.set_by}")
    for code, rule in p.territories.items():
        typer.echo(f"  {code}: {rule}")
    for source in p.sources:
        typer.echo(f"  source: {source.title[:150]}{' — ' + source.url if source.url else ''}")


@policy_app.command("set")
def policy_set(
    file: Annotated[Path, typer.Argument(help="the policy as TOML (like fingerprints/data/policy.toml) or JSON",
                                         exists=True, dir_okay=False)],
    valid_from: Annotated[str | None, typer.Option(help="ISO 8601 start (default now); never inside an earlier "
                                                        "policy's validity")] = None,
    note: Annotated[str, typer.Option(help="why")] = "",
    reattribute_now: Annotated[bool, typer.Option("--reattribute/--no-reattribute",
                                                  help="judge every device again now (else: at the collector's "
                                                       "next check)")] = True,
) -> None:
    """Store a new policy version (refused with a reason when invalid, without a source, a version already stored,
    or overlapping); then re-attribute, recording each change with reason "policy"."""
    import tomllib
    from datetime import UTC, datetime

    from sqlmodel import Session

    from collector.attribution import ReattributionBusy
    from collector.attribution import reattribute as run_reattribution
    from collector.errors import ApiError
    from collector.policy import set_policy

    try:
        document = json.loads(file.read_text()) if file.suffix == ".json" else tomllib.loads(file.read_text())
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise typer.BadParameter(f"{file} is not valid {'JSON' if file.suffix == '.json' else 'TOML'}: {exc}"
                                 ) from exc
    start = None
    if valid_from is not None:
        try:
            start = datetime.fromisoformat(valid_from)
        except ValueError as exc:
            raise typer.BadParameter(f"{valid_from!r} is not an ISO 8601 time", param_hint="--valid-from") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
    engine = _engine()
    with Session(engine) as session:
        try:
            row = set_policy(session, document, set_by="cli", valid_from=start, note=note)
        except ApiError as exc:
            details = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in exc.details)
            typer.secho(f"error ({exc.reason}): {exc.message}{' — ' + details if details else ''}",
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from exc
        session.commit()
        typer.echo(f"policy {row.version} stored, in force from {row.valid_from.isoformat()}")
        in_force = row.valid_from <= datetime.now(UTC)
    if reattribute_now and in_force:
        try:
            run = run_reattribution(engine)
        except ReattributionBusy as exc:
            typer.echo(f"{exc}: it takes the new policy in when its run ends")
            return
        typer.echo(f"re-attributed {run.devices_done} devices: {run.changes} changes recorded")


@policy_app.command("history")
def policy_history(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every policy stored, newest first."""
    from sqlmodel import Session

    from collector.policy import history

    with Session(_engine()) as session:
        rows = history(session)
    if not rows:
        typer.echo("no policy set here: the shipped default is in force (`herkomst collector policy show`)")
    for row in rows:
        if as_json:
            typer.echo(_policy_json(row.version, row.document, valid_from=row.valid_from, set_by=row.set_by,
                                    set_at=row.set_at, note=row.note))
        else:
            typer.echo(f"{row.valid_from.isoformat()}  {row.version:12} {', '.join(row.document['countries']):24} "
                       f"set by {row.set_by} at {row.set_at.isoformat()}{'  — ' + row.note if row.note else ''}")


@audit_app.callback()
def audit_log(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="ISO 8601: rows at or after")] = None,
    token_name: Annotated[str | None, typer.Option("--token", help="only this caller")] = None,
    route: Annotated[str | None, typer.Option(help="only this route template")] = None,
    refused: Annotated[bool, typer.Option("--refused", help="only refused requests (status ≥ 400)")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per row")] = False,
) -> None:
    """The audit log, newest first: analyst requests, admin actions, refused requests (`audit verify`: the chain)."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import UTC, datetime

    from sqlmodel import Session

    from collector import audit

    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError as exc:
            raise typer.BadParameter(f"{since!r} is not an ISO 8601 time", param_hint="--since") from exc
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    with Session(_engine()) as session:
        rows = audit.search(session, since=start, token_name=token_name, route=route,
                            refused=True if refused else None, limit=limit)
    for r in rows:
        if as_json:
            typer.echo(json.dumps({k: getattr(r, k) for k in ("id", "at", "token_name", "role", "method", "route",
                                                             "query", "rows", "status", "reason")}, default=str))
        else:
            typer.echo(f"{r.at.isoformat(timespec='seconds')}  {r.status}  {r.method:6} {r.route:40} "
                       f"{r.token_name}{'  ' + r.reason if r.reason else ''}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's hash chain; exit 1 and name the first row that does not hold."""
    from sqlmodel import Session

    from collector import audit

    with Session(_engine()) as session:
        v = audit.verify(session)
    if v.intact:
        typer.echo(f"audit log intact: {v.chained} chained rows"
                   + (f" (and {v.unchained_before} from before the chain)" if v.unchained_before else ""))
        return
    typer.secho(f"audit log broken at row {v.broken_at}: {v.problem} ({v.chained} rows before it hold)",
                fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@admin_app.command("list-enrollment-tokens")
def list_enrollment_tokens(
    include_spent: Annotated[bool, typer.Option(help="also revoked, expired and used-up ones")] = False,
) -> None:
    """Enrollment tokens (never their secret): id, organisation, uses, expiry."""
    from sqlmodel import Session

    from collector import admin

    with Session(_engine()) as session:
        for row in admin.list_enrollment_tokens(session, include_spent=include_spent):
            typer.echo(json.dumps({"id": row.id, "organisation_id": row.organisation_id, "site_id": row.site_id,
                                   "uses": row.uses, "max_uses": row.max_uses, "expires_at": row.expires_at,
                                   "revoked_at": row.revoked_at, "note": row.note}, default=str))


@admin_app.command("revoke-enrollment-token")
def revoke_enrollment_token(token_id: Annotated[int, typer.Argument(help="token id")]) -> None:
    """No agent can enrol with it any more."""
    from sqlmodel import Session

    from collector import admin
    from collector.errors import ApiError

    with Session(_engine()) as session:
        try:
            admin.revoke_enrollment_token(session, token_id=token_id)
        except ApiError as exc:
            raise typer.BadParameter(exc.message, param_hint="TOKEN_ID") from exc
        session.commit()
        typer.echo(f"revoked enrollment token {token_id}")


@app.command()
def reattribute(
    batch: Annotated[int, typer.Option(help="devices per transaction")] = 1000,
) -> None:
    """Identify every stored device again with the current catalogue and policy; resumes an interrupted run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from sqlmodel import Session

    from collector.attribution import ReattributionBusy, current_versions
    from collector.attribution import reattribute as run_reattribution
    from collector.policy import policy_in_force

    engine = _engine()
    with Session(engine) as session:
        cat, pol = current_versions(policy=policy_in_force(session).policy)
    try:
        with Progress(TextColumn("re-attributing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task("devices", total=None)
            run = run_reattribution(engine, batch=batch, progress=lambda done, total: bar.update(
                task, completed=done, total=total))
    except ReattributionBusy as exc:
        typer.echo(f"{exc}: it re-attributes with the current data and policy when its run ends; nothing to do here")
        return
    typer.echo(f"catalogue {cat}, policy {pol}: {run.devices_done} devices, {run.changes} changes recorded")


@app.command()
def whatif(
    countries: Annotated[str, typer.Option(help="the proposed list: ISO 3166-1 codes, e.g. CN,RU,IR,KP,BY")],
    sector: Annotated[str | None, typer.Option(help="only this sector (see `admin sectors`)")] = None,
    limit: Annotated[int, typer.Option(min=1, help="changed devices to list")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="the API's answer, as JSON")] = False,
) -> None:
    """What a proposed country list would flag in the stored inventory, beside the official flags: counts by sector
    and headquarters country, and the devices that would become or stop being flagged. Changes nothing."""
    from sqlmodel import Session

    from collector import whatif as what_if
    from collector.errors import ApiError

    try:
        proposal = what_if.proposed_policy(what_if.parse_country_list(countries))
        what_if.check_sector(sector)
    except ApiError as exc:
        raise typer.BadParameter(exc.message, param_hint="--sector" if exc.reason == "unknown_sector" else
                                 "--countries") from exc
    with Session(_engine()) as session:
        result, _next = what_if.evaluate(session, proposal=proposal, sector=sector, limit=limit)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _print_whatif(result)



if TYPE_CHECKING:
    from collector.whatif_schemas import WhatIfResult


def _print_whatif(result: WhatIfResult) -> None:
    """The what-if as tables: counts by sector and country, then the devices that change and which country did it."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    moved = [f"{word} {' '.join(codes)}" for word, codes in (("added", result.added), ("removed", result.removed))
             if codes]
    console.print(f"What-if {' '.join(result.countries)} against policy {result.policy_version} "
                  f"({' '.join(result.policy_countries)}){': ' + ', '.join(moved) if moved else ''}", highlight=False)
    cells = Table("sector", "HQ country", "devices", "flagged", "under the proposal")
    for c in result.cells:
        cells.add_row(c.sector, c.country or "?", str(c.devices), str(c.flagged), str(c.flagged_whatif))
    console.print(cells)
    changed = result.would_be_flagged + result.would_no_longer_be_flagged
    typer.echo(f"{result.total_devices} devices; {result.total_flagged} flagged today, {result.total_flagged_whatif} "
               f"under the proposal: {result.would_be_flagged} would be flagged, {result.would_no_longer_be_flagged} "
               "would no longer be flagged")
    if not result.changes:
        return
    devices = Table("device", "organisation", "vendor", "HQ / owner", "change", "because of",
                    title=f"the first {len(result.changes)} of {changed} (--limit)" if len(result.changes) < changed
                    else None)
    for d in result.changes:
        # the countries that flag it under the proposal, or that flagged it under the policy
        why = [f"{o.dimension} {o.vendor_id + ' ' if o.vendor_id else ''}{o.country}" for o in d.origins
               if (o.on_proposal if d.flagged_whatif else o.on_policy)]
        devices.add_row(str(d.device_id), d.organisation, d.vendor or d.vendor_id or "?",
                        f"{d.country or '?'} / {d.owner_country or '?'}", d.change.replace("_", " "), ", ".join(why))
    console.print(devices)
