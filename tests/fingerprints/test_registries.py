"""The registries as data: IEEE OUI, IANA PENs and nmap's service-probe database (the real installed files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fingerprints.registries.nmap_probes import nmap_database, parse_probes
from fingerprints.registries.oui import oui_registry
from fingerprints.registries.pen import enterprise_number, load_pens


def test_oui_longest_prefix_and_country() -> None:
    reg = oui_registry()
    assert len(reg) > 40_000
    cisco = reg.lookup("00-00-0C-12-34-56")
    assert cisco is not None and cisco.country == "US" and "Cisco" in cisco.organisation
    hik = reg.lookup("bc:ad:28:00:00:01")
    assert hik is not None and hik.country == "CN" and hik.registry == "MA-L"
    if Path("/usr/share/ieee-data/oui36.txt").exists():
        small = reg.lookup("70:b3:d5:57:70:00")  # an MA-S block inside the IEEE's 70:B3:D5
        assert small is not None and small.registry == "MA-S" and small.prefix == "70:B3:D5:57:7"
    assert reg.lookup("not a mac") is None
    assert reg.lookup("zz:zz:zz:zz:zz:zz") is None


def test_pen_numbers() -> None:
    assert enterprise_number("1.3.6.1.4.1.2011.2.23.94") == 2011
    assert enterprise_number(".1.3.6.1.4.1.9") == 9
    assert enterprise_number("1.3.6.1.4.1") is None
    assert enterprise_number("1.3.6.1.2.1.1") is None
    assert enterprise_number("1.3.6.1.4.1.9." + "1." * 500) is None
    pens = load_pens()
    if pens:  # wireshark-common is optional; the catalogue's own numbers work without it
        assert "HUAWEI" in pens[2011].upper()
    assert load_pens(Path("/nonexistent")) == {}


SAMPLE = r"""
Probe TCP NULL q||
match ssh m|^SSH-([\d.]+)-HUAWEI-([\d.]+)\r?\n| p/Huawei VRP sshd/ v/$2/ i/protocol $1/ o/VRP/ cpe:/o:huawei:vrp/a
match ftp m|^220 (\S+) FTP server \(Version ([\w.]+)\)|i p/Example ftpd/ v/$2/ h/$1/
softmatch ftp m|^220 |
match ftp m|^(?:broken|| p/Broken/
match telnet m|^\d+$| p/Digits/
match ftp m|^220 ([\w.]+)+ ready| p/Exponential/
"""


def test_parse_probe_lines_substitution_and_counts() -> None:
    patterns, stats = parse_probes(SAMPLE)
    assert stats.patterns == 6
    assert stats.refused_backtracking == 1  # ([\w.]+)+ would hang on a near-miss
    assert stats.skipped_no_vendor_info == 1
    assert stats.uncompilable == 1
    assert stats.unindexed == 1  # ^\d+$ has no literal to index
    from fingerprints.registries.nmap_probes import NmapDatabase, NmapStats

    db = NmapDatabase(patterns, NmapStats(), "sample")
    hit = db.match(("ssh",), "SSH-2.0-HUAWEI-1.5\r\n")
    assert hit is not None and hit.product == "Huawei VRP sshd" and hit.version == "1.5"
    assert hit.info == "protocol 2.0" and hit.cpes == ("o:huawei:vrp",)
    hit = db.match(("ftp",), "220 box1 ftp SERVER (version 2.1) ready")
    assert hit is not None and hit.hostname == "box1" and hit.version == "2.1"
    assert db.match(("telnet",), "12345") is not None
    assert db.match(("ssh",), "220 box1 FTP server (Version 2.1)") is None  # patterns apply per service


@pytest.mark.skipif(nmap_database() is None, reason="nmap is not installed")
def test_index_agrees_with_naive_loop() -> None:
    """The literal prefilter must never lose a match the naive loop over all patterns finds."""
    db = nmap_database()
    assert db is not None and len(db.patterns) > 10_000
    banners = [
        ("ssh", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n"),
        ("ssh", "SSH-2.0-Cisco-1.25\r\n"),
        ("ssh", "SSH-2.0-dropbear_2019.78\r\n"),
        ("ftp", "220 ProFTPD 1.3.5 Server (Debian) [::ffff:10.0.0.1]\r\n"),
        ("ftp", "220 (vsFTPd 3.0.3)\r\n"),
        ("smtp", "220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n"),
        ("http", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/10.0\r\n\r\n"),
        ("http", "HTTP/1.1 200 OK\r\nServer: nginx/1.18.0 (Ubuntu)\r\n\r\n"),
        ("http", "HTTP/1.1 200 OK\r\nServer: Apache/2.4.41 (Ubuntu)\r\n\r\n"),
        ("http", "HTTP/1.1 200 OK\r\nServer: App-webs/\r\n\r\n"),
        ("telnet", "\r\n\r\nUser Access Verification\r\n\r\nUsername: "),
        ("daytime", "Mon Nov 30 07:00:00 2026\r\n"),
    ]
    for service, text in banners:
        naive = None
        for p in db.patterns:
            if p.service == service and re.search(p.regex, text, p.flags):
                naive = p.line
                break
        hit = db.match((service,), text)
        assert (hit.line if hit else None) == naive, text


def test_backtracking_risk_is_recognised() -> None:
    from fingerprints.registries.nmap_probes import backtracking_risk

    assert backtracking_risk(r"^Agent Ready v([\w._]+)+\.\.\.")
    assert backtracking_risk(r"(\w+\s?)*$")
    assert not backtracking_risk(r"^HTTP/1\.0 401\r\n(?:[^\r\n]+\r\n)*?Server: x")
    assert not backtracking_risk(r"(?: [\w=+-]+)*\]")
