"""Command line of fingerprints/: `herkomst fingerprint identify | vendors | check | evaluate`.

Heavy work (loading registries, compiling patterns) happens inside the commands, so `herkomst --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import typer

app = typer.Typer(help="Identify vendors from observations; search and check the catalogue.", no_args_is_help=True)


def _policy(path: Path | None) -> Any:
    from fingerprints.policy import PolicyError, load_policy

    if path is None:
        return None
    try:
        return load_policy(path)
    except PolicyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc




def _batch_line(line: str, policy: Any) -> dict[str, Any]:
    """One JSON line in -> one result object: an identification, or an error that says what was wrong."""
    from fingerprints.engine import identify
    from fingerprints.identification import Obs
    from fingerprints.kinds import KIND_NAMES

    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"not JSON: {exc.msg} at column {exc.colno}"}
    items = doc.get("observations") if isinstance(doc, dict) else None
    if items is None:
        items = [doc]
    if not isinstance(items, list) or not items:
        return {"error": "expected {\"kind\": …, \"value\": …} or {\"observations\": [ … ]}"}
    observations = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str) or "value" not in item:
            return {"error": "each observation needs a string 'kind' and a 'value'"}
        if item["kind"] not in KIND_NAMES:
            return {"error": f"unknown kind {item['kind'][:60]!r}; see fingerprints/kinds.py"}
        if not isinstance(item["value"], str):
            return {"error": "'value' must be a string"}
        port = item.get("port")
        observations.append(Obs(item["kind"], item["value"], port if isinstance(port, int) else None))
    return identify(observations, policy=policy).model_dump(mode="json")


def _open(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        typer.echo(f"error: cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def identify(
    value: str | None = typer.Argument(None, help="the observed value (banner, header, OID, MAC …)"),
    kind: str | None = typer.Option(None, "--kind", "-k", help="observation kind, e.g. ssh.banner, mac"),
    batch: str | None = typer.Option(None, "--batch", help="JSON lines file ('-' = stdin): one result line each"),
    policy: Path | None = typer.Option(None, "--policy", help="policy TOML (default: the packaged policy)"),
) -> None:
    """Identify the vendor behind one observation (JSON), or a batch of JSON lines."""
    pol = _policy(policy)
    if batch is not None:
        stream = _open(batch)
        try:
            for line in stream:
                if not line.strip():
                    continue
                try:
                    out = _batch_line(line, pol)
                except Exception as exc:  # one bad line must never end the batch
                    out = {"error": f"internal error on this line: {type(exc).__name__}: {exc}"}
                sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        finally:
            if stream is not sys.stdin:
                stream.close()
        return
    if kind is None or value is None:
        typer.echo("error: give --kind KIND VALUE, or --batch FILE", err=True)
        raise typer.Exit(2)
    from fingerprints.kinds import KIND_NAMES

    if kind not in KIND_NAMES:
        typer.echo(f"error: unknown kind {kind!r}; known kinds: {', '.join(sorted(KIND_NAMES))}", err=True)
        raise typer.Exit(2)
    from fingerprints.engine import identify as run
    from fingerprints.identification import Obs

    typer.echo(json.dumps(run([Obs(kind, value)], policy=pol).model_dump(mode="json"), indent=2,
                          ensure_ascii=False))


@app.command()
def vendors(
    query: str = typer.Argument(..., help="name, alias, id, CPE vendor or country code"),
    limit: int = typer.Option(20, help="at most this many results"),
) -> None:
    """Search the vendor catalogue (JSON lines)."""
    from fingerprints.vendors import search

    hits = search(query, limit=limit)
    if not hits:
        typer.echo(f"no vendor matches {query!r}", err=True)
        raise typer.Exit(1)
    for hit in hits:
        typer.echo(json.dumps(hit, ensure_ascii=False))


@app.command()
def check(data_dir: Path | None = typer.Option(None, help="another data directory with the same layout")) -> None:
    """Validate all data: schema, rule examples, backtracking, unique aliases, country codes, sources."""
    from fingerprints.check import run_check

    result = run_check(data_dir)
    for note in result.notes:
        typer.echo(note)
    for fault in result.faults:
        typer.echo(f"FAULT: {fault}", err=True)
    if not result.ok:
        typer.echo(f"{len(result.faults)} fault(s)", err=True)
        raise typer.Exit(1)
    typer.echo("ok")


@app.command()
def evaluate(
    path: list[Path] = typer.Option(None, "--set", help="JSONL evaluation files (default: data/eval/*.jsonl)"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
    show_errors: bool = typer.Option(False, "--errors", help="list every case that went wrong"),
    heldout: list[Path] = typer.Option(
        None, "--heldout", help="held-out JSONL files (default: data/eval/heldout/*.jsonl)"),
    no_heldout: bool = typer.Option(False, "--no-heldout", help="skip the held-out and seen blocks"),
) -> None:
    """Precision and recall of the vendor and of the flag, per kind: the in-sample set, the held-out set and the
    seen set (former held-out sets since used for tuning), each apart."""
    from fingerprints.evaluate import (
        SEEN_TITLE,
        format_heldout,
        format_report,
        run_evaluation,
        run_heldout,
        seen_paths,
    )

    report = run_evaluation(path or None)
    held = None if no_heldout else run_heldout(heldout or None)
    seen = None if no_heldout or heldout or not seen_paths() else run_heldout(seen_paths())
    if as_json:
        out = dict(report)
        if held is not None:
            out["heldout"] = held
        if seen is not None:
            out["seen"] = seen
        typer.echo(json.dumps(out, indent=2))
    else:
        typer.echo("in-sample set (data/eval/*.jsonl, written beside the rules)")
        typer.echo(format_report(report, show_errors=show_errors))
        if held is not None:
            typer.echo("")
            typer.echo(format_heldout(held, show_errors=show_errors))
        if seen is not None:
            typer.echo("")
            typer.echo(format_heldout(seen, show_errors=show_errors, title=SEEN_TITLE))
