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
