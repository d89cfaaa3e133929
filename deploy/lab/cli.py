"""Command line of the lab (placeholder until its issue lands)."""

from __future__ import annotations

import typer

app = typer.Typer(help="lab commands.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """lab commands."""
