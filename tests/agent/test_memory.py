"""What agent/memory.py does to keep a scan's peak memory down (the figures are in bench/bench_agent.py)."""

from __future__ import annotations

import platform

import pytest

from agent import memory


def test_scapys_vendor_table_is_emptied() -> None:
    import scapy.data

    assert len(scapy.data.MANUFDB.d) > 1000 or memory._done  # loaded on import (empty if prepared already)
    memory.prepare()
    assert len(scapy.data.MANUFDB.d) == 0
    from scapy.config import conf

    assert conf.manufdb._resolve_MAC("bc:ad:28:00:00:01") == "bc:ad:28:00:00:01"  # summaries print bare MACs


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(M_ARENA_MAX) is glibc's")
def test_malloc_arenas_are_capped_on_glibc() -> None:
    assert memory.limit_malloc_arenas() is True


def test_scapy_is_imported_without_cryptography_which_stays_importable() -> None:
    import subprocess
    import sys

    # in a fresh interpreter: this test process has imported cryptography already (the certificate tests)
    code = ("import sys; from agent import memory; memory.prepare(); from scapy.config import conf; "
            "assert conf.crypto_valid is False; "
            "assert not [m for m in sys.modules if m.startswith('cryptography')], 'scapy imported cryptography'; "
            "from cryptography.hazmat.primitives.ciphers import Cipher; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "ok"
