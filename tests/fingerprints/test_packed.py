"""The packed registries hold exactly what the plain tables held (they exist to save the agent's memory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingerprints.registries.nmap_probes import DEFAULT_PATH, PackedPatterns, nmap_database, parse_probes
from fingerprints.registries.packed import PackedMap
from fingerprints.registries.pen import DEFAULT_PATH as PEN_PATH
from fingerprints.registries.pen import load_pens


def test_packed_map_is_a_read_only_mapping() -> None:
    table = {2011: "Huawei Technologies", 9: "ciscoSystems", 2**36 - 1: "Ünïcode GmbH", 5: ""}
    packed = PackedMap(table)
    assert packed == table and dict(packed) == table
    assert list(packed) == sorted(table)  # iteration in key order
    assert packed[2**36 - 1] == "Ünïcode GmbH" and packed[5] == ""
    assert packed.get(4) is None and 4 not in packed and "9" not in packed
    with pytest.raises(KeyError):
        packed[10**30]
    assert PackedMap() == {} and len(PackedMap()) == 0


def test_packed_map_buffers_round_trip_and_refuse_damage() -> None:
    packed = PackedMap([(3, "c"), (1, "a"), (1, "A")])  # a repeated key keeps its last value
    assert dict(packed) == {1: "A", 3: "c"}
    keys, ends, text = packed.buffers()
    assert PackedMap.from_buffers(keys, ends, text) == packed
    with pytest.raises(ValueError):
        PackedMap.from_buffers(keys, ends, text + b"x")
    with pytest.raises(ValueError):
        PackedMap.from_buffers(keys[:-1], ends, text)


@pytest.mark.skipif(not PEN_PATH.exists(), reason="wireshark-common is not installed")
def test_pen_registry_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    naive: dict[int, str] = {}
    for line in PEN_PATH.read_text(encoding="utf-8", errors="replace").splitlines():
        num, _, name = line.partition("\t")
        if num.isdigit() and name.strip():
            naive[int(num)] = name.strip()
    monkeypatch.setenv("HERKOMST_CACHE_DIR", str(tmp_path))
    built = load_pens()  # parsed, then written to the cache
    cached = load_pens()  # read back from the cache
    assert len(naive) > 50_000
    assert built == naive and cached == naive
    assert list(tmp_path.glob("pens-*.marshal"))


@pytest.mark.skipif(nmap_database() is None, reason="nmap is not installed")
def test_packed_nmap_patterns_equal_the_parsed_ones() -> None:
    parsed, _ = parse_probes(DEFAULT_PATH.read_text(encoding="latin-1"))
    packed = PackedPatterns.pack(parsed)
    assert len(packed) == len(parsed) > 10_000
    for i in range(0, len(parsed), 7):
        p, q = parsed[i], packed[i]
        assert (q.line, q.service, q.regex, q.flags, q.fields, q.cpes, q.literal, q.icase) == (
            p.line, p.service, p.regex, p.flags, p.fields, p.cpes, p.literal, p.icase,
        )
    db = nmap_database()
    assert db is not None and [db.patterns[i].line for i in range(0, len(db.patterns), 97)] == [
        parsed[i].line for i in range(0, len(parsed), 97)
    ]
