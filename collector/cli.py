"""Command line of collector/ (placeholder until its issue lands)."""

from __future__ import annotations

import typer

app = typer.Typer(help="collector commands.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """collector commands."""
