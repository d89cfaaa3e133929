"""The collector over a real socket: `herkomst collector serve` with uvicorn, migrations on start, CLI admin."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import httpx

from deploy.serve import CollectorProcess
from tests.factories import report_doc


def _herkomst(env: dict[str, str], *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "deploy.cli", *args], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_served_collector_enrols_ingests_and_answers(database_url, tmp_path):
    env = {**os.environ, "HERKOMST_DATABASE_URL": database_url, "HERKOMST_DATA_DIR": str(tmp_path)}
    org = json.loads(_herkomst(env, "collector", "admin", "create-organisation", "Provincie Test", "--sector",
                               "openbaar-bestuur"))
    enrol = json.loads(_herkomst(env, "collector", "admin", "create-enrollment-token", "--organisation",
                                 "Provincie Test"))
    analyst = json.loads(_herkomst(env, "collector", "admin", "create-api-token", "cert", "--role", "analyst"))
    with CollectorProcess(env, tmp_path / "collector.log") as server:
        base = server.url
        r = httpx.post(f"{base}/api/v1/enroll", json={"enrollment_token": enrol["token"], "hostname": "a"})
        assert r.status_code == 201
        agent = r.json()
        doc = report_doc(agent["agent_id"], devices=50)
        body = gzip.compress(json.dumps(doc).encode())
        headers = {"Authorization": f"Bearer {agent['agent_key']}", "Content-Encoding": "gzip",
                   "Content-Type": "application/json"}
        r = httpx.post(f"{base}/api/v1/reports", content=body, headers=headers)
        assert r.status_code == 201 and r.json()["devices"]["new"] == 50
        assert httpx.post(f"{base}/api/v1/reports", content=body, headers=headers).status_code == 200
        page = httpx.get(f"{base}/api/v1/devices", params={"organisation_id": org["id"], "limit": 1000},
                         headers={"Authorization": f"Bearer {analyst['token']}"}).json()
        assert len(page["items"]) == 50
