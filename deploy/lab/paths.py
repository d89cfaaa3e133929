"""Where the lab keeps its run state: pid files, logs, readiness marks, certificates and fault records."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RUN_DIR = Path("/run/herkomst-lab")


@dataclass(frozen=True)
class RunDir:
    """The layout of the run directory (default /run/herkomst-lab, or $HERKOMST_LAB_RUN_DIR)."""

    root: Path

    @classmethod
    def default(cls) -> RunDir:
        """The run directory named by the environment, else /run/herkomst-lab."""
        return cls(Path(os.environ.get("HERKOMST_LAB_RUN_DIR", str(DEFAULT_RUN_DIR))))

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def ready(self) -> Path:
        return self.root / "ready"

    @property
    def faults(self) -> Path:
        return self.root / "faults"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def snmp(self) -> Path:
        return self.root / "snmp"

    def pid_file(self, process: str) -> Path:
        """The pid file of one lab process (`<node>` or `<node>-snmpd`)."""
        return self.pids / f"{process}.pid"

    def log_file(self, process: str) -> Path:
        return self.logs / f"{process}.log"

    def ready_file(self, node: str) -> Path:
        return self.ready / node

    def fault_file(self, device: str) -> Path:
        return self.faults / f"{device}.jsonl"

    def make(self) -> None:
        """Create every sub-directory."""
        for d in (self.pids, self.logs, self.ready, self.faults, self.certs, self.snmp):
            d.mkdir(parents=True, exist_ok=True)
