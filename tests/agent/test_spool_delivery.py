"""Spool and delivery error paths against httpx.MockTransport.

The collector's API is being written in parallel, so these tests mock its answers exactly as the contract
describes;
the real collector end to end (real sockets, real idempotency) is tested in tests/e2e.
"""

from __future__ import annotations

import gzip
import json
import stat
import uuid
from pathlib import Path

import httpx
import pytest

from agent.delivery import CollectorClient, deliver_one, flush
from agent.errors import ConfigError, RejectedError, SpoolError, TlsError, TransientDeliveryError
from agent.settings import load_settings
from agent.spool import Spool
from agent.state import Credentials, StateDir


def _doc(report_id: uuid.UUID) -> bytes:
    return json.dumps({"schema": "herkomst.report/1", "report_id": str(report_id)}).encode()


def _receipt(report_id: str, duplicate: bool = False) -> dict[str, object]:
    return {
        "report_id": report_id,
        "received_at": "2026-11-30T07:00:00Z",
        "duplicate": duplicate,
        "devices": {"received": 1, "new": 1, "updated": 0},
        "observations": {"received": 1, "new": 1, "updated": 0},
    }


class Collector:
    """A scripted collector: answers from a queue, records what it received."""

    def __init__(self, answers: list[int | Exception | httpx.Response]) -> None:
        self.answers = answers
        self.bodies: list[dict[str, object]] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.answers.pop(0) if self.answers else 201
        if isinstance(answer, Exception):
            raise answer
        body = json.loads(gzip.decompress(request.content))
        if isinstance(answer, httpx.Response):
            self.bodies.append(body)
            return answer
        self.bodies.append(body)
        self.headers.append(request.headers)
        if answer in (200, 201):
            return httpx.Response(answer, json=_receipt(str(body["report_id"]), answer == 200))
        return httpx.Response(answer, json={"error": {"reason": f"code_{answer}", "message": "nope", "details": []}})


def _client(collector: Collector) -> CollectorClient:
    return CollectorClient("https://collector.invalid", "hka_test", transport=httpx.MockTransport(collector))


