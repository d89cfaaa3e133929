"""PDF from the report's HTML with headless Chromium (Debian's `chromium` package), isolated from the network."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120


class PdfError(RuntimeError):
    """Chromium is missing or failed; the message says what to install or check."""


def find_chromium() -> str | None:
    """The browser binary: HERKOMST_CHROMIUM, else the first of chromium / chromium-browser / google-chrome."""
    configured = os.environ.get("HERKOMST_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: str) -> bytes:
    """Print `html` to PDF. The page has no script and needs no network; Chromium gets neither."""
    binary = find_chromium()
    if binary is None:
        raise PdfError("PDF output needs Chromium: `apt-get install chromium` (or set HERKOMST_CHROMIUM), "
                       "or ask for --format html")
    with tempfile.TemporaryDirectory(prefix="herkomst-pdf-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(html, encoding="utf-8")
        cmd = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--mute-audio", "--no-pdf-header-footer",
            # The report loads nothing and its own CSP forbids scripts; make sure no name resolves and no proxy
            # answers either. (scriptEnabled=false would be stricter still, but it stops headless printing.)
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9", f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", src.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, check=False,
                                  env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired as exc:
            raise PdfError(f"Chromium did not finish the PDF within {TIMEOUT_S} s") from exc
        if not out.exists() or out.stat().st_size == 0:
            tail = proc.stderr.decode("utf-8", "replace")[-500:]
            raise PdfError(f"Chromium exited {proc.returncode} without writing a PDF: {tail}")
        data = out.read_bytes()
    if not data.startswith(b"%PDF-"):
        raise PdfError("Chromium wrote something that is not a PDF")
    return data
