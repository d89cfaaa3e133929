"""http.favicon_md5 through nmap's favicon database."""

from __future__ import annotations

import pytest

import fingerprints
from fingerprints.registries.favicons import FAVICON_DB, parse_favicons
from tests.fingerprints.conftest import Obs


def test_the_database_format_is_read():
    db = parse_favicons("# comment\n\n89B932FCC47CF4CA3FAADB0CFDEF89CF: Hikvision DVR\nnonsense line\n")
    assert db == {"89b932fcc47cf4ca3faadb0cfdef89cf": "Hikvision DVR"}


@pytest.mark.skipif(not FAVICON_DB.exists(), reason="needs Debian's nmap (deploy/setup.sh installs it)")
def test_a_known_favicon_names_its_vendor_and_junk_is_refused_with_a_reason():
    hik = fingerprints.identify([Obs("http.favicon_md5", "89B932FCC47CF4CA3FAADB0CFDEF89CF")])
    assert hik.vendor_id == "hikvision" and hik.flagged
    assert [e.rule_id for e in hik.evidence] == ["nmap.favicon-db"]
    unknown = fingerprints.identify([Obs("http.favicon_md5", "0" * 32)])
    assert unknown.vendor_id is None and not unknown.flagged
    junk = fingerprints.identify([Obs("http.favicon_md5", "\x00\xff" * 5000)])
    assert junk.vendor_id is None and "not an MD5" in (junk.unknown_reason or "")