def test_spool_file_is_private_and_survives_until_receipt(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    rid = uuid.uuid4()
    item = spool.put(rid, _doc(rid))
    assert stat.S_IMODE(item.path.stat().st_mode) == 0o600
    collector = Collector([503, httpx.ConnectError("refused"), 201])
    sleeps: list[float] = []
    receipt = deliver_one(_client(collector), spool, item, attempts=4, base_delay=0.5, sleep=sleeps.append)
    assert receipt["report_id"] == str(rid)
    assert len(sleeps) == 2 and all(0 <= s <= 0.5 * 2**k for k, s in enumerate(sleeps))
    assert spool.pending() == []
    # The report is sent gzipped, with the agent key, and keeps its report_id across retries.
    assert collector.headers[0]["content-encoding"] == "gzip"
    assert collector.headers[0]["authorization"] == "Bearer hka_test"
    assert [b["report_id"] for b in collector.bodies] == [str(rid), str(rid)]


def _busy(retry_after: str) -> httpx.Response:
    return httpx.Response(503, headers={"Retry-After": retry_after},
                          json={"error": {"reason": "ingest_busy", "message": "busy", "details": []}})


def test_a_busy_collector_is_asked_again_after_its_retry_after_with_jitter(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    rid = uuid.uuid4()
    item = spool.put(rid, _doc(rid))
    collector = Collector([_busy("7"), _busy("7"), 201])
    sleeps: list[float] = []
    receipt = deliver_one(_client(collector), spool, item, attempts=4, base_delay=0.5, sleep=sleeps.append)
    assert receipt["report_id"] == str(rid) and spool.pending() == []
    # at least what the collector asked for, at most half as much again; never the same wait twice in a row
    assert len(sleeps) == 2 and all(7 <= s <= 10.5 for s in sleeps) and sleeps[0] != sleeps[1]
    assert [b["report_id"] for b in collector.bodies] == [str(rid)] * 3


def test_a_busy_collector_that_stays_busy_keeps_the_report_spooled(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    rid = uuid.uuid4()
    spool.put(rid, _doc(rid))
    collector = Collector([_busy("Wed, 21 Oct 2015 07:28:00 GMT"), _busy("30"), _busy("99999")])
    sleeps: list[float] = []
    result = flush(_client(collector), spool, attempts=3, base_delay=0.01, sleep=sleeps.append)
    assert isinstance(result.last_error, TransientDeliveryError) and result.last_error.retry_after == 3600
    assert result.pending == 1 and result.delivered == []
    assert sleeps[0] < 0.02  # a date in the past asks for no wait
    assert 30 <= sleeps[1] <= 45


def test_transient_failures_keep_the_report(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    rid = uuid.uuid4()
    spool.put(rid, _doc(rid))
    collector = Collector([500, 502, httpx.ReadTimeout("slow")])
    result = flush(_client(collector), spool, attempts=3, base_delay=0.01, sleep=lambda s: None)
    assert isinstance(result.last_error, TransientDeliveryError)
    assert result.pending == 1 and result.delivered == []
    # Next flush (collector back, and it had in fact stored it: 200 duplicate) delivers the same report once.
    collector.answers = [200]
    result = flush(_client(collector), spool, attempts=3, base_delay=0.01, sleep=lambda s: None)
    assert result.pending == 0
    assert result.delivered[0][0] == str(rid)
    assert collector.bodies[-1]["report_id"] == str(rid)


@pytest.mark.parametrize("status", [409, 400, 401, 413, 422])
def test_permanent_rejection_moves_to_rejected(tmp_path: Path, status: int) -> None:
    spool = Spool(tmp_path / "spool")
    rid = uuid.uuid4()
    item = spool.put(rid, _doc(rid))
    with pytest.raises(RejectedError, match=f"{status}.*rejected"):
        deliver_one(_client(Collector([status])), spool, item, sleep=lambda s: None)
    assert spool.pending() == []
    kept = spool.rejected_dir / f"{rid}.json"
    assert kept.read_bytes() == _doc(rid)
    reason = json.loads((spool.rejected_dir / f"{rid}.reason.json").read_text())
    assert reason["status"] == status and reason["reason"] == f"code_{status}"


def test_flush_continues_after_a_rejection(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    ids = [uuid.uuid4(), uuid.uuid4()]
    for rid in ids:
        spool.put(rid, _doc(rid))
    result = flush(_client(Collector([409, 201])), spool, sleep=lambda s: None)
    assert len(result.rejected) == 1 and len(result.delivered) == 1 and result.pending == 0


def test_tls_failure_is_not_retried_and_keeps_report(tmp_path: Path) -> None:
    import ssl

    spool = Spool(tmp_path / "spool")
    rid = uuid.uuid4()
    item = spool.put(rid, _doc(rid))
    err = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    err.__context__ = ssl.SSLCertVerificationError("bad")
    with pytest.raises(TlsError, match="--ca"):
        deliver_one(_client(Collector([err])), spool, item, sleep=lambda s: None)
    assert [p.report_id for p in spool.pending()] == [rid]


def test_tls_mismatch_against_a_real_tls_server(tmp_path: Path) -> None:
    """A real TLS listener on loopback with a self-signed certificate the agent does not trust."""
    import socket
    import ssl
    import subprocess
    import threading

    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        try:
            ctx.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    spool = Spool(tmp_path / "spool")
    rid = uuid.uuid4()
    item = spool.put(rid, _doc(rid))
    with pytest.raises(TlsError):
        deliver_one(CollectorClient(f"https://127.0.0.1:{port}", "k"), spool, item, sleep=lambda s: None)
    assert spool.pending()
    server.close()


def test_disk_full_is_a_spool_error(tmp_path: Path) -> None:
    """A real full disk: a 64 KiB tmpfs (needs root to mount)."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        spool = Spool(mount / "spool")
        rid = uuid.uuid4()
        with pytest.raises(SpoolError, match="No space left"):
            spool.put(rid, b"x" * 200_000)
        assert spool.pending() == []  # no half-written report left behind
        assert not list((mount / "spool" / "pending").glob(".*tmp"))
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_enroll_and_credentials(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["enrollment_token"] != "hke_good":
            return httpx.Response(401, json={"error": {"reason": "bad_token", "message": "expired"}})
        return httpx.Response(
            201, json={"agent_id": str(uuid.uuid4()), "agent_key": "hka_x", "organisation": "O", "site": "S"}
        )

    client = CollectorClient("https://c.invalid", transport=httpx.MockTransport(handler))
    with pytest.raises(RejectedError, match="bad_token.*fresh"):
        client.enroll("hke_bad", "h")
    data = client.enroll("hke_good", "h")
    state = StateDir(tmp_path / "state")
    state.save_credentials(Credentials("https://c.invalid", uuid.UUID(data["agent_id"]), data["agent_key"]))
    assert stat.S_IMODE(state.credentials_path.stat().st_mode) == 0o600
    assert state.load_credentials().agent_key == "hka_x"


def test_settings_refuse_unsafe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="plain http"):
        load_settings(collector_url="http://198.18.0.1:8000")
    assert load_settings(collector_url="http://198.18.0.1:8000", allow_plain_http=True).collector_url
    with pytest.raises(ConfigError, match="max_host_rate"):
        load_settings(max_rate=5, max_host_rate=10)
    cfg = tmp_path / "agent.toml"
    cfg.write_text('scope = ["198.18.0.0/24"]\nmax_rate = 50\nmax_host_rate = 5\n')
    monkeypatch.setenv("HERKOMST_AGENT_MAX_RATE", "40")
    settings = load_settings(cfg)
    assert settings.scope == ["198.18.0.0/24"] and settings.max_rate == 40 and settings.max_host_rate == 5
