"""The session-scoped `lab` fixture: the network-namespace lab, brought up once per test session.

Import it from a conftest (`from tests.lab_fixture import lab`). It skips with a clear reason when the lab cannot
run here (not root, or no `ip netns`), reuses a lab that is already up, and takes the lab down at the end of the
session. Two exceptions keep it up: HERKOMST_LAB_KEEP=1 (handy when iterating against a running lab), and a lab that
was already up when the session started (someone else's demo or test session is using it; taking it away would
break them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from deploy.lab import Lab


def lab_unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces); run the tests as root, as CI does"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` is unavailable here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The running lab (see deploy/lab/)."""
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    the_lab = Lab()
    was_up = the_lab.status().up
    started = time.monotonic()
    the_lab.up()
    print(f"\n[lab] up in {time.monotonic() - started:.1f}s")
    try:
        yield the_lab
    finally:
        if os.environ.get("HERKOMST_LAB_KEEP") != "1" and not was_up:
            the_lab.down()
