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

    with Session(_engine()) as session:
        admin.revoke_api_token(session, token_id=token_id)
        session.commit()
        typer.echo(f"revoked API token {token_id}")


@app.command()
def reattribute(
    batch: Annotated[int, typer.Option(help="devices per transaction")] = 1000,
) -> None:
    """Identify every stored device again with the current catalogue and policy; resumes an interrupted run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from collector.attribution import current_versions
    from collector.attribution import reattribute as run_reattribution

    engine = _engine()
    cat, pol = current_versions()
    with Progress(TextColumn("re-attributing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("devices", total=None)
        run = run_reattribution(engine, batch=batch, progress=lambda done, total: bar.update(task, completed=done,
                                                                                               total=total))
    typer.echo(f"catalogue {cat}, policy {pol}: {run.devices_done} devices, {run.changes} changes recorded")
