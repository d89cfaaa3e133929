"""Command line of the lab: `herkomst lab up | down | status | devices [--json] | exec NODE -- CMD...`."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from deploy.lab import Lab

app = typer.Typer(
    help="The test lab: emulated vendor devices in network namespaces (needs root).", no_args_is_help=True
)


def _lab() -> Lab:
    from deploy.lab import Lab

    return Lab()


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


@app.command()
def up() -> None:
    """Bring the lab up (idempotent; a lab that is up is kept and its fragile device reset)."""
    from deploy.lab import LabError

    started = time.monotonic()
    try:
        _lab().up()
    except LabError as exc:
        _fail(exc)
    typer.echo(f"lab up in {time.monotonic() - started:.1f}s; agent: `herkomst lab exec agent -- CMD`")


@app.command()
def down() -> None:
    """Take the lab down: stop its processes, remove its namespaces and links (also after a crash)."""
    from deploy.lab import LabError

    try:
        _lab().down()
    except LabError as exc:
        _fail(exc)
    typer.echo("lab down")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show bridges, nodes, processes and the fragile device's faults. Exit code 1 when the lab is not up."""
    st = _lab().status()
    if as_json:
        typer.echo(json.dumps(st.to_json(), indent=2))
    else:
        typer.echo(f"lab: {'up' if st.up else 'DOWN'}")
        for bridge, ok in st.bridges.items():
            typer.echo(f"  bridge {bridge}: {'present' if ok else 'missing'}")
        for node in st.nodes:
            procs = " ".join(f"{p}={'running' if ok else 'STOPPED'}" for p, ok in node.processes.items())
            ns = "ok" if node.namespace else "MISSING"
            typer.echo(f"  node {node.node:<16} namespace {ns:<8} {procs}")
        if st.faults:
            typer.echo("fragile device faults:")
            for fault in st.faults:
                typer.echo(f"  {fault.at} {fault.device}: {fault.reason}")
        else:
            typer.echo("fragile device faults: none")
    if not st.up:
        raise typer.Exit(1)


@app.command()
def devices(as_json: bool = typer.Option(False, "--json", help="Print the ground truth as JSON.")) -> None:
    """List the lab's devices with their ground truth (vendor, countries, expected flag)."""
    from deploy.lab.inventory import load_devices

    devs = load_devices()
    if as_json:
        typer.echo(json.dumps([d.to_json() for d in devs], indent=2))
        return
    for d in devs:
        flag = "FLAG" if d.flagged else "-"
        typer.echo(
            f"{d.name:<16} {d.ip:<13} {d.mac} {d.vendor:<20} {d.country}/{d.owner_country} {flag:<4} "
            f"{','.join(d.protocols())}"
        )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec(
    node: str = typer.Argument(..., help="Lab node, e.g. `agent`, `router` or a device name."),
    cmd: list[str] = typer.Argument(..., help="The command (put it after `--`)."),
) -> None:
    """Run a command inside a lab namespace: `herkomst lab exec agent -- nmap -sn 198.18.0.0/24`."""
    from deploy.lab import LabError

    try:
        proc = _lab().exec(node, cmd)
    except LabError as exc:
        _fail(exc)
    except FileNotFoundError as exc:
        _fail(exc)
    raise typer.Exit(proc.returncode)
