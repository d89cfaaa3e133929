"""The agent's state directory: its identity (agent id and key, mode 0600) and a small status file.

Layout: `credentials.json` (0600), `status.json`, `spool/` (owned by agent.spool).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.errors import NotEnrolledError, SpoolError


@dataclass(frozen=True)
class Credentials:
    """What enrolment gave this agent."""

    collector_url: str
    agent_id: uuid.UUID
    agent_key: str
    organisation: str | None = None
    site: str | None = None
    ca_file: str | None = None


@dataclass
class Status:
    """What `herkomst agent status` shows."""

    last_scan_at: str | None = None
    last_scan_report_id: str | None = None
    last_scan_devices: int | None = None
    last_delivery_at: str | None = None
    last_delivery_report_id: str | None = None
    last_error: str | None = None
    #: the most recent errors and scan warnings, newest last (sent to the collector in the agent's status)
    errors: list[dict[str, str]] = field(default_factory=list)
    #: the last scan in a few numbers (fingerprints.report.LastScan as JSON)
    last_scan: dict[str, Any] | None = None
    #: the collector's latest proposal as received, and the agent's answer to it
    proposal: dict[str, Any] | None = None
    proposal_answer: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: How many recent errors the status keeps.
MAX_ERRORS = 20


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable only by its owner, durably (temp file, fsync, rename, fsync directory)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                # os.write may write less than asked (a nearly full disk); loop until all is down or ENOSPC.
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SpoolError(f"cannot write {path}: {exc.strerror or exc}; check free space and permissions") from exc


class StateDir:
    """Access to the state directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def credentials_path(self) -> Path:
        return self.root / "credentials.json"

    @property
    def status_path(self) -> Path:
        return self.root / "status.json"

    @property
    def spool_path(self) -> Path:
        return self.root / "spool"

    def save_credentials(self, creds: Credentials) -> None:
        data = asdict(creds)
        data["agent_id"] = str(creds.agent_id)
        write_private(self.credentials_path, json.dumps(data, indent=2).encode())

    def load_credentials(self) -> Credentials:
        try:
            data = json.loads(self.credentials_path.read_text())
        except FileNotFoundError as exc:
            raise NotEnrolledError(
                f"this agent is not enrolled (no {self.credentials_path}); run "
                "`herkomst agent enroll --collector URL --token TOKEN` first"
            ) from exc
        except PermissionError as exc:
            raise SpoolError(f"cannot read {self.credentials_path}: permission denied; run the agent as the user "
                             "that owns its state directory, or give another with --state-dir") from exc
        except (OSError, ValueError) as exc:
            raise NotEnrolledError(f"cannot read {self.credentials_path}: {exc}; enroll again") from exc
        mode = self.credentials_path.stat().st_mode & 0o777
        if mode & 0o077:
            # Someone loosened the file; tighten it rather than leak the key further.
            os.chmod(self.credentials_path, 0o600)
        return Credentials(
            collector_url=data["collector_url"],
            agent_id=uuid.UUID(data["agent_id"]),
            agent_key=data["agent_key"],
            organisation=data.get("organisation"),
            site=data.get("site"),
            ca_file=data.get("ca_file"),
        )

    def agent_id(self) -> uuid.UUID:
        """The enrolled agent id, or a stable local id (kept in the state dir) for unenrolled scans."""
        try:
            return self.load_credentials().agent_id
        except NotEnrolledError:
            local = self.root / "local-id"
            try:
                if local.is_file():
                    return uuid.UUID(local.read_text().strip())
            except (OSError, ValueError) as exc:
                raise SpoolError(f"cannot read {local}: {exc}; check the state directory's owner and permissions, "
                                 "or give another with --state-dir") from exc
            new = uuid.uuid4()
            try:
                write_private(local, str(new).encode())
            except SpoolError:
                pass  # a read-only state dir must not stop an --output scan
            return new

    def load_status(self) -> Status:
        try:
            data = json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return Status()
        known = {k: v for k, v in data.items() if k in Status.__dataclass_fields__}
        return Status(**known)

    def update_status(self, **changes: Any) -> Status:
        """Change some fields of the status file; a new `last_error` is also appended to the recent errors."""
        status = self.load_status()
        for key, value in changes.items():
            setattr(status, key, value)
        if changes.get("last_error"):
            _append_error(status, str(changes["last_error"]))
        write_private(self.status_path, json.dumps(asdict(status), indent=2).encode())
        return status

    def record_warnings(self, warnings: list[str]) -> None:
        """Keep a scan's warnings among the recent errors (they reach the collector with the status)."""
        if warnings:
            status = self.load_status()
            for warning in warnings:
                _append_error(status, f"warning: {warning}")
            write_private(self.status_path, json.dumps(asdict(status), indent=2).encode())


def _append_error(status: Status, message: str) -> None:
    status.errors = [*status.errors, {"at": now_iso(), "message": message[:500]}][-MAX_ERRORS:]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
