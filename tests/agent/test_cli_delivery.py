"""The CLI's enrol → run → status → flush path over real loopback sockets against a stand-in collector.

The stand-in answers exactly as the collector contract says (201 receipt, 200 duplicate for the same report_id);
the real collector end to end is tested in tests/e2e.
"""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import stat
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()


class StandIn(http.server.ThreadingHTTPServer):
    reports: dict[str, bytes]
    posts: list[str]


class Handler(http.server.BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/api/v1/enroll":
            self._json(201, {"agent_id": str(uuid.uuid4()), "agent_key": "hka_k", "organisation": "O", "site": "S"})
            return
        assert self.headers["Authorization"] == "Bearer hka_k"
        assert self.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(raw)
        report_id = json.loads(body)["report_id"]
        self.server.posts.append(report_id)
        duplicate = report_id in self.server.reports
        if duplicate and self.server.reports[report_id] != body:
            self._json(409, {"error": {"reason": "report_conflict", "message": "other content", "details": []}})
            return
        self.server.reports[report_id] = body
        counts = {"received": 0, "new": 0, "updated": 0}
        self._json(
            200 if duplicate else 201,
            {
                "report_id": report_id,
                "received_at": "2026-11-30T07:00:00Z",
                "duplicate": duplicate,
                "devices": counts,
                "observations": counts,
            },
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "HERKOMST_AGENT_STATE_DIR": str(tmp_path / "state"),
        "HERKOMST_AGENT_ALLOW_PLAIN_HTTP": "1",
        "HERKOMST_AGENT_DELIVERY_ATTEMPTS": "1",
        # Loopback only: no lab interface is in this scope, so the scan sends nothing and reports the host.
        "HERKOMST_AGENT_SCOPE": '["127.0.0.1/32"]',
        "HERKOMST_AGENT_PROFILE": "passive",
        "HERKOMST_AGENT_PASSIVE_WINDOW": "0",
    }


@contextmanager
def serve(port: int) -> Iterator[StandIn]:
    server = StandIn(("127.0.0.1", port), Handler)
    server.reports, server.posts = {}, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_enroll_run_status_and_redelivery_exactly_once(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(port):
        result = runner.invoke(app, ["enroll", "--collector", url, "--token", "hke_t"], env=env)
        assert result.exit_code == 0, result.output
    creds = tmp_path / "state" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600

    # Collector down: the unattended cycle keeps the report and says so (exit 3), nothing lost.
    result = runner.invoke(app, ["run", "--once"], env=env)
    assert result.exit_code == 3, result.output
    pending = list((tmp_path / "state" / "spool" / "pending").glob("*.json"))
    assert len(pending) == 1
    spooled = pending[0].read_bytes()
    status = json.loads(runner.invoke(app, ["status", "--json"], env=env).output)
    assert status["pending"] == 1 and status["last_error"].startswith("transient")

    # Collector back: flush delivers that very report (same id, same bytes) once; a second flush has nothing to do.
    with serve(port) as server:
        result = runner.invoke(app, ["flush"], env=env)
        assert result.exit_code == 0, result.output
        assert server.posts == [pending[0].stem]
        assert server.reports[pending[0].stem] == spooled
        result = runner.invoke(app, ["flush"], env=env)
        assert result.exit_code == 0 and server.posts == [pending[0].stem]
    status = json.loads(runner.invoke(app, ["status", "--json"], env=env).output)
    assert status["pending"] == 0 and status["last_delivery_report_id"] == pending[0].stem


def test_plain_http_refused_without_opt_in(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "HERKOMST_AGENT_ALLOW_PLAIN_HTTP"}
    result = runner.invoke(app, ["enroll", "--collector", "http://127.0.0.1:9", "--token", "t"], env=env)
    assert result.exit_code == 1 and "plain http" in result.output


def test_output_file_for_air_gapped_sites(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(
        app, ["scan", "--scope", "127.0.0.1/32", "--profile", "passive", "--listen", "0", "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["schema"] == "herkomst.report/1" and doc["scan"]["packets_sent"] == 0
    assert any(o["kind"] == "host.package" for o in doc["host"]["observations"])
    assert not (tmp_path / "state" / "spool" / "pending").exists()
