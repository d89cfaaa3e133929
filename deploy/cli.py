"""The `herkomst` console script: a thin composition of each side's own command module.

It may import every side; nothing imports it. Each side keeps its heavy imports inside its commands so that
`herkomst --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agent.cli import app as agent_app
from collector.cli import app as collector_app
from deploy.lab.cli import app as lab_app
from fingerprints.cli import app as fingerprint_app

app = typer.Typer(
    name="herkomst",
    help="Herkomst: find equipment and software from vendors of listed countries in vital-sector networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(collector_app, name="collector")
app.add_typer(agent_app, name="agent")
app.add_typer(fingerprint_app, name="fingerprint")
app.add_typer(lab_app, name="lab")

schema_app = typer.Typer(help="Print the JSON Schema of the shared documents.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("report")
def schema_report() -> None:
    """Print the JSON Schema of the agent's report document (herkomst.report/1)."""
    from fingerprints.report import report_json_schema

    typer.echo(json.dumps(report_json_schema(), indent=2))


@schema_app.command("heartbeat")
def schema_heartbeat() -> None:
    """Print the JSON Schema of the agent's heartbeat document (herkomst.heartbeat/1)."""
    from fingerprints.report import heartbeat_json_schema

    typer.echo(json.dumps(heartbeat_json_schema(), indent=2))


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="where the demo's SQLite database and logs go (wiped first)")] = Path(
        "data/demo"
    ),
    port: Annotated[int, typer.Option(help="collector port")] = 8470,
    sample: Annotated[bool, typer.Option(help="submit a stored sample report instead of scanning the lab")] = False,
    keep_lab: Annotated[bool, typer.Option(help="leave the lab up afterwards")] = False,
) -> None:
    """The main job, end to end: the lab, a collector on SQLite, the agent's scan, the analyst's view."""
    from deploy.demo import run_demo

    run_demo(data_dir.resolve(), port, sample=sample, keep_lab=keep_lab)


if __name__ == "__main__":
    app()
