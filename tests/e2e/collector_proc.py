"""A real collector process for end-to-end tests: uvicorn with TLS on the lab bridge, SQLite in a temp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Collector:
    data_dir: Path
    host: str
    port: int
    ca: Path
    cert: Path
    key: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def admin(self, *args: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "deploy.cli", "collector", "admin", *args], env=self.env,
                             check=True, capture_output=True, text=True, timeout=60).stdout
        return dict(json.loads(out))

    def start(self) -> None:
        self.env = {**os.environ, "HERKOMST_DATA_DIR": str(self.data_dir)}
        self.env.pop("HERKOMST_DATABASE_URL", None)
        log = open(self.data_dir / "collector.log", "ab")  # noqa: SIM115  (kept for the process's life)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "collector", "serve", "--host", self.host, "--port", str(self.port),
             "--tls-cert", str(self.cert), "--tls-key", str(self.key)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        for _ in range(200):
            try:
                if self.client().get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"collector did not start; see {self.data_dir / 'collector.log'}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("the collector did not stop within 30 s of SIGTERM") from None
            finally:
                self.proc = None

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, verify=str(self.ca), headers=headers, timeout=30)
