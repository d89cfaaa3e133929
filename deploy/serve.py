"""A collector in a process of its own, started and stopped on demand: for the demo, the tests and screenshots."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class CollectorProcess:
    """`herkomst collector serve` with the given environment; usable as a context manager."""

    def __init__(self, env: Mapping[str, str], log: Path, *, host: str = "127.0.0.1", port: int | None = None,
                 tls: tuple[Path, Path] | None = None, ca: Path | None = None) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        self.ca = ca
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for this collector (trusting its CA), with a bearer token if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, verify=str(self.ca) if self.ca else True, headers=headers,
                            timeout=30)

    def start(self, timeout: float = 30) -> None:
        argv = [sys.executable, "-m", "deploy.cli", "collector", "serve", "--host", self.host, "--port",
                str(self.port)]
        if self.tls:
            argv += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        with open(self.log, "ab") as log:  # the child keeps its own handle
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while time.monotonic() < deadline:
                try:
                    if c.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the collector did not answer on {self.url}; see {self.log}")

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise RuntimeError(f"the collector did not stop within 30 s of SIGTERM; see {self.log}") from None

    def __enter__(self) -> CollectorProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
