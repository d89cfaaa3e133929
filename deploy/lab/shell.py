"""Running `ip` and friends for the lab, with errors that say what failed and what to do."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence


class LabError(RuntimeError):
    """The lab could not be built, started or inspected; the message says what to do next."""


def require_tools(snmpd: bool = False) -> None:
    """Fail clearly when the lab cannot run here (not root, no iproute2, no snmpd when starting)."""
    import os

    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces); run it with sudo or as root")
    if shutil.which("ip") is None:
        raise LabError("`ip` (iproute2) is not installed; install it with `apt-get install iproute2`")
    if snmpd and shutil.which("snmpd") is None:
        raise LabError("net-snmp's `snmpd` is not installed; install it with `apt-get install snmpd`")


def run(argv: Sequence[str], *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing output; raise LabError with its stderr when it fails and `check` is set."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def write_sysctl(path: str, value: str) -> None:
    """Write one /proc/sys value of the root namespace (e.g. per-interface forwarding)."""
    with open(path, "w") as fh:
        fh.write(value)
