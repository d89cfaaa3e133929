"""The durable spool: reports are written (fsync file and directory) before any send and removed only on
receipt.

Layout under the state directory: `spool/pending/<report_id>.json` (awaiting delivery) and
`spool/rejected/<report_id>.json` with `<report_id>.reason.json` (refused permanently by the collector; kept
for the
operator, never deleted by the agent). A spooled report keeps its bytes and report_id across retries, so the
collector's idempotency makes redelivery safe.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from agent.errors import SpoolError
from agent.state import write_private


@dataclass(frozen=True)
class SpooledReport:
    report_id: uuid.UUID
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    """Pending and rejected reports on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pending_dir = root / "pending"
        self.rejected_dir = root / "rejected"

    def put(self, report_id: uuid.UUID, data: bytes) -> SpooledReport:
        """Store a report durably; raise SpoolError (e.g. disk full) when it cannot be."""
        path = self.pending_dir / f"{report_id}.json"
        write_private(path, data)
        return SpooledReport(report_id, path)

    def pending(self) -> list[SpooledReport]:
        """Pending reports, oldest first."""
        if not self.pending_dir.is_dir():
            return []
        out = []
        for path in sorted(self.pending_dir.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name)):
            try:
                out.append(SpooledReport(uuid.UUID(path.stem), path))
            except ValueError:
                continue
        return out

    def rejected(self) -> list[Path]:
        if not self.rejected_dir.is_dir():
            return []
        return sorted(p for p in self.rejected_dir.glob("*.json") if not p.name.endswith(".reason.json"))

    def delivered(self, item: SpooledReport) -> None:
        """Remove a report the collector acknowledged."""
        try:
            item.path.unlink(missing_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot remove delivered report {item.path}: {exc.strerror}") from exc

    def reject(self, item: SpooledReport, status: int | None, reason: str, message: str) -> Path:
        """Move a refused report to rejected/ with the collector's reason beside it."""
        target = self.rejected_dir / item.path.name
        write_private(target, item.read())
        note = {"report_id": str(item.report_id), "status": status, "reason": reason, "message": message}
        write_private(self.rejected_dir / f"{item.report_id}.reason.json", json.dumps(note, indent=2).encode())
        item.path.unlink(missing_ok=True)
        return target
