"""Bad input gives 'unknown' or a clear reason, never a crash, and bounded time."""

from __future__ import annotations

import os
import time

import pytest

from fingerprints.engine import Engine
from fingerprints.kinds import KIND_NAMES
from fingerprints.policy import Policy
from tests.fingerprints.conftest import Obs

JUNK = [
    os.urandom(512).decode("latin-1"),
    b"\xff\xfe\xfd SSH-2.0-\x80\x81".decode("utf-8", errors="surrogateescape"),  # invalid UTF-8 kept as surrogates
    "\x00" * 100,
    "",
    "   ",
    "SSH-2.0-" + "A" * 1_000_000,
    "HTTP/1.1 " + "a " * 500_000,
    "1." * 300_000,
    "(" * 100_000,
]


@pytest.mark.parametrize("kind", sorted(KIND_NAMES))
def test_every_kind_survives_junk(engine: Engine, policy: Policy, kind: str) -> None:
    for value in JUNK:
        start = time.perf_counter()
        ident = engine.identify([Obs(kind, value)], policy=policy)
        assert time.perf_counter() - start < 0.5, (kind, value[:20])
        assert 0 <= ident.confidence <= 1
        ident.model_dump_json()  # serialisable, even with odd characters


def test_malformed_macs_and_oids_say_why(engine: Engine, policy: Policy) -> None:
    for mac in ["00:11:22", "gg:hh:ii:jj:kk:ll", "00:11:22:33:44:55:66", "-" * 17]:
        ident = engine.identify([Obs("mac", mac)], policy=policy)
        assert ident.vendor_id is None and "not a MAC" in (ident.unknown_reason or "")
    for oid in ["1.3.6.1.4.1", "iso.org.dod", "1.3.6.1.4.1.abc", "1.3.6.1.4.1.99999999999999"]:
        ident = engine.identify([Obs("snmp.sysobjectid", oid)], policy=policy)
        assert ident.vendor_id is None and ident.unknown_reason


def test_non_string_values_and_unknown_kinds(engine: Engine, policy: Policy) -> None:
    class Weird:
        kind = "ssh.banner"
        value = b"SSH-2.0-HUAWEI-1.5\xff"
        port = 22

    assert engine.identify([Weird()], policy=policy).vendor_id == "huawei"  # type: ignore[list-item]
    ident = engine.identify([Obs("no.such.kind", "x")], policy=policy)
    assert ident.vendor_id is None and "unknown observation kind" in (ident.unknown_reason or "")
    assert engine.identify([object()], policy=policy).vendor_id is None  # type: ignore[list-item]
